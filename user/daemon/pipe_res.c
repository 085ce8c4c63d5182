// SPDX-License-Identifier: GPL-2.0
/*
 * The pipeline policy's "resource": what the agent's split of the budget (q_i
 * cores, summing to at most budget_cores) is written as. quota: cpu.max
 * (v1 cpu.cfs_quota_us), a cap; weight: cpu.weight (v1 cpu.shares), a share
 * under contention; cpuset: cpuset.cpus (v1 the cpuset hierarchy), whole
 * CPUs. Documentation/daemon.md, "The pipeline policy", has the reasons.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "actuate/fsio.h"
#include "daemon/pipe_policy.h"
#include "env/pipeline/pipetune.h"
#include "lib/json.h"

#define PP_ONLINE	"/sys/devices/system/cpu/online"

static const char *const names[] = { "quota", "weight", "cpuset" };
static const char *const attrs[] = { "cpu.max", "cpu.weight", "cpuset.cpus" };

const char *pp_res_name(const struct pp *pp)
{
	return names[pp->res];
}

const char *pp_res_attr(const struct pp *pp)
{
	return attrs[pp->res];
}

static int count_cpus(const unsigned long long *bits)
{
	int n = 0;

	for (int i = 0; i < KP_CPUS_MAX / 64; i++)
		n += __builtin_popcountll(bits[i]);
	return n;
}

static int read_online(unsigned long long *bits, char *text, size_t len)
{
	if (kp_fs_read(PP_ONLINE, text, len) < 0)
		return -EIO;
	text[strcspn(text, "\n")] = '\0';
	return kp_cpulist_parse(text, bits, NULL, 0);
}

/* "cpus": a CPU list within the online CPUs (default: all of them), at least the budget. */
static int parse_cpus(struct pp *pp, struct kp_json *x, json_t *obj, const char *path)
{
	unsigned long long online[KP_CPUS_MAX / 64], off[KP_CPUS_MAX / 64];
	char p[128], list[KP_VALUE_MAX], on[KP_VALUE_MAX], why[160], out[KP_VALUE_MAX];
	json_t *v = json_object_get(obj, "cpus");
	int ret;

	snprintf(p, sizeof(p), "%s.cpus", path);
	if (read_online(online, on, sizeof(on)))
		return kp_json_fail(x, p, "cannot read the online CPUs (" PP_ONLINE ")");
	if (!v) {
		memcpy(pp->cpus, online, sizeof(pp->cpus));
	} else {
		ret = kp_json_str(x, obj, path, "cpus", false, list, sizeof(list));
		if (ret)
			return ret;
		if (kp_cpulist_parse(list, pp->cpus, why, sizeof(why)))
			return kp_json_fail(x, p, "%s", why);
		for (int i = 0; i < KP_CPUS_MAX / 64; i++)
			off[i] = pp->cpus[i] & ~online[i];
		if (count_cpus(off)) {
			kp_cpulist_format(off, out, sizeof(out));
			return kp_json_fail(x, p, "'%s': CPUs %s are not online (online: %s)", list,
					    out, on);
		}
	}
	pp->ncpus = count_cpus(pp->cpus);
	kp_cpulist_format(pp->cpus, out, sizeof(out));
	snprintf(p, sizeof(p), "%s.budget_cores", path);
	if (pp->d.cpu_budget > pp->ncpus + 1e-9)
		return kp_json_fail(x, p, "%g cores is more than the %d CPU%s of %s (%s): "
				    "\"resource\": \"cpuset\" hands out whole CPUs",
				    pp->d.cpu_budget, pp->ncpus, pp->ncpus == 1 ? "" : "s",
				    v ? "\"cpus\"" : "the online CPUs", out);
	return 0;
}

int pp_res_parse(struct pp *pp, struct kp_json *x, json_t *obj, const char *path)
{
	json_t *v = json_object_get(obj, "resource");
	char p[128];

	snprintf(p, sizeof(p), "%s.resource", path);
	pp->res = PP_RES_QUOTA;
	if (v) {
		int k = 0;

		while (k < 3 && (!json_is_string(v) || strcmp(json_string_value(v), names[k])))
			k++;
		if (k == 3)
			return json_is_string(v) ?
			       kp_json_fail(x, p, "\"%s\": expected \"quota\", \"weight\" or "
					    "\"cpuset\"", json_string_value(v)) :
			       kp_json_want(x, p, "\"quota\", \"weight\" or \"cpuset\"", v);
		pp->res = (enum pp_res)k;
	}
	if (pp->res == PP_RES_CPUSET)
		return parse_cpus(pp, x, obj, path);
	snprintf(p, sizeof(p), "%s.cpus", path);
	if (json_object_get(obj, "cpus"))
		return kp_json_fail(x, p, "only with \"resource\": \"cpuset\" (the CPUs it "
				    "hands out)");
	return 0;
}

/* The kind narrows the built-in knob: a weight any step (the built-in step still holds). */
void pp_res_knob(const struct pp *pp, struct kp_knob *k)
{
	if (pp->res == PP_RES_WEIGHT) {
		k->type = KP_VT_INT;
		k->min = 1;
		k->max = 10000;
		k->step_abs = 10000;
	} else if (pp->res == PP_RES_CPUSET) {
		k->type = KP_VT_CPULIST;
		k->min = k->max = k->step_abs = 0;
	}
}

/*
 * v1 cpuset is its own hierarchy; v2 has cpuset.cpus only with the
 * controller enabled, and an empty one (the parent's CPUs) could not be
 * restored: the kernel refuses to empty a cpuset with tasks (ENOSPC).
 */
int pp_res_where(const struct pp *pp, const char *rel, int cgv, char *why, size_t len)
{
	char f[4200], v[KP_VALUE_MAX] = "";

	if (pp->res != PP_RES_CPUSET)
		return 0;
	if (cgv == 1)
		snprintf(f, sizeof(f), "/sys/fs/cgroup/cpuset/%s", rel);
	else
		snprintf(f, sizeof(f), "/sys/fs/cgroup/%s/cpuset.cpus", rel);
	if (cgv == 2 && kp_fs_exists(f) && kp_fs_read(f, v, sizeof(v)) >= 0 &&
	    !v[strspn(v, " \n")]) {
		snprintf(why, len, "%s is empty (the parent's CPUs): the kernel refuses to empty a "
			 "cpuset with tasks again, so it could not be restored; set it first "
			 "(to the parent's cpuset.cpus.effective)", f);
		return -EINVAL;
	}
	if (kp_fs_exists(f))
		return 0;
	if (cgv == 1)
		snprintf(why, len, "no cgroup %s: on cgroup v1 cpuset is its own hierarchy; make "
			 "the operator's cgroup there too (cpuset.cpus and cpuset.mems set) and "
			 "move its tasks into it", f);
	else
		snprintf(why, len, "no %s: enable the cpuset controller in the parent's "
			 "cgroup.subtree_control", f);
	return -ENOENT;
}

/* Whole CPUs (at least 1), contiguous runs of the list in operator order, wrapping round. */
static void cpuset_values(const struct pp *pp, const double *q, char (*vals)[KP_VALUE_MAX])
{
	int list[KP_CPUS_MAX] = { 0 }, m = 0, pos = 0;

	for (int c = 0; c < KP_CPUS_MAX; c++)
		if (pp->cpus[c / 64] & (1ULL << (c % 64)))
			list[m++] = c;
	for (int i = 0; i < pp->d.nops; i++) {
		unsigned long long bits[KP_CPUS_MAX / 64] = { 0 };
		int n = (int)ceil(q[i] - 1e-6);

		n = n < 1 ? 1 : n > m ? m : n;
		for (int k = 0; k < n; k++, pos++)
			bits[list[pos % m] / 64] |= 1ULL << (list[pos % m] % 64);
		kp_cpulist_format(bits, vals[i], KP_VALUE_MAX);
	}
}

void pp_res_values(const struct pp *pp, const double *q, char (*vals)[KP_VALUE_MAX])
{
	int n = pp->d.nops;

	if (pp->res == PP_RES_CPUSET) {
		cpuset_values(pp, q, vals);
		return;
	}
	for (int i = 0; i < n; i++) {
		/* an equal split is the kernel's default weight, 100 */
		long long w = llround(100.0 * n * q[i] / pp->d.cpu_budget);

		if (pp->res == PP_RES_QUOTA)
			snprintf(vals[i], KP_VALUE_MAX, "%lld %d", llround(q[i] * PP_PERIOD_US),
				 PP_PERIOD_US);
		else
			snprintf(vals[i], KP_VALUE_MAX, "%lld", w < 1 ? 1 : w > 10000 ? 10000 : w);
	}
}

/* A knob text as cores in force; what cannot be read counts as the whole budget. */
double pp_res_cores(const struct pp *pp, const char *v)
{
	unsigned long long bits[KP_CPUS_MAX / 64];
	double budget = pp->d.cpu_budget;
	long long a, per;
	int n;

	switch (pp->res) {
	case PP_RES_QUOTA:
		if (sscanf(v, "%lld %lld", &a, &per) == 2 && a > 0 && per > 0)
			return (double)a / per;
		return budget;
	case PP_RES_WEIGHT:
		if (sscanf(v, "%lld", &a) == 1 && a > 0)
			return a * budget / (100.0 * pp->d.nops);
		return budget / pp->d.nops;
	case PP_RES_CPUSET:
		if (kp_cpulist_parse(v, bits, NULL, 0))
			return budget;
		n = count_cpus(bits);
		return n < budget ? n : budget;
	}
	return budget;
}
