/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inside a benchmark tuning run (tune.c): the run's state and the jobs it is
 * made of, one file each: fresh network namespaces (netns.c), actions to
 * validated knob writes (tune_knobs.c), benchmark runs and what they
 * measured (trial.c), the agent (tune_agent.c). Not an interface: tune.h is.
 */
#ifndef KPILOT_TUNE_RUN_H
#define KPILOT_TUNE_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "env/benchmark/results.h"
#include "env/benchmark/tune.h"
#include "agent/rng.h"
#include "state/sysstat.h"

#define CHURN_PORT	"8080"
#define CHURN_SRV_IP	"10.251.0.1"
#define CHURN_CLI_IP	"10.251.0.2"

struct kp_observer;
struct kp_ppo;
struct kp_rollout;
struct kp_external;

struct tune {
	const struct kp_tune_opts *o;
	const struct kp_tune_config *c;
	struct kp_session *s;
	struct kp_observer *obs;
	int op;				/* the observer's "bench" operator */
	struct kp_ppo *ppo;		/* ppo-plain */
	struct kp_rollout *rollout;	/* ppo */
	struct kp_external *ext;	/* external */
	int ext_lines;			/* asks answered */
	struct kp_rng rng;
	int obs_dim;
	float obs_vec[2 * KP_TUNE_MAX_ACTIONS + 2 + KP_TUNE_MAX_STATE];
	/* PPO proposes steps from the incumbent: the best configuration so far. */
	double u_best[KP_TUNE_MAX_ACTIONS];
	double r_best;
	struct kp_results r;
	struct kp_results_desc desc;	/* what the results files describe */
	/* netns mode: the current benchmark run's namespaces */
	char ns[2][64];			/* [0] server (or the only one), [1] client */
	int nns;
	char veth[2][16];
	int run_id;
	double t0;
	double last_apply;		/* host mode: when the knobs were last written */
	int fails_in_row;		/* guardrails */
};

bool tune_stop_requested(void);

struct kp_env;
/* The run as an environment (env/env.h): reset = the baseline, step = one trial. */
void tune_env(struct tune *t, struct kp_env *e);

/* netns.c: fresh namespaces per benchmark run (t->ns), and their removal. */
int tune_ns_setup(struct tune *t, char *why, size_t len);
void tune_ns_teardown(struct tune *t);

/*
 * tune_knobs.c. tune_add_knobs(): the config's knobs into the session, and
 * into eff (t->c) the ranges a proposal can use: the config's, narrowed by
 * the knob table's safe range and safe floor or ceiling, each narrowing said
 * once.
 */
int tune_add_knobs(struct tune *t, struct kp_tune_config *eff, char *why, size_t len);
/* The value an action in [-1, 1] stands for, as text for the validator. */
int tune_action_value(struct tune *t, int i, double u, char *out, size_t len);
void tune_wait_interval(struct tune *t);
/* Apply values[] in the safety session's current target (one batch). */
int tune_apply(struct tune *t, char values[][64], const char *reason, char applied[][64],
	       char *why, size_t len);
int tune_apply_best(struct tune *t, char *why, size_t len);
/* Apply vals[] in session s, stepwise within the step limits (host mode). */
int tune_apply_stepwise(struct tune *t, struct kp_session *s, char vals[][64], const char *reason,
			char *why, size_t len);

/* confirm.c: n runs of the baseline and of the best each, alternately, into t->r.conf. */
int tune_confirm(struct tune *t, int n, char *why, size_t len);
void tune_confirm_line(const struct kp_results *r, FILE *f);
int tune_confirm_gate(const struct kp_results *r, char *why, size_t len);

/* trial.c */
int tune_measure(struct tune *t, char values[][64], char applied[][64], const char *reason,
		 double *metric, double *cv, char *why, size_t len);
void tune_collect_state(struct tune *t, double wall_s, const struct kp_cpustat *cs0,
			double *state);
double tune_reward(const struct tune *t, bool ok, double metric, double cv);

/* tune_agent.c */
int tune_agent_open(struct tune *t);
void tune_agent_start(struct tune *t);
int tune_agent_propose(struct tune *t, double *u, float *a);
int tune_agent_learn(struct tune *t, char applied[][64], bool ok, double reward,
		     const double *state, int trial);
void tune_agent_close(struct tune *t);

#endif
