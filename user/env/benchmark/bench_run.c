// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <poll.h>
#include <regex.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>
#include "env/benchmark/bench_run.h"
#include "actuate/sysctl.h"
#include "lib/clock.h"

#define OUT_MAX (1 << 20)

/*
 * In the child: its own process group (a timeout kills everything it
 * started), default signals, output into the pipe; it waits at the gate
 * until the parent has seen its pid (on_start), then joins the namespace
 * and execs. The stop signals arrive blocked (kp_child_start): one sent
 * before the defaults are back is delivered after, with its default action.
 */
static void __attribute__((noreturn)) child(const struct kp_run_opts *o, int out, int gate[2],
					    int nsfd, const sigset_t *mask)
{
	char c;

	setpgid(0, 0);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	pthread_sigmask(SIG_SETMASK, mask, NULL);
	dup2(out, 1);
	dup2(out, 2);
	close(gate[1]);
	if (read(gate[0], &c, 1) != 1)
		_exit(127);	/* the parent gave up */
	if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET)) {
		fprintf(stderr, "kpilot: setns: %s\n", strerror(errno));
		_exit(127);
	}
	if (o->shell)
		execl("/bin/sh", "sh", "-c", o->argv[0], (char *)NULL);
	else
		execvp(o->argv[0], o->argv);
	fprintf(stderr, "kpilot: cannot run %s: %s\n", o->argv[0], strerror(errno));
	_exit(127);
}

int kp_child_start(const struct kp_run_opts *o, struct kp_child *p, char *why, size_t len)
{
	int out[2], gate[2], nsfd = -1, err;
	sigset_t stops, mask;

	memset(p, 0, sizeof(*p));
	p->pid = -1;
	p->out_fd = -1;
	if (o->netns) {
		nsfd = kp_netns_open(o->netns);
		if (nsfd < 0) {
			snprintf(why, len, "cannot open network namespace %s: %s", o->netns,
				 strerror(-nsfd));
			return nsfd;
		}
	}
	if (pipe2(out, O_CLOEXEC) || pipe2(gate, O_CLOEXEC)) {
		err = -errno;
		snprintf(why, len, "pipe: %s", strerror(errno));
		if (nsfd >= 0)
			close(nsfd);
		return err;
	}
	/*
	 * Blocked across fork(): the child starts with kpilot's handlers, which
	 * would take a SIGTERM meant for it (kp_pipe_close's stop) and let it
	 * exec on as if none came: the pipeline then ran to the stop timeout
	 * and was SIGKILLed, its control FIFO left behind.
	 */
	sigemptyset(&stops);
	sigaddset(&stops, SIGINT);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &stops, &mask);
	p->pid = fork();
	err = -errno;
	if (p->pid == 0)
		child(o, out[1], gate, nsfd, &mask);
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
	if (p->pid < 0) {
		snprintf(why, len, "fork: %s", strerror(-err));
		close(out[0]);
		close(out[1]);
		close(gate[0]);
		close(gate[1]);
		if (nsfd >= 0)
			close(nsfd);
		return err;
	}
	setpgid(p->pid, p->pid);	/* both sides, whichever runs first */
	close(out[1]);
	close(gate[0]);
	if (nsfd >= 0)
		close(nsfd);
	p->out_fd = out[0];
	err = o->on_start ? o->on_start(p->pid, o->arg) : 0;
	if (err || write(gate[1], "g", 1) != 1) {
		close(gate[1]);
		kill(-p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		close(p->out_fd);
		p->pid = -1;
		p->out_fd = -1;
		snprintf(why, len, "cannot start %s: %s", o->argv[0], strerror(err ? -err : EIO));
		return err ? err : -EIO;
	}
	close(gate[1]);
	p->start_s = kp_mono_s();
	p->out = malloc(OUT_MAX + 1);
	if (!p->out)
		return -ENOMEM;
	p->out[0] = '\0';
	return 0;
}

/* Keep the tail: the metric is usually in the last lines. */
static void take(struct kp_child *p)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(p->out_fd, buf, sizeof(buf))) > 0) {
		if (p->len + n > OUT_MAX) {
			size_t drop = p->len + n - OUT_MAX;

			if (drop > p->len)
				drop = p->len;
			memmove(p->out, p->out + drop, p->len - drop);
			p->len -= drop;
			if ((size_t)n > OUT_MAX)
				n = OUT_MAX;
		}
		memcpy(p->out + p->len, buf, n);
		p->len += n;
		p->out[p->len] = '\0';
	}
}

int kp_child_wait_for(struct kp_child *p, const char *needle, double timeout_s)
{
	struct pollfd pfd = { .fd = p->out_fd, .events = POLLIN };
	double deadline = kp_mono_s() + timeout_s;

	fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
	while (!strstr(p->out, needle)) {
		double left = deadline - kp_mono_s();

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)(left * 1000) + 1) > 0) {
			take(p);
			if ((pfd.revents & POLLHUP) && !strstr(p->out, needle))
				return -EPIPE;	/* it exited without saying so */
		}
	}
	return 0;
}

int kp_child_finish(struct kp_child *p, double timeout_s, bool (*stop)(void))
{
	double deadline = p->start_s + timeout_s;
	struct pollfd pfd = { .fd = p->out_fd, .events = POLLIN };
	pid_t pgid = p->pid;
	int status = 0, ret;

	if (p->pid < 0)
		return -ECHILD;
	fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
	for (;;) {
		double left = deadline - kp_mono_s();

		if (stop && stop()) {
			ret = -EINTR;
			goto kill;
		}
		if (left <= 0) {
			ret = -ETIMEDOUT;
			goto kill;
		}
		/* Short polls: a stop request is noticed within 100 ms. */
		ret = poll(&pfd, 1, left > 0.1 ? 100 : (int)(left * 1000) + 1);
		if (ret > 0)
			take(p);
		if (ret > 0 && (pfd.revents & (POLLHUP | POLLERR)) && !(pfd.revents & POLLIN))
			break;	/* every writer closed: the command is done */
		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			take(p);
			p->pid = -1;
			break;
		}
	}
	if (p->pid > 0 && waitpid(p->pid, &status, 0) < 0)
		status = 0;
	/* Whatever it left running in its group goes with it. */
	kill(-pgid, SIGKILL);
	p->pid = -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
kill:
	kill(-pgid, SIGKILL);
	waitpid(pgid, NULL, 0);
	take(p);
	p->pid = -1;
	return ret;
}

void kp_child_free(struct kp_child *p)
{
	if (p->pid > 0) {
		kill(-p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
	}
	if (p->out_fd >= 0)
		close(p->out_fd);
	free(p->out);
	memset(p, 0, sizeof(*p));
	p->pid = -1;
	p->out_fd = -1;
}

int kp_metric_parse(const char *pattern, const char *text, double *value)
{
	regmatch_t m[2];
	const char *s = text, *last = NULL;
	size_t last_len = 0;
	char buf[64], *end;
	regex_t re;
	double v;

	if (regcomp(&re, pattern, REG_EXTENDED))
		return -EINVAL;
	while (*s && !regexec(&re, s, 2, m, s == text ? 0 : REG_NOTBOL)) {
		if (m[1].rm_so >= 0) {
			last = s + m[1].rm_so;
			last_len = m[1].rm_eo - m[1].rm_so;
		}
		s += m[0].rm_eo > 0 ? m[0].rm_eo : 1;
	}
	regfree(&re);
	if (!last)
		return -ENOENT;
	if (!last_len || last_len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, last, last_len);
	buf[last_len] = '\0';
	errno = 0;
	v = strtod(buf, &end);
	if (errno || *end || !isfinite(v))
		return -EINVAL;
	*value = v;
	return 0;
}
