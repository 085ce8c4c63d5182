/* SPDX-License-Identifier: GPL-2.0 */
/*
 * PPO internals shared by ppo.c (rollout, GAE, update loop), ppo_loss.c
 * (losses and their gradients) and ppo_ckpt.c (save and load).
 */
#ifndef KPILOT_PPO_IMPL_H
#define KPILOT_PPO_IMPL_H

#include "agent/adam.h"
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

/* Loss statistics summed over minibatches (each term a minibatch mean). */
struct kp_ppo_sums {
	double pg, v, h, okl, kl, cf, grad_norm;
};

/* Everything but the weights' values: shapes, buffers, optimisers. */
int kp_ppo_alloc(struct kp_ppo **out, const struct kp_ppo_config *cfg);
/*
 * Loss over the samples ix[0..M) and its gradient in the actor's, the
 * critic's and the log-std's grads; sums the statistics into sum if not
 * NULL. Returns the loss (NaN if not finite).
 */
double kp_ppo_mb_grad(struct kp_ppo *a, const uint32_t *ix, size_t M, struct kp_ppo_sums *sum);

#endif
