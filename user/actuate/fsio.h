/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where the system is: a root prefix for /proc/sys and /sys/fs/cgroup (so
 * tests run against a fake tree) and, for per-netns sysctls, a network
 * namespace.  The only file I/O the actuators use: it never creates a file,
 * never follows a symlink in the last component, and reports every write.
 */
#ifndef KPILOT_FSIO_H
#define KPILOT_FSIO_H

#include <stddef.h>

struct kp_target {
	const char *root;	/* "/" or a prefix such as a test's temp dir */
	int netns_fd;		/* -1: the caller's network namespace */
	int cg_version;		/* 1 or 2; 0 when no cgroup hierarchy was found */
	const char *store;	/* persisted files' contents (file.h): the state dir; NULL: none */
};

/* root + rel (rel starts with '/'), without a doubled slash. */
int kp_fs_path(const char *root, const char *rel, char *buf, size_t len);

/* Whole small file into buf, NUL-terminated.  Returns length or -errno. */
int kp_fs_read(const char *path, char *buf, size_t len);

/* Write text to an existing file in one write(2).  Returns 0 or -errno. */
int kp_fs_write(const char *path, const char *text);

int kp_fs_exists(const char *path);

/*
 * Every write the actuators attempt, before it happens.  NULL by default;
 * tests set it to prove that nothing is ever written outside the rules, and
 * to inject faults: a negative return fails the write with that errno.
 */
extern int (*kp_fs_write_hook)(const char *path, const char *text);

#endif
