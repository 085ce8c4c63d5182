/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A tuning run's configuration (JSON; schema in Documentation/tuning.md):
 * what to run, what to measure, which knobs the agent may move and how.
 */
#ifndef KPILOT_TUNE_CONFIG_H
#define KPILOT_TUNE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define KP_TUNE_MAX_ACTIONS	16
#define KP_TUNE_MAX_STATE	16
#define KP_TUNE_MAX_ARGS	64

enum kp_goal { KP_GOAL_MAXIMIZE, KP_GOAL_MINIMIZE };
/* ppo: rollout on a learned model over a PPO base policy; ppo-plain: PPO alone. */
enum kp_algo { KP_ALGO_PPO, KP_ALGO_PPO_PLAIN, KP_ALGO_RANDOM, KP_ALGO_EXTERNAL };
/* Their names, by value, NULL-terminated; kp_tune_algo: name -> value, or -1. */
extern const char *const kp_tune_algo_names[];
int kp_tune_algo(const char *name);

struct kp_tune_action {
	char knob[256];
	double min, max;		/* the range the agent explores (knob units) */
	bool log_scale;
	double max_step;		/* largest change per trial, 0: the knob's own */
	int element;			/* tuples: which element the action drives */
};

struct kp_tune_config {
	char workload_name[64];
	/* benchmark */
	char *argv[KP_TUNE_MAX_ARGS + 1];	/* NULL-terminated; owned */
	int argc;
	bool shell;			/* argv[0] is a script for /bin/sh -c */
	char builtin[32];		/* a built-in benchmark instead ("tcp-churn") */
	double timeout_s;
	int warmup_runs;
	int repeats;
	/* metric */
	char metric_name[64];
	char *pattern;			/* one capture group; owned */
	enum kp_goal goal;
	/* agent */
	struct kp_tune_action actions[KP_TUNE_MAX_ACTIONS];
	int nactions;
	char state[KP_TUNE_MAX_STATE][32];	/* names from state/state.h */
	int nstate;
	double w_perf, w_stability, w_failure;
	int trials;
	int episode_steps;
	unsigned long long seed;
	enum kp_algo algo;
	bool netns;			/* run trials in fresh private network namespaces */
};

/*
 * Parse and validate. `origin` names the source in messages ("x.json" or
 * "profile tcp-churn"). Returns 0, or -EINVAL with one line in why naming
 * the JSON path and what was expected.
 */
int kp_tune_config_parse(const char *text, const char *origin, struct kp_tune_config *c,
			 char *why, size_t len);
int kp_tune_config_load(const char *path, struct kp_tune_config *c, char *why, size_t len);
void kp_tune_config_free(struct kp_tune_config *c);

/* A built-in profile's JSON text, or NULL. */
const char *kp_tune_profile(const char *name);
/* Names of the built-in profiles, NULL-terminated. */
extern const char *const kp_tune_profile_names[];

#endif
