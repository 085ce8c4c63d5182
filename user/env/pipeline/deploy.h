/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Staged deployment for the pipeline tune session (Documentation/pipeline.md,
 * "Staged deployment and rollback"): a change the controller decides is
 * applied, then watched for a verification window; while it is watched the
 * controller's further changes wait. An interval whose attainment is more
 * than att_points below the last known-good configuration's, or whose p99
 * is more than p99_factor times the known-good's (and KP_DEPLOY_P99_SLACK_MS
 * more), is bad; `after` bad intervals in a row roll back to the known-good
 * quotas, through the same backend apply (the safety session and its
 * journal) as every change. A change whose window passes becomes the
 * known-good one. A scale-up (no operator's quota below the known-good's)
 * is never rolled back: what makes it look worse is a load the known-good,
 * with less of everything, would carry worse still (a rising rate, a
 * backlog draining); its bad intervals are counted in `excused`.
 *
 *	kp_deploy_init(&dp, &opts, nops, seed_quotas);
 *	kp_deploy_measure(&dp, cur, att, p99);		// the seed's interval: the reference
 *	each interval:
 *		if (dp.rollback_due) apply dp.good, kp_deploy_rolled_back(&dp);
 *		else if (!kp_deploy_holding(&dp) && change) apply q, kp_deploy_start(&dp, q);
 *		... measure ...
 *		kp_deploy_measure(&dp, cur, att, p99);	// KP_DEPLOY_PASS, _FAIL, ...
 *
 * This part is pure logic (tested on synthetic sequences); the session's
 * side is in deploy.c too, on pipetune_impl.h's struct pt.
 */
#ifndef KPILOT_PIPE_DEPLOY_H
#define KPILOT_PIPE_DEPLOY_H

#include <stdbool.h>
#include <stddef.h>
#include "env/pipeline/pipeline_desc.h"

#define KP_DEPLOY_VERIFY_DEFAULT	3	/* intervals a change is watched */
#define KP_DEPLOY_AFTER_DEFAULT		2	/* bad intervals in a row that roll back */
#define KP_DEPLOY_ATT_DEFAULT		0.05	/* attainment: 5 points below */
#define KP_DEPLOY_P99_DEFAULT		1.5	/* p99: 1.5 times */
#define KP_DEPLOY_P99_SLACK_MS		5.0	/* ... and at least 5 ms more (a 2 ms p99 doubling is noise) */
#define KP_DEPLOY_DRAINING		1.05	/* attainment over this: a backlog draining */

struct kp_deploy_opts {
	int verify;		/* window, intervals; 0: no staging (changes go straight in) */
	int after;		/* k: bad intervals in a row that roll back (1..verify) */
	double att_points;	/* attainment (fraction) below the known-good's that is bad */
	double p99_factor;	/* p99 over the known-good's that is bad (> 1) */
};

/* What an interval was for the deployment (the trace's "deploy" field). */
enum kp_deploy_verdict {
	KP_DEPLOY_STEADY,	/* the known-good in force, nothing watched */
	KP_DEPLOY_WATCH,	/* a window goes on */
	KP_DEPLOY_PASS,		/* the window's last interval: the change is known-good */
	KP_DEPLOY_FAIL,		/* k bad in a row: a rollback is due */
};

struct kp_deploy {
	struct kp_deploy_opts o;
	int nops;
	double good[KP_PIPE_MAX_OPS];	/* the known-good quotas */
	double ref_att, ref_p99;	/* what the known-good measured (p99 NaN: none) */
	bool have_ref;
	int good_since;			/* the interval it became known-good (0: the seed) */
	int left;			/* intervals of the open window still to watch; 0: none */
	int bad;			/* bad intervals in a row in the window */
	bool scale_up;			/* the change watched cut no quota */
	int excused;			/* bad intervals of scale-ups, not rolled back */
	double win_att, win_p99;	/* the window's sums */
	int win_n, win_np99;
	bool settle;			/* after a rollback, until the backlog drained: held,
					 * and not taken into the reference */
	bool rollback_due;
	int deploys, verified, rollbacks;
};

/* The defaults above. */
void kp_deploy_opts_default(struct kp_deploy_opts *o);
/* 0, or -EINVAL with why naming the bad option. */
int kp_deploy_opts_check(const struct kp_deploy_opts *o, char *why, size_t len);

/* The seed's quotas q are the first known-good; no reference yet. */
void kp_deploy_init(struct kp_deploy *dp, const struct kp_deploy_opts *o, int nops,
		    const double *q);
/* A window open, a rollback due or its backlog draining: the controller's changes wait. */
bool kp_deploy_holding(const struct kp_deploy *dp);
/* Quotas q were just applied: count the change and, when staging, open its window. */
void kp_deploy_start(struct kp_deploy *dp, const double *q);
/* The known-good quotas were just re-applied. */
void kp_deploy_rolled_back(struct kp_deploy *dp);
/* Whether an interval's attainment and p99 are a regression against the reference. */
bool kp_deploy_regressed(const struct kp_deploy *dp, double att, double p99);
/*
 * An interval measured with quotas cur in force (interval number n): the
 * reference follows the known-good while nothing is watched; in a window,
 * PASS makes cur the known-good, FAIL sets rollback_due.
 */
enum kp_deploy_verdict kp_deploy_measure(struct kp_deploy *dp, int n, const double *cur,
					 double att, double p99);

#endif
