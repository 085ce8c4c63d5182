/* SPDX-License-Identifier: GPL-2.0 */
/* Inside the pipeline tune session: shared by pipetune.c, deploy.c and pretrain.c. */
#ifndef KPILOT_PIPETUNE_IMPL_H
#define KPILOT_PIPETUNE_IMPL_H

#include <jansson.h>
#include "env/benchmark/results.h"
#include "env/pipeline/deploy.h"
#include "env/pipeline/pipectl.h"
#include "env/pipeline/pipetune.h"
#include "env/pipeline/trace.h"

#define PPO_ROLLOUT	8	/* intervals per update: several updates in tens of intervals */
#define PPO_HEADROOM	1.10	/* the policy's centre: 10% over the measured need */
#define PPO_SPAN	0.10	/* action +-1 moves the headroom by this much */
#define OBS_PER_OP	6
#define DS2_WINDOW	3	/* intervals DS2's rates are measured over */

struct kp_ppo;

struct pt {
	const struct kp_pipe_tune_opts *o;
	const struct kp_pipe_desc *d;
	const struct kp_pipe_backend *be;
	void *e;			/* the backend's environment */
	struct kp_trace_writer *tw;	/* trace.jsonl in the results directory */
	char dir[4096];			/* the results directory */
	double elapsed;			/* pipeline time: the intervals' dt summed */
	double rate;			/* the source rate last asked for */
	struct kp_ppo *ppo;
	bool own_ppo;			/* created here (not the caller's o->ppo) */
	struct kp_pipe_opts env;	/* o->env, the rate the trace's first */
	struct kp_results r;
	struct kp_results_desc desc;	/* what the results files describe */
	char knob[KP_PIPE_MAX_OPS][256];	/* cgroup:<operator's cgroup>:cpu.max */
	struct kp_pipe_state st;	/* the interval just measured */
	double cur[KP_PIPE_MAX_OPS];	/* the quotas in force */
	double need[KP_PIPE_MAX_OPS];	/* DS2's need at utilisation 1, last known */
	struct kp_ds2_op win[DS2_WINDOW][KP_PIPE_MAX_OPS];	/* the last intervals' rates */
	int nwin;
	float obs[KP_PIPE_MAX_OPS * OBS_PER_OP + 2];
	int obs_dim;
	bool acted;			/* a PPO action awaits its reward */
	double t0;
	/* staged deployment (deploy.c) */
	struct kp_deploy dp;
	char reason[64];		/* who made the last change ("ds2 interval 4") */
	const char *label;		/* the interval's "deploy" in the trace, or NULL */
	bool forced;			/* o->force_regression done */
	char regression[160];		/* why the rollback due is due */
	int pretrain_steps, pretrain_episodes;	/* pretrain.c */
};

/* ---- deploy.c: the session's side of staged deployment ---- */

/* The seed is in force and measured (t->cur, t->st): it is the known-good. */
void kp_pt_deploy_init(struct pt *t);
/*
 * Before interval n: a rollback that is due, else (no window open) the
 * forced regression or the controller's quotas q when worth a change.
 * *reconf: the quotas changed. 0, or -ECANCELED / -EINTR (the run ends).
 */
int kp_pt_stage(struct pt *t, int n, const double *q, struct kp_trial *tr, bool *reconf);
/* After interval n is measured (t->st): the window's verdict, logged. */
void kp_pt_verify(struct pt *t, int n);
/* PPO while a change is held: the action the quotas in force are (a in [-1, 1]). */
void kp_pt_held_action(const struct pt *t, float *a);
/* deploys, verified, rollbacks, the options and the pretraining, for results.json. */
json_t *kp_pt_results_extra(const struct pt *t);
/* One line on stderr (unless quiet) and in the log. */
void kp_pt_say(const struct pt *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- pretrain.c ---- */

/* o->pretrain: train t->ppo on the simulator for o->sim_steps steps. 0, -EINTR or -errno. */
int kp_pt_pretrain(struct pt *t, char *why, size_t len);

#endif
