/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A simulated stream pipeline (Documentation/pipeline.md, "The simulator"):
 * the DAG of a kp_pipe_desc, each operator a queue served at a rate per
 * core learned from traces (DS2's true rate), at most one core per worker,
 * inside a CFS quota (runs until the period's quota is spent, then
 * throttled for the rest of the 100 ms period), on a host of ncpu cores;
 * bounded channels whose fullness blocks the producer (backpressure to the
 * source, whose missed schedule is lost, as wordcount's); records moved in
 * FIFO cohorts so that latency is the queueing the records really met.
 * Service counts drawn per tick (service times of a coefficient of
 * variation service_cv) make queues grow as utilisation nears 1. Pure computation: 1 ms ticks, a simulated second in well under a
 * millisecond of CPU. It is a backend of kp_pipe_tune_run (kp_pipe_sim,
 * pipetune.h), so the static, DS2 and PPO controllers run on it unchanged.
 */
#ifndef KPILOT_PIPE_SIM_H
#define KPILOT_PIPE_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include "env/pipeline/pipeline.h"
#include "env/pipeline/pipeline_desc.h"
#include "env/pipeline/pipetune.h"

struct kp_sim_op {
	char name[32];
	double mu;		/* records per on-CPU second (one core): DS2's true rate */
	double cpu0;		/* cores used whatever the load (polling, timers) */
	double sel;		/* records out per record in */
};

struct kp_sim_model {
	char pipeline[64];
	int nops;
	struct kp_sim_op op[KP_PIPE_MAX_OPS];	/* in the description's order */
	double ncpu;		/* the host's cores, shared by all operators (2) */
	double capacity;	/* records per channel (512) */
	double base_ms;		/* latency no queue explains: wake-ups, copies (0.5) */
	double noise;		/* relative noise on the reported CPU (0) */
	double service_cv;	/* service times' coefficient of variation (0.35; 1: exponential) */
	double interval_s;	/* report interval (1) */
	unsigned long long seed;
};

/* Defaults for everything but the operators' rates. */
void kp_sim_model_init(struct kp_sim_model *m, const struct kp_pipe_desc *d);

struct kp_sim;

/* A simulated pipeline at the model's rates; rate 0: the description's. */
int kp_sim_open(struct kp_sim **out, const struct kp_pipe_desc *d, const struct kp_sim_model *m,
		double rate, char *why, size_t len);
/* One report interval simulated, st filled as kp_pipe_step() does. */
int kp_sim_step(struct kp_sim *s, struct kp_pipe_state *st, char *why, size_t len);
/* New quotas (and workers: one per started core); -EPERM over the budget. */
int kp_sim_apply(struct kp_sim *s, const double *quota, const char *reason, char *why,
		 size_t len);
const double *kp_sim_quotas(const struct kp_sim *s);
int kp_sim_set_rate(struct kp_sim *s, double rate);
/* The operator's input channel capacity (records); sources have none. */
void kp_sim_set_capacity(struct kp_sim *s, double capacity);
void kp_sim_close(struct kp_sim *s);

/* kp_sim_* as a kp_pipe_tune_run backend; arg: the struct kp_sim_model. */
extern const struct kp_pipe_backend kp_pipe_sim;

/* ---- calibration (sim_model.c) ---- */

struct kp_trace;

/*
 * Fit each operator's mu and cpu0 from traces: on-CPU cores against records
 * in per second over every interval (least squares when the rates vary by
 * 10% or more, the ratio through 0 otherwise), selectivity out / in, base_ms
 * from the lowest p50 of an interval without a filling channel or throttling
 * (0.5 ms when none). 0, or -EINVAL with why (an operator never ran).
 */
int kp_sim_calibrate(const struct kp_trace *tr, int ntr, const struct kp_pipe_desc *d,
		     struct kp_sim_model *m, char *why, size_t len);
int kp_sim_model_save(const struct kp_sim_model *m, const char *path, char *why, size_t len);
int kp_sim_model_load(const char *path, struct kp_sim_model *m, char *why, size_t len);

#endif
