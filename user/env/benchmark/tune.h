/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A benchmark tuning run: baseline, then trials of agent proposal ->
 * validator -> apply -> benchmark -> metric -> reward -> agent update, with
 * guardrails, and results at the end (also after Ctrl-C).
 * Documentation/tuning.md.
 */
#ifndef KPILOT_TUNE_H
#define KPILOT_TUNE_H

#include <stdbool.h>
#include <stddef.h>
#include "env/benchmark/results.h"
#include "env/benchmark/tune_config.h"

struct kp_tune_opts {
	const struct kp_tune_config *cfg;
	const char *out_dir;		/* NULL: ./kpilot-results/<workload>-<time> */
	const char *state_dir;		/* NULL: /var/lib/kpilot */
	bool apply_best;		/* keep the best configuration (journaled) */
	bool dry_run;			/* validate the plan, write nothing, run nothing */
	bool json;			/* results.json on stdout at the end */
	bool progress;			/* a live progress line on stderr */
	bool quiet;			/* no summary on stdout */
	double churn_seconds;		/* tcp-churn client run time (0: 4 s) */
	int confirm;			/* confirmation runs per side at the end; 0: none */
	const char *const *allow_risky;	/* knobs that may cross their safe floor/ceiling */
	char *const *optimizer;		/* --algo external: its argv */
	double optimizer_timeout_s;	/* per answer */
};

/*
 * Run it. 0 done, -ECANCELED when the guardrails aborted it, -EINTR on
 * Ctrl-C (both: everything restored, partial results written), -EDOM when
 * --apply-best was refused because the confirmed improvement is not
 * significant (everything restored, results written), another
 * -errno for a setup or environment error (why says it). out_dir receives
 * where results went.
 */
int kp_tune_run(const struct kp_tune_opts *o, char *out_dir, size_t out_len,
		char *why, size_t len);

#endif
