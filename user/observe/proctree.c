// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include "observe/proctree.h"

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
