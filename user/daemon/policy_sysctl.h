/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The sysctl policy kind's private state, shared by policy_sysctl.c (parse,
 * start, step, status), policy_sysctl_run.c (measuring, proposing, applying)
 * and policy_sysctl_ckpt.c (its checkpoint). Documentation/daemon.md, "The
 * sysctl policy".
 */
#ifndef KPILOT_DAEMON_POLICY_SYSCTL_H
#define KPILOT_DAEMON_POLICY_SYSCTL_H

#include <stdbool.h>
#include "agent/rng.h"
#include "agent/rollout.h"
#include "daemon/figures.h"
#include "daemon/pipe_src.h"
#include "daemon/policy.h"
#include "safety/knob.h"

#define SK_MAX_KNOBS	KP_ROLLOUT_MAX_DIM
#define SK_MAX_HIST	200	/* trials the model and the checkpoint keep */

enum sk_metric {
	SK_CONNECT_P99, SK_CONNECT_P50, SK_CONN_RATE, SK_RUNQ_P99, SK_IO_P99, SK_CPU,
	SK_NMETRICS,
	SK_RATE = SK_NMETRICS	/* a rate source's: named by rate_metric */
};

struct sk_metric_def {
	const char *name;
	int min_samples;	/* default: fewer events in an interval is no measurement */
};

extern const struct sk_metric_def sk_metrics[SK_NMETRICS];

struct sk_knob {
	char name[KP_NAME_MAX];
	long long min, max;		/* as the config narrows the table's */
	int min_interval_ms;		/* 0: the table's */
	struct kp_knob span;		/* the session's definition: range and scale of u */
	char orig[KP_VALUE_MAX];	/* at start: restored at stop by the session */
	char cur[KP_VALUE_MAX];		/* in place */
	char best[KP_VALUE_MAX];	/* the incumbent's */
	double last_write;		/* CLOCK_MONOTONIC s; 0: never */
};

struct sk_priv {
	int nk;
	struct sk_knob k[SK_MAX_KNOBS];
	/* the objective: an operator's metric, or a rate source's (metric SK_RATE) */
	char op[KP_OP_NAME_LEN];
	enum sk_metric metric;
	char rate_metric[32];		/* the report member or Prometheus counter */
	struct pp_src src;
	struct kp_pipe_desc rdesc;	/* no operators; m_throughput is rate_metric */
	unsigned long long reports;	/* lines or scrapes folded into measurements */
	char src_error[256];		/* the last one logged: each is logged once */
	bool minimize;
	int min_samples;
	double regress_thr;
	int regress_n;
	/* measuring */
	struct kp_dm_acc prev;
	double prev_t;
	bool have_prev;
	/* the run */
	bool have_base;
	double base;			/* the objective at the original values */
	double last;			/* the last measurement */
	double best;			/* the incumbent's objective (mean of its measurements) */
	int best_n;
	bool reverting;			/* sustained regression: back to the incumbent first */
	bool to_best;			/* a checkpoint's incumbent: tried first */
	int bad;			/* measured intervals in a row worse than the incumbent */
	bool pending;			/* the ppo agent proposed; it is told at the next measurement */
	unsigned long long measured, skipped;
	char last_why[160];
	/* the agent */
	struct kp_rollout *ro;
	struct kp_rng rng;
	int nhist;
	double hist_u[SK_MAX_HIST][SK_MAX_KNOBS];
	double hist_m[SK_MAX_HIST];	/* the objective measured, raw (rewards follow the base) */
	bool loaded;			/* a checkpoint gave the history: replayed at the baseline */
};

/* The objective's name as logs and status show it. */
const char *sk_metric_name(const struct sk_priv *k);

/* policy_sysctl_run.c */
int sk_step(struct kp_policy *p, struct kp_pol_env *e);
double sk_reward(const struct sk_priv *k, double m);
/* Where a knob's value text sits in its range, in [-1, 1]. */
double sk_unit(const struct sk_knob *k, const char *text);

/* policy_sysctl_ckpt.c */
int sk_save(struct kp_policy *p, char *why, size_t len);
/* 0 loaded, -ENOENT none, other -errno refused (why says why). */
int sk_load(struct kp_policy *p, char *why, size_t len);
/* Build the ppo agent and give it the history so far (a checkpoint's). 0 or -errno. */
int sk_agent_open(struct kp_policy *p);

#endif
