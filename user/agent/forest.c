// SPDX-License-Identifier: GPL-2.0
/*
 * Random forest regression (Breiman's, as SMAC uses it for configuration
 * spaces): per tree a bootstrap sample, at each node the best
 * variance-reducing split over a random subset of the features. Deterministic:
 * every draw comes from a per-tree generator derived from the seed, and sorts
 * break ties on the row index.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "agent/forest.h"
#include "agent/rng.h"

struct node {
	int feat;		/* -1: a leaf */
	int left, right;
	double thr;		/* x[feat] <= thr goes left */
	double mean, var;	/* of the samples that reached it */
};

struct tree {
	struct node *nodes;
	int n;
};

struct kp_forest {
	struct kp_forest_config cfg;
	int d, rows, cap;
	struct tree *trees;
	double oob_r2, oob_nmae;
	double *X;		/* the rows of the last fit, for the distance term */
	double y_std;
	/* scratch for fitting */
	int *idx;
	int *count;
	double *oob_sum;
	int *oob_n;
	double *psum;
};

struct fit_ctx {
	struct kp_forest *f;
	struct tree *t;
	struct kp_rng rng;
	const double *X, *y;
	int feat;		/* qsort_r's key */
};

void kp_forest_config_default(struct kp_forest_config *cfg)
{
	*cfg = (struct kp_forest_config){ .ntrees = 100, .min_leaf = 2, .max_depth = 20,
					  .max_features = 0.8, .dist_weight = 1, .seed = 1 };
}

int kp_forest_create(struct kp_forest **out, const struct kp_forest_config *cfg, int d)
{
	struct kp_forest *f;

	*out = NULL;
	if (d < 1 || d > KP_FOREST_MAX_DIM || cfg->ntrees < 1 || cfg->ntrees > 10000 ||
	    cfg->min_leaf < 1 || cfg->max_depth < 1)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->trees = calloc(cfg->ntrees, sizeof(*f->trees));
	if (!f->trees) {
		free(f);
		return -ENOMEM;
	}
	f->cfg = *cfg;
	f->d = d;
	f->oob_r2 = f->oob_nmae = NAN;
	*out = f;
	return 0;
}

void kp_forest_destroy(struct kp_forest *f)
{
	int i;

	if (!f)
		return;
	for (i = 0; i < f->cfg.ntrees; i++)
		free(f->trees[i].nodes);
	free(f->trees);
	free(f->idx);
	free(f->count);
	free(f->oob_sum);
	free(f->oob_n);
	free(f->psum);
	free(f->X);
	free(f);
}

static int reserve(struct kp_forest *f, int n)
{
	int i;

	if (n <= f->cap)
		return 0;
	for (i = 0; i < f->cfg.ntrees; i++) {
		free(f->trees[i].nodes);
		f->trees[i].nodes = malloc(sizeof(struct node) * 2 * n);
		if (!f->trees[i].nodes)
			goto nomem;
	}
	free(f->idx);
	free(f->count);
	free(f->oob_sum);
	free(f->oob_n);
	free(f->psum);
	free(f->X);
	f->X = malloc(sizeof(double) * n * f->d);
	f->idx = malloc(sizeof(int) * n);
	f->count = malloc(sizeof(int) * n);
	f->oob_sum = malloc(sizeof(double) * n);
	f->oob_n = malloc(sizeof(int) * n);
	f->psum = malloc(sizeof(double) * (n + 1));
	if (!f->X || !f->idx || !f->count || !f->oob_sum || !f->oob_n || !f->psum)
		goto nomem;
	f->cap = n;
	return 0;
nomem:
	f->cap = 0;
	return -ENOMEM;
}

static int by_feature(const void *pa, const void *pb, void *arg)
{
	const struct fit_ctx *c = arg;
	int a = *(const int *)pa, b = *(const int *)pb;
	double xa = c->X[(size_t)a * c->f->d + c->feat], xb = c->X[(size_t)b * c->f->d + c->feat];

	if (xa != xb)
		return xa < xb ? -1 : 1;
	return (a > b) - (a < b);
}

/*
 * The best threshold on feature feat for idx[0..m): the largest drop in
 * squared error (sumL^2/nL + sumR^2/nR, larger is better), or -INFINITY.
 */
static double best_threshold(struct fit_ctx *c, int *idx, int m, int feat, double *thr)
{
	const struct kp_forest *f = c->f;
	double best = -INFINITY, *ps = f->psum;
	int i, L = f->cfg.min_leaf, d = f->d;

	c->feat = feat;
	qsort_r(idx, m, sizeof(*idx), by_feature, c);
	ps[0] = 0;
	for (i = 0; i < m; i++)
		ps[i + 1] = ps[i] + c->y[idx[i]];
	for (i = L; i <= m - L; i++) {
		double lo = c->X[(size_t)idx[i - 1] * d + feat], hi = c->X[(size_t)idx[i] * d + feat];
		double g;

		if (lo == hi)
			continue;
		g = ps[i] * ps[i] / i + (ps[m] - ps[i]) * (ps[m] - ps[i]) / (m - i);
		if (g > best) {
			best = g;
			*thr = lo + (hi - lo) / 2;
		}
	}
	return best;
}

static int grow(struct fit_ctx *c, int *idx, int m, int depth)
{
	const struct kp_forest *f = c->f;
	struct tree *t = c->t;
	int me = t->n++, feats[KP_FOREST_MAX_DIM], k, i, j, nl, bf = -1;
	double sum = 0, sq = 0, best = -INFINITY, bt = 0, thr = 0;
	struct node *nd = &t->nodes[me];

	for (i = 0; i < m; i++)
		sum += c->y[idx[i]];
	nd->mean = sum / m;
	for (i = 0; i < m; i++)
		sq += (c->y[idx[i]] - nd->mean) * (c->y[idx[i]] - nd->mean);
	nd->var = sq / m;
	nd->feat = -1;
	/* d: kp_forest_create's 1..KP_FOREST_MAX_DIM, restated as feats[] is filled to it. */
	if (m < 2 * f->cfg.min_leaf || depth >= f->cfg.max_depth || nd->var <= 1e-300 ||
	    f->d < 1 || f->d > KP_FOREST_MAX_DIM)
		return me;
	k = (int)lround(f->cfg.max_features * f->d);
	k = k < 1 ? 1 : k > f->d ? f->d : k;
	for (i = 0; i < f->d; i++)
		feats[i] = i;
	for (i = 0; i < k; i++) {	/* a partial Fisher-Yates: k distinct features */
		j = i + kp_rng_below(&c->rng, f->d - i);
		bf = feats[i], feats[i] = feats[j], feats[j] = bf;
	}
	bf = -1;
	for (i = 0; i < k; i++) {
		double g = best_threshold(c, idx, m, feats[i], &thr);

		/* the feature's number breaks ties, whatever order they were drawn in */
		if (g > best || (g == best && g > -INFINITY && feats[i] < bf)) {
			best = g;
			bf = feats[i];
			bt = thr;
		}
	}
	if (bf < 0 || best <= sum * sum / m)
		return me;
	for (i = 0, nl = 0; i < m; i++)	/* partition: left first */
		if (c->X[(size_t)idx[i] * f->d + bf] <= bt) {
			j = idx[nl], idx[nl] = idx[i], idx[i] = j;
			nl++;
		}
	nd->feat = bf;
	nd->thr = bt;
	nd->left = grow(c, idx, nl, depth + 1);
	t->nodes[me].right = grow(c, idx + nl, m - nl, depth + 1);
	return me;
}

static const struct node *leaf(const struct tree *t, const double *x)
{
	const struct node *nd = t->nodes;

	while (nd->feat >= 0)
		nd = &t->nodes[x[nd->feat] <= nd->thr ? nd->left : nd->right];
	return nd;
}

static void oob_score(struct kp_forest *f, const double *y, int n)
{
	double mean = 0, sst = 0, sse = 0, sae = 0;
	int i, m = 0;

	for (i = 0; i < n; i++)
		if (f->oob_n[i]) {
			mean += y[i];
			m++;
		}
	f->oob_r2 = f->oob_nmae = NAN;
	if (m < 3)
		return;
	mean /= m;
	for (i = 0; i < n; i++) {
		double p;

		if (!f->oob_n[i])
			continue;
		p = f->oob_sum[i] / f->oob_n[i];
		sst += (y[i] - mean) * (y[i] - mean);
		sse += (y[i] - p) * (y[i] - p);
		sae += fabs(y[i] - p);
	}
	if (sst <= 1e-300)
		return;
	f->oob_r2 = 1 - sse / sst;
	f->oob_nmae = (sae / m) / sqrt(sst / m);
}

static double y_stddev(const double *y, int n)
{
	double m = 0, s = 0;
	int i;

	for (i = 0; i < n; i++)
		m += y[i] / n;
	for (i = 0; i < n; i++)
		s += (y[i] - m) * (y[i] - m) / n;
	return sqrt(s);
}

/* Distance from x to the nearest row, over sqrt(dims): 1 is far. */
static double nearest(const struct kp_forest *f, const double *x)
{
	int i, k, D = f->cfg.dist_dims > 0 && f->cfg.dist_dims < f->d ? f->cfg.dist_dims : f->d;
	double best = INFINITY;

	for (i = 0; i < f->rows; i++) {
		const double *r = f->X + (size_t)i * f->d;
		double s = 0;

		for (k = 0; k < D && s < best; k++)
			s += (x[k] - r[k]) * (x[k] - r[k]);
		if (s < best)
			best = s;
	}
	return sqrt(best / D);
}

int kp_forest_fit(struct kp_forest *f, const double *X, const double *y, int n)
{
	struct fit_ctx c = { .f = f, .X = X, .y = y };
	int i, k, err;

	if (n < 1 || n > 1000000)
		return -EINVAL;
	for (i = 0; i < n; i++)
		for (k = 0; k < f->d; k++)
			if (!isfinite(X[(size_t)i * f->d + k]) || !isfinite(y[i]))
				return -EINVAL;
	err = reserve(f, n);
	if (err)
		return err;
	memset(f->oob_sum, 0, sizeof(double) * n);
	memset(f->oob_n, 0, sizeof(int) * n);
	for (k = 0; k < f->cfg.ntrees; k++) {
		c.t = &f->trees[k];
		c.t->n = 0;
		kp_rng_seed(&c.rng, f->cfg.seed * 0x9E3779B97F4A7C15ull + k);
		memset(f->count, 0, sizeof(int) * n);
		for (i = 0; i < n; i++) {
			f->idx[i] = kp_rng_below(&c.rng, n);
			f->count[f->idx[i]]++;
		}
		grow(&c, f->idx, n, 0);
		for (i = 0; i < n; i++)
			if (!f->count[i]) {
				f->oob_sum[i] += leaf(c.t, X + (size_t)i * f->d)->mean;
				f->oob_n[i]++;
			}
	}
	f->rows = n;
	memcpy(f->X, X, sizeof(double) * n * f->d);
	oob_score(f, y, n);
	f->y_std = y_stddev(y, n);
	return 0;
}

void kp_forest_predict(const struct kp_forest *f, const double *x, double *mean, double *std)
{
	double m = 0, s2 = 0;
	int k;

	if (!f->rows) {
		*mean = 0;
		if (std)
			*std = 0;
		return;
	}
	for (k = 0; k < f->cfg.ntrees; k++) {
		const struct node *l = leaf(&f->trees[k], x);

		m += l->mean;
		s2 += l->var + l->mean * l->mean;
	}
	m /= f->cfg.ntrees;
	s2 = s2 / f->cfg.ntrees - m * m;
	if (std && f->cfg.dist_weight > 0) {
		double e = f->cfg.dist_weight * f->y_std * nearest(f, x);

		s2 = (s2 > 0 ? s2 : 0) + e * e;
	}
	*mean = m;
	if (std)
		*std = s2 > 0 ? sqrt(s2) : 0;
}

void kp_forest_oob(const struct kp_forest *f, double *r2, double *nmae)
{
	*r2 = f->oob_r2;
	*nmae = f->oob_nmae;
}

int kp_forest_rows(const struct kp_forest *f)
{
	return f->rows;
}
