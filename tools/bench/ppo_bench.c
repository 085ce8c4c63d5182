// SPDX-License-Identifier: GPL-2.0
/*
 * ppo_bench: the C side of tools/bench/ppo. Trains the PPO agent on CartPole-v1
 * with CleanRL ppo.py's hyperparameters, one seed after the other, and prints
 * one line per seed plus the single-observation inference latency, in the
 * format ppo_ref.py prints, so tools/bench/ppo can put them side by side.
 */
#include <argp.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "env/cartpole.h"
#include "agent/ppo.h"

#define NENVS 4

static struct env {
	char seeds[256];
	long total_steps;
	double threshold;
	int window;
} env = { "1,2,3,4,5", 500000, 475, 100 };

static const char doc[] =
"Train the kpilot PPO agent on CartPole-v1 (CleanRL ppo.py hyperparameters) and time it.\n"
"\n"
"One line per seed: steps and wall seconds until the mean of the last 100\n"
"episode returns reaches 475, env steps/s while collecting, ms per update.\n"
"Normally run by tools/bench/ppo, next to the PyTorch reference.\n"
"\n"
"EXAMPLES:\n"
"    ppo_bench                     # seeds 1-5\n"
"    ppo_bench --seeds 3 -t 300000 # one seed, 300k-step budget\n"
"    taskset -c 0 ppo_bench        # pinned to one CPU, as the benchmark runs it\n"
"    KPILOT_SIMD=avx2 ppo_bench    # the AVX2 kernels, as on an AVX2-only host";

static const struct argp_option opts[] = {
	{ "seeds", 's', "LIST", 0, "Comma-separated seeds (default 1,2,3,4,5)", 0 },
	{ "total-steps", 't', "N", 0, "Step budget and lr-annealing horizon (default 500000)", 0 },
	{ "threshold", 'r', "R", 0, "Mean return to reach (default 475)", 0 },
	{ "window", 'w', "N", 0, "Episodes in the mean (default 100)", 0 },
	{},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	char *end;

	switch (key) {
	case 's':
		if (strlen(arg) >= sizeof(env.seeds) || strspn(arg, "0123456789,") != strlen(arg))
			argp_error(state, "bad seed list '%s'", arg);
		strcpy(env.seeds, arg);
		break;
	case 't':
		env.total_steps = strtol(arg, &end, 10);
		if (*end || env.total_steps < 512)
			argp_error(state, "bad step budget '%s'", arg);
		break;
	case 'r':
		env.threshold = strtod(arg, &end);
		if (*end)
			argp_error(state, "bad threshold '%s'", arg);
		break;
	case 'w':
		env.window = strtol(arg, &end, 10);
		if (*end || env.window < 1 || env.window > 1024)
			argp_error(state, "bad window '%s'", arg);
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int run(uint64_t seed)
{
	struct kp_cartpole cp[NENVS];
	float obs[NENVS * 4], fin[NENVS * 4], act[NENVS], rew[NENVS];
	bool term[NENVS], trunc[NENVS];
	double ep[NENVS] = { 0 }, start, t0, rollout_s = 0, update_s = 0;
	double reached_wall = -1;
	long steps = 0, reached = -1, updates = 0;
	struct kp_episodes eps;
	struct kp_ppo_config c;
	struct kp_ppo *a;
	int e, err;

	kp_ppo_config_default(&c, 4, 2, false);
	c.num_envs = NENVS;
	c.total_steps = env.total_steps;
	c.seed = seed;
	err = kp_ppo_create(&a, &c);
	if (err)
		return err;
	kp_episodes_init(&eps, env.window);
	for (e = 0; e < NENVS; e++) {
		kp_cartpole_seed(&cp[e], seed * 1000 + e);
		kp_cartpole_reset(&cp[e], obs + 4 * e);
	}
	start = now();
	t0 = start;
	while (steps < env.total_steps) {
		err = kp_ppo_act(a, obs, act, NULL, NULL);
		if (err)
			goto out;
		for (e = 0; e < NENVS; e++) {
			rew[e] = kp_cartpole_step(&cp[e], (int)act[e], obs + 4 * e, &term[e], &trunc[e]);
			ep[e] += rew[e];
			memcpy(fin + 4 * e, obs + 4 * e, sizeof(float) * 4);
			if (term[e] || trunc[e]) {
				kp_episodes_add(&eps, ep[e]);
				ep[e] = 0;
				kp_cartpole_reset(&cp[e], obs + 4 * e);
			}
		}
		steps += NENVS;
		err = kp_ppo_record(a, rew, term, trunc, fin);
		if (err < 0)
			goto out;
		if (reached < 0 && kp_episodes_reached(&eps, env.threshold)) {
			reached = steps;
			reached_wall = now() - start;
		}
		if (err == 1) {
			double t1 = now();

			rollout_s += t1 - t0;
			if (reached >= 0)
				break;
			err = kp_ppo_update(a, obs, NULL);
			if (err)
				goto out;
			t0 = now();
			update_s += t0 - t1;
			updates++;
		}
	}
	printf("C seed=%llu steps_to_475=%ld wall_to_475=%.3f env_sps=%.0f update_ms=%.3f wall=%.3f\n",
	       (unsigned long long)seed, reached, reached_wall, steps / rollout_s,
	       updates ? 1000 * update_s / updates : 0, now() - start);
	fflush(stdout);
	err = 0;
out:
	kp_ppo_destroy(a);
	return err;
}

/* Mean time of one act() on one observation (normalise, actor, critic, sample). */
static double infer_us(void)
{
	struct kp_ppo_config c;
	struct kp_ppo *a;
	float obs[4] = { 0.01, -0.02, 0.03, 0.04 }, act, r = 1;
	int i, n = 20000;
	double t, total = 0;

	kp_ppo_config_default(&c, 4, 2, false);
	c.num_steps = n + 200;
	c.num_minibatches = 1;
	if (kp_ppo_create(&a, &c))
		return -1;
	for (i = 0; i < n + 200; i++) {
		t = now();
		kp_ppo_act(a, obs, &act, NULL, NULL);
		if (i >= 200)	/* warm-up */
			total += now() - t;
		kp_ppo_record(a, &r, NULL, NULL, NULL);
	}
	kp_ppo_destroy(a);
	return total / n * 1e6;
}

int main(int argc, char **argv)
{
	static const struct argp argp = { opts, parse_arg, NULL, doc, NULL, NULL, NULL };
	char *tok, *save = NULL;
	int err;

	err = argp_parse(&argp, argc, argv, 0, NULL, NULL);
	if (err)
		return 2;
	/* Which kernels ran (KPILOT_SIMD can force a narrower set). */
	printf("C simd=%s\n", kp_mlp_simd());
	for (tok = strtok_r(env.seeds, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		err = run(strtoull(tok, NULL, 10));
		if (err) {
			fprintf(stderr, "ppo_bench: seed %s: %s\n", tok, strerror(-err));
			return 1;
		}
	}
	printf("C infer_us=%.3f\n", infer_us());
	return 0;
}
