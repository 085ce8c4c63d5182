// SPDX-License-Identifier: GPL-2.0
/* PPO pieces against hand computations, closed forms and finite differences. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include "../lib/agent_train.h"
#include "lib/log.h"
#include "agent/ppo.h"

static void quiet(void) { cr_redirect_stderr(); }

Test(agent_ppo, gae_by_hand)
{
	/*
	 * gamma 0.9, lambda 0.8, two envs, three steps (index t * 2 + e).
	 * env 0 terminates at t=1; env 1 is truncated at t=0 with V(final) = 3.
	 *   env0 t2: 3 + .9*2.0 - 1.5 = 3.3                        A = 3.3
	 *   env0 t1: 2 + 0 - 1.0 = 1.0 (terminal, no bootstrap)   A = 1.0
	 *   env0 t0: 1 + .9*1.0 - .5 = 1.4; 1.4 + .72*1.0          A = 2.12
	 *   env1 t2: 1 + .9*1.0 - .6 = 1.3                         A = 1.3
	 *   env1 t1: 1 + .9*.6 - .4 = 1.14; 1.14 + .72*1.3         A = 2.076
	 *   env1 t0: 1 + .9*3.0 - .2 = 3.5 (bootstraps, cut)       A = 3.5
	 */
	const float rew[] = { 1, 1, 2, 1, 3, 1 };
	const float val[] = { .5, .2, 1.0, .4, 1.5, .6 };
	uint8_t term[] = { 0, 0, 1, 0, 0, 0 };
	uint8_t trunc[] = { 0, 1, 0, 0, 0, 0 };
	const float tval[] = { 0, 3.0, 0, 0, 0, 0 };
	const float last[] = { 2.0, 1.0 };
	const float want[] = { 2.12, 3.5, 1.0, 2.076, 3.3, 1.3 };
	float adv[6], ret[6];
	int i;

	kp_gae(3, 2, rew, val, term, trunc, tval, last, 0.9, 0.8, adv, ret);
	for (i = 0; i < 6; i++) {
		cr_expect(fabsf(adv[i] - want[i]) < 1e-5, "adv[%d] = %g, want %g", i, adv[i], want[i]);
		cr_expect(fabsf(ret[i] - (want[i] + val[i])) < 1e-5);
	}
	/* The same step terminated instead of truncated bootstraps nothing: 1 - .2. */
	term[1] = 1;
	trunc[1] = 0;
	kp_gae(3, 2, rew, val, term, trunc, tval, last, 0.9, 0.8, adv, ret);
	cr_expect(fabsf(adv[1] - 0.8f) < 1e-6, "terminated adv %g", adv[1]);
}

Test(agent_ppo, clipped_surrogate)
{
	struct { double r, adv, loss, grad; } c[] = {
		{ 1.5, 2, -2.4, 0 },	/* r > 1+eps, adv > 0: clipped, flat */
		{ 1.5, -2, 3.0, 3.0 },	/* adv < 0: pessimistic unclipped branch */
		{ 0.5, 2, -1.0, -1.0 },	/* r < 1-eps, adv > 0: unclipped */
		{ 0.5, -2, 1.6, 0 },	/* r < 1-eps, adv < 0: clipped, flat */
		{ 1.1, 2, -2.2, -2.2 },	/* inside the trust region */
	};
	size_t i;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		double g, l = kp_ppo_clip_loss(log(c[i].r), c[i].adv, 0.2, &g);

		cr_expect(fabs(l - c[i].loss) < 1e-12, "case %zu loss %g want %g", i, l, c[i].loss);
		cr_expect(fabs(g - c[i].grad) < 1e-12, "case %zu grad %g want %g", i, g, c[i].grad);
	}
}

Test(agent_ppo, clipped_value_loss)
{
	double g, l;

	/* Unclipped: 0.5 (v - ret)^2. */
	l = kp_ppo_value_loss(2.0, 0, 1.0, 0, &g);
	cr_expect(fabs(l - 0.5) < 1e-12 && fabs(g - 1.0) < 1e-12);
	/* v moved 1.0 from old 0 (clip 0.2): clipped value 0.2 is further from ret -1. */
	l = kp_ppo_value_loss(1.0, 0, -1.0, 0.2, &g);
	cr_expect(fabs(l - 0.5 * 4.0) < 1e-12 && fabs(g - 2.0) < 1e-12, "l %g g %g", l, g);
	/* ret beyond v: the clipped value 0.2 is worse (3.8 away), gradient flat. */
	l = kp_ppo_value_loss(1.0, 0, 4.0, 0.2, &g);
	cr_expect(fabs(l - 0.5 * 3.8 * 3.8) < 1e-12 && g == 0, "l %g g %g", l, g);
}

Test(agent_ppo, log_probs_closed_forms)
{
	const double z[] = { 1, 2, 3 };
	double h, p = 0, lp, want_h = 0, lse = log(exp(1) + exp(2) + exp(3));
	const double mu[] = { 0.5, -1 }, ls[] = { log(2.0), 0 }, x[] = { 1.5, -1 };
	int i;

	lp = kp_logprob_categorical(z, 3, 2, &h);
	cr_expect(fabs(lp - -0.40760596444438013) < 1e-12, "logp %.17g", lp);
	for (i = 0; i < 3; i++) {
		p += exp(kp_logprob_categorical(z, 3, i, NULL));
		want_h -= exp(z[i] - lse) * (z[i] - lse);
	}
	cr_expect(fabs(p - 1) < 1e-12);
	cr_expect(fabs(h - want_h) < 1e-12);
	/* N(1.5; 0.5, 2) N(-1; -1, 1): z = 0.5 and 0. */
	lp = kp_logprob_gaussian(mu, ls, x, 2, &h);
	cr_expect(fabs(lp - (-0.125 - log(2.0) - log(2 * M_PI))) < 1e-12, "gauss %.17g", lp);
	/* Entropy of N(mu, s^2) is 0.5 log(2 pi e s^2), summed over dimensions. */
	cr_expect(fabs(h - (0.5 * log(2 * M_PI * M_E * 4) + 0.5 * log(2 * M_PI * M_E))) < 1e-12);
}

static double fd(double (*f)(double *, void *), double *x, int i, void *ctx)
{
	double keep = x[i], h = 1e-6, a, b;

	x[i] = keep + h;
	a = f(x, ctx);
	x[i] = keep - h;
	b = f(x, ctx);
	x[i] = keep;
	return (a - b) / (2 * h);
}

struct cat_ctx { int n, action; double oldlp, adv, ent; };

static double cat_loss(double *z, void *p)
{
	struct cat_ctx *c = p;
	struct kp_ppo_sample s;
	double g[16];

	return kp_ppo_sample_loss_cat(z, c->n, c->action, c->oldlp, c->adv, 0.2, c->ent, g, &s);
}

struct gauss_ctx { int d; const double *x; double oldlp, adv, ent; };

/* v = mean (d values) then logstd (d values). */
static double gauss_loss(double *v, void *p)
{
	struct gauss_ctx *c = p;
	struct kp_ppo_sample s;
	double gm[8], gl[8];

	return kp_ppo_sample_loss_gauss(v, v + c->d, c->x, c->d, c->oldlp, c->adv, 0.2,
					c->ent, gm, gl, &s);
}

Test(agent_ppo, loss_gradients_match_finite_differences)
{
	/* old log-probs chosen so that ratios fall inside and outside the clip. */
	const double oldlps[] = { -1.2, -0.9, -3.0, 0.5 };
	const double advs[] = { 1.3, -0.7 };
	size_t a, b;
	int i;

	for (a = 0; a < 4; a++)
		for (b = 0; b < 2; b++) {
			double z[] = { 0.3, -0.5, 1.1, 0.2 }, g[4];
			struct cat_ctx c = { 4, 2, oldlps[a], advs[b], 0.01 };
			struct kp_ppo_sample s;

			kp_ppo_sample_loss_cat(z, 4, 2, c.oldlp, c.adv, 0.2, c.ent, g, &s);
			for (i = 0; i < 4; i++) {
				double n = fd(cat_loss, z, i, &c);

				cr_expect(fabs(g[i] - n) < 1e-6 * fmax(1, fabs(n)),
					  "cat old %g adv %g dz%d: %g vs fd %g", c.oldlp, c.adv, i, g[i], n);
			}
		}
	for (a = 0; a < 4; a++)
		for (b = 0; b < 2; b++) {
			const double x[] = { 0.4, -0.9, 0.1 };
			double v[] = { 0.2, -0.5, 0.3, -0.3, 0.1, -1.0 }, gm[3], gl[3];
			struct gauss_ctx c = { 3, x, oldlps[a] - 1.5, advs[b], 0.005 };
			struct kp_ppo_sample s;

			kp_ppo_sample_loss_gauss(v, v + 3, x, 3, c.oldlp, c.adv, 0.2, c.ent, gm, gl, &s);
			for (i = 0; i < 6; i++) {
				double n = fd(gauss_loss, v, i, &c), an = i < 3 ? gm[i] : gl[i - 3];

				cr_expect(fabs(an - n) < 1e-6 * fmax(1, fabs(n)),
					  "gauss old %g adv %g dv%d: %g vs fd %g", c.oldlp, c.adv, i, an, n);
			}
		}
}

static void cartpole_rollouts(struct kp_ppo *a, int updates, uint64_t seed)
{
	const struct kp_ppo_config *c = kp_ppo_config(a);
	struct kp_cartpole env[8];
	float obs[32], fin[32], act[8], rew[8];
	bool term[8], trunc[8];
	int e, n = 0;

	for (e = 0; e < c->num_envs; e++) {
		kp_cartpole_seed(&env[e], seed + e);
		kp_cartpole_reset(&env[e], obs + 4 * e);
	}
	while (n < updates) {
		int r;

		cr_assert_eq(kp_ppo_act(a, obs, act, NULL, NULL), 0);
		for (e = 0; e < c->num_envs; e++) {
			rew[e] = kp_cartpole_step(&env[e], (int)act[e], obs + 4 * e, &term[e], &trunc[e]);
			memcpy(fin + 4 * e, obs + 4 * e, sizeof(float) * 4);
			if (term[e] || trunc[e])
				kp_cartpole_reset(&env[e], obs + 4 * e);
		}
		r = kp_ppo_record(a, rew, term, trunc, fin);
		cr_assert_geq(r, 0);
		if (r == 1) {
			cr_assert_eq(kp_ppo_update(a, obs, NULL), 0);
			n++;
		}
	}
}

Test(agent_ppo, same_seed_same_bits)
{
	struct kp_ppo_config c;
	struct kp_ppo *a, *b, *d;

	kp_ppo_config_default(&c, 4, 2, false);
	c.num_envs = 2;
	c.num_steps = 64;
	c.norm_obs = true;
	c.seed = 5;
	cr_assert_eq(kp_ppo_create(&a, &c), 0);
	cr_assert_eq(kp_ppo_create(&b, &c), 0);
	c.seed = 6;
	cr_assert_eq(kp_ppo_create(&d, &c), 0);
	cartpole_rollouts(a, 3, 100);
	cartpole_rollouts(b, 3, 100);
	cartpole_rollouts(d, 3, 100);
	cr_expect_eq(memcmp(kp_ppo_actor(a)->params, kp_ppo_actor(b)->params,
			    sizeof(float) * kp_ppo_actor(a)->nparams), 0);
	cr_expect_eq(memcmp(kp_ppo_critic(a)->params, kp_ppo_critic(b)->params,
			    sizeof(float) * kp_ppo_critic(a)->nparams), 0);
	cr_expect_neq(memcmp(kp_ppo_actor(a)->params, kp_ppo_actor(d)->params,
			     sizeof(float) * kp_ppo_actor(a)->nparams), 0);
	kp_ppo_destroy(a);
	kp_ppo_destroy(b);
	kp_ppo_destroy(d);
}

Test(agent_ppo, update_learns_in_the_right_direction)
{
	/* A one-step bandit: action 1 pays 1, action 0 pays 0. */
	struct kp_ppo_config c;
	struct kp_ppo *a;
	struct kp_ppo_stats st;
	float obs[1] = { 0 }, act, rew;
	bool term = true;
	double p1_before, p1_after, z[2];
	float out[2];
	int i, k;

	kp_ppo_config_default(&c, 1, 2, false);
	c.num_steps = 64;
	c.anneal_lr = false;
	c.lr = 1e-2;
	cr_assert_eq(kp_ppo_create(&a, &c), 0);
	kp_mlp_infer(kp_ppo_actor(a), obs, out);
	z[0] = out[0];
	z[1] = out[1];
	p1_before = exp(kp_logprob_categorical(z, 2, 1, NULL));
	for (k = 0; k < 3; k++) {
		for (i = 0; i < 64; i++) {
			cr_assert_eq(kp_ppo_act(a, obs, &act, NULL, NULL), 0);
			rew = act == 1;
			cr_assert_geq(kp_ppo_record(a, &rew, &term, NULL, NULL), 0);
		}
		cr_assert_eq(kp_ppo_update(a, obs, &st), 0);
		cr_expect(st.approx_kl >= 0 && st.clipfrac >= 0 && st.clipfrac <= 1);
		cr_expect_eq(st.epochs, 4);
		cr_expect_eq(st.iteration, k + 1);
	}
	kp_mlp_infer(kp_ppo_actor(a), obs, out);
	z[0] = out[0];
	z[1] = out[1];
	p1_after = exp(kp_logprob_categorical(z, 2, 1, NULL));
	cr_expect_gt(p1_after, p1_before + 0.2, "p(good) %g -> %g", p1_before, p1_after);
	kp_ppo_destroy(a);
}

Test(agent_ppo, target_kl_stops_epochs_early)
{
	struct kp_ppo_config c;
	struct kp_ppo *a;
	struct kp_ppo_stats st;
	float obs[1] = { 0 }, act, rew;
	bool term = true;
	int i;

	kp_ppo_config_default(&c, 1, 2, false);
	c.num_steps = 64;
	c.update_epochs = 50;
	c.lr = 0.05;
	c.target_kl = 1e-4;
	cr_assert_eq(kp_ppo_create(&a, &c), 0);
	for (i = 0; i < 64; i++) {
		cr_assert_eq(kp_ppo_act(a, obs, &act, NULL, NULL), 0);
		rew = act == 1;
		kp_ppo_record(a, &rew, &term, NULL, NULL);
	}
	cr_assert_eq(kp_ppo_update(a, obs, &st), 0);
	cr_expect_lt(st.epochs, 50, "ran %d epochs", st.epochs);
	kp_ppo_destroy(a);
}

Test(agent_ppo, misuse_is_refused, .init = quiet)
{
	struct kp_ppo_config c;
	struct kp_ppo *a;
	float obs[1] = { 0 }, act, rew = 1;
	bool trunc = true;

	kp_ppo_config_default(&c, 1, 2, false);
	c.num_steps = 2;
	c.num_minibatches = 3;	/* 2 samples cannot make 3 minibatches */
	cr_expect_eq(kp_ppo_create(&a, &c), -EINVAL);
	c.num_minibatches = 1;
	cr_assert_eq(kp_ppo_create(&a, &c), 0);
	cr_expect_eq(kp_ppo_record(a, &rew, NULL, NULL, NULL), -EINVAL);	/* no act */
	cr_expect_eq(kp_ppo_update(a, obs, NULL), -EAGAIN);			/* not full */
	cr_assert_eq(kp_ppo_act(a, obs, &act, NULL, NULL), 0);
	cr_expect_eq(kp_ppo_record(a, &rew, NULL, &trunc, NULL), -EINVAL);	/* no final obs */
	cr_expect_eq(kp_ppo_record(a, &rew, NULL, NULL, NULL), 0);
	cr_assert_eq(kp_ppo_act(a, obs, &act, NULL, NULL), 0);
	cr_expect_eq(kp_ppo_record(a, &rew, NULL, NULL, NULL), 1);		/* full */
	cr_expect_eq(kp_ppo_act(a, obs, &act, NULL, NULL), -EBUSY);
	cr_expect_eq(kp_ppo_update(a, obs, NULL), 0);
	kp_ppo_destroy(a);
}

Test(agent_ppo, non_finite_numbers_stop_with_an_error, .init = quiet)
{
	struct kp_ppo_config c;
	struct kp_ppo *a;
	float obs[2] = { 0.1, 0.2 }, act[2], rew = 1, bad[2] = { NAN, 0 };
	struct kp_mlp *critic;
	float *keep;
	int i;

	kp_ppo_config_default(&c, 2, 2, true);
	c.num_steps = 8;
	c.num_minibatches = 2;
	cr_assert_eq(kp_ppo_create(&a, &c), 0);
	cr_expect_eq(kp_ppo_act(a, bad, act, NULL, NULL), -EDOM);
	cr_assert_eq(kp_ppo_act(a, obs, act, NULL, NULL), 0);
	rew = INFINITY;
	cr_expect_eq(kp_ppo_record(a, &rew, NULL, NULL, NULL), -EDOM);
	rew = 1;
	cr_expect_eq(kp_ppo_record(a, &rew, NULL, NULL, NULL), 0);
	for (i = 1; i < 8; i++) {
		cr_assert_eq(kp_ppo_act(a, obs, act, NULL, NULL), 0);
		kp_ppo_record(a, &rew, NULL, NULL, NULL);
	}
	/* A weight gone bad after the rollout: the loss is NaN, nothing is applied. */
	critic = kp_ppo_critic(a);
	keep = malloc(sizeof(float) * critic->nparams);
	memcpy(keep, critic->params, sizeof(float) * critic->nparams);
	kp_ppo_actor(a)->params[0] = NAN;
	cr_expect_eq(kp_ppo_update(a, obs, NULL), -EDOM);
	cr_expect_eq(memcmp(keep, critic->params, sizeof(float) * critic->nparams), 0);
	free(keep);
	kp_ppo_destroy(a);
	/* And a poisoned policy cannot act either. */
	cr_assert_eq(kp_ppo_create(&a, &c), 0);
	kp_ppo_actor(a)->params[kp_ppo_actor(a)->b_off[0]] = NAN;
	cr_expect_eq(kp_ppo_act(a, obs, act, NULL, NULL), -EDOM);
	kp_ppo_destroy(a);
}

Test(agent_ppo, continuous_actions_stay_in_the_box)
{
	struct kp_ppo_config c;
	struct kp_ppo *a;
	float obs[3] = { 0 }, act[2], lp, v;
	int i, d;

	kp_ppo_config_default(&c, 3, 2, true);
	c.init_logstd = 1.0;	/* sigma e: most samples fall outside [-1, 1] */
	c.num_steps = 1000;
	c.num_minibatches = 10;
	cr_assert_eq(kp_ppo_create(&a, &c), 0);
	for (i = 0; i < 200; i++) {
		cr_assert_eq(kp_ppo_act(a, obs, act, &lp, &v), 0);
		for (d = 0; d < 2; d++)
			cr_expect(act[d] >= -1 && act[d] <= 1);
		/* The log-prob belongs to the unclipped sample: never the mass at the edge. */
		cr_expect(isfinite(lp) && lp < 0);
		kp_ppo_record(a, &(float){ 0 }, NULL, NULL, NULL);
	}
	kp_ppo_destroy(a);
}

Test(agent_ppo, learning_rate_anneals_linearly)
{
	struct kp_ppo_config c;
	struct kp_ppo *a;
	struct kp_ppo_stats st;
	float obs[1] = { 0 }, act, rew = 0;
	int k, i;

	kp_ppo_config_default(&c, 1, 2, false);
	c.num_steps = 8;
	c.num_minibatches = 2;
	c.lr = 1e-3;
	c.total_steps = 32;	/* 4 updates to reach 0 */
	cr_assert_eq(kp_ppo_create(&a, &c), 0);
	for (k = 0; k < 6; k++) {
		for (i = 0; i < 8; i++) {
			cr_assert_eq(kp_ppo_act(a, obs, &act, NULL, NULL), 0);
			kp_ppo_record(a, &rew, NULL, NULL, NULL);
		}
		cr_assert_eq(kp_ppo_update(a, obs, &st), 0);
		/* CleanRL: (1 - (iteration - 1) / iterations) * lr, never negative. */
		cr_expect(fabs(st.lr - (k < 4 ? 1e-3 * (1 - k / 4.0) : 0)) < 1e-15,
			  "update %d lr %g", k + 1, st.lr);
		cr_expect_eq(st.global_step, 8 * (k + 1));
	}
	kp_ppo_destroy(a);
}

/* The whole minibatch loss in float64, from the twins of the agent's networks. */
struct e2e {
	struct kp_ppo *a;
	struct kp_mlpd actor, critic;
	double logstd[4];
	struct kp_ppo_rollout r;
	const uint32_t *ix;
	int M;
};

static double e2e_loss(struct e2e *t)
{
	const struct kp_ppo_config *c = kp_ppo_config(t->a);
	int O = c->obs_dim, A = c->act_dim, j, d;
	double mean = 0, sd = 0, loss = 0;

	for (j = 0; j < t->M; j++)
		mean += t->r.adv[t->ix[j]] / t->M;
	for (j = 0; j < t->M; j++)
		sd += (t->r.adv[t->ix[j]] - mean) * (t->r.adv[t->ix[j]] - mean);
	sd = sqrt(sd / (t->M - 1)) + 1e-8;
	for (j = 0; j < t->M; j++) {
		uint32_t k = t->ix[j];
		double x[16], z[8], v, g[8], gl[8], act[8], dv;
		struct kp_ppo_sample s;

		for (d = 0; d < O; d++)
			x[d] = t->r.obs[k * O + d];
		kp_mlpd_infer(&t->actor, x, z);
		kp_mlpd_infer(&t->critic, x, &v);
		for (d = 0; d < A; d++)
			act[d] = t->r.act[k * A + d];
		loss += kp_ppo_sample_loss_gauss(z, t->logstd, act, A, t->r.logprob[k],
						 (t->r.adv[k] - mean) / sd, c->clip_coef,
						 c->ent_coef, g, gl, &s);
		loss += c->vf_coef * kp_ppo_value_loss(v, t->r.value[k], t->r.ret[k],
						       c->clip_coef, &dv);
	}
	return loss / t->M;
}

static double e2e_err(struct e2e *t, double *p, const float *grad, size_t n)
{
	double num = 0, den_a = 0, den_f = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		double keep = p[i], h = 1e-6, lp, lm, fd;

		p[i] = keep + h;
		lp = e2e_loss(t);
		p[i] = keep - h;
		lm = e2e_loss(t);
		p[i] = keep;
		fd = (lp - lm) / (2 * h);
		num += (grad[i] - fd) * (grad[i] - fd);
		den_a += (double)grad[i] * grad[i];
		den_f += fd * fd;
	}
	return sqrt(num) / fmax(1e-12, fmax(sqrt(den_a), sqrt(den_f)));
}

Test(agent_ppo, whole_minibatch_gradient_matches_finite_differences)
{
	struct kp_ppo_config c;
	struct e2e t = { 0 };
	struct kp_mlp *actor, *critic;
	struct kp_rng rng;
	float obs[3] = { 0.2, -0.1, 0.5 }, act[2], r;
	uint32_t ix[16];
	double loss, err;
	int i, l;

	kp_ppo_config_default(&c, 3, 2, true);
	c.hidden[0] = 16;
	c.hidden[1] = 12;
	c.num_steps = 32;
	c.num_minibatches = 2;
	c.ent_coef = 0.01;
	c.seed = 21;
	cr_assert_eq(kp_ppo_create(&t.a, &c), 0);
	for (i = 0; i < 32; i++) {
		cr_assert_eq(kp_ppo_act(t.a, obs, act, NULL, NULL), 0);
		r = 1 - (act[0] - 0.3) * (act[0] - 0.3);
		obs[0] = act[0];
		obs[1] = act[1];
		obs[2] = r;
		kp_ppo_record(t.a, &r, NULL, NULL, NULL);
	}
	cr_assert_eq(kp_ppo_advantages(t.a, obs), 0);
	/* Move the policy and critic away from the rollout's, so that ratios
	 * leave the trust region and both clipped branches take part. */
	actor = kp_ppo_actor(t.a);
	critic = kp_ppo_critic(t.a);
	kp_rng_seed(&rng, 5);
	for (i = 0; i < (int)actor->nparams; i++)
		actor->params[i] += 0.3 * kp_rng_gauss(&rng);
	for (i = 0; i < (int)critic->nparams; i++)
		critic->params[i] += 0.3 * kp_rng_gauss(&rng);
	kp_ppo_logstd(t.a)[0] = -0.3;
	kp_ppo_logstd(t.a)[1] = 0.2;
	for (i = 0; i < 16; i++)
		ix[i] = (i * 7) % 32;

	loss = kp_ppo_minibatch_grad(t.a, ix, 16);
	cr_assert(isfinite(loss));
	kp_ppo_rollout(t.a, &t.r);
	t.ix = ix;
	t.M = 16;
	{
		int as[] = { 3, 16, 12, 2 }, cs[] = { 3, 16, 12, 1 };

		cr_assert_eq(kp_mlpd_init(&t.actor, 3, as, 1), 0);
		cr_assert_eq(kp_mlpd_init(&t.critic, 3, cs, 1), 0);
	}
	kp_mlpd_copy_from(&t.actor, actor);
	kp_mlpd_copy_from(&t.critic, critic);
	t.logstd[0] = -0.3;
	t.logstd[1] = 0.2;
	cr_expect(fabs(e2e_loss(&t) - loss) < 1e-5 * fmax(1, fabs(loss)),
		  "loss %g vs float64 %g", loss, e2e_loss(&t));
	for (l = 0; l < 3; l++) {
		err = e2e_err(&t, t.actor.params + t.actor.w_off[l], actor->grads + actor->w_off[l],
			      (size_t)t.actor.sizes[l] * t.actor.sizes[l + 1]);
		cr_expect_lt(err, 1e-3, "actor layer %d weights: rel err %g", l, err);
		err = e2e_err(&t, t.actor.params + t.actor.b_off[l], actor->grads + actor->b_off[l],
			      t.actor.sizes[l + 1]);
		cr_expect_lt(err, 1e-3, "actor layer %d biases: rel err %g", l, err);
		err = e2e_err(&t, t.critic.params + t.critic.w_off[l], critic->grads + critic->w_off[l],
			      (size_t)t.critic.sizes[l] * t.critic.sizes[l + 1]);
		cr_expect_lt(err, 1e-3, "critic layer %d weights: rel err %g", l, err);
		err = e2e_err(&t, t.critic.params + t.critic.b_off[l], critic->grads + critic->b_off[l],
			      t.critic.sizes[l + 1]);
		cr_expect_lt(err, 1e-3, "critic layer %d biases: rel err %g", l, err);
	}
	err = e2e_err(&t, t.logstd, kp_ppo_logstd_grad(t.a), 2);
	cr_expect_lt(err, 1e-3, "log-std: rel err %g", err);
	kp_mlpd_free(&t.actor);
	kp_mlpd_free(&t.critic);
	kp_ppo_destroy(t.a);
}
