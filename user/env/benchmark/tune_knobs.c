// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "env/benchmark/tune_run.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "safety/session.h"

/* The value an action in [-1, 1] stands for, as text for the validator. */
int tune_action_value(struct tune *t, int i, double u, char *out, size_t len)
{
	const struct kp_tune_action *a = &t->c->actions[i];
	const struct kp_knob *def = kp_session_knob(t->s, a->knob);
	struct kp_value v;
	struct kp_knob span;
	char cur[KP_VALUE_MAX], err[256];
	long long x;
	int ret;

	if (!def)
		return -ENOENT;
	span = *def;
	span.min = llround(a->min);
	span.max = llround(a->max);
	span.scale = a->log_scale ? KP_SCALE_LOG : KP_SCALE_LINEAR;
	x = kp_knob_from_unit(&span, u);
	switch (def->type) {
	case KP_VT_INT:
		snprintf(out, len, "%lld", x);
		return 0;
	case KP_VT_TUPLE:
		/* One element moves; the others keep their current values. */
		ret = kp_session_read(t->s, a->knob, cur, sizeof(cur));
		if (ret)
			return ret;
		if (kp_value_parse(def, cur, &v, err, sizeof(err)) || a->element >= v.n)
			return -EINVAL;
		v.v[a->element] = x;
		return kp_value_format(&v, out, len);
	case KP_VT_ENUM: {
		const char *w = def->enums;
		long long k;

		for (k = 0; k < x && (w = strchr(w, ' ')); k++)
			w++;
		if (!w)
			return -EINVAL;
		snprintf(out, len, "%.*s", (int)strcspn(w, " "), w);
		return 0;
	}
	default:
		return -EINVAL;
	}
}

/*
 * Host mode writes the same knobs every trial: a fast benchmark must not
 * run into their minimum write interval, so wait it out.
 */
void tune_wait_interval(struct tune *t)
{
	double need = 0, left;
	int i;

	for (i = 0; i < t->c->nactions; i++) {
		const struct kp_knob *k = kp_session_knob(t->s, t->c->actions[i].knob);

		if (k && k->min_interval_ms / 1000.0 > need)
			need = k->min_interval_ms / 1000.0;
	}
	left = t->last_apply + need + 0.01 - kp_mono_s();
	if (t->last_apply && left > 0)
		usleep((useconds_t)(left * 1e6));
}

/* Apply values[] in the session's current target (one batch). */
int tune_apply(struct tune *t, char values[][64], const char *reason, char applied[][64],
	       char *why, size_t len)
{
	static const char *const what[] = { "applied", "clamped", "unchanged", "would set",
					    "not done" };
	struct kp_change ch[KP_TUNE_MAX_ACTIONS];
	int i, n = t->c->nactions, err;

	for (i = 0; i < n; i++) {
		memset(&ch[i], 0, sizeof(ch[i]));
		ch[i].knob = t->c->actions[i].knob;
		ch[i].value = values[i];
	}
	err = kp_session_apply(t->s, ch, n, reason, why, len);
	if (err)
		return err;
	for (i = 0; i < n && applied; i++)
		snprintf(applied[i], 64, "%s", ch[i].applied);
	for (i = 0; i < n && t->o->dry_run; i++)
		printf("%-9s %s: %s -> %s\n", what[ch[i].status], ch[i].knob, ch[i].old,
		       ch[i].applied[0] ? ch[i].applied : ch[i].value);
	return 0;
}


/* The config's range against the table's: narrow eff's, say so. */
static int narrow_range(const struct kp_knob *b, struct kp_tune_action *a, char *why,
			size_t len)
{
	if (a->max < b->min || a->min > b->max) {
		snprintf(why, len, "%s: the range [%.15g, %.15g] asked is outside the knob table's safe "
			 "range [%lld, %lld]", a->knob, a->min, a->max, b->min, b->max);
		return -EINVAL;
	}
	if (a->min < b->min) {
		kp_warn("%s: min %.15g narrowed to %lld by the knob table", a->knob, a->min, b->min);
		a->min = b->min;
	}
	if (a->max > b->max) {
		kp_warn("%s: max %.15g narrowed to %lld by the knob table", a->knob, a->max, b->max);
		a->max = b->max;
	}
	return 0;
}

/* The safe floor or ceiling (unless --allow-risky names the knob). */
static int narrow_risk(struct tune *t, struct kp_tune_action *a, char *why, size_t len)
{
	const struct kp_knob *b = kp_knob_builtin(a->knob);
	bool allowed, below;
	enum kp_risk side;
	long long at;

	kp_session_risk(t->s, a->knob, &side, &at, &allowed);
	if (side == KP_RISK_NONE || allowed)
		return 0;
	below = side == KP_RISK_BELOW;
	if (below ? a->max < at : a->min > at) {
		snprintf(why, len, "%s: the range [%.15g, %.15g] asked is %s the safe %s %lld: %s "
			 "(--allow-risky %s allows it)", a->knob, a->min, a->max,
			 below ? "below" : "above", below ? "floor" : "ceiling", at, b->risk_why,
			 a->knob);
		return -EINVAL;
	}
	if (below && a->min < at) {
		kp_warn("%s: min %.15g narrowed to %lld by the knob table's safe floor (below it %s; "
			"--allow-risky %s crosses it)", a->knob, a->min, at, b->risk_why, a->knob);
		a->min = at;
	} else if (!below && a->max > at) {
		kp_warn("%s: max %.15g narrowed to %lld by the knob table's safe ceiling (above it %s; "
			"--allow-risky %s crosses it)", a->knob, a->max, at, b->risk_why, a->knob);
		a->max = at;
	}
	return 0;
}

/* The config's max_step against the table's step (host mode) or netns mode (none). */
static void step_notice(struct tune *t, const struct kp_knob *b, const struct kp_tune_action *a)
{
	if (a->max_step <= 0)
		return;
	if (t->c->netns)
		kp_warn("%s: max_step %.15g does not apply in netns mode: every run starts in fresh "
			"namespaces, where only the range bounds a change", a->knob, a->max_step);
	else if (b && (b->step_abs || b->step_pct) && a->max_step > b->step_abs && !b->step_pct)
		kp_warn("%s: max_step %.15g narrowed to %lld by the knob table", a->knob, a->max_step,
			b->step_abs);
	else if (b && b->step_pct && a->max_step > b->step_abs)
		kp_warn("%s: max_step %.15g narrowed to max(%lld, %d%% of the current value) by the "
			"knob table", a->knob, a->max_step, b->step_abs, b->step_pct);
}

static int add_one(struct tune *t, struct kp_tune_action *a, char *why, size_t len)
{
	const struct kp_knob *b = kp_knob_builtin(a->knob);
	struct kp_knob k;
	int err;

	if (b && (b->type == KP_VT_INT || b->type == KP_VT_TUPLE)) {
		err = narrow_range(b, a, why, len);
		err = err ?: narrow_risk(t, a, why, len);
		if (err)
			return err;
	}
	step_notice(t, b, a);
	if (b) {
		k = *b;
		/* A tuple's range bounds every element: only the action narrows it. */
		if (b->type == KP_VT_INT) {
			k.min = llround(a->min);
			k.max = llround(a->max);
		}
	} else {
		memset(&k, 0, sizeof(k));
		snprintf(k.name, sizeof(k.name), "%s", a->knob);
		k.kind = KP_KNOB_SYSCTL;
		k.type = KP_VT_INT;
		k.arity = 1;
		k.min = llround(a->min);
		k.max = llround(a->max);
		k.min_interval_ms = 1000;
		k.per_netns = t->c->netns;
	}
	k.scale = a->log_scale ? KP_SCALE_LOG : KP_SCALE_LINEAR;
	if (a->max_step > 0) {
		/* the config's own step, in addition to the table's (safety.md) */
		k.step_abs = llround(a->max_step);
		k.step_pct = 0;
	}
	return kp_session_add_knob(t->s, &k, why, len);
}

int tune_add_knobs(struct tune *t, struct kp_tune_config *eff, char *why, size_t len)
{
	int i, err;

	for (i = 0; i < eff->nactions; i++) {
		err = add_one(t, &eff->actions[i], why, len);
		if (err)
			return err;
	}
	return 0;
}

int tune_apply_stepwise(struct tune *t, struct kp_session *s, char vals[][64], const char *reason,
			char *why, size_t len)
{
	char applied[KP_TUNE_MAX_ACTIONS][64];
	struct tune tmp = *t;
	int i, k, err = 0;

	tmp.s = s;
	for (k = 0; k < 20; k++) {
		bool done = true;

		/* clamped by the step limit: the next step after the knobs' interval */
		tune_wait_interval(&tmp);
		err = tune_apply(&tmp, vals, reason, applied, why, len);
		tmp.last_apply = t->last_apply = kp_mono_s();
		if (err)
			break;
		for (i = 0; i < t->c->nactions; i++)
			if (strcmp(applied[i], vals[i]))
				done = false;
		if (done)
			break;
	}
	return err;
}

/* Keep the best values on the host: stepwise, each step within the rules. */
int tune_apply_best(struct tune *t, char *why, size_t len)
{
	struct kp_session_opts so = { .state_dir = t->o->state_dir, .cmd = "tune --apply-best",
				      .keep = true, .step_policy = KP_STEP_CLAMP,
				      .allow_risky = t->o->allow_risky };
	struct kp_session *s;
	int err;

	err = kp_session_open(&so, &s, why, len);
	if (err)
		return err;
	err = tune_apply_stepwise(t, s, t->r.trials[t->r.best].values, "tune --apply-best", why,
				  len);
	kp_session_close(s);
	return err;
}
