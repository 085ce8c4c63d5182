// SPDX-License-Identifier: GPL-2.0
/*
 * The safety layer's one door to actuate/: read, write and read back a knob
 * by name, whichever actuator (sysctl, cgroup) it belongs to.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "actuate/cgroup.h"
#include "actuate/file.h"
#include "actuate/steer.h"
#include "actuate/sysctl.h"
#include "safety/session_impl.h"

int sess_act_read(const struct kp_target *t, const char *name, char *text, char *raw,
		  size_t len)
{
	char path[KP_NAME_MAX], attr[KP_NAME_MAX];
	int err;

	if (kp_knob_is_steer(name)) {
		if (kp_knob_steer_service(name, path))
			return -EINVAL;
		err = kp_steer_read(path, text, len);
		if (!err && raw)
			snprintf(raw, len, "%s", text);
		return err;
	}
	if (kp_file_knob(name)) {
		err = kp_file_read(t, name, text, len);
		if (!err && raw)
			snprintf(raw, len, "%s", text);
		return err;
	}
	if (!sess_is_cgroup(name)) {
		err = kp_sysctl_read(t, name, text, len);
		if (!err && raw)
			snprintf(raw, len, "%s", text);
		return err;
	}
	if (kp_knob_cgroup_split(name, path, attr))
		return -EINVAL;
	return kp_cg_read(t, path, attr, text, raw, len);
}

static int act_write(const struct kp_target *t, const char *name, const char *text, bool raw)
{
	char path[KP_NAME_MAX], attr[KP_NAME_MAX];

	if (kp_knob_is_steer(name)) {
		char why[160];

		if (kp_knob_steer_service(name, path))
			return -EINVAL;
		return kp_steer_write(path, text, why, sizeof(why));
	}
	if (kp_file_knob(name))
		return kp_file_write(t, name, text);
	if (!sess_is_cgroup(name))
		return kp_sysctl_write(t, name, text);
	if (kp_knob_cgroup_split(name, path, attr))
		return -EINVAL;
	return raw ? kp_cg_write_raw(t, path, attr, text) : kp_cg_write(t, path, attr, text);
}

void sess_act_file(const struct kp_target *t, const char *name, char *buf, size_t len)
{
	char path[KP_NAME_MAX], attr[KP_NAME_MAX];

	buf[0] = '\0';
	if (kp_knob_is_steer(name)) {
		if (!kp_knob_steer_service(name, path))
			snprintf(buf, len, KP_STEER_PIN_ROOT "/%s", path);
	} else if (kp_file_knob(name)) {
		if (kp_file_path(t, name, buf, len))
			buf[0] = '\0';
	} else if (!sess_is_cgroup(name))
		kp_sysctl_path(t->root, name, buf, len);
	else if (!kp_knob_cgroup_split(name, path, attr))
		kp_cg_file(t, path, attr, buf, len);
}

/* Write, then read back: the value must be what we asked for. */
int sess_write_verify(const struct kp_target *t, const char *name, const char *text,
		      bool raw, char *why, size_t len)
{
	char got[KP_VALUE_MAX], gotraw[KP_VALUE_MAX];
	int err;

	err = act_write(t, name, text, raw);
	if (err) {
		snprintf(why, len, "%s: writing '%s' failed: %s", name, text, strerror(-err));
		return err == -EINVAL || err == -ERANGE ? -EIO : err;
	}
	err = sess_act_read(t, name, got, gotraw, sizeof(got));
	if (err) {
		snprintf(why, len, "%s: reading back failed: %s", name, strerror(-err));
		return -EIO;
	}
	if (strcmp(raw ? gotraw : got, text)) {
		snprintf(why, len, "%s: wrote '%s' but read back '%s'", name, text,
			 raw ? gotraw : got);
		return -EIO;
	}
	return 0;
}



/* The target a journaled knob lives in; *fd gets a netns fd to close. */
int sess_target_for(struct kp_session *s, const struct kstate *k, struct kp_target *t,
		    int *fd)
{
	struct stat st;

	*fd = -1;
	t->root = k->root;
	t->store = s->state_dir;
	t->netns_fd = -1;
	t->cg_version = sess_is_cgroup(k->name) ? kp_cg_detect(k->root) : 0;
	if (sess_is_cgroup(k->name) && t->cg_version < 0)
		return -ENOENT;
	if (!k->netns[0])
		return 0;
	if (s->t.netns_fd >= 0 && !strcmp(k->netns, s->netns) && k->nsino == s->nsino) {
		t->netns_fd = s->t.netns_fd;
		return 0;
	}
	*fd = kp_netns_open(k->netns);
	if (*fd < 0)
		return *fd;
	if (fstat(*fd, &st) || (k->nsino && st.st_ino != k->nsino)) {
		close(*fd);
		*fd = -1;
		return -ENOENT;		/* a different namespace took the name */
	}
	t->netns_fd = *fd;
	return 0;
}
