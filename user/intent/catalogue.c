// SPDX-License-Identifier: GPL-2.0
#include <string.h>
#include "intent/catalogue.h"

/*
 * Weights: 3 names the workload or its tool outright ("postgresql", "fio"),
 * 2 is a strong hint ("database", "disk"), 1 a weak one that only counts
 * together with others ("files", "sockets"). MySQL and MariaDB are not
 * here on purpose: the database session measures PostgreSQL (pgbench), and
 * a config that benchmarks another server than the one named would mislead.
 */
static const struct kp_cat_keyword kw_database[] = {
	{ "postgresql", 3 }, { "postgres", 3 }, { "pgbench", 3 }, { "oltp", 3 },
	{ "database", 2 }, { "databases", 2 }, { "db", 2 }, { "sql", 2 }, { "psql", 2 },
	{ "transaction*", 1 }, { "queries", 1 }, { "query", 1 }, { NULL },
};

static const struct kp_cat_keyword kw_web[] = {
	{ "nginx", 3 }, { "wrk", 3 }, { "webserver", 3 }, { "web server", 3 }, { "httpd", 3 },
	{ "web", 2 }, { "http", 2 }, { "https", 2 }, { "website", 2 }, { "apache", 2 },
	{ "requests", 1 }, { "api", 1 }, { NULL },
};

static const struct kp_cat_keyword kw_fileio[] = {
	{ "fio", 3 }, { "fileio", 3 }, { "writeback", 3 }, { "io", 2 }, { "disk", 2 },
	{ "disks", 2 }, { "storage", 2 }, { "filesystem", 2 }, { "ssd", 2 }, { "nvme", 2 },
	{ "hdd", 2 }, { "fsync", 2 }, { "file", 1 }, { "files", 1 }, { "write*", 1 }, { NULL },
};

static const struct kp_cat_keyword kw_cpu[] = {
	{ "cpu", 2 }, { "compute", 2 }, { "processor", 2 }, { "hpc", 2 }, { "crunching", 2 },
	{ "compil*", 2 }, { "bound", 1 }, { "cores", 1 }, { "calculation*", 1 },
	{ "scientific", 1 }, { "sysbench", 1 }, { NULL },
};

static const struct kp_cat_keyword kw_churn[] = {
	{ "churn", 3 }, { "tcp churn", 3 }, { "time wait", 3 }, { "short lived", 2 },
	{ "tcp", 2 }, { "connection*", 2 }, { "network", 2 }, { "networking", 2 },
	{ "load balancer", 2 }, { "proxy", 1 }, { "sockets", 1 }, { "socket", 1 },
	{ "port*", 1 }, { NULL },
};

static const struct kp_cat_keyword kw_pipeline[] = {
	{ "pipeline", 3 }, { "pipelines", 3 }, { "stream", 3 }, { "streaming", 3 },
	{ "wordcount", 3 }, { "dataflow", 3 }, { "flink", 2 }, { "operators", 2 },
	{ "operator", 1 }, { NULL },
};

const struct kp_cat_class kp_cat_classes[KP_CLASS_N] = {
	[KP_CLASS_DATABASE] = {
		"database", "database / OLTP (PostgreSQL, measured with pgbench)", "pgbench",
		KP_TOOL_PGBENCH, NULL, KP_TOOL_NONE, false, kw_database,
		"optimize this system for a PostgreSQL database",
		"a running PostgreSQL server that pgbench reaches (PGHOST, PGPORT, PGUSER, PGDATABASE "
		"as for pgbench) with a database initialised by `pgbench -i -s 10`; kpilot starts no server",
	},
	[KP_CLASS_WEB] = {
		"web", "web server (HTTP load from wrk)", "wrk-nginx", KP_TOOL_WRK, NULL, KP_TOOL_NONE,
		false, kw_web, "tune the kernel for an nginx web server",
		"a web server answering at WRK_URL (default http://127.0.0.1/); kpilot starts none",
	},
	[KP_CLASS_FILEIO] = {
		"file-io", "file I/O (buffered random writes with fsync)", "fio", KP_TOOL_FIO,
		"sysbench-fileio", KP_TOOL_SYSBENCH, false, kw_fileio,
		"make disk writes faster on this box", "256 MiB free in /var/tmp",
	},
	[KP_CLASS_CPU] = {
		"cpu", "CPU-bound computation (sysbench cpu)", "sysbench-cpu", KP_TOOL_SYSBENCH, NULL,
		KP_TOOL_NONE, false, kw_cpu, "speed up a CPU-bound compute job", NULL,
	},
	[KP_CLASS_CHURN] = {
		"network-churn", "network connection churn (many short-lived TCP connections)",
		"tcp-churn", KP_TOOL_NONE, NULL, KP_TOOL_NONE, false, kw_churn,
		"a service with many short-lived TCP connections", NULL,
	},
	[KP_CLASS_PIPELINE] = {
		"stream-pipeline", "stream pipeline (operator CPU quotas of the wordcount pipeline)",
		"wordcount", KP_TOOL_NONE, NULL, KP_TOOL_NONE, true, kw_pipeline,
		"size the operators of my stream processing pipeline",
		"the cgroup cpu controller (v1 or v2) and the wordcount build its launcher names "
		"(a relative path is from the directory of the kpilot binary)",
	},
};

#define DB	KP_CLASS_BIT(KP_CLASS_DATABASE)
#define WEB	KP_CLASS_BIT(KP_CLASS_WEB)
#define FIO	KP_CLASS_BIT(KP_CLASS_FILEIO)
#define CPU	KP_CLASS_BIT(KP_CLASS_CPU)
#define CHURN	KP_CLASS_BIT(KP_CLASS_CHURN)

/*
 * The ranges are the shipped profiles' (one range per knob: the widest a
 * profile uses), all inside the knob table's safe ranges and on the safe
 * side of its floors and ceilings. intent.c narrows some from the host.
 */
const struct kp_cat_knob kp_cat_knobs[] = {
	{ "vm.dirty_background_ratio", 1, 10, false, 0, DB | FIO,
	  "% of memory dirty before background writeback starts" },
	{ "vm.dirty_ratio", 15, 60, false, 0, DB | FIO,
	  "% of memory dirty before writers are made to write back themselves" },
	{ "vm.dirty_expire_centisecs", 500, 3000, true, 0, FIO,
	  "age at which dirty data is written back" },
	{ "vm.dirty_writeback_centisecs", 100, 500, true, 0, FIO,
	  "how often the flusher threads wake" },
	{ "vm.vfs_cache_pressure", 50, 200, false, 0, FIO,
	  "how hard the kernel reclaims dentry and inode caches" },
	{ "vm.swappiness", 0, 100, false, 0, DB | CPU,
	  "anonymous memory against page cache in reclaim (only with swap)" },
	{ "kernel.sched_autogroup_enabled", 0, 1, false, 0, DB | CPU,
	  "groups a session's tasks for CPU fairness" },
	{ "kernel.numa_balancing", 0, 1, false, 0, DB | CPU,
	  "moves pages and tasks between NUMA nodes (only with more than one node)" },
	{ "net.core.somaxconn", 128, 16384, true, 0, DB | WEB | CHURN,
	  "longest accept queue a listen() may ask for" },
	{ "net.ipv4.tcp_max_syn_backlog", 128, 16384, true, 0, WEB | CHURN,
	  "half-open connections queued per listener" },
	{ "net.ipv4.tcp_fin_timeout", 5, 60, false, 0, WEB | CHURN,
	  "seconds an orphaned connection stays in FIN_WAIT_2" },
	{ "net.ipv4.tcp_tw_reuse", 0, 2, false, 0, WEB | CHURN,
	  "reuse TIME_WAIT ports for new outgoing connections (2: loopback only)" },
	{ "net.core.netdev_max_backlog", 1000, 16384, true, 0, WEB,
	  "packets queued per CPU before the stack takes them" },
	{ "net.ipv4.ip_local_port_range", 1024, 32768, false, 0, CHURN,
	  "the low end of the ephemeral port range" },
};
const int kp_cat_nknobs = sizeof(kp_cat_knobs) / sizeof(kp_cat_knobs[0]);

/* Debian's and Fedora's package names, by tool (tools/deps.sh --extras agrees). */
static const char *const packages[KP_TOOL_N][2] = {
	[KP_TOOL_PGBENCH] = { "postgresql-contrib", "postgresql-contrib" },
	[KP_TOOL_PSQL] = { "postgresql-client", "postgresql" },
	[KP_TOOL_POSTGRES] = { "postgresql", "postgresql-server" },
	[KP_TOOL_FIO] = { "fio", "fio" },
	[KP_TOOL_SYSBENCH] = { "sysbench", "sysbench" },
	[KP_TOOL_WRK] = { "wrk", "wrk" },
	[KP_TOOL_NGINX] = { "nginx", "nginx" },
};

const char *kp_cat_package(int tool, const char *distro)
{
	if (tool < 0 || tool >= KP_TOOL_N)
		return "";
	return !strcmp(distro, "fedora") ? packages[tool][1] : packages[tool][0];
}

int kp_cat_class_by_name(const char *name)
{
	int c;

	for (c = 0; c < KP_CLASS_N; c++)
		if (!strcmp(kp_cat_classes[c].name, name))
			return c;
	return -1;
}
