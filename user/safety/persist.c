// SPDX-License-Identifier: GPL-2.0
/*
 * Persisted files as journaled pseudo-knobs (actuate/file.h): the file's
 * old content goes to the store before the journal names it, so a rollback
 * or the recovery after a crash removes a file kpilot created and puts
 * back one it replaced, like any knob's original.
 */
#include <errno.h>
#include <string.h>
#include "actuate/file.h"
#include "lib/log.h"
#include "safety/session_impl.h"

int kp_session_put_file(struct kp_session *s, const char *name, const char *text,
			const char *reason, char *why, size_t len)
{
	char cur[KP_VALUE_MAX], nv[KP_VALUE_MAX];
	struct kstate *k;
	int err;

	if (!kp_file_name_ok(name)) {
		snprintf(why, len, "%.200s: not a file kpilot persists to", name);
		return -EINVAL;
	}
	err = sess_act_read(&s->t, name, cur, NULL, sizeof(cur));
	if (err) {
		snprintf(why, len, "%s: cannot read it: %s", name + 5, strerror(-err));
		return err;
	}
	if (s->dry_run)
		return 0;
	/* both contents are on disk before the journal can name either */
	err = kp_file_keep_current(&s->t, name);
	err = err ?: kp_file_keep(s->state_dir, text, strlen(text), nv, sizeof(nv));
	if (err) {
		snprintf(why, len, "%s: cannot keep its contents in %s/files: %s", name + 5,
			 s->state_dir, strerror(-err));
		return err;
	}
	if (!strcmp(cur, nv))
		return 0;
	k = sess_kfind(s, s->root, "", name, true);
	if (!k)
		return -ENOMEM;
	/* edited by hand since an earlier kpilot wrote it: the edit is the original now */
	if (k->expected[0] && !k->dropped && !sess_ours(k, cur))
		sess_foreign(s, k, cur);
	err = sess_write_journaled(s, k, cur, nv, reason ? reason : "", why, len);
	if (!err)
		kp_debug("%s: %s -> %s (%s)", name, cur, nv, reason ? reason : "");
	return err;
}
