/* SPDX-License-Identifier: GPL-2.0 */
/* The process tree under a pid, read from /proc. */
#ifndef KPILOT_PROCTREE_H
#define KPILOT_PROCTREE_H

#include <sys/types.h>

/*
 * pid and its live descendants (from /proc/<pid>/stat's ppid), pid first.
 * Returns the count (at most max) or -errno. proc is normally "/proc".
 */
int kp_proc_tree(const char *proc, pid_t pid, pid_t *out, int max);

#endif
