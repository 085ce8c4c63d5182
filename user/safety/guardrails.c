// SPDX-License-Identifier: GPL-2.0
/*
 * Guardrails: revert to the last known-good values after K regressions in a
 * row, abort after too many failed steps, drop knobs someone else changed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/log.h"
#include "safety/session_impl.h"

int sess_abort(struct kp_session *s, const char *why)
{
	kp_err("aborting: %s; restoring every knob this session changed", why);
	kp_session_restore_knobs(s);	/* a run's cgroups stay until it closes */
	s->aborted = true;
	return -ECANCELED;
}

/* ---- guardrails ------------------------------------------------------- */

static void snapshot_good(struct kp_session *s)
{
	int i;

	for (i = 0; i < s->nk; i++) {
		struct kstate *k = &s->k[i];

		if (!k->touched)
			continue;
		k->has_good = true;
		snprintf(k->good, sizeof(k->good), "%s", k->expected);
	}
}

/* 0, or the first failure's errno with its knob and cause in fail. */
static int revert_to_good(struct kp_session *s, const char *why_text, char *fail, size_t flen)
{
	char why[512], cur[KP_VALUE_MAX];
	int i, err = 0;

	for (i = 0; i < s->nk; i++) {
		struct kstate *k = &s->k[i];
		const char *target;
		struct kp_jrec *r;
		int e;

		if (!k->touched || k->dropped || k->setup)
			continue;
		/* untouched when the snapshot was taken: it held its start value */
		target = k->has_good ? k->good : k->start;
		if (!strcmp(target, k->expected))
			continue;
		if (!sess_act_read(&s->t, k->name, cur, NULL, sizeof(cur)) && !sess_ours(k, cur)) {
			sess_foreign(s, k, cur);
			continue;
		}
		r = sess_rec_new();
		if (!r) {
			snprintf(fail, flen, "no memory for the journal record of %s", k->name);
			return -ENOMEM;
		}
		snprintf(r->old, sizeof(r->old), "%s", k->expected);
		snprintf(r->new, sizeof(r->new), "%s", target);
		snprintf(r->why, sizeof(r->why), "%s", why_text);
		e = sess_jlog(s, KP_J_CHANGE, k, r, true);
		if (!e)
			e = sess_write_verify(&s->t, k->name, target, false, why, sizeof(why));
		if (e) {
			kp_err("guardrail revert of %s failed: %s", k->name, e == -EIO ? why : strerror(-e));
			/* as in apply: the value is now unknown, not the target */
			memset(r, 0, sizeof(*r));
			snprintf(r->why, sizeof(r->why), "%s", e == -EIO ? why : strerror(-e));
			sess_jlog(s, KP_J_FAIL, k, r, true);
			if (!err) {
				if (e == -EIO)	/* why names the knob and the value */
					snprintf(fail, flen, "%.500s", why);
				else
					snprintf(fail, flen, "%s back to %s: %s", k->name, target,
						 strerror(-e));
				err = e;
			}
		} else {
			k->last_t = s->clock();
			kp_info("%s: %s -> %s (%s)", k->name, r->old, target, why_text);
		}
		free(r);
	}
	return err;
}

int kp_session_report(struct kp_session *s, double reward)
{
	char why[256], fail[1200], msg[1300];

	if (s->aborted)
		return -ECANCELED;
	s->failed = 0;
	if (reward != reward)	/* NaN: a broken measurement is a failed step */
		return kp_session_step_failed(s, "reward is NaN");
	if (!s->have_ref || reward >= s->ref - s->thr * (s->ref < 0 ? -s->ref : s->ref)) {
		s->have_ref = true;
		s->ref = reward;
		s->bad = 0;
		snapshot_good(s);
		return 0;
	}
	if (++s->bad < s->regress_steps)
		return 0;
	snprintf(why, sizeof(why),
		 "guardrail: reward below %.6g (last known-good) by more than %.0f%% for %d steps",
		 s->ref, s->thr * 100, s->bad);
	kp_warn("%s; reverting to the last known-good configuration", why);
	s->bad = 0;
	/* s->failed restarts with every report: failed reverts count apart */
	if (!revert_to_good(s, why, fail, sizeof(fail)))
		s->bad_reverts = 0;
	else if (++s->bad_reverts >= s->max_failed) {
		snprintf(msg, sizeof(msg), "the revert to known-good failed %d times in a row: %s",
			 s->bad_reverts, fail);
		return sess_abort(s, msg);
	}
	return 1;
}

int kp_session_step_failed(struct kp_session *s, const char *reason)
{
	char why[512];

	if (s->aborted)
		return -ECANCELED;
	if (++s->failed < s->max_failed) {
		kp_warn("step failed (%d of %d in a row): %s", s->failed, s->max_failed,
			reason ? reason : "?");
		return 0;
	}
	snprintf(why, sizeof(why), "%d failed steps in a row (last: %s)", s->failed,
		 reason ? reason : "?");
	return sess_abort(s, why);
}

int kp_session_check(struct kp_session *s)
{
	char cur[KP_VALUE_MAX];
	int i, n = 0;

	for (i = 0; i < s->nk; i++) {
		struct kstate *k = &s->k[i];

		if (!k->touched || k->dropped || strcmp(k->root, s->root) ||
		    strcmp(k->netns, s->netns))
			continue;
		if (sess_act_read(&s->t, k->name, cur, NULL, sizeof(cur)))
			continue;
		if (!sess_ours(k, cur)) {
			sess_foreign(s, k, cur);
			n++;
		}
	}
	return n;
}


bool kp_session_overridden(struct kp_session *s, const char *name)
{
	struct kstate *k = sess_kfind(s, s->root, s->netns, name, false);

	return k && k->touched && k->dropped;
}

/*
 * The knob is someone else's value now: take that value as the one to go
 * back to. The next write journals it as the original (apply.c does for a
 * dropped knob), so close, rollback and crash recovery restore the admin's
 * value, not the one from before the override.
 */
int kp_session_resume(struct kp_session *s, const char *name)
{
	struct kstate *k = sess_kfind(s, s->root, s->netns, name, false);

	if (!k || !k->dropped || !k->touched)
		return 0;
	k->touched = false;
	k->has_good = false;
	k->expected[0] = '\0';
	kp_info("%s%s%s: managed again; its current value is the one to restore", k->name,
		k->netns[0] ? " in netns " : "", k->netns);
	return 1;
}
