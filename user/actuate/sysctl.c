// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "safety/knob.h"
#include "lib/log.h"
#include "actuate/sysctl.h"

int kp_sysctl_path(const char *root, const char *name, char *buf, size_t len)
{
	char rel[KP_NAME_MAX + 16];
	char *p;
	int n;

	n = snprintf(rel, sizeof(rel), "/proc/sys/%s", name);
	if (n < 0 || (size_t)n >= sizeof(rel))
		return -ENAMETOOLONG;
	for (p = rel + 10; *p; p++)
		if (*p == '.')
			*p = '/';
	return kp_fs_path(root, rel, buf, len);
}

/*
 * /proc/sys/net resolves to the namespace of the task that opens the file,
 * so the thread hops into the target namespace only around the open and the
 * access, then hops back.  Failing to come back would leave every later
 * write in the wrong namespace: that is fatal.
 */
static int netns_enter(int fd, int *saved)
{
	*saved = -1;
	if (fd < 0)
		return 0;
	*saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*saved < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET)) {
		int err = -errno;

		close(*saved);
		*saved = -1;
		return err;
	}
	return 0;
}

static void netns_leave(int saved)
{
	if (saved < 0)
		return;
	if (setns(saved, CLONE_NEWNET)) {
		kp_err("cannot return to the original network namespace: %s", strerror(errno));
		abort();
	}
	close(saved);
}

/* The file of a sysctl, with the thread in t's namespace until netns_leave(*saved). */
static int sysctl_enter(const struct kp_target *t, const char *name, char *path, size_t len,
			int *saved)
{
	int err = kp_sysctl_path(t->root, name, path, len);

	return err ?: netns_enter(t->netns_fd, saved);
}

int kp_sysctl_read(const struct kp_target *t, const char *name, char *buf, size_t len)
{
	char path[4096];
	int err, saved;

	err = sysctl_enter(t, name, path, sizeof(path), &saved);
	if (err)
		return err;
	err = kp_fs_read(path, buf, len);
	netns_leave(saved);
	if (err < 0)
		return err;
	kp_text_canon(buf);
	return 0;
}

int kp_sysctl_write(const struct kp_target *t, const char *name, const char *text)
{
	char path[4096];
	int err, saved;

	err = sysctl_enter(t, name, path, sizeof(path), &saved);
	if (err)
		return err;
	err = kp_fs_write(path, text);
	netns_leave(saved);
	return err;
}

int kp_netns_open(const char *spec)
{
	char path[4096];
	const char *p;
	int fd;

	if (!spec || !*spec)
		return -EINVAL;
	if (strchr(spec, '/')) {
		snprintf(path, sizeof(path), "%s", spec);
	} else {
		for (p = spec; *p; p++)
			if (!(*p == '-' || *p == '_' || *p == '.' ||
			      (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
			      (*p >= 'A' && *p <= 'Z')))
				return -EINVAL;
		if (!strcmp(spec, ".") || !strcmp(spec, ".."))
			return -EINVAL;
		snprintf(path, sizeof(path), "/run/netns/%s", spec);
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}
