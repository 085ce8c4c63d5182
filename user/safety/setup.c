// SPDX-License-Identifier: GPL-2.0
/*
 * A run's own cgroups: directories, their cpusets and controllers, as
 * journaled pseudo-knobs ("cgroup:kp/op1:cgroup.dir" present/absent,
 * "cgroup::cgroup.subtree_control.cpu" enabled/disabled) so the journal's
 * replay, crash recovery and `kpilot rollback` undo them like any knob.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "lib/log.h"
#include "safety/session_impl.h"

/* The directory pseudo-knob of path: v2 has one tree, v1 one per controller. */
static void dir_knob(const struct kp_session *s, const char *path, const char *ctrl,
		     char *name, size_t len)
{
	snprintf(name, len, "cgroup:%s:%s.dir", path, s->t.cg_version == 2 ? "cgroup" : ctrl);
}

/* Created by this session: what is written inside goes with it. */
static bool created_here(struct kp_session *s, const char *path, const char *ctrl)
{
	char name[KP_NAME_MAX];
	struct kstate *k;

	dir_knob(s, path, ctrl, name, sizeof(name));
	k = sess_kfind(s, s->root, "", name, false);
	return k && k->touched && !k->dropped && !strcmp(k->start, "absent");
}

static int setup_write(struct kp_session *s, const char *name, const char *value,
		       const char *reason, char *why, size_t len)
{
	char cur[KP_VALUE_MAX];
	struct kstate *k;
	int err;

	if (!s->t.cg_version) {
		snprintf(why, len, "%s: no cgroup hierarchy under %s", name, s->root);
		return -ENOENT;
	}
	err = sess_act_read(&s->t, name, cur, NULL, sizeof(cur));
	if (err)
		return sess_env_err(err, name, why, len);
	if (!strcmp(cur, value) || s->dry_run)
		return 0;
	k = sess_kfind(s, s->root, "", name, true);
	if (!k)
		return -ENOMEM;
	k->setup = true;
	err = sess_write_journaled(s, k, cur, value, reason ? reason : "", why, len);
	if (!err)
		kp_debug("%s: %s -> %s (%s)", name, cur, value, reason ? reason : "");
	return err;
}

int kp_session_cg_mkdir(struct kp_session *s, const char *path, const char *ctrl,
			const char *reason, char *why, size_t len)
{
	char name[KP_NAME_MAX];

	dir_knob(s, path, ctrl, name, sizeof(name));
	return setup_write(s, name, "present", reason, why, len);
}

int kp_session_cg_write(struct kp_session *s, const char *path, const char *attr,
			const char *value, const char *reason, char *why, size_t len)
{
	char name[KP_NAME_MAX], ctrl[64];
	int err;

	snprintf(ctrl, sizeof(ctrl), "%.*s", (int)strcspn(attr, "."), attr);
	snprintf(name, sizeof(name), "cgroup:%s:%s", path, attr);
	if (!created_here(s, path, ctrl))
		return setup_write(s, name, value, reason, why, len);
	if (s->dry_run)
		return 0;
	err = sess_write_verify(&s->t, name, value, false, why, len);
	if (!err)
		kp_debug("%s: %s (%s)", name, value, reason ? reason : "");
	return err;
}

int kp_session_cg_enable(struct kp_session *s, const char *path, const char *ctrl,
			 const char *reason, char *why, size_t len)
{
	char attr[96];

	snprintf(attr, sizeof(attr), "cgroup.subtree_control.%s", ctrl);
	return kp_session_cg_write(s, path, attr, "enabled", reason, why, len);
}
