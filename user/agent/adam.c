// SPDX-License-Identifier: GPL-2.0
/* Adam and gradient clipping. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "agent/adam.h"

int kp_adam_init(struct kp_adam *a, size_t n, double lr, double beta1,
		 double beta2, double eps)
{
	memset(a, 0, sizeof(*a));
	a->m = calloc(n ? n : 1, sizeof(float));
	a->v = calloc(n ? n : 1, sizeof(float));
	if (!a->m || !a->v) {
		kp_adam_free(a);
		return -ENOMEM;
	}
	a->n = n;
	a->lr = lr;
	a->beta1 = beta1;
	a->beta2 = beta2;
	a->eps = eps;
	return 0;
}

void kp_adam_free(struct kp_adam *a)
{
	free(a->m);
	free(a->v);
	a->m = a->v = NULL;
}

void kp_adam_step(struct kp_adam *a, float *restrict params, const float *restrict grads)
{
	float *restrict m = a->m, *restrict v = a->v;
	/* 1 - beta in double first, as torch does: 1 - 0.999f loses 5 digits. */
	const float b1 = a->beta1, b2 = a->beta2;
	const float ob1 = 1.0 - a->beta1, ob2 = 1.0 - a->beta2;
	double bc1, bc2;
	float step, inv_sqrt_bc2, eps;
	size_t i;

	a->t++;
	bc1 = 1.0 - pow(a->beta1, (double)a->t);
	bc2 = 1.0 - pow(a->beta2, (double)a->t);
	/* torch: p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps) */
	step = a->lr / bc1;
	inv_sqrt_bc2 = 1.0 / sqrt(bc2);
	eps = a->eps;
	for (i = 0; i < a->n; i++) {
		float g = grads[i];

		m[i] = b1 * m[i] + ob1 * g;
		v[i] = b2 * v[i] + ob2 * g * g;
		params[i] -= step * m[i] / (sqrtf(v[i]) * inv_sqrt_bc2 + eps);
	}
}

/*
 * Eight partial sums: one chain of dependent adds waits on the adder's
 * latency at every element; the partial sums vectorise. Only the rounding of
 * the sum changes.
 */
static double sum_squares(const float *restrict p, size_t n)
{
	double s[8] = { 0 };
	size_t i, k;

	for (i = 0; i + 8 <= n; i += 8)
		for (k = 0; k < 8; k++)
			s[k] += (double)p[i + k] * p[i + k];
	for (; i < n; i++)
		s[0] += (double)p[i] * p[i];
	return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

double kp_grad_norm(const struct kp_vec *vecs, int nvec)
{
	double s = 0;
	int j;

	for (j = 0; j < nvec; j++)
		s += sum_squares(vecs[j].p, vecs[j].n);
	return sqrt(s);
}

double kp_clip_grad_norm(const struct kp_vec *vecs, int nvec, double max_norm)
{
	double norm = kp_grad_norm(vecs, nvec);
	float scale;
	int j;

	if (!(norm > max_norm))
		return norm;
	scale = max_norm / (norm + 1e-6);
	for (j = 0; j < nvec; j++) {
		size_t i;

		for (i = 0; i < vecs[j].n; i++)
			vecs[j].p[i] *= scale;
	}
	return norm;
}

int kp_all_finite(const float *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isfinite(p[i]))
			return 0;
	return 1;
}
