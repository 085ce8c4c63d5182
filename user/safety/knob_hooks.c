// SPDX-License-Identifier: GPL-2.0
/*
 * Per-knob hooks: the checks a knob needs beyond its range and step.  A new
 * knob with a rule of its own gets an entry here; validate_one() and the
 * invariants only loop over this table.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "actuate/cgroup.h"
#include "actuate/steer.h"
#include "actuate/sysctl.h"
#include "lib/text.h"
#include "safety/session_impl.h"

static void keep_period(struct kp_value *nv, const struct kp_value *old)
{
	if (!nv->v[1])
		nv->v[1] = old->v[1];
}

/* Anything the kernel does not offer would make it load a module. */
static int cc_available(const char *name, const struct kp_value *nv, const struct kp_target *t,
			char *why, size_t len)
{
	char avail[KP_VALUE_MAX];

	if (kp_sysctl_read(t, "net.ipv4.tcp_available_congestion_control", avail,
			   sizeof(avail)) || kp_word_in(avail, nv->s))
		return 0;
	snprintf(why, len, "%s: '%s' is not available on this kernel (available: %s)",
		 name, nv->s, avail);
	return -EINVAL;
}

static int cpuset_in_parent(const char *name, const struct kp_value *nv,
			    const struct kp_target *t, char *why, size_t len)
{
	char path[KP_NAME_MAX], attr[KP_NAME_MAX], parent[KP_VALUE_MAX];
	int err;

	if (!nv->s[0]) {
		snprintf(why, len, "%s: empty CPU list", name);
		return -EINVAL;
	}
	if (kp_knob_cgroup_split(name, path, attr))
		return -EINVAL;
	err = kp_cg_parent_cpus(t, path, parent, sizeof(parent));
	if (err)
		return sess_env_err(err, name, why, len);
	return kp_check_cpuset(name, nv->s, parent, why, len) ? -EINVAL : 0;
}

/* One weight per replica of the attached service (its pinned cfg says how many). */
static int steer_count(const char *name, const struct kp_value *nv, const struct kp_target *t,
		       char *why, size_t len)
{
	struct kp_steer_stats s;
	char svc[KP_NAME_MAX];
	int err;

	if (!nv->n)
		return 0;		/* "default": always possible */
	if (kp_knob_steer_service(name, svc))
		return -EINVAL;
	err = kp_steer_stats_read(svc, &s);
	if (err == -ENOENT) {
		snprintf(why, len, "%s: service %s is not attached (no " KP_STEER_PIN_ROOT "/%s)",
			 name, svc, svc);
		return -ENOENT;
	}
	if (err)
		return sess_env_err(err, name, why, len);
	if ((__u32)nv->n != s.cfg.n) {
		snprintf(why, len, "%s: %d weights for a service of %u replicas", name, nv->n,
			 s.cfg.n);
		return -EINVAL;
	}
	return 0;
}

/*
 * The kernel's default tcp_max_tw_buckets: half the namespace's TCP hash
 * table (negative when the namespace shares the initial one).
 */
static long long tw_default(const struct kp_target *t, long long table_at)
{
	char buf[64], *end;
	long long n;

	if (kp_sysctl_read(t, "net.ipv4.tcp_ehash_entries", buf, sizeof(buf)))
		return table_at;
	n = strtoll(buf, &end, 10);
	if (end == buf || !n)
		return table_at;
	return (n < 0 ? -n : n) / 2;
}

const struct kp_knob_hooks kp_knob_hooks_table[] = {
	{ .name = "net.ipv4.tcp_max_tw_buckets", .risk_at = tw_default },
	{ .name = "net.ipv4.tcp_congestion_control", .check = cc_available },
	{ .name = "cpu.max", .kind = KP_KNOB_CGROUP, .complete = keep_period },
	{ .name = "cpuset.cpus", .kind = KP_KNOB_CGROUP, .check = cpuset_in_parent },
	{ .name = "weights", .kind = KP_KNOB_STEER, .check = steer_count },
	{ .name = "vm.dirty_background_ratio", .below = "vm.dirty_ratio" },
	{ .name = "vm.dirty_background_bytes", .below = "vm.dirty_bytes" },
};
const size_t kp_knob_nhooks = sizeof(kp_knob_hooks_table) / sizeof(kp_knob_hooks_table[0]);

const struct kp_knob_hooks *kp_knob_hooks(const char *name)
{
	char path[KP_NAME_MAX], attr[KP_NAME_MAX];
	enum kp_knob_kind kind = sess_is_cgroup(name) ? KP_KNOB_CGROUP :
				 kp_knob_is_steer(name) ? KP_KNOB_STEER : KP_KNOB_SYSCTL;
	size_t i;

	if (kind == KP_KNOB_CGROUP) {
		if (kp_knob_cgroup_split(name, path, attr))
			return NULL;
		name = attr;
	} else if (kind == KP_KNOB_STEER) {
		name = "weights";
	}
	for (i = 0; i < kp_knob_nhooks; i++)
		if (!strcmp(kp_knob_hooks_table[i].name, name) &&
		    kp_knob_hooks_table[i].kind == kind)
			return &kp_knob_hooks_table[i];
	return NULL;
}
