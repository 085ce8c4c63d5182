/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kpilot tune's two halves: benchmark tuning (cmd_tune.c, which parses the
 * command line and dispatches) and pipeline sizing (cmd_tune_pipeline.c).
 */
#ifndef KPILOT_CMD_TUNE_H
#define KPILOT_CMD_TUNE_H

#include <argp.h>
#include <stdbool.h>
#include <stddef.h>
#include "env/benchmark/tune_config.h"

#define KP_TUNE_RISKY_MAX	16

struct tune_args {
	const char *config, *profile, *profile_dir, *out, *state_dir;
	long trials;		/* -1: the config's */
	long long seed;
	int algo;		/* -1: the config's */
	bool apply_best, dry_run, json, quiet;
	double churn_seconds;
	long confirm;		/* runs per side; default 5 */
	const char *risky[KP_TUNE_RISKY_MAX + 1];
	int nrisky;
	char **optimizer;	/* --algo external: everything after --optimizer */
	const char *intent;	/* --intent TEXT (cmd_tune_intent.c) */
	bool print_config, yes;
	const char *llm;	/* --llm URL: a chat-completions endpoint writes the session */
	double optimizer_timeout;
	/* pipelines */
	const char *pipeline, *pipe_algo, *quotas;
	double rate, step_rate, utilisation, deadband;
	const char *rate_trace;	/* --rate-trace FILE */
	double rate_speed;
	long step_at;
	long verify, rollback_after, force_regression, sim_steps;	/* -1: not given */
	double rollback_att, rollback_p99;	/* 0: not given */
	const char *pretrain_sim;	/* --pretrain-sim MODEL */
	char *launcher_args[17];
	int nlauncher_args;
};

extern struct tune_args tune_args;

enum { OPT_APPLY_BEST = 1000, OPT_STATE_DIR, OPT_CHURN_SECONDS, OPT_PIPELINE, OPT_RATE,
       OPT_STEP_AT, OPT_STEP_RATE, OPT_QUOTAS, OPT_UTIL, OPT_DEADBAND, OPT_LAUNCHER_ARG,
       OPT_CONFIRM, OPT_RISKY, OPT_OPTIMIZER_TIMEOUT, OPT_PROFILE_DIR, OPT_INTENT,
       OPT_PRINT_CONFIG, OPT_YES, OPT_LLM, OPT_RATE_TRACE, OPT_RATE_SPEED, OPT_VERIFY,
       OPT_RB_AFTER, OPT_RB_ATT, OPT_RB_P99, OPT_FORCE_REGRESSION, OPT_PRETRAIN_SIM,
       OPT_SIM_STEPS };

/* The pipeline options; ARGP_ERR_UNKNOWN for the others. */
error_t tune_pipeline_arg(int key, char *arg, struct argp_state *state);
/* NAME SUFFIX in the profile directory (--profile-dir, the tree's or the installed); -ENOENT. */
int tune_profile_path(const char *name, const char *suffix, char *path, size_t len);
struct kp_pipe_desc;
/* --quotas OP=CORES,...: every operator of d, in cores; -EINVAL with why. */
int tune_parse_quotas(const struct kp_pipe_desc *d, const char *s, double *q, char *why,
		      size_t len);
/* Size the pipeline that path describes: an exit status. */
int tune_pipeline(const char *path);
/* --trials, --seed, --algo onto a benchmark config. */
void tune_overrides(struct kp_tune_config *cfg);
/* Run a benchmark config with the command line's options: an exit status; frees cfg. */
int tune_run_config(struct kp_tune_config *cfg);
/* --intent, --print-config, --yes, --llm; ARGP_ERR_UNKNOWN for the others. */
error_t tune_intent_arg(int key, char *arg, struct argp_state *state);
/* kpilot tune --intent TEXT (cmd_tune_intent.c): an exit status. */
int tune_intent(const char *sentence);

#endif
