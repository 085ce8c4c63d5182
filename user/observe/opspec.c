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

int kp_opspec_parse(const char *s, struct kp_opspec *op, char *err, size_t errlen)
{
	const char *eq = strchr(s, '='), *v, *p;
	char *end;
	long pid;

	memset(op, 0, sizeof(*op));
	if (!eq) {
		snprintf(err, errlen, "operator '%s': expected NAME=cgroup:PATH or NAME=pid:P1,P2", s);
		return -EINVAL;
	}
	if (!kp_name_ok(s, eq - s, KP_OP_NAME_LEN)) {
		snprintf(err, errlen, "operator name '%.*s' must be 1-%d characters of [A-Za-z0-9_.-]",
			 (int)(eq - s), s, KP_OP_NAME_LEN - 1);
		return -EINVAL;
	}
	memcpy(op->name, s, eq - s);
	v = eq + 1;
	if (!strncmp(v, "cgroup:", 7)) {
		v += 7;
		if (!*v || strlen(v) >= sizeof(op->cgroup)) {
			snprintf(err, errlen, "operator '%s': empty or too long cgroup path", op->name);
			return -EINVAL;
		}
		if (strstr(v, "..")) {
			snprintf(err, errlen, "operator '%s': cgroup path may not contain '..'", op->name);
			return -EINVAL;
		}
		op->type = KP_OP_CGROUP;
		strcpy(op->cgroup, v);
		return 0;
	}
	if (strncmp(v, "pid:", 4)) {
		snprintf(err, errlen, "operator '%s': expected cgroup:PATH or pid:P1,P2 after '='",
			 op->name);
		return -EINVAL;
	}
	op->type = KP_OP_PIDS;
	for (p = v + 4;; p = end + 1) {
		errno = 0;
		pid = strtol(p, &end, 10);
		if (end == p || errno || pid <= 0 || pid > INT_MAX || (*end && *end != ',')) {
			snprintf(err, errlen, "operator '%s': '%s' is not a list of positive pids",
				 op->name, v + 4);
			return -EINVAL;
		}
		if (op->npids == KP_OP_MAX_PIDS) {
			snprintf(err, errlen, "operator '%s': more than %d pids", op->name,
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

/* ppid from /proc/<pid>/stat; the comm field may hold spaces and ')'. */
static pid_t read_ppid(const char *proc, const char *pid)
{
	char path[PATH_MAX], buf[512], *p;
	int ppid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/stat", proc, pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f)) {
		p = strrchr(buf, ')');
		if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
			ppid = -1;
	}
	fclose(f);
	return ppid;
}

int kp_proc_tree(const char *proc, pid_t pid, pid_t *out, int max)
{
	struct { pid_t pid, ppid; } *all = NULL;
	int nall = 0, cap = 0, n = 0, head = 0, i;
	struct dirent *de;
	DIR *d;

	if (max < 1)
		return -EINVAL;
	d = opendir(proc);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		pid_t ppid;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		ppid = read_ppid(proc, de->d_name);
		if (ppid < 0)
			continue;
		if (nall == cap) {
			void *na = realloc(all, (cap = cap ? cap * 2 : 512) * sizeof(*all));

			if (!na) {
				free(all);
				closedir(d);
				return -ENOMEM;
			}
			all = na;
		}
		all[nall].pid = atoi(de->d_name);
		all[nall++].ppid = ppid;
	}
	closedir(d);
	/* Breadth-first from pid: out[] doubles as the queue. */
	out[n++] = pid;
	while (head < n) {
		pid_t parent = out[head++];

		for (i = 0; i < nall && n < max; i++)
			if (all[i].ppid == parent)
				out[n++] = all[i].pid;
	}
	free(all);
	return n;
}
