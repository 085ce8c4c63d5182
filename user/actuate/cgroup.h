/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cgroup CPU actuator.  Knobs are named the v2 way (cpu.max, cpu.weight,
 * cpuset.cpus) and values use the v2 text; on a v1 host they map to
 *   cpu.max     -> <root>/sys/fs/cgroup/cpu/<path>/cpu.cfs_quota_us + cpu.cfs_period_us
 *   cpu.weight  -> <root>/sys/fs/cgroup/cpu/<path>/cpu.shares (kernel conversion)
 *   cpuset.cpus -> <root>/sys/fs/cgroup/cpuset/<path>/cpuset.cpus (cpuset.mems alike)
 * A run's own cgroups are set up through two pseudo-attributes, so the safety
 * journal can undo them like any value:
 *   X.dir                      "present" / "absent": the directory (v1: in
 *                              X's hierarchy); absent moves the tasks still
 *                              in it to its parent, then removes it
 *   cgroup.subtree_control.X   "enabled" / "disabled": controller X for the
 *                              children (v2)
 */
#ifndef KPILOT_CGROUP_H
#define KPILOT_CGROUP_H

#include <stddef.h>
#include "actuate/fsio.h"

/* 2 when <root>/sys/fs/cgroup is cgroup2, 1 when a v1 cpu hierarchy exists, else -ENOENT. */
int kp_cg_detect(const char *root);

/*
 * Read an attribute in its v2 text ("20000 100000", "max 100000", "100",
 * "0-3").  raw (may be NULL) gets the exact native form when the v2 text
 * loses information: on v1, cpu.weight's raw is the cpu.shares number,
 * which weight cannot always represent.  Otherwise raw equals text.
 */
int kp_cg_read(const struct kp_target *t, const char *path, const char *attr,
	       char *text, char *raw, size_t len);

/* Write v2 text (cpu.max must carry its period). */
int kp_cg_write(const struct kp_target *t, const char *path, const char *attr, const char *text);

/* Write a raw value as returned by kp_cg_read. */
int kp_cg_write_raw(const struct kp_target *t, const char *path, const char *attr,
		    const char *raw);

/* CPUs the parent allows (v2: cpuset.cpus.effective, v1: cpuset.cpus). */
int kp_cg_parent_cpus(const struct kp_target *t, const char *path, char *buf, size_t len);

/* Main file of an attribute, for the journal and for people restoring by hand. */
int kp_cg_file(const struct kp_target *t, const char *path, const char *attr,
	       char *buf, size_t len);

/* The kernel's conversion between cgroup v2 weight [1, 10000] and v1 shares. */
long long kp_cg_weight_to_shares(long long weight);
long long kp_cg_shares_to_weight(long long shares);

#endif
