// SPDX-License-Identifier: GPL-2.0
/*
 * The open-loop client: requests arrive as a Poisson process at a set rate
 * whatever the service does (a closed loop would slow down with it and hide
 * the queueing), each on its own connection; latency counts from the
 * arrival's scheduled time to the answer, so a slow connect or a full
 * accept queue counts too. A request not answered within 2 s, refused or
 * reset is an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "replicas.h"

#define MAXC		4096
#define TIMEOUT_S	2.0
#define TICK_S		0.2

struct conn {
	int fd;			/* -1: free */
	double t0;		/* scheduled arrival */
	bool sent;
};

struct run {
	struct rp_env *e;
	struct conn c[MAXC];
	int ep, open;
	double start;
	double *lat, *at;
	unsigned long nlat, errors;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void finish(struct run *r, struct conn *c, bool ok, int slot)
{
	double t = now_s(), ms = (t - c->t0) * 1e3;

	if (ok && r->nlat < RP_SAMPLES) {
		r->lat[r->nlat] = ms;
		r->at[r->nlat++] = t - r->start;
		if (slot >= 0 && slot < r->e->n)	/* the gateway's view, for the heuristic */
			r->e->sh->lat_ewma_ms[slot] = 0.8 * r->e->sh->lat_ewma_ms[slot] + 0.2 * ms;
	} else if (!ok) {
		r->errors++;
	}
	epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	r->open--;
}

static void arrive(struct run *r, double t0)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(RP_PORT) };
	struct epoll_event ev = { .events = EPOLLOUT };
	struct conn *c = NULL;
	int i;

	for (i = 0; i < MAXC && !c; i++)
		if (r->c[i].fd < 0)
			c = &r->c[i];
	if (!c) {
		r->errors++;	/* more than MAXC outstanding: the service is drowning */
		return;
	}
	inet_pton(AF_INET, RP_SRV_IP, &a.sin_addr);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		r->errors++;
		return;
	}
	c->t0 = t0;
	c->sent = false;
	r->open++;
	if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) && errno != EINPROGRESS) {
		finish(r, c, false, -1);
		return;
	}
	ev.data.ptr = c;
	epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd, &ev);
}

static void event(struct run *r, struct conn *c, unsigned int what)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	char req[8] = "REQUEST", ans[8];
	socklen_t sl = sizeof(int);
	int err = 0;

	if (!c->sent) {
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) || err ||
		    write(c->fd, req, sizeof(req)) != (ssize_t)sizeof(req)) {
			finish(r, c, false, -1);
			return;
		}
		c->sent = true;
		epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd, &ev);
		return;
	}
	if (read(c->fd, ans, sizeof(ans)) != (ssize_t)sizeof(ans)) {
		finish(r, c, false, -1);
		return;
	}
	finish(r, c, true, ans[0]);
}

static void expire(struct run *r, double t)
{
	int i;

	for (i = 0; i < MAXC; i++)
		if (r->c[i].fd >= 0 && t - r->c[i].t0 > TIMEOUT_S)
			finish(r, &r->c[i], false, -1);
}

int rp_client(struct rp_env *e, double rate, double secs, unsigned int seed,
	      double *lat, double *at, unsigned long *nlat, unsigned long *errors,
	      void (*tick)(void *), void *arg, char *why, size_t len)
{
	static struct run r;
	struct epoll_event ev[64];
	double t, next, next_tick;
	int i, n;

	memset(&r, 0, sizeof(r));
	r.e = e;
	r.lat = lat;
	r.at = at;
	for (i = 0; i < MAXC; i++)
		r.c[i].fd = -1;
	r.ep = epoll_create1(EPOLL_CLOEXEC);
	if (r.ep < 0) {
		snprintf(why, len, "epoll_create1: %s", strerror(errno));
		return -errno;
	}
	srand48(seed);
	r.start = now_s();
	next = r.start - log(1.0 - drand48()) / rate;
	next_tick = r.start + TICK_S;
	for (;;) {
		t = now_s();
		if (t - r.start >= secs && (!r.open || t - r.start >= secs + TIMEOUT_S))
			break;
		while (t - r.start < secs && next <= t) {
			arrive(&r, next);
			next += -log(1.0 - drand48()) / rate;
		}
		if (t >= next_tick) {
			expire(&r, t);
			if (tick)
				tick(arg);
			next_tick += TICK_S;
		}
		n = epoll_wait(r.ep, ev, 64, 1);
		for (i = 0; i < n; i++)
			event(&r, ev[i].data.ptr, ev[i].events);
	}
	expire(&r, now_s() + TIMEOUT_S + 1);
	close(r.ep);
	*nlat = r.nlat;
	*errors = r.errors;
	return 0;
}
