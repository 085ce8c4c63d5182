/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The float32 MLP kernels of one instruction set (mlp_simd.c), as mlp.c
 * calls them. Which set runs is chosen once per process: the best the CPU
 * has, or the one KPILOT_SIMD names (Documentation/agent.md, "Speed").
 */
#ifndef KPILOT_MLP_SIMD_H
#define KPILOT_MLP_SIMD_H

#include <stddef.h>
#include "agent/mlp.h"

struct kp_mlp_ops {
	const char *name;	/* "avx512", "avx2", "baseline" */
	void (*gemm_nn)(float *restrict C, const float *restrict A, const float *restrict B,
			const float *restrict bias, int n, int q, int p);
	void (*gemm_tn)(float *restrict C, const float *restrict A, const float *restrict B,
			int n, int q, int p);
	void (*tanh_vec)(float *restrict y, size_t n);
	void (*infer)(const struct kp_mlp *m, const float *x, float *out);
};

/* The kernels in use; the first call reads KPILOT_SIMD. */
const struct kp_mlp_ops *kp_mlp_ops(void);

#endif
