// SPDX-License-Identifier: GPL-2.0
/*
 * The pipeline trace (trace.h) and the rate trace (rate_trace.h): a written
 * trace reads back the same, a torn last line is skipped, a real short
 * wordcount tune writes one line per interval, and a rate trace drives the
 * source (root, the v1 cpu hierarchy or cgroup v2 with the cpu controller,
 * as kpilot tune finds them; cgroups and FIFO named after this process,
 * removed in .fini).
 */
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "actuate/cgroup.h"
#include "env/pipeline/pipeline_desc.h"
#include "env/pipeline/rate_trace.h"
#include "env/pipeline/trace.h"
#include "../lib/testutil.h"
#include "pipe_fixture.h"

#define WORDCOUNT "build/tools/wordcount/wordcount"
#define KPILOT "./kpilot"

static char tmp[256], tag[64], fifo[256], descpath[PATH_MAX];

#define PROFILE "tools/profiles/wordcount.pipeline.json"

static void setup(void)
{
	snprintf(tag, sizeof(tag), "kpilot-trace-%d", (int)getpid());
	snprintf(tmp, sizeof(tmp), "/tmp/%s", tag);
	snprintf(fifo, sizeof(fifo), "/tmp/%s.ctl", tag);
	mkdir(tmp, 0755);
}

/* Where kpilot tune puts a cgroup: the v1 cpu hierarchy, or the v2 root. */
static const char *cg_root(int k)
{
	if (kp_cg_detect("/") == 2)
		return k ? NULL : "/sys/fs/cgroup";
	return k ? "/sys/fs/cgroup/cpuset" : "/sys/fs/cgroup/cpu";
}

static void teardown(void)
{
	static const char *const ops[] = { "source", "split", "count", "sink", "" };
	char p[PATH_MAX + 64], cmd[PATH_MAX];
	int i, k;

	for (k = 0; k < 2; k++)
		for (i = 0; i < 5 && cg_root(k); i++) {
			snprintf(p, sizeof(p), "%s/%s/%s", cg_root(k), tag, ops[i]);
			rmdir(p);
		}
	unlink(fifo);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	tu_system(cmd);
}

TestSuite(pipeline_trace, .init = setup, .fini = teardown, .timeout = 60);

static struct kp_trace_rec rec_of(int n)
{
	struct kp_trace_rec r = { .n = n, .t = n * 1.0, .rate = 800 };
	int i;

	r.st.dt = 1;
	r.st.target = 800;
	r.st.throughput = 790 + n;
	r.st.attainment = r.st.throughput / 800;
	r.st.p50_ms = 0.5;
	r.st.p99_ms = n == 2 ? NAN : 2.5 * n;	/* nothing arrived: null */
	r.st.alloc = 1.5;
	for (i = 0; i < 2; i++) {
		r.st.op[i].in = 800 + i;
		r.st.op[i].out = 800 - i;
		r.st.op[i].cpu = 0.25 * (i + 1);
		r.st.op[i].cpu_app = r.st.op[i].cpu;
		r.st.op[i].quota = 0.75;
		r.st.op[i].workers = 1;
		r.st.op[i].throttled_frac = 0.1 * i;
		r.st.op[i].blocked = 0.2;
		r.st.op[i].occupancy = 0.3;
	}
	r.changed = n == 1;
	if (r.changed) {
		snprintf(r.reason, sizeof(r.reason), "ds2 \"interval\" 1");
		r.before[0] = 1;
		r.before[1] = NAN;
		r.before[2] = r.before[3] = 0.5;
	}
	return r;
}

static void write_three(const char *path, struct kp_pipe_desc *d)
{
	struct kp_trace_writer *w;
	char why[512];
	int n;

	cr_assert_eq(kp_pipe_desc_load(PROFILE, d, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(kp_trace_open(&w, path, d, "ds2", why, sizeof(why)), 0, "%s", why);
	for (n = 1; n <= 3; n++) {
		struct kp_trace_rec r = rec_of(n);

		cr_assert_eq(kp_trace_write(w, &r), 0);
	}
	cr_assert_eq(kp_trace_close(w), 0);
}

Test(pipeline_trace, what_is_written_reads_back)
{
	struct kp_pipe_desc d;
	struct kp_trace tr;
	char path[300], why[512];
	int n;

	snprintf(path, sizeof(path), "%s/t.jsonl", tmp);
	write_three(path, &d);
	cr_assert_eq(kp_trace_load(path, &tr, why, sizeof(why)), 0, "%s", why);
	cr_expect_str_eq(tr.pipeline, "wordcount");
	cr_expect_str_eq(tr.algo, "ds2");
	cr_assert_eq(tr.nops, 4);
	cr_expect_str_eq(tr.op[1], "split");
	cr_expect_eq(tr.nedges, 3);
	cr_expect(tr.edges[1][0] == 1 && tr.edges[1][1] == 2);
	cr_expect_eq(tr.budget, 2);
	cr_assert_eq(tr.n, 3);
	cr_expect_eq(tr.torn, 0);
	for (n = 1; n <= 3; n++) {
		struct kp_trace_rec w = rec_of(n), *r = &tr.rec[n - 1];

		cr_expect_eq(r->n, n);
		cr_expect_float_eq(r->st.throughput, w.st.throughput, 1e-6);
		cr_expect(n == 2 ? isnan(r->st.p99_ms) : fabs(r->st.p99_ms - w.st.p99_ms) < 1e-6);
		cr_expect_float_eq(r->st.op[1].cpu, 0.5, 1e-9);
		cr_expect_float_eq(r->st.op[1].throttled_frac, 0.1, 1e-9);
		cr_expect_float_eq(r->st.op[0].quota, 0.75, 1e-9);
		cr_expect_eq(r->st.op[0].workers, 1);
		cr_expect_eq(r->changed, n == 1);
	}
	cr_expect_str_eq(tr.rec[0].reason, "ds2 \"interval\" 1");
	cr_expect_float_eq(tr.rec[0].before[0], 1, 1e-9);
	cr_expect(isnan(tr.rec[0].before[1]));
	kp_trace_free(&tr);
	kp_pipe_desc_free(&d);
}

/* A crash in the middle of a line: the whole lines before it still read. */
Test(pipeline_trace, a_torn_last_line_is_skipped)
{
	struct kp_pipe_desc d;
	struct kp_trace tr;
	char path[300], why[512];
	struct stat s;

	snprintf(path, sizeof(path), "%s/t.jsonl", tmp);
	write_three(path, &d);
	cr_assert_eq(stat(path, &s), 0);
	cr_assert_eq(truncate(path, s.st_size - 40), 0);
	cr_assert_eq(kp_trace_load(path, &tr, why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(tr.n, 2);
	cr_expect_eq(tr.torn, 1);
	cr_expect_eq(tr.rec[1].n, 2);
	kp_trace_free(&tr);
	/* a file that is not a trace is refused */
	cr_assert_eq(truncate(path, 10), 0);
	cr_expect_neq(kp_trace_load(path, &tr, why, sizeof(why)), 0);
	kp_pipe_desc_free(&d);
}

Test(pipeline_trace, rate_traces_parse_and_hold)
{
	struct kp_rate_trace rt;
	char why[256];

	cr_assert_eq(kp_rate_trace_parse("# a day\ntime_s,rate\n100,500\n160,800\n220,300\n", "t",
					 &rt, why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(rt.n, 3);
	cr_expect_eq(kp_rate_trace_at(&rt, -1), 500);
	cr_expect_eq(kp_rate_trace_at(&rt, 59.9), 500);
	cr_expect_eq(kp_rate_trace_at(&rt, 60), 800);
	cr_expect_eq(kp_rate_trace_at(&rt, 1000), 300);
	cr_expect_eq(kp_rate_trace_duration(&rt), 180);
	kp_rate_trace_free(&rt);
	cr_expect_neq(kp_rate_trace_parse("0,5\n0,6\n", "t", &rt, why, sizeof(why)), 0);
	cr_expect(strstr(why, "t:2:"), "%s", why);
	cr_expect_neq(kp_rate_trace_parse("0,5\n1,-3\n", "t", &rt, why, sizeof(why)), 0);
	cr_expect_neq(kp_rate_trace_parse("# nothing\n", "t", &rt, why, sizeof(why)), 0);
}

/* The shipped rate trace is what its script makes. */
Test(pipeline_trace, the_shipped_rate_trace_is_reproducible)
{
	char cmd[600], *a, *b, path[300];
	struct kp_rate_trace rt;
	char why[256];

	snprintf(path, sizeof(path), "%s/day.csv", tmp);
	snprintf(cmd, sizeof(cmd), "python3 tools/profiles/make-rate-trace --diurnal > %s", path);
	cr_assert_eq(tu_system(cmd), 0, "%s", cmd);
	a = tu_slurp(path);
	b = tu_slurp("tools/profiles/diurnal-logs.rate.csv");
	cr_assert(a && b);
	cr_expect_str_eq(a, b, "tools/profiles/diurnal-logs.rate.csv differs from the script's");
	cr_assert_eq(kp_rate_trace_parse(b, "shipped", &rt, why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(rt.n, 1440);
	cr_expect_gt(rt.peak, 1000);
	kp_rate_trace_free(&rt);
	/* and from a log's timestamps, binned */
	snprintf(cmd, sizeof(cmd), "printf '10.1 a\\n10.5 b\\n11.2 c\\n13.9 d\\n' | python3 "
		 "tools/profiles/make-rate-trace --timestamps --bin 1 > %s", path);
	cr_assert_eq(tu_system(cmd), 0, "%s", cmd);
	free(a);
	a = tu_slurp(path);
	cr_expect_str_eq(a, "time_s,rate\n0,2\n1,1\n2,0\n3,1\n");
	free(a);
	free(b);
}

static void make_desc(void)
{
	snprintf(descpath, sizeof(descpath), "%s/p.pipeline.json", tmp);
	pf_make_desc(descpath, "wc-trace", fifo, tag);
}

/* cgroup.controllers lists cpu (a word: not cpuset). */
static bool v2_has_cpu(void)
{
	char *s = tu_slurp("/sys/fs/cgroup/cgroup.controllers"), *tok, *save = NULL;
	bool yes = false;

	for (tok = s ? strtok_r(s, " \n", &save) : NULL; tok && !yes;
	     tok = strtok_r(NULL, " \n", &save))
		yes = !strcmp(tok, "cpu");
	free(s);
	return yes;
}

static void need_root(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root: creates cgroups and loads eBPF programs");
	if (access(WORDCOUNT, X_OK) || access(KPILOT, X_OK))
		cr_skip_test("no " WORDCOUNT " or " KPILOT ": run from the top of the tree after make");
	if (kp_cg_detect("/") < 0)
		cr_skip_test("no cgroup v1 cpu hierarchy and no cgroup v2 at /sys/fs/cgroup");
	if (kp_cg_detect("/") == 2 && !v2_has_cpu())
		cr_skip_test("cgroup v2 without the cpu controller at the root");
	make_desc();
}

/* kpilot tune ... --out tmp/out: its trace loaded into tr. */
static void tune(const char *extra, struct kp_trace *tr)
{
	char cmd[2 * PATH_MAX], why[512];
	struct stat s;

	snprintf(cmd, sizeof(cmd), KPILOT " tune --pipeline %s --state-dir %s --out %s/out -q %s"
		 " >/dev/null", descpath, tmp, tmp, extra);
	cr_assert_eq(tu_system(cmd), 0, "%s", cmd);
	snprintf(cmd, sizeof(cmd), "%s/out/trace.jsonl", tmp);
	cr_assert_eq(kp_trace_load(cmd, tr, why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(tr->torn, 0);
	snprintf(cmd, sizeof(cmd), "%s/%s", cg_root(0), tag);
	cr_expect_neq(stat(cmd, &s), 0, "%s left behind", cmd);
	cr_expect_neq(stat(fifo, &s), 0, "%s left behind", fifo);
}

Test(pipeline_trace, a_short_tune_writes_a_line_per_interval)
{
	struct kp_trace tr;
	int i;

	need_root();
	tune("--algo ds2 --trials 3", &tr);
	cr_expect_str_eq(tr.pipeline, "wc-trace");
	cr_assert_eq(tr.n, 4, "the seed's interval and 3 control intervals: %d lines", tr.n);
	for (i = 0; i < tr.n; i++) {
		cr_expect_eq(tr.rec[i].n, i);
		cr_expect_gt(tr.rec[i].st.throughput, 100);
		cr_expect_gt(tr.rec[i].st.op[2].cpu, 0.05, "count's CPU at interval %d", i);
		cr_expect(isfinite(tr.rec[i].st.op[2].quota));
		cr_expect_eq(tr.rec[i].st.target, 800);
	}
	cr_expect(tr.rec[0].changed && !strcmp(tr.rec[0].reason, "pipeline seed"));
	cr_expect_float_eq(tr.rec[0].st.op[0].quota, 0.5, 1e-9);
	kp_trace_free(&tr);
}

/*
 * 300/s for 3 s, 600/s for 3 s, 400/s (rates the equal split carries on a
 * loaded machine): the pipeline's own target and the source's rate follow.
 */
Test(pipeline_trace, the_source_follows_a_rate_trace)
{
	char extra[600], path[300];
	struct kp_trace tr;
	FILE *f;
	int i, checked = 0;

	need_root();
	snprintf(path, sizeof(path), "%s/r.csv", tmp);
	f = fopen(path, "w");
	cr_assert(f);
	fprintf(f, "time_s,rate\n0,300\n6,600\n12,400\n");	/* at speed 2: 3 s each */
	fclose(f);
	snprintf(extra, sizeof(extra), "--algo static --rate-trace %s --rate-speed 2 --trials 8",
		 path);
	tune(extra, &tr);
	cr_assert_eq(tr.n, 9);
	for (i = 1; i < tr.n; i++) {
		struct kp_rate_trace rt = { .t = (double[]){ 0, 6, 12 },
					    .rate = (double[]){ 300, 600, 400 }, .n = 3 };
		double t0 = 2 * (tr.rec[i].t - tr.rec[i].st.dt), want = tr.rec[i].rate;
		/* an interval that starts on a change (0.1 s either side) may have either rate */
		double before = kp_rate_trace_at(&rt, t0 - 0.2), after = kp_rate_trace_at(&rt, t0 + 0.2);

		cr_expect(want == before || want == after, "interval %d at %.2f s: rate %.0f, "
			  "the trace says %.0f or %.0f", i, tr.rec[i].t, want, before, after);
		cr_expect_eq(tr.rec[i].st.target, want, "interval %d: the pipeline's target", i);
		if (tr.rec[i - 1].rate != want)
			continue;	/* the interval of a change mixes two rates */
		cr_expect(fabs(tr.rec[i].st.op[0].in - want) < 0.12 * want,
			  "interval %d: the source made %.0f/s for %.0f/s", i, tr.rec[i].st.op[0].in,
			  want);
		checked++;
	}
	cr_expect_geq(checked, 4);
	cr_expect_eq(tr.rec[tr.n - 1].st.target, 400);
	kp_trace_free(&tr);
}
