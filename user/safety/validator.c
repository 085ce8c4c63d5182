// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "safety/validator.h"

int kp_validate_name(const char *name, const char *const *allow, char *why, size_t len)
{
	const char *deny;
	int i;

	if (kp_knob_name_check(name, why, len))
		return -EINVAL;
	deny = kp_knob_denied(name);
	if (deny) {
		snprintf(why, len, "%s: denied: matches '%s' on the built-in denylist", name, deny);
		return -EINVAL;
	}
	if (!allow)
		return 0;
	for (i = 0; allow[i]; i++)
		if (!fnmatch(allow[i], name, 0))
			return 0;
	snprintf(why, len, "%s: not in this session's allowlist", name);
	return -EINVAL;
}

int kp_validate_netns(const struct kp_knob *k, const char *name, const char *netns,
		      char *why, size_t len)
{
	if (!netns || k->per_netns)
		return 0;
	snprintf(why, len, "%s: not a per-network-namespace knob; cannot set it in netns %s",
		 name, netns);
	return -EINVAL;
}

static long long llabs_sat(long long v)
{
	return v == LLONG_MIN ? LLONG_MAX : llabs(v);
}

/* The largest step allowed from old, or -1 for no limit. */
static long long step_allowance(const struct kp_knob *k, long long old)
{
	long long rel = 0;

	if (!k->step_abs && !k->step_pct)
		return -1;
	if (k->step_pct) {
		long long a = llabs_sat(old);

		rel = a > LLONG_MAX / 100 ? a / 100 * k->step_pct : a * k->step_pct / 100;
	}
	return rel > k->step_abs ? rel : k->step_abs;
}

/* |a - b| without overflow, saturating. */
static long long diff_sat(long long a, long long b)
{
	if ((b > 0 && a < LLONG_MIN + b) || (b < 0 && a > LLONG_MAX + b))
		return LLONG_MAX;
	return llabs_sat(a - b);
}

static int check_ints(const struct kp_knob *k, const char *name, const struct kp_value *old,
		      struct kp_value *nv, enum kp_step_policy policy, bool *clamped,
		      char *why, size_t len)
{
	char ob[KP_VALUE_MAX], nb[KP_VALUE_MAX];
	int i;

	for (i = 0; i < nv->n; i++) {
		if (nv->v[i] < k->min || nv->v[i] > k->max) {
			snprintf(why, len, "%s: %lld is outside the safe range [%lld, %lld]",
				 name, nv->v[i], k->min, k->max);
			return -EINVAL;
		}
	}
	/* before the step: clamping cannot repair a disordered tuple */
	if (k->ordered) {
		for (i = 1; i < nv->n; i++) {
			if (nv->v[i] < nv->v[i - 1]) {
				kp_value_format(nv, nb, sizeof(nb));
				snprintf(why, len, "%s: values must not decrease (%s)%s", name,
					 nb, nv->n == 3 ? ": min <= default <= max" : "");
				return -EINVAL;
			}
		}
	}
	kp_value_format(old, ob, sizeof(ob));
	for (i = 0; policy != KP_STEP_NONE && i < nv->n && i < old->n; i++) {
		long long allow = step_allowance(k, old->v[i]);
		long long d = diff_sat(nv->v[i], old->v[i]);

		if (allow < 0 || d <= allow)
			continue;
		if (policy == KP_STEP_REJECT) {
			kp_value_format(nv, nb, sizeof(nb));
			snprintf(why, len, "%s: step %s -> %s exceeds the maximum step %lld",
				 name, ob, nb, allow);
			return -EINVAL;
		}
		nv->v[i] = nv->v[i] > old->v[i] ? old->v[i] + allow : old->v[i] - allow;
		if (nv->v[i] < k->min)
			nv->v[i] = k->min;
		if (nv->v[i] > k->max)
			nv->v[i] = k->max;
		*clamped = true;
	}
	/* clamping elements one by one can reorder them */
	for (i = 1; k->ordered && i < nv->n; i++) {
		if (nv->v[i] < nv->v[i - 1]) {
			kp_value_format(nv, nb, sizeof(nb));
			snprintf(why, len, "%s: clamped step gives %s, out of order", name, nb);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Steering weights: "default" (n = 0) is always allowed, it is the kernel's
 * own hash. Otherwise one weight per replica, each within [min, max] (min
 * >= 1: no replica is starved) and within the step of the old weight when
 * the old value was weights for as many replicas.
 */
int kp_check_weights(const struct kp_knob *k, const char *name, const struct kp_value *old,
		     struct kp_value *nv, enum kp_step_policy policy, bool *clamped,
		     char *why, size_t len)
{
	struct kp_value o = *old;

	if (!nv->n)
		return 0;
	if (old->n && old->n != nv->n) {
		snprintf(why, len, "%s: %d weights for a service of %d replicas", name, nv->n,
			 old->n);
		return -EINVAL;
	}
	if (!old->n)
		o.n = 0;	/* from the default: no step to compare with */
	return check_ints(k, name, &o, nv, policy, clamped, why, len);
}

static int check_cpumax(const struct kp_knob *k, const char *name, const struct kp_value *old,
			struct kp_value *nv, enum kp_step_policy policy, int ncpus,
			bool *clamped, char *why, size_t len)
{
	long long all = (long long)ncpus * 1000, hi = k->max < all ? k->max : all;
	long long om, nm, allow;

	if (!nv->v[1])
		nv->v[1] = old->v[1] ? old->v[1] : 100000;
	om = kp_cpumax_millicores(old, ncpus);
	nm = kp_cpumax_millicores(nv, ncpus);
	if (nm < k->min || nm > hi) {
		snprintf(why, len, "%s: %.3f CPUs is outside the safe range [%.3f, %.3f]",
			 name, (double)nm / 1000.0, (double)k->min / 1000.0, (double)hi / 1000.0);
		return -EINVAL;
	}
	/* leaving "max" only ever lowers the limit to a finite one: no step bound */
	if (old->v[0] == KP_CPU_QUOTA_MAX || policy == KP_STEP_NONE)
		return 0;
	allow = step_allowance(k, om);
	if (allow < 0 || diff_sat(nm, om) <= allow)
		return 0;
	if (policy == KP_STEP_REJECT) {
		snprintf(why, len, "%s: step %.3f -> %.3f CPUs exceeds the maximum step %.3f",
			 name, (double)om / 1000.0, (double)nm / 1000.0, (double)allow / 1000.0);
		return -EINVAL;
	}
	nm = nm > om ? om + allow : om - allow;
	nv->v[0] = nm * nv->v[1] / 1000;
	if (nv->v[0] < 1000)
		nv->v[0] = 1000;
	*clamped = true;
	return 0;
}

int kp_validate_value(const struct kp_knob *k, const char *name, const struct kp_value *old,
		      struct kp_value *nv, enum kp_step_policy policy, int ncpus,
		      double now, double last, bool *clamped, char *why, size_t len)
{
	int err = 0;

	*clamped = false;
	switch (k->type) {
	case KP_VT_INT:
	case KP_VT_TUPLE:
		err = check_ints(k, name, old, nv, policy, clamped, why, len);
		break;
	case KP_VT_CPUMAX:
		err = check_cpumax(k, name, old, nv, policy, ncpus, clamped, why, len);
		break;
	case KP_VT_WEIGHTS:
		err = kp_check_weights(k, name, old, nv, policy, clamped, why, len);
		break;
	case KP_VT_ENUM:
	case KP_VT_CPULIST:
		break;
	}
	if (err)
		return err;
	if (last > 0 && k->min_interval_ms > 0 && now - last < k->min_interval_ms / 1000.0) {
		snprintf(why, len, "%s: last written %.2f s ago; the minimum interval is %.2f s",
			 name, now - last < 0 ? 0 : now - last, k->min_interval_ms / 1000.0);
		return -EINVAL;
	}
	return 0;
}

int kp_validate_risk(const struct kp_knob *k, const char *name, const struct kp_value *nv,
		     long long at, bool allowed, char *why, size_t len)
{
	bool below = k->risk == KP_RISK_BELOW;
	int i;

	if (k->risk == KP_RISK_NONE || allowed ||
	    (k->type != KP_VT_INT && k->type != KP_VT_TUPLE))
		return 0;
	for (i = 0; i < nv->n; i++) {
		if (below ? nv->v[i] >= at : nv->v[i] <= at)
			continue;
		snprintf(why, len, "%s: %lld is %s the safe %s %lld: %s (--allow-risky %s allows it)",
			 name, nv->v[i], below ? "below" : "above", below ? "floor" : "ceiling", at,
			 k->risk_why, name);
		return -EINVAL;
	}
	return 0;
}

int kp_check_dirty(const char *bg_name, long long bg, const char *fg_name, long long fg,
		   char *why, size_t len)
{
	/* 0 means the other unit (ratio vs bytes) is in force: nothing to compare */
	if (bg <= 0 || fg <= 0 || bg < fg)
		return 0;
	snprintf(why, len, "%s (%lld) must stay below %s (%lld)", bg_name, bg, fg_name, fg);
	return -EINVAL;
}

int kp_check_budget(long long sum_millicores, double budget_cores, char *why, size_t len)
{
	if (budget_cores <= 0 || sum_millicores <= (long long)(budget_cores * 1000 + 0.5))
		return 0;
	snprintf(why, len, "CPU quotas would sum to %.3f CPUs, over the session budget of %.3f",
		 (double)sum_millicores / 1000.0, budget_cores);
	return -EINVAL;
}

int kp_check_cpuset(const char *name, const char *cpus, const char *parent_cpus,
		    char *why, size_t len)
{
	if (kp_cpulist_subset(cpus, parent_cpus))
		return 0;
	snprintf(why, len, "%s: %s is not within the parent's CPUs %s", name, cpus,
		 parent_cpus[0] ? parent_cpus : "(none)");
	return -EINVAL;
}
