// SPDX-License-Identifier: GPL-2.0
/*
 * The run's agent: ppo (the learned model with rollout over a PPO base
 * policy, agent/rollout.h), ppo-plain (PPO alone), random, or an external
 * optimizer asked over JSON lines (external.h). Each proposes a point of the
 * box in [-1, 1] units per knob and learns what it became.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "agent/ppo.h"
#include "agent/rng.h"
#include "agent/rollout.h"
#include "env/benchmark/external.h"
#include "env/benchmark/tune_run.h"
#include "lib/log.h"
#include "safety/session.h"

#define PPO_ROLLOUT	8	/* trials per PPO update: tens of trials, several updates */
#define PPO_STEP	1.0	/* a PPO action moves the incumbent by STEP * a, per knob, in [-1, 1] units */

static int open_external(struct tune *t)
{
	char why[512];
	int err = kp_external_start(&t->ext, t->o->optimizer, t->o->optimizer_timeout_s,
				    why, sizeof(why));

	if (err)
		kp_err("%s", why);
	return err;
}

/*
 * ppo-plain's action is a bounded step from the incumbent (the best
 * configuration found so far, at first the current one), not a point in the
 * box: with tens of trials, a policy that starts as a local search around the
 * best known configuration and learns which directions pay beats one that
 * must first learn where the good region is. It is also how the safety layer
 * thinks: bounded steps. The observation: the incumbent, its reward, the last
 * reward, the state. ppo's base policy is the same (agent/rollout.c).
 */
int tune_agent_open(struct tune *t)
{
	struct kp_rollout_config rc;
	struct kp_ppo_config pc;

	t->r.algo = kp_tune_algo_names[t->c->algo];
	t->obs_dim = t->c->nactions + 2 + t->c->nstate;
	kp_rng_seed(&t->rng, t->c->seed);
	switch (t->c->algo) {
	case KP_ALGO_PPO:
		kp_rollout_config_default(&rc, t->c->nactions, t->c->nstate, t->c->trials + 1);
		rc.seed = t->c->seed;
		return kp_rollout_create(&t->rollout, &rc);
	case KP_ALGO_PPO_PLAIN:
		kp_ppo_config_tuning(&pc, t->obs_dim, t->c->nactions);
		pc.num_steps = PPO_ROLLOUT;
		pc.num_minibatches = 2;
		pc.seed = t->c->seed;
		return kp_ppo_create(&t->ppo, &pc);
	case KP_ALGO_EXTERNAL:
		return open_external(t);
	default:
		return 0;
	}
}

void tune_agent_close(struct tune *t)
{
	kp_ppo_destroy(t->ppo);
	kp_rollout_destroy(t->rollout);
	kp_external_stop(t->ext);
	t->ppo = NULL;
	t->rollout = NULL;
	t->ext = NULL;
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

/* The space: what every knob is, in the order of the points. */
static int send_space(struct tune *t, char *why, size_t len)
{
	static const char *const types[] = { "int", "tuple", "enum", "cpumax", "cpulist" };
	json_t *k = json_array(), *m;
	int i, err;

	for (i = 0; i < t->c->nactions; i++) {
		const struct kp_tune_action *a = &t->c->actions[i];
		const struct kp_knob *def = kp_session_knob(t->s, a->knob);
		int ty = def ? def->type : 0;

		json_array_append_new(k, json_pack("{s:s,s:f,s:f,s:s,s:s}", "name", a->knob,
						   "min", a->min, "max", a->max, "scale",
						   a->log_scale ? "log" : "linear", "type",
						   ty < 5 ? types[ty] : "other"));
	}
	m = json_pack("{s:s,s:o,s:I,s:i,s:s,s:s}", "type", "space", "knobs", k,
		      "seed", (json_int_t)t->c->seed, "trials", t->c->trials, "goal",
		      t->c->goal == KP_GOAL_MINIMIZE ? "minimize" : "maximize",
		      "metric", t->c->metric_name);
	err = m ? kp_external_send(t->ext, m, why, len) : -ENOMEM;
	json_decref(m);
	return err;
}

/* The optimizer's next point: d finite numbers, clipped into [-1, 1]. */
static int ask_external(struct tune *t, double *u)
{
	json_t *m = NULL, *p;
	char why[512];
	int i, err = 0;

	if (!t->ext_lines++)
		err = send_space(t, why, sizeof(why));
	err = err ?: kp_external_recv(t->ext, "ask", &m, why, sizeof(why));
	p = m ? json_object_get(m, "point") : NULL;
	if (!err && (!json_is_array(p) || (int)json_array_size(p) != t->c->nactions)) {
		snprintf(why, sizeof(why), "ask %d: \"point\" must be an array of %d numbers",
			 t->ext_lines, t->c->nactions);
		err = -EPROTO;
	}
	for (i = 0; !err && i < t->c->nactions; i++) {
		u[i] = json_number_value(json_array_get(p, i));
		if (!json_is_number(json_array_get(p, i)) || !isfinite(u[i])) {
			snprintf(why, sizeof(why), "ask %d: point[%d] is not a finite number",
				 t->ext_lines, i);
			err = -EPROTO;
		}
		u[i] = u[i] < -1 ? -1 : u[i] > 1 ? 1 : u[i];
	}
	json_decref(m);
	if (err)
		kp_err("%s", why);
	return err;
}

int tune_agent_propose(struct tune *t, double *u, float *a)
{
	int i, err;

	if (t->rollout)
		return kp_rollout_propose(t->rollout, u);
	if (t->ext)
		return ask_external(t, u);
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

/* What the trial applied, in both units, its metric, and why it failed. */
static int tell_external(struct tune *t, char applied[][64], const double *u, int trial)
{
	const struct kp_trial *tr = &t->r.trials[trial - 1];
	json_t *m, *pt = json_array(), *vals = json_object();
	char why[512], *end;
	int i, err;

	for (i = 0; i < t->c->nactions; i++) {
		long long v = strtoll(applied[i], &end, 10);

		json_array_append_new(pt, json_real(u[i]));
		json_object_set_new(vals, t->c->actions[i].knob, *end || end == applied[i] ?
				    json_string(applied[i]) : json_integer(v));
	}
	m = json_pack("{s:s,s:i,s:o,s:o,s:o,s:b,s:f}", "type", "tell", "trial", trial,
		      "point", pt, "values", vals,
		      "metric", tr->ok ? json_real(tr->metric) : json_null(), "failed", !tr->ok,
		      "reward", tr->reward);
	if (m && !tr->ok)
		json_object_set_new(m, "error", json_string(tr->error));
	err = m ? kp_external_send(t->ext, m, why, sizeof(why)) : -ENOMEM;
	json_decref(m);
	if (err)
		kp_err("%s", why);
	return err;
}

/* The real trial to the model and its policy; the model's quality to the results. */
static int tell_rollout(struct tune *t, const double *u, const double *state, double reward)
{
	struct kp_rollout_stats st;
	int err = kp_rollout_tell(t->rollout, u, state, reward);

	kp_rollout_stats(t->rollout, &st);
	t->r.model_rows = st.rows;
	t->r.model_r2 = st.oob_r2;
	t->r.model_nmae = st.oob_nmae;
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
	double u[KP_TUNE_MAX_ACTIONS];
	float r = reward;
	int i, full;

	for (i = 0; i < t->c->nactions; i++)
		u[i] = value_unit(t, i, applied[i]);
	if (t->rollout)
		return tell_rollout(t, ok ? u : NULL, state, reward);	/* failed: where it was sent */
	if (t->ext)
		return tell_external(t, applied, u, trial);
	if (ok && reward > t->r_best) {
		memcpy(t->u_best, u, sizeof(double) * t->c->nactions);
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
