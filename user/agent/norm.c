// SPDX-License-Identifier: GPL-2.0
/* Running mean/variance statistics. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "agent/norm.h"

int kp_rms_init(struct kp_rms *r, int dim)
{
	int i;

	memset(r, 0, sizeof(*r));
	if (dim < 1)
		return -EINVAL;
	r->mean = calloc(dim, sizeof(double));
	r->var = calloc(dim, sizeof(double));
	if (!r->mean || !r->var) {
		kp_rms_free(r);
		return -ENOMEM;
	}
	r->dim = dim;
	for (i = 0; i < dim; i++)
		r->var[i] = 1.0;
	r->count = 1e-4;
	return 0;
}

void kp_rms_free(struct kp_rms *r)
{
	free(r->mean);
	free(r->var);
	r->mean = r->var = NULL;
}

static void merge(struct kp_rms *r, int d, double bmean, double bvar, double n)
{
	double delta = bmean - r->mean[d];
	double tot = r->count + n;
	double m2 = r->var[d] * r->count + bvar * n + delta * delta * r->count * n / tot;

	r->mean[d] += delta * n / tot;
	r->var[d] = m2 / tot;
}

#define RMS_UPDATE(T)							\
	int d, i;							\
									\
	if (n < 1)							\
		return;							\
	for (d = 0; d < r->dim; d++) {					\
		double s = 0, ss = 0, mu;				\
									\
		for (i = 0; i < n; i++)					\
			s += x[(size_t)i * r->dim + d];			\
		mu = s / n;						\
		for (i = 0; i < n; i++) {				\
			double e = x[(size_t)i * r->dim + d] - mu;	\
									\
			ss += e * e;					\
		}							\
		merge(r, d, mu, ss / n, n);				\
	}								\
	r->count += n;

void kp_rms_update(struct kp_rms *r, const float *x, int n)
{
	RMS_UPDATE(float)
}

void kp_rms_update_d(struct kp_rms *r, const double *x, int n)
{
	RMS_UPDATE(double)
}

void kp_rms_normalize(const struct kp_rms *r, const float *x, float *out, double clip)
{
	int d;

	for (d = 0; d < r->dim; d++) {
		double v = (x[d] - r->mean[d]) / sqrt(r->var[d] + 1e-8);

		out[d] = v > clip ? clip : v < -clip ? -clip : v;
	}
}
