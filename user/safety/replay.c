// SPDX-License-Identifier: GPL-2.0
/*
 * What the journal says: replaying it rebuilds every knob kpilot ever wrote
 * (its original, what kpilot last wrote, which session touched it), so a
 * session, a crash recovery and `kpilot rollback` all see the same truth.
 * Also the undo of one knob and the recovery of crashed sessions.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "actuate/file.h"
#include "lib/log.h"
#include "safety/session_impl.h"

struct kstate *sess_kfind(struct kp_session *s, const char *root, const char *netns,
			  const char *name, bool create)
{
	struct kstate *k;
	int i;

	for (i = 0; i < s->nk; i++) {
		k = &s->k[i];
		if (!strcmp(k->name, name) && !strcmp(k->root, root) && !strcmp(k->netns, netns))
			return k;
	}
	if (!create)
		return NULL;
	k = realloc(s->k, (s->nk + 1) * sizeof(*k));
	if (!k)
		return NULL;
	s->k = k;
	k = &s->k[s->nk++];
	memset(k, 0, sizeof(*k));
	snprintf(k->name, sizeof(k->name), "%s", name);
	snprintf(k->root, sizeof(k->root), "%s", root);
	snprintf(k->netns, sizeof(k->netns), "%s", netns);
	return k;
}

static struct jsess *jsfind(struct kp_session *s, const char *sid)
{
	int i;

	for (i = s->njs - 1; i >= 0; i--)	/* the latest of that name */
		if (!strcmp(s->js[i].sid, sid))
			return &s->js[i];
	return NULL;
}

/*
 * A knob kpilot may write, a run's own cgroup (setup.c), which may be the
 * root cgroup's subtree_control: "cgroup::cgroup.subtree_control.cpu", or a
 * persisted file (persist.c).
 */
static bool journal_name_ok(const char *name)
{
	char tmp[KP_NAME_MAX + 8];

	if (kp_file_knob(name))		/* the two places `kpilot persist` writes, no other */
		return kp_file_name_ok(name);
	if (!strncmp(name, "cgroup::cgroup.subtree_control.", 31)) {
		snprintf(tmp, sizeof(tmp), "cgroup:root:%s", name + 8);
		return !kp_knob_name_check(tmp, NULL, 0);
	}
	return !kp_knob_name_check(name, NULL, 0) && !kp_knob_denied(name);
}

static int replay_begin(struct kp_session *s, const struct kp_jrec *r)
{
	struct jsess *js = realloc(s->js, (s->njs + 1) * sizeof(*js));

	if (!js)
		return -ENOMEM;
	s->js = js;
	js = &s->js[s->njs++];
	memset(js, 0, sizeof(*js));
	snprintf(js->sid, sizeof(js->sid), "%s", r->sid);
	snprintf(js->cmd, sizeof(js->cmd), "%s", r->cmd);
	js->pid = r->pid;
	return 0;
}

/* A change: what kpilot expects now, and which session touched the knob first with what. */
static int replay_change(struct kp_session *s, struct kstate *k, const struct kp_jrec *r)
{
	struct jsess *js;
	int i;

	snprintf(k->intent_old, sizeof(k->intent_old), "%s", r->old);
	snprintf(k->expected, sizeof(k->expected), "%s", r->new);
	k->last_seq = r->seq;
	k->prev_t = k->last_t;
	k->last_t = r->t;
	js = jsfind(s, r->sid);
	if (!js)
		return 0;
	for (i = 0; i < js->n && js->t[i].k != k - s->k; i++)
		;
	if (i == js->n) {
		struct touch *t = realloc(js->t, (js->n + 1) * sizeof(*t));

		if (!t)
			return -ENOMEM;
		js->t = t;
		js->n++;
		t[i].k = (int)(k - s->k);
		snprintf(t[i].start, sizeof(t[i].start), "%s", r->old);
	}
	js->t[i].seq = r->seq;
	return 0;
}

int sess_replay_one(const struct kp_jrec *r, void *ctx)
{
	struct kp_session *s = ctx;
	struct kstate *k = NULL;
	struct jsess *js;
	int i;

	if (r->knob[0]) {
		/* the journal names files we will write: trust no name in it */
		if (!journal_name_ok(r->knob) || r->root[0] != '/' || strstr(r->root, "..")) {
			kp_warn("journal: record %lld names a knob kpilot would never write "
				"('%.64s'): ignored", r->seq, r->knob);
			return 0;
		}
		/*
		 * The root prefix is the caller's (a test's fake tree, `--root`),
		 * never the journal's: a record naming another one would make
		 * us write there as root.
		 */
		if (strcmp(r->root, s->root)) {
			if (!s->other_root++)
				snprintf(s->other_root_name, sizeof(s->other_root_name), "%s",
					 r->root);
			return 0;
		}
		k = sess_kfind(s, r->root, r->netns, r->knob, true);
		if (!k)
			return -ENOMEM;
	} else if (KP_JOP_NAMES_KNOB(r->op)) {	/* kp_jrec_parse refuses these */
		kp_warn("journal: record %lld is about a knob but names none", r->seq);
		return -EINVAL;
	}
	switch (r->op) {
	case KP_J_BEGIN:
		return replay_begin(s, r);
	case KP_J_ORIG:
		k->has_orig = true;
		k->dropped = false;
		k->nsino = r->nsino;
		snprintf(k->orig, sizeof(k->orig), "%s", r->value);
		snprintf(k->raw, sizeof(k->raw), "%s", r->raw);
		snprintf(k->expected, sizeof(k->expected), "%s", r->value);
		k->intent_old[0] = '\0';
		break;
	case KP_J_CHANGE:
		return replay_change(s, k, r);
	case KP_J_FAIL:
		/* unknown: the write may have half happened; it does not count as one */
		k->expected[0] = '\0';
		k->last_t = k->prev_t;
		break;
	case KP_J_RESTORE:
		snprintf(k->expected, sizeof(k->expected), "%s", r->value);
		k->intent_old[0] = '\0';
		k->last_seq = r->seq;
		break;
	case KP_J_FOREIGN:
		k->dropped = true;
		break;
	case KP_J_COMMIT:
	case KP_J_END:
	case KP_J_RECOVERED:
		js = jsfind(s, r->sid);
		if (js)
			js->closed = true;
		break;
	case KP_J_ROLLBACK:
		for (i = 0; i < s->njs; i++)
			s->js[i].closed = true;
		break;
	default:
		break;
	}
	return 0;
}

/* Is the value found one kpilot can have left there? */
bool sess_ours(const struct kstate *k, const char *cur)
{
	return !k->expected[0] || !strcmp(cur, k->expected) ||
	       (k->intent_old[0] && !strcmp(cur, k->intent_old));
}

/* ---- journal helpers -------------------------------------------------- */

int sess_jlog(struct kp_session *s, enum kp_jop op, const struct kstate *k,
	      struct kp_jrec *r, bool sync)
{
	struct kp_jrec b;
	int err;

	if (!s->j)
		return s->dry_run ? 0 : -EROFS;
	if (!s->begun && op != KP_J_ROLLBACK) {
		memset(&b, 0, sizeof(b));
		b.op = KP_J_BEGIN;
		snprintf(b.sid, sizeof(b.sid), "%s", s->sid);
		b.pid = getpid();
		snprintf(b.cmd, sizeof(b.cmd), "%s", s->cmd);
		snprintf(b.mode, sizeof(b.mode), "%s", s->keep ? "keep" : "restore");
		snprintf(b.root, sizeof(b.root), "%s", s->root);
		snprintf(b.netns, sizeof(b.netns), "%s", s->netns);
		b.t = s->clock();
		err = kp_journal_append(s->j, &b, false);
		if (err)
			return err;
		s->begun = true;
		sess_replay_one(&b, s);
	}
	r->op = op;
	r->t = s->clock();
	snprintf(r->sid, sizeof(r->sid), "%s", s->sid);
	if (k) {
		snprintf(r->knob, sizeof(r->knob), "%s", k->name);
		snprintf(r->root, sizeof(r->root), "%s", k->root);
		snprintf(r->netns, sizeof(r->netns), "%s", k->netns);
		r->nsino = k->nsino;
	}
	err = kp_journal_append(s->j, r, sync);
	if (err)
		return err;
	return sess_replay_one(r, s);
}

struct kp_jrec *sess_rec_new(void)
{
	return calloc(1, sizeof(struct kp_jrec));
}


void sess_foreign(struct kp_session *s, struct kstate *k, const char *cur)
{
	struct kp_jrec *r = sess_rec_new();

	kp_warn("%s%s%s: changed by someone else (kpilot wrote '%s', now '%s'); "
		"no longer managing it, keeping its value", k->name,
		k->netns[0] ? " in netns " : "", k->netns, k->expected, cur);
	if (r) {
		snprintf(r->value, sizeof(r->value), "%s", cur);
		snprintf(r->new, sizeof(r->new), "%s", k->expected);
		snprintf(r->why, sizeof(r->why), "value changed outside kpilot");
		int e = sess_jlog(s, KP_J_FOREIGN, k, r, true);

		if (e)
			kp_warn("journal: cannot record that %s is no longer managed: %s", k->name,
				strerror(-e));
		free(r);
	}
	k->dropped = true;
}

/* Its namespace or cgroup no longer exists: nothing left to restore. */
static void gone(struct kp_session *s, struct kstate *k, int err)
{
	struct kp_jrec *r = sess_rec_new();

	kp_warn("%s%s%s: its %s no longer exists; nothing to restore, dropped from the journal",
		k->name, k->netns[0] ? " in netns " : "", k->netns,
		sess_is_cgroup(k->name) ? "cgroup" : "network namespace");
	if (r) {
		snprintf(r->why, sizeof(r->why), "gone: %s", strerror(-err));
		sess_jlog(s, KP_J_FOREIGN, k, r, true);
		free(r);
	}
	k->dropped = true;
}

/*
 * The journal is read back from disk: a value it gives for a knob of the
 * table must be one of that knob's type within the table's bounds (the raw
 * form, when written, of that type), or it is not written.
 */
static int restore_value_ok(const struct kstate *k, const char *target, bool raw,
			    char *why, size_t len)
{
	const struct kp_knob *b = kp_knob_builtin(k->name);
	struct kp_value v, w;
	int i;

	if (!b)
		return 0;
	if (kp_value_parse(b, target, &v, why, len))
		return -EINVAL;
	/* the native form (cgroup v1 cpu.shares for cpu.weight) is in other units */
	if (raw && kp_value_parse(b, k->raw, &w, why, len))
		return -EINVAL;
	if (b->type != KP_VT_INT && b->type != KP_VT_TUPLE)
		return 0;
	for (i = 0; i < v.n; i++) {
		if (v.v[i] < b->min || v.v[i] > b->max) {
			snprintf(why, len, "%lld is outside %lld..%lld", v.v[i], b->min, b->max);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Put one knob back to target (the original, or the value before a session).
 * Leaves it alone when someone else changed it since kpilot's last write.
 */
int sess_undo_knob(struct kp_session *s, struct kstate *k, const char *target,
		   const char *why_text)
{
	char cur[KP_VALUE_MAX], why[512];
	struct kp_target t;
	struct kp_jrec *r;
	bool raw;
	int fd, err;

	if (k->dropped)
		return 0;
	err = sess_target_for(s, k, &t, &fd);
	if (err == -ENOENT) {
		gone(s, k, err);
		return 0;
	}
	if (err) {
		kp_err("%s: cannot reach it to restore '%s': %s", k->name, target, strerror(-err));
		return err;
	}
	err = sess_act_read(&t, k->name, cur, NULL, sizeof(cur));
	/* a cgroup's file is gone with its cgroup; a sysctl's may only be hidden for now */
	if (err == -ENOENT && sess_is_cgroup(k->name)) {
		gone(s, k, err);
		err = 0;
		goto out;
	}
	if (err) {
		kp_err("%s%s%s: cannot read it to restore '%s': %s; kept in the journal (the next "
		       "start or `kpilot rollback` retries; `kpilot rollback --forget %s` drops it)",
		       k->name, k->netns[0] ? " in netns " : "", k->netns, target,
		       strerror(-err), k->name);
		goto out;
	}
	raw = k->raw[0] && !strcmp(target, k->orig);
	if (!strcmp(cur, target) && !raw)
		goto done;
	if (strcmp(cur, target) && !sess_ours(k, cur)) {
		sess_foreign(s, k, cur);
		goto out;
	}
	err = restore_value_ok(k, target, raw, why, sizeof(why));
	if (err) {
		kp_err("%s: the journal's value '%.64s' is not restored: %s", k->name, target, why);
		goto out;
	}
	err = sess_write_verify(&t, k->name, raw ? k->raw : target, raw, why, sizeof(why));
	if (err) {
		kp_err("restore failed: %s; kept in the journal (the next start or `kpilot "
		       "rollback` retries; `kpilot rollback --forget %s` drops it)", why, k->name);
		goto out;
	}
	kp_info("%s%s%s: %s -> %s (%s)", k->name, k->netns[0] ? " in netns " : "", k->netns,
		cur, target, why_text);
done:
	r = sess_rec_new();
	if (!r) {
		err = -ENOMEM;
		goto out;
	}
	snprintf(r->value, sizeof(r->value), "%s", target);
	snprintf(r->why, sizeof(r->why), "%s", why_text);
	err = sess_jlog(s, KP_J_RESTORE, k, r, false);
	free(r);
	if (err) {
		/* the knob is right; only the journal lags (a later start finds it so) */
		kp_warn("%s%s%s is at '%s', but the journal could not record it: %s", k->name,
			k->netns[0] ? " in netns " : "", k->netns, target, strerror(-err));
		err = 0;
	}
out:
	if (fd >= 0)
		close(fd);
	return err;
}

static int cmp_touch(const void *a, const void *b)
{
	const struct touch *x = a, *y = b;

	return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

/* Undo the changes of sessions that died without closing, newest first. */
int sess_recover_crashed(struct kp_session *s)
{
	int i, m, err = 0;

	for (i = 0; i < s->njs; i++) {
		struct kp_jrec *r;
		int n = s->js[i].n, failed = 0;

		if (s->js[i].closed || !strcmp(s->js[i].sid, s->sid))
			continue;
		if (n)
			kp_warn("kpilot %s (pid %d, session %s) did not finish: undoing its %d change%s",
				s->js[i].cmd[0] ? s->js[i].cmd : "?", s->js[i].pid, s->js[i].sid, n,
				n == 1 ? "" : "s");
		if (n)	/* t is NULL when the session touched nothing */
			qsort(s->js[i].t, n, sizeof(*s->js[i].t), cmp_touch);
		/* s->js moves when our own begin record is journaled: index, not pointer */
		for (m = 0; m < n; m++) {
			struct touch *t = &s->js[i].t[m];
			char start[KP_VALUE_MAX];
			int e;

			snprintf(start, sizeof(start), "%s", t->start);
			e = sess_undo_knob(s, &s->k[t->k], start, "recovery after a crash");
			if (e && !err)
				err = e;
			failed += !!e;
		}
		/* not recovered while a knob could not be restored: retried next time */
		if (failed)
			continue;
		r = sess_rec_new();
		if (!r)
			return -ENOMEM;
		/* jlog stamps our own sid: this record names the dead session */
		snprintf(r->sid, sizeof(r->sid), "%s", s->js[i].sid);
		r->op = KP_J_RECOVERED;
		if (s->j && !kp_journal_append(s->j, r, true))
			s->js[i].closed = true;
		free(r);
	}
	return err;
}

/* Nothing left to restore: every managed knob holds its original. */
static bool all_clean(const struct kp_session *s)
{
	int i;

	for (i = 0; i < s->nk; i++) {
		const struct kstate *k = &s->k[i];

		if (k->has_orig && !k->dropped && strcmp(k->expected, k->orig))
			return false;
	}
	return true;
}

void sess_archive_if_clean(struct kp_session *s)
{
	char dst[4400];
	int i, err;

	if (!s->j || !kp_journal_nonempty(s->j) || !all_clean(s) || s->other_root)
		return;
	for (i = 0; i < s->njs; i++)
		if (!s->js[i].closed && strcmp(s->js[i].sid, s->sid))
			return;
	err = kp_journal_archive(s->j, dst, sizeof(dst));
	if (err) {
		kp_warn("journal: cannot archive: %s", strerror(-err));
		return;
	}
	kp_debug("journal archived to %s", dst);
	/* a fresh journal starts: forget the old one's knobs and sessions */
	for (i = 0; i < s->njs; i++)
		free(s->js[i].t);
	free(s->js);
	s->js = NULL;
	s->njs = 0;
	for (i = 0; i < s->nk; i++) {
		struct kstate *k = &s->k[i];

		k->has_orig = false;
		k->expected[0] = k->intent_old[0] = '\0';
		k->dropped = false;
	}
	s->begun = false;
}

