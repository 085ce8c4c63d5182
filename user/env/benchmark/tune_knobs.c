// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "env/benchmark/tune_run.h"
#include "lib/clock.h"
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


int tune_add_knobs(struct tune *t, char *why, size_t len)
{
	int i, err;

	for (i = 0; i < t->c->nactions; i++) {
		const struct kp_tune_action *a = &t->c->actions[i];
		const struct kp_knob *b = kp_knob_builtin(a->knob);
		struct kp_knob k;

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
		if (a->max_step > 0)
			k.step_abs = llround(a->max_step);
		err = kp_session_add_knob(t->s, &k, why, len);
		if (err)
			return err;
	}
	return 0;
}


/* Keep the best values on the host: stepwise, each step within the rules. */
int tune_apply_best(struct tune *t, char *why, size_t len)
{
	struct kp_session_opts so = { .state_dir = t->o->state_dir, .cmd = "tune --apply-best",
				      .keep = true, .step_policy = KP_STEP_CLAMP };
	char vals[KP_TUNE_MAX_ACTIONS][64], applied[KP_TUNE_MAX_ACTIONS][64];
	struct kp_session *s;
	int i, k, err;

	err = kp_session_open(&so, &s, why, len);
	if (err)
		return err;
	memcpy(vals, t->r.trials[t->r.best].values, sizeof(vals));
	for (k = 0; k < 20; k++) {
		struct tune tmp = *t;
		bool done = true;

		tmp.s = s;
		err = tune_apply(&tmp, vals, "tune --apply-best", applied, why, len);
		if (err)
			break;
		for (i = 0; i < t->c->nactions; i++)
			if (strcmp(applied[i], vals[i]))
				done = false;
		if (done)
			break;
		/* clamped by the step limit: the next step after the knobs' interval */
		sleep(1);
	}
	kp_session_close(s);
	return err;
}
