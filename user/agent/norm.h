/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Running mean and variance (Chan et al. parallel update, as gym's
 * RunningMeanStd): observation normalisation and reward scaling.
 */
#ifndef KPILOT_NORM_H
#define KPILOT_NORM_H

struct kp_rms {
	int dim;
	double *mean, *var;
	double count;		/* starts at 1e-4 like gym, so var starts at 1 */
};

int kp_rms_init(struct kp_rms *r, int dim);
void kp_rms_free(struct kp_rms *r);
/* Fold n rows of x (n x dim) into the statistics. */
void kp_rms_update(struct kp_rms *r, const float *x, int n);
void kp_rms_update_d(struct kp_rms *r, const double *x, int n);
/* out = clip((x - mean) / sqrt(var + 1e-8), -clip, clip) for one row. */
void kp_rms_normalize(const struct kp_rms *r, const float *x, float *out, double clip);

#endif
