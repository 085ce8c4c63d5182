// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <math.h>
#include <string.h>
#include "agent/ppo.h"
#include "agent/rng.h"
#include "env/benchmark/tune_run.h"
#include "safety/session.h"

#define PPO_ROLLOUT	8	/* trials per PPO update: tens of trials, several updates */
#define PPO_STEP	1.0	/* a PPO action moves the incumbent by STEP * a, per knob, in [-1, 1] units */

/*
 * PPO's action is a bounded step from the incumbent (the best configuration
 * found so far, at first the current one), not a point in the box: with tens
 * of trials, a policy that starts as a local search around the best known
 * configuration and learns which directions pay beats one that must first
 * learn where the good region is (tools/bench/tuning measures it against
 * random search). It is also how the safety layer thinks: bounded steps.
 * The observation: the incumbent, its reward, the last reward, the state.
 */
int tune_agent_open(struct tune *t)
{
	struct kp_ppo_config pc;

	t->obs_dim = t->c->nactions + 2 + t->c->nstate;
	kp_rng_seed(&t->rng, t->c->seed);
	if (t->c->algo != KP_ALGO_PPO)
		return 0;
	kp_ppo_config_tuning(&pc, t->obs_dim, t->c->nactions);
	pc.num_steps = PPO_ROLLOUT;
	pc.num_minibatches = 2;
	pc.seed = t->c->seed;
	return kp_ppo_create(&t->ppo, &pc);
}

/* Where a knob value sits in an action's range, in [-1, 1]. */
static double value_unit(struct tune *t, int i, const char *text)
{
	const struct kp_tune_action *a = &t->c->actions[i];
	const struct kp_knob *def = kp_session_knob(t->s, a->knob);
	struct kp_knob span;
	struct kp_value v;
	char err[256];
	long long x;

	if (!def || kp_value_parse(def, text, &v, err, sizeof(err)))
		return 0;
	if (def->type == KP_VT_ENUM) {
		const char *w = def->enums;

		for (x = 0; w && strncmp(w, v.s, strlen(v.s)); x++)
			if ((w = strchr(w, ' ')))
				w++;
	} else {
		x = v.v[def->type == KP_VT_TUPLE && a->element < v.n ? a->element : 0];
	}
	span = *def;
	span.min = llround(a->min);
	span.max = llround(a->max);
	span.scale = a->log_scale ? KP_SCALE_LOG : KP_SCALE_LINEAR;
	return kp_knob_to_unit(&span, x);
}

static void agent_observe(struct tune *t, double last_reward, const double *state)
{
	int i, d = t->c->nactions;

	for (i = 0; i < d; i++)
		t->obs_vec[i] = t->u_best[i];
	t->obs_vec[d] = t->r_best;
	t->obs_vec[d + 1] = last_reward;
	for (i = 0; i < t->c->nstate; i++)
		t->obs_vec[d + 2 + i] = state ? state[i] : 0;
}

/*
 * The first incumbent is the middle of the box the config asks to explore
 * (the usual prior), standing for the baseline: any trial that beats the
 * baseline replaces it.
 */
void tune_agent_start(struct tune *t)
{
	int i;

	for (i = 0; i < t->c->nactions; i++)
		t->u_best[i] = 0;
	t->r_best = 0;	/* the baseline's reward */
	agent_observe(t, 0, NULL);
}

int tune_agent_propose(struct tune *t, double *u, float *a)
{
	int i, err;

	if (!t->ppo) {
		for (i = 0; i < t->c->nactions; i++)
			u[i] = kp_rng_uniform(&t->rng) * 2 - 1;
		return 0;
	}
	err = kp_ppo_act(t->ppo, t->obs_vec, a, NULL, NULL);
	for (i = 0; !err && i < t->c->nactions; i++) {
		u[i] = t->u_best[i] + PPO_STEP * a[i];
		u[i] = u[i] < -1 ? -1 : u[i] > 1 ? 1 : u[i];
	}
	return err;
}

/*
 * The outcome of the last proposal; the next observation is built here. The
 * incumbent is what was applied, which the validator may have clamped.
 */
int tune_agent_learn(struct tune *t, char applied[][64], bool ok, double reward,
		     const double *state, int trial)
{
	bool truncated = trial % t->c->episode_steps == 0;
	float r = reward;
	int i, full;

	if (ok && reward > t->r_best) {
		for (i = 0; i < t->c->nactions; i++)
			t->u_best[i] = value_unit(t, i, applied[i]);
		t->r_best = reward;
	}
	agent_observe(t, reward, state);
	if (!t->ppo)
		return 0;
	full = kp_ppo_record(t->ppo, &r, NULL, &truncated, t->obs_vec);
	if (full < 0)
		return full;
	return full ? kp_ppo_update(t->ppo, t->obs_vec, NULL) : 0;
}
