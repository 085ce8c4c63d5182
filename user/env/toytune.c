// SPDX-License-Identifier: GPL-2.0
/* The tuning-shaped toy task (see toytune.h). */
#include <string.h>
#include "env/toytune.h"

/* Fixed landscape: optimum off-centre, knobs of unequal sensitivity. */
static const double OPT[KP_TOYTUNE_DIM] = { 0.6, -0.4, 0.3, -0.7 };
static const double W[KP_TOYTUNE_DIM] = { 1.0, 0.5, 2.0, 1.0 };

void kp_toytune_init(struct kp_toytune *t, uint64_t seed, double noise)
{
	memset(t, 0, sizeof(*t));
	memcpy(t->opt, OPT, sizeof(OPT));
	memcpy(t->w, W, sizeof(W));
	t->noise = noise;
	kp_rng_seed(&t->rng, seed);
}

void kp_toytune_reset(struct kp_toytune *t, float *obs)
{
	memset(t->obs, 0, sizeof(t->obs));
	t->steps = 0;
	memcpy(obs, t->obs, sizeof(t->obs));
}

double kp_toytune_value(const struct kp_toytune *t, const float *action)
{
	double r = 1;
	int d;

	for (d = 0; d < KP_TOYTUNE_DIM; d++) {
		double a = action[d] > 1 ? 1 : action[d] < -1 ? -1 : action[d];

		r -= t->w[d] * (a - t->opt[d]) * (a - t->opt[d]);
	}
	return r;
}

double kp_toytune_optimum(const struct kp_toytune *t)
{
	return 1.0;
}

float kp_toytune_step(struct kp_toytune *t, const float *action, float *obs, bool *truncated)
{
	double r = kp_toytune_value(t, action) + t->noise * kp_rng_gauss(&t->rng);
	int d;

	for (d = 0; d < KP_TOYTUNE_DIM; d++)
		t->obs[d] = action[d] > 1 ? 1 : action[d] < -1 ? -1 : action[d];
	t->obs[KP_TOYTUNE_DIM] = r;
	t->steps++;
	*truncated = t->steps >= KP_TOYTUNE_EPISODE;
	memcpy(obs, t->obs, sizeof(t->obs));
	return r;
}

static int toytune_reset(struct kp_env *e, float *obs, char *why, size_t len)
{
	kp_toytune_reset(e->priv, obs);
	return 0;
}

static int toytune_step(struct kp_env *e, const double *action, float *obs, double *reward,
			bool *done, char *why, size_t len)
{
	float a[KP_TOYTUNE_DIM];
	int i;

	for (i = 0; i < KP_TOYTUNE_DIM; i++)
		a[i] = action[i];
	*reward = kp_toytune_step(e->priv, a, obs, done);
	return 0;
}

static const struct kp_env_ops toytune_ops = { .reset = toytune_reset, .step = toytune_step };

void kp_toytune_env(struct kp_toytune *t, struct kp_env *e)
{
	*e = (struct kp_env){ .name = "toytune", .ops = &toytune_ops, .priv = t,
			      .obs_dim = KP_TOYTUNE_OBS, .act_dim = KP_TOYTUNE_DIM };
}
