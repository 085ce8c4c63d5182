// SPDX-License-Identifier: GPL-2.0
/* kpilot observe: per-process and per-operator metrics from eBPF, every interval. */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "lib/log.h"
#include "observe/observer.h"
#include "observe/report.h"

#define MAX_PIDS 64

static struct env {
	unsigned int interval_ms;
	unsigned int duration_s;
	pid_t pids[MAX_PIDS];
	int npids;
	struct kp_opspec ops[KP_MAX_OPERATORS];
	int nops;
	bool json, hist, pin, keep_pinned, self_stats, legacy;
	int rows;
} env;

static volatile sig_atomic_t exiting;

static void on_signal(int sig)
{
	exiting = 1;
}

static const char doc[] =
"Stream per-process and per-operator metrics from eBPF (sched, block, tcp).\n"
"\n"
"USAGE: kpilot observe [--interval MS] [--duration S] [--pid PID]...\n"
"                      [--operator SPEC]... [--json] [--hist] [--pin]\n"
"                      [--self-stats] [--legacy]\n"
"\n"
"EXAMPLES:\n"
"    kpilot observe                      # live table of every process, 1 s steps\n"
"    kpilot observe --pid 1234 --json    # JSON lines for process 1234 and its children\n"
"    kpilot observe --operator web=cgroup:/system.slice/nginx.service \\\n"
"                   --operator db=pid:4321,4322 --hist\n"
"    kpilot observe --duration 10 --self-stats   # own cost: ns per event, CPU, RSS\n"
"    kpilot observe --pin --keep-pinned --duration 1 && \\\n"
"        bpftool map dump pinned /sys/fs/bpf/kpilot/proc_stats\n"
"\n"
"SPEC is NAME=cgroup:PATH (a v1 or v2 cgroup directory, absolute or relative\n"
"to /sys/fs/cgroup) or NAME=pid:P1,P2. Processes forked by members join the\n"
"operator. Output fields are documented in Documentation/metrics.md.\n";

enum { OPT_KEEP_PINNED = 1000, OPT_SELF_STATS, OPT_LEGACY, OPT_ROWS };

static const struct argp_option options[] = {
	{ "interval", 'i', "MS", 0, "Reporting and flush interval in ms (10-60000, default 1000)" },
	{ "duration", 'd', "S", 0, "Stop after S seconds (default: until Ctrl-C)" },
	{ "pid", 'p', "PID", 0, "Only this process and its children (repeatable)" },
	{ "operator", 'o', "SPEC", 0, "Group processes into an operator (repeatable)" },
	{ "json", 'j', NULL, 0, "One JSON object per line per entity per interval" },
	{ "hist", 'H', NULL, 0, "Print run-queue and I/O latency log2 histograms" },
	{ "pin", 'P', NULL, 0, "Pin maps under " KP_PIN_DIR " for bpftool" },
	{ "keep-pinned", OPT_KEEP_PINNED, NULL, 0, "Leave pinned maps after exit" },
	{ "self-stats", OPT_SELF_STATS, NULL, 0, "Show each program's runs and ns/run, own CPU and RSS" },
	{ "legacy", OPT_LEGACY, NULL, 0, "Force raw_tp programs and hash maps (the < 5.13 path)" },
	{ "rows", OPT_ROWS, "N", 0, "Process rows in the live table (default 20, 0 = all)" },
	{ "verbose", 'v', NULL, 0, "Debug output, including libbpf's" },
	{},
};

static int parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (*s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	char err[256];
	unsigned long v;

	switch (key) {
	case 'i':
		/* argp_error exits (no ARGP_NO_EXIT); the returns say so to the analyzer. */
		if (parse_uint(arg, 10, 60000, &v)) {
			argp_error(state, "--interval: '%s' is not a number of ms in 10-60000", arg);
			return EINVAL;
		}
		env.interval_ms = v;
		break;
	case 'd':
		if (parse_uint(arg, 1, 31 * 24 * 3600, &v)) {
			argp_error(state, "--duration: '%s' is not a positive number of seconds", arg);
			return EINVAL;
		}
		env.duration_s = v;
		break;
	case 'p':
		if (parse_uint(arg, 1, INT_MAX, &v)) {
			argp_error(state, "--pid: '%s' is not a process id", arg);
			return EINVAL;
		}
		if (env.npids == MAX_PIDS) {
			argp_error(state, "--pid: at most %d", MAX_PIDS);
			return EINVAL;
		}
		env.pids[env.npids++] = v;
		break;
	case 'o':
		if (env.nops == KP_MAX_OPERATORS) {
			argp_error(state, "--operator: at most %d", KP_MAX_OPERATORS);
			return EINVAL;
		}
		if (kp_opspec_parse(arg, &env.ops[env.nops], err, sizeof(err))) {
			argp_error(state, "--operator: %s", err);
			return EINVAL;
		}
		env.nops++;
		break;
	case 'j':
		env.json = true;
		break;
	case 'H':
		env.hist = true;
		break;
	case 'P':
		env.pin = true;
		break;
	case OPT_KEEP_PINNED:
		env.keep_pinned = true;
		env.pin = true;
		break;
	case OPT_SELF_STATS:
		env.self_stats = true;
		break;
	case OPT_LEGACY:
		env.legacy = true;
		break;
	case OPT_ROWS:
		if (parse_uint(arg, 0, 100000, &v)) {
			argp_error(state, "--rows: '%s' is not a number", arg);
			return EINVAL;
		}
		env.rows = v;
		break;
	default:
		return cli_common_arg(key, arg, state);
	}
	return 0;
}

static const char *op_name_cb(const void *arg, __u32 id)
{
	return kp_observer_op_name(arg, id);
}

static __u64 realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static long rss_kib(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "re");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

#define MAX_PROGS 64

/* Per-program runs and ns/run over the interval, and the agent's own cost. */
static void self_stats(struct kp_observer *obs, const struct kp_report_ctx *c,
		       struct kp_prog_stat *prev, int *nprev, double *prev_cpu)
{
	struct kp_prog_stat cur[MAX_PROGS];
	int n = kp_observer_prog_stats(obs, cur, MAX_PROGS), i;
	double cpu = cpu_seconds(), pct = (cpu - *prev_cpu) * 1e5 / c->interval_ms;
	json_t *o = NULL, *arr = NULL;

	if (env.json) {
		o = json_object();
		arr = json_array();
		json_object_set_new(o, "ts_ns", json_integer(c->ts_ns));
		json_object_set_new(o, "interval_ms", json_integer(c->interval_ms));
		json_object_set_new(o, "kind", json_string("self"));
	} else {
		printf("%-28s %12s %10s\n", "PROGRAM", "RUNS", "NS/RUN");
	}
	for (i = 0; i < n; i++) {
		__u64 runs = cur[i].run_cnt - (i < *nprev ? prev[i].run_cnt : 0);
		__u64 ns = cur[i].run_time_ns - (i < *nprev ? prev[i].run_time_ns : 0);
		double mean = runs ? (double)ns / runs : 0;

		if (arr) {
			json_t *p = json_object();

			json_object_set_new(p, "name", json_string(cur[i].name));
			json_object_set_new(p, "runs", json_integer(runs));
			json_object_set_new(p, "ns_per_run", json_real(mean));
			json_array_append_new(arr, p);
		} else {
			printf("%-28s %12llu %10.0f\n", cur[i].name, (unsigned long long)runs, mean);
		}
	}
	if (o) {
		json_object_set_new(o, "programs", arr);
		json_object_set_new(o, "agent_cpu_pct", json_real(pct));
		json_object_set_new(o, "rss_kib", json_integer(rss_kib()));
		kp_report_json_line(stdout, o);
	} else {
		printf("agent: cpu %.2f%% of a core, rss %ld KiB\n", pct, rss_kib());
	}
	memcpy(prev, cur, sizeof(cur[0]) * n);
	*nprev = n;
	*prev_cpu = cpu;
}

static void print_hists(struct kp_interval *iv, struct kp_observer *obs)
{
	__u64 rq[KP_HIST_SLOTS] = {}, io[KP_HIST_SLOTS] = {};
	char title[128];
	size_t i, k;

	for (i = 0; i < iv->ops.cap; i++) {
		const struct kp_entity *e = &iv->ops.slots[i];

		if (!iv->ops.used[i])
			continue;
		snprintf(title, sizeof(title), "operator %s: run-queue wait",
			 kp_observer_op_name(obs, e->id));
		kp_print_log2_hist(stdout, e->runq_hist, KP_HIST_SLOTS, title);
		snprintf(title, sizeof(title), "operator %s: block I/O latency",
			 kp_observer_op_name(obs, e->id));
		kp_print_log2_hist(stdout, e->io_lat_hist, KP_HIST_SLOTS, title);
	}
	for (i = 0; i < iv->procs.cap; i++) {
		if (!iv->procs.used[i])
			continue;
		for (k = 0; k < KP_HIST_SLOTS; k++) {
			rq[k] += iv->procs.slots[i].runq_hist[k];
			io[k] += iv->procs.slots[i].io_lat_hist[k];
		}
	}
	kp_print_log2_hist(stdout, rq, KP_HIST_SLOTS, "all reported processes: run-queue wait");
	kp_print_log2_hist(stdout, io, KP_HIST_SLOTS, "all reported processes: block I/O latency");
	for (i = 0; i < iv->devs.cap; i++) {
		char dev[32];

		if (!iv->devs.used[i])
			continue;
		kp_dev_name(iv->devs.slots[i].id, dev, sizeof(dev));
		snprintf(title, sizeof(title), "device %s: block I/O latency", dev);
		kp_print_log2_hist(stdout, iv->devs.slots[i].io_lat_hist, KP_HIST_SLOTS, title);
	}
	printf("\n");
}

static void report(struct kp_observer *obs, const struct kp_report_ctx *c, bool live,
		   __u64 ev, __u64 rec, __u64 drops)
{
	struct kp_interval *iv = kp_observer_interval(obs);
	struct kp_table *tabs[] = { &iv->ops, &iv->procs, &iv->devs };
	size_t t, i, n;

	if (live) {
		kp_report_table(stdout, iv, c, ev, drops, env.rows);
	} else {
		for (t = 0; t < 3; t++) {
			struct kp_entity *v = kp_table_sorted(tabs[t], &n);

			for (i = 0; v && i < n; i++) {
				if (env.json)
					kp_report_json_line(stdout, kp_report_entity_json(&v[i], c));
				else
					kp_report_plain(stdout, &v[i], c);
			}
			free(v);
		}
		if (env.json)
			kp_report_json_line(stdout, kp_report_summary_json(c, ev, rec, drops,
									   iv->procs.len));
		else
			printf("summary events=%llu records=%llu drops=%llu processes=%zu\n",
			       (unsigned long long)ev, (unsigned long long)rec,
			       (unsigned long long)drops, iv->procs.len);
	}
	if (env.hist)
		print_hists(iv, obs);
}

/* Open the observer and add the watched pids and operators; an exit status. */
static int start(struct kp_observer **out)
{
	struct kp_observer_opts o = {};
	struct kp_observer *obs;
	char why[512];
	int i;

	o.interval_ms = env.interval_ms;
	o.legacy = env.legacy;
	o.filter = env.npids || env.nops;
	o.pin = env.pin;
	o.keep_pinned = env.keep_pinned;
	o.self_stats = env.self_stats;
	if (kp_observer_open(&obs, &o, why, sizeof(why))) {
		fprintf(stderr, "kpilot observe: %s\n", why);
		return KP_EXIT_USAGE;
	}
	*out = obs;
	for (i = 0; i < env.npids; i++) {
		if (kp_observer_watch_pid(obs, env.pids[i])) {
			fprintf(stderr, "kpilot observe: no process %d\n", env.pids[i]);
			return KP_EXIT_USAGE;
		}
	}
	for (i = 0; i < env.nops; i++) {
		if (kp_observer_add_operator(obs, &env.ops[i], why, sizeof(why)) < 0) {
			fprintf(stderr, "kpilot observe: %s\n", why);
			return KP_EXIT_USAGE;
		}
	}
	return KP_EXIT_OK;
}

/* Report every interval until the duration is over or a signal came. */
static int run(struct kp_observer *obs, bool live)
{
	struct kp_prog_stat prev_stats[MAX_PROGS];
	__u64 ev0 = 0, rec0 = 0, drop0 = 0, ev, rec, drops = 0;
	int nprev = 0, ret, done = 0, total;
	double prev_cpu = cpu_seconds();
	struct timespec next;

	total = env.duration_s ? (int)((env.duration_s * 1000ULL + env.interval_ms - 1) / env.interval_ms) : 0;
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!exiting && (!total || done < total)) {
		struct kp_report_ctx c = { .interval_ms = env.interval_ms, .op_name = op_name_cb,
					   .op_arg = obs };

		next.tv_nsec += (long)env.interval_ms * 1000000L;
		while (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		/* EINTR from Ctrl-C ends the wait early; the loop condition ends the run. */
		if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) && exiting)
			break;
		ret = kp_observer_poll(obs);
		if (ret) {
			fprintf(stderr, "kpilot observe: reading the ring buffer: %s\n", strerror(-ret));
			return KP_EXIT_USAGE;
		}
		c.ts_ns = realtime_ns();
		kp_observer_counters(obs, &ev, &rec, &drops);
		report(obs, &c, live, ev - ev0, rec - rec0, drops - drop0);
		if (env.self_stats)
			self_stats(obs, &c, prev_stats, &nprev, &prev_cpu);
		/*
		 * The reader left (`| head`): SIGPIPE is ignored (main.c) and the
		 * line-buffered write already failed, so ask ferror(), not fflush().
		 */
		if (fflush(stdout) == EOF || ferror(stdout)) {
			if (errno == EPIPE)
				break;
			fprintf(stderr, "kpilot observe: writing the report: %s\n", strerror(errno));
			return KP_EXIT_USAGE;
		}
		ev0 = ev;
		rec0 = rec;
		drop0 = drops;
		kp_observer_reset(obs);
		done++;
	}
	if (drops)
		kp_warn("%llu records dropped: the ring buffer was full", (unsigned long long)drops);
	return KP_EXIT_OK;
}

int cmd_observe(int argc, char **argv)
{
	static const struct argp argp = { options, parse_arg, NULL, doc };
	struct kp_observer *obs = NULL;
	struct sigaction sa = {};
	bool live;
	int ret;

	memset(&env, 0, sizeof(env));
	env.interval_ms = 1000;
	env.rows = 20;
	if (argp_parse(&argp, argc, argv, 0, NULL, NULL))
		return KP_EXIT_USAGE;
	/* Before start: a stop while loading still unpins and detaches (systemd sends TERM). */
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	ret = start(&obs);
	if (ret)
		goto out;

	live = isatty(STDOUT_FILENO) && !env.json;
	if (!live || kp_verbosity >= KP_DEBUG)
		kp_info("observing with %s programs, run-queue wait from %s, %u ms interval%s",
			kp_observer_mode(obs), kp_observer_runq_method(obs), env.interval_ms, env.pin ? ", maps pinned under " KP_PIN_DIR : "");
	setvbuf(stdout, NULL, _IOLBF, 0);
	ret = run(obs, live);
out:
	kp_observer_close(obs);
	return ret;
}
