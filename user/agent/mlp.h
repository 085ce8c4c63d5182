/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Multi-layer perceptron: linear layers with tanh between them and a linear
 * output, forward and backward over a batch, orthogonal initialisation.
 *
 * struct kp_mlp is the float32 network the agent runs. struct kp_mlpd is its
 * float64 twin, built from the same source (mlp_impl.h), so the selftests can
 * check the float32 gradients against float64 finite differences.
 *
 * Parameters live in one flat array (layer l: W then b, W stored input-major:
 * W[k * out + o]), and so do their gradients: optimiser, gradient clipping,
 * NaN checks and checkpoints see one vector.
 */
#ifndef KPILOT_MLP_H
#define KPILOT_MLP_H

#include <stddef.h>
#include "agent/rng.h"

#define KP_MLP_MAX_LAYERS 8	/* linear layers */
#define KP_MLP_MAX_WIDTH 1024

#define KP_MLP_STRUCT(NAME, REAL)					\
struct NAME {								\
	int nlayers;		/* linear layers */			\
	int sizes[KP_MLP_MAX_LAYERS + 1];	/* sizes[0] = inputs */	\
	size_t w_off[KP_MLP_MAX_LAYERS], b_off[KP_MLP_MAX_LAYERS];	\
	size_t nparams;							\
	REAL *params, *grads;						\
	REAL *wt;		/* transposed weights, backward scratch */ \
	int cap;		/* rows the activation cache holds */	\
	int rows;		/* rows of the last forward() */	\
	REAL *act[KP_MLP_MAX_LAYERS + 1];	/* act[0] = input copy */ \
	REAL *delta[2];		/* backward scratch */			\
}

KP_MLP_STRUCT(kp_mlp, float);
KP_MLP_STRUCT(kp_mlpd, double);

/*
 * The same functions for both (kp_mlp_* on float, kp_mlpd_* on double):
 *
 * init: sizes[0..nlayers] are the input width, hidden widths, output width;
 *   cap is the largest batch forward() will see (grown on demand). Weights
 *   start at zero. Returns 0 or -EINVAL/-ENOMEM.
 * init_orthogonal: orthogonal weights (as torch.nn.init.orthogonal_) scaled
 *   by hidden_gain for hidden layers and out_gain for the output layer;
 *   zero biases.
 * forward: n rows of x; keeps activations for backward(). Returns the output.
 * infer: one row, no cache touched: safe on a const network.
 * backward: accumulate dLoss/dparams into m->grads given dLoss/doutput of
 *   the last forward.
 */
#define KP_MLP_API(NAME, REAL)							\
int NAME##_init(struct NAME *m, int nlayers, const int *sizes, int cap);	\
void NAME##_free(struct NAME *m);						\
void NAME##_init_orthogonal(struct NAME *m, struct kp_rng *rng,		\
			    double hidden_gain, double out_gain);		\
const REAL *NAME##_forward(struct NAME *m, const REAL *x, int n);		\
void NAME##_infer(const struct NAME *m, const REAL *x, REAL *out);		\
void NAME##_backward(struct NAME *m, const REAL *dout);			\
void NAME##_zero_grad(struct NAME *m)

KP_MLP_API(kp_mlp, float);
KP_MLP_API(kp_mlpd, double);

/*
 * The instruction set the float32 kernels use: "avx512" (x86-64-v4), "avx2"
 * (x86-64-v3: AVX2 + FMA) or "baseline" (SSE2). Chosen once per process, on
 * first use: the best this CPU has, unless the environment variable
 * KPILOT_SIMD names another ("auto" = the best); a name that is unknown or
 * that this CPU lacks gets a warning and the best.
 */
const char *kp_mlp_simd(void);
/*
 * Switch the kernels to NAME (as KPILOT_SIMD). 0, -EINVAL (unknown name) or
 * -ENOTSUP (not on this CPU or build), with the reason in why. For tests and
 * benchmarks: call it while no other thread runs a network.
 */
int kp_mlp_simd_set(const char *name, char *why, size_t len);

/* Copy the float network's shape-compatible parameters into the twin. */
int kp_mlpd_copy_from(struct kp_mlpd *d, const struct kp_mlp *f);

#endif
