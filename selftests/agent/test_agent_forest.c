// SPDX-License-Identifier: GPL-2.0
/*
 * The random forest: fits a known function (out-of-bag R^2), uncertainty
 * grows away from the data, same seed -> same bits, degenerate inputs.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include "agent/forest.h"
#include "agent/rng.h"

/* Sum of squares plus an interaction: what a tuning surface looks like. */
static double known(const double *x)
{
	return x[0] * x[0] + x[1] * x[1] + x[2] * x[2] + 1.5 * x[0] * x[1];
}

static void sample(struct kp_rng *r, double *X, double *y, int n, double lo, double hi)
{
	int i, k;

	for (i = 0; i < n; i++) {
		for (k = 0; k < 3; k++)
			X[i * 3 + k] = lo + (hi - lo) * kp_rng_uniform(r);
		y[i] = known(X + i * 3);
	}
}

static struct kp_forest *fit(const double *X, const double *y, int n, int d, uint64_t seed)
{
	struct kp_forest_config cfg;
	struct kp_forest *f;

	kp_forest_config_default(&cfg);
	cfg.seed = seed;
	cr_assert_eq(kp_forest_create(&f, &cfg, d), 0);
	cr_assert_eq(kp_forest_fit(f, X, y, n), 0);
	return f;
}

Test(forest, fits_a_known_function_oob_r2)
{
	double X[200 * 3], y[200], r2, nmae, err = 0, var = 0, mean = 0;
	struct kp_rng r;
	struct kp_forest *f;
	int i;

	kp_rng_seed(&r, 7);
	sample(&r, X, y, 200, -1, 1);
	f = fit(X, y, 200, 3, 1);
	kp_forest_oob(f, &r2, &nmae);
	cr_log_info("OOB R^2 %.3f, MAE/std %.3f", r2, nmae);
	cr_assert_gt(r2, 0.8, "OOB R^2 %.3f", r2);
	cr_assert_lt(nmae, 0.4, "OOB MAE/std %.3f", nmae);
	/* and on fresh points: the OOB figure is an honest estimate */
	sample(&r, X, y, 200, -1, 1);
	for (i = 0; i < 200; i++)
		mean += y[i] / 200;
	for (i = 0; i < 200; i++) {
		double m;

		kp_forest_predict(f, X + i * 3, &m, NULL);
		err += (m - y[i]) * (m - y[i]);
		var += (y[i] - mean) * (y[i] - mean);
	}
	cr_assert_gt(1 - err / var, 0.75, "test R^2 %.3f", 1 - err / var);
	kp_forest_destroy(f);
}

Test(forest, uncertain_far_from_the_data)
{
	double X[100 * 3], y[100], near[3] = { -0.5, -0.5, -0.5 }, far[3] = { 0.9, 0.9, 0.9 };
	double m_near, s_near, m_far, s_far;
	struct kp_rng r;
	struct kp_forest *f;

	/* data in the lower corner only, [-1, 0]^3 */
	kp_rng_seed(&r, 3);
	sample(&r, X, y, 100, -1, 0);
	f = fit(X, y, 100, 3, 2);
	kp_forest_predict(f, near, &m_near, &s_near);
	kp_forest_predict(f, far, &m_far, &s_far);
	cr_log_info("std near %.4f far %.4f", s_near, s_far);
	cr_assert_gt(s_far, 2 * s_near, "std near %.4f, far %.4f", s_near, s_far);
	cr_assert_lt(fabs(m_near - known(near)), 0.3, "near: %.3f, truth %.3f", m_near, known(near));
	kp_forest_destroy(f);
}

Test(forest, same_seed_same_bits)
{
	double X[150 * 3], y[150], p[2][64][2], r2[2], nmae[2];
	struct kp_rng r;
	int run, i;

	kp_rng_seed(&r, 11);
	sample(&r, X, y, 150, -1, 1);
	for (run = 0; run < 2; run++) {
		struct kp_forest *f = fit(X, y, 150, 3, 5);
		struct kp_rng q;

		kp_rng_seed(&q, 99);
		for (i = 0; i < 64; i++) {
			double x[3] = { kp_rng_uniform(&q) * 2 - 1, kp_rng_uniform(&q) * 2 - 1,
					kp_rng_uniform(&q) * 2 - 1 };

			kp_forest_predict(f, x, &p[run][i][0], &p[run][i][1]);
		}
		kp_forest_oob(f, &r2[run], &nmae[run]);
		kp_forest_destroy(f);
	}
	cr_assert_eq(memcmp(p[0], p[1], sizeof(p[0])), 0);
	cr_assert_eq(memcmp(r2, r2 + 1, sizeof(r2[0])), 0);
	/* another seed grows other trees */
	{
		struct kp_forest *g = fit(X, y, 150, 3, 6);
		double m, s;
		double x[3] = { 0.3, -0.2, 0.7 };
		double m0, s0;
		struct kp_forest *f = fit(X, y, 150, 3, 5);

		kp_forest_predict(f, x, &m0, &s0);
		kp_forest_predict(g, x, &m, &s);
		cr_assert(m != m0 || s != s0);
		kp_forest_destroy(f);
		kp_forest_destroy(g);
	}
}

Test(forest, degenerate_inputs)
{
	double X[8 * 3] = { 0.1, 0.2, 0.3 }, y[8] = { 5 }, m, s, r2, nmae;
	struct kp_forest_config cfg;
	struct kp_forest *f;
	int i;

	/* before any fit */
	kp_forest_config_default(&cfg);
	cr_assert_eq(kp_forest_create(&f, &cfg, 3), 0);
	kp_forest_predict(f, X, &m, &s);
	cr_assert(m == 0 && s == 0);
	/* one point: every tree is that leaf */
	cr_assert_eq(kp_forest_fit(f, X, y, 1), 0);
	kp_forest_predict(f, X, &m, &s);
	cr_assert_float_eq(m, 5, 1e-12);
	cr_assert_float_eq(s, 0, 1e-12);
	kp_forest_oob(f, &r2, &nmae);
	cr_assert(isnan(r2) && isnan(nmae));
	/* constant y: no split, R^2 undefined, prediction the constant */
	for (i = 0; i < 8; i++) {
		X[i * 3] = i, X[i * 3 + 1] = -i, X[i * 3 + 2] = 0;
		y[i] = 2;
	}
	cr_assert_eq(kp_forest_fit(f, X, y, 8), 0);
	kp_forest_predict(f, X + 9, &m, &s);
	cr_assert_float_eq(m, 2, 1e-12);
	kp_forest_oob(f, &r2, &nmae);
	cr_assert(isnan(r2));
	/* identical rows, different y: no threshold separates them */
	for (i = 0; i < 8; i++) {
		X[i * 3] = X[i * 3 + 1] = X[i * 3 + 2] = 0.5;
		y[i] = i;
	}
	cr_assert_eq(kp_forest_fit(f, X, y, 8), 0);
	kp_forest_predict(f, X, &m, &s);
	cr_assert(isfinite(m) && s > 0);
	/* refused */
	y[3] = NAN;
	cr_assert_eq(kp_forest_fit(f, X, y, 8), -EINVAL);
	cr_assert_eq(kp_forest_fit(f, X, y, 0), -EINVAL);
	kp_forest_destroy(f);
	cr_assert_eq(kp_forest_create(&f, &cfg, 0), -EINVAL);
	cr_assert_null(f);
}

/* ---- the rollout agent on the model ------------------------------------------- */

#include "agent/rollout.h"

/*
 * The synthetic tuning surface of tools/bench/tuning (tools/bench/synth): four
 * knobs, the optimum off-centre, two interacting pairs; 1 at the optimum.
 */
static double synth(const double *u)
{
	static const double o[4] = { 0.55, -0.35, 0.7, -0.6 };
	double z[4], q;
	int k;

	for (k = 0; k < 4; k++)
		z[k] = u[k] - o[k];
	q = z[0] * z[0] + z[1] * z[1] + 1.2 * z[0] * z[1] + 2 * z[2] * z[2] + 0.5 * z[3] * z[3] -
	    1.0 * z[2] * z[3];
	return exp(-1.5 * q);
}

/* Best noise-free value within n trials (2% noise on what the agent sees). */
static double run_rollout(uint64_t seed, int n, double *trace)
{
	struct kp_rollout_config cfg;
	struct kp_rollout *r;
	struct kp_rng noise;
	double u[4], best = 0;
	int i;

	kp_rollout_config_default(&cfg, 4, 0, n);
	cfg.seed = seed;
	cr_assert_eq(kp_rollout_create(&r, &cfg), 0);
	kp_rng_seed(&noise, seed + 1000);
	for (i = 0; i < n; i++) {
		double v;

		cr_assert_eq(kp_rollout_propose(r, u), 0);
		v = synth(u);
		best = v > best ? v : best;
		if (trace)
			memcpy(trace + i * 4, u, sizeof(u));
		cr_assert_eq(kp_rollout_tell(r, NULL, NULL, v * (1 + 0.02 * kp_rng_gauss(&noise))), 0);
	}
	kp_rollout_destroy(r);
	return best;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

Test(rollout, same_seed_same_proposals)
{
	double a[30 * 4], b[30 * 4];

	run_rollout(3, 30, a);
	run_rollout(3, 30, b);
	cr_assert_eq(memcmp(a, b, sizeof(a)), 0);
	run_rollout(4, 30, b);
	cr_assert_neq(memcmp(a, b, sizeof(a)), 0);
}

/*
 * Not a benchmark (tools/bench/tuning is): a guard that the model is
 * used. Median over 9 seeds of the best after 40 trials, against uniform
 * random search with the same seeds (single runs vary a lot: 0.58 to 0.98).
 */
Test(rollout, beats_random_search_on_the_synthetic_surface)
{
	double ro[9], rnd[9];
	int s, i, k;

	for (s = 0; s < 9; s++) {
		struct kp_rng g;

		ro[s] = run_rollout(s + 1, 40, NULL);
		kp_rng_seed(&g, s + 1);
		rnd[s] = 0;
		for (i = 0; i < 40; i++) {
			double u[4], v;

			for (k = 0; k < 4; k++)
				u[k] = kp_rng_uniform(&g) * 2 - 1;
			v = synth(u);
			rnd[s] = v > rnd[s] ? v : rnd[s];
		}
	}
	qsort(ro, 9, sizeof(double), cmp_d);
	qsort(rnd, 9, sizeof(double), cmp_d);
	cr_log_info("median best after 40: rollout %.3f, random %.3f", ro[4], rnd[4]);
	cr_assert_gt(ro[4], rnd[4] + 0.15, "rollout %.3f, random %.3f", ro[4], rnd[4]);
	cr_assert_gt(ro[4], 0.8);
}

Test(rollout, misuse_refused)
{
	struct kp_rollout_config cfg;
	struct kp_rollout *r;
	double u[2];

	kp_rollout_config_default(&cfg, 2, 1, 4);
	cr_assert_eq(kp_rollout_create(&r, &cfg), 0);
	cr_assert_eq(kp_rollout_tell(r, NULL, NULL, 1), -EINVAL);
	cr_assert_eq(kp_rollout_propose(r, u), 0);
	cr_assert_eq(kp_rollout_propose(r, u), -EBUSY);
	cr_assert_eq(kp_rollout_tell(r, NULL, NULL, NAN), -EDOM);
	cr_assert_eq(kp_rollout_tell(r, NULL, NULL, 0.5), 0);
	kp_rollout_destroy(r);
	cfg.dim = 0;
	cr_assert_eq(kp_rollout_create(&r, &cfg), -EINVAL);
}

/*
 * Training on the model alone (ctl train): refused before the initial
 * trials; afterwards it makes PPO updates, also with a proposal pending,
 * whose outcome is then told as usual and the run goes on.
 */
Test(rollout, trains_on_the_model_with_a_proposal_pending)
{
	struct kp_rollout_config cfg;
	struct kp_rollout *r;
	double u[4];
	int i, n;

	kp_rollout_config_default(&cfg, 4, 0, 40);
	cfg.seed = 7;
	cr_assert_eq(kp_rollout_create(&r, &cfg), 0);
	cr_assert_eq(kp_rollout_train(r, 1), -EAGAIN);
	for (i = 0; i < 8; i++) {
		cr_assert_eq(kp_rollout_propose(r, u), 0);
		cr_assert_eq(kp_rollout_tell(r, NULL, NULL, synth(u)), 0);
	}
	cr_assert_eq(kp_rollout_propose(r, u), 0);
	n = kp_rollout_train(r, 20);
	cr_assert_gt(n, 0, "20 rounds of 7 imagined trials made no PPO update (%d)", n);
	cr_assert_eq(kp_rollout_propose(r, u), -EBUSY, "the pending proposal was lost");
	cr_assert_eq(kp_rollout_tell(r, NULL, NULL, synth(u)), 0);
	cr_assert_eq(kp_rollout_propose(r, u), 0);
	cr_assert_eq(kp_rollout_tell(r, NULL, NULL, synth(u)), 0);
	kp_rollout_destroy(r);
}
