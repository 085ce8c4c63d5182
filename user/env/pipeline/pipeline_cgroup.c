// SPDX-License-Identifier: GPL-2.0
/*
 * The pipeline's cgroups: one per operator (v2, or the v1 cpu and cpuset
 * hierarchies), created and set up through the safety session, so its
 * journal holds every directory and controller and a crash leaves nothing
 * `kpilot rollback` cannot undo.  Closing the session removes them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "actuate/cgroup.h"
#include "actuate/fsio.h"
#include "env/pipeline/pipeline_impl.h"

#define WHY_SETUP "pipeline: operator cgroup"

/* v1 cpuset: a new group has no CPUs or memory nodes; give it its parent's. */
static int cpuset_inherit(struct kp_pipe *e, const char *mount, const char *rel)
{
	static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
	char dir[2 * PATH_MAX], parent[2 * PATH_MAX], p[2 * PATH_MAX + 32], val[4096], why[512];
	size_t k;
	int err;

	snprintf(dir, sizeof(dir), "%s/%s", mount, rel);
	snprintf(parent, sizeof(parent), "%s", dir);
	*strrchr(parent, '/') = '\0';
	for (k = 0; k < 2; k++) {
		snprintf(p, sizeof(p), "%s/%s", dir, files[k]);
		err = kp_fs_read(p, val, sizeof(val));
		if (err < 0)
			return err;
		kp_text_canon(val);
		if (val[0])
			continue;
		snprintf(p, sizeof(p), "%s/%s", parent, files[k]);
		err = kp_fs_read(p, val, sizeof(val));
		if (err < 0)
			return err;
		kp_text_canon(val);
		err = kp_session_cg_write(e->s, rel, files[k], val, WHY_SETUP, why, sizeof(why));
		if (err)
			return err;
	}
	return 0;
}

/*
 * mkdir -p of rel in one hierarchy, journaled.  v2: the cpu controller is
 * enabled in each parent before its child is made, so undoing newest first
 * removes the children before the controller goes.
 */
static int make_path(struct kp_pipe *e, const char *mount, const char *rel, const char *ctrl,
		     char *leaf, size_t len)
{
	char part[PATH_MAX], why[512];
	char *slash;
	int err = 0;

	snprintf(part, sizeof(part), "%s", rel);
	for (slash = part; slash && !err; ) {
		slash = strchr(slash, '/');
		if (slash)
			*slash = '\0';
		if (e->cgv == 2) {
			char parent[PATH_MAX], *up;

			snprintf(parent, sizeof(parent), "%s", part);
			up = strrchr(parent, '/');
			*(up ? up : parent) = '\0';
			err = kp_session_cg_enable(e->s, parent, "cpu", WHY_SETUP, why, sizeof(why));
		}
		err = err ?: kp_session_cg_mkdir(e->s, part, ctrl, WHY_SETUP, why, sizeof(why));
		if (!err && !strcmp(ctrl, "cpuset"))
			err = cpuset_inherit(e, mount, part);
		if (slash)
			*slash++ = '/';
	}
	if (!err && snprintf(leaf, len, "%s/%s", mount, rel) >= (int)len)
		err = -ENAMETOOLONG;
	return err;
}

static int move_pid(const char *dir, pid_t pid)
{
	char p[PATH_MAX + 32], v[32];

	snprintf(p, sizeof(p), "%s/cgroup.procs", dir);
	snprintf(v, sizeof(v), "%d", (int)pid);
	return kp_fs_write(p, v);
}

int kp_pipe_place(struct kp_pipe *e, char *why, size_t len)
{
	char cg[1100], mount[1200];
	int i, err = 0;

	e->cgv = kp_cg_detect(e->root[0] ? e->root : "/");
	if (e->cgv < 0) {
		snprintf(why, len, "no cgroup hierarchy with a cpu controller under %s/sys/fs/cgroup",
			 e->root);
		return -ENOENT;
	}
	snprintf(cg, sizeof(cg), "%s/sys/fs/cgroup", e->root);
	for (i = 0; i < e->d->nops && !err; i++) {
		const struct kp_pipe_op *op = &e->d->ops[i];

		if (e->cgv == 2) {
			err = make_path(e, cg, op->cgroup, "cpu", e->cpudir[i], PATH_MAX);
			err = err ?: move_pid(e->cpudir[i], e->pid[i]);
		} else {
			snprintf(mount, sizeof(mount), "%s/cpu", cg);
			err = make_path(e, mount, op->cgroup, "cpu", e->cpudir[i], PATH_MAX);
			snprintf(mount, sizeof(mount), "%s/cpuset", cg);
			if (!err && kp_fs_exists(mount))
				err = make_path(e, mount, op->cgroup, "cpuset", e->setdir[i],
						PATH_MAX);
			err = err ?: move_pid(e->cpudir[i], e->pid[i]);
			if (!err && e->setdir[i][0])
				err = move_pid(e->setdir[i], e->pid[i]);
		}
		if (err)
			snprintf(why, len, "cgroup of operator %s (%s, v%d): %s", op->name, op->cgroup,
				 e->cgv, strerror(-err));
	}
	return err;
}

int kp_pipe_read_cpustat(const struct kp_pipe *e, int i, struct cpustat *cs)
{
	char p[PATH_MAX + 16], buf[1024], *line, *save = NULL;
	int err;

	memset(cs, 0, sizeof(*cs));
	snprintf(p, sizeof(p), "%s/cpu.stat", e->cpudir[i]);
	err = kp_fs_read(p, buf, sizeof(buf));
	if (err < 0)
		return err;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long v;
		char key[64];

		if (sscanf(line, "%63s %llu", key, &v) != 2)
			continue;
		if (!strcmp(key, "nr_periods"))
			cs->periods = v;
		else if (!strcmp(key, "nr_throttled"))
			cs->throttled = v;
		else if (!strcmp(key, "throttled_time"))	/* v1: ns */
			cs->throttled_ns = v;
		else if (!strcmp(key, "throttled_usec"))	/* v2 */
			cs->throttled_ns = v * 1000;
	}
	return 0;
}
