/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A tuning-shaped toy task for the continuous agent: each step is one
 * "benchmark trial" of a 4-knob configuration a in [-1, 1]^4, scored by a
 * noisy concave reward with its optimum away from the centre of the box:
 *
 *	r(a) = 1 - sum_d w_d (a_d - a*_d)^2 + N(0, noise^2)
 *
 * The observation is the last action and the last reward (5 numbers), as an
 * online tuner sees them. Episodes last 16 trials and restart from the box
 * centre. The best reward is 1 at a*.
 */
#ifndef KPILOT_TOYTUNE_H
#define KPILOT_TOYTUNE_H

#include <stdbool.h>
#include "agent/rng.h"
#include "env/env.h"

#define KP_TOYTUNE_DIM 4
#define KP_TOYTUNE_OBS (KP_TOYTUNE_DIM + 1)
#define KP_TOYTUNE_EPISODE 16

struct kp_toytune {
	double opt[KP_TOYTUNE_DIM], w[KP_TOYTUNE_DIM], noise;
	float obs[KP_TOYTUNE_OBS];
	int steps;
	struct kp_rng rng;
};

void kp_toytune_init(struct kp_toytune *t, uint64_t seed, double noise);
void kp_toytune_reset(struct kp_toytune *t, float *obs);
/* One trial of action (clipped to the box). Returns the noisy reward. */
float kp_toytune_step(struct kp_toytune *t, const float *action, float *obs, bool *truncated);
/* The noiseless reward of action: what the tuner really achieved. */
double kp_toytune_value(const struct kp_toytune *t, const float *action);
/* The best value any action reaches (1). */
double kp_toytune_optimum(const struct kp_toytune *t);

/* t as an environment (env/env.h): done at the end of each episode. t must be initialised. */
void kp_toytune_env(struct kp_toytune *t, struct kp_env *e);

#endif
