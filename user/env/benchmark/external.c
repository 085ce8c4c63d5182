// SPDX-License-Identifier: GPL-2.0
/*
 * The optimizer runs in its own process group on a socketpair (not pipes: a
 * write to an optimizer that died must fail with EPIPE, not kill kpilot with
 * SIGPIPE, and send() can say MSG_NOSIGNAL).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "env/benchmark/external.h"
#include "lib/clock.h"

#define LINE_MAX_LEN	(1 << 20)

struct kp_external {
	pid_t pid;
	int fd;
	double timeout_s;
	char name[64];		/* argv[0], for messages */
	char *buf;
	size_t len, cap;
	int lineno;		/* lines received */
	int status;		/* after it exited (-1: running) */
};

int kp_external_start(struct kp_external **out, char *const *argv, double timeout_s,
		      char *why, size_t len)
{
	struct kp_external *x;
	int sv[2];

	*out = NULL;
	if (!argv || !argv[0]) {
		snprintf(why, len, "--algo external needs --optimizer CMD...");
		return -EINVAL;
	}
	x = calloc(1, sizeof(*x));
	if (!x || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		snprintf(why, len, "cannot start the optimizer: %s", strerror(x ? errno : ENOMEM));
		free(x);
		return -ENOMEM;
	}
	snprintf(x->name, sizeof(x->name), "%s", argv[0]);
	x->timeout_s = timeout_s;
	x->status = -1;
	x->pid = fork();
	if (x->pid == 0) {
		setpgid(0, 0);
		dup2(sv[1], STDIN_FILENO);
		dup2(sv[1], STDOUT_FILENO);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		fprintf(stderr, "kpilot: cannot run the optimizer %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	if (x->pid < 0) {
		snprintf(why, len, "cannot start the optimizer: %s", strerror(errno));
		close(sv[0]);
		free(x);
		return -EAGAIN;
	}
	setpgid(x->pid, x->pid);	/* also here: no race with the child's own call */
	x->fd = sv[0];
	*out = x;
	return 0;
}

/* Whether it exited; its status is then in x->status. */
static bool reaped(struct kp_external *x, double wait_s)
{
	double end = kp_mono_s() + wait_s;
	int st;

	while (x->status < 0) {
		pid_t p = waitpid(x->pid, &st, WNOHANG);

		if (p == x->pid)
			x->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		else if (kp_mono_s() >= end)
			return false;
		else
			usleep(10000);
	}
	return true;
}

static int gone(struct kp_external *x, const char *when, char *why, size_t len)
{
	if (reaped(x, 1))
		snprintf(why, len, "the optimizer %s exited (status %d) %s, after %d line%s", x->name,
			 x->status, when, x->lineno, x->lineno == 1 ? "" : "s");
	else
		snprintf(why, len, "the optimizer %s closed its output %s, after %d line%s", x->name,
			 when, x->lineno, x->lineno == 1 ? "" : "s");
	return -EPIPE;
}

int kp_external_send(struct kp_external *x, json_t *msg, char *why, size_t len)
{
	char *s = json_dumps(msg, JSON_COMPACT);
	size_t n, off = 0;
	int err = 0;

	if (!s) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	n = strlen(s);
	s[n++] = '\n';		/* json_dumps' NUL becomes the line end */
	while (off < n) {
		ssize_t w = send(x->fd, s + off, n - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			err = gone(x, "before kpilot's message could be sent", why, len);
			break;
		}
		off += w;
	}
	free(s);
	return err;
}

/* One line into x->buf (NUL-terminated, without the newline), within the timeout. */
static int read_line(struct kp_external *x, char *why, size_t len)
{
	double end = kp_mono_s() + x->timeout_s;
	char *nl;

	for (;;) {
		struct pollfd p = { .fd = x->fd, .events = POLLIN };
		double left = end - kp_mono_s();
		ssize_t r;

		if (x->len && (nl = memchr(x->buf, '\n', x->len)))
			break;
		if (x->len >= LINE_MAX_LEN) {
			snprintf(why, len, "optimizer line %d: longer than %d bytes", x->lineno + 1,
				 LINE_MAX_LEN);
			return -EPROTO;
		}
		if (left <= 0) {
			snprintf(why, len, "the optimizer %s did not answer within %g s (line %d)",
				 x->name, x->timeout_s, x->lineno + 1);
			return -ETIMEDOUT;
		}
		if (poll(&p, 1, (int)(left * 1000) + 1) < 0 && errno != EINTR)
			return -errno;
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (x->cap - x->len < 4096) {
			char *b = realloc(x->buf, x->cap + 65536);

			if (!b)
				return -ENOMEM;
			x->buf = b;
			x->cap += 65536;
		}
		r = read(x->fd, x->buf + x->len, x->cap - x->len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return gone(x, "before answering", why, len);
		x->len += r;
	}
	*nl = '\0';
	x->lineno++;
	return 0;
}

static void consume_line(struct kp_external *x)
{
	size_t n = strlen(x->buf) + 1;

	memmove(x->buf, x->buf + n, x->len - n);
	x->len -= n;
}

int kp_external_recv(struct kp_external *x, const char *type, json_t **msg, char *why, size_t len)
{
	json_error_t je;
	const char *got;
	json_t *m;
	int err;

	*msg = NULL;
	err = read_line(x, why, len);
	if (err)
		return err;
	m = json_loads(x->buf, JSON_REJECT_DUPLICATES, &je);
	if (!m || !json_is_object(m)) {
		snprintf(why, len, "optimizer line %d: %s: %.80s", x->lineno,
			 m ? "not a JSON object" : je.text, x->buf);
		err = -EPROTO;
	} else if (!(got = json_string_value(json_object_get(m, "type"))) || strcmp(got, type)) {
		snprintf(why, len, "optimizer line %d: expected {\"type\":\"%s\",...}, got: %.80s",
			 x->lineno, type, x->buf);
		err = -EPROTO;
	}
	consume_line(x);
	if (err) {
		json_decref(m);
		return err;
	}
	*msg = m;
	return 0;
}

void kp_external_stop(struct kp_external *x)
{
	json_t *done;
	char why[256];

	if (!x)
		return;
	if (x->status < 0 && !reaped(x, 0)) {
		done = json_pack("{s:s}", "type", "done");
		if (done)
			kp_external_send(x, done, why, sizeof(why));
		json_decref(done);
		shutdown(x->fd, SHUT_WR);
		if (!reaped(x, 2)) {
			kill(-x->pid, SIGKILL);	/* it and whatever it started */
			reaped(x, 5);
		}
	}
	close(x->fd);
	free(x->buf);
	free(x);
}
