/* SPDX-License-Identifier: GPL-2.0 */
/* A tuning session's results: results.json, history.csv and plot.svg. */
#ifndef KPILOT_RESULTS_H
#define KPILOT_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "env/benchmark/tune_config.h"

#define KP_STATE_MAX KP_TUNE_MAX_STATE

struct kp_trial {
	int n;				/* 1-based */
	bool ok;
	double metric;			/* median of the repeats; NaN when failed */
	double reward;
	double seconds;			/* wall time of the trial */
	char values[KP_TUNE_MAX_ACTIONS][64];	/* applied (after clamping) */
	double state[KP_STATE_MAX];
	char error[160];		/* why it failed */
};

struct kp_results {
	const struct kp_tune_config *cfg;
	const char *algo;
	unsigned long long seed;
	double baseline;
	char baseline_values[KP_TUNE_MAX_ACTIONS][64];
	struct kp_trial *trials;
	int ntrials;
	int best;			/* index into trials, -1: none better than baseline */
	int failures;
	bool interrupted;		/* Ctrl-C */
	bool aborted;			/* guardrails */
	bool applied_best;		/* --apply-best kept the best values */
	double elapsed_s;
};

/* Improvement of the best trial over the baseline in %, goal-aware (0 if none). */
double kp_results_improvement(const struct kp_results *r);
json_t *kp_results_json(const struct kp_results *r);
/*
 * Where results go: dir when given, else kpilot-results/<workload>-<time>
 * under the current directory.
 */
void kp_results_dir(const char *dir, const char *workload, char *out, size_t len);
/* Write results.json, history.csv and plot.svg into dir (created). */
int kp_results_write(const struct kp_results *r, const char *dir, char *why, size_t len);
int kp_results_svg(const struct kp_results *r, FILE *f);

#endif
