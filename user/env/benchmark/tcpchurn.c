// SPDX-License-Identifier: GPL-2.0
/*
 * tcp-churn: the built-in benchmark of the tcp-churn profile, a hidden
 * subcommand of kpilot itself. A server accepts connections and closes them
 * after reading a small request; a client opens, sends, and closes short
 * connections as fast as it can from several threads, and reports
 * connections/s and connect latency.
 *
 *   kpilot tcpchurn server [--addr A] [--port P] [--seconds S]
 *   kpilot tcpchurn client --addr A [--port P] [--seconds S] [--threads N]
 *
 * The client closes first, so TIME_WAIT sockets pile up on its side: with
 * the default ephemeral port range and tcp_tw_reuse, connect() starts to
 * search longer and longer for a free port, and then fails. That is the
 * effect the tuning run is meant to find (Documentation/tuning.md).
 *
 * Output (client, last line, parsed by the run's reward pattern):
 *   conns_per_sec=<x> p50_us=<x> p99_us=<x> errors=<n>
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "cli/commands.h"
#include "lib/clock.h"

#define MAX_THREADS 64
#define LAT_SLOTS 40	/* log2 of ns */

static struct sockaddr_in addr = { .sin_family = AF_INET };
static double deadline;
static volatile sig_atomic_t stop;

struct worker {
	pthread_t tid;
	unsigned long conns, errors;
	unsigned long lat[LAT_SLOTS];
};

static void on_term(int sig)
{
	stop = 1;
}

static int slot(double secs)
{
	unsigned long ns = (unsigned long)(secs * 1e9);
	int s = 0;

	while (ns >>= 1)
		s++;
	return s < LAT_SLOTS ? s : LAT_SLOTS - 1;
}

static void *client_thread(void *arg)
{
	static const char req[64] = "GET";
	struct worker *w = arg;
	double t0, t1;
	int fd;

	while (!stop && (t0 = kp_mono_s()) < deadline) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0) {
			w->errors++;
			continue;
		}
		if (connect(fd, (void *)&addr, sizeof(addr))) {
			w->errors++;
			close(fd);
			/* Out of ports or refused: back off a little, as a client would. */
			usleep(1000);
			continue;
		}
		t1 = kp_mono_s();
		if (write(fd, req, sizeof(req)) != sizeof(req))
			w->errors++;
		else
			w->conns++;
		w->lat[slot(t1 - t0)]++;
		close(fd);
	}
	return NULL;
}

static double pct(const unsigned long *h, unsigned long n, double p)
{
	unsigned long want = (unsigned long)(p / 100.0 * n), cum = 0;
	int i;

	if (want < 1)
		want = 1;
	for (i = 0; i < LAT_SLOTS; i++) {
		if (cum + h[i] >= want) {
			double lo = (double)(1UL << i), frac = (double)(want - cum) / h[i];

			return (lo + lo * frac) / 1000.0;	/* us */
		}
		cum += h[i];
	}
	return 0;
}

static int client(int threads, double secs)
{
	static struct worker w[MAX_THREADS];
	unsigned long conns = 0, errors = 0, lat[LAT_SLOTS] = { 0 };
	double t0 = kp_mono_s();
	int i, k;

	deadline = t0 + secs;
	for (i = 0; i < threads; i++)
		pthread_create(&w[i].tid, NULL, client_thread, &w[i]);
	for (i = 0; i < threads; i++) {
		pthread_join(w[i].tid, NULL);
		conns += w[i].conns;
		errors += w[i].errors;
		for (k = 0; k < LAT_SLOTS; k++)
			lat[k] += w[i].lat[k];
	}
	secs = kp_mono_s() - t0;
	printf("conns_per_sec=%.1f p50_us=%.1f p99_us=%.1f errors=%lu\n", conns / secs,
	       pct(lat, conns, 50), pct(lat, conns, 99), errors);
	return conns ? 0 : 1;
}

static int server(double secs)
{
	char buf[256];
	int lfd, c, one = 1;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (void *)&addr, sizeof(addr)) || listen(lfd, 4096)) {
		perror("kpilot tcpchurn server");
		return 1;
	}
	setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){ .tv_usec = 200000 },
		   sizeof(struct timeval));
	printf("listening\n");
	fflush(stdout);
	deadline = kp_mono_s() + secs;
	while (!stop && kp_mono_s() < deadline) {
		c = accept(lfd, NULL, NULL);
		if (c < 0)
			continue;
		/* Wait for the client's close, so the client is the active closer. */
		while (read(c, buf, sizeof(buf)) > 0)
			;
		close(c);
	}
	close(lfd);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: kpilot tcpchurn server [--addr A] [--port P] [--seconds S]\n"
			"       kpilot tcpchurn client --addr A [--port P] [--seconds S] [--threads N]\n");
	return KP_EXIT_USAGE;
}

int cmd_tcpchurn(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_term };
	double secs = 5;
	int threads = 4, port = 8080, i;
	const char *a = "0.0.0.0";

	if (argc < 2)
		return usage();
	for (i = 2; i < argc; i++) {
		if (i + 1 >= argc)
			return usage();
		if (!strcmp(argv[i], "--addr"))
			a = argv[++i];
		else if (!strcmp(argv[i], "--port"))
			port = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seconds"))
			secs = atof(argv[++i]);
		else if (!strcmp(argv[i], "--threads"))
			threads = atoi(argv[++i]);
		else
			return usage();
	}
	if (port < 1 || port > 65535 || secs <= 0 || threads < 1 || threads > MAX_THREADS ||
	    inet_pton(AF_INET, a, &addr.sin_addr) != 1) {
		fprintf(stderr, "kpilot tcpchurn: bad --addr, --port (1-65535), --seconds or --threads (1-%d)\n",
			MAX_THREADS);
		return 2;
	}
	addr.sin_port = htons(port);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (!strcmp(argv[1], "server"))
		return server(secs + 1);
	if (!strcmp(argv[1], "client"))
		return client(threads, secs);
	return usage();
}
