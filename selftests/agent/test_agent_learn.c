// SPDX-License-Identifier: GPL-2.0
/*
 * Proof of learning with fixed seeds: PPO and DQN on CartPole-v1, PPO on the
 * tuning-shaped toy task. Each run stops as soon as it meets its threshold;
 * the seeds of one test run on two threads.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <pthread.h>
#include <stdatomic.h>
#include "../lib/agent_train.h"
#include "agent/dqn.h"
#include "env/toytune.h"

#define NSEEDS 5

struct seeds {
	long (*run)(uint64_t seed, double *score);
	atomic_int next;
	long steps[NSEEDS];
	double score[NSEEDS];
};

static void *worker(void *p)
{
	struct seeds *s = p;
	int i;

	while ((i = atomic_fetch_add(&s->next, 1)) < NSEEDS)
		s->steps[i] = s->run(i + 1, &s->score[i]);
	return NULL;
}

/* Run seeds 1..5 on two threads; returns how many reached the threshold. */
static int run_seeds(const char *what, long (*run)(uint64_t, double *))
{
	struct seeds s = { .run = run };
	pthread_t t;
	int i, ok = 0;

	atomic_init(&s.next, 0);
	cr_assert_eq(pthread_create(&t, NULL, worker, &s), 0);
	worker(&s);
	pthread_join(t, NULL);
	for (i = 0; i < NSEEDS; i++) {
		cr_log_info("%s seed %d: %s after %ld steps (score %.3f)", what, i + 1,
			    s.steps[i] > 0 ? "reached" : "NOT reached", labs(s.steps[i]), s.score[i]);
		ok += s.steps[i] > 0;
	}
	return ok;
}

/*
 * CleanRL ppo.py hyperparameters (4 envs, lr annealed over 500k) plus the
 * running observation normalisation the design asks for; 100-episode mean
 * >= 475. (Without normalisation 4 of these 5 seeds pass; see agent.md.)
 */
static long ppo_cartpole(uint64_t seed, double *score)
{
	struct kp_ppo_config c;

	kp_ppo_config_default(&c, 4, 2, false);
	c.num_envs = 4;
	c.norm_obs = true;
	c.seed = seed;
	return train_ppo_cartpole(&c, 300000, 475, 100, score);
}

Test(agent_learn, ppo_cartpole_475_within_300k)
{
	int ok = run_seeds("ppo cartpole", ppo_cartpole);

	cr_expect_geq(ok, 4, "PPO reached 475 on %d of 5 seeds", ok);
}

/*
 * Defaults but a lighter learning schedule (a gradient step of 64 every 8
 * env steps, lr 1e-3, eps decay 0.99): as sample-efficient on CartPole and
 * a quarter of the compute. 100-episode mean >= 400.
 */
static long dqn_cartpole(uint64_t seed, double *score)
{
	struct kp_dqn_config c;
	struct kp_cartpole env;
	struct kp_episodes eps;
	struct kp_dqn *d;
	float obs[4], next[4];
	double ret = 0;
	long s, result = -300000;

	kp_dqn_config_default(&c, 4, 2);
	c.batch_size = 64;
	c.train_freq = 8;
	c.lr = 1e-3;
	c.eps_decay = 0.99;
	c.seed = seed;
	if (kp_dqn_create(&d, &c))
		return -1;
	kp_cartpole_seed(&env, seed * 1000);
	kp_cartpole_reset(&env, obs);
	kp_episodes_init(&eps, 100);
	for (s = 1; s <= 300000; s++) {
		bool term, trunc;
		float r;
		int a;

		if (kp_dqn_act(d, obs, &a))
			break;
		r = kp_cartpole_step(&env, a, next, &term, &trunc);
		ret += r;
		/* Truncation is not termination: the target bootstraps it. */
		if (kp_dqn_record(d, obs, a, r, next, term) < 0)
			break;
		memcpy(obs, next, sizeof(obs));
		if (term || trunc) {
			kp_episodes_add(&eps, ret);
			ret = 0;
			kp_cartpole_reset(&env, obs);
			if (kp_episodes_reached(&eps, 400)) {
				result = s;
				break;
			}
		}
	}
	*score = kp_episodes_mean(&eps);
	kp_dqn_destroy(d);
	return result;
}

Test(agent_learn, dqn_cartpole_400_within_300k)
{
	int ok = run_seeds("dqn cartpole", dqn_cartpole);

	cr_expect_geq(ok, 3, "DQN reached 400 on %d of 5 seeds", ok);
}

/* Mean true reward of a 16-trial deterministic session from the start state. */
static double tuning_quality(struct kp_ppo *a, const struct kp_toytune *env)
{
	struct kp_toytune t = *env;
	float obs[KP_TOYTUNE_OBS], act[KP_TOYTUNE_DIM];
	double sum = 0;
	bool trunc;
	int i;

	kp_toytune_reset(&t, obs);
	for (i = 0; i < KP_TOYTUNE_EPISODE; i++) {
		if (kp_ppo_act_deterministic(a, obs, act))
			return -INFINITY;
		sum += kp_toytune_value(&t, act);
		kp_toytune_step(&t, act, obs, &trunc);
	}
	return sum / KP_TOYTUNE_EPISODE / kp_toytune_optimum(&t);
}

static long ppo_tuning(uint64_t seed, double *score)
{
	struct kp_ppo_config c;
	struct kp_toytune env;
	struct kp_ppo *a;
	float obs[KP_TOYTUNE_OBS], fin[KP_TOYTUNE_OBS], act[KP_TOYTUNE_DIM], r;
	long s, result = -5000;
	bool trunc;
	int rc;

	kp_ppo_config_tuning(&c, KP_TOYTUNE_OBS, KP_TOYTUNE_DIM);
	c.seed = seed;
	if (kp_ppo_create(&a, &c))
		return -1;
	kp_toytune_init(&env, seed * 77, 0.05);
	kp_toytune_reset(&env, obs);
	*score = 0;
	for (s = 1; s <= 5000; s++) {
		if (kp_ppo_act(a, obs, act, NULL, NULL))
			break;
		r = kp_toytune_step(&env, act, fin, &trunc);
		memcpy(obs, fin, sizeof(obs));
		if (trunc)
			kp_toytune_reset(&env, obs);
		rc = kp_ppo_record(a, &r, NULL, &trunc, fin);
		if (rc == 1)
			rc = kp_ppo_update(a, obs, NULL);
		if (rc < 0)
			break;
		if (s % c.num_steps == 0) {
			*score = tuning_quality(a, &env);
			if (*score >= 0.95) {
				result = s;
				break;
			}
		}
	}
	kp_ppo_destroy(a);
	return result;
}

Test(agent_learn, ppo_tuning_task_95pct_within_5000)
{
	int ok = run_seeds("ppo tuning", ppo_tuning);

	cr_expect_geq(ok, 4, "PPO reached 95%% of the optimum on %d of 5 seeds", ok);
}
