/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A fake root for safety tests: the files kpilot reads and writes under
 * /proc/sys and /sys/fs/cgroup, as regular files in a temp dir, so every
 * path is exercised without touching the host.
 */
#ifndef KPILOT_SAFETY_FAKE_H
#define KPILOT_SAFETY_FAKE_H

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "actuate/cgroup.h"
#include "safety/session.h"
#include "actuate/sysctl.h"

static inline void fake_put(const char *root, const char *rel, const char *text)
{
	char path[4096], *p;
	FILE *f;

	snprintf(path, sizeof(path), "%s%s", root, rel);
	for (p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	f = fopen(path, "w");
	cr_assert_not_null(f, "create %s", path);
	fputs(text, f);
	fclose(f);
}

/* File content with whitespace as the kernel leaves it. */
static inline char *fake_get(const char *root, const char *rel)
{
	static char buf[8][512];
	static int slot;
	char path[4096];
	char *b = buf[slot++ % 8];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s%s", root, rel);
	f = fopen(path, "r");
	if (!f)
		return strcpy(b, "<missing>");
	n = fread(b, 1, 511, f);
	b[n] = '\0';
	fclose(f);
	return b;
}

static const char *const fake_sysctls[][2] = {
	{ "/proc/sys/net/core/somaxconn", "4096\n" },
	{ "/proc/sys/net/core/netdev_max_backlog", "1000\n" },
	{ "/proc/sys/net/ipv4/tcp_rmem", "4096\t131072\t6291456\n" },
	{ "/proc/sys/net/ipv4/tcp_wmem", "4096\t16384\t4194304\n" },
	{ "/proc/sys/net/ipv4/ip_local_port_range", "32768\t60999\n" },
	{ "/proc/sys/net/ipv4/tcp_congestion_control", "cubic\n" },
	{ "/proc/sys/net/ipv4/tcp_fin_timeout", "60\n" },
	{ "/proc/sys/vm/swappiness", "60\n" },
	{ "/proc/sys/vm/dirty_ratio", "20\n" },
	{ "/proc/sys/vm/dirty_background_ratio", "10\n" },
	/* canaries: denylisted or not in the table */
	{ "/proc/sys/kernel/panic", "0\n" },
	{ "/proc/sys/kernel/sysrq", "176\n" },
	{ "/proc/sys/kernel/kexec_load_disabled", "0\n" },
	{ "/proc/sys/vm/panic_on_oom", "0\n" },
	{ "/proc/sys/kernel/modules_disabled", "0\n" },
	{ "/proc/sys/fs/file-max", "9223372036854775807\n" },
	{ "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n" },
};

/* version 1: cpu and cpuset hierarchies like this host; 2: one unified tree. */
static inline void fake_root_make(char *root, size_t len, int version)
{
	size_t i;

	/* tmpfs: ext4 flushes a truncated-and-rewritten file on close (auto_da_alloc) */
	snprintf(root, len, "/dev/shm/kpilot-fake-XXXXXX");
	if (!mkdtemp(root)) {
		snprintf(root, len, "/tmp/kpilot-fake-XXXXXX");
		cr_assert_not_null(mkdtemp(root));
	}
	for (i = 0; i < sizeof(fake_sysctls) / sizeof(fake_sysctls[0]); i++)
		fake_put(root, fake_sysctls[i][0], fake_sysctls[i][1]);
	if (version == 1) {
		fake_put(root, "/sys/fs/cgroup/cpu/cpu.shares", "1024\n");
		fake_put(root, "/sys/fs/cgroup/cpuset/cpuset.cpus", "0-3\n");
		fake_put(root, "/sys/fs/cgroup/cpuset/kp/cpuset.cpus", "0-3\n");
		for (i = 1; i <= 3; i++) {
			char rel[256];

			snprintf(rel, sizeof(rel), "/sys/fs/cgroup/cpu/kp/op%zu/cpu.cfs_quota_us", i);
			fake_put(root, rel, "-1\n");
			snprintf(rel, sizeof(rel), "/sys/fs/cgroup/cpu/kp/op%zu/cpu.cfs_period_us", i);
			fake_put(root, rel, "100000\n");
			snprintf(rel, sizeof(rel), "/sys/fs/cgroup/cpu/kp/op%zu/cpu.shares", i);
			fake_put(root, rel, "1024\n");
			snprintf(rel, sizeof(rel), "/sys/fs/cgroup/cpuset/kp/op%zu/cpuset.cpus", i);
			fake_put(root, rel, "0-3\n");
		}
	} else if (version == 2) {
		fake_put(root, "/sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n");
		fake_put(root, "/sys/fs/cgroup/kp/cpuset.cpus.effective", "0-3\n");
		for (i = 1; i <= 3; i++) {
			char rel[256];

			snprintf(rel, sizeof(rel), "/sys/fs/cgroup/kp/op%zu/cpu.max", i);
			fake_put(root, rel, "max 100000\n");
			snprintf(rel, sizeof(rel), "/sys/fs/cgroup/kp/op%zu/cpu.weight", i);
			fake_put(root, rel, "100\n");
			snprintf(rel, sizeof(rel), "/sys/fs/cgroup/kp/op%zu/cpuset.cpus", i);
			fake_put(root, rel, "\n");
		}
	}
}

static inline void fake_rm(const char *dir)
{
	char cmd[4200];

	if (strncmp(dir, "/tmp/kpilot-", 12) && strncmp(dir, "/dev/shm/kpilot-", 16))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", dir);
}

/* A state dir on tmpfs when there is one: fsync per record costs nothing there. */
static inline void fake_state_dir(char *dir, size_t len)
{
	snprintf(dir, len, "/dev/shm/kpilot-state-XXXXXX");
	if (!mkdtemp(dir)) {
		snprintf(dir, len, "/tmp/kpilot-state-XXXXXX");
		cr_assert_not_null(mkdtemp(dir));
	}
}

/* A clock tests move by hand, so minimum intervals are exact. */
static double fake_clock_now = 1700000000.0;
static inline double fake_clock(void)
{
	return fake_clock_now;
}

/* Count records of one op in a journal file. */
static inline int journal_count(const char *state_dir, const char *op)
{
	char path[4200], line[8192], pat[64];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/journal", state_dir);
	snprintf(pat, sizeof(pat), "\"op\":\"%s\"", op);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, pat))
			n++;
	fclose(f);
	return n;
}

#endif
