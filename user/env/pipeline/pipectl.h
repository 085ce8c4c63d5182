/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Operator CPU-quota controllers as pure functions of what one control
 * interval showed: the equal split, DS2 in CPU units (Kalavri et al.,
 * OSDI'18), and the fitting of any proposal to the 0.05-core grid and the
 * budget. No I/O: the environment (pipeline.h) measures and applies.
 */
#ifndef KPILOT_PIPECTL_H
#define KPILOT_PIPECTL_H

#include "env/pipeline/pipeline_desc.h"

#define KP_QUOTA_STEP	0.05	/* cores: the grid every quota is on */

/* What DS2 needs per operator, over one interval. */
struct kp_ds2_op {
	double in;		/* records taken per second */
	double out;		/* records emitted per second */
	double cpu;		/* on-CPU cores (CPU seconds per second) */
};

struct kp_ds2_in {
	const struct kp_pipe_desc *d;	/* DAG and budget */
	double target;			/* the sources' target input rate (records/s) */
	const struct kp_ds2_op *op;	/* d->nops entries */
	const double *current;		/* current quotas: kept where a rate is unknown */
	double utilisation;		/* target utilisation (0.9) */
};

/*
 * DS2 in CPU units, walked in topological order: an operator's target input
 * rate is the sum over its upstreams of their target input rate times their
 * observed selectivity (out / in; 1 when unknown); sources get `target`.
 * Its true processing rate is in / cpu (records per on-CPU second), and its
 * quota target_in / true_rate / utilisation, rounded up to the grid; then
 * the whole fitted to the budget (kp_quota_fit). Operators that processed
 * nothing or used no CPU keep their current quota. Fills quota[nops] and,
 * when need is not NULL, the unrounded need in cores (utilisation 1).
 */
void kp_ds2_quotas(const struct kp_ds2_in *in, double *quota, double *need);

/* Equal split of the budget, on the grid (rounded down). */
void kp_static_quotas(const struct kp_pipe_desc *d, double *quota);

/*
 * Round each quota up to the grid (at least one step), then, if the sum is
 * over the budget, scale them down proportionally and round down, so that
 * the sum is within the budget and no quota is under one step.
 */
void kp_quota_fit(double *quota, int n, double budget);

/* Sum of quotas. */
double kp_quota_sum(const double *quota, int n);

#endif
