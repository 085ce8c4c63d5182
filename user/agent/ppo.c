// SPDX-License-Identifier: GPL-2.0
/* PPO: rollout buffer, GAE, clipped losses, minibatch updates, checkpoints. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "agent/adam.h"
#include "agent/ckpt.h"
#include "lib/log.h"
#include "agent/norm.h"
#include "agent/ppo.h"
#include "agent/rng.h"

#define LOG_SQRT_2PI 0.91893853320467274178

struct kp_ppo {
	struct kp_ppo_config cfg;
	struct kp_mlp actor, critic;
	float *logstd, *logstd_grad;		/* continuous only */
	struct kp_adam opt_actor, opt_critic, opt_logstd;
	struct kp_rms obs_rms, ret_rms;
	double *ret_acc;			/* per-env discounted return, reward scaling */
	struct kp_rng rng;
	long iteration, global_step;

	/* Rollout, index t * E + e; observations already normalised. */
	int t;
	bool acted;				/* act() done, record() pending */
	float *obs, *act, *logp, *val, *rew, *trunc_val, *adv, *ret;
	uint8_t *term, *trunc;
	uint32_t *idx;

	/* Scratch. */
	float *nobs;				/* E x obs_dim normalised */
	float *mb_obs, *mb_dout, *mb_dv;
	float *last_val;
};

void kp_ppo_config_default(struct kp_ppo_config *c, int obs_dim, int act_dim, bool continuous)
{
	memset(c, 0, sizeof(*c));
	c->obs_dim = obs_dim;
	c->act_dim = act_dim;
	c->continuous = continuous;
	c->nhidden = 2;
	c->hidden[0] = c->hidden[1] = 64;
	c->num_envs = 1;
	c->num_steps = continuous ? 2048 : 128;
	c->num_minibatches = continuous ? 32 : 4;
	c->update_epochs = continuous ? 10 : 4;
	c->lr = continuous ? 3e-4 : 2.5e-4;
	c->anneal_lr = true;
	c->total_steps = continuous ? 1000000 : 500000;
	c->gamma = 0.99;
	c->gae_lambda = 0.95;
	c->norm_adv = true;
	c->clip_coef = 0.2;
	c->clip_vloss = true;
	c->ent_coef = continuous ? 0.0 : 0.01;
	c->vf_coef = 0.5;
	c->max_grad_norm = 0.5;
	c->target_kl = 0;
	c->norm_obs = continuous;
	c->obs_clip = 10;
	c->norm_reward = continuous;
	c->reward_clip = 10;
	c->init_logstd = 0;
	c->adam_eps = 1e-5;
	c->seed = 1;
}

void kp_ppo_config_tuning(struct kp_ppo_config *c, int obs_dim, int act_dim)
{
	kp_ppo_config_default(c, obs_dim, act_dim, true);
	c->num_steps = 32;
	c->num_minibatches = 4;
	c->update_epochs = 10;
	c->lr = 3e-3;
	c->anneal_lr = false;
	c->gamma = 0.5;
	c->gae_lambda = 0.9;
	c->norm_reward = false;
	c->init_logstd = -0.5;
}

static int check_config(const struct kp_ppo_config *c)
{
	long batch = (long)c->num_envs * c->num_steps;
	int i;

	if (c->obs_dim < 1 || c->obs_dim > KP_MLP_MAX_WIDTH ||
	    c->act_dim < 1 || c->act_dim > KP_MLP_MAX_WIDTH ||
	    (!c->continuous && c->act_dim < 2)) {
		kp_err("ppo: bad dimensions obs=%d act=%d", c->obs_dim, c->act_dim);
		return -EINVAL;
	}
	if (c->nhidden < 0 || c->nhidden > KP_MLP_MAX_LAYERS - 1) {
		kp_err("ppo: %d hidden layers, at most %d", c->nhidden, KP_MLP_MAX_LAYERS - 1);
		return -EINVAL;
	}
	for (i = 0; i < c->nhidden; i++)
		if (c->hidden[i] < 1 || c->hidden[i] > KP_MLP_MAX_WIDTH) {
			kp_err("ppo: hidden layer %d has width %d", i, c->hidden[i]);
			return -EINVAL;
		}
	if (c->num_envs < 1 || c->num_steps < 1 || c->num_minibatches < 1 ||
	    c->update_epochs < 1 || batch % c->num_minibatches ||
	    batch / c->num_minibatches < 2 || batch > (1L << 30)) {
		kp_err("ppo: num_envs %d x num_steps %d must split into %d minibatches of >= 2",
		       c->num_envs, c->num_steps, c->num_minibatches);
		return -EINVAL;
	}
	if (!(c->lr > 0) || !(c->gamma >= 0 && c->gamma <= 1) ||
	    !(c->gae_lambda >= 0 && c->gae_lambda <= 1) || !(c->clip_coef > 0) ||
	    !(c->adam_eps > 0) || !(c->obs_clip > 0) || !(c->reward_clip > 0) ||
	    !isfinite(c->ent_coef) || !isfinite(c->vf_coef) || !isfinite(c->init_logstd) ||
	    !isfinite(c->max_grad_norm) || !isfinite(c->target_kl) ||
	    (c->anneal_lr && c->total_steps < 1)) {
		kp_err("ppo: a hyperparameter is out of range");
		return -EINVAL;
	}
	return 0;
}

struct kp_mlp *kp_ppo_actor(struct kp_ppo *a) { return &a->actor; }
struct kp_mlp *kp_ppo_critic(struct kp_ppo *a) { return &a->critic; }
float *kp_ppo_logstd(struct kp_ppo *a) { return a->logstd; }
const struct kp_ppo_config *kp_ppo_config(const struct kp_ppo *a) { return &a->cfg; }

void kp_ppo_destroy(struct kp_ppo *a)
{
	if (!a)
		return;
	kp_mlp_free(&a->actor);
	kp_mlp_free(&a->critic);
	kp_adam_free(&a->opt_actor);
	kp_adam_free(&a->opt_critic);
	kp_adam_free(&a->opt_logstd);
	kp_rms_free(&a->obs_rms);
	kp_rms_free(&a->ret_rms);
	free(a->logstd);
	free(a->logstd_grad);
	free(a->ret_acc);
	free(a->obs);
	free(a->act);
	free(a->logp);
	free(a->val);
	free(a->rew);
	free(a->trunc_val);
	free(a->adv);
	free(a->ret);
	free(a->term);
	free(a->trunc);
	free(a->idx);
	free(a->nobs);
	free(a->mb_obs);
	free(a->mb_dout);
	free(a->mb_dv);
	free(a->last_val);
	free(a);
}

/* Everything but the weights' values: shapes, buffers, optimisers. */
static int alloc_agent(struct kp_ppo **out, const struct kp_ppo_config *cfg)
{
	struct kp_ppo *a;
	int sizes[KP_MLP_MAX_LAYERS + 1];
	size_t B, E, O, A, M;
	int i, err;

	*out = NULL;
	err = check_config(cfg);
	if (err)
		return err;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->cfg = *cfg;
	E = cfg->num_envs;
	B = E * cfg->num_steps;
	O = cfg->obs_dim;
	A = cfg->act_dim;
	M = B / cfg->num_minibatches;

	sizes[0] = cfg->obs_dim;
	for (i = 0; i < cfg->nhidden; i++)
		sizes[i + 1] = cfg->hidden[i];
	sizes[cfg->nhidden + 1] = cfg->act_dim;
	err = kp_mlp_init(&a->actor, cfg->nhidden + 1, sizes, M > E ? M : E);
	if (err)
		goto fail;
	sizes[cfg->nhidden + 1] = 1;
	err = kp_mlp_init(&a->critic, cfg->nhidden + 1, sizes, M > E ? M : E);
	if (err)
		goto fail;
	err = -ENOMEM;
	if (kp_adam_init(&a->opt_actor, a->actor.nparams, cfg->lr, 0.9, 0.999, cfg->adam_eps) ||
	    kp_adam_init(&a->opt_critic, a->critic.nparams, cfg->lr, 0.9, 0.999, cfg->adam_eps) ||
	    kp_adam_init(&a->opt_logstd, A, cfg->lr, 0.9, 0.999, cfg->adam_eps) ||
	    kp_rms_init(&a->obs_rms, O) || kp_rms_init(&a->ret_rms, 1))
		goto fail;
	a->logstd = calloc(A, sizeof(float));
	a->logstd_grad = calloc(A, sizeof(float));
	a->ret_acc = calloc(E, sizeof(double));
	a->obs = calloc(B * O, sizeof(float));
	a->act = calloc(B * A, sizeof(float));
	a->logp = calloc(B, sizeof(float));
	a->val = calloc(B, sizeof(float));
	a->rew = calloc(B, sizeof(float));
	a->trunc_val = calloc(B, sizeof(float));
	a->adv = calloc(B, sizeof(float));
	a->ret = calloc(B, sizeof(float));
	a->term = calloc(B, 1);
	a->trunc = calloc(B, 1);
	a->idx = calloc(B, sizeof(uint32_t));
	a->nobs = calloc(E * O, sizeof(float));
	a->mb_obs = calloc(M * O, sizeof(float));
	a->mb_dout = calloc(M * A, sizeof(float));
	a->mb_dv = calloc(M, sizeof(float));
	a->last_val = calloc(E, sizeof(float));
	if (!a->logstd || !a->logstd_grad || !a->ret_acc || !a->obs || !a->act ||
	    !a->logp || !a->val || !a->rew || !a->trunc_val || !a->adv || !a->ret ||
	    !a->term || !a->trunc || !a->idx || !a->nobs || !a->mb_obs ||
	    !a->mb_dout || !a->mb_dv || !a->last_val)
		goto fail;
	kp_rng_seed(&a->rng, cfg->seed);
	*out = a;
	return 0;
fail:
	kp_ppo_destroy(a);
	return err;
}

int kp_ppo_create(struct kp_ppo **out, const struct kp_ppo_config *cfg)
{
	struct kp_ppo *a;
	int i, err;

	err = alloc_agent(&a, cfg);
	if (err)
		return err;
	/* Gains as CleanRL: sqrt(2) hidden, 0.01 policy head, 1 value head. */
	kp_mlp_init_orthogonal(&a->actor, &a->rng, M_SQRT2, 0.01);
	kp_mlp_init_orthogonal(&a->critic, &a->rng, M_SQRT2, 1.0);
	for (i = 0; i < cfg->act_dim; i++)
		a->logstd[i] = cfg->init_logstd;
	*out = a;
	return 0;
}

static int finite_obs(const float *x, size_t n)
{
	if (kp_all_finite(x, n))
		return 1;
	kp_err("ppo: non-finite observation refused");
	return 0;
}

/* Normalise E rows into dst; fold them into the statistics first if asked. */
static void normalize_obs(struct kp_ppo *a, const float *obs, float *dst, int rows, bool learn)
{
	int O = a->cfg.obs_dim, e;

	if (!a->cfg.norm_obs) {
		memcpy(dst, obs, sizeof(float) * rows * O);
		return;
	}
	if (learn)
		kp_rms_update(&a->obs_rms, obs, rows);
	for (e = 0; e < rows; e++)
		kp_rms_normalize(&a->obs_rms, obs + (size_t)e * O, dst + (size_t)e * O,
				 a->cfg.obs_clip);
}

static int sample_categorical(struct kp_rng *rng, const float *logits, int n,
			      double *logprob)
{
	double z[KP_MLP_MAX_WIDTH], mx = logits[0], sum = 0, u, c = 0;
	int i, pick = n - 1;

	for (i = 1; i < n; i++)
		if (logits[i] > mx)
			mx = logits[i];
	for (i = 0; i < n; i++) {
		z[i] = exp(logits[i] - mx);
		sum += z[i];
	}
	u = kp_rng_uniform(rng) * sum;
	for (i = 0; i < n; i++) {
		c += z[i];
		if (u < c) {
			pick = i;
			break;
		}
	}
	*logprob = logits[pick] - mx - log(sum);
	return pick;
}

int kp_ppo_act(struct kp_ppo *a, const float *obs, float *action, float *logprob, float *value)
{
	const struct kp_ppo_config *c = &a->cfg;
	int E = c->num_envs, O = c->obs_dim, A = c->act_dim, e, d;
	size_t base = (size_t)a->t * E;

	if (a->t >= c->num_steps) {
		kp_err("ppo: rollout full, update before acting");
		return -EBUSY;
	}
	if (!finite_obs(obs, (size_t)E * O))
		return -EDOM;
	normalize_obs(a, obs, a->obs + base * O, E, true);
	for (e = 0; e < E; e++) {
		const float *x = a->obs + (base + e) * O;
		float out[KP_MLP_MAX_WIDTH], v;
		float *act = a->act + (base + e) * A;
		double lp = 0;

		kp_mlp_infer(&a->actor, x, out);
		kp_mlp_infer(&a->critic, x, &v);
		if (!kp_all_finite(out, A)) {
			kp_err("ppo: non-finite policy output");
			return -EDOM;
		}
		if (c->continuous) {
			for (d = 0; d < A; d++) {
				double sd = exp(a->logstd[d]), eps = kp_rng_gauss(&a->rng);

				act[d] = out[d] + sd * eps;
				/* log N(x; mu, sd) with x - mu = sd * eps exactly. */
				lp += -0.5 * eps * eps - a->logstd[d] - LOG_SQRT_2PI;
				action[(size_t)e * A + d] = act[d] > 1 ? 1 : act[d] < -1 ? -1 : act[d];
			}
		} else {
			act[0] = sample_categorical(&a->rng, out, A, &lp);
			action[e] = act[0];
		}
		if (!isfinite(lp) || !isfinite(v)) {
			kp_err("ppo: non-finite policy output");
			return -EDOM;
		}
		a->logp[base + e] = lp;
		a->val[base + e] = v;
		if (logprob)
			logprob[e] = lp;
		if (value)
			value[e] = v;
	}
	a->acted = true;
	return 0;
}

int kp_ppo_act_deterministic(struct kp_ppo *a, const float *obs, float *action)
{
	const struct kp_ppo_config *c = &a->cfg;
	int E = c->num_envs, O = c->obs_dim, A = c->act_dim, e, d;

	if (!finite_obs(obs, (size_t)E * O))
		return -EDOM;
	normalize_obs(a, obs, a->nobs, E, false);
	for (e = 0; e < E; e++) {
		float out[KP_MLP_MAX_WIDTH];

		kp_mlp_infer(&a->actor, a->nobs + (size_t)e * O, out);
		if (c->continuous) {
			for (d = 0; d < A; d++)
				action[(size_t)e * A + d] = out[d] > 1 ? 1 : out[d] < -1 ? -1 : out[d];
		} else {
			int best = 0;

			for (d = 1; d < A; d++)
				if (out[d] > out[best])
					best = d;
			action[e] = best;
		}
	}
	return 0;
}

int kp_ppo_record(struct kp_ppo *a, const float *reward, const bool *terminated,
		  const bool *truncated, const float *final_obs)
{
	const struct kp_ppo_config *c = &a->cfg;
	int E = c->num_envs, O = c->obs_dim, e;
	size_t base = (size_t)a->t * E;

	if (!a->acted) {
		kp_err("ppo: record() without a preceding act()");
		return -EINVAL;
	}
	/* Check everything first: a refused step leaves no trace. */
	for (e = 0; e < E; e++) {
		bool term = terminated && terminated[e];
		bool trunc = !term && truncated && truncated[e];

		if (!isfinite(reward[e])) {
			kp_err("ppo: non-finite reward refused");
			return -EDOM;
		}
		if (trunc && !final_obs) {
			kp_err("ppo: a truncated episode needs its final observation");
			return -EINVAL;
		}
		if (trunc && !finite_obs(final_obs + (size_t)e * O, O))
			return -EDOM;
	}
	for (e = 0; e < E; e++) {
		bool term = terminated && terminated[e];
		bool trunc = !term && truncated && truncated[e];
		double r = reward[e];

		if (c->norm_reward) {
			/* gym NormalizeReward: scale by the discounted return's std. */
			a->ret_acc[e] = a->ret_acc[e] * c->gamma + r;
			kp_rms_update_d(&a->ret_rms, &a->ret_acc[e], 1);
			r /= sqrt(a->ret_rms.var[0] + 1e-8);
			r = r > c->reward_clip ? c->reward_clip : r < -c->reward_clip ? -c->reward_clip : r;
			if (term || trunc)
				a->ret_acc[e] = 0;
		}
		a->rew[base + e] = r;
		a->term[base + e] = term;
		a->trunc[base + e] = trunc;
		a->trunc_val[base + e] = 0;
		if (trunc) {
			float x[KP_MLP_MAX_WIDTH], v;

			normalize_obs(a, final_obs + (size_t)e * O, x, 1, false);
			kp_mlp_infer(&a->critic, x, &v);
			a->trunc_val[base + e] = v;
		}
	}
	a->acted = false;
	a->t++;
	a->global_step += E;
	return a->t == c->num_steps;
}

void kp_gae(int T, int E, const float *reward, const float *value,
	    const uint8_t *terminated, const uint8_t *truncated,
	    const float *trunc_value, const float *last_value,
	    double gamma, double lambda, float *adv, float *ret)
{
	int t, e;

	for (e = 0; e < E; e++) {
		double last = 0;

		for (t = T - 1; t >= 0; t--) {
			size_t i = (size_t)t * E + e;
			double next_v, cont = 1, delta;

			if (terminated[i]) {
				next_v = 0;
				cont = 0;
			} else if (truncated[i]) {
				next_v = trunc_value[i];
				cont = 0;
			} else {
				next_v = t == T - 1 ? last_value[e] : value[i + E];
			}
			delta = reward[i] + gamma * next_v - value[i];
			last = delta + gamma * lambda * cont * last;
			adv[i] = last;
			ret[i] = last + value[i];
		}
	}
}

double kp_logprob_categorical(const double *logits, int n, int action, double *entropy)
{
	double mx = logits[0], sum = 0, lse, h = 0;
	int i;

	for (i = 1; i < n; i++)
		if (logits[i] > mx)
			mx = logits[i];
	for (i = 0; i < n; i++)
		sum += exp(logits[i] - mx);
	lse = mx + log(sum);
	if (entropy) {
		for (i = 0; i < n; i++) {
			double lp = logits[i] - lse;

			h -= exp(lp) * lp;
		}
		*entropy = h;
	}
	return logits[action] - lse;
}

double kp_logprob_gaussian(const double *mean, const double *logstd, const double *x,
			   int d, double *entropy)
{
	double lp = 0, h = 0;
	int i;

	for (i = 0; i < d; i++) {
		double z = (x[i] - mean[i]) * exp(-logstd[i]);

		lp += -0.5 * z * z - logstd[i] - LOG_SQRT_2PI;
		h += 0.5 + LOG_SQRT_2PI + logstd[i];
	}
	if (entropy)
		*entropy = h;
	return lp;
}

double kp_ppo_clip_loss(double logratio, double adv, double clip, double *dlogratio)
{
	double r = exp(logratio);
	double rc = r < 1 - clip ? 1 - clip : r > 1 + clip ? 1 + clip : r;
	double l1 = -adv * r, l2 = -adv * rc;

	/* The clipped branch is flat in r: only the unclipped one has a slope. */
	*dlogratio = l1 >= l2 ? -adv * r : 0;
	return l1 >= l2 ? l1 : l2;
}

double kp_ppo_value_loss(double v, double old_v, double ret, double clip, double *dv)
{
	double d = v - old_v, vc, lu, lc;

	lu = (v - ret) * (v - ret);
	if (clip <= 0) {
		*dv = v - ret;
		return 0.5 * lu;
	}
	vc = old_v + (d < -clip ? -clip : d > clip ? clip : d);
	lc = (vc - ret) * (vc - ret);
	if (lu >= lc) {
		*dv = v - ret;
		return 0.5 * lu;
	}
	*dv = (d > -clip && d < clip) ? vc - ret : 0;
	return 0.5 * lc;
}

double kp_ppo_sample_loss_cat(const double *logits, int n, int action, double old_logprob,
			      double adv, double clip, double ent_coef, double *dlogits,
			      struct kp_ppo_sample *s)
{
	double mx = logits[0], sum = 0, lse, h = 0, dlr, pg;
	double lp[KP_MLP_MAX_WIDTH];
	int i;

	for (i = 1; i < n; i++)
		if (logits[i] > mx)
			mx = logits[i];
	for (i = 0; i < n; i++)
		sum += exp(logits[i] - mx);
	lse = mx + log(sum);
	for (i = 0; i < n; i++) {
		lp[i] = logits[i] - lse;
		h -= exp(lp[i]) * lp[i];
	}
	s->logprob = lp[action];
	s->logratio = s->logprob - old_logprob;
	s->ratio = exp(s->logratio);
	s->entropy = h;
	pg = kp_ppo_clip_loss(s->logratio, adv, clip, &dlr);
	s->pg_loss = pg;
	for (i = 0; i < n; i++) {
		double p = exp(lp[i]);

		/* dlogp[a]/dz = onehot - p; dH/dz = -p (logp + H). */
		dlogits[i] = dlr * ((i == action) - p) + ent_coef * p * (lp[i] + h);
	}
	return pg - ent_coef * h;
}

double kp_ppo_sample_loss_gauss(const double *mean, const double *logstd, const double *x,
				int d, double old_logprob, double adv, double clip,
				double ent_coef, double *dmean, double *dlogstd,
				struct kp_ppo_sample *s)
{
	double dlr, pg, h;
	int i;

	s->logprob = kp_logprob_gaussian(mean, logstd, x, d, &h);
	s->logratio = s->logprob - old_logprob;
	s->ratio = exp(s->logratio);
	s->entropy = h;
	pg = kp_ppo_clip_loss(s->logratio, adv, clip, &dlr);
	s->pg_loss = pg;
	for (i = 0; i < d; i++) {
		double iv = exp(-2 * logstd[i]), e = x[i] - mean[i];

		dmean[i] = dlr * e * iv;
		/* dH/dlogstd = 1 per dimension. */
		dlogstd[i] = dlr * (e * e * iv - 1) - ent_coef;
	}
	return pg - ent_coef * h;
}

static double variance(const float *x, size_t n)
{
	double s = 0, ss = 0, mu;
	size_t i;

	for (i = 0; i < n; i++)
		s += x[i];
	mu = s / n;
	for (i = 0; i < n; i++)
		ss += (x[i] - mu) * (x[i] - mu);
	return ss / n;
}

/* Loss statistics summed over minibatches (each term a minibatch mean). */
struct mb_sums {
	double pg, v, h, okl, kl, cf, grad_norm;
};

/*
 * Loss over the samples ix[0..M) and its gradient in the actor's, the
 * critic's and the log-std's grads. Returns the loss (NaN if not finite).
 */
static double minibatch_grad(struct kp_ppo *a, const uint32_t *ix, size_t M, struct mb_sums *sum)
{
	const struct kp_ppo_config *c = &a->cfg;
	int O = c->obs_dim, A = c->act_dim;
	double amean = 0, astd = 1, loss = 0, pg = 0, vl_sum = 0, h = 0, okl = 0, kl = 0, cf = 0;
	const float *pout, *vout;
	size_t j;

	for (j = 0; j < M; j++)
		memcpy(a->mb_obs + j * O, a->obs + (size_t)ix[j] * O, sizeof(float) * O);
	if (c->norm_adv) {
		double ss = 0;

		for (j = 0; j < M; j++)
			amean += a->adv[ix[j]];
		amean /= M;
		for (j = 0; j < M; j++)
			ss += (a->adv[ix[j]] - amean) * (a->adv[ix[j]] - amean);
		/* torch.std is the unbiased estimate. */
		astd = sqrt(ss / (M - 1)) + 1e-8;
	}
	pout = kp_mlp_forward(&a->actor, a->mb_obs, M);
	vout = kp_mlp_forward(&a->critic, a->mb_obs, M);
	if (!pout || !vout)
		return NAN;
	kp_mlp_zero_grad(&a->actor);
	kp_mlp_zero_grad(&a->critic);
	memset(a->logstd_grad, 0, sizeof(float) * A);
	for (j = 0; j < M; j++) {
		size_t k = ix[j];
		double adv = c->norm_adv ? (a->adv[k] - amean) / astd : a->adv[k];
		double z[KP_MLP_MAX_WIDTH], g[KP_MLP_MAX_WIDTH], l, dv, vl;
		struct kp_ppo_sample smp;
		int d;

		for (d = 0; d < A; d++)
			z[d] = pout[j * A + d];
		if (c->continuous) {
			double ls[KP_MLP_MAX_WIDTH], x[KP_MLP_MAX_WIDTH], gls[KP_MLP_MAX_WIDTH];

			for (d = 0; d < A; d++) {
				ls[d] = a->logstd[d];
				x[d] = a->act[k * A + d];
			}
			l = kp_ppo_sample_loss_gauss(z, ls, x, A, a->logp[k], adv, c->clip_coef,
						     c->ent_coef, g, gls, &smp);
			for (d = 0; d < A; d++)
				a->logstd_grad[d] += gls[d] / M;
		} else {
			l = kp_ppo_sample_loss_cat(z, A, (int)a->act[k * A], a->logp[k], adv,
						   c->clip_coef, c->ent_coef, g, &smp);
		}
		/* The loss is a mean over the minibatch: every gradient gets 1/M. */
		for (d = 0; d < A; d++)
			a->mb_dout[j * A + d] = g[d] / M;
		vl = kp_ppo_value_loss(vout[j], a->val[k], a->ret[k],
				       c->clip_vloss ? c->clip_coef : 0, &dv);
		a->mb_dv[j] = c->vf_coef * dv / M;
		loss += l + c->vf_coef * vl;
		pg += smp.pg_loss;
		vl_sum += vl;
		h += smp.entropy;
		okl += -smp.logratio;
		kl += (smp.ratio - 1) - smp.logratio;
		cf += fabs(smp.ratio - 1) > c->clip_coef;
	}
	kp_mlp_backward(&a->actor, a->mb_dout);
	kp_mlp_backward(&a->critic, a->mb_dv);
	if (sum) {
		sum->pg += pg / M;
		sum->v += vl_sum / M;
		sum->h += h / M;
		sum->okl += okl / M;
		sum->kl += kl / M;
		sum->cf += cf / M;
	}
	loss /= M;
	return isfinite(loss) ? loss : NAN;
}

/* One gradient step on the samples ix[0..M): loss, backward, clip, Adam. */
static int minibatch_step(struct kp_ppo *a, const uint32_t *ix, size_t M, struct mb_sums *sum)
{
	const struct kp_ppo_config *c = &a->cfg;
	struct kp_vec vecs[3];
	int nvec = 0;

	if (isnan(minibatch_grad(a, ix, M, sum))) {
		kp_err("ppo: non-finite loss at update %ld; weights left unchanged",
		       a->iteration + 1);
		return -EDOM;
	}
	vecs[nvec++] = (struct kp_vec){ a->actor.grads, a->actor.nparams };
	vecs[nvec++] = (struct kp_vec){ a->critic.grads, a->critic.nparams };
	if (c->continuous)
		vecs[nvec++] = (struct kp_vec){ a->logstd_grad, (size_t)c->act_dim };
	sum->grad_norm = c->max_grad_norm > 0 ?
		kp_clip_grad_norm(vecs, nvec, c->max_grad_norm) : kp_grad_norm(vecs, nvec);
	if (!isfinite(sum->grad_norm)) {
		kp_err("ppo: non-finite gradient at update %ld; weights left unchanged",
		       a->iteration + 1);
		return -EDOM;
	}
	kp_adam_step(&a->opt_actor, a->actor.params, a->actor.grads);
	kp_adam_step(&a->opt_critic, a->critic.params, a->critic.grads);
	if (c->continuous)
		kp_adam_step(&a->opt_logstd, a->logstd, a->logstd_grad);
	return 0;
}

double kp_ppo_minibatch_grad(struct kp_ppo *a, const uint32_t *ix, size_t M)
{
	size_t B = (size_t)a->cfg.num_envs * a->cfg.num_steps, j;

	/* Scratch holds one configured minibatch; indices must be recorded samples. */
	if (M < 2 || M > B / a->cfg.num_minibatches)
		return NAN;
	for (j = 0; j < M; j++)
		if (ix[j] >= (size_t)a->t * a->cfg.num_envs)
			return NAN;
	return minibatch_grad(a, ix, M, NULL);
}

int kp_ppo_advantages(struct kp_ppo *a, const float *next_obs)
{
	const struct kp_ppo_config *c = &a->cfg;
	int E = c->num_envs, O = c->obs_dim, e;

	if (a->t < c->num_steps) {
		kp_err("ppo: update with %d of %d rollout steps", a->t, c->num_steps);
		return -EAGAIN;
	}
	if (!finite_obs(next_obs, (size_t)E * O))
		return -EDOM;
	normalize_obs(a, next_obs, a->nobs, E, false);
	for (e = 0; e < E; e++)
		kp_mlp_infer(&a->critic, a->nobs + (size_t)e * O, &a->last_val[e]);
	kp_gae(c->num_steps, E, a->rew, a->val, a->term, a->trunc, a->trunc_val,
	       a->last_val, c->gamma, c->gae_lambda, a->adv, a->ret);
	return 0;
}

void kp_ppo_rollout(const struct kp_ppo *a, struct kp_ppo_rollout *r)
{
	r->len = a->t * a->cfg.num_envs;
	r->obs = a->obs;
	r->act = a->act;
	r->logprob = a->logp;
	r->value = a->val;
	r->adv = a->adv;
	r->ret = a->ret;
}

float *kp_ppo_logstd_grad(struct kp_ppo *a) { return a->logstd_grad; }

int kp_ppo_update(struct kp_ppo *a, const float *next_obs, struct kp_ppo_stats *st)
{
	const struct kp_ppo_config *c = &a->cfg;
	int epoch, mb, err;
	size_t B = (size_t)c->num_envs * c->num_steps, M = B / c->num_minibatches, i;
	struct mb_sums sum = { 0 }, last_epoch = { 0 };
	struct kp_ppo_stats s = { 0 };
	double lr = c->lr, vy;
	long nmb = 0;

	err = kp_ppo_advantages(a, next_obs);
	if (err)
		return err;

	/* CleanRL: lr = (1 - (iteration - 1) / num_iterations) * lr0. */
	if (c->anneal_lr) {
		long iters = c->total_steps / (long)B;
		double frac = iters > 0 ? 1.0 - (double)a->iteration / iters : 0;

		lr = frac > 0 ? frac * c->lr : 0;
	}
	a->opt_actor.lr = a->opt_critic.lr = a->opt_logstd.lr = lr;

	for (i = 0; i < B; i++)
		a->idx[i] = i;
	for (epoch = 0; epoch < c->update_epochs; epoch++) {
		struct mb_sums before = sum;

		kp_rng_shuffle(&a->rng, a->idx, B);
		for (mb = 0; mb < c->num_minibatches; mb++) {
			err = minibatch_step(a, a->idx + (size_t)mb * M, M, &sum);
			if (err)
				return err;
			nmb++;
		}
		s.epochs = epoch + 1;
		last_epoch.kl = (sum.kl - before.kl) / c->num_minibatches;
		if (c->target_kl > 0 && last_epoch.kl > c->target_kl)
			break;
	}
	if (!kp_all_finite(a->actor.params, a->actor.nparams) ||
	    !kp_all_finite(a->critic.params, a->critic.nparams) ||
	    !kp_all_finite(a->logstd, c->act_dim)) {
		kp_err("ppo: non-finite weights after update %ld; reload a checkpoint",
		       a->iteration + 1);
		return -EDOM;
	}
	a->iteration++;
	a->t = 0;

	s.iteration = a->iteration;
	s.global_step = a->global_step;
	s.lr = lr;
	s.policy_loss = sum.pg / nmb;
	s.value_loss = sum.v / nmb;
	s.entropy = sum.h / nmb;
	s.old_approx_kl = sum.okl / nmb;
	s.approx_kl = last_epoch.kl;
	s.clipfrac = sum.cf / nmb;
	s.grad_norm = sum.grad_norm;
	vy = variance(a->ret, B);
	for (i = 0; i < B; i++)
		a->adv[i] = a->ret[i] - a->val[i];	/* advantages are spent: reuse */
	s.explained_var = vy == 0 ? NAN : 1 - variance(a->adv, B) / vy;
	if (st)
		*st = s;
	return 0;
}

static void put_adam(struct kp_ckpt_writer *w, const struct kp_adam *o)
{
	kp_ckpt_put_u64(w, o->t);
	kp_ckpt_put_f32s(w, o->m, o->n);
	kp_ckpt_put_f32s(w, o->v, o->n);
}

static void get_adam(struct kp_ckpt_reader *r, struct kp_adam *o)
{
	o->t = kp_ckpt_get_u64(r);
	kp_ckpt_get_f32s(r, o->m, o->n);
	kp_ckpt_get_f32s(r, o->v, o->n);
}

static void put_rms(struct kp_ckpt_writer *w, const struct kp_rms *s)
{
	kp_ckpt_put_f64(w, s->count);
	kp_ckpt_put_f64s(w, s->mean, s->dim);
	kp_ckpt_put_f64s(w, s->var, s->dim);
}

static void get_rms(struct kp_ckpt_reader *r, struct kp_rms *s)
{
	s->count = kp_ckpt_get_f64(r);
	kp_ckpt_get_f64s(r, s->mean, s->dim);
	kp_ckpt_get_f64s(r, s->var, s->dim);
}

/* The whole agent but the partial rollout: a loaded agent starts a fresh one. */
int kp_ppo_save(const struct kp_ppo *a, const char *path)
{
	const struct kp_ppo_config *c = &a->cfg;
	struct kp_ckpt_writer w = { 0 };
	int i, err;

	kp_ckpt_put_u32(&w, c->obs_dim);
	kp_ckpt_put_u32(&w, c->act_dim);
	kp_ckpt_put_u32(&w, c->continuous);
	kp_ckpt_put_u32(&w, c->nhidden);
	for (i = 0; i < c->nhidden; i++)
		kp_ckpt_put_u32(&w, c->hidden[i]);
	kp_ckpt_put_u32(&w, c->num_envs);
	kp_ckpt_put_u32(&w, c->num_steps);
	kp_ckpt_put_u32(&w, c->num_minibatches);
	kp_ckpt_put_u32(&w, c->update_epochs);
	kp_ckpt_put_f64(&w, c->lr);
	kp_ckpt_put_u32(&w, c->anneal_lr);
	kp_ckpt_put_u64(&w, c->total_steps);
	kp_ckpt_put_f64(&w, c->gamma);
	kp_ckpt_put_f64(&w, c->gae_lambda);
	kp_ckpt_put_u32(&w, c->norm_adv);
	kp_ckpt_put_f64(&w, c->clip_coef);
	kp_ckpt_put_u32(&w, c->clip_vloss);
	kp_ckpt_put_f64(&w, c->ent_coef);
	kp_ckpt_put_f64(&w, c->vf_coef);
	kp_ckpt_put_f64(&w, c->max_grad_norm);
	kp_ckpt_put_f64(&w, c->target_kl);
	kp_ckpt_put_u32(&w, c->norm_obs);
	kp_ckpt_put_f64(&w, c->obs_clip);
	kp_ckpt_put_u32(&w, c->norm_reward);
	kp_ckpt_put_f64(&w, c->reward_clip);
	kp_ckpt_put_f64(&w, c->init_logstd);
	kp_ckpt_put_f64(&w, c->adam_eps);
	kp_ckpt_put_u64(&w, c->seed);

	kp_ckpt_put_u64(&w, a->iteration);
	kp_ckpt_put_u64(&w, a->global_step);
	kp_ckpt_put_rng(&w, &a->rng);
	kp_ckpt_put_f32s(&w, a->actor.params, a->actor.nparams);
	kp_ckpt_put_f32s(&w, a->critic.params, a->critic.nparams);
	kp_ckpt_put_f32s(&w, a->logstd, c->act_dim);
	put_adam(&w, &a->opt_actor);
	put_adam(&w, &a->opt_critic);
	put_adam(&w, &a->opt_logstd);
	put_rms(&w, &a->obs_rms);
	put_rms(&w, &a->ret_rms);
	kp_ckpt_put_f64s(&w, a->ret_acc, c->num_envs);
	err = kp_ckpt_save(path, KP_CKPT_PPO, &w);
	kp_ckpt_writer_free(&w);
	return err;
}

int kp_ppo_load(struct kp_ppo **out, const char *path)
{
	struct kp_ckpt_reader r;
	struct kp_ppo_config c = { 0 };
	struct kp_ppo *a = NULL;
	uint8_t *buf;
	int i, err;

	*out = NULL;
	err = kp_ckpt_load(path, KP_CKPT_PPO, &buf, &r);
	if (err)
		return err;
	c.obs_dim = kp_ckpt_get_u32(&r);
	c.act_dim = kp_ckpt_get_u32(&r);
	c.continuous = kp_ckpt_get_u32(&r);
	c.nhidden = kp_ckpt_get_u32(&r);
	if (c.nhidden < 0 || c.nhidden > KP_MLP_MAX_LAYERS - 1) {
		err = -EBADMSG;
		goto bad;
	}
	for (i = 0; i < c.nhidden; i++)
		c.hidden[i] = kp_ckpt_get_u32(&r);
	c.num_envs = kp_ckpt_get_u32(&r);
	c.num_steps = kp_ckpt_get_u32(&r);
	c.num_minibatches = kp_ckpt_get_u32(&r);
	c.update_epochs = kp_ckpt_get_u32(&r);
	c.lr = kp_ckpt_get_f64(&r);
	c.anneal_lr = kp_ckpt_get_u32(&r);
	c.total_steps = kp_ckpt_get_u64(&r);
	c.gamma = kp_ckpt_get_f64(&r);
	c.gae_lambda = kp_ckpt_get_f64(&r);
	c.norm_adv = kp_ckpt_get_u32(&r);
	c.clip_coef = kp_ckpt_get_f64(&r);
	c.clip_vloss = kp_ckpt_get_u32(&r);
	c.ent_coef = kp_ckpt_get_f64(&r);
	c.vf_coef = kp_ckpt_get_f64(&r);
	c.max_grad_norm = kp_ckpt_get_f64(&r);
	c.target_kl = kp_ckpt_get_f64(&r);
	c.norm_obs = kp_ckpt_get_u32(&r);
	c.obs_clip = kp_ckpt_get_f64(&r);
	c.norm_reward = kp_ckpt_get_u32(&r);
	c.reward_clip = kp_ckpt_get_f64(&r);
	c.init_logstd = kp_ckpt_get_f64(&r);
	c.adam_eps = kp_ckpt_get_f64(&r);
	c.seed = kp_ckpt_get_u64(&r);
	if (r.err) {
		err = r.err;
		goto bad;
	}
	err = alloc_agent(&a, &c);
	if (err)
		goto bad;
	a->iteration = kp_ckpt_get_u64(&r);
	a->global_step = kp_ckpt_get_u64(&r);
	kp_ckpt_get_rng(&r, &a->rng);
	kp_ckpt_get_f32s(&r, a->actor.params, a->actor.nparams);
	kp_ckpt_get_f32s(&r, a->critic.params, a->critic.nparams);
	kp_ckpt_get_f32s(&r, a->logstd, c.act_dim);
	get_adam(&r, &a->opt_actor);
	get_adam(&r, &a->opt_critic);
	get_adam(&r, &a->opt_logstd);
	get_rms(&r, &a->obs_rms);
	get_rms(&r, &a->ret_rms);
	kp_ckpt_get_f64s(&r, a->ret_acc, c.num_envs);
	err = r.err;
	if (!err && r.off != r.len)
		err = -EBADMSG;
	if (err)
		goto bad;
	free(buf);
	*out = a;
	return 0;
bad:
	kp_err("checkpoint %s: PPO payload does not match its header", path);
	kp_ppo_destroy(a);
	free(buf);
	return err == -ENOMEM ? err : -EBADMSG;
}
