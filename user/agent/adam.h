/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Adam (Kingma & Ba) over a flat float32 parameter vector, with the same
 * arithmetic as torch.optim.Adam, plus global gradient-norm clipping over
 * several vectors (torch.nn.utils.clip_grad_norm_).
 */
#ifndef KPILOT_ADAM_H
#define KPILOT_ADAM_H

#include <stddef.h>
#include <stdint.h>

struct kp_adam {
	size_t n;
	float *m, *v;		/* first and second moment estimates */
	uint64_t t;		/* steps taken */
	double lr, beta1, beta2, eps;
};

int kp_adam_init(struct kp_adam *a, size_t n, double lr, double beta1,
		 double beta2, double eps);
void kp_adam_free(struct kp_adam *a);
/* One step: params -= lr * mhat / (sqrt(vhat) + eps). */
void kp_adam_step(struct kp_adam *a, float *params, const float *grads);

struct kp_vec {
	float *p;
	size_t n;
};

/* L2 norm of the concatenation of vecs[0..nvec), accumulated in double. */
double kp_grad_norm(const struct kp_vec *vecs, int nvec);
/*
 * Scale every vector by max_norm / (norm + 1e-6) when the global norm
 * exceeds max_norm. Returns the norm before clipping.
 */
double kp_clip_grad_norm(const struct kp_vec *vecs, int nvec, double max_norm);
/* True if every element is finite. */
int kp_all_finite(const float *p, size_t n);

#endif
