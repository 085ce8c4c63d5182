// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "lib/fs.h"

int kp_mkdir_p(const char *dir, mode_t mode)
{
	char tmp[4096], *p;

	if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

void kp_self_exe(char *path, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", path, len - 1);
	static const char gone[] = " (deleted)";

	if (n > 0 && (size_t)n < len - 1) {
		path[n] = '\0';
		if ((size_t)n < sizeof(gone) - 1 || strcmp(path + n - (sizeof(gone) - 1), gone))
			return;
	}
	snprintf(path, len, "/proc/self/exe");
}
