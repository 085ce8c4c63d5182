// SPDX-License-Identifier: GPL-2.0
/* Config-file trust: a session config runs commands as root. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "safety/session.h"

int kp_safety_trusted_file(const char *path, char *why, size_t len)
{
	struct stat st;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		snprintf(why, len, "%s: %s", path,
			 err == -ELOOP ? "is a symlink; give the file itself" : strerror(-err));
		return err;
	}
	if (fstat(fd, &st)) {
		err = -errno;
		snprintf(why, len, "%s: %s", path, strerror(-err));
	} else if (!S_ISREG(st.st_mode)) {
		snprintf(why, len, "%s: not a regular file", path);
		err = -EPERM;
	} else if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(why, len, "%s: owned by uid %u, not root: it would run commands as root",
			 path, (unsigned)st.st_uid);
		err = -EPERM;
	} else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, len, "%s: group- or world-writable (mode %04o); chmod go-w it",
			 path, (unsigned)(st.st_mode & 07777));
		err = -EPERM;
	}
	close(fd);
	return err;
}

