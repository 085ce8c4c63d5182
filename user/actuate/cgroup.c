// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "actuate/cgroup.h"
#include "lib/log.h"
#include "lib/text.h"
#include "safety/knob.h"

#define SUBTREE "cgroup.subtree_control."

int kp_cg_detect(const char *root)
{
	char p[4096];

	if (!kp_fs_path(root, "/sys/fs/cgroup/cgroup.controllers", p, sizeof(p)) &&
	    kp_fs_exists(p))
		return 2;
	if (!kp_fs_path(root, "/sys/fs/cgroup/cpu/cpu.shares", p, sizeof(p)) && kp_fs_exists(p))
		return 1;
	return -ENOENT;
}

/* Same rounding as the kernel's sched_weight_{to,from}_cgroup(): default 100 <-> 1024. */
long long kp_cg_weight_to_shares(long long weight)
{
	return (weight * 1024 + 50) / 100;
}

long long kp_cg_shares_to_weight(long long shares)
{
	long long w = (shares * 100 + 512) / 1024;

	return w < 1 ? 1 : w > 10000 ? 10000 : w;
}

static int cg_path(const struct kp_target *t, const char *ctrl, const char *path,
		   const char *file, char *buf, size_t len)
{
	char rel[4096];
	int n;

	if (t->cg_version == 2)
		n = snprintf(rel, sizeof(rel), "/sys/fs/cgroup/%s%s%s", path,
			     *path ? "/" : "", file);
	else if (t->cg_version == 1)
		n = snprintf(rel, sizeof(rel), "/sys/fs/cgroup/%s/%s%s%s", ctrl, path,
			     *path ? "/" : "", file);
	else
		return -ENOENT;
	if (n < 0 || (size_t)n >= sizeof(rel))
		return -ENAMETOOLONG;
	return kp_fs_path(t->root, rel, buf, len);
}

static int read_ll(const char *file, long long *v)
{
	char buf[64], *end;
	int err;

	err = kp_fs_read(file, buf, sizeof(buf));
	if (err < 0)
		return err;
	errno = 0;
	*v = strtoll(buf, &end, 10);
	if (errno || end == buf)
		return -EIO;
	return 0;
}

/* "X.dir": the cgroup directory itself, in X's hierarchy on v1 (copied into ctrl). */
static bool dir_attr(const char *attr, char *ctrl, size_t len)
{
	size_t n = strlen(attr);

	if (n <= 4 || strcmp(attr + n - 4, ".dir"))
		return false;
	snprintf(ctrl, len, "%.*s", (int)(n - 4), attr);
	return true;
}

/* "cgroup.subtree_control.X": whether controller X is enabled for the children. */
static const char *subtree_attr(const char *attr)
{
	return strncmp(attr, SUBTREE, strlen(SUBTREE)) ? NULL : attr + strlen(SUBTREE);
}

int kp_cg_file(const struct kp_target *t, const char *path, const char *attr,
	       char *buf, size_t len)
{
	char ctrl[64];
	size_t n;
	int err;

	if (dir_attr(attr, ctrl, sizeof(ctrl))) {
		err = cg_path(t, ctrl, path, "", buf, len);
		n = strlen(buf);
		if (!err && n > 1 && buf[n - 1] == '/')
			buf[n - 1] = '\0';
		return err;
	}
	if (subtree_attr(attr))
		return t->cg_version == 2 ?
		       cg_path(t, "", path, "cgroup.subtree_control", buf, len) : -EINVAL;
	if (t->cg_version == 2)
		return cg_path(t, "", path, attr, buf, len);
	if (!strcmp(attr, "cpu.max"))
		return cg_path(t, "cpu", path, "cpu.cfs_quota_us", buf, len);
	if (!strcmp(attr, "cpu.weight"))
		return cg_path(t, "cpu", path, "cpu.shares", buf, len);
	if (!strcmp(attr, "cpuset.cpus") || !strcmp(attr, "cpuset.mems"))
		return cg_path(t, "cpuset", path, attr, buf, len);
	return -EINVAL;
}

/* A directory: "present" or "absent". */
static int dir_read(const char *dir, char *text, size_t len)
{
	struct stat st;

	if (!stat(dir, &st))
		snprintf(text, len, "%s", S_ISDIR(st.st_mode) ? "present" : "not a directory");
	else if (errno == ENOENT)
		snprintf(text, len, "absent");
	else
		return -errno;
	return 0;
}

static int subtree_read(const char *file, const char *ctrl, char *text, size_t len)
{
	char val[512];
	int err;

	err = kp_fs_read(file, val, sizeof(val));
	if (err < 0)
		return err;
	kp_text_canon(val);
	snprintf(text, len, "%s", kp_word_in(val, ctrl) ? "enabled" : "disabled");
	return 0;
}

/* v1 cpu.max lives in two files: the quota's and the period's (buffers of 4096). */
static int v1_cpu_files(const struct kp_target *t, const char *path, char *fq, char *fp)
{
	int err = cg_path(t, "cpu", path, "cpu.cfs_quota_us", fq, 4096);

	return err ?: cg_path(t, "cpu", path, "cpu.cfs_period_us", fp, 4096);
}

int kp_cg_read(const struct kp_target *t, const char *path, const char *attr,
	       char *text, char *raw, size_t len)
{
	char f[4096], fp[4096];
	long long q, p;
	int err;

	err = kp_cg_file(t, path, attr, f, sizeof(f));
	if (err)
		return err;
	if (subtree_attr(attr) || dir_attr(attr, fp, sizeof(fp))) {
		err = subtree_attr(attr) ? subtree_read(f, subtree_attr(attr), text, len) :
					   dir_read(f, text, len);
		if (err)
			return err;
		goto same;
	}
	if (t->cg_version == 2 || !strncmp(attr, "cpuset.", 7)) {
		err = kp_fs_read(f, text, len);
		if (err < 0)
			return err;
		kp_text_canon(text);
		goto same;
	}
	if (!strcmp(attr, "cpu.weight")) {
		err = read_ll(f, &q);
		if (err)
			return err;
		snprintf(text, len, "%lld", kp_cg_shares_to_weight(q));
		if (raw)
			snprintf(raw, len, "%lld", q);
		return 0;
	}
	/* cpu.max */
	err = v1_cpu_files(t, path, f, fp);
	err = err ?: read_ll(f, &q);
	err = err ?: read_ll(fp, &p);
	if (err)
		return err;
	if (q < 0)
		snprintf(text, len, "max %lld", p);
	else
		snprintf(text, len, "%lld %lld", q, p);
same:
	if (raw)
		snprintf(raw, len, "%s", text);
	return 0;
}

static int v1_cpu_max(const struct kp_target *t, const char *path, const char *text)
{
	char fq[4096], fp[4096], buf[32];
	long long q, p, cur_p;
	int err;

	if (sscanf(text, "max %lld", &p) == 1)
		q = -1;
	else if (sscanf(text, "%lld %lld", &q, &p) != 2)
		return -EINVAL;
	err = v1_cpu_files(t, path, fq, fp);
	err = err ?: read_ll(fp, &cur_p);
	if (err)
		return err;
	if (p != cur_p) {
		snprintf(buf, sizeof(buf), "%lld", p);
		err = kp_fs_write(fp, buf);
		if (err)
			return err;
	}
	snprintf(buf, sizeof(buf), "%lld", q);
	return kp_fs_write(fq, buf);
}

/* Tasks still in dir go to its parent, or to the hierarchy's root when the parent refuses. */
static void evacuate(const char *dir, const char *top)
{
	char p[4200], parent[4096], procs[8192], *tok, *save = NULL;

	snprintf(parent, sizeof(parent), "%s", dir);
	*strrchr(parent, '/') = '\0';
	snprintf(p, sizeof(p), "%s/cgroup.procs", dir);
	if (kp_fs_read(p, procs, sizeof(procs)) <= 0)
		return;
	for (tok = strtok_r(procs, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) {
		kp_warn("pid %s still in %s: moved to the parent cgroup", tok, dir);
		snprintf(p, sizeof(p), "%s/cgroup.procs", parent);
		if (kp_fs_write(p, tok)) {
			snprintf(p, sizeof(p), "%s/cgroup.procs", top);
			kp_fs_write(p, tok);
		}
	}
}

static int dir_remove(const struct kp_target *t, const char *dir, const char *ctrl)
{
	char top[4096];
	int tries, err = 0;

	if (cg_path(t, ctrl, "", "", top, sizeof(top)))
		top[0] = '\0';
	for (tries = 0; tries < 100; tries++) {
		if (!rmdir(dir) || errno == ENOENT)
			return 0;
		err = -errno;
		if (err != -EBUSY)
			break;
		/* exiting tasks leave within a few ms; stragglers are moved out after 1 s */
		if (tries == 50)
			evacuate(dir, top);
		usleep(20000);
	}
	return err;
}

/* A directory made present or absent, a controller enabled or disabled. */
static int write_setup(const struct kp_target *t, const char *f, const char *attr,
		       const char *text)
{
	char ctrl[64], buf[80];

	if (dir_attr(attr, ctrl, sizeof(ctrl))) {
		if (!strcmp(text, "present"))
			return mkdir(f, 0755) && errno != EEXIST ? -errno : 0;
		return strcmp(text, "absent") ? -EINVAL : dir_remove(t, f, ctrl);
	}
	if (strcmp(text, "enabled") && strcmp(text, "disabled"))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%c%s", text[0] == 'e' ? '+' : '-', subtree_attr(attr));
	return kp_fs_write(f, buf);
}

int kp_cg_write(const struct kp_target *t, const char *path, const char *attr, const char *text)
{
	char f[4096], buf[32];
	long long w;
	int err;

	if (t->cg_version == 1 && !strcmp(attr, "cpu.max"))
		return v1_cpu_max(t, path, text);
	err = kp_cg_file(t, path, attr, f, sizeof(f));
	if (err)
		return err;
	if (dir_attr(attr, buf, sizeof(buf)) || subtree_attr(attr))
		return write_setup(t, f, attr, text);
	if (t->cg_version == 1 && !strcmp(attr, "cpu.weight")) {
		if (sscanf(text, "%lld", &w) != 1)
			return -EINVAL;
		snprintf(buf, sizeof(buf), "%lld", kp_cg_weight_to_shares(w));
		return kp_fs_write(f, buf);
	}
	/* a zero-length write may never reach the kernel: "\n" means empty too */
	return kp_fs_write(f, *text ? text : "\n");
}

int kp_cg_write_raw(const struct kp_target *t, const char *path, const char *attr,
		    const char *raw)
{
	char f[4096];
	int err;

	if (t->cg_version == 1 && !strcmp(attr, "cpu.weight")) {
		err = kp_cg_file(t, path, attr, f, sizeof(f));
		return err ? err : kp_fs_write(f, raw);
	}
	return kp_cg_write(t, path, attr, raw);
}

int kp_cg_parent_cpus(const struct kp_target *t, const char *path, char *buf, size_t len)
{
	char parent[4096], f[4096];
	char *slash;
	int err;

	snprintf(parent, sizeof(parent), "%s", path);
	slash = strrchr(parent, '/');
	if (slash)
		*slash = '\0';
	else
		parent[0] = '\0';
	if (t->cg_version == 2)
		err = cg_path(t, "", parent, "cpuset.cpus.effective", f, sizeof(f));
	else
		err = cg_path(t, "cpuset", parent, "cpuset.cpus", f, sizeof(f));
	if (err)
		return err;
	err = kp_fs_read(f, buf, len);
	if (err < 0)
		return err;
	kp_text_canon(buf);
	return 0;
}
