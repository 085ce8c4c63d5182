/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Proximal Policy Optimisation (Schulman et al. 2017) with the details of
 * CleanRL's ppo.py / ppo_continuous_action.py: separate actor and critic
 * MLPs, orthogonal init, GAE(lambda), clipped surrogate and value losses,
 * entropy bonus, per-minibatch advantage normalisation, global gradient
 * clipping, Adam with linear learning-rate annealing, running observation
 * normalisation and reward scaling.
 *
 * Step-wise use, one call per environment step (num_envs environments in
 * lock step; an online tuner uses num_envs = 1):
 *
 *	kp_ppo_config_default(&cfg, obs_dim, act_dim, continuous);
 *	kp_ppo_create(&agent, &cfg);
 *	for (;;) {
 *		kp_ppo_act(agent, obs, action, NULL, NULL);
 *		... apply action, observe reward, terminated, truncated, obs ...
 *		if (kp_ppo_record(agent, reward, term, trunc, final_obs) == 1)
 *			kp_ppo_update(agent, obs, &stats);	// rollout full
 *	}
 *
 * Everything is deterministic given cfg.seed. Functions return 0 (or the
 * documented positive value) or a negative errno; -EDOM means a non-finite
 * number was met (observation, loss, gradient or weight): the update was not
 * applied or the agent must be reloaded from a checkpoint.
 */
#ifndef KPILOT_PPO_H
#define KPILOT_PPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "agent/mlp.h"

struct kp_ppo_config {
	int obs_dim;
	int act_dim;		/* discrete: number of actions; continuous: dimensions */
	bool continuous;	/* Gaussian over [-1, 1]^act_dim, else categorical */
	int nhidden;		/* hidden layers (2) */
	int hidden[KP_MLP_MAX_LAYERS - 1];	/* their widths (64, 64) */
	int num_envs;		/* environments stepped together (1) */
	int num_steps;		/* steps per environment per rollout (128; 2048 continuous) */
	int num_minibatches;	/* (4; 32 continuous) */
	int update_epochs;	/* (4; 10 continuous) */
	double lr;		/* Adam learning rate (2.5e-4; 3e-4 continuous) */
	bool anneal_lr;		/* linear decay to 0 over total_steps (true) */
	long total_steps;	/* env steps the annealing spans (500000; 1000000) */
	double gamma;		/* discount (0.99) */
	double gae_lambda;	/* (0.95) */
	bool norm_adv;		/* per-minibatch advantage normalisation (true) */
	double clip_coef;	/* surrogate (and value) clipping (0.2) */
	bool clip_vloss;	/* clipped value loss (true) */
	double ent_coef;	/* entropy bonus (0.01; 0 continuous) */
	double vf_coef;		/* value loss weight (0.5) */
	double max_grad_norm;	/* global gradient-norm clip, <= 0 off (0.5) */
	double target_kl;	/* stop the epochs when approx_kl exceeds it, <= 0 off (0) */
	bool norm_obs;		/* running observation normalisation (false; true continuous) */
	double obs_clip;	/* clip of normalised observations (10) */
	bool norm_reward;	/* scale rewards by the std of the discounted return (false; true continuous) */
	double reward_clip;	/* clip of scaled rewards (10) */
	double init_logstd;	/* initial log-std of the Gaussian (0) */
	double adam_eps;	/* (1e-5) */
	uint64_t seed;		/* (1) */
};

struct kp_ppo_stats {
	long iteration;		/* updates done, this one included */
	long global_step;	/* env steps recorded (over all envs) */
	double lr;		/* learning rate this update used */
	double policy_loss;	/* clipped surrogate, mean over minibatches */
	double value_loss;
	double entropy;
	double old_approx_kl;	/* mean(-logratio) */
	double approx_kl;	/* mean((ratio - 1) - logratio), last epoch */
	double clipfrac;	/* share of samples with |ratio - 1| > clip */
	double explained_var;	/* 1 - Var(returns - values) / Var(returns) */
	double grad_norm;	/* global norm before clipping, last minibatch */
	int epochs;		/* epochs run (< update_epochs after a target-KL stop) */
};

struct kp_ppo;

/* CleanRL defaults: ppo.py for discrete, ppo_continuous_action.py for continuous. */
void kp_ppo_config_default(struct kp_ppo_config *cfg, int obs_dim, int act_dim, bool continuous);
/*
 * Online tuning with trial budgets in the hundreds, one environment,
 * continuous knobs: rollouts of 32 trials in 4 minibatches, 10 epochs,
 * lr 3e-3 without annealing, gamma 0.5 (a trial's reward says little about
 * trials far ahead), lambda 0.9, log-std starting at -0.5, normalised
 * observations, no entropy bonus. The toy tuning selftest runs this preset.
 */
void kp_ppo_config_tuning(struct kp_ppo_config *cfg, int obs_dim, int act_dim);
/* 0, -EINVAL (inconsistent config, logged) or -ENOMEM. */
int kp_ppo_create(struct kp_ppo **out, const struct kp_ppo_config *cfg);
void kp_ppo_destroy(struct kp_ppo *a);
const struct kp_ppo_config *kp_ppo_config(const struct kp_ppo *a);

/*
 * Sample actions for num_envs raw observations (num_envs x obs_dim) and
 * remember them for the rollout. action: num_envs x act_dim values in
 * [-1, 1] (continuous; the unclipped sample is kept for the log-prob) or
 * num_envs action indices stored as floats (discrete). logprob and value
 * (num_envs each) may be NULL. -EBUSY if the rollout is full (update first).
 */
int kp_ppo_act(struct kp_ppo *a, const float *obs, float *action, float *logprob, float *value);
/*
 * As kp_ppo_act, but the (continuous) action was chosen elsewhere, e.g. by
 * a planner over the policy's proposals: it is recorded as given, with its
 * log-prob under the current policy, so PPO learns from what was done.
 */
int kp_ppo_act_given(struct kp_ppo *a, const float *obs, const float *action, float *logprob);
/* The policy's mode (argmax or clipped mean), no exploration, nothing recorded. */
int kp_ppo_act_deterministic(struct kp_ppo *a, const float *obs, float *action);
/*
 * Record the outcome of the last act(). terminated/truncated may be NULL
 * (all false). final_obs (num_envs x obs_dim raw observations) must be given
 * when any env is truncated: the value of its last state is bootstrapped.
 * Returns 1 when the rollout is full, 0 otherwise.
 */
int kp_ppo_record(struct kp_ppo *a, const float *reward, const bool *terminated,
		  const bool *truncated, const float *final_obs);
/*
 * Learn from the full rollout; next_obs (num_envs x obs_dim, raw) is what the
 * environments show now, used to bootstrap unfinished episodes. stats may be NULL.
 */
int kp_ppo_update(struct kp_ppo *a, const float *next_obs, struct kp_ppo_stats *stats);

int kp_ppo_save(const struct kp_ppo *a, const char *path);
int kp_ppo_load(struct kp_ppo **out, const char *path);

/* Pieces exposed for inspection, the selftests and the benchmark. */
struct kp_mlp *kp_ppo_actor(struct kp_ppo *a);
struct kp_mlp *kp_ppo_critic(struct kp_ppo *a);
float *kp_ppo_logstd(struct kp_ppo *a);
float *kp_ppo_logstd_grad(struct kp_ppo *a);

/* The rollout so far, index t * num_envs + e; observations normalised. */
struct kp_ppo_rollout {
	int len;		/* samples recorded */
	const float *obs;	/* len x obs_dim */
	const float *act;	/* len x act_dim (discrete: the index in [0]) */
	const float *logprob, *value;
	const float *adv, *ret;	/* valid after kp_ppo_advantages() */
};
void kp_ppo_rollout(const struct kp_ppo *a, struct kp_ppo_rollout *r);
/* GAE over the full rollout, as kp_ppo_update starts by doing. */
int kp_ppo_advantages(struct kp_ppo *a, const float *next_obs);
/*
 * The minibatch loss (policy - ent_coef * entropy + vf_coef * value, each a
 * mean over the M samples ix[]) and its gradient, left in the actor's, the
 * critic's and kp_ppo_logstd_grad()'s arrays; no step taken. NaN if the loss
 * is not finite. After kp_ppo_advantages().
 */
double kp_ppo_minibatch_grad(struct kp_ppo *a, const uint32_t *ix, size_t M);

/*
 * GAE(lambda) over a T x E rollout (index t * E + e). An episode that
 * terminated at t bootstraps nothing; one truncated at t bootstraps
 * trunc_value[t * E + e], the value of its final observation; the last step
 * bootstraps last_value[e]. Writes advantages and returns (= adv + value).
 */
void kp_gae(int T, int E, const float *reward, const float *value,
	    const uint8_t *terminated, const uint8_t *truncated,
	    const float *trunc_value, const float *last_value,
	    double gamma, double lambda, float *adv, float *ret);

/* Per-sample loss terms. */
struct kp_ppo_sample {
	double logprob, logratio, ratio, entropy, pg_loss;
};

/* log softmax(logits)[action]; *entropy (may be NULL) gets the entropy. */
double kp_logprob_categorical(const double *logits, int n, int action, double *entropy);
/* Diagonal Gaussian log-density of x, entropy too (may be NULL). */
double kp_logprob_gaussian(const double *mean, const double *logstd, const double *x,
			   int d, double *entropy);
/* max(-adv * r, -adv * clip(r, 1 - c, 1 + c)), r = exp(logratio); d/dlogratio too. */
double kp_ppo_clip_loss(double logratio, double adv, double clip, double *dlogratio);
/* 0.5 * (v - ret)^2, or its clipped max against old_v when clip > 0; d/dv too. */
double kp_ppo_value_loss(double v, double old_v, double ret, double clip, double *dv);
/*
 * pg_loss - ent_coef * entropy for one sample and its gradient with respect
 * to the logits (categorical) or to the mean and log-std (Gaussian).
 */
double kp_ppo_sample_loss_cat(const double *logits, int n, int action, double old_logprob,
			      double adv, double clip, double ent_coef, double *dlogits,
			      struct kp_ppo_sample *s);
double kp_ppo_sample_loss_gauss(const double *mean, const double *logstd, const double *x,
				int d, double old_logprob, double adv, double clip,
				double ent_coef, double *dmean, double *dlogstd,
				struct kp_ppo_sample *s);

#endif
