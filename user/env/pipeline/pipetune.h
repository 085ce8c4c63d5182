/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kpilot tune on a stream pipeline: start it, let a controller (ppo, ds2,
 * static) size every operator's CPU quota each report interval, stop it,
 * remove its cgroups, and write the results files of every tuning run (one
 * trial per control interval). Documentation/pipeline.md. The run is an
 * environment (env/env.h): reset = the seed quotas and the baseline
 * interval, step = the quotas for one interval.
 */
#ifndef KPILOT_PIPETUNE_H
#define KPILOT_PIPETUNE_H

#include <stdbool.h>
#include <stddef.h>
#include "env/pipeline/deploy.h"
#include "env/pipeline/pipeline.h"
#include "env/pipeline/pipeline_desc.h"

/*
 * What a run acts on: the real pipeline (kp_pipe_real, pipeline.h) or the
 * simulator (sim.h), with pipeline.h's calls and meanings; arg is the
 * implementation's (the simulator's model).
 */
struct kp_pipe_backend {
	const char *name;
	int (*open)(void **e, const struct kp_pipe_desc *d, const struct kp_pipe_opts *o,
		    const void *arg, char *why, size_t len);
	int (*step)(void *e, struct kp_pipe_state *st, char *why, size_t len);
	int (*apply)(void *e, const double *quota, const char *reason, char *why, size_t len);
	const double *(*quotas)(const void *e);
	int (*set_rate)(void *e, double rate);
	int (*close)(void *e);
	const void *arg;
};

extern const struct kp_pipe_backend kp_pipe_real;

struct kp_rate_trace;
struct kp_sim_model;
struct kp_ppo;

enum kp_pipe_algo { KP_PIPE_PPO, KP_PIPE_DS2, KP_PIPE_STATIC };

/* Simulated intervals of --pretrain-sim without --sim-steps. */
#define KP_PRETRAIN_STEPS_DEFAULT 2000

/* Control intervals of a pipeline run without --trials. */
#define KP_PIPE_TRIALS_DEFAULT 30

struct kp_pipe_tune_opts {
	const struct kp_pipe_desc *d;
	enum kp_pipe_algo algo;
	int trials;			/* control intervals, >= 1 (KP_PIPE_TRIALS_DEFAULT) */
	unsigned long long seed;	/* PPO (1) */
	const char *out_dir;		/* NULL: ./kpilot-results/<pipeline>-<time> */
	struct kp_pipe_opts env;	/* root, state dir, top dir, rate, extra args */
	double quotas[KP_PIPE_MAX_OPS];	/* static: these instead of the equal split */
	bool have_quotas;
	int step_at;			/* from this trial on the rate is step_rate (0: never) */
	double step_rate;
	double utilisation;		/* DS2's target utilisation (0.9) */
	double deadband;		/* cores: smaller changes are not made (0.1; < 0: none) */
	const struct kp_rate_trace *rate_trace;	/* drives the source (overrides step_at) */
	double rate_speed;		/* trace seconds per second of run (1) */
	const struct kp_pipe_backend *backend;	/* NULL: kp_pipe_real */
	struct kp_deploy_opts deploy;	/* staged deployment (all 0: none; deploy.h's defaults) */
	int force_regression;		/* a test: from this interval on, once, deploy the
					 * bottleneck operator at 0.05 cores (0: never) */
	const struct kp_sim_model *pretrain;	/* ppo: train on this simulator first */
	int sim_steps;			/* ... for this many simulated intervals */
	struct kp_ppo *ppo;		/* ppo: this agent (the caller's) instead of a new one */
	bool json, quiet, progress;
};

/*
 * 0, -EINTR, -ECANCELED or -errno with why, as kp_tune_run(); out_dir
 * receives where results went.
 */
int kp_pipe_tune_run(const struct kp_pipe_tune_opts *o, char *out_dir, size_t out_len,
		     char *why, size_t len);

/* The reward of one interval under the description's weights. */
double kp_pipe_reward(const struct kp_pipe_desc *d, const struct kp_pipe_state *st);

const char *kp_pipe_algo_name(enum kp_pipe_algo a);

#endif
