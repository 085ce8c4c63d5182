// SPDX-License-Identifier: GPL-2.0
/* kpilot rollback: every original the journal holds, newest change first. */
#include <errno.h>
#include <jansson.h>
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

int kp_safety_rollback(const char *state_dir, bool list, bool json, FILE *out,
		       char *why, size_t len)
{
	struct kp_session_opts o = { .state_dir = state_dir, .cmd = "rollback", .keep = true,
				     .dry_run = list };
	struct kp_session *s;
	struct kp_jrec *r;
	int *idx, i, m = 0, err, e;

	err = sess_open(&o, &s, why, len, !list);
	if (err)
		return err;
	idx = calloc(s->nk + 1, sizeof(*idx));
	if (!idx) {
		kp_session_close(s);
		return -ENOMEM;
	}
	for (i = 0; i < s->nk; i++)
		if (s->k[i].has_orig)
			idx[m++] = i;
	qsort_r(idx, m, sizeof(*idx), cmp_kseq, s);
	if (list) {
		char cur[KP_VALUE_MAX];

		json_t *arr = json_array();

		if (!json && m)
			fprintf(out, "%-40s %-12s %-24s %-24s %s\n", "KNOB", "NETNS", "NOW",
				"ORIGINAL", "ACTION");
		for (i = 0; i < m; i++) {
			struct kstate *k = &s->k[idx[i]];
			const char *act = list_action(s, k, cur, sizeof(cur));

			if (json)
				json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}",
					"knob", k->name, "netns", k->netns, "root", k->root,
					"now", cur, "original", k->orig, "action", act));
			else
				fprintf(out, "%-40s %-12s %-24s %-24s %s\n", k->name,
					k->netns[0] ? k->netns : "-", cur, k->orig, act);
		}
		if (json) {
			json_dumpf(arr, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			fputc('\n', out);
		} else if (!m)
			fprintf(out, "nothing to restore\n");
		json_decref(arr);
		free(idx);
		kp_session_close(s);
		return 0;
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

