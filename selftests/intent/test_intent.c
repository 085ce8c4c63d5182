// SPDX-License-Identifier: GPL-2.0
/*
 * kpilot tune --intent, offline: sentences -> classes, the sessions built
 * for injected host facts (narrowing, missing tools), facts read from a
 * fake root, every class's config through the parser and the knob table,
 * the same bytes for the same input, the LLM prompt's context. The real
 * binary's runs are in test_intent_run.c.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "env/benchmark/tune_config.h"
#include "env/pipeline/pipeline_desc.h"
#include "intent/intent.h"
#include "safety/knob.h"
#include "intent_util.h"

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
