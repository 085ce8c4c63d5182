/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A tuning run's results.json read back (kpilot persist, kpilot report):
 * the run, its best configuration, its confirmation and its history.
 */
#ifndef KPILOT_RESULTS_LOAD_H
#define KPILOT_RESULTS_LOAD_H

#include <stdbool.h>
#include "env/benchmark/results.h"

struct kp_saved {
	char path[4096];		/* results.json as found (absolute) */
	char given[4096];		/* ... and as the caller named it */
	char workload[64], algo[32], metric[64];
	bool minimize;
	double baseline, best_metric, improvement_pct, elapsed_s;	/* NaN when null */
	int best_trial;			/* the trial's number; 0: none beat the baseline */
	int ntrials, failures;
	bool interrupted, aborted, applied_best;
	int nknobs;			/* best_config's knobs, in the file's order */
	char knob[KP_RESULTS_MAX_KNOBS][256];
	char best[KP_RESULTS_MAX_KNOBS][64];
	char base[KP_RESULTS_MAX_KNOBS][64];	/* baseline_config's value, "" when absent */
	bool has_conf;			/* confirmation is not null */
	char skipped[128];		/* conf.skipped points here */
	struct kp_confirm conf;		/* NaN where the file has null */
	struct kp_trial *hist;		/* history[], values in knob[]'s order */
	int nhist;
};

/* Read path. 0, or -errno / -EINVAL with "PATH: $.key: ..." in why. */
int kp_saved_load(const char *path, struct kp_saved *r, char *why, size_t len);
void kp_saved_free(struct kp_saved *r);

#endif
