/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A random forest regressor: the tuning agent's model of the system
 * (configuration and state -> reward). Bootstrap samples, a random subset of
 * the features per split, the best variance-reducing threshold, leaves of at
 * least min_leaf samples. Pure computation, deterministic for a seed.
 * Documentation/agent.md, "The learned model".
 */
#ifndef KPILOT_FOREST_H
#define KPILOT_FOREST_H

#include <stdint.h>

#define KP_FOREST_MAX_DIM	64

struct kp_forest_config {
	int ntrees;		/* trees in the ensemble (100) */
	int min_leaf;		/* fewest samples in a leaf (2) */
	int max_depth;		/* (20) */
	double max_features;	/* share of the features tried per split (0.8; at least 1) */
	/*
	 * Trees cannot see how far a point is from the data (a leaf extends to
	 * infinity), so the uncertainty adds dist_weight * std(y) * (distance
	 * to the nearest row over sqrt(dims)), over the first dist_dims
	 * features (0: all), which should be in [-1, 1] units. 0: trees alone.
	 */
	double dist_weight;	/* (1) */
	int dist_dims;		/* (0) */
	uint64_t seed;
};

struct kp_forest;

void kp_forest_config_default(struct kp_forest_config *cfg);
/*
 * Fit on n rows of d features (X row-major, n x d) and targets y. Replaces
 * any earlier fit. 0, -EINVAL (d or n out of range, a non-finite number),
 * -ENOMEM.
 */
int kp_forest_create(struct kp_forest **out, const struct kp_forest_config *cfg, int d);
int kp_forest_fit(struct kp_forest *f, const double *X, const double *y, int n);
void kp_forest_destroy(struct kp_forest *f);
/*
 * Prediction at x: the mean over trees, and the uncertainty: the standard
 * deviation of the mixture of the trees' leaves (across-tree spread plus
 * each leaf's own spread), with the distance term above added in
 * quadrature. Before any fit: 0 and 0.
 */
void kp_forest_predict(const struct kp_forest *f, const double *x, double *mean, double *std);
/*
 * Out-of-bag quality of the last fit: R^2 = 1 - SSE/SST over the rows some
 * tree did not see, and the mean absolute error over the standard
 * deviation of y. NaN when undefined (fewer than 3 such rows, constant y).
 */
void kp_forest_oob(const struct kp_forest *f, double *r2, double *nmae);
int kp_forest_rows(const struct kp_forest *f);

#endif
