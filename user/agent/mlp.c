// SPDX-License-Identifier: GPL-2.0
/* MLP instantiations (float32 for the agent, float64 for gradient checks). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "agent/mlp.h"

/*
 * A rows x cols matrix (row-major) whose shorter dimension is orthonormal,
 * as torch.nn.init.orthogonal_: a gaussian matrix made tall, modified
 * Gram-Schmidt on its columns (QR with a positive R diagonal), transposed
 * back if it was wide. Caller frees.
 */
static double *kp_orthogonal(struct kp_rng *rng, int rows, int cols)
{
	int tall = rows >= cols;
	int m = tall ? rows : cols, n = tall ? cols : rows;	/* m >= n */
	double *a = malloc(sizeof(double) * m * n);
	double *q = malloc(sizeof(double) * rows * cols);
	int i, j, c;

	if (!a || !q) {
		free(a);
		free(q);
		return NULL;
	}
	/* Drawn in the order torch uses (rows x cols, row-major), stored as m x n. */
	for (i = 0; i < rows; i++)
		for (j = 0; j < cols; j++) {
			double g = kp_rng_gauss(rng);

			if (tall)
				a[i * n + j] = g;
			else
				a[j * n + i] = g;
		}
	for (c = 0; c < n; c++) {
		double norm = 0;

		for (j = 0; j < c; j++) {
			double dot = 0;

			for (i = 0; i < m; i++)
				dot += a[i * n + j] * a[i * n + c];
			for (i = 0; i < m; i++)
				a[i * n + c] -= dot * a[i * n + j];
		}
		for (i = 0; i < m; i++)
			norm += a[i * n + c] * a[i * n + c];
		norm = sqrt(norm);
		if (norm < 1e-12)
			norm = 1e-12;
		for (i = 0; i < m; i++)
			a[i * n + c] /= norm;
	}
	for (i = 0; i < rows; i++)
		for (j = 0; j < cols; j++)
			q[i * cols + j] = tall ? a[i * n + j] : a[j * n + i];
	free(a);
	return q;
}

/*
 * The matrix kernels get AVX2/AVX-512 clones picked at load time (ifunc), so
 * one portable binary runs the wide code where the CPU has it. Build with
 * -DKP_NO_CLONES for baseline code only: the same bits on every x86-64 CPU.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
	defined(__GLIBC__) && !defined(KP_NO_CLONES)
#define KP_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define KP_CLONES
#endif
#define TR 4	/* register tile: rows */
#define TC 16	/* register tile: columns */

/*
 * tanh(x) = sign(x) (1 - 2 / (exp(2|x|) + 1)) with a branch-free exp that
 * vectorises: 2^n by exponent bits, e^r on |r| <= ln2/2 by a degree-7 Taylor
 * polynomial (relative error < 2e-8). Saturates at |x| >= 9, where
 * 1 - tanh(9) < float epsilon. Absolute error ~1e-7, far below what
 * training notices, and the same bits on every run.
 */
KP_CLONES static void kp_mlp_tanh_vec(float *restrict y, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		float x = y[i], ax = fabsf(x), t, r, p, e;
		int32_t k, bits;

		/* Written so that NaN passes through: the NaN guards rely on it. */
		ax = ax > 9.0f ? 9.0f : ax;
		t = 2.0f * ax;
		/* NaN must not reach the int conversion (undefined); it still
		 * flows through r, so the result stays NaN. */
		r = t * 1.44269504088896341f + 0.5f;
		k = (int32_t)(r > 0 ? r : 0);
		r = t - (float)k * 0.693145751953125f;
		r = r - (float)k * 1.42860682030941723e-6f;
		p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 +
			r * (1.0f / 120 + r * (1.0f / 720 + r * (1.0f / 5040)))))));
		bits = (k + 127) << 23;
		memcpy(&e, &bits, sizeof(e));
		e *= p;
		t = 1.0f - 2.0f / (e + 1.0f);
		y[i] = copysignf(t, x);
	}
}

static void kp_mlpd_tanh_vec(double *y, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		y[i] = tanh(y[i]);
}

/* mlp_impl.h undefines these at its end, ready for the next type. */
#define REAL float
#define VEC kp_vecf
#define MLP kp_mlp
#define FN(name) kp_mlp_##name
#include "agent/mlp_impl.h"

#define REAL double
#define VEC kp_vecd
#define MLP kp_mlpd
#define FN(name) kp_mlpd_##name
#include "agent/mlp_impl.h"

int kp_mlpd_copy_from(struct kp_mlpd *d, const struct kp_mlp *f)
{
	size_t i;

	if (d->nparams != f->nparams || d->nlayers != f->nlayers)
		return -EINVAL;
	for (i = 0; i < f->nparams; i++)
		d->params[i] = f->params[i];
	return 0;
}
