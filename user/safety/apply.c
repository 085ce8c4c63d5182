// SPDX-License-Identifier: GPL-2.0
/*
 * kp_session_apply(): validate every change of a batch, check the cross-knob
 * invariants on the combined result, then journal and write in a safe order,
 * undoing the batch when a write fails.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "actuate/cgroup.h"
#include "actuate/sysctl.h"
#include "lib/log.h"
#include "lib/text.h"
#include "safety/session_impl.h"

int kp_session_read(struct kp_session *s, const char *knob, char *buf, size_t len)
{
	char why[256];

	if (kp_knob_name_check(knob, why, sizeof(why)))
		return -EINVAL;
	if (sess_is_cgroup(knob) && !s->t.cg_version)
		return -ENOENT;
	return sess_act_read(&s->t, knob, buf, NULL, len);
}

int sess_env_err(int err, const char *name, char *why, size_t len)
{
	if (err == -ENOENT)
		snprintf(why, len, "%s: not present on this system", name);
	else
		snprintf(why, len, "%s: %s", name, strerror(-err));
	return err == -EINVAL ? -EIO : err;
}

/*
 * The knob's state in the journal: refuse a knob someone else took over
 * while this session managed it; drop one an earlier run left and someone
 * changed since.
 */
static int check_owner(struct kp_session *s, struct pending *p, const char *cur,
		       char *why, size_t len)
{
	const char *name = p->c->knob;
	struct kstate *k;

	k = sess_kfind(s, s->root, s->netns, name, true);
	if (!k)
		return -ENOMEM;
	p->ki = (int)(k - s->k);
	if (k->touched && k->dropped) {
		snprintf(why, len, "%s: no longer managed (someone else changed it)", name);
		return -EINVAL;
	}
	if (k->expected[0] && !k->dropped && !sess_ours(k, cur)) {
		if (k->touched) {
			sess_foreign(s, k, cur);
			snprintf(why, len, "%s: changed by someone else; no longer managed", name);
			return -EINVAL;
		}
		/* a value left by an earlier kpilot run and since changed: theirs now */
		if (!s->dry_run)
			sess_foreign(s, k, cur);
	}
	return 0;
}

/* Range, step and interval, by the session's definition and the built-in one; the knob's hook. */
static int check_value(struct kp_session *s, struct pending *p, char *why, size_t len)
{
	const struct kp_knob *builtin = kp_knob_builtin(p->c->knob);
	const struct kp_knob_hooks *h = kp_knob_hooks(p->c->knob);
	struct kstate *k = &s->k[p->ki];
	double last = k->dropped ? 0 : k->last_t;
	enum kp_step_policy policy = s->own_ns ? KP_STEP_NONE : s->policy;
	bool clamped2 = false, allowed;
	enum kp_risk side;
	long long at;

	if (kp_validate_value(p->def, p->c->knob, &p->old, &p->nv, policy, s->ncpus,
			      s->clock(), last, &p->clamped, why, len))
		return -EINVAL;
	if (builtin && builtin != p->def) {
		if (kp_validate_value(builtin, p->c->knob, &p->old, &p->nv, policy, s->ncpus,
				      s->clock(), last, &clamped2, why, len))
			return -EINVAL;
		p->clamped |= clamped2;
	}
	/* after clamping: what would be written */
	kp_session_risk(s, p->c->knob, &side, &at, &allowed);
	if (kp_validate_risk(builtin ?: p->def, p->c->knob, &p->nv, at, allowed, why, len))
		return -EINVAL;
	return h && h->check ? h->check(p->c->knob, &p->nv, &s->t, why, len) : 0;
}

/* Parse the proposal and the current value. */
static int read_both(struct kp_session *s, struct pending *p, char *cur, char *why, size_t len)
{
	struct kp_change *c = p->c;
	char why2[256];
	int err;

	if (kp_value_parse(p->def, c->value, &p->nv, why2, sizeof(why2))) {
		snprintf(why, len, "%s: %s", c->knob, why2);
		return -EINVAL;
	}
	if (sess_is_cgroup(c->knob) && !s->t.cg_version) {
		snprintf(why, len, "%s: no cgroup hierarchy under %s", c->knob, s->root);
		return -ENOENT;
	}
	err = sess_act_read(&s->t, c->knob, cur, NULL, KP_VALUE_MAX);
	if (err)
		return sess_env_err(err, c->knob, why, len);
	if (kp_value_parse(p->def, cur, &p->old, why2, sizeof(why2))) {
		snprintf(why, len, "%s: cannot understand its current value: %s", c->knob, why2);
		return -EIO;
	}
	snprintf(c->old, sizeof(c->old), "%s", cur);
	return 0;
}

static int validate_one(struct kp_session *s, struct pending *p, char *why, size_t len)
{
	struct kp_change *c = p->c;
	const struct kp_knob_hooks *h;
	char cur[KP_VALUE_MAX];
	int err;

	if (!c->knob || !c->value) {
		snprintf(why, len, "a change needs a knob and a value");
		return -EINVAL;
	}
	if (kp_validate_name(c->knob, (const char *const *)s->allow, why, len))
		return -EINVAL;
	p->def = sess_def_for(s, c->knob);
	if (!p->def) {
		snprintf(why, len, "%s: not in the knob table (a session may add it with bounds)",
			 c->knob);
		return -EINVAL;
	}
	if (kp_validate_netns(p->def, c->knob, s->netns[0] ? s->netns : NULL, why, len))
		return -EINVAL;
	err = read_both(s, p, cur, why, len);
	err = err ?: check_owner(s, p, cur, why, len);
	if (err)
		return err;
	h = kp_knob_hooks(c->knob);
	if (h && h->complete)
		h->complete(&p->nv, &p->old);
	if (kp_value_eq(&p->old, &p->nv)) {
		p->unchanged = true;
		snprintf(c->applied, sizeof(c->applied), "%s", cur);
		c->status = KP_CH_UNCHANGED;
		return 0;
	}
	err = check_value(s, p, why, len);
	if (err)
		return err;
	if (p->def->type == KP_VT_CPUMAX)
		p->delta_mc = kp_cpumax_millicores(&p->nv, s->ncpus) -
			      kp_cpumax_millicores(&p->old, s->ncpus);
	kp_value_format(&p->nv, c->applied, sizeof(c->applied));
	/* clamping may land back on the current value */
	if (p->clamped && kp_value_eq(&p->old, &p->nv)) {
		p->unchanged = true;
		c->status = KP_CH_UNCHANGED;
	}
	return 0;
}

/*
 * Journal (the original the first time, then the intent, both synced), write,
 * read back.  A failed write is journaled too: the value is unknown then.
 */
int sess_write_journaled(struct kp_session *s, struct kstate *k, const char *old,
			 const char *new, const char *why_text, char *why, size_t len)
{
	char cur_raw[KP_VALUE_MAX], cur[KP_VALUE_MAX];
	struct kp_jrec *r;
	int err;

	r = sess_rec_new();
	if (!r)
		return -ENOMEM;
	if (!k->has_orig || k->dropped) {
		err = sess_act_read(&s->t, k->name, cur, cur_raw, sizeof(cur));
		if (err) {
			free(r);
			return sess_env_err(err, k->name, why, len);
		}
		k->nsino = s->nsino;
		snprintf(r->value, sizeof(r->value), "%s", cur);
		if (strcmp(cur, cur_raw))
			snprintf(r->raw, sizeof(r->raw), "%s", cur_raw);
		sess_act_file(&s->t, k->name, r->path, sizeof(r->path));
		err = sess_jlog(s, KP_J_ORIG, k, r, true);
		if (err)
			goto jfail;
		memset(r, 0, sizeof(*r));
	}
	snprintf(r->old, sizeof(r->old), "%s", old);
	snprintf(r->new, sizeof(r->new), "%s", new);
	snprintf(r->why, sizeof(r->why), "%s", why_text);
	err = sess_jlog(s, KP_J_CHANGE, k, r, true);	/* durable before the write */
	if (err)
		goto jfail;
	if (!k->touched) {
		k->touched = true;
		snprintf(k->start, sizeof(k->start), "%s", old);
	}
	k->sess_seq = k->last_seq;
	err = sess_write_verify(&s->t, k->name, new, false, why, len);
	if (err) {
		memset(r, 0, sizeof(*r));
		snprintf(r->why, sizeof(r->why), "%s", why);
		sess_jlog(s, KP_J_FAIL, k, r, true);
		free(r);
		return err;
	}
	k->last_t = s->clock();
	free(r);
	return 0;
jfail:
	snprintf(why, len, "journal %s: cannot write: %s", kp_journal_path(s->j), strerror(-err));
	free(r);
	return err;
}

static int write_one(struct kp_session *s, struct pending *p, const char *reason,
		     char *why, size_t len)
{
	struct kstate *k = &s->k[p->ki];
	char why_text[512];
	int err;

	snprintf(why_text, sizeof(why_text), "%s%s", reason ? reason : "",
		 p->clamped ? " (step clamped)" : "");
	err = sess_write_journaled(s, k, p->c->old, p->c->applied, why_text, why, len);
	if (err)
		return err;
	p->c->status = p->clamped ? KP_CH_CLAMPED : KP_CH_APPLIED;
	if (!s->quiet_changes)
		kp_info("%s%s%s: %s -> %s (%s%s)", k->name, k->netns[0] ? " in netns " : "",
			k->netns, p->c->old, p->c->applied, reason ? reason : "no reason given",
			p->clamped ? ", step clamped" : "");
	return 0;
}

/* Decreases of CPU quota first, so the sum stays within budget at every instant. */
static int cmp_pending(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;

	return x->delta_mc < y->delta_mc ? -1 : x->delta_mc > y->delta_mc;
}

/* Undo a batch's first upto writes (the knob that failed half-way too), newest first. */
static void undo_batch(struct kp_session *s, struct pending *p, int n, int upto, int err,
		       const char *why)
{
	char tmp[512];
	int i;

	for (i = upto - 1; i >= 0; i--) {
		if (p[i].unchanged || i >= n)
			continue;
		if (sess_undo_knob(s, &s->k[p[i].ki], p[i].c->old, "batch undone"))
			kp_err("%s: could not undo; `kpilot rollback` will restore it",
			       p[i].c->knob);
		p[i].c->status = KP_CH_NOT_DONE;
	}
	if (err == -EIO || err == -EACCES || err == -EPERM) {
		if (++s->failed >= s->max_failed) {
			snprintf(tmp, sizeof(tmp), "%d failed steps in a row (last: %s)",
				 s->failed, why);
			sess_abort(s, tmp);
		}
	}
}

int kp_session_apply(struct kp_session *s, struct kp_change *ch, int n, const char *reason,
		     char *why, size_t len)
{
	struct pending *p;
	int i, m, err = 0, done = 0;

	if (s->aborted) {
		snprintf(why, len, "the session was aborted by its guardrails");
		return -ECANCELED;
	}
	if (n <= 0)
		return 0;
	p = calloc(n, sizeof(*p));
	if (!p)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		ch[i].status = KP_CH_NOT_DONE;
		ch[i].old[0] = ch[i].applied[0] = '\0';
		p[i].c = &ch[i];
	}
	for (i = 0; i < n; i++) {
		err = validate_one(s, &p[i], why, len);
		if (err)
			goto refused;
		for (m = 0; m < i; m++) {
			if (!strcmp(ch[m].knob, ch[i].knob)) {
				snprintf(why, len, "%s: given twice", ch[i].knob);
				err = -EINVAL;
				goto refused;
			}
		}
	}
	err = sess_check_invariants(s, p, n, why, len);
	if (err)
		goto refused;
	if (s->dry_run) {
		for (i = 0; i < n; i++)
			if (!p[i].unchanged)
				ch[i].status = KP_CH_DRY_RUN;
		goto out;
	}
	qsort(p, n, sizeof(*p), cmp_pending);
	for (i = 0; i < n; i++) {
		if (p[i].unchanged)
			continue;
		if (kp_safety_stop_requested()) {
			snprintf(why, len, "interrupted by a signal");
			err = -EINTR;
			break;
		}
		err = write_one(s, &p[i], reason, why, len);
		if (err)
			break;
		done = i + 1;
	}
	if (!err) {
		goto out;
	}
	undo_batch(s, p, n, err == -EINTR ? done : done + 1, err, why);
	goto out;
refused:
	for (i = 0; i < n; i++)
		ch[i].status = KP_CH_NOT_DONE;
out:
	free(p);
	return err;
}

