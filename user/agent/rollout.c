// SPDX-License-Identifier: GPL-2.0
/*
 * Rollout over a PPO base policy on a learned model (the seed design): one
 * step of policy improvement per trial. The policy's proposals are steps from
 * the incumbent (as plain PPO's are), scored by the forest instead of being
 * tried blindly; what is tried is recorded as the policy's action, so PPO's
 * own update sees it.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "agent/forest.h"
#include "agent/ppo.h"
#include "agent/rng.h"
#include "agent/rollout.h"

#define OBS_MAX		(KP_ROLLOUT_MAX_DIM + 2 + KP_ROLLOUT_MAX_STATE)
#define LOOK_MAX	16
/* Widths of the policy's Gaussian the local candidates are drawn at: explore, refine. */
static const double widths[] = { 1.0, 0.5, 0.25 };

struct kp_rollout {
	struct kp_rollout_config cfg;
	struct kp_ppo *ppo;
	struct kp_forest *model;
	struct kp_rng rng;
	int F;				/* model features: configuration, then state */
	double *X, *y, *lhs;
	int rows;
	double u_best[KP_ROLLOUT_MAX_DIM], r_best;	/* the incumbent: best real trial */
	double ctx[KP_ROLLOUT_MAX_STATE];		/* the state the next trial starts in */
	double last_reward;
	double pending[KP_ROLLOUT_MAX_DIM];
	bool acted;
	struct kp_rollout_stats st;
};

void kp_rollout_config_default(struct kp_rollout_config *cfg, int dim, int nstate, int max_trials)
{
	*cfg = (struct kp_rollout_config){ .dim = dim, .nstate = nstate, .max_trials = max_trials,
					   .n_init = 5, .n_local = 64, .n_global = 64, .n_look = 4,
					   .lookahead = 0.5, .kappa = 1.0, .imagined = 7,
					   .ntrees = 100, .seed = 1 };
}

static double clip1(double x)
{
	return x < -1 ? -1 : x > 1 ? 1 : x;
}

static void obs_of(const struct kp_rollout *r, const double *inc, double r_inc, double last,
		   float *o)
{
	int i, d = r->cfg.dim;

	for (i = 0; i < d; i++)
		o[i] = inc[i];
	o[d] = r_inc;
	o[d + 1] = last;
	for (i = 0; i < r->cfg.nstate; i++)
		o[d + 2 + i] = r->ctx[i];
}

/* A Latin hypercube: each knob's range cut in n_init strata, each stratum used once. */
static void latin_hypercube(struct kp_rollout *r)
{
	uint32_t perm[64];
	int n = r->cfg.n_init, i, k;

	for (k = 0; k < r->cfg.dim; k++) {
		for (i = 0; i < n; i++)
			perm[i] = i;
		kp_rng_shuffle(&r->rng, perm, n);
		for (i = 0; i < n; i++)
			r->lhs[i * r->cfg.dim + k] = -1 + 2 * (perm[i] + kp_rng_uniform(&r->rng)) / n;
	}
}

int kp_rollout_create(struct kp_rollout **out, const struct kp_rollout_config *cfg)
{
	struct kp_forest_config fc;
	struct kp_ppo_config pc;
	struct kp_rollout *r;
	int err;

	*out = NULL;
	if (cfg->dim < 1 || cfg->dim > KP_ROLLOUT_MAX_DIM || cfg->nstate < 0 ||
	    cfg->nstate > KP_ROLLOUT_MAX_STATE || cfg->max_trials < 1 || cfg->n_init < 0 ||
	    cfg->n_init > 64 || cfg->n_look > LOOK_MAX || cfg->n_local < 0 || cfg->n_global < 0 ||
	    cfg->n_local + cfg->n_global < 1)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->cfg = *cfg;
	r->F = cfg->dim + cfg->nstate;
	r->X = calloc((size_t)cfg->max_trials * r->F, sizeof(double));
	r->y = calloc(cfg->max_trials, sizeof(double));
	r->lhs = calloc((size_t)(cfg->n_init + 1) * cfg->dim, sizeof(double));
	err = !r->X || !r->y || !r->lhs ? -ENOMEM : 0;
	kp_forest_config_default(&fc);
	fc.ntrees = cfg->ntrees;
	fc.seed = cfg->seed;
	fc.dist_dims = cfg->dim;	/* the state is not in unit space */
	err = err ?: kp_forest_create(&r->model, &fc, r->F);
	kp_ppo_config_tuning(&pc, cfg->dim + 2 + cfg->nstate, cfg->dim);
	pc.num_steps = 8;
	pc.num_minibatches = 2;
	pc.seed = cfg->seed;
	err = err ?: kp_ppo_create(&r->ppo, &pc);
	if (err) {
		kp_rollout_destroy(r);
		return err;
	}
	kp_rng_seed(&r->rng, cfg->seed ^ 0x726f6c6c6f7574ull);
	latin_hypercube(r);
	r->st.oob_r2 = r->st.oob_nmae = NAN;
	*out = r;
	return 0;
}

void kp_rollout_destroy(struct kp_rollout *r)
{
	if (!r)
		return;
	kp_ppo_destroy(r->ppo);
	kp_forest_destroy(r->model);
	free(r->X);
	free(r->y);
	free(r->lhs);
	free(r);
}

static void predict(const struct kp_rollout *r, const double *u, double *mean, double *std)
{
	double x[KP_ROLLOUT_MAX_DIM + KP_ROLLOUT_MAX_STATE];

	memcpy(x, u, sizeof(double) * r->cfg.dim);
	memcpy(x + r->cfg.dim, r->ctx, sizeof(double) * r->cfg.nstate);
	kp_forest_predict(r->model, x, mean, std);
}

/* A step from inc drawn from the policy's Gaussian (mean mu) at width w, noise eps. */
static void step_from(const struct kp_rollout *r, const double *inc, const float *mu, double w,
		      const double *eps, double *c)
{
	const float *logstd = kp_ppo_logstd(r->ppo);
	int k;

	for (k = 0; k < r->cfg.dim; k++)
		c[k] = clip1(inc[k] + w * (mu[k] + exp(logstd[k]) * eps[k]));
}

/*
 * A candidate's score: optimistic value now, plus the lookahead: if the
 * model expects c to become the incumbent, the policy's next steps start
 * from there; the best of n_look of them (common noise for every candidate,
 * so the comparison is fair) is what choosing c makes reachable next.
 */
static int score(struct kp_rollout *r, const double *c, const double *look, double *s,
		 double *mean, double *std)
{
	const struct kp_rollout_config *g = &r->cfg;
	double m, sd, q, inc[KP_ROLLOUT_MAX_DIM], rb, best = -INFINITY, n[KP_ROLLOUT_MAX_DIM];
	float o[OBS_MAX], mu[KP_ROLLOUT_MAX_DIM];
	int l, err;

	predict(r, c, &m, &sd);
	q = m + g->kappa * sd;
	*mean = m, *std = sd, *s = q;
	if (!g->n_look || g->lookahead <= 0)
		return 0;
	memcpy(inc, m > r->r_best ? c : r->u_best, sizeof(double) * g->dim);
	rb = m > r->r_best ? m : r->r_best;
	obs_of(r, inc, rb, m, o);
	err = kp_ppo_act_deterministic(r->ppo, o, mu);
	if (err)
		return err;
	for (l = 0; l < g->n_look; l++) {
		step_from(r, inc, mu, 1.0, look + l * g->dim, n);
		predict(r, n, &m, &sd);
		if (m + g->kappa * sd > best)
			best = m + g->kappa * sd;
	}
	*s = q + g->lookahead * best;
	return 0;
}

/* The model's choice among the policy's and the uniform candidates. */
static int plan(struct kp_rollout *r, double *u)
{
	const struct kp_rollout_config *g = &r->cfg;
	double look[LOOK_MAX * KP_ROLLOUT_MAX_DIM], eps[KP_ROLLOUT_MAX_DIM], c[KP_ROLLOUT_MAX_DIM];
	double best = -INFINITY, s, m, sd;
	float o[OBS_MAX], mu[KP_ROLLOUT_MAX_DIM];
	/*
	 * Drawn from a copy, stored back at the end: through a pointer into *r,
	 * clang's analyzer takes every field of r (g's sizes too) as changed by
	 * each draw, and look[] as maybe shorter than score() reads.
	 */
	struct kp_rng rng = r->rng;
	int j, k, l, err;

	obs_of(r, r->u_best, r->r_best, r->last_reward, o);
	err = kp_ppo_act_deterministic(r->ppo, o, mu);
	if (err)
		return err;
	/* Row by row: the order score() reads them in, one row per look. */
	for (l = 0; l < g->n_look; l++)
		for (k = 0; k < g->dim; k++)
			look[l * g->dim + k] = kp_rng_gauss(&rng);
	for (j = 0; j < g->n_local + g->n_global; j++) {
		for (k = 0; k < g->dim; k++)
			eps[k] = j < g->n_local ? kp_rng_gauss(&rng) : kp_rng_uniform(&rng) * 2 - 1;
		if (j < g->n_local)
			step_from(r, r->u_best, mu, widths[j % 3], eps, c);
		else
			memcpy(c, eps, sizeof(double) * g->dim);
		err = score(r, c, look, &s, &m, &sd);
		if (err)
			break;
		if (s > best) {
			best = s;
			memcpy(u, c, sizeof(double) * g->dim);
			r->st.pred_mean = m;
			r->st.pred_std = sd;
			r->st.src = j < g->n_local ? KP_ROLLOUT_LOCAL : KP_ROLLOUT_GLOBAL;
		}
	}
	r->rng = rng;
	return err;
}

int kp_rollout_propose(struct kp_rollout *r, double *u)
{
	float o[OBS_MAX], a[KP_ROLLOUT_MAX_DIM];
	int k, err;

	if (r->acted)
		return -EBUSY;
	if (r->rows < r->cfg.n_init) {
		memcpy(u, r->lhs + r->rows * r->cfg.dim, sizeof(double) * r->cfg.dim);
		r->st.src = KP_ROLLOUT_INIT;
		predict(r, u, &r->st.pred_mean, &r->st.pred_std);
	} else if ((err = plan(r, u))) {
		return err;
	}
	/* What is tried is recorded as the policy's step from the incumbent. */
	for (k = 0; k < r->cfg.dim; k++)
		a[k] = u[k] - r->u_best[k];
	obs_of(r, r->u_best, r->r_best, r->last_reward, o);
	err = kp_ppo_act_given(r->ppo, o, a, NULL);
	if (err)
		return err;
	memcpy(r->pending, u, sizeof(double) * r->cfg.dim);
	r->acted = true;
	return 0;
}

/* One step for PPO's buffer, each its own one-step episode (bootstrapped); updates when full. */
static int ppo_step(struct kp_rollout *r, double reward, const float *next)
{
	float rw = reward;
	bool trunc = true;
	int full = kp_ppo_record(r->ppo, &rw, NULL, &trunc, next);

	if (full <= 0)
		return full;
	r->st.ppo_updates++;
	return kp_ppo_update(r->ppo, next, NULL);
}

/* PPO acting on the model: imagined trials from where the real run stands. */
static int imagine(struct kp_rollout *r)
{
	double inc[KP_ROLLOUT_MAX_DIM], rb = r->r_best, last = r->last_reward, c[KP_ROLLOUT_MAX_DIM], m;
	float o[OBS_MAX], a[KP_ROLLOUT_MAX_DIM];
	int i, k, err;

	memcpy(inc, r->u_best, sizeof(inc));
	for (i = 0; i < r->cfg.imagined; i++) {
		obs_of(r, inc, rb, last, o);
		err = kp_ppo_act(r->ppo, o, a, NULL, NULL);
		if (err)
			return err;
		for (k = 0; k < r->cfg.dim; k++)
			c[k] = clip1(inc[k] + a[k]);
		predict(r, c, &m, NULL);
		if (m > rb) {
			memcpy(inc, c, sizeof(inc));
			rb = m;
		}
		last = m;
		obs_of(r, inc, rb, last, o);
		err = ppo_step(r, m, o);
		if (err)
			return err;
	}
	return 0;
}

int kp_rollout_tell(struct kp_rollout *r, const double *u, const double *state, double reward)
{
	const struct kp_rollout_config *g = &r->cfg;
	double *row;
	float o[OBS_MAX];
	int k, err;

	if (!r->acted)
		return -EINVAL;
	if (!isfinite(reward))
		return -EDOM;
	u = u ? u : r->pending;
	for (k = 0; k < g->nstate && state; k++)
		if (!isfinite(state[k]))
			return -EDOM;
	r->acted = false;
	if (r->rows < g->max_trials) {
		row = r->X + (size_t)r->rows * r->F;
		for (k = 0; k < g->dim; k++)
			row[k] = clip1(u[k]);
		memcpy(row + g->dim, r->ctx, sizeof(double) * g->nstate);
		r->y[r->rows++] = reward;
	}
	if (reward > r->r_best) {
		for (k = 0; k < g->dim; k++)
			r->u_best[k] = clip1(u[k]);
		r->r_best = reward;
	}
	r->last_reward = reward;
	for (k = 0; k < g->nstate; k++)
		r->ctx[k] = state ? state[k] : 0;
	obs_of(r, r->u_best, r->r_best, r->last_reward, o);
	err = ppo_step(r, reward, o);
	err = err ?: kp_forest_fit(r->model, r->X, r->y, r->rows);
	if (err)
		return err;
	r->st.rows = r->rows;
	kp_forest_oob(r->model, &r->st.oob_r2, &r->st.oob_nmae);
	return r->rows >= g->n_init ? imagine(r) : 0;
}

int kp_rollout_train(struct kp_rollout *r, int rounds)
{
	float o[OBS_MAX], a[KP_ROLLOUT_MAX_DIM];
	int before = r->st.ppo_updates, k, err = 0;

	if (r->rows < r->cfg.n_init)
		return -EAGAIN;
	for (int i = 0; i < rounds && !err; i++)
		err = imagine(r);
	/*
	 * A proposal awaiting its outcome had its step in PPO's open slot,
	 * which the imagined steps took: give it back, under the policy as
	 * trained now, so the real outcome is recorded against it.
	 */
	if (r->acted) {
		for (k = 0; k < r->cfg.dim; k++)
			a[k] = r->pending[k] - r->u_best[k];
		obs_of(r, r->u_best, r->r_best, r->last_reward, o);
		err = err ?: kp_ppo_act_given(r->ppo, o, a, NULL);
	}
	return err ? err : r->st.ppo_updates - before;
}

void kp_rollout_stats(const struct kp_rollout *r, struct kp_rollout_stats *st)
{
	*st = r->st;
}

struct kp_ppo *kp_rollout_policy(struct kp_rollout *r)
{
	return r->ppo;
}
