/* SPDX-License-Identifier: GPL-2.0 */
/*
 * CartPole-v1 with gym's exact dynamics and constants (Euler integration,
 * float64 state, float32 observations, reward 1 per step, termination at
 * |x| > 2.4 or |theta| > 12 degrees, truncation after 500 steps). The agent's
 * proof-of-learning environment.
 */
#ifndef KPILOT_CARTPOLE_H
#define KPILOT_CARTPOLE_H

#include <stdbool.h>
#include "agent/rng.h"
#include "env/env.h"

#define KP_CARTPOLE_OBS 4
#define KP_CARTPOLE_ACTIONS 2
#define KP_CARTPOLE_MAX_STEPS 500

struct kp_cartpole {
	double s[4];		/* x, x_dot, theta, theta_dot */
	int steps;
	struct kp_rng rng;
};

void kp_cartpole_seed(struct kp_cartpole *c, uint64_t seed);
void kp_cartpole_reset(struct kp_cartpole *c, float *obs);
/* action 0 pushes left, 1 right. Returns the reward (1). */
float kp_cartpole_step(struct kp_cartpole *c, int action, float *obs,
		       bool *terminated, bool *truncated);

/*
 * c as an environment (env/env.h): one discrete action, 0 or 1, in
 * action[0]; done when terminated or truncated. c must be seeded.
 */
void kp_cartpole_env(struct kp_cartpole *c, struct kp_env *e);

/* Mean of the last `window` episode returns (a ring buffer). */
struct kp_episodes {
	double ret[1024];
	int window, n, head;
	long count;
	double sum;
};

void kp_episodes_init(struct kp_episodes *e, int window);
void kp_episodes_add(struct kp_episodes *e, double ret);
/* Mean over the window, or over the episodes so far if fewer. -inf if none. */
double kp_episodes_mean(const struct kp_episodes *e);
/* True once `window` episodes completed and their mean >= threshold. */
bool kp_episodes_reached(const struct kp_episodes *e, double threshold);

#endif
