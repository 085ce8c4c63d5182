// SPDX-License-Identifier: GPL-2.0
#include <math.h>
#include "env/pipeline/pipectl.h"

/* Steps of the grid in x cores; the epsilon keeps 0.55 from becoming 0.60. */
static double grid_up(double x)
{
	return ceil(x / KP_QUOTA_STEP - 1e-6) * KP_QUOTA_STEP;
}

static double grid_down(double x)
{
	return floor(x / KP_QUOTA_STEP + 1e-6) * KP_QUOTA_STEP;
}

double kp_quota_sum(const double *quota, int n)
{
	double s = 0;
	int i;

	for (i = 0; i < n; i++)
		s += quota[i];
	return s;
}

void kp_quota_fit(double *quota, int n, double budget)
{
	double sum, scale, spare;
	int i;

	for (i = 0; i < n; i++) {
		if (!isfinite(quota[i]) || quota[i] < KP_QUOTA_STEP)
			quota[i] = KP_QUOTA_STEP;
		quota[i] = grid_up(quota[i]);
	}
	sum = kp_quota_sum(quota, n);
	if (sum <= budget + 1e-9)
		return;
	/*
	 * Scale what is above the floor, so small operators keep their step
	 * and the large ones give way in proportion to their size.
	 */
	spare = budget - n * KP_QUOTA_STEP;
	scale = spare / (sum - n * KP_QUOTA_STEP);
	for (i = 0; i < n; i++)
		quota[i] = KP_QUOTA_STEP + grid_down((quota[i] - KP_QUOTA_STEP) * scale);
}

void kp_static_quotas(const struct kp_pipe_desc *d, double *quota)
{
	int i;

	for (i = 0; i < d->nops; i++)
		quota[i] = grid_down(d->cpu_budget / d->nops);
	kp_quota_fit(quota, d->nops, d->cpu_budget);
}

void kp_ds2_quotas(const struct kp_ds2_in *in, double *quota, double *need)
{
	const struct kp_pipe_desc *d = in->d;
	double tin[KP_PIPE_MAX_OPS] = { 0 };
	bool has_up[KP_PIPE_MAX_OPS] = { false };
	double u = in->utilisation > 0 && in->utilisation <= 1 ? in->utilisation : 0.9;
	int k, e;

	for (e = 0; e < d->nedges; e++)
		has_up[d->edges[e][1]] = true;
	for (k = 0; k < d->nops; k++) {
		int i = d->topo[k];
		const struct kp_ds2_op *o = &in->op[i];
		double sel, rate;

		if (!has_up[i])
			tin[i] = in->target;
		/* push this operator's target output to its consumers */
		sel = o->in > 0 && o->out >= 0 ? o->out / o->in : 1;
		for (e = 0; e < d->nedges; e++)
			if (d->edges[e][0] == i)
				tin[d->edges[e][1]] += tin[i] * sel;
		if (o->in <= 0 || o->cpu <= 0) {
			quota[i] = in->current ? in->current[i] : KP_QUOTA_STEP;
			if (need)
				need[i] = NAN;
			continue;
		}
		rate = o->in / o->cpu;		/* records per on-CPU second */
		if (need)
			need[i] = tin[i] / rate;
		quota[i] = tin[i] / rate / u;
	}
	kp_quota_fit(quota, d->nops, d->cpu_budget);
}
