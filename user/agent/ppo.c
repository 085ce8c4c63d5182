// SPDX-License-Identifier: GPL-2.0
/* PPO: rollout buffer, GAE, minibatch update loop. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "lib/log.h"
#include "agent/ppo_impl.h"

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

/*
 * Every buffer besides the networks, optimisers and statistics, listed once
 * for allocation and release: X(member, count, element size), with E
 * environments, B samples per rollout, O and A the observation and action
 * widths, M rows per minibatch.
 */
#define PPO_BUFFERS(X)			\
	X(logstd, A, sizeof(float))	\
	X(logstd_grad, A, sizeof(float)) \
	X(ret_acc, E, sizeof(double))	\
	X(obs, B * O, sizeof(float))	\
	X(act, B * A, sizeof(float))	\
	X(logp, B, sizeof(float))	\
	X(val, B, sizeof(float))	\
	X(rew, B, sizeof(float))	\
	X(trunc_val, B, sizeof(float))	\
	X(adv, B, sizeof(float))	\
	X(ret, B, sizeof(float))	\
	X(term, B, 1)			\
	X(trunc, B, 1)			\
	X(idx, B, sizeof(uint32_t))	\
	X(nobs, E * O, sizeof(float))	\
	X(mb_obs, M * O, sizeof(float))	\
	X(mb_dout, M * A, sizeof(float)) \
	X(mb_dv, M, sizeof(float))	\
	X(last_val, E, sizeof(float))

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
#define FREE_BUF(member, count, size) free(a->member);
	PPO_BUFFERS(FREE_BUF)
#undef FREE_BUF
	free(a);
}

int kp_ppo_alloc(struct kp_ppo **out, const struct kp_ppo_config *cfg)
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
#define ALLOC_BUF(member, count, size) if (!(a->member = calloc(count, size))) goto fail;
	PPO_BUFFERS(ALLOC_BUF)
#undef ALLOC_BUF
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

	err = kp_ppo_alloc(&a, cfg);
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
	double z[KP_MLP_MAX_WIDTH], mx = logits[0], sum, u, c = 0;
	int i, pick = n - 1;

	for (i = 1; i < n; i++)
		if (logits[i] > mx)
			mx = logits[i];
	/* Seeded with the first term, the same sum as from 0, so cppcheck sees
	 * log() never gets 0 (the largest term is exp(0) = 1). */
	sum = z[0] = exp(logits[0] - mx);
	for (i = 1; i < n; i++) {
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

/* given (continuous only): record that action instead of sampling one. */
static int ppo_act(struct kp_ppo *a, const float *obs, const float *given, float *action,
		   float *logprob, float *value)
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
				double sd = exp(a->logstd[d]);
				double eps = given ? (given[(size_t)e * A + d] - out[d]) / sd :
					     kp_rng_gauss(&a->rng);

				act[d] = given ? given[(size_t)e * A + d] : out[d] + sd * eps;
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

int kp_ppo_act(struct kp_ppo *a, const float *obs, float *action, float *logprob, float *value)
{
	return ppo_act(a, obs, NULL, action, logprob, value);
}

int kp_ppo_act_given(struct kp_ppo *a, const float *obs, const float *action, float *logprob)
{
	float out[KP_MLP_MAX_WIDTH * 4];

	if (!a->cfg.continuous || a->cfg.num_envs * a->cfg.act_dim > (int)(sizeof(out) / sizeof(*out)))
		return -EINVAL;
	return ppo_act(a, obs, action, out, logprob, NULL);
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

/* One gradient step on the samples ix[0..M): loss, backward, clip, Adam. */
static int minibatch_step(struct kp_ppo *a, const uint32_t *ix, size_t M, struct kp_ppo_sums *sum)
{
	const struct kp_ppo_config *c = &a->cfg;
	struct kp_vec vecs[3];
	int nvec = 0;

	if (isnan(kp_ppo_mb_grad(a, ix, M, sum))) {
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
	struct kp_ppo_sums sum = { 0 }, last_epoch = { 0 };
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
		struct kp_ppo_sums before = sum;

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
