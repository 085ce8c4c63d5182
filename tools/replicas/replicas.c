// SPDX-License-Identifier: GPL-2.0
/*
 * replicas: the replica service and the steering benchmark's non-learned
 * arms (Documentation/steering.md). Starts N replicas with their CPU
 * quotas, attaches kpilot's steering to their reuseport group (without
 * their help), then runs the open-loop client against each arm in turn,
 * interleaved over rounds:
 *   hash       the kernel's own reuseport hash (the program selects nothing)
 *   rr         round-robin in BPF
 *   leastconn  fewest active connections, counted in BPF
 *   prequal    user space, every 200 ms: weights from latency x in-flight
 *   dqn        a real `kpilot run` with a replicas policy (dqn_arm.c): trained
 *              online once (exploration on), then each measured run in
 *              production mode (exploration off) from its checkpoint
 * Scenario a: steady heterogeneous quotas. Scenario b: the fastest
 * replica's quota cut to a quarter mid-run; seconds until a 1-s window's
 * p99 is back within 20% of the arm's steady p99. Everything it made (the
 * namespaces, cgroups, pinned maps) goes at exit, also on Ctrl-C.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "actuate/steer.h"
#include "replicas.h"

enum arm { ARM_HASH, ARM_RR, ARM_LEAST, ARM_PREQUAL, ARM_DQN, NARMS };
static const char *const arm_name[NARMS] = { "hash", "rr", "leastconn", "prequal", "dqn" };

struct bench {
	struct rp_env e;
	char svc[32];
	double rate, secs;
	int rounds;
	bool arms[NARMS];
	enum arm cur;
	double cut_at;			/* scenario b: seconds into the run, 0: none */
	double t0;
	bool cut_done;
	double *lat, *at;
	struct kp_steer st;		/* the bench's own steering (not while the dqn arm runs) */
	struct rp_dqn q;
	double train_secs, warm_secs;
};

static struct bench B;

static void on_signal(int sig)
{
	char why[128];

	/* the steering first: the default back even if the rest is slow */
	rp_dqn_cleanup(&B.q);
	kp_steer_detach(B.svc, why, sizeof(why));
	rp_teardown(&B.e);
	_exit(128 + sig);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(double *v, unsigned long n, double p)
{
	if (!n)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_d);
	return v[(unsigned long)(p * (double)(n - 1))];
}

/* Prequal-style: score = latency x (1 + requests in flight), weight ~ 1/score. */
static void prequal_tick(struct bench *b)
{
	struct kp_steer_stats s;
	__u32 w[RP_MAX];
	double score[RP_MAX], best = INFINITY;
	char why[160];
	int i;

	if (kp_steer_stats_read(b->svc, &s))
		return;
	for (i = 0; i < b->e.n; i++) {
		double l = b->e.sh->lat_ewma_ms[i] > 0.1 ? b->e.sh->lat_ewma_ms[i] : 0.1;

		score[i] = l * (1.0 + (double)(s.active[i] > 0 ? s.active[i] : 0));
		if (score[i] < best)
			best = score[i];
		/* a replica not chosen lately looks better with time: it gets probed again */
		b->e.sh->lat_ewma_ms[i] *= 0.9;
	}
	for (i = 0; i < b->e.n; i++) {
		double v = 100.0 * best / score[i];

		w[i] = v < 1 ? 1 : (__u32)(v + 0.5);
	}
	kp_steer_set(b->svc, KP_STEER_WEIGHTS, w, b->e.n, why, sizeof(why));
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void tick(void *arg)
{
	struct bench *b = arg;
	char why[160];

	if (b->cut_at > 0 && !b->cut_done && mono_s() - b->t0 >= b->cut_at) {
		rp_set_quota(&b->e, 0, b->e.quota[0] / 4, why, sizeof(why));
		b->cut_done = true;
	}
	if (b->cur == ARM_PREQUAL)
		prequal_tick(b);
}

static int set_arm(struct bench *b, enum arm a, char *why, size_t len)
{
	__u32 w[RP_MAX];
	int i;

	b->cur = a;
	for (i = 0; i < RP_MAX; i++) {
		w[i] = 100;
		b->e.sh->lat_ewma_ms[i] = 0;
	}
	switch (a) {
	case ARM_RR:
		return kp_steer_set(b->svc, KP_STEER_RR, NULL, 0, why, len);
	case ARM_LEAST:
		return kp_steer_set(b->svc, KP_STEER_LEASTCONN, NULL, 0, why, len);
	case ARM_PREQUAL:
		return kp_steer_set(b->svc, KP_STEER_WEIGHTS, w, b->e.n, why, len);
	default:
		return kp_steer_set(b->svc, KP_STEER_HASH, NULL, 0, why, len);
	}
}

/* The bench lets go of its steering: the daemon attaches its own. */
static int dqn_begin(struct bench *b, bool explore, int steps, char *why, size_t len)
{
	int err = kp_steer_set(b->svc, KP_STEER_HASH, NULL, 0, why, len);

	kp_steer_release(&b->st);
	err = err ?: kp_steer_detach(b->svc, why, len);
	return err ?: rp_dqn_start(&b->q, &b->e, b->svc, explore, steps, why, len);
}

/* The daemon stopped (the default back, the checkpoint saved); the bench's steering again. */
static int dqn_end(struct bench *b, char *why, size_t len)
{
	int err = rp_dqn_stop(&b->q);

	if (err)
		snprintf(why, len, "dqn arm: kpilot run did not exit 0 at SIGTERM");
	return err ?: kp_steer_attach(&b->st, b->svc, b->e.pid, b->e.n, RP_PORT, KP_STEER_HASH,
				      NULL, true, why, len);
}

static void dqn_print(struct bench *b, const char *when)
{
	json_t *st = rp_dqn_state(&b->q), *w;

	if (!st)
		return;
	w = json_object_get(st, "weights");
	fprintf(stderr, "  dqn %s: steps %lld, updates %lld, epsilon %.3f, weights", when,
		json_integer_value(json_object_get(st, "steps_done")),
		json_integer_value(json_object_get(st, "dqn_updates")),
		json_number_value(json_object_get(st, "epsilon")));
	for (size_t i = 0; i < json_array_size(w); i++)
		fprintf(stderr, " %lld", json_integer_value(json_array_get(w, i)));
	fprintf(stderr, "\n");
	json_decref(st);
}

/* Trained online: the client's load with exploration on for train_secs, not measured. */
static int dqn_train(struct bench *b, char *why, size_t len)
{
	unsigned long n, errors;
	int err = dqn_begin(b, true, (int)b->train_secs, why, len);

	err = err ?: rp_client(&b->e, b->rate, b->train_secs, 4242, b->lat, b->at, &n, &errors,
			       NULL, NULL, why, len);
	if (!err)
		dqn_print(b, "trained");
	return err ?: dqn_end(b, why, len);
}

/* One run of the client under arm a; latencies stay in b->lat/at. */
static int run(struct bench *b, enum arm a, double secs, unsigned int seed,
	       unsigned long *n, unsigned long *errors, char *why, size_t len)
{
	double cut = b->cut_at;
	int err;

	if (a != ARM_DQN) {
		err = set_arm(b, a, why, len);
	} else {
		/* production mode from the checkpoint; a warm-up it steers, not measured */
		b->cur = a;
		b->cut_at = 0;
		err = dqn_begin(b, false, 0, why, len);
		err = err ?: rp_client(&b->e, b->rate, b->warm_secs, seed + 7, b->lat, b->at, n,
				       errors, NULL, NULL, why, len);
		b->cut_at = cut;
	}
	b->t0 = mono_s();
	b->cut_done = false;
	err = err ?: rp_client(&b->e, b->rate, secs, seed, b->lat, b->at, n, errors, tick, b, why,
			       len);
	if (a == ARM_DQN) {
		dqn_print(b, "measured");
		int end = dqn_end(b, why, len);

		if (end)
			err = end;
	}
	return err;
}

/* Scenario b: seconds after the cut until a 1-s window's p99 is within 20% of steady. */
static double adapt_seconds(struct bench *b, unsigned long n, double cut, double end,
			    double *steady)
{
	static double win[RP_SAMPLES];
	unsigned long i, k;
	double t;

	for (i = 0, k = 0; i < n; i++)
		if (b->at[i] >= 1.0 && b->at[i] < cut)
			win[k++] = b->lat[i];
	*steady = pct(win, k, 0.99);
	for (t = cut + 1.0; t <= end; t += 0.5) {
		for (i = 0, k = 0; i < n; i++)
			if (b->at[i] > t - 1.0 && b->at[i] <= t)
				win[k++] = b->lat[i];
		if (k >= 10 && pct(win, k, 0.99) <= 1.2 * *steady)
			return t - cut;
	}
	return -1;
}

struct agg {
	double *lat;
	unsigned long n, errors;
	double secs;
	double adapt_s, steady_p99;
	bool ran;
};

static void report(const char *scen, enum arm a, struct agg *g)
{
	double p50 = pct(g->lat, g->n, 0.5), p99 = pct(g->lat, g->n, 0.99);

	printf("%-2s %-10s p50_ms=%8.2f p99_ms=%8.2f tput_rps=%7.1f errors=%lu", scen,
	       arm_name[a], p50, p99, (double)g->n / g->secs, g->errors);
	if (g->adapt_s != 0)
		printf(" steady_p99_ms=%.2f adapt_s=%s%.1f", g->steady_p99,
		       g->adapt_s < 0 ? ">" : "", g->adapt_s < 0 ? g->secs / 2 : g->adapt_s);
	printf("\n");
	g->steady_p99 = p99;	/* scenario a: the table's figure */
}

static int scenario_a(struct bench *b, struct agg *g, char *why, size_t len)
{
	unsigned long n, errors, i;
	int r, a, err;

	for (r = 0; r < b->rounds; r++) {
		for (a = 0; a < NARMS; a++) {
			if (!b->arms[a])
				continue;
			err = run(b, (enum arm)a, b->secs, 1000u * (unsigned int)r + (unsigned int)a,
				  &n, &errors, why, len);
			if (err)
				return err;
			g[a].lat = realloc(g[a].lat, (g[a].n + n) * sizeof(double));
			if (!g[a].lat)
				return -ENOMEM;
			for (i = 0; i < n; i++)
				g[a].lat[g[a].n + i] = b->lat[i];
			g[a].n += n;
			g[a].errors += errors;
			g[a].secs += b->secs;
			g[a].ran = true;
			fprintf(stderr, "  a round %d %-9s %lu ok %lu errors\n", r + 1, arm_name[a],
				n, errors);
		}
	}
	return 0;
}

static int scenario_b(struct bench *b, struct agg *g, char *why, size_t len)
{
	double q0 = b->e.quota[0];
	unsigned long n, errors;
	int a, err;

	for (a = 0; a < NARMS; a++) {
		if (!b->arms[a])
			continue;
		b->cut_at = b->secs;
		err = run(b, (enum arm)a, 2 * b->secs, 77u + (unsigned int)a, &n, &errors, why, len);
		b->cut_at = 0;
		err = err ?: rp_set_quota(&b->e, 0, q0, why, len);
		if (err)
			return err;
		g[a].adapt_s = adapt_seconds(b, n, b->secs, 2 * b->secs, &g[a].steady_p99);
		g[a].lat = malloc(n * sizeof(double) + 1);
		if (!g[a].lat)
			return -ENOMEM;
		memcpy(g[a].lat, b->lat, n * sizeof(double));
		g[a].n = n;
		g[a].errors = errors;
		g[a].secs = 2 * b->secs;
		g[a].ran = true;
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: replicas [--quotas 0.5,0.25,0.125] [--work-ms 2] [--rate 150]\n"
		"                [--secs 5] [--rounds 2] [--scenario a|b|ab]\n"
		"                [--arms hash,rr,leastconn,prequal,dqn]\n"
		"                [--kpilot PATH] [--dqn-train 120] [--dqn-warm 5]\n");
	exit(2);
}

static void parse(struct bench *b, char **scen, int argc, char **argv)
{
	static const struct option o[] = {
		{ "quotas", 1, 0, 'q' }, { "work-ms", 1, 0, 'w' }, { "rate", 1, 0, 'r' },
		{ "secs", 1, 0, 's' }, { "rounds", 1, 0, 'n' }, { "scenario", 1, 0, 'c' },
		{ "arms", 1, 0, 'a' }, { "kpilot", 1, 0, 'k' }, { "dqn-train", 1, 0, 't' },
		{ "dqn-warm", 1, 0, 'W' }, { 0 } };
	char *tok, *save = NULL;
	int c, i;

	while ((c = getopt_long(argc, argv, "", o, NULL)) != -1) {
		switch (c) {
		case 'q':
			b->e.n = 0;
			for (tok = strtok_r(optarg, ",", &save); tok && b->e.n < RP_MAX;
			     tok = strtok_r(NULL, ",", &save))
				b->e.quota[b->e.n++] = atof(tok);
			break;
		case 'w': b->e.work_ms = atof(optarg); break;
		case 'r': b->rate = atof(optarg); break;
		case 's': b->secs = atof(optarg); break;
		case 'n': b->rounds = atoi(optarg); break;
		case 'c': *scen = optarg; break;
		case 'k': snprintf(b->q.kpilot, sizeof(b->q.kpilot), "%s", optarg); break;
		case 't': b->train_secs = atof(optarg); break;
		case 'W': b->warm_secs = atof(optarg); break;
		case 'a':
			memset(b->arms, 0, sizeof(b->arms));
			for (tok = strtok_r(optarg, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
				for (i = 0; i < NARMS; i++)
					if (!strcmp(tok, arm_name[i]))
						b->arms[i] = true;
			break;
		default:
			usage();
		}
	}
	for (i = 0; i < b->e.n; i++)
		if (b->e.quota[i] <= 0.01 || b->e.quota[i] > 64)
			usage();
	if (b->e.n < 2 || b->e.work_ms <= 0 || b->rate <= 0 || b->secs < 2 || b->rounds < 1 ||
	    b->train_secs < 2 || b->warm_secs < 0)
		usage();
}

static void summary(struct agg *ga, struct agg *gb, bool did_a, bool did_b)
{
	double hash = NAN, best = NAN;
	unsigned long errors = 0;
	char dqn[32] = "na", adapt[32] = "na";
	int a;

	for (a = 0; a < NARMS; a++) {
		errors += ga[a].errors + gb[a].errors;
		if (!ga[a].ran || a == ARM_DQN)
			continue;
		if (a == ARM_HASH)
			hash = ga[a].steady_p99;
		else if (isnan(best) || ga[a].steady_p99 < best)
			best = ga[a].steady_p99;
	}
	if (did_a && ga[ARM_DQN].ran)
		snprintf(dqn, sizeof(dqn), "%.2f", ga[ARM_DQN].steady_p99);
	if (did_b && gb[ARM_DQN].ran)
		snprintf(adapt, sizeof(adapt), "%s%.1f", gb[ARM_DQN].adapt_s < 0 ? ">" : "",
			 gb[ARM_DQN].adapt_s < 0 ? gb[ARM_DQN].secs / 2 : gb[ARM_DQN].adapt_s);
	printf("RESULT dqn_p99_ms=%s hash_p99_ms=%.2f best_heuristic_p99_ms=%.2f adapt_s=%s "
	       "errors=%lu\n", dqn, did_a ? hash : NAN, did_a ? best : NAN, adapt, errors);
}

static int bench(struct bench *b, const char *scen, char *why, size_t len)
{
	struct agg ga[NARMS] = { 0 }, gb[NARMS] = { 0 };
	int a, err, fd;

	err = b->arms[ARM_DQN] ? rp_dqn_init(&b->q, b->q.kpilot, why, len) : 0;
	err = err ?: rp_setup(&b->e, why, len);
	err = err ?: kp_steer_attach(&b->st, b->svc, b->e.pid, b->e.n, RP_PORT, KP_STEER_HASH,
				     NULL, true, why, len);
	if (err)
		return err;
	printf("# steering: sk_reuseport%s program, connection tracking %s; cgroup v%d\n",
	       b->st.migrate ? "/migrate" : "", b->st.tracking ? "on" : "off", b->e.cg_version);
	snprintf(why, len, "/run/netns/%s", b->e.ns_cli);
	fd = open(why, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET)) {
		snprintf(why, len, "cannot enter the client namespace %s", b->e.ns_cli);
		return -EIO;
	}
	close(fd);
	if (b->arms[ARM_DQN]) {
		printf("# dqn: kpilot run, replicas policy: trained online %.0f s (exploration on), "
		       "then each run from its checkpoint with exploration off after %.0f s of "
		       "warm-up\n", b->train_secs, b->warm_secs);
		err = dqn_train(b, why, len);
	}
	if (!err && strchr(scen, 'a'))
		err = scenario_a(b, ga, why, len);
	if (!err && strchr(scen, 'b'))
		err = scenario_b(b, gb, why, len);
	for (a = 0; !err && a < NARMS; a++)
		if (ga[a].ran)
			report("a", (enum arm)a, &ga[a]);
	for (a = 0; !err && a < NARMS; a++)
		if (gb[a].ran)
			report("b", (enum arm)a, &gb[a]);
	if (!err)
		summary(ga, gb, strchr(scen, 'a'), strchr(scen, 'b'));
	for (a = 0; a < NARMS; a++) {
		free(ga[a].lat);
		free(gb[a].lat);
	}
	kp_steer_release(&b->st);
	return err;
}

int main(int argc, char **argv)
{
	char why[512] = "", *scen = "ab";
	struct sigaction sa = { .sa_handler = on_signal };
	int err, i;

	B.e.n = 3;
	B.e.quota[0] = 0.5;
	B.e.quota[1] = 0.25;
	B.e.quota[2] = 0.125;
	B.e.work_ms = 2;
	B.rate = 150;
	B.secs = 5;
	B.rounds = 2;
	B.train_secs = 120;
	B.warm_secs = 5;
	snprintf(B.q.kpilot, sizeof(B.q.kpilot), "./kpilot");
	for (i = 0; i < NARMS; i++)
		B.arms[i] = true;
	parse(&B, &scen, argc, argv);
	if (geteuid()) {
		fprintf(stderr, "replicas: needs root (namespaces, cgroups, bpf)\n");
		return 77;
	}
	snprintf(B.svc, sizeof(B.svc), "replicas-%d", (int)getpid());
	B.lat = calloc(RP_SAMPLES, sizeof(double));
	B.at = calloc(RP_SAMPLES, sizeof(double));
	if (!B.lat || !B.at)
		return 1;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# replicas: quotas");
	for (i = 0; i < B.e.n; i++)
		printf(" %.3f", B.e.quota[i]);
	printf(" cores, %.1f ms CPU per request, %.0f req/s Poisson, %.0f s per run, %d rounds\n",
	       B.e.work_ms, B.rate, B.secs, B.rounds);
	err = bench(&B, scen, why, sizeof(why));
	rp_dqn_cleanup(&B.q);
	kp_steer_detach(B.svc, why + 256, 256);
	rp_teardown(&B.e);
	if (err)
		fprintf(stderr, "replicas: %s\n", why);
	return err ? 1 : 0;
}
