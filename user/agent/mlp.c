// SPDX-License-Identifier: GPL-2.0
/* MLP instantiations (float32 for the agent, float64 for gradient checks). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "agent/mlp.h"
#include "agent/mlp_simd.h"

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

static void kp_mlpd_tanh_vec(double *y, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		y[i] = tanh(y[i]);
}

/* The float64 twin's kernels: portable code, it only checks gradients. */
#define REAL double
#define VEC kp_vecd
#define VW 2
#define MLP kp_mlpd
#define KFN(name) kp_mlpd_k_##name
#define TANH_VEC kp_mlpd_tanh_vec
#include "agent/mlp_kern.h"

/* mlp_impl.h undefines these at its end, ready for the next type. */
#define REAL float
#define MLP kp_mlp
#define FN(name) kp_mlp_##name
#define K_GEMM_NN kp_mlp_ops()->gemm_nn
#define K_GEMM_TN kp_mlp_ops()->gemm_tn
#define K_TANH_VEC kp_mlp_ops()->tanh_vec
#define K_INFER kp_mlp_ops()->infer
#include "agent/mlp_impl.h"

#define REAL double
#define MLP kp_mlpd
#define FN(name) kp_mlpd_##name
#define K_GEMM_NN kp_mlpd_k_gemm_nn
#define K_GEMM_TN kp_mlpd_k_gemm_tn
#define K_TANH_VEC kp_mlpd_tanh_vec
#define K_INFER kp_mlpd_k_infer
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
