/* SPDX-License-Identifier: GPL-2.0 */
/* `--operator NAME=cgroup:PATH` / `--operator NAME=pid:P1,P2` */
#ifndef KPILOT_OPSPEC_H
#define KPILOT_OPSPEC_H

#include <sys/types.h>
#include "observe/metrics.h"

#define KP_OP_MAX_PIDS	64

struct kp_opspec {
	char name[KP_OP_NAME_LEN];
	enum { KP_OP_PIDS, KP_OP_CGROUP } type;
	char cgroup[4096];		/* as given */
	pid_t pids[KP_OP_MAX_PIDS];
	int npids;
};

/*
 * Parse one spec. Returns 0, or -EINVAL with a one-line reason in why
 * (e.g. "operator name 'a b' has characters outside [A-Za-z0-9_.-]").
 */
int kp_opspec_parse(const char *s, struct kp_opspec *op, char *why, size_t len);

/*
 * Directory of an operator's cgroup: PATH itself when it is a cgroup
 * directory (v1 or v2), else PATH under the v2 root or each v1 controller
 * mount of sysfs_cgroup (normally /sys/fs/cgroup). -ENOENT if none exists.
 */
int kp_opspec_cgroup_dir(const char *sysfs_cgroup, const char *path, char *out, size_t outlen);

/* Read the tgids in a cgroup directory's cgroup.procs; returns the count or -errno. */
int kp_cgroup_procs(const char *dir, pid_t *pids, int max);

#endif
