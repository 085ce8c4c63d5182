// SPDX-License-Identifier: GPL-2.0
/*
 * Staged deployment on the real wordcount pipeline: a forced regression
 * (the busiest operator at 0.05 cores) is rolled back and the known-good
 * quotas are back in the cgroup files; kpilot tune logs and counts it; PPO
 * pretrains on a simulator calibrated from a test trace, then acts. Root,
 * v1 cpu hierarchy, from the top of the tree; cgroups and the control FIFO
 * are named after this process, and nothing may be left behind.
 */
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include "actuate/cgroup.h"
#include "env/pipeline/pipeline.h"
#include "env/pipeline/pipetune.h"
#include "env/pipeline/rate_trace.h"
#include "env/pipeline/sim.h"
#include "env/pipeline/trace.h"
#include "../lib/testutil.h"
#include "pipe_fixture.h"

#define WORDCOUNT "build/tools/wordcount/wordcount"
#define KPILOT "./kpilot"
#define V1_CPU "/sys/fs/cgroup/cpu"
#define V1_CPUSET "/sys/fs/cgroup/cpuset"
enum { SRC, SPLIT, COUNT, SINK };

static const char *const ops[] = { "source", "split", "count", "sink" };
static char tag[64], tmp[256], fifo[256], descpath[PATH_MAX];

static void make_desc(void)
{
	snprintf(descpath, sizeof(descpath), "%s/p.pipeline.json", tmp);
	pf_make_desc(descpath, "wc-deploy", fifo, tag);
}

static void setup(void)
{
	pf_need(KPILOT, "uses the v1 cpu hierarchy");
	pf_names("kpilot-deploy", tag, tmp, fifo);
	make_desc();
}

/* Processes whose command line names our FIFO: the pipeline's, which must be gone. */
static int our_procs(bool kill_them)
{
	return pf_procs_with(fifo, kill_them);
}


static void assert_nothing_left(void)
{
	cr_expect_eq(our_procs(false), 0, "processes of the pipeline are still running");
	cr_expect(!pf_exists(V1_CPU "/%s", tag), "cgroup " V1_CPU "/%s left behind", tag);
	cr_expect(!pf_exists(V1_CPUSET "/%s", tag), "cgroup " V1_CPUSET "/%s left behind", tag);
	cr_expect(!pf_exists("%s", fifo), "control FIFO %s left behind", fifo);
}

static void teardown(void)
{
	char p[PATH_MAX + 64], cmd[PATH_MAX + 16];
	int i, k;

	if (!tag[0])
		return;
	our_procs(true);
	usleep(100000);
	for (k = 0; k < 2; k++) {
		for (i = 0; i < 4; i++) {
			snprintf(p, sizeof(p), "%s/%s/%s", k ? V1_CPUSET : V1_CPU, tag, ops[i]);
			rmdir(p);
		}
		snprintf(p, sizeof(p), "%s/%s", k ? V1_CPUSET : V1_CPU, tag);
		rmdir(p);
	}
	unlink(fifo);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	tu_system(cmd);
}

TestSuite(pipeline_deploy_real, .init = setup, .fini = teardown, .timeout = 120);

/* ---- the real backend, its cgroup files read after every apply ---- */

struct applied {
	char reason[64];
	long quota_us[4];	/* cpu.cfs_quota_us as the kernel has it */
};

static struct applied applied[64];
static int napplied;

static long read_quota(void *e, int i)
{
	char p[PATH_MAX + 64], *s;
	long v;

	snprintf(p, sizeof(p), "%s/cpu.cfs_quota_us", kp_pipe_op_dir(e, i));
	s = tu_slurp(p);
	cr_assert(s, "cannot read %s", p);
	v = strtol(s, NULL, 10);
	free(s);
	return v;
}

static int spy_apply(void *e, const double *q, const char *reason, char *why, size_t len)
{
	int i, err = kp_pipe_real.apply(e, q, reason, why, len);

	if (!err && napplied < 64) {
		snprintf(applied[napplied].reason, sizeof(applied[0].reason), "%s", reason);
		for (i = 0; i < 4; i++)
			applied[napplied].quota_us[i] = read_quota(e, i);
		napplied++;
	}
	return err;
}

static long us(double cores)
{
	return lround(cores * 100000);
}

/*
 * DS2 on the real pipeline at 800/s, a regression forced from interval 5:
 * count at 0.05 cores (5000 us) in its cgroup, then, two bad intervals
 * later, the cgroup files hold the last verified quotas again.
 */
Test(pipeline_deploy_real, a_forced_regression_is_rolled_back_in_the_cgroups)
{
	struct kp_pipe_backend be = kp_pipe_real;
	struct kp_pipe_tune_opts o = { .algo = KP_PIPE_DS2, .trials = 12, .seed = 1,
				       .utilisation = 0.9, .deadband = 0.1, .quiet = true,
				       .force_regression = 5 };
	struct kp_pipe_desc d;
	struct kp_trace tr;
	char why[1024], out[PATH_MAX + 32], dir[PATH_MAX];
	double good[4];
	int i, k, forced = -1, rb = -1;

	cr_assert_eq(kp_pipe_desc_load(descpath, &d, why, sizeof(why)), 0, "%s", why);
	be.apply = spy_apply;
	o.backend = &be;
	o.d = &d;
	o.env.state_dir = tmp;
	kp_deploy_opts_default(&o.deploy);
	snprintf(dir, sizeof(dir), "%s/api", tmp);
	o.out_dir = dir;
	cr_assert_eq(kp_pipe_tune_run(&o, out, sizeof(out), why, sizeof(why)), 0, "%s", why);
	assert_nothing_left();
	for (i = 0; i < napplied; i++) {
		cr_log_info("apply %d (%s): %ld %ld %ld %ld", i, applied[i].reason,
			    applied[i].quota_us[0], applied[i].quota_us[1], applied[i].quota_us[2],
			    applied[i].quota_us[3]);
		if (strstr(applied[i].reason, "forced regression"))
			forced = i;
		if (strstr(applied[i].reason, "rollback") && rb < 0)
			rb = i;
	}
	cr_assert_geq(forced, 1, "no forced regression applied");
	cr_expect_eq(applied[forced].quota_us[COUNT], 5000, "count in its cgroup: %ld us",
		     applied[forced].quota_us[COUNT]);
	cr_assert_eq(rb, forced + 1, "no rollback after the forced regression");
	/* the known-good: the quotas of the last verified interval before it, from the trace */
	snprintf(out, sizeof(out), "%s/trace.jsonl", dir);
	cr_assert_eq(kp_trace_load(out, &tr, why, sizeof(why)), 0, "%s", why);
	for (k = 0; k < 4; k++)
		good[k] = tr.rec[0].st.op[k].quota;	/* the seed, without a verified deploy */
	for (i = 1; i < tr.n && !(tr.rec[i].changed && strstr(tr.rec[i].reason, "forced")); i++)
		if (!strcmp(tr.rec[i].deploy, "verified"))
			for (k = 0; k < 4; k++)
				good[k] = tr.rec[i].st.op[k].quota;
	for (k = 0; k < 4; k++)
		cr_expect_eq(applied[rb].quota_us[k], us(good[k]),
			     "%s after the rollback: %ld us in the cgroup, known-good %ld", ops[k],
			     applied[rb].quota_us[k], us(good[k]));
	cr_expect_neq(applied[rb].quota_us[COUNT], 5000);
	kp_trace_free(&tr);
	kp_pipe_desc_free(&d);
}

/* kpilot tune's stderr into tmp/NAME.err, its exit status returned. */
static int tune(const char *name, const char *extra)
{
	char cmd[3 * PATH_MAX];

	snprintf(cmd, sizeof(cmd), KPILOT " tune --pipeline %s --state-dir %s --out %s/%s %s "
		 ">/dev/null 2>%s/%s.err", descpath, tmp, tmp, name, extra, tmp, name);
	return tu_system(cmd);
}

static json_t *results(const char *name)
{
	char p[PATH_MAX];
	json_t *r;

	snprintf(p, sizeof(p), "%s/%s/results.json", tmp, name);
	r = json_load_file(p, 0, NULL);
	cr_assert(r, "no %s", p);
	return r;
}

static char *err_of(const char *name)
{
	char p[PATH_MAX];
	char *s;

	snprintf(p, sizeof(p), "%s/%s.err", tmp, name);
	s = tu_slurp(p);
	cr_assert(s, "no %s", p);
	return s;
}

static long member(json_t *r, const char *key)
{
	json_t *v = json_object_get(r, key);

	cr_assert(json_is_integer(v), "results.json has no %s", key);
	return json_integer_value(v);
}

/* The command line: one line per deploy and rollback, the counts in results.json. */
Test(pipeline_deploy_real, kpilot_tune_logs_and_counts_the_rollback)
{
	char p[PATH_MAX], why[512], *err;
	struct kp_trace tr;
	json_t *r;
	int k, rb;

	cr_assert_eq(tune("static", "--algo static --trials 7 --force-regression 2"), 0);
	assert_nothing_left();
	err = err_of("static");
	cr_expect(strstr(err, "interval 2: deploy (forced regression): count 0.50->0.05"), "%s", err);
	cr_expect(strstr(err, ": rollback to the known-good of interval 0"), "%s", err);
	r = results("static");
	cr_expect_eq(member(r, "deploys"), 1);
	cr_expect_eq(member(r, "verified"), 0);
	cr_expect_eq(member(r, "rollbacks"), 1);
	snprintf(p, sizeof(p), "%s/static/trace.jsonl", tmp);
	cr_assert_eq(kp_trace_load(p, &tr, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(tr.n, 8);
	cr_expect_str_eq(tr.rec[2].deploy, "deploy");
	cr_expect_str_eq(tr.rec[3].deploy, "verify");
	/* k = 2 bad in a row: 2 and 3, or 3 and 4 when the change came late in interval 2 */
	rb = !strcmp(tr.rec[4].deploy, "rollback") ? 4 : 5;
	cr_assert_str_eq(tr.rec[rb].deploy, "rollback");
	cr_expect(tr.rec[rb].changed && strstr(tr.rec[rb].reason, "rollback"));
	for (k = 0; k < 4; k++)
		cr_expect_float_eq(tr.rec[rb].st.op[k].quota, 0.5, 1e-9);
	kp_trace_free(&tr);
	json_decref(r);
	free(err);
}

/*
 * --pretrain-sim: a model calibrated from the test trace, 200 steps over a
 * 90 s rate trace (an episode a pass: the last rate holds a step, 90 s in the
 * model's report intervals),
 * then 4 real intervals.
 */
Test(pipeline_deploy_real, ppo_pretrained_on_the_simulator_then_tunes_the_pipeline)
{
	char cmd[3 * PATH_MAX], why[512], *err;
	struct kp_sim_model m;
	struct kp_rate_trace rt;
	json_t *r, *pre;
	int ep, nep;
	FILE *f;

	snprintf(cmd, sizeof(cmd), KPILOT " sim calibrate selftests/data/sim/cal-ds2.jsonl -o "
		 "%s/m.json >/dev/null", tmp);
	cr_assert_eq(tu_system(cmd), 0, "%s", cmd);
	snprintf(cmd, sizeof(cmd), "%s/m.json", tmp);
	cr_assert_eq(kp_sim_model_load(cmd, &m, why, sizeof(why)), 0, "%s", why);
	snprintf(cmd, sizeof(cmd), "%s/r.csv", tmp);
	f = fopen(cmd, "w");
	cr_assert(f);
	fprintf(f, "time_s,rate\n0,600\n30,800\n60,700\n");
	fclose(f);
	cr_assert_eq(kp_rate_trace_load(cmd, &rt, why, sizeof(why)), 0, "%s", why);
	ep = ceil(kp_rate_trace_duration(&rt) / m.interval_s);
	kp_rate_trace_free(&rt);
	cr_assert_lt(ep, 200, "an episode of %d", ep);
	nep = (200 + ep - 1) / ep;
	snprintf(cmd, sizeof(cmd), "--algo ppo --trials 4 --pretrain-sim %s/m.json --sim-steps 200 "
		 "--rate-trace %s/r.csv", tmp, tmp);
	cr_assert_eq(tune("ppo", cmd), 0);
	assert_nothing_left();
	err = err_of("ppo");
	cr_expect(strstr(err, "pretraining on the simulator (wc-deploy): 200 steps"), "%s", err);
	snprintf(cmd, sizeof(cmd), "pretrained: 200 steps in %d episodes", nep);
	cr_expect(strstr(err, cmd), "%s", err);
	r = results("ppo");
	cr_expect_eq(member(r, "trials"), 4);
	pre = json_object_get(r, "pretrain");
	cr_assert(json_is_object(pre), "results.json has no pretrain");
	cr_expect_eq(member(pre, "steps"), 200);
	cr_expect_eq(member(pre, "episodes"), nep);
	json_decref(r);
	snprintf(cmd, sizeof(cmd), "%s/ppo/pretrain/results.json", tmp);
	r = json_load_file(cmd, 0, NULL);
	cr_expect(r, "no %s", cmd);
	cr_expect_eq(json_integer_value(json_object_get(r, "trials")), 200 - (nep - 1) * ep,
		     "the last episode");
	json_decref(r);
	free(err);
}
