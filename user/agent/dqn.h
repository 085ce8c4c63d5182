/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Deep Q-Network (Mnih et al. 2015) for small discrete action spaces: an
 * MLP Q-function, a uniform replay buffer, a target network synced (or
 * Polyak-averaged) every target_update steps, epsilon-greedy exploration with
 * multiplicative decay max(eps_end, eps * eps_decay) after each gradient
 * step, MSE or Huber TD loss, global gradient-norm clipping. With
 * explore = false ("production mode") the agent only exploits.
 *
 *	kp_dqn_config_default(&cfg, obs_dim, n_actions);
 *	kp_dqn_create(&q, &cfg);
 *	for (;;) {
 *		kp_dqn_act(q, obs, &action);
 *		... apply, observe reward, next_obs, terminated ...
 *		kp_dqn_record(q, obs, action, reward, next_obs, terminated);
 *	}
 *
 * next_obs is the observation the action led to (the final observation
 * when the episode ended); a truncated episode is simply not terminated, so
 * its value is bootstrapped. Deterministic given cfg.seed; -EDOM on any
 * non-finite observation, reward, loss or weight.
 */
#ifndef KPILOT_DQN_H
#define KPILOT_DQN_H

#include <stdbool.h>
#include <stdint.h>
#include "agent/mlp.h"

struct kp_dqn_config {
	int obs_dim;
	int n_actions;
	int nhidden;		/* hidden layers (2) */
	int hidden[KP_MLP_MAX_LAYERS - 1];	/* widths (64, 64) */
	int buffer_size;	/* replay capacity (10000) */
	int batch_size;		/* (128) */
	double lr;		/* Adam (2.5e-4) */
	double adam_eps;	/* (1e-8, torch's default) */
	double gamma;		/* (0.99) */
	int learning_starts;	/* transitions before the first gradient step (1000) */
	int train_freq;		/* env steps per gradient step (4) */
	int target_update;	/* env steps between target syncs (500) */
	double tau;		/* 1: copy; < 1: Polyak averaging (1) */
	double eps_start;	/* (1.0) */
	double eps_end;		/* (0.01) */
	double eps_decay;	/* per gradient step (0.995) */
	bool explore;		/* false: greedy only, "production mode" (true) */
	bool huber;		/* Huber (smooth L1) TD loss, else MSE (false) */
	double max_grad_norm;	/* <= 0 off (10) */
	uint64_t seed;		/* (1) */
};

struct kp_dqn_stats {
	long steps;		/* transitions recorded */
	long updates;		/* gradient steps */
	double epsilon;
	double loss;		/* last gradient step's TD loss */
	double q_mean;		/* mean Q(s, a) of that batch */
	long buffered;		/* transitions in the replay buffer */
};

struct kp_dqn;

void kp_dqn_config_default(struct kp_dqn_config *cfg, int obs_dim, int n_actions);
int kp_dqn_create(struct kp_dqn **out, const struct kp_dqn_config *cfg);
void kp_dqn_destroy(struct kp_dqn *d);
/* Epsilon-greedy action (greedy when explore is off). */
int kp_dqn_act(struct kp_dqn *d, const float *obs, int *action);
/* argmax_a Q(obs, a), no exploration. */
int kp_dqn_act_greedy(const struct kp_dqn *d, const float *obs, int *action);
/*
 * Store one transition, then learn when due. Returns 1 if a gradient step
 * ran, 0 if not, or a negative errno.
 */
int kp_dqn_record(struct kp_dqn *d, const float *obs, int action, float reward,
		  const float *next_obs, bool terminated);
void kp_dqn_stats(const struct kp_dqn *d, struct kp_dqn_stats *st);
struct kp_mlp *kp_dqn_qnet(struct kp_dqn *d);
/* The configuration in force (a loaded checkpoint's sizes: callers check them). */
const struct kp_dqn_config *kp_dqn_config_of(const struct kp_dqn *d);
/* Production mode on or off after creation or loading (a checkpoint keeps its own). */
void kp_dqn_set_explore(struct kp_dqn *d, bool on);

int kp_dqn_save(const struct kp_dqn *d, const char *path);
int kp_dqn_load(struct kp_dqn **out, const char *path);

#endif
