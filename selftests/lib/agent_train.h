/* SPDX-License-Identifier: GPL-2.0 */
/* Training loops shared by the agent's proof-of-learning selftests. */
#ifndef KPILOT_SELFTESTS_AGENT_TRAIN_H
#define KPILOT_SELFTESTS_AGENT_TRAIN_H

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "env/cartpole.h"
#include "agent/ppo.h"

#define MAX_ENVS 64

/*
 * Train PPO on cfg->num_envs CartPoles (auto-reset, env e seeded seed+e)
 * until the mean of the last `window` episode returns reaches threshold.
 * Returns the env steps it took, or minus the steps run if max_steps passed
 * first or the agent failed (then *mean is NaN). *mean gets the final mean.
 */
static inline long train_ppo_cartpole(const struct kp_ppo_config *cfg, long max_steps,
				      double threshold, int window, double *mean)
{
	struct kp_cartpole env[MAX_ENVS];
	float obs[MAX_ENVS * 4], fin[MAX_ENVS * 4], act[MAX_ENVS], rew[MAX_ENVS];
	bool term[MAX_ENVS], trunc[MAX_ENVS];
	double ep_ret[MAX_ENVS] = { 0 };
	struct kp_episodes eps;
	struct kp_ppo *a;
	long steps = 0, result = 0;
	bool failed = false;
	int E = cfg->num_envs, e, err;

	if (E > MAX_ENVS || kp_ppo_create(&a, cfg)) {
		if (mean)
			*mean = NAN;
		return -1;
	}
	kp_episodes_init(&eps, window);
	for (e = 0; e < E; e++) {
		kp_cartpole_seed(&env[e], cfg->seed * 1000 + e);
		kp_cartpole_reset(&env[e], obs + 4 * e);
	}
	while (steps < max_steps) {
		err = kp_ppo_act(a, obs, act, NULL, NULL);
		if (err) {
			failed = true;
			break;
		}
		for (e = 0; e < E; e++) {
			rew[e] = kp_cartpole_step(&env[e], (int)act[e], obs + 4 * e,
						  &term[e], &trunc[e]);
			ep_ret[e] += rew[e];
			memcpy(fin + 4 * e, obs + 4 * e, sizeof(float) * 4);
			if (term[e] || trunc[e]) {
				kp_episodes_add(&eps, ep_ret[e]);
				ep_ret[e] = 0;
				kp_cartpole_reset(&env[e], obs + 4 * e);
			}
		}
		steps += E;
		err = kp_ppo_record(a, rew, term, trunc, fin);
		if (err == 1)
			err = kp_ppo_update(a, obs, NULL);
		if (err < 0) {
			failed = true;
			break;
		}
		if (kp_episodes_reached(&eps, threshold)) {
			result = steps;
			break;
		}
	}
	if (!result)
		result = -steps;
	if (mean)
		*mean = failed ? NAN : kp_episodes_mean(&eps);
	kp_ppo_destroy(a);
	return result;
}

#endif
