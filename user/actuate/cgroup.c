// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "actuate/cgroup.h"
#include "safety/knob.h"

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

int kp_cg_file(const struct kp_target *t, const char *path, const char *attr,
	       char *buf, size_t len)
{
	if (t->cg_version == 2)
		return cg_path(t, "", path, attr, buf, len);
	if (!strcmp(attr, "cpu.max"))
		return cg_path(t, "cpu", path, "cpu.cfs_quota_us", buf, len);
	if (!strcmp(attr, "cpu.weight"))
		return cg_path(t, "cpu", path, "cpu.shares", buf, len);
	if (!strcmp(attr, "cpuset.cpus"))
		return cg_path(t, "cpuset", path, "cpuset.cpus", buf, len);
	return -EINVAL;
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
	if (t->cg_version == 2 || !strcmp(attr, "cpuset.cpus")) {
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
