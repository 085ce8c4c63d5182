// SPDX-License-Identifier: GPL-2.0
/*
 * Observer overhead, measured side by side in one run:
 *  1. ns per sched_switch event of kpilot's handler against an empty tp_btf
 *     handler and a runqlat-style one, all attached at once (bpf_stats);
 *  2. `perf bench sched pipe` ops/s with the observer attached against
 *     without, alternating rounds (median of each);
 *  3. the agent's own CPU% and RSS: `kpilot observe` at the default
 *     interval on the built-in workload, from its --self-stats lines.
 * Last line: RESULT handler_ratio=... pipe_ratio=... agent_cpu_pct=... rss_mib=...
 *
 *   observer_overhead [--rounds N] [--loops N] [--agent-seconds S] [--legacy]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bench.skel.h"
#include "observe/observer.h"

static int rounds = 5, loops = 200000, agent_secs = 10;
static bool legacy, handler_only;

static double pipe_ops(void)
{
	char cmd[128], line[256];
	double ops = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "perf bench sched pipe -l %d 2>&1", loops);
	p = popen(cmd, "r");
	if (!p)
		return 0;
	while (fgets(line, sizeof(line), p))
		sscanf(line, " %lf ops/sec", &ops);
	pclose(p);
	return ops;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	if (n < 1)	/* never: --rounds is 1-32; said for cppcheck */
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int prog_ns(int fd, double *ns, __u64 *runs)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int err = bpf_obj_get_info_by_fd(fd, &info, &len);	/* 0 or -errno */

	if (err)
		return err;
	*runs = info.run_cnt;
	*ns = info.run_cnt ? (double)info.run_time_ns / info.run_cnt : 0;
	return 0;
}

static struct kp_observer *open_obs(void)
{
	struct kp_observer_opts o = { .interval_ms = 1000, .legacy = legacy };
	struct kp_observer *obs;
	char why[512];

	if (kp_observer_open(&obs, &o, why, sizeof(why))) {
		fprintf(stderr, "observer_overhead: %s\n", why);
		exit(2);
	}
	return obs;
}

/* Keep the ring buffer drained while perf runs, as the agent would. */
static void drain(struct kp_observer *obs)
{
	kp_observer_poll(obs);
	kp_observer_reset(obs);
}

static int parse_args(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--loops") && i + 1 < argc)
			loops = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--agent-seconds") && i + 1 < argc)
			agent_secs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--legacy"))
			legacy = true;
		else if (!strcmp(argv[i], "--handler-only"))
			handler_only = true;
		else {
			fprintf(stderr, "usage: observer_overhead [--rounds N] [--loops N] "
					"[--agent-seconds S] [--legacy] [--handler-only]\n");
			return 2;
		}
	}
	if (rounds < 1 || rounds > 32 || loops < 1000 || agent_secs < 3) {
		fprintf(stderr, "observer_overhead: rounds 1-32, loops >= 1000, agent-seconds >= 3\n");
		return 2;
	}
	return 0;
}

/*
 * 1. Per-event cost, all three handlers on the same events. The first
 * program on a tracepoint pays for the cold cache lines, so each order is
 * measured once and the two passes averaged. Returns kpilot's ratio to the
 * empty handler, or -1.
 */
static double handler_cost(void)
{
	double empty_ns = 0, rq_ns = 0, ours_ns = 0, handler_ratio;
	struct kp_prog_stat st[64];
	struct kp_observer *obs = NULL;
	struct bench_bpf *bench;
	__u64 empty_runs = 0;
	int i, n, stats_fd, pass, err;

	stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (stats_fd < 0) {
		fprintf(stderr, "observer_overhead: bpf_stats: %s (needs root)\n", strerror(errno));
		return -1;
	}
	for (pass = 0; pass < 2; pass++) {
		double e, r, o = 0;
		__u64 er, rr;

		if (pass == 1)
			obs = open_obs();	/* the observer first on the tracepoint */
		bench = bench_bpf__open_and_load();
		if (!bench || bench_bpf__attach(bench)) {
			fprintf(stderr, "observer_overhead: cannot load the reference programs\n");
			return -1;
		}
		if (pass == 0)
			obs = open_obs();
		for (i = 0; i < rounds; i++) {
			pipe_ops();
			drain(obs);
		}
		err = prog_ns(bpf_program__fd(bench->progs.empty_switch), &e, &er);
		if (!err)
			err = prog_ns(bpf_program__fd(bench->progs.runqlat_switch), &r, &rr);
		if (err) {
			fprintf(stderr, "observer_overhead: reference programs' run time: %s\n",
				strerror(-err));
			kp_observer_close(obs);
			bench_bpf__destroy(bench);
			close(stats_fd);
			return -1;
		}
		n = kp_observer_prog_stats(obs, st, 64);
		for (i = 0; i < n; i++)
			if (strstr(st[i].name, "sched_switch") && st[i].run_cnt)
				o = (double)st[i].run_time_ns / st[i].run_cnt;
		printf("  pass %d (%s first): empty %.1f ns, runqlat-style %.1f ns, kpilot %.1f ns\n",
		       pass + 1, pass ? "kpilot" : "references", e, r, o);
		empty_ns += e / 2;
		rq_ns += r / 2;
		ours_ns += o / 2;
		empty_runs += er;
		kp_observer_close(obs);
		bench_bpf__destroy(bench);
	}
	close(stats_fd);
	handler_ratio = empty_ns ? ours_ns / empty_ns : 0;
	printf("sched_switch handler, ns/event (bpf_stats, %llu events, mean of both orders):\n",
	       (unsigned long long)empty_runs);
	printf("  %-22s %8.1f ns  %5.2fx\n", "empty tp_btf", empty_ns, 1.0);
	printf("  %-22s %8.1f ns  %5.2fx\n", "runqlat-style hash", rq_ns, empty_ns ? rq_ns / empty_ns : 0);
	printf("  %-22s %8.1f ns  %5.2fx  (%s)\n", "kpilot", ours_ns, handler_ratio,
	       legacy ? "raw_tp + hash" : "tp_btf + task storage");
	return handler_ratio;
}

/*
 * 2. perf bench sched pipe, alternating: nothing attached, the empty
 * program alone (the floor any tracer pays), the observer. Returns the
 * observer's ratio to nothing attached, or -1.
 */
static double pipe_cost(void)
{
	double with[32], without[32], floor_ops[32], fl, w, wo, pipe_ratio;
	struct kp_observer *obs;
	struct bench_bpf *bench;
	int i;

	for (i = 0; i < rounds; i++) {
		without[i] = pipe_ops();
		bench = bench_bpf__open();
		bpf_program__set_autoload(bench->progs.runqlat_switch, false);
		if (bench_bpf__load(bench) || bench_bpf__attach(bench))
			return -1;
		floor_ops[i] = pipe_ops();
		bench_bpf__destroy(bench);
		obs = open_obs();
		with[i] = pipe_ops();
		drain(obs);
		kp_observer_close(obs);
	}
	wo = median(without, rounds);
	w = median(with, rounds);
	fl = median(floor_ops, rounds);
	pipe_ratio = wo ? w / wo : 0;
	printf("perf bench sched pipe -l %d, median of %d alternating rounds:\n", loops, rounds);
	printf("  nothing attached      %10.0f ops/s\n", wo);
	printf("  empty tp_btf program  %10.0f ops/s  ratio %.3f\n", fl, wo ? fl / wo : 0);
	printf("  kpilot observer       %10.0f ops/s  ratio %.3f\n", w, pipe_ratio);
	return pipe_ratio;
}

/* 3. The agent as a user runs it, on the built-in workload. */
static int agent_cost(double *cpu, double *rss)
{
	char cmd[512], line[4096];
	int nself = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd),
		 "build/tools/workload/workload --seconds %d & wl=$!; "
		 "./kpilot observe --json --self-stats --duration %d --pid $wl 2>/dev/null; "
		 "kill $wl 2>/dev/null; wait", agent_secs + 2, agent_secs);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	*cpu = *rss = 0;
	while (fgets(line, sizeof(line), p)) {
		double c;
		long r;
		char *s = strstr(line, "\"agent_cpu_pct\":"), *t = strstr(line, "\"rss_kib\":");

		if (!s || !t || sscanf(s, "\"agent_cpu_pct\":%lf", &c) != 1 ||
		    sscanf(t, "\"rss_kib\":%ld", &r) != 1)
			continue;
		/* The first interval carries the start-up (BTF parsing, loading). */
		if (nself++ == 0)
			continue;
		*cpu += c;
		if (r / 1024.0 > *rss)
			*rss = r / 1024.0;
	}
	pclose(p);
	if (nself > 1)
		*cpu /= nself - 1;
	printf("agent (kpilot observe, 1000 ms interval, built-in workload, %d s):\n", agent_secs);
	printf("  cpu %.3f%% of a core (mean of %d intervals after the first), max rss %.1f MiB\n",
	       *cpu, nself - 1, *rss);
	return 0;
}

int main(int argc, char **argv)
{
	double handler_ratio, pipe_ratio, cpu, rss;

	if (parse_args(argc, argv))
		return 2;
	/* Line by line: in a guest the console log is all that shows a hang. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	handler_ratio = handler_cost();
	if (handler_ratio < 0)
		return 2;
	if (handler_only)
		return 0;
	pipe_ratio = pipe_cost();
	if (pipe_ratio < 0 || agent_cost(&cpu, &rss))
		return 2;
	printf("RESULT handler_ratio=%.2f pipe_ratio=%.3f agent_cpu_pct=%.3f rss_mib=%.1f\n",
	       handler_ratio, pipe_ratio, cpu, rss);
	return 0;
}
