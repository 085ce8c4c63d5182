/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A tuning run's results (benchmark or pipeline): results.json, history.csv
 * and plot.svg.
 */
#ifndef KPILOT_RESULTS_H
#define KPILOT_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#define KP_RESULTS_MAX_KNOBS	16
#define KP_STATE_MAX		16

/* What the results describe; the strings belong to the run. */
struct kp_results_desc {
	const char *workload_name;
	const char *metric_name;
	bool minimize;			/* the goal: lower metric is better */
	const char *knob[KP_RESULTS_MAX_KNOBS];	/* the knobs a trial sets */
	int nknobs;
	const char *state[KP_STATE_MAX];	/* the state recorded per trial */
	int nstate;
};

struct kp_trial {
	int n;				/* 1-based */
	bool ok;
	double metric;			/* median of the repeats; NaN when failed */
	double reward;
	double seconds;			/* wall time of the trial */
	char values[KP_RESULTS_MAX_KNOBS][64];	/* applied (after clamping) */
	double state[KP_STATE_MAX];
	char error[160];		/* why it failed */
};

#define KP_CONFIRM_MAX		100

/*
 * The confirmation phase: baseline and best measured alternately n times
 * each; Welch's t interval (95%) on the difference of the means, oriented so
 * that positive is better (goal-aware).
 */
struct kp_confirm {
	int n;				/* runs per side; 0: none (see skipped) */
	double base[KP_CONFIRM_MAX], best[KP_CONFIRM_MAX];
	double base_mean, base_sd, best_mean, best_sd;
	double diff, lo, hi;		/* metric units */
	double pct, pct_lo, pct_hi;	/* % of the baseline mean; NaN when it is 0 */
	double df;			/* Welch-Satterthwaite; inf when both sides are constant */
	bool significant;		/* lo > 0 */
	const char *skipped;		/* why there was no confirmation (static text), or NULL */
};

/* Fill in the means, the interval and the flag from c->base[], c->best[] (c->n >= 2). */
void kp_confirm_stats(struct kp_confirm *c, bool minimize);
/* The two-sided 95% quantile of Student's t with df degrees of freedom (floor(df), conservative). */
double kp_t975(double df);

struct kp_results {
	const struct kp_results_desc *d;
	const char *algo;
	unsigned long long seed;
	double baseline;
	char baseline_values[KP_RESULTS_MAX_KNOBS][64];
	struct kp_trial *trials;
	int ntrials;
	int best;			/* index into trials, -1: none better than baseline */
	int failures;
	bool interrupted;		/* Ctrl-C */
	bool aborted;			/* guardrails */
	bool applied_best;		/* --apply-best kept the best values */
	bool confirm_on;		/* a confirmation phase was asked for */
	struct kp_confirm conf;
	double elapsed_s;
	/* --algo ppo: the learned model's out-of-bag quality (model_rows 0: none) */
	int model_rows;
	double model_r2, model_nmae;
	json_t *extra;			/* members added to results.json (the run's), or NULL */
};

/* Improvement of the best trial over the baseline in %, goal-aware (0 if none). */
double kp_results_improvement(const struct kp_results *r);
/* Whether metric a is better than b under the goal. */
bool kp_results_better(const struct kp_results_desc *d, double a, double b);
json_t *kp_results_json(const struct kp_results *r);
/*
 * Where results go: dir when given, else kpilot-results/<workload>-<time>
 * under the current directory.
 */
void kp_results_dir(const char *dir, const char *workload, char *out, size_t len);
/* Write results.json, history.csv and plot.svg into dir (created). */
int kp_results_write(const struct kp_results *r, const char *dir, char *why, size_t len);
/*
 * The end of a run whose status is ret: the files in kp_results_dir(dir,
 * workload), named in out_dir, and results.json on stdout when json.
 * Returns ret, or when ret is 0 and a file could not be written, -errno with
 * why naming the file and the cause (a failed run logs that instead); out_dir
 * is then "".
 */
int kp_results_publish(const struct kp_results *r, const char *dir, bool json, char *out_dir,
		       size_t out_len, int ret, char *why, size_t len);
int kp_results_svg(const struct kp_results *r, FILE *f);

#endif
