// SPDX-License-Identifier: GPL-2.0
/* Staged deployment with rollback: the verification logic, then the tune session's side. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "lib/log.h"
#include "env/pipeline/deploy.h"
#include "env/pipeline/pipetune_impl.h"

void kp_deploy_opts_default(struct kp_deploy_opts *o)
{
	o->verify = KP_DEPLOY_VERIFY_DEFAULT;
	o->after = KP_DEPLOY_AFTER_DEFAULT;
	o->att_points = KP_DEPLOY_ATT_DEFAULT;
	o->p99_factor = KP_DEPLOY_P99_DEFAULT;
}

int kp_deploy_opts_check(const struct kp_deploy_opts *o, char *why, size_t len)
{
	if (o->verify < 0 || o->verify > 1000)
		snprintf(why, len, "--verify-intervals %d: give 0 (no staging) to 1000", o->verify);
	else if (o->verify && (o->after < 1 || o->after > o->verify))
		snprintf(why, len, "--rollback-after %d: give 1 to --verify-intervals (%d)", o->after,
			 o->verify);
	else if (o->verify && !(o->att_points >= 0 && o->att_points <= 1))
		snprintf(why, len, "--rollback-attainment %g: give points in [0, 100]",
			 o->att_points * 100);
	else if (o->verify && !(o->p99_factor > 1 && o->p99_factor <= 1000))
		snprintf(why, len, "--rollback-p99 %g: give a factor in (1, 1000]", o->p99_factor);
	else
		return 0;
	return -EINVAL;
}

void kp_deploy_init(struct kp_deploy *dp, const struct kp_deploy_opts *o, int nops,
		    const double *q)
{
	memset(dp, 0, sizeof(*dp));
	dp->o = *o;
	dp->nops = nops;
	memcpy(dp->good, q, nops * sizeof(*q));
	dp->ref_p99 = NAN;
}

bool kp_deploy_holding(const struct kp_deploy *dp)
{
	return dp->left > 0 || dp->rollback_due || dp->settle;
}

void kp_deploy_start(struct kp_deploy *dp, const double *q)
{
	int i;

	dp->deploys++;
	if (!dp->o.verify)
		return;
	dp->scale_up = true;
	for (i = 0; i < dp->nops; i++)
		dp->scale_up &= q[i] >= dp->good[i] - 1e-9;
	dp->left = dp->o.verify;
	dp->bad = 0;
	dp->win_att = dp->win_p99 = 0;
	dp->win_n = dp->win_np99 = 0;
}

void kp_deploy_rolled_back(struct kp_deploy *dp)
{
	dp->rollbacks++;
	dp->rollback_due = false;
	dp->left = 0;
	/*
	 * The bad quotas left a backlog: until it has drained, a new change
	 * would be judged on the backlog's p99, and the known-good's
	 * reference would take it in.
	 */
	dp->settle = true;
}

/* Above 1 is a backlog draining, not a better configuration: no bar set by it. */
static double att_of(double att)
{
	return isfinite(att) ? fmin(att, 1) : 0;
}

bool kp_deploy_regressed(const struct kp_deploy *dp, double att, double p99)
{
	if (!dp->have_ref)
		return false;
	if (att_of(att) < dp->ref_att - dp->o.att_points - 1e-9)
		return true;
	if (!isfinite(dp->ref_p99))
		return false;
	/* nothing arrived at all is worse than any latency */
	return !isfinite(p99) || (p99 > dp->o.p99_factor * dp->ref_p99 &&
				  p99 > dp->ref_p99 + KP_DEPLOY_P99_SLACK_MS);
}

/*
 * The known-good's reference: half the last interval, half what it was (a
 * noisy p99); not the intervals after a rollback up to the first with
 * the backlog drained, nor one draining a backlog (attainment over
 * KP_DEPLOY_DRAINING: its p99 is the backlog's).
 */
static void follow(struct kp_deploy *dp, double att, double p99)
{
	if (dp->settle) {
		dp->settle = att > KP_DEPLOY_DRAINING;
		return;
	}
	if (dp->have_ref && att > KP_DEPLOY_DRAINING)
		return;
	if (!dp->have_ref) {
		dp->ref_att = att_of(att);
		dp->ref_p99 = p99;
		dp->have_ref = true;
		return;
	}
	dp->ref_att = 0.5 * dp->ref_att + 0.5 * att_of(att);
	if (isfinite(p99))
		dp->ref_p99 = isfinite(dp->ref_p99) ? 0.5 * dp->ref_p99 + 0.5 * p99 : p99;
}

enum kp_deploy_verdict kp_deploy_measure(struct kp_deploy *dp, int n, const double *cur,
					 double att, double p99)
{
	if (dp->rollback_due)
		return KP_DEPLOY_FAIL;
	if (!dp->left) {
		follow(dp, att, p99);
		return KP_DEPLOY_STEADY;
	}
	dp->left--;
	dp->bad = kp_deploy_regressed(dp, att, p99) ? dp->bad + 1 : 0;
	if (dp->bad && dp->scale_up) {
		dp->excused++;
		dp->bad = 0;
	}
	dp->win_att += att_of(att);
	dp->win_n++;
	if (isfinite(p99)) {
		dp->win_p99 += p99;
		dp->win_np99++;
	}
	if (dp->bad >= dp->o.after) {
		dp->left = 0;
		dp->rollback_due = true;
		return KP_DEPLOY_FAIL;
	}
	if (dp->left)
		return KP_DEPLOY_WATCH;
	/* the window passed: its own figures are the new reference */
	memcpy(dp->good, cur, dp->nops * sizeof(*cur));
	dp->good_since = n;
	dp->verified++;
	dp->ref_att = dp->win_att / dp->win_n;
	dp->ref_p99 = dp->win_np99 ? dp->win_p99 / dp->win_np99 : NAN;
	dp->have_ref = true;
	return KP_DEPLOY_PASS;
}

/* ---- the tune session's side ------------------------------------------------ */

void kp_pt_say(const struct pt *t, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	kp_info("%s", msg);
	if (t->o->quiet || t->o->json)
		return;
	/* over the progress line, which the next interval redraws */
	fprintf(stderr, "%skpilot: %s\n", t->o->progress ? "\r\033[K" : "", msg);
}

void kp_pt_deploy_init(struct pt *t)
{
	kp_deploy_init(&t->dp, &t->o->deploy, t->d->nops, t->cur);
	kp_deploy_measure(&t->dp, 0, t->cur, t->st.attainment, t->st.p99_ms);
}

/* "split 0.50->0.30 count 0.50->0.70": the operators a change moves. */
static void moves(const struct pt *t, const double *from, const double *to, char *buf,
		  size_t len)
{
	size_t k = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < t->d->nops && k < len; i++)
		if (fabs(from[i] - to[i]) > 1e-9)
			k += snprintf(buf + k, len - k, "%s%.20s %.2f->%.2f", k ? " " : "",
				      t->d->ops[i].name, from[i], to[i]);
}

/*
 * Reconfigure only for a change of at least the deadband on some operator,
 * or, while the pipeline falls short, to give more to an operator that its
 * quota holds back (throttled in a fifth of the periods or more): small
 * moves cost a reconfiguration and buy nothing measurable, and more quota
 * for an operator that does not use what it has cannot help.
 */
static bool worth_it(const struct pt *t, const double *q)
{
	bool short_fall = t->st.attainment < 0.98;
	int i;

	for (i = 0; i < t->d->nops; i++) {
		double dq = q[i] - t->cur[i];

		if (fabs(dq) >= t->o->deadband - 1e-9 ||
		    (short_fall && dq > 1e-9 && t->st.op[i].throttled_frac >= 0.2))
			return true;
	}
	return false;
}

/* q through the backend (the safety session); whether a quota changed. */
static int apply(struct pt *t, int n, const double *q, const char *reason, struct kp_trial *tr,
		 bool *reconf)
{
	int i, err;

	snprintf(t->reason, sizeof(t->reason), "%s", reason);
	err = t->be->apply(t->e, q, reason, tr->error, sizeof(tr->error));
	if (err == -ECANCELED || err == -EINTR)
		return err;
	if (err) {
		kp_warn("interval %d: %s", n, tr->error);
		t->r.failures++;
		return 1;
	}
	for (i = 0; i < t->d->nops; i++)
		*reconf |= fabs(t->be->quotas(t->e)[i] - t->cur[i]) > 1e-9;
	memcpy(t->cur, t->be->quotas(t->e), sizeof(t->cur));
	return 0;
}

static int rollback(struct pt *t, int n, struct kp_trial *tr, bool *reconf)
{
	double from[KP_PIPE_MAX_OPS];
	char reason[64], mv[256];
	int err;

	memcpy(from, t->cur, sizeof(from));
	snprintf(reason, sizeof(reason), "rollback interval %d", n);
	err = apply(t, n, t->dp.good, reason, tr, reconf);
	if (err)
		return err < 0 ? err : 0;	/* refused: tried again next interval */
	kp_deploy_rolled_back(&t->dp);
	t->label = "rollback";
	moves(t, from, t->cur, mv, sizeof(mv));
	kp_pt_say(t, "interval %d: rollback to the known-good of interval %d (%s): %s", n,
		  t->dp.good_since, t->regression, mv[0] ? mv : "no change");
	return 0;
}

/* The forced regression: the operator using the most CPU down to the grid's least. */
static void bad_quotas(const struct pt *t, double *q)
{
	int i, b = 0;

	memcpy(q, t->cur, sizeof(t->cur));
	for (i = 1; i < t->d->nops; i++)
		if (t->st.op[i].cpu > t->st.op[b].cpu)
			b = i;
	q[b] = KP_QUOTA_STEP;
}

int kp_pt_stage(struct pt *t, int n, const double *q, struct kp_trial *tr, bool *reconf)
{
	double from[KP_PIPE_MAX_OPS], bad[KP_PIPE_MAX_OPS];
	const char *who = t->r.algo;
	char reason[64], mv[256];
	int err;

	*reconf = false;
	t->label = NULL;
	if (t->dp.rollback_due)
		return rollback(t, n, tr, reconf);
	if (kp_deploy_holding(&t->dp)) {
		t->label = t->dp.settle ? "settle" : "verify";
		return 0;
	}
	if (t->o->force_regression && n >= t->o->force_regression && !t->forced) {
		bad_quotas(t, bad);
		q = bad;
		who = "forced regression";
		t->forced = true;
	} else if (t->o->algo == KP_PIPE_STATIC || !worth_it(t, q)) {
		return 0;
	}
	memcpy(from, t->cur, sizeof(from));
	snprintf(reason, sizeof(reason), "%s interval %d", who, n);
	err = apply(t, n, q, reason, tr, reconf);
	if (err || !*reconf)
		return err < 0 ? err : 0;
	kp_deploy_start(&t->dp, t->cur);
	if (!t->dp.o.verify)
		return 0;
	t->label = "deploy";
	moves(t, from, t->cur, mv, sizeof(mv));
	kp_pt_say(t, "interval %d: deploy (%s): %s; watched for %d intervals", n, who, mv,
		  t->dp.o.verify);
	return 0;
}

void kp_pt_verify(struct pt *t, int n)
{
	const struct kp_pipe_state *st = &t->st;
	const struct kp_deploy *dp = &t->dp;
	bool open = dp->left > 0;
	double ref_att = dp->ref_att, ref_p99 = dp->ref_p99;

	switch (kp_deploy_measure(&t->dp, n, t->cur, st->attainment, st->p99_ms)) {
	case KP_DEPLOY_PASS:
		t->label = "verified";
		kp_pt_say(t, "interval %d: verified: attainment %.3f, p99 %.1f ms over %d intervals "
			  "(known-good: %.3f, %.1f ms); the known-good now", n, dp->ref_att,
			  dp->ref_p99, dp->win_n, ref_att, ref_p99);
		break;
	case KP_DEPLOY_FAIL:
		if (open)
			snprintf(t->regression, sizeof(t->regression),
				 "%d intervals in a row worse: attainment %.3f against %.3f, p99 "
				 "%.1f ms against %.1f ms", dp->bad, st->attainment, ref_att,
				 st->p99_ms, ref_p99);
		break;
	default:
		break;
	}
}

void kp_pt_held_action(const struct pt *t, float *a)
{
	const double *q = t->dp.rollback_due ? t->dp.good : t->cur;
	int i;

	for (i = 0; i < t->d->nops; i++) {
		double h = t->need[i] > 0 ? (q[i] / t->need[i] - PPO_HEADROOM) / PPO_SPAN : 0;

		a[i] = !isfinite(h) ? 0 : h > 1 ? 1 : h < -1 ? -1 : h;
	}
}

json_t *kp_pt_results_extra(const struct pt *t)
{
	const struct kp_deploy_opts *o = &t->dp.o;
	json_t *x = json_pack("{s:i,s:i,s:i,s:{s:i,s:i,s:f,s:f,s:i}}", "deploys", t->dp.deploys,
			      "verified", t->dp.verified, "rollbacks", t->dp.rollbacks,
			      "deploy", "verify_intervals", o->verify, "rollback_after", o->after,
			      "attainment_points", o->att_points * 100, "p99_factor",
			      o->p99_factor, "excused", t->dp.excused);

	if (x && t->o->pretrain)
		json_object_set_new(x, "pretrain", json_pack("{s:i,s:i}", "steps",
							     t->pretrain_steps, "episodes",
							     t->pretrain_episodes));
	return x;
}
