// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "state/sysstat.h"

int kp_cpustat_read(const char *proc, struct kp_cpustat *s)
{
	unsigned long long v[10] = { 0 };
	char path[256];
	FILE *f;
	int n, i;

	snprintf(path, sizeof(path), "%s/stat", proc);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
		   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
	fclose(f);
	if (n < 5)
		return -EINVAL;
	s->iowait = v[4];
	/* guest times are already in user and nice */
	for (s->total = 0, i = 0; i < 8; i++)
		s->total += v[i];
	return 0;
}

double kp_iowait_share(const struct kp_cpustat *a, const struct kp_cpustat *b)
{
	if (b->total <= a->total)
		return 0;
	return (double)(b->iowait - a->iowait) / (double)(b->total - a->total);
}

double kp_mem_avail(const char *proc)
{
	unsigned long long total = 0, avail = 0, v;
	char path[256], key[64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/meminfo", proc);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %llu kB\n", key, &v) == 2) {
		if (!strcmp(key, "MemTotal:"))
			total = v;
		else if (!strcmp(key, "MemAvailable:"))
			avail = v;
	}
	fclose(f);
	return total ? (double)avail / total : -1;
}

double kp_psi_some10(const char *proc, const char *what)
{
	char path[256];
	double v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/pressure/%s", proc, what);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "some avg10=%lf", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}
