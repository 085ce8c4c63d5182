// SPDX-License-Identifier: GPL-2.0
/*
 * kpilot tune --intent: sentences -> classes, the sessions built for
 * injected host facts (narrowing, missing tools), facts read from a fake
 * root, every class's config through the parser and the knob table, and
 * the real binary: --print-config (byte-identical across processes), the
 * refusals, a typed answer on a pseudo-terminal, one real tcp-churn run.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "env/benchmark/tune_config.h"
#include "env/pipeline/pipeline_desc.h"
#include "intent/intent.h"
#include "safety/knob.h"
#include "../lib/testutil.h"

#define KPILOT "./kpilot"
#define PROFILES "tools/profiles"
#define SEED_SENTENCE "optimize this system for a PostgreSQL database"
#define CHURN_SENTENCE "a service with many short-lived TCP connections"

static char tmp[64];

static void rmtmp(void)
{
	tu_rmtmp(tmp);
}

static void mktmp(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/kpilot-intent-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
}

static void need_binary(void)
{
	if (access(KPILOT, X_OK))
		cr_skip_test("no ./kpilot: run from the top of the tree after make");
}

/* A host with every tool, 16 GiB, no swap, 4 CPUs, one node, an SSD, cgroup v2. */
static struct kp_host_facts full_host(void)
{
	struct kp_host_facts h = { .mem_mb = 16384, .cpus = 4, .numa_nodes = 1, .ndisks = 1,
				   .cgroup_version = 2, .cgroup_cpu = true, .pg_socket = true };
	int t;

	strcpy(h.disks[0].name, "sda");
	strcpy(h.tmp_disk, "sda");
	strcpy(h.distro, "debian");
	for (t = 0; t < KP_TOOL_N; t++)
		snprintf(h.tool_path[t], sizeof(h.tool_path[t]), "/usr/bin/%s", kp_tool_names[t]);
	return h;
}

/* A shell command's exit status and its output (malloc'd). */
static int run(const char *cmd, char **out)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap);
	FILE *p = popen(cmd, "r");
	size_t n;
	int st;

	cr_assert(buf && p);
	while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (len + 1 == cap)
			cr_assert_not_null(buf = realloc(buf, cap *= 2));
	}
	buf[len] = '\0';
	st = pclose(p);
	*out = buf;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static const struct kp_tune_action *action(const struct kp_tune_config *c, const char *knob)
{
	int i;

	for (i = 0; i < c->nactions; i++)
		if (!strcmp(c->actions[i].knob, knob))
			return &c->actions[i];
	return NULL;
}

static bool has_note(const struct kp_intent *in, const char *part)
{
	int i;

	for (i = 0; i < in->nnotes; i++)
		if (strstr(in->notes[i], part))
			return true;
	return false;
}

static void build_ok(const char *sentence, const struct kp_host_facts *h, struct kp_intent *in)
{
	char why[1024];
	int err = kp_intent_build(sentence, h, PROFILES, in, why, sizeof(why));

	cr_assert_eq(err, 0, "\"%s\": %s", sentence, why);
}

/* ---- sentences -> classes ---- */

Test(intent, every_class_from_a_sentence)
{
	static const struct { const char *s; int cls; } cases[] = {
		{ SEED_SENTENCE, KP_CLASS_DATABASE },
		{ "our OLTP workload runs pgbench-like transactions", KP_CLASS_DATABASE },
		{ "tune the kernel for an nginx web server", KP_CLASS_WEB },
		{ "HTTP API behind apache", KP_CLASS_WEB },
		{ "make disk writes faster on this box", KP_CLASS_FILEIO },
		{ "heavy I/O on an NVMe SSD", KP_CLASS_FILEIO },
		{ "speed up a CPU-bound compute job", KP_CLASS_CPU },
		{ "compiling the kernel all day", KP_CLASS_CPU },
		{ CHURN_SENTENCE, KP_CLASS_CHURN },
		{ "TIME_WAIT sockets pile up on our proxy", KP_CLASS_CHURN },
		{ "size the operators of my stream processing pipeline", KP_CLASS_PIPELINE },
		{ "a Flink-style dataflow job", KP_CLASS_PIPELINE },
	};
	char why[256], matched[256];
	size_t i;
	int c, cls;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cls = -1;
		cr_assert_gt(kp_intent_classify(cases[i].s, &cls, matched, sizeof(matched), why,
						sizeof(why)), 0, "\"%s\": %s", cases[i].s, why);
		cr_assert_eq(cls, cases[i].cls, "\"%s\" -> %s, want %s (matched %s)", cases[i].s,
			     kp_cat_classes[cls].name, kp_cat_classes[cases[i].cls].name, matched);
	}
	/* every class's own example sentence, as the help and the unknown-sentence message show */
	for (c = 0; c < KP_CLASS_N; c++) {
		cr_assert_gt(kp_intent_classify(kp_cat_classes[c].example, &cls, matched,
						sizeof(matched), why, sizeof(why)), 0);
		cr_assert_eq(cls, c, "example of %s maps to %s", kp_cat_classes[c].name,
			     kp_cat_classes[cls].name);
	}
}

Test(intent, the_seed_sentence_is_a_pgbench_session)
{
	struct kp_host_facts h = full_host();
	struct kp_intent in;

	build_ok(SEED_SENTENCE, &h, &in);
	cr_assert_eq(in.cls, KP_CLASS_DATABASE);
	cr_assert(in.have_cfg);
	cr_assert_str_eq(in.cfg.workload_name, "pgbench");
	cr_assert_str_eq(in.cfg.argv[0], "pgbench");
	cr_assert_not_null(strstr(in.matched, "postgresql"));
	cr_assert_not_null(action(&in.cfg, "vm.dirty_ratio"));
	cr_assert_not_null(action(&in.cfg, "net.core.somaxconn"));
	kp_intent_free(&in);
}

/* Equal scores go to the class first in the catalogue, whatever the word order. */
Test(intent, ties_break_by_catalogue_order)
{
	char why[256], m[256];
	int a = -1, b = -1;

	cr_assert_eq(kp_intent_classify("web and tcp", &a, m, sizeof(m), why, sizeof(why)), 2);
	cr_assert_eq(kp_intent_classify("tcp and web", &b, m, sizeof(m), why, sizeof(why)), 2);
	cr_assert_eq(a, KP_CLASS_WEB);
	cr_assert_eq(b, KP_CLASS_WEB);
	/* a stronger word wins over the order */
	cr_assert_eq(kp_intent_classify("web churn", &a, m, sizeof(m), why, sizeof(why)), 3);
	cr_assert_eq(a, KP_CLASS_CHURN);
	/* prefixes only at a word's start, whole words otherwise */
	cr_assert_eq(kp_intent_classify("the webbing of iodine", &a, m, sizeof(m), why, sizeof(why)),
		     -ENOENT);
}

Test(intent, unknown_and_empty_sentences)
{
	char why[256], m[256], *known;
	int cls, c;

	cr_assert_eq(kp_intent_classify("make it fast", &cls, m, sizeof(m), why, sizeof(why)), -ENOENT);
	cr_assert_not_null(strstr(why, "make it fast"), "%s", why);
	cr_assert_eq(kp_intent_classify(" !? ", &cls, m, sizeof(m), why, sizeof(why)), -EINVAL);
	known = kp_intent_known();
	cr_assert_not_null(known);
	for (c = 0; c < KP_CLASS_N; c++) {
		cr_assert_not_null(strstr(known, kp_cat_classes[c].name));
		cr_assert_not_null(strstr(known, kp_cat_classes[c].example));
	}
	free(known);
}

/* ---- the host narrows the session ---- */

static void range_is(const struct kp_tune_config *c, const char *knob, double lo, double hi)
{
	const struct kp_tune_action *a = action(c, knob);

	cr_assert_not_null(a, "%s missing", knob);
	cr_assert(a->min == lo && a->max == hi, "%s: [%g, %g], want [%g, %g]", knob, a->min, a->max,
		  lo, hi);
}

Test(intent, small_host_with_swap_and_two_nodes)
{
	struct kp_host_facts h = full_host();
	struct kp_intent in;

	h.mem_mb = 4096;
	h.swap_mb = 2048;
	h.numa_nodes = 2;
	h.cpus = 8;
	build_ok(SEED_SENTENCE, &h, &in);
	range_is(&in.cfg, "vm.dirty_ratio", 15, 60);		/* 8 GiB would be 200%: the catalogue's 60 */
	range_is(&in.cfg, "vm.dirty_background_ratio", 1, 10);
	range_is(&in.cfg, "vm.swappiness", 0, 100);
	range_is(&in.cfg, "kernel.numa_balancing", 0, 1);
	cr_assert_str_eq(in.cfg.argv[6], "8", "pgbench -j: one thread per CPU");	/* -n -S -c N -j N */
	cr_assert_str_eq(in.cfg.argv[4], "32", "pgbench -c: 4 clients per thread");
	kp_intent_free(&in);
}

Test(intent, big_host_without_swap_one_node)
{
	struct kp_host_facts h = full_host();
	struct kp_intent in;

	h.mem_mb = 131072;
	h.cpus = 64;
	build_ok(SEED_SENTENCE, &h, &in);
	range_is(&in.cfg, "vm.dirty_ratio", 15, 20);		/* 6% would be 8 GiB; 20 the floor */
	range_is(&in.cfg, "vm.dirty_background_ratio", 1, 3);
	cr_assert_null(action(&in.cfg, "vm.swappiness"), "no swap: no swappiness");
	cr_assert_null(action(&in.cfg, "kernel.numa_balancing"), "one node: no numa_balancing");
	cr_assert_str_eq(in.cfg.argv[6], "16", "pgbench -j: at most 16");
	cr_assert_str_eq(in.cfg.argv[4], "64");
	kp_intent_free(&in);
	h.mem_mb = 24576;	/* 8 GiB is 33% of 24 GiB */
	build_ok(SEED_SENTENCE, &h, &in);
	range_is(&in.cfg, "vm.dirty_ratio", 15, 33);
	range_is(&in.cfg, "vm.dirty_background_ratio", 1, 8);
	kp_intent_free(&in);
}

Test(intent, fio_on_a_rotating_disk_and_sysbench_threads)
{
	struct kp_host_facts h = full_host();
	struct kp_intent in;

	h.mem_mb = 4096;
	build_ok("fio", &h, &in);
	range_is(&in.cfg, "vm.dirty_background_ratio", 1, 10);
	range_is(&in.cfg, "vm.dirty_expire_centisecs", 500, 3000);
	kp_intent_free(&in);
	h.tmp_rotational = true;
	build_ok("fio", &h, &in);
	range_is(&in.cfg, "vm.dirty_background_ratio", 1, 5);
	cr_assert(has_note(&in, "rotating disk"));
	kp_intent_free(&in);
	h.cpus = 6;
	build_ok("cpu bound", &h, &in);
	cr_assert_str_eq(in.cfg.argv[2], "--threads=6");
	kp_intent_free(&in);
}

Test(intent, pipeline_needs_the_cpu_controller)
{
	struct kp_host_facts h = full_host();
	struct kp_intent in;
	char why[512];

	build_ok("wordcount", &h, &in);
	cr_assert(!in.have_cfg);
	cr_assert_not_null(strstr(in.pipeline_path, "wordcount.pipeline.json"));
	cr_assert(has_note(&in, "cgroup v2's cpu.max"));
	kp_intent_free(&in);
	h.cgroup_version = 1;
	build_ok("wordcount", &h, &in);
	cr_assert(has_note(&in, "cgroup v1's cpu.cfs_quota_us"));
	kp_intent_free(&in);
	h.cgroup_cpu = false;
	cr_assert_eq(kp_intent_build("wordcount", &h, PROFILES, &in, why, sizeof(why)), -ENOTSUP);
	cr_assert_not_null(strstr(why, "cpu controller"), "%s", why);
}

/* ---- a class whose tool is missing ---- */

Test(intent, missing_tool_names_the_package)
{
	struct kp_host_facts h = full_host();
	struct kp_intent in;
	char why[512];

	memset(h.tool_path, 0, sizeof(h.tool_path));
	cr_assert_eq(kp_intent_build(SEED_SENTENCE, &h, PROFILES, &in, why, sizeof(why)), -ENOPKG);
	cr_assert_not_null(strstr(why, "pgbench"), "%s", why);
	cr_assert_not_null(strstr(why, "postgresql-contrib"), "%s", why);
	cr_assert_eq(kp_intent_build("nginx", &h, PROFILES, &in, why, sizeof(why)), -ENOPKG);
	cr_assert_not_null(strstr(why, "package wrk"), "%s", why);
	cr_assert_eq(kp_intent_build("fio", &h, PROFILES, &in, why, sizeof(why)), -ENOPKG);
	cr_assert_not_null(strstr(why, "package fio"), "%s", why);
	h.distro[0] = '\0';	/* unknown distribution: both families' names */
	cr_assert_eq(kp_intent_build("postgres", &h, PROFILES, &in, why, sizeof(why)), -ENOPKG);
	cr_assert_not_null(strstr(why, "Fedora"), "%s", why);
	/* fio missing, sysbench there: sysbench's file test instead */
	strcpy(h.tool_path[KP_TOOL_SYSBENCH], "/usr/bin/sysbench");
	build_ok("fio", &h, &in);
	cr_assert_str_eq(in.profile, "sysbench-fileio");
	cr_assert_str_eq(in.cfg.workload_name, "sysbench-fileio");
	kp_intent_free(&in);
	/* the built-in and the pipeline need no tool */
	build_ok(CHURN_SENTENCE, &h, &in);
	kp_intent_free(&in);
	build_ok("stream pipeline", &h, &in);
	kp_intent_free(&in);
}

/* ---- every class's config parses and passes the knob table ---- */

static void check_benchmark(const struct kp_intent *in)
{
	struct kp_tune_config c;
	const struct kp_knob *k;
	char why[512];
	int i;

	cr_assert_eq(kp_tune_config_parse(in->json, "test", &c, why, sizeof(why)), 0, "%s: %s",
		     kp_cat_classes[in->cls].name, why);
	cr_assert_eq(kp_intent_check_table(&c, why, sizeof(why)), 0, "%s", why);
	cr_assert_gt(c.nactions, 0);
	for (i = 0; i < c.nactions; i++) {
		k = kp_knob_builtin(c.actions[i].knob);
		cr_assert_not_null(k, "%s not in the knob table", c.actions[i].knob);
		cr_assert(c.actions[i].min >= k->min && c.actions[i].max <= k->max);
		cr_assert(k->risk != KP_RISK_ABOVE || c.actions[i].max <= k->risk_at);
		cr_assert(k->risk != KP_RISK_BELOW || c.actions[i].min >= k->risk_at);
	}
	if (action(&c, "vm.dirty_ratio"))	/* the validator's invariant can never be broken */
		cr_assert_lt(action(&c, "vm.dirty_background_ratio")->max,
			     action(&c, "vm.dirty_ratio")->min);
	kp_tune_config_free(&c);
}

Test(intent, every_class_parses_and_validates)
{
	struct kp_host_facts hosts[3] = { full_host(), full_host(), full_host() };
	struct kp_pipe_desc d;
	struct kp_intent in;
	char why[512];
	int c, i;

	hosts[1].mem_mb = 1024;
	hosts[1].swap_mb = 1024;
	hosts[1].numa_nodes = 4;
	hosts[1].tmp_rotational = true;
	hosts[2].mem_mb = 1 << 20;
	hosts[2].cpus = 256;
	for (i = 0; i < 3; i++)
		for (c = 0; c < KP_CLASS_N; c++) {
			cr_assert_eq(kp_intent_build_class(c, &hosts[i], PROFILES, &in, why, sizeof(why)), 0,
				     "%s: %s", kp_cat_classes[c].name, why);
			cr_assert_eq(in.json[strlen(in.json) - 1], '\n');
			if (kp_cat_classes[c].pipeline) {
				cr_assert_eq(kp_pipe_desc_parse(in.json, "test", &d, why, sizeof(why)), 0,
					     "%s", why);
				kp_pipe_desc_free(&d);
			} else {
				check_benchmark(&in);
			}
			kp_intent_free(&in);
		}
}

/* The table check refuses what it must (so the test above can fail). */
Test(intent, table_check_refuses)
{
	static const char *const bad[] = {
		"{\"knob\": \"vm.dirty_ratio\", \"min\": 15, \"max\": 95}",
		"{\"knob\": \"vm.dirty_expire_centisecs\", \"min\": 500, \"max\": 6000}",
		"{\"knob\": \"net.ipv4.tcp_max_tw_buckets\", \"min\": 1024, \"max\": 262144}",
		"{\"knob\": \"vm.min_free_kbytes\", \"min\": 1, \"max\": 9}",
	};
	struct kp_tune_config c;
	char text[1024], why[512];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "{\"workload_name\": \"x\", \"benchmark\": {\"command\": "
			 "[\"true\"]}, \"reward_metric\": {\"name\": \"m\", \"pattern\": \"m=([0-9]+)\"}, "
			 "\"action_space\": [%s]}", bad[i]);
		cr_assert_eq(kp_tune_config_parse(text, "t", &c, why, sizeof(why)), 0, "%s", why);
		cr_assert_eq(kp_intent_check_table(&c, why, sizeof(why)), -EINVAL, "%s passed", bad[i]);
		kp_tune_config_free(&c);
	}
}

/* ---- the same sentence on the same host: the same bytes ---- */

Test(intent, same_input_same_bytes)
{
	struct kp_host_facts h = full_host();
	struct kp_intent a, b;
	int c;

	for (c = 0; c < KP_CLASS_N; c++) {
		build_ok(kp_cat_classes[c].example, &h, &a);
		build_ok(kp_cat_classes[c].example, &h, &b);
		cr_assert_str_eq(a.json, b.json);
		kp_intent_free(&a);
		kp_intent_free(&b);
	}
	h.mem_mb = 2048;	/* another host, another session */
	build_ok(SEED_SENTENCE, &h, &b);
	h.mem_mb = 65536;
	build_ok(SEED_SENTENCE, &h, &a);
	cr_assert_str_neq(a.json, b.json);
	kp_intent_free(&a);
	kp_intent_free(&b);
}

/* ---- host facts from a root prefix ---- */

static void put(const char *rel, const char *text, mode_t mode)
{
	char path[256], cmd[512];
	FILE *f;

	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname %s%s)\"", tmp, rel);
	cr_assert_eq(tu_system(cmd), 0);
	snprintf(path, sizeof(path), "%s%s", tmp, rel);
	cr_assert_not_null(f = fopen(path, "w"), "%s", path);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

Test(intent, facts_from_a_fake_root, .fini = rmtmp)
{
	struct kp_host_facts h;
	char why[256], cmd[256];

	mktmp();
	put("/proc/meminfo", "MemTotal:        4194304 kB\nMemFree: 1 kB\nSwapTotal:       1048576 kB\n",
	    0644);
	put("/sys/devices/system/cpu/online", "0-5,8-9\n", 0644);
	put("/sys/devices/system/node/node0/x", "", 0644);
	put("/sys/devices/system/node/node1/x", "", 0644);
	put("/sys/block/sdb/queue/rotational", "1\n", 0644);
	put("/sys/block/sdb/size", "2097152\n", 0644);
	put("/sys/block/nvme0n1/queue/rotational", "0\n", 0644);
	put("/sys/block/loop0/queue/rotational", "0\n", 0644);
	put("/sys/fs/cgroup/cgroup.controllers", "cpuset io memory pids\n", 0644);
	put("/etc/os-release", "NAME=\"openEuler\"\nID=\"openEuler\"\n", 0644);
	put("/usr/bin/fio", "#!/bin/sh\n", 0755);
	put("/usr/bin/wrk", "not executable\n", 0644);
	put("/usr/sbin/nginx", "#!/bin/sh\n", 0755);
	put("/usr/lib/postgresql/16/bin/postgres", "#!/bin/sh\n", 0755);
	put("/run/postgresql/.s.PGSQL.5432", "", 0644);
	cr_assert_eq(kp_host_facts_read(tmp, "/usr/bin:relative/bin:/nonexistent", &h, why,
					sizeof(why)), 0, "%s", why);
	cr_assert_eq(h.mem_mb, 4096);
	cr_assert_eq(h.swap_mb, 1024);
	cr_assert_eq(h.cpus, 8);
	cr_assert_eq(h.numa_nodes, 2);
	cr_assert_eq(h.ndisks, 2, "loop0 is not a disk");
	cr_assert_str_eq(h.disks[0].name, "nvme0n1");	/* sorted, not readdir's order */
	cr_assert(!h.disks[0].rotational);
	cr_assert_str_eq(h.disks[1].name, "sdb");
	cr_assert(h.disks[1].rotational);
	cr_assert_eq(h.disks[1].size_mb, 1024);
	cr_assert_eq(h.cgroup_version, 2);
	cr_assert(!h.cgroup_cpu, "cpu is not in cgroup.controllers");
	cr_assert_str_eq(h.distro, "fedora");
	cr_assert_str_eq(h.tool_path[KP_TOOL_FIO], "/usr/bin/fio");
	cr_assert_str_eq(h.tool_path[KP_TOOL_WRK], "", "not executable");
	cr_assert_str_eq(h.tool_path[KP_TOOL_NGINX], "/usr/sbin/nginx", "sbin is always searched");
	cr_assert_str_eq(h.tool_path[KP_TOOL_POSTGRES], "/usr/lib/postgresql/16/bin/postgres");
	cr_assert_str_eq(h.tool_path[KP_TOOL_PGBENCH], "");
	cr_assert(h.pg_socket);
	/* cgroup v1: a cpu hierarchy, no cgroup.controllers at the top */
	snprintf(cmd, sizeof(cmd), "rm %s/sys/fs/cgroup/cgroup.controllers && mkdir %s/sys/fs/cgroup/cpu",
		 tmp, tmp);
	cr_assert_eq(tu_system(cmd), 0);
	cr_assert_eq(kp_host_facts_read(tmp, "/usr/bin", &h, why, sizeof(why)), 0);
	cr_assert_eq(h.cgroup_version, 1);
	cr_assert(h.cgroup_cpu);
	snprintf(cmd, sizeof(cmd), "rm %s/proc/meminfo", tmp);
	cr_assert_eq(tu_system(cmd), 0);
	cr_assert_lt(kp_host_facts_read(tmp, "/usr/bin", &h, why, sizeof(why)), 0);
	cr_assert_not_null(strstr(why, "meminfo"), "%s", why);
}

Test(intent, this_host_reads)
{
	struct kp_host_facts h;
	char why[256];

	cr_assert_eq(kp_host_facts_read("/", NULL, &h, why, sizeof(why)), 0, "%s", why);
	cr_assert_gt(h.mem_mb, 0);
	cr_assert_eq(h.cpus, sysconf(_SC_NPROCESSORS_ONLN));
	cr_assert(h.cgroup_version == 1 || h.cgroup_version == 2 || h.cgroup_version == 0);
}

Test(intent, context_for_a_prompt)
{
	struct kp_host_facts h = full_host();
	char *ctx;
	int i;

	strcpy(h.tool_path[KP_TOOL_WRK], "");
	ctx = kp_intent_context(&h);
	cr_assert_not_null(ctx);
	cr_assert_not_null(strstr(ctx, "16384 MiB memory, no swap, 4 CPUs"), "%s", ctx);
	cr_assert_not_null(strstr(ctx, "wrk=missing"));
	cr_assert_not_null(strstr(ctx, "fio=/usr/bin/fio"));
	for (i = 0; i < kp_cat_nknobs; i++)
		cr_assert_not_null(strstr(ctx, kp_cat_knobs[i].knob));
	for (i = 0; i < KP_CLASS_N; i++)
		cr_assert_not_null(strstr(ctx, kp_cat_classes[i].name));
	/* 16 GiB: dirty_ratio 15..50 on this host; swappiness left out without swap */
	cr_assert_not_null(strstr(ctx, "vm.dirty_ratio [linear]: 15..60; database 15..50, file-io 15..50"),
			   "%s", ctx);
	cr_assert_not_null(strstr(ctx, "vm.swappiness [linear]: 0..100; database left out, cpu left out"));
	free(ctx);
}

/* ---- the real binary ---- */

Test(intent, print_config_is_the_same_bytes_in_two_processes)
{
	struct kp_host_facts h;
	struct kp_tune_config c;
	struct kp_intent in;
	char *a, *b, why[512];

	need_binary();
	cr_assert_eq(run(KPILOT " tune --intent '" CHURN_SENTENCE "' --print-config", &a), 0);
	cr_assert_eq(run(KPILOT " tune --intent '" CHURN_SENTENCE "' --print-config", &b), 0);
	cr_assert_str_eq(a, b);
	cr_assert_eq(kp_tune_config_parse(a, "stdout", &c, why, sizeof(why)), 0, "%s", why);
	cr_assert(c.netns);
	cr_assert_str_eq(c.builtin, "tcp-churn");
	kp_tune_config_free(&c);
	/* and what this process builds for this host */
	cr_assert_eq(kp_host_facts_read("/", NULL, &h, why, sizeof(why)), 0);
	build_ok(CHURN_SENTENCE, &h, &in);
	cr_assert_str_eq(in.json, a);
	kp_intent_free(&in);
	free(a);
	free(b);
	/* the seed sentence: a pgbench session where pgbench is, the package where not */
	if (!kp_host_has(&h, KP_TOOL_PGBENCH)) {
		cr_assert_eq(run(KPILOT " tune --intent '" SEED_SENTENCE "' --print-config 2>&1", &a), 2);
		cr_assert_not_null(strstr(a, "postgresql"), "%s", a);
		free(a);
		return;
	}
	cr_assert_eq(run(KPILOT " tune --intent '" SEED_SENTENCE "' --print-config", &a), 0);
	cr_assert_eq(kp_tune_config_parse(a, "stdout", &c, why, sizeof(why)), 0, "%s", why);
	cr_assert_str_eq(c.argv[0], "pgbench");
	kp_tune_config_free(&c);
	free(a);
}

Test(intent, binary_refuses_an_unknown_sentence)
{
	char *out;
	int c;

	need_binary();
	cr_assert_eq(run(KPILOT " tune --intent 'make it fast' --print-config 2>&1", &out), 2);
	cr_assert_not_null(strstr(out, "no workload class matches \"make it fast\""), "%s", out);
	for (c = 0; c < KP_CLASS_N; c++) {
		cr_assert_not_null(strstr(out, kp_cat_classes[c].name), "%s", out);
		cr_assert_not_null(strstr(out, kp_cat_classes[c].example), "%s", out);
	}
	free(out);
}

Test(intent, binary_names_the_missing_package)
{
	char *out;

	need_binary();
	/* wrk lives in /usr/bin: not on this PATH (/usr/sbin and /sbin are searched anyway) */
	cr_assert_eq(run("PATH=/nonexistent " KPILOT " tune --intent 'nginx web server' "
			 "--print-config 2>&1", &out), 2);
	cr_assert_not_null(strstr(out, "runs wrk, which is not installed"), "%s", out);
	cr_assert_not_null(strstr(out, "package wrk"), "%s", out);
	free(out);
}

/* Without --yes and without a terminal nothing runs: the session is shown, exit 2. */
Test(intent, refuses_without_yes_and_terminal, .fini = rmtmp)
{
	struct kp_host_facts h;
	struct kp_intent in;
	char cmd[512], path[128], *out;
	int i;

	need_binary();
	mktmp();
	snprintf(cmd, sizeof(cmd), KPILOT " tune --intent '" CHURN_SENTENCE "' --trials 3 --out %s/out "
		 "--state-dir %s/state </dev/null 2>&1", tmp, tmp);
	cr_assert_eq(run(cmd, &out), 2, "%s", out);
	cr_assert_not_null(strstr(out, geteuid() ? "needs root" : "there is no terminal to answer on"),
			   "%s", out);
	cr_assert_not_null(strstr(out, "tcp-churn, built in"), "%s", out);
	cr_assert_not_null(strstr(out, "budget     3 trials"), "--trials shown: %s", out);
	cr_assert_not_null(strstr(out, "reward"));
	cr_assert_eq(kp_host_facts_read("/", NULL, &h, cmd, sizeof(cmd)), 0);
	build_ok(CHURN_SENTENCE, &h, &in);
	for (i = 0; i < in.cfg.nactions; i++)
		cr_assert_not_null(strstr(out, in.cfg.actions[i].knob), "%s not shown",
				   in.cfg.actions[i].knob);
	kp_intent_free(&in);
	snprintf(path, sizeof(path), "%s/out", tmp);
	cr_assert_neq(access(path, F_OK), 0, "results written: something ran");
	free(out);
}

static void need_root_and_script(void)
{
	need_binary();
	if (geteuid() != 0)
		cr_skip_test("needs root: namespaces, knobs and BPF");
	if (tu_system("command -v script >/dev/null"))
		cr_skip_test("no script(1) to give kpilot a terminal (util-linux)");
}

/* kpilot tune --intent on script(1)'s pseudo-terminal, answer typed on it. */
static int typed(const char *answer, char **out)
{
	char cmd[768];

	snprintf(cmd, sizeof(cmd), "printf '%s\\n' | script -qec \"" KPILOT " tune --intent '"
		 CHURN_SENTENCE "' --trials 0 --confirm 0 --churn-seconds 1 --out %s/out "
		 "--state-dir %s/state -q\" /dev/null 2>&1", answer, tmp, tmp);
	return run(cmd, out);
}

/* An answer typed on a terminal: only "yes" runs. */
Test(intent, typed_answer_on_a_terminal, .fini = rmtmp)
{
	char path[128], *out;

	need_root_and_script();
	mktmp();
	cr_assert_eq(typed("no", &out), 1, "%s", out);
	cr_assert_not_null(strstr(out, "Type yes to start"), "%s", out);
	cr_assert_not_null(strstr(out, "not started"), "%s", out);
	snprintf(path, sizeof(path), "%s/out", tmp);
	cr_assert_neq(access(path, F_OK), 0, "answered no, yet results were written");
	free(out);
	cr_assert_eq(typed("yes", &out), 0, "%s", out);
	snprintf(path, sizeof(path), "%s/out/results.json", tmp);
	cr_assert_eq(access(path, F_OK), 0, "answered yes, no results: %s", out);
	free(out);
}

/* /proc/sys's text of each of the session's knobs (NUL-separated in buf). */
static void read_knobs(const struct kp_tune_config *c, char vals[][64])
{
	char path[320], *s, *p;
	int i;

	for (i = 0; i < c->nactions; i++) {
		snprintf(path, sizeof(path), "/proc/sys/%s", c->actions[i].knob);
		for (p = path + 10; *p; p++)
			if (*p == '.')
				*p = '/';
		cr_assert_not_null(s = tu_slurp(path), "%s", path);
		snprintf(vals[i], 64, "%s", s);
		free(s);
	}
}

static char *netns_list(void)
{
	char *out;

	run("ip netns list 2>/dev/null | awk '{print $1}' | grep '^kpilot-' | sort", &out);
	return out;
}

static void results_match(const char *dir, const struct kp_tune_config *c)
{
	char path[256];
	json_error_t e;
	json_t *r, *h, *best;
	size_t i;
	int k;

	snprintf(path, sizeof(path), "%s/results.json", dir);
	cr_assert_not_null(r = json_load_file(path, 0, &e), "%s: %s", path, e.text);
	cr_assert_str_eq(json_string_value(json_object_get(r, "workload_name")), "tcp-churn");
	cr_assert_eq(json_integer_value(json_object_get(r, "seed")), 2);
	cr_assert_eq(json_integer_value(json_object_get(r, "trials")), 2);
	cr_assert_gt(json_number_value(json_object_get(r, "baseline_metric")), 0);
	h = json_object_get(r, "history");
	cr_assert_eq(json_array_size(h), 2);
	best = json_object_get(r, "best_config");
	cr_assert_eq(json_object_size(best), (size_t)c->nactions);
	for (k = 0; k < c->nactions; k++)
		cr_assert_not_null(json_object_get(best, c->actions[k].knob), "%s", c->actions[k].knob);
	for (i = 0; i < json_array_size(h); i++)
		cr_assert_eq(json_object_size(json_object_get(json_array_get(h, i), "config")),
			     (size_t)c->nactions);
	json_decref(r);
}

/* One real run from a sentence: the smallest budget, in private namespaces. */
Test(intent, real_network_churn_run_leaves_nothing, .fini = rmtmp)
{
	char before[KP_TUNE_MAX_ACTIONS][64], after[KP_TUNE_MAX_ACTIONS][64], cmd[512], path[128];
	struct kp_host_facts h;
	struct kp_intent in;
	char *ns0, *ns1, *out;
	int i;

	need_binary();
	if (geteuid() != 0)
		cr_skip_test("needs root: namespaces, knobs and BPF");
	mktmp();
	cr_assert_eq(kp_host_facts_read("/", NULL, &h, cmd, sizeof(cmd)), 0);
	build_ok(CHURN_SENTENCE, &h, &in);
	read_knobs(&in.cfg, before);
	ns0 = netns_list();
	snprintf(cmd, sizeof(cmd), KPILOT " tune --intent '" CHURN_SENTENCE "' --yes --trials 2 "
		 "--confirm 2 --seed 2 --churn-seconds 1 --out %s/out --state-dir %s/state 2>&1",
		 tmp, tmp);
	cr_assert_eq(run(cmd, &out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "every knob is back to its original value"), "%s", out);
	free(out);
	read_knobs(&in.cfg, after);
	for (i = 0; i < in.cfg.nactions; i++)
		cr_assert_str_eq(after[i], before[i], "host %s changed", in.cfg.actions[i].knob);
	ns1 = netns_list();
	cr_assert_str_eq(ns1, ns0, "a kpilot namespace was left");
	free(ns0);
	free(ns1);
	snprintf(path, sizeof(path), "%s/out", tmp);
	results_match(path, &in.cfg);
	kp_intent_free(&in);
	snprintf(cmd, sizeof(cmd), KPILOT " rollback --list --state-dir %s/state 2>&1 | grep -qi nothing",
		 tmp);
	cr_assert_eq(tu_system(cmd), 0, "rollback --list shows pending changes");
}

/* ---- the seed sentence against a real PostgreSQL server ---- */

#define PG "/usr/lib/postgresql/15/bin"
#define PG_PORT "5497"

static bool pg_started;

static void pg_stop(void)
{
	char cmd[256];

	if (pg_started) {
		snprintf(cmd, sizeof(cmd), "su postgres -s /bin/sh -c '" PG "/pg_ctl -D %s/pg stop -m fast'"
			 " >/dev/null 2>&1", tmp);
		tu_system(cmd);
		pg_started = false;
	}
	rmtmp();
}

/*
 * A throwaway cluster on a private socket (the machine's own is left alone),
 * initialised as the session says it must be; the baseline only (--trials 0):
 * the session's knobs are host knobs, which a test must not move.
 */
Test(intent, seed_sentence_measures_a_private_postgresql, .fini = pg_stop)
{
	char cmd[1024], path[128], *out;
	json_error_t e;
	json_t *r;

	need_binary();
	if (geteuid() != 0)
		cr_skip_test("needs root: a PostgreSQL cluster run as postgres, BPF");
	if (tu_system("command -v pgbench >/dev/null && command -v su >/dev/null") ||
	    access(PG "/initdb", X_OK))
		cr_skip_test("PostgreSQL 15 server or pgbench not installed (tools/deps.sh --extras)");
	mktmp();
	snprintf(cmd, sizeof(cmd),
		 "chown postgres %s && su postgres -s /bin/sh -c '" PG "/initdb -D %s/pg >/dev/null &&"
		 " " PG "/pg_ctl -D %s/pg -o \"-p " PG_PORT " -k %s -c listen_addresses=\" -l %s/pg.log"
		 " start >/dev/null && pgbench -h %s -p " PG_PORT " -i -s 1 postgres >/dev/null 2>&1'",
		 tmp, tmp, tmp, tmp, tmp, tmp);
	pg_started = true;
	cr_assert_eq(tu_system(cmd), 0, "cannot start a private PostgreSQL cluster");
	snprintf(cmd, sizeof(cmd), "PGHOST=%s PGPORT=" PG_PORT " PGUSER=postgres PGDATABASE=postgres "
		 KPILOT " tune --intent '" SEED_SENTENCE "' --yes --trials 0 --confirm 0 --out %s/out "
		 "--state-dir %s/state 2>&1", tmp, tmp, tmp);
	cr_assert_eq(run(cmd, &out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "benchmark  pgbench -n -S"), "%s", out);
	free(out);
	snprintf(path, sizeof(path), "%s/out/results.json", tmp);
	cr_assert_not_null(r = json_load_file(path, 0, &e), "%s", e.text);
	cr_assert_str_eq(json_string_value(json_object_get(r, "workload_name")), "pgbench");
	cr_assert_gt(json_number_value(json_object_get(r, "baseline_metric")), 0, "no tps measured");
	json_decref(r);
}
