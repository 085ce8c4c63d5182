// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include "observe/opspec.h"
#include "lib/text.h"

int kp_opspec_parse(const char *s, struct kp_opspec *op, char *why, size_t len)
{
	const char *eq = strchr(s, '='), *v, *p;
	char *end;
	long pid;

	memset(op, 0, sizeof(*op));
	if (!eq) {
		snprintf(why, len, "operator '%s': expected NAME=cgroup:PATH or NAME=pid:P1,P2", s);
		return -EINVAL;
	}
	if (!kp_name_ok(s, eq - s, KP_OP_NAME_LEN)) {
		snprintf(why, len, "operator name '%.*s' must be 1-%d characters of [A-Za-z0-9_.-]",
			 (int)(eq - s), s, KP_OP_NAME_LEN - 1);
		return -EINVAL;
	}
	memcpy(op->name, s, eq - s);
	v = eq + 1;
	if (!strncmp(v, "cgroup:", 7)) {
		v += 7;
		if (!*v || strlen(v) >= sizeof(op->cgroup)) {
			snprintf(why, len, "operator '%s': empty or too long cgroup path", op->name);
			return -EINVAL;
		}
		if (strstr(v, "..")) {
			snprintf(why, len, "operator '%s': cgroup path may not contain '..'", op->name);
			return -EINVAL;
		}
		op->type = KP_OP_CGROUP;
		strcpy(op->cgroup, v);
		return 0;
	}
	if (strncmp(v, "pid:", 4)) {
		snprintf(why, len, "operator '%s': expected cgroup:PATH or pid:P1,P2 after '='",
			 op->name);
		return -EINVAL;
	}
	op->type = KP_OP_PIDS;
	for (p = v + 4;; p = end + 1) {
		errno = 0;
		pid = strtol(p, &end, 10);
		if (end == p || errno || pid <= 0 || pid > INT_MAX || (*end && *end != ',')) {
			snprintf(why, len, "operator '%s': '%s' is not a list of positive pids",
				 op->name, v + 4);
			return -EINVAL;
		}
		if (op->npids == KP_OP_MAX_PIDS) {
			snprintf(why, len, "operator '%s': more than %d pids", op->name,
				 KP_OP_MAX_PIDS);
			return -EINVAL;
		}
		op->pids[op->npids++] = (pid_t)pid;
		if (!*end)
			break;
	}
	return 0;
}

static bool is_cgroup_dir(const char *dir)
{
	char f[PATH_MAX];
	struct stat st;

	if (snprintf(f, sizeof(f), "%s/cgroup.procs", dir) >= (int)sizeof(f))
		return false;
	return stat(f, &st) == 0;
}

int kp_opspec_cgroup_dir(const char *sysfs_cgroup, const char *path, char *out, size_t outlen)
{
	struct dirent *de;
	char cand[PATH_MAX];
	DIR *d;
	int ret = -ENOENT;

	while (*path == '/' && path[1] == '/')
		path++;
	if (path[0] == '/' && is_cgroup_dir(path)) {
		snprintf(out, outlen, "%s", path);
		return 0;
	}
	while (*path == '/')
		path++;
	/* v2 root first, then every mounted hierarchy (v1 controllers, unified). */
	snprintf(cand, sizeof(cand), "%s/%s", sysfs_cgroup, path);
	if (is_cgroup_dir(cand)) {
		snprintf(out, outlen, "%s", cand);
		return 0;
	}
	d = opendir(sysfs_cgroup);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (snprintf(cand, sizeof(cand), "%s/%s/%s", sysfs_cgroup, de->d_name, path) >=
		    (int)sizeof(cand))
			continue;
		if (is_cgroup_dir(cand)) {
			snprintf(out, outlen, "%s", cand);
			ret = 0;
			break;
		}
	}
	closedir(d);
	return ret;
}

int kp_cgroup_procs(const char *dir, pid_t *pids, int max)
{
	char f[PATH_MAX];
	FILE *fp;
	long v;
	int n = 0;

	snprintf(f, sizeof(f), "%s/cgroup.procs", dir);
	fp = fopen(f, "re");
	if (!fp)
		return -errno;
	while (n < max && fscanf(fp, "%ld", &v) == 1)
		pids[n++] = (pid_t)v;
	fclose(fp);
	return n;
}
