// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "actuate/fsio.h"

int (*kp_fs_write_hook)(const char *path, const char *text);

int kp_fs_path(const char *root, const char *rel, char *buf, size_t len)
{
	size_t rl = strlen(root);
	int n;

	while (rl && root[rl - 1] == '/')
		rl--;
	n = snprintf(buf, len, "%.*s%s", (int)rl, root, rel);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int kp_fs_read(const char *path, char *buf, size_t len)
{
	ssize_t n;
	size_t got = 0;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	while (got + 1 < len) {
		n = read(fd, buf + got, len - 1 - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (!n)
			break;
		got += n;
	}
	close(fd);
	buf[got] = '\0';
	return err ? err : (int)got;
}

int kp_fs_write(const char *path, const char *text)
{
	size_t len = strlen(text);
	ssize_t n;
	int fd, err = 0;

	if (kp_fs_write_hook) {
		err = kp_fs_write_hook(path, text);
		if (err < 0)
			return err;
	}
	/*
	 * no O_CREAT: a knob that does not exist must never become a file.
	 * O_TRUNC is what a shell redirection does: proc and cgroupfs ignore it,
	 * and it keeps a fake root's regular files exact.
	 */
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	do
		n = write(fd, text, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		err = -errno;
	else if ((size_t)n != len)
		err = -EIO;
	if (close(fd) && !err)
		err = -errno;
	return err;
}

int kp_fs_exists(const char *path)
{
	return access(path, F_OK) == 0;
}
