// SPDX-License-Identifier: GPL-2.0
/*
 * Who is observed: watched pids and operators (pid lists or cgroups), as
 * tgid -> operator entries of the members map, which fork extends.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "observe/observer_int.h"
#include "observe/proctree.h"
#include "sched.skel.h"

int kp_observer_watch_pid(struct kp_observer *obs, pid_t pid)
{
	static pid_t tree[KP_MAX_PROCS];
	__u32 key, zero = 0;
	int n, i;

	if (kill(pid, 0) && errno == ESRCH)
		return -ESRCH;
	/* Its children from before we started too, as fork adds later ones. */
	n = kp_proc_tree(obs->opts.proc, pid, tree, KP_MAX_PROCS);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		key = tree[i];
		/* An operator membership wins over a plain watch. */
		if (bpf_map_update_elem(bpf_map__fd(obs->sched->maps.members), &key, &zero,
					BPF_NOEXIST) && errno != EEXIST)
			return -errno;
	}
	return 0;
}

static int add_members(struct kp_observer *obs, __u32 id, const pid_t *pids, int n)
{
	int fd = bpf_map__fd(obs->sched->maps.members), i;

	for (i = 0; i < n; i++) {
		__u32 key = pids[i];

		if (bpf_map_update_elem(fd, &key, &id, BPF_ANY))
			return -errno;
	}
	return 0;
}

/* A pid operator covers its processes' existing descendants too. */
static int add_pid_trees(struct kp_observer *obs, __u32 id, const pid_t *pids, int n)
{
	static pid_t tree[KP_MAX_PROCS];
	int i, k, ret;

	for (i = 0; i < n; i++) {
		k = kp_proc_tree(obs->opts.proc, pids[i], tree, KP_MAX_PROCS);
		if (k < 0)
			return k;
		ret = add_members(obs, id, tree, k);
		if (ret)
			return ret;
	}
	return 0;
}

int kp_obs_scan_cgroup(struct kp_observer *obs, struct kp_operator *op, __u32 id)
{
	static pid_t pids[KP_MAX_PROCS];
	int n = kp_cgroup_procs(op->cgdir, pids, KP_MAX_PROCS);

	if (n < 0)
		return n;
	return add_members(obs, id, pids, n);
}

int kp_observer_add_operator(struct kp_observer *obs, const struct kp_opspec *spec,
			     char *why, size_t len)
{
	struct kp_operator *op;
	__u32 id;
	int i, ret;

	if (obs->nops == KP_MAX_OPERATORS) {
		snprintf(why, len, "at most %d operators", KP_MAX_OPERATORS);
		return -E2BIG;
	}
	for (i = 0; i < obs->nops; i++) {
		if (!strcmp(obs->ops[i].spec.name, spec->name)) {
			snprintf(why, len, "operator '%s' given twice", spec->name);
			return -EEXIST;
		}
	}
	op = &obs->ops[obs->nops];
	memset(op, 0, sizeof(*op));
	op->spec = *spec;
	id = obs->nops + 1;
	if (spec->type == KP_OP_CGROUP) {
		ret = kp_opspec_cgroup_dir(obs->opts.sysfs_cgroup, spec->cgroup, op->cgdir,
					   sizeof(op->cgdir));
		if (ret) {
			snprintf(why, len, "operator '%s': no cgroup '%s' in any hierarchy under %s",
				 spec->name, spec->cgroup, obs->opts.sysfs_cgroup);
			return ret;
		}
		ret = kp_obs_scan_cgroup(obs, op, id);
	} else {
		for (i = 0; i < spec->npids; i++) {
			if (kill(spec->pids[i], 0) && errno == ESRCH) {
				snprintf(why, len, "operator '%s': no process %d", spec->name,
					 spec->pids[i]);
				return -ESRCH;
			}
		}
		ret = add_pid_trees(obs, id, spec->pids, spec->npids);
	}
	if (ret) {
		snprintf(why, len, "operator '%s': cannot add members: %s", spec->name,
			 strerror(-ret));
		return ret;
	}
	obs->nops++;
	return (int)id;
}

int kp_observer_add_member(struct kp_observer *obs, int op_id, pid_t pid)
{
	if (op_id < 1 || op_id > obs->nops)
		return -EINVAL;
	return add_pid_trees(obs, op_id, &pid, 1);
}

const char *kp_observer_op_name(const struct kp_observer *obs, __u32 id)
{
	if (id < 1 || id > (__u32)obs->nops)
		return NULL;
	return obs->ops[id - 1].spec.name;
}

int kp_observer_nops(const struct kp_observer *obs)
{
	return obs->nops;
}
