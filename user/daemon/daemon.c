// SPDX-License-Identifier: GPL-2.0
/* The daemon's loop: windows, control requests, signals, reloads. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/signalfd.h>
#include "daemon/commands.h"
#include "daemon/config.h"
#include "daemon/ctl.h"
#include "daemon/daemon.h"
#include "daemon/daemon_int.h"
#include "daemon/figures.h"
#include "daemon/http.h"
#include "daemon/policy.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "observe/observer.h"

#define CTL_BATCH 16	/* control connections served per wake-up */

static const char *op_name(const void *arg, __u32 id)
{
	return kp_observer_op_name(arg, id);
}

/* One window: poll the ring buffer, fold the interval into the figures. */
static int window(struct kp_dm *d)
{
	struct kp_prog_stat progs[KP_DM_MAX_PROGS];
	struct kp_interval *iv;
	__u64 ev, rec, drops;
	int ret, n;

	ret = kp_observer_poll(d->obs);
	if (ret)
		return ret;
	iv = kp_observer_interval(d->obs);
	kp_observer_counters(d->obs, &ev, &rec, &drops);
	/* without bpf_stats the kernel counts nothing: no series rather than zeros */
	n = d->cfg->bpf_stats ? kp_observer_prog_stats(d->obs, progs, KP_DM_MAX_PROGS) : 0;
	pthread_mutex_lock(&d->fig.lock);
	kp_dm_fig_progs(&d->fig, progs, n);
	ret = kp_dm_fig_window(&d->fig, iv, op_name, d->obs, d->cfg->top_processes, ev, rec,
			       drops);
	pthread_mutex_unlock(&d->fig.lock);
	kp_observer_reset(d->obs);
	/* Out of memory for the process list: this window shows none; the next may. */
	if (ret)
		kp_warn("window %llu: %s", (unsigned long long)d->fig.windows, strerror(-ret));
	if (drops > d->warned_drops) {
		kp_warn("%llu records dropped so far: the ring buffer was full",
			(unsigned long long)drops);
		d->warned_drops = drops;
	}
	kp_dm_pol_window(d);
	return 0;
}

static void next_deadline(struct timespec *t, unsigned int ms)
{
	t->tv_nsec += (long)ms * 1000000L;
	while (t->tv_nsec >= 1000000000L) {
		t->tv_nsec -= 1000000000L;
		t->tv_sec++;
	}
}

static int ms_until(const struct timespec *t)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (t->tv_sec - now.tv_sec) * 1000LL + (t->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (int)ms;
}

/* A signal: 1 to stop, 0 to go on. */
static int on_signal(struct kp_dm *d)
{
	struct signalfd_siginfo si;

	if (read(d->sigfd, &si, sizeof(si)) != sizeof(si))
		return 0;
	if (si.ssi_signo == SIGHUP) {
		kp_dm_reload(d);
		return 0;
	}
	if (d->cfg->npol)
		kp_info("%s: stopping", strsignal((int)si.ssi_signo));
	else
		kp_info("%s: stopping; nothing is managed in observe-only mode, so nothing to "
			"restore", strsignal((int)si.ssi_signo));
	return 1;
}

static int loop(struct kp_dm *d)
{
	struct timespec next;
	int ret = 0;

	clock_gettime(CLOCK_MONOTONIC, &next);
	next_deadline(&next, d->cfg->interval_ms);
	for (;;) {
		struct pollfd p[2] = { { .fd = d->sigfd, .events = POLLIN },
				       { .fd = d->ctl_fd, .events = POLLIN } };
		int n = poll(p, 2, ms_until(&next));

		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0 && (p[0].revents & POLLIN) && on_signal(d))
			return 0;
		/* A bounded batch: a flood of clients must not hold the windows back. */
		for (int k = 0; n > 0 && (p[1].revents & POLLIN) && k < CTL_BATCH; k++)
			if (kp_ctl_serve_one(d->ctl_fd, kp_dm_handle, d) <= 0)
				break;
		if (ms_until(&next) > 0)
			continue;
		ret = window(d);
		if (ret) {
			kp_err("reading the ring buffer: %s", strerror(-ret));
			return ret;
		}
		next_deadline(&next, d->cfg->interval_ms);
	}
}

static int block_signals(struct kp_dm *d, sigset_t *old, char *why, size_t len)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* Before the observer loads: a stop meanwhile waits and then detaches cleanly. */
	sigprocmask(SIG_BLOCK, &set, old);
	d->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (d->sigfd < 0) {
		snprintf(why, len, "signalfd: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

int kp_daemon_run(const char *config, const char *socket, char *why, size_t len)
{
	struct kp_dm *d = calloc(1, sizeof(*d));
	sigset_t old;
	int ret;

	if (!d) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	d->config = config;
	d->socket_override = socket;
	d->ctl_fd = d->sigfd = -1;
	kp_dm_fig_init(&d->fig);
	pthread_mutex_init(&d->pol_lock, NULL);
	ret = block_signals(d, &old, why, len);
	if (!ret)
		ret = kp_dm_start(d, why, len);
	if (!ret) {
		kp_dm_notify_ready();
		ret = loop(d);
		if (ret)
			snprintf(why, len, "the loop stopped: %s", strerror(-ret));
	}
	kp_dm_stop(d);
	if (d->sigfd >= 0)
		close(d->sigfd);
	sigprocmask(SIG_SETMASK, &old, NULL);
	kp_dm_fig_free(&d->fig);
	pthread_mutex_destroy(&d->pol_lock);
	free(d);
	return ret;
}
