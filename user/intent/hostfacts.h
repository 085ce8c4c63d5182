/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the host is, as far as choosing a tuning session goes: memory and
 * swap, CPUs and NUMA nodes, disks (rotational or not, and which one holds
 * /var/tmp, where the file benchmarks write), the cgroup version, the
 * distribution family (for package names) and the benchmark tools on PATH.
 * Read from a root prefix, so tests control every fact; or filled in by hand.
 */
#ifndef KPILOT_INTENT_HOSTFACTS_H
#define KPILOT_INTENT_HOSTFACTS_H

#include <stdbool.h>
#include <stddef.h>

#define KP_HOST_MAX_DISKS	16

enum kp_tool {
	KP_TOOL_PGBENCH, KP_TOOL_PSQL, KP_TOOL_POSTGRES, KP_TOOL_FIO, KP_TOOL_SYSBENCH,
	KP_TOOL_WRK, KP_TOOL_NGINX, KP_TOOL_N
};
/* The tools' command names, by enum value. */
extern const char *const kp_tool_names[KP_TOOL_N];

struct kp_host_disk {
	char name[32];			/* sda, vda, nvme0n1 */
	bool rotational;
	unsigned long long size_mb;
};

struct kp_host_facts {
	unsigned long long mem_mb, swap_mb;	/* MemTotal, SwapTotal */
	int cpus;			/* online */
	int numa_nodes;			/* 1 when the kernel shows none */
	struct kp_host_disk disks[KP_HOST_MAX_DISKS];	/* sorted by name */
	int ndisks;
	char tmp_disk[32];		/* the disk holding /var/tmp; "" unknown */
	bool tmp_rotational;
	int cgroup_version;		/* 2: unified at /sys/fs/cgroup, 1: a v1 cpu hierarchy, 0 neither */
	bool cgroup_cpu;		/* the cpu controller is there (v2: in cgroup.controllers) */
	char distro[16];		/* "debian", "fedora" or "" (os-release ID/ID_LIKE) */
	bool pg_socket;			/* a PostgreSQL server socket (/run/postgresql/.s.PGSQL.*, /tmp) */
	char tool_path[KP_TOOL_N][256];	/* where each tool is; "" not installed */
};

/*
 * Read the facts under root ("/" or NULL: this host) with path (NULL:
 * $PATH) searched for the tools, plus /usr/sbin, /sbin and the
 * PostgreSQL server's private directories (/usr/lib/postgresql/N/bin,
 * /usr/pgsql-N/bin). Missing files leave a fact at its "unknown" value;
 * returns 0, or -errno with the reason when /proc/meminfo is unreadable.
 */
int kp_host_facts_read(const char *root, const char *path, struct kp_host_facts *h,
		       char *why, size_t len);

static inline bool kp_host_has(const struct kp_host_facts *h, enum kp_tool t)
{
	return h->tool_path[t][0];
}

/* One line: "24105 MiB memory, no swap, 2 CPUs, 1 NUMA node, cgroup v1, /var/tmp on vda (rotational)". */
void kp_host_facts_line(const struct kp_host_facts *h, char *buf, size_t len);

#endif
