/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the tests of a real wordcount pipeline under `kpilot tune` share:
 * its description (four operators in cgroups <tag>/<op>, a FIFO control
 * channel), and the check for its processes, found by the FIFO their
 * command lines name.
 */
#ifndef KPILOT_TEST_PIPE_FIXTURE_H
#define KPILOT_TEST_PIPE_FIXTURE_H

#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <criterion/criterion.h>

#define PF_WORDCOUNT "build/tools/wordcount/wordcount"

/*
 * The description at path: pipeline `name`, wordcount at 800/s controlled
 * through fifo. stop_timeout_s 10, as the shipped profile: longer than the
 * launcher's own 5 s drain limit, so a slow drain (a loaded machine) ends
 * in its hard stop, which removes the FIFO, rather than in kpilot's
 * SIGKILL, which cannot.
 */
static inline void pf_make_desc(const char *path, const char *name, const char *fifo,
				const char *tag)
{
	static const char *const ops[] = { "source", "split", "count", "sink" };
	FILE *f = fopen(path, "w");
	int i;

	cr_assert(f, "%s", path);
	fprintf(f, "{\"pipeline\":\"%s\",\"cpu_budget\":2.0,\"launcher\":{\"command\":"
		"[\"" PF_WORDCOUNT "\",\"run\",\"--rate\",\"800\",\"--control\",\"%s\"],"
		"\"pids\":\"start_line\",\"control\":\"fifo\",\"report\":\"interval_lines\","
		"\"stop_timeout_s\":10},\"operators\":[", name, fifo);
	for (i = 0; i < 4; i++)
		fprintf(f, "%s{\"name\":\"%s\",\"cgroup\":\"%s/%s\"}", i ? "," : "", ops[i], tag,
			ops[i]);
	fprintf(f, "],\"edges\":[[\"source\",\"split\"],[\"split\",\"count\"],[\"count\",\"sink\"]]}\n");
	fclose(f);
	chmod(path, 0644);
}

/* Processes whose command line has the argument arg (the FIFO): the pipeline's. */
static inline int pf_procs_with(const char *arg, bool kill_them)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d))) {
		char p[300], buf[4096], *cmd;
		size_t k;
		FILE *f;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(p, sizeof(p), "/proc/%s/cmdline", de->d_name);
		f = fopen(p, "r");
		if (!f)
			continue;
		k = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[k] = '\0';
		for (cmd = buf; cmd < buf + k; cmd += strlen(cmd) + 1)
			if (!strcmp(cmd, arg)) {
				n++;
				if (kill_them)
					kill(atoi(de->d_name), SIGKILL);
				break;
			}
	}
	if (d)
		closedir(d);
	return n;
}

/* Root, the built binaries, the v1 cpu hierarchy (why_v1: the skip's reason without it). */
static inline void pf_need(const char *kpilot, const char *why_v1)
{
	if (geteuid() != 0)
		cr_skip_test("needs root: creates cgroups and loads eBPF programs");
	if (access(PF_WORDCOUNT, X_OK) || access(kpilot, X_OK))
		cr_skip_test("no " PF_WORDCOUNT " or %s: run from the top of the tree after make",
			     kpilot);
	if (access("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", F_OK))
		cr_skip_test("%s", why_v1);
}

/* tag <prefix>-<pid>, tmp /tmp/<tag> (made), fifo /tmp/<tag>.ctl: 64, 256, 256 bytes. */
static inline void pf_names(const char *prefix, char *tag, char *tmp, char *fifo)
{
	snprintf(tag, 64, "%s-%d", prefix, (int)getpid());
	snprintf(tmp, 256, "/tmp/%s", tag);
	snprintf(fifo, 256, "/tmp/%s.ctl", tag);
	mkdir(tmp, 0755);
}

static inline bool pf_exists(const char *fmt, const char *a)
{
	char p[4096];

	snprintf(p, sizeof(p), fmt, a);
	return !access(p, F_OK);
}

#endif
