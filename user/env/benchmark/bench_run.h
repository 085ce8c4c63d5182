/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Run a benchmark command: from an argv array (or /bin/sh -c only when asked),
 * optionally inside a network namespace, in its own process group so a
 * timeout or Ctrl-C stops all of it, with stdout and stderr captured.
 */
#ifndef KPILOT_BENCH_RUN_H
#define KPILOT_BENCH_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct kp_child {
	pid_t pid;
	int out_fd;		/* read end of stdout+stderr */
	char *out;		/* captured output (the last 1 MiB), NUL-terminated */
	size_t len;
	double start_s;
};

struct kp_run_opts {
	char *const *argv;	/* NULL-terminated */
	bool shell;		/* argv[0] is a script for /bin/sh -c */
	const char *netns;	/* NAME, path, or NULL */
	/* Called with the child's pid before it execs (e.g. to watch it). */
	int (*on_start)(pid_t pid, void *arg);
	void *arg;
};

/* Start the command; it runs when this returns 0. -errno otherwise. */
int kp_child_start(const struct kp_run_opts *o, struct kp_child *p, char *why, size_t len);

/* Wait until the output contains needle (e.g. a server's "listening"). */
int kp_child_wait_for(struct kp_child *p, const char *needle, double timeout_s);

/*
 * Collect output until the command exits or timeout_s passes (then its whole
 * process group is killed), or stop() says so. Returns the exit status
 * (0-255), 128+signal, or -ETIMEDOUT / -EINTR.
 */
int kp_child_finish(struct kp_child *p, double timeout_s, bool (*stop)(void));
void kp_child_free(struct kp_child *p);

/*
 * The value of the last match of pattern's capture group in text, as a
 * number. 0, or -ENOENT when nothing matched, -EINVAL when it isn't a number.
 */
int kp_metric_parse(const char *pattern, const char *text, double *value);

#endif
