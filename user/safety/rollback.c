// SPDX-License-Identifier: GPL-2.0
/*
 * kpilot rollback: every original the journal holds, newest change first.
 * The listing is data (kp_safety_rollback_list); cli/cmd_rollback.c prints it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lib/log.h"
#include "safety/session_impl.h"

static int cmp_kseq(const void *a, const void *b, void *ctx)
{
	const struct kp_session *s = ctx;
	const struct kstate *x = &s->k[*(const int *)a], *y = &s->k[*(const int *)b];

	return x->last_seq < y->last_seq ? 1 : x->last_seq > y->last_seq ? -1 : 0;
}

/* Indices of the knobs with an original, newest change first; *m of them. */
static int *by_newest(struct kp_session *s, int *m)
{
	int *idx, i;

	*m = 0;
	idx = calloc(s->nk + 1, sizeof(*idx));
	if (!idx)
		return NULL;
	for (i = 0; i < s->nk; i++)
		if (s->k[i].has_orig)
			idx[(*m)++] = i;
	qsort_r(idx, *m, sizeof(*idx), cmp_kseq, s);
	return idx;
}

static const char *list_action(struct kp_session *s, struct kstate *k, char *cur, size_t len)
{
	struct kp_target t;
	int fd;

	cur[0] = '\0';
	if (k->dropped)
		return "keep (changed by someone else)";
	if (sess_target_for(s, k, &t, &fd))
		return "skip (namespace or cgroup gone)";
	if (sess_act_read(&t, k->name, cur, NULL, len)) {
		snprintf(cur, len, "?");
		if (fd >= 0)
			close(fd);
		return "skip (cannot read)";
	}
	if (fd >= 0)
		close(fd);
	if (!strcmp(cur, k->orig))
		return "nothing (already original)";
	if (!sess_ours(k, cur))
		return "keep (changed by someone else)";
	return "restore";
}

int kp_safety_rollback_list_at(const char *state_dir, const char *root,
			       struct kp_rollback_item **out, int *n, char *why, size_t len)
{
	struct kp_session_opts o = { .state_dir = state_dir, .root = root, .cmd = "rollback",
				     .keep = true, .dry_run = true };
	struct kp_rollback_item *it;
	struct kp_session *s;
	int *idx, i, m, err;

	*out = NULL;
	*n = 0;
	err = sess_open(&o, &s, why, len, false);
	if (err)
		return err;
	idx = by_newest(s, &m);
	it = calloc(m + 1, sizeof(*it));
	if (!idx || !it) {
		snprintf(why, len, "cannot allocate the list of %d knobs", s->nk);
		free(idx);
		free(it);
		kp_session_close(s);
		return -ENOMEM;
	}
	for (i = 0; i < m; i++) {
		struct kstate *k = &s->k[idx[i]];

		it[i].action = list_action(s, k, it[i].now, sizeof(it[i].now));
		snprintf(it[i].knob, sizeof(it[i].knob), "%s", k->name);
		snprintf(it[i].netns, sizeof(it[i].netns), "%s", k->netns);
		snprintf(it[i].root, sizeof(it[i].root), "%s", k->root);
		snprintf(it[i].orig, sizeof(it[i].orig), "%s", k->orig);
	}
	free(idx);
	kp_session_close(s);
	*out = it;
	*n = m;
	return 0;
}

int kp_safety_rollback_list(const char *state_dir, struct kp_rollback_item **out, int *n,
			    char *why, size_t len)
{
	return kp_safety_rollback_list_at(state_dir, NULL, out, n, why, len);
}

int kp_safety_rollback_at(const char *state_dir, const char *root, char *why, size_t len)
{
	struct kp_session_opts o = { .state_dir = state_dir, .root = root, .cmd = "rollback",
				     .keep = true };
	struct kp_session *s;
	struct kp_jrec *r;
	int *idx, i, m, err, e;

	err = sess_open(&o, &s, why, len, true);
	if (err)
		return err;
	idx = by_newest(s, &m);
	if (!idx) {
		snprintf(why, len, "cannot allocate the order of %d knobs", s->nk);
		kp_session_close(s);
		return -ENOMEM;
	}
	for (i = 0; i < m; i++) {
		struct kstate *k = &s->k[idx[i]];

		e = sess_undo_knob(s, k, k->orig, "kpilot rollback");
		if (e && !err) {
			err = e;
			snprintf(why, len, "%s: could not be restored (see above)", k->name);
		}
	}
	free(idx);
	if (!err && s->j && kp_journal_nonempty(s->j)) {
		r = sess_rec_new();
		if (r) {
			sess_jlog(s, KP_J_ROLLBACK, NULL, r, true);
			free(r);
		}
		for (i = 0; i < s->njs; i++)
			s->js[i].closed = true;
		sess_archive_if_clean(s);
	}
	kp_session_close(s);
	return err;
}

int kp_safety_rollback(const char *state_dir, char *why, size_t len)
{
	return kp_safety_rollback_at(state_dir, NULL, why, len);
}

/*
 * kpilot rollback --forget KNOB: stop trying to restore a knob whose restore
 * keeps failing. Its original is printed so it can be put back by hand.
 */
int kp_safety_rollback_forget(const char *state_dir, const char *root, const char *knob,
			      char *why, size_t len)
{
	struct kp_session_opts o = { .state_dir = state_dir, .root = root, .cmd = "rollback",
				     .keep = true };
	struct kp_session *s;
	struct kp_jrec *r;
	int i, found = 0, err;

	err = sess_open(&o, &s, why, len, false);
	if (err)
		return err;
	for (i = 0; i < s->nk && !err; i++) {
		struct kstate *k = &s->k[i];

		if (strcmp(k->name, knob) || !k->has_orig || k->dropped)
			continue;
		r = sess_rec_new();
		if (!r) {
			err = -ENOMEM;
			break;
		}
		snprintf(r->value, sizeof(r->value), "%s", k->orig);
		snprintf(r->why, sizeof(r->why), "forgotten: kpilot rollback --forget");
		err = sess_jlog(s, KP_J_FOREIGN, k, r, true);
		free(r);
		if (err) {
			snprintf(why, len, "%s: cannot journal that it is forgotten: %s", knob,
				 strerror(-err));
			break;
		}
		kp_warn("%s%s%s: forgotten; its original was '%s' (put it back by hand if needed)",
			k->name, k->netns[0] ? " in netns " : "", k->netns, k->orig);
		found++;
	}
	if (!err && !found) {
		snprintf(why, len, "%s: the journal holds no original of it to forget", knob);
		err = -ENOENT;
	}
	kp_session_close(s);
	return err;
}
