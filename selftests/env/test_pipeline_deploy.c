// SPDX-License-Identifier: GPL-2.0
/*
 * Staged deployment with rollback (deploy.h): the verification logic on
 * synthetic sequences, then the tune session on the simulator: a forced
 * regression is rolled back to the last verified quotas, the trace and
 * results.json say so, and PPO pretrains on the simulator before acting.
 * No root: the real pipeline's side is test_pipeline_deploy_real.c.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include "env/pipeline/deploy.h"
#include "env/pipeline/pipetune.h"
#include "env/pipeline/rate_trace.h"
#include "env/pipeline/sim.h"
#include "env/pipeline/trace.h"
#include "../lib/testutil.h"

#define PROFILE "tools/profiles/wordcount.pipeline.json"
#define MODEL "tools/profiles/wordcount.sim.json"
enum { SRC, SPLIT, COUNT, SINK };

static char tmp[256];

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/kpilot-deploy-%d", (int)getpid());
	mkdir(tmp, 0755);
}

static void teardown(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	tu_system(cmd);
}

TestSuite(pipeline_deploy, .init = setup, .fini = teardown, .timeout = 60);

static const double seed_q[4] = { 0.5, 0.5, 0.5, 0.5 };

/* Defaults (window 3, k 2, 5 points, 1.5x), the seed measured at 1.0 and 10 ms. */
static void start(struct kp_deploy *dp)
{
	struct kp_deploy_opts o;

	kp_deploy_opts_default(&o);
	kp_deploy_init(dp, &o, 4, seed_q);
	cr_assert_eq(kp_deploy_measure(dp, 0, seed_q, 1.0, 10), KP_DEPLOY_STEADY);
}

Test(pipeline_deploy, two_bad_intervals_in_a_row_roll_back)
{
	double bad[4] = { 0.5, 0.5, 0.05, 0.5 };
	struct kp_deploy dp;

	start(&dp);
	cr_expect(!kp_deploy_holding(&dp));
	kp_deploy_start(&dp, bad);
	cr_expect(kp_deploy_holding(&dp), "a change is held while it is watched");
	/* 0.96 is within 5 points of 1.0: not bad */
	cr_expect_eq(kp_deploy_measure(&dp, 1, bad, 0.96, 12), KP_DEPLOY_WATCH);
	cr_expect_eq(dp.bad, 0);
	cr_expect_eq(kp_deploy_measure(&dp, 2, bad, 0.50, 800), KP_DEPLOY_WATCH);
	cr_expect_eq(dp.bad, 1);
	cr_expect_eq(kp_deploy_measure(&dp, 3, bad, 0.40, 900), KP_DEPLOY_FAIL);
	cr_expect(dp.rollback_due && kp_deploy_holding(&dp));
	cr_expect_eq(dp.good[COUNT], 0.5, "the known-good is still the seed");
	/* measured again before the rollback: still due */
	cr_expect_eq(kp_deploy_measure(&dp, 3, bad, 0.40, 900), KP_DEPLOY_FAIL);
	kp_deploy_rolled_back(&dp);
	cr_expect_eq(dp.deploys, 1);
	cr_expect_eq(dp.verified, 0);
	cr_expect_eq(dp.rollbacks, 1);
	/* held while the bad quotas' backlog drains, the reference untouched */
	cr_expect(kp_deploy_holding(&dp));
	cr_expect_eq(kp_deploy_measure(&dp, 4, seed_q, 1.3, 900), KP_DEPLOY_STEADY);
	cr_expect(kp_deploy_holding(&dp), "still draining at attainment 1.3");
	kp_deploy_measure(&dp, 5, seed_q, 0.7, 500);
	cr_expect(!kp_deploy_holding(&dp), "drained");
	cr_expect_float_eq(dp.ref_att, 1.0, 1e-9);
	cr_expect_float_eq(dp.ref_p99, 10, 1e-9);
	/* a backlog draining later (attainment 1.2) is not taken in; a steady interval is */
	kp_deploy_measure(&dp, 6, seed_q, 1.2, 400);
	cr_expect_float_eq(dp.ref_p99, 10, 1e-9);
	kp_deploy_measure(&dp, 7, seed_q, 0.98, 14);
	cr_expect_float_eq(dp.ref_att, 0.99, 1e-9);
	cr_expect_float_eq(dp.ref_p99, 12, 1e-9);
}

Test(pipeline_deploy, a_window_that_passes_is_the_new_known_good)
{
	double q[4] = { 0.05, 0.3, 0.45, 0.05 };
	struct kp_deploy dp;

	start(&dp);
	kp_deploy_start(&dp, q);
	/* one bad interval alone (k = 2) does not roll back */
	cr_expect_eq(kp_deploy_measure(&dp, 1, q, 0.5, 10), KP_DEPLOY_WATCH);
	cr_expect_eq(kp_deploy_measure(&dp, 2, q, 1.0, 8), KP_DEPLOY_WATCH);
	cr_expect_eq(kp_deploy_measure(&dp, 3, q, 1.0, 9), KP_DEPLOY_PASS);
	cr_expect(!kp_deploy_holding(&dp));
	cr_expect_eq(dp.verified, 1);
	cr_expect_eq(dp.good_since, 3);
	cr_expect_float_eq(dp.good[COUNT], 0.45, 1e-9);
	/* the reference is the window's: attainment (0.5 + 1 + 1) / 3, p99 9 ms */
	cr_expect_float_eq(dp.ref_att, 2.5 / 3, 1e-9);
	cr_expect_float_eq(dp.ref_p99, 9, 1e-9);
}

Test(pipeline_deploy, p99_alone_is_a_regression_but_not_a_few_ms)
{
	double q[4] = { 0.05, 0.3, 0.3, 0.05 };
	struct kp_deploy dp;

	start(&dp);
	/* 10 ms -> 14 ms is 1.4x; 10 -> 15.1 is over 1.5x and 5 ms more */
	cr_expect(!kp_deploy_regressed(&dp, 1.0, 14));
	cr_expect(kp_deploy_regressed(&dp, 1.0, 15.1));
	cr_expect(kp_deploy_regressed(&dp, 1.0, NAN), "nothing arrived");
	cr_expect(kp_deploy_regressed(&dp, 0.94, 10));
	cr_expect(!kp_deploy_regressed(&dp, 0.951, 10));
	dp.ref_p99 = 2;
	cr_expect(!kp_deploy_regressed(&dp, 1.0, 6.5), "2 -> 6.5 ms: under the 5 ms slack");
	dp.ref_p99 = 10;
	kp_deploy_start(&dp, q);
	kp_deploy_measure(&dp, 1, q, 1.0, 40);
	cr_expect_eq(kp_deploy_measure(&dp, 2, q, 1.0, 40), KP_DEPLOY_FAIL);
}

Test(pipeline_deploy, a_scale_up_is_not_rolled_back)
{
	double up[4] = { 0.5, 0.6, 0.7, 0.5 };
	struct kp_deploy dp;

	start(&dp);
	kp_deploy_start(&dp, up);
	cr_expect(dp.scale_up);
	cr_expect_eq(kp_deploy_measure(&dp, 1, up, 0.5, 900), KP_DEPLOY_WATCH);
	cr_expect_eq(kp_deploy_measure(&dp, 2, up, 0.5, 900), KP_DEPLOY_WATCH);
	cr_expect_eq(kp_deploy_measure(&dp, 3, up, 0.9, 100), KP_DEPLOY_PASS);
	cr_expect_eq(dp.excused, 3);
	cr_expect_eq(dp.rollbacks, 0);
}

Test(pipeline_deploy, no_staging_and_bad_options)
{
	struct kp_deploy_opts o = { 0 };
	struct kp_deploy dp;
	char why[256];

	kp_deploy_init(&dp, &o, 4, seed_q);
	kp_deploy_measure(&dp, 0, seed_q, 1, 10);
	kp_deploy_start(&dp, seed_q);
	cr_expect(!kp_deploy_holding(&dp), "verify 0: changes go straight in");
	cr_expect_eq(dp.deploys, 1);
	cr_expect_eq(kp_deploy_opts_check(&o, why, sizeof(why)), 0, "%s", why);
	kp_deploy_opts_default(&o);
	cr_expect_eq(kp_deploy_opts_check(&o, why, sizeof(why)), 0, "%s", why);
	o.after = 4;
	cr_expect_eq(kp_deploy_opts_check(&o, why, sizeof(why)), -EINVAL);
	cr_expect(strstr(why, "--rollback-after"), "%s", why);
	o.after = 2;
	o.p99_factor = 1;
	cr_expect_eq(kp_deploy_opts_check(&o, why, sizeof(why)), -EINVAL);
	cr_expect(strstr(why, "--rollback-p99"), "%s", why);
}

/* ---- the session on the simulator ------------------------------------------- */

static struct kp_pipe_desc d;
static struct kp_sim_model m;
static struct kp_rate_trace rt;

static void sim_opts(struct kp_pipe_tune_opts *o, struct kp_pipe_backend *be, const char *sub)
{
	static char dir[400];
	char why[512];

	cr_assert_eq(kp_pipe_desc_load(PROFILE, &d, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(kp_sim_model_load(MODEL, &m, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(kp_rate_trace_load("tools/profiles/diurnal-logs.rate.csv", &rt, why,
					sizeof(why)), 0, "%s", why);
	*be = kp_pipe_sim;
	be->arg = &m;
	memset(o, 0, sizeof(*o));
	o->d = &d;
	o->backend = be;
	o->seed = 1;
	o->utilisation = 0.9;
	o->deadband = 0.1;
	o->quiet = true;
	o->rate_trace = &rt;
	o->rate_speed = 144;
	kp_deploy_opts_default(&o->deploy);
	snprintf(dir, sizeof(dir), "%s/%s", tmp, sub);
	o->out_dir = dir;
}

static json_t *results_of(const char *dir, struct kp_trace *tr)
{
	char p[600], why[512];
	json_t *r;

	snprintf(p, sizeof(p), "%s/results.json", dir);
	r = json_load_file(p, 0, NULL);
	cr_assert(r, "no %s", p);
	snprintf(p, sizeof(p), "%s/trace.jsonl", dir);
	cr_assert_eq(kp_trace_load(p, tr, why, sizeof(why)), 0, "%s", why);
	return r;
}

static long member(json_t *r, const char *key)
{
	json_t *v = json_object_get(r, key);

	cr_assert(json_is_integer(v), "results.json has no %s", key);
	return json_integer_value(v);
}

/*
 * DS2 over the day's first 40 intervals, a regression forced at 20: count
 * (the busiest) at 0.05 cores is rolled back within the window to exactly
 * the quotas of the last verified deploy.
 */
Test(pipeline_deploy, a_forced_regression_on_the_simulator_rolls_back_to_the_known_good)
{
	struct kp_pipe_backend be;
	struct kp_pipe_tune_opts o;
	struct kp_trace tr;
	char out[512], why[512];
	double good[4] = { 0 };
	int i, k, n_deploy = 0, n_verified = 0, n_rb = 0, forced = -1, rb = -1;
	json_t *r;

	sim_opts(&o, &be, "ds2");
	o.algo = KP_PIPE_DS2;
	o.trials = 40;
	o.force_regression = 20;
	cr_assert_eq(kp_pipe_tune_run(&o, out, sizeof(out), why, sizeof(why)), 0, "%s", why);
	r = results_of(o.out_dir, &tr);
	cr_assert_eq(tr.n, 41);
	for (i = 1; i < tr.n; i++) {
		const struct kp_trace_rec *x = &tr.rec[i];

		n_deploy += !strcmp(x->deploy, "deploy");
		n_verified += !strcmp(x->deploy, "verified");
		n_rb += !strcmp(x->deploy, "rollback");
		if (!strcmp(x->deploy, "verified") && forced < 0)
			for (k = 0; k < 4; k++)
				good[k] = x->st.op[k].quota;
		if (x->changed && strstr(x->reason, "forced regression"))
			forced = i;
		if (!strcmp(x->deploy, "rollback"))
			rb = i;
		/* the controller's changes wait for the window: none inside one */
		if (!strcmp(x->deploy, "verify"))
			cr_expect(!x->changed, "interval %d changed inside a window", i);
	}
	cr_assert_geq(forced, 20, "no forced regression in the trace");
	cr_expect_eq(tr.rec[forced].st.op[COUNT].quota, 0.05);
	cr_expect_lt(tr.rec[forced + 1].st.attainment, 0.9);
	cr_assert_eq(rb, forced + 2, "k = 2: the rollback comes before the window's third interval");
	cr_expect(tr.rec[rb].changed && strstr(tr.rec[rb].reason, "rollback"), "%s",
		  tr.rec[rb].reason);
	cr_assert_gt(good[COUNT], 0.05, "no verified deploy before the forced one");
	for (k = 0; k < 4; k++)
		cr_expect_float_eq(tr.rec[rb].st.op[k].quota, good[k], 1e-9, "%s: %g, known-good %g",
				   d.ops[k].name, tr.rec[rb].st.op[k].quota, good[k]);
	cr_expect_eq(member(r, "deploys"), n_deploy);
	cr_expect_eq(member(r, "verified"), n_verified);
	cr_expect_eq(member(r, "rollbacks"), 1);
	cr_expect_eq(n_rb, 1);
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(r, "deploy"),
							"verify_intervals")), 3);
	json_decref(r);
	kp_trace_free(&tr);
	kp_rate_trace_free(&rt);
	kp_pipe_desc_free(&d);
}

/* The static controller never changes: only the forced one, rolled back to the seed. */
Test(pipeline_deploy, static_rolls_back_to_the_seed)
{
	struct kp_pipe_backend be;
	struct kp_pipe_tune_opts o;
	struct kp_trace tr;
	char out[512], why[512];
	json_t *r;
	int k;

	sim_opts(&o, &be, "static");
	o.algo = KP_PIPE_STATIC;
	o.trials = 8;
	o.force_regression = 3;
	cr_assert_eq(kp_pipe_tune_run(&o, out, sizeof(out), why, sizeof(why)), 0, "%s", why);
	r = results_of(o.out_dir, &tr);
	cr_expect_str_eq(tr.rec[3].deploy, "deploy");
	cr_expect_str_eq(tr.rec[4].deploy, "verify");
	cr_expect_str_eq(tr.rec[5].deploy, "rollback");
	/* the backlog drains (attainment ~2): held, then steady */
	cr_expect_str_eq(tr.rec[6].deploy, "settle");
	cr_expect_gt(tr.rec[5].st.attainment, 1.05);
	cr_expect_str_eq(tr.rec[7].deploy, "");
	for (k = 0; k < 4; k++)
		cr_expect_float_eq(tr.rec[5].st.op[k].quota, 0.5, 1e-9);
	cr_expect_eq(member(r, "deploys"), 1);
	cr_expect_eq(member(r, "verified"), 0);
	cr_expect_eq(member(r, "rollbacks"), 1);
	json_decref(r);
	kp_trace_free(&tr);
	kp_rate_trace_free(&rt);
	kp_pipe_desc_free(&d);
}

/*
 * --pretrain-sim on the simulator as the "real" pipeline: the agent trains
 * 300 steps in one 600-interval day's first half, then acts; results.json
 * records the steps and the pretraining's own results are beside it.
 */
Test(pipeline_deploy, ppo_pretrains_on_the_simulator_then_acts)
{
	struct kp_pipe_backend be;
	struct kp_pipe_tune_opts o;
	struct kp_trace tr;
	char out[512], why[512], p[600];
	json_t *r, *pre;

	sim_opts(&o, &be, "ppo");
	o.algo = KP_PIPE_PPO;
	o.trials = 20;
	o.pretrain = &m;
	o.sim_steps = 1300;	/* two whole days (600 each) and 100 intervals */
	cr_assert_eq(kp_pipe_tune_run(&o, out, sizeof(out), why, sizeof(why)), 0, "%s", why);
	r = results_of(o.out_dir, &tr);
	cr_expect_eq(tr.n, 21);
	pre = json_object_get(r, "pretrain");
	cr_assert(json_is_object(pre), "results.json has no pretrain");
	cr_expect_eq(member(pre, "steps"), 1300);
	cr_expect_eq(member(pre, "episodes"), 3);
	snprintf(p, sizeof(p), "%s/pretrain/trace.jsonl", o.out_dir);
	kp_trace_free(&tr);
	cr_assert_eq(kp_trace_load(p, &tr, why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(tr.n, 101, "the last episode: the day's first 100 intervals");
	json_decref(r);
	kp_trace_free(&tr);
	kp_rate_trace_free(&rt);
	kp_pipe_desc_free(&d);
}
