// SPDX-License-Identifier: GPL-2.0
/*
 * `kpilot run` observe-only, as a real process with real BPF programs:
 * /metrics in Prometheus text that promtool accepts and a real Prometheus
 * scrapes, operator CPU against the process's own clock, the control socket's
 * refusals (non-root, oversized, not JSON) leaving the daemon as it was,
 * SIGHUP with a broken config keeping the running one, SIGTERM/SIGINT exit 0.
 */
#include <dirent.h>
#include <grp.h>
#include "daemon_util.h"

static struct dm d;

static void fini(void)
{
	dm_cleanup(&d);
}

static bool have(const char *cmd)
{
	char sh[128];

	snprintf(sh, sizeof(sh), "command -v %s >/dev/null 2>&1", cmd);
	return system(sh) == 0;
}

/* Every _bucket of a histogram series is >= the one before and +Inf equals _count. */
static void check_hist(const char *text, const char *name, const char *labels)
{
	char series[256], *p, *q;
	double prev = 0, v, inf = -1;

	snprintf(series, sizeof(series), "%s_bucket{%s%sle=\"", name, labels, *labels ? "," : "");
	for (p = strstr(text, series); p; p = strstr(p + 1, series)) {
		q = strchr(p, '}');
		cr_assert_not_null(q);
		v = strtod(q + 2, NULL);
		cr_assert_geq(v, prev, "%s: buckets must be cumulative", name);
		prev = v;
		if (!strncmp(p + strlen(series), "+Inf", 4))
			inf = v;
	}
	snprintf(series, sizeof(series), "%s_count%s%s%s", name, *labels ? "{" : "", labels,
		 *labels ? "}" : "");
	cr_assert_geq(inf, 0, "%s: no +Inf bucket", name);
	cr_assert_eq(prom_value(text, series), inf, "%s: _count must equal the +Inf bucket", name);
}

static int count_lines(const char *text, const char *prefix)
{
	int n = 0;
	const char *p;

	for (p = text; p; p = strchr(p, '\n')) {
		if (*p == '\n')
			p++;
		if (!strncmp(p, prefix, strlen(prefix)))
			n++;
	}
	return n;
}

static void promtool_clean(const char *text)
{
	promtool_check(&d, text);
}

/* The contract's config, nothing else in it: observe-only, defaults everywhere. */
Test(daemon, observe_only_serves_metrics, .fini = fini, .timeout = 120)
{
	char *m = NULL, *s = NULL, cmd[128], line[256];
	int nproc;
	json_t *st;
	FILE *p;

	dm_need_root();
	dm_init(&d, "{\"http\": {\"listen\": \"127.0.0.1:0\"}}\n");
	dm_start(&d);
	cr_assert_gt(d.port, 0, "status names the bound port");
	dm_wait_windows(&d, 2);
	cr_assert_eq(http_get(d.port, "/metrics", &m), 200);
	cr_assert_gt(prom_value(m, "kpilot_observer_windows_total"), 1, "%s", m);
	cr_assert_gt(prom_value(m, "kpilot_observer_events_total"), 0);
	cr_assert_geq(prom_value(m, "kpilot_observer_ringbuf_drops_total"), 0);
	cr_assert_gt(prom_value(m, "kpilot_observed_cpu_seconds_total"), 0);
	cr_assert_eq(prom_value(m, "kpilot_window_seconds"), 1.0, "the default window is 1 s");
	check_hist(m, "kpilot_observed_runqueue_latency_seconds", "");
	check_hist(m, "kpilot_observed_block_io_latency_seconds", "");
	check_hist(m, "kpilot_observed_tcp_connect_latency_seconds", "");
	nproc = count_lines(m, "kpilot_process_cpu_ratio{");
	cr_assert(nproc >= 1 && nproc <= 10, "top_processes defaults to 10: %d series", nproc);
	cr_assert_eq(count_lines(m, "kpilot_operator_cpu_seconds_total{"), 0, "no operators");
	promtool_clean(m);

	cr_assert_eq(http_get(d.port, "/stats", &s), 200);
	st = json_loads(s, 0, NULL);
	cr_assert_not_null(st, "/stats is JSON: %s", s);
	cr_assert_gt(json_integer_value(json_object_get(st, "windows")), 1);
	cr_assert_eq(json_array_size(json_object_get(st, "policies")), 0);
	json_decref(st);

	/* Daemon.md's command, as documented (with the port this run got). */
	if (have("curl")) {
		snprintf(cmd, sizeof(cmd), "curl -s http://127.0.0.1:%u/metrics", d.port);
		p = popen(cmd, "r");
		cr_assert_not_null(p);
		nproc = 0;
		while (fgets(line, sizeof(line), p))
			nproc += !strncmp(line, "kpilot_observer_windows_total ", 30);
		cr_assert_eq(pclose(p), 0);
		cr_assert_eq(nproc, 1, "curl got /metrics");
	}
	free(m);
	free(s);
	cr_assert_eq(dm_stop(&d, SIGTERM), 0);
}

Test(daemon, http_refusals_leave_it_serving, .fini = fini, .timeout = 120)
{
	char *body = NULL, *big;
	long long w;
	int code;

	dm_need_root();
	dm_init(&d, "{\"http\": {\"listen\": \"127.0.0.1:0\"}, \"interval_ms\": 200}\n");
	dm_start(&d);
	cr_assert_eq(http_get(d.port, "/nope", NULL), 404);
	cr_assert_eq(http_get(d.port, "/metrics/", NULL), 404);
	code = http_raw(d.port, "POST /metrics HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}", 46, &body);
	cr_assert_eq(code, 405, "POST: %d", code);
	free(body);
	code = http_raw(d.port, "DELETE /stats HTTP/1.0\r\n\r\n", 26, NULL);
	cr_assert_eq(code, 405);

	/*
	 * A body beyond KP_HTTP_MAX_BODY: 413. A body much larger is cut off
	 * as well, but the client may see a reset before the 413 (its data
	 * was still in flight). Then headers beyond the connection's memory.
	 */
	big = malloc(200000);
	cr_assert_not_null(big);
	code = sprintf(big, "GET /metrics HTTP/1.0\r\nContent-Length: 10000\r\n\r\n");
	memset(big + code, 'x', 10000);
	code = http_raw(d.port, big, (size_t)code + 10000, NULL);
	cr_assert_eq(code, 413, "a 10 kB body: %d", code);
	code = sprintf(big, "GET /metrics HTTP/1.0\r\nContent-Length: 100000\r\n\r\n");
	memset(big + code, 'x', 100000);
	code = http_raw(d.port, big, (size_t)code + 100000, NULL);
	cr_assert(code == 413 || code == -1, "a 100 kB body: %d", code);
	code = sprintf(big, "GET /metrics HTTP/1.0\r\nX-Big: ");
	memset(big + code, 'y', 100000);
	strcpy(big + code + 100000, "\r\n\r\n");
	code = http_raw(d.port, big, strlen(big), NULL);
	cr_assert(code == -1 || (code >= 400 && code < 500), "100 kB of headers: %d", code);
	free(big);

	w = dm_windows(&d);
	dm_wait_windows(&d, 2);
	cr_assert_gt(dm_windows(&d), w);
	cr_assert_eq(http_get(d.port, "/metrics", &body), 200, "still serving");
	cr_assert_gt(prom_value(body, "kpilot_observer_windows_total"), 0);
	free(body);
	cr_assert_eq(dm_stop(&d, SIGTERM), 0);
}

/* A child that waits for the go, burns ~0.6 s of CPU, reports its CPU clock and exits. */
static pid_t spinner(int *go, int *report)
{
	int a[2], b[2];
	pid_t pid;

	cr_assert_eq(pipe(a), 0);
	cr_assert_eq(pipe(b), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct timespec t;
		char c;
		long long ns = 0;
		volatile unsigned long x = 0;

		close(a[1]);
		close(b[0]);
		if (read(a[0], &c, 1) != 1)
			_exit(1);
		while (ns < 600000000LL) {
			for (int i = 0; i < 100000; i++)
				x += (unsigned long)i;
			clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
			ns = t.tv_sec * 1000000000LL + t.tv_nsec;
		}
		if (x == 1 || write(b[1], &ns, sizeof(ns)) != sizeof(ns))	/* x: read, so kept */
			_exit(1);
		_exit(0);
	}
	close(a[0]);
	close(b[1]);
	*go = a[1];
	*report = b[0];
	return pid;
}

static char cgdir[128];

static void cg_fini(void)
{
	fini();
	if (cgdir[0] && rmdir(cgdir))
		fprintf(stderr, "rmdir %s: %s\n", cgdir, strerror(errno));
	cgdir[0] = '\0';
}

/* The project's own cgroup for the spinner: v1 cpu hierarchy or v2 root. A config entry. */
static void cgroup_operator(pid_t pid, char *entry, size_t len)
{
	char f[160];
	int fd;

	snprintf(cgdir, sizeof(cgdir), "/sys/fs/cgroup/cpu/kpilot-dmtest-%d", getpid());
	if (mkdir(cgdir, 0755)) {
		snprintf(cgdir, sizeof(cgdir), "/sys/fs/cgroup/kpilot-dmtest-%d", getpid());
		if (mkdir(cgdir, 0755)) {
			cgdir[0] = '\0';
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			cr_skip_test("cannot create a test cgroup: %s", strerror(errno));
		}
	}
	snprintf(f, sizeof(f), "%s/cgroup.procs", cgdir);
	fd = open(f, O_WRONLY);
	cr_assert_geq(fd, 0, "%s: %s", f, strerror(errno));
	dprintf(fd, "%d\n", pid);
	close(fd);
	snprintf(entry, len, "{\"name\": \"spin\", \"cgroup\": \"kpilot-dmtest-%d\"}", getpid());
}

/* The spinner as operator "spin" (by pid or by cgroup): its CPU on /metrics vs its own clock. */
static void operator_cpu(bool by_cgroup)
{
	char cfg[512], op[160], *m = NULL;
	int go, rep, st;
	long long ns = 0;
	double got;
	pid_t pid;

	dm_need_root();
	pid = spinner(&go, &rep);
	if (by_cgroup)
		cgroup_operator(pid, op, sizeof(op));
	else
		snprintf(op, sizeof(op), "{\"name\": \"spin\", \"pids\": [%d]}", pid);
	snprintf(cfg, sizeof(cfg), "{\"http\": {\"listen\": \"127.0.0.1:0\"}, \"interval_ms\": 200,"
		 " \"operators\": [%s]}\n", op);
	dm_init(&d, cfg);
	dm_start(&d);
	cr_assert_eq(write(go, "g", 1), 1);
	cr_assert_eq(read(rep, &ns, sizeof(ns)), (ssize_t)sizeof(ns));
	waitpid(pid, &st, 0);
	close(go);
	close(rep);
	dm_wait_windows(&d, 3);
	cr_assert_eq(http_get(d.port, "/metrics", &m), 200);
	got = prom_value(m, "kpilot_operator_cpu_seconds_total{operator=\"spin\"}");
	/* the child's clock ends a little before its exit; the observer's CPU counter is exact */
	cr_assert(got > ns / 1e9 * 0.97 && got < ns / 1e9 * 1.05 + 0.02,
		  "operator spin: %g s on /metrics, %g s by its own clock", got, ns / 1e9);
	check_hist(m, "kpilot_operator_runqueue_latency_seconds", "operator=\"spin\"");
	cr_assert_gt(prom_value(m, "kpilot_operator_context_switches_total{operator=\"spin\","
				   "kind=\"involuntary\"}") +
		     prom_value(m, "kpilot_operator_context_switches_total{operator=\"spin\","
				   "kind=\"voluntary\"}"), 0);
	promtool_clean(m);
	free(m);
	/* Daemon.md's pipeline, as documented (this run's port and operator). */
	if (have("curl")) {
		char cmd[160], line[256];
		int n = 0;
		FILE *p;

		snprintf(cmd, sizeof(cmd), "curl -s http://127.0.0.1:%u/metrics | "
			 "grep 'operator=\"spin\"'", d.port);
		p = popen(cmd, "r");
		cr_assert_not_null(p);
		while (fgets(line, sizeof(line), p))
			n += !strncmp(line, "kpilot_operator_", 16);
		cr_assert_eq(pclose(p), 0);
		cr_assert_gt(n, 10, "curl | grep: %d operator lines", n);
	}
	cr_assert_eq(dm_stop(&d, SIGINT), 0, "SIGINT: exit 0");
}

Test(daemon, operator_cpu_matches_the_process_clock, .fini = fini, .timeout = 120)
{
	operator_cpu(false);
}

Test(daemon, cgroup_operator_cpu_matches_the_process_clock, .fini = cg_fini, .timeout = 120)
{
	operator_cpu(true);
}

static unsigned int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t n = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	unsigned int port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	getsockname(fd, (struct sockaddr *)&sa, &n);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* Prometheus' /api/v1/query: the first result's value, or -1 when there is none. */
static double prom_query(unsigned int port, const char *q)
{
	char path[256], *body = NULL;
	json_t *j, *res;
	double v = -1;

	snprintf(path, sizeof(path), "/api/v1/query?query=%s", q);
	if (http_get(port, path, &body) == 200) {
		j = json_loads(body, 0, NULL);
		res = json_array_get(json_object_get(json_object_get(j, "data"), "result"), 0);
		if (res)
			v = strtod(json_string_value(json_array_get(json_object_get(res, "value"), 1)),
				   NULL);
		json_decref(j);
	}
	free(body);
	return v;
}

static pid_t prom_pid;

static void prom_fini(void)
{
	if (prom_pid > 0) {
		kill(prom_pid, SIGTERM);
		waitpid(prom_pid, NULL, 0);
	}
	fini();
}

/* Debian's prometheus, a minimal config, scraping the daemon every second. */
Test(daemon, prometheus_scrapes_it, .fini = prom_fini, .timeout = 180)
{
	char yml[128], conf[512], data[128], flag[3][160], log[128];
	unsigned int pport;
	double up = -1, w = -1;
	int i, fd;

	dm_need_root();
	if (!have("prometheus"))
		cr_skip_test("no prometheus server (Debian: prometheus; tools/deps.sh --extras)");
	dm_init(&d, "{\"http\": {\"listen\": \"127.0.0.1:0\"}, \"interval_ms\": 200}\n");
	dm_start(&d);
	snprintf(yml, sizeof(yml), "%s/prometheus.yml", d.dir);
	snprintf(conf, sizeof(conf), "global:\n  scrape_interval: 1s\nscrape_configs:\n"
		 "  - job_name: kpilot\n    static_configs:\n      - targets: ['127.0.0.1:%u']\n",
		 d.port);
	dm_write(yml, conf);
	snprintf(data, sizeof(data), "%s/tsdb", d.dir);
	snprintf(log, sizeof(log), "%s/prometheus.log", d.dir);
	pport = free_port();
	snprintf(flag[0], sizeof(flag[0]), "--config.file=%s", yml);
	snprintf(flag[1], sizeof(flag[1]), "--storage.tsdb.path=%s", data);
	snprintf(flag[2], sizeof(flag[2]), "--web.listen-address=127.0.0.1:%u", pport);
	prom_pid = fork();
	cr_assert_geq(prom_pid, 0);
	if (prom_pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		execlp("prometheus", "prometheus", flag[0], flag[1], flag[2], (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 240 && (up != 1 || w <= 0); i++) {
		usleep(500000);
		cr_assert_eq(waitpid(prom_pid, NULL, WNOHANG), 0, "prometheus exited: %s", log);
		up = prom_query(pport, "up%7Bjob%3D%22kpilot%22%7D");
		w = prom_query(pport, "kpilot_observer_windows_total");
	}
	cr_assert_eq(up, 1, "up{job=\"kpilot\"} is %g after %d s", up, i / 2);
	cr_assert_gt(w, 0, "kpilot_observer_windows_total through Prometheus: %g", w);
	cr_assert_gt(prom_query(pport, "kpilot_observed_runqueue_latency_seconds_count"), 0);
	cr_assert_eq(dm_stop(&d, SIGTERM), 0);
}

static long bpf_stats_enabled(void)
{
	FILE *f = fopen("/proc/sys/kernel/bpf_stats_enabled", "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/*
 * The kernel's own count of runs of the observer's sched_switch program
 * (bpftool shows run_cnt only while statistics were on); -1: no bpftool or
 * no such program.
 */
static long long switch_runs(void)
{
	char *text;
	long long runs = -1;
	json_t *all, *p;
	size_t i;

	if (run_sh(&d, "bpftool -j prog show", &text)) {
		free(text);
		return -1;
	}
	all = json_loads(text, 0, NULL);
	free(text);
	json_array_foreach(all, i, p) {
		const char *name = json_string_value(json_object_get(p, "name"));

		if (name && strstr(name, "sched_sw"))
			runs = (runs < 0 ? 0 : runs) + json_integer_value(json_object_get(p, "run_cnt"));
	}
	json_decref(all);
	return runs;
}

/* The daemon's BPF_ENABLE_STATS handles: its own hold, whoever else holds one. */
static int stats_fds(pid_t pid)
{
	char dir[64], p[320], l[64];
	struct dirent *e;
	int n = 0;
	DIR *dp;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	dp = opendir(dir);
	cr_assert_not_null(dp, "%s: %s", dir, strerror(errno));
	while ((e = readdir(dp))) {
		ssize_t k;

		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		k = readlink(p, l, sizeof(l) - 1);
		if (k > 0 && (l[k] = '\0', !strcmp(l, "anon_inode:bpf-stats")))
			n++;
	}
	closedir(dp);
	return n;
}

/* Whether a process other than pid holds the statistics on through a handle. */
static bool others_hold_stats(pid_t pid)
{
	DIR *dp = opendir("/proc");
	struct dirent *e;
	bool held = false;

	cr_assert_not_null(dp);
	while (!held && (e = readdir(dp))) {
		char dir[64];
		pid_t q = (pid_t)atoi(e->d_name);

		snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)q);
		if (q > 0 && q != pid && !access(dir, R_OK))
			held = stats_fds(q) > 0;
	}
	closedir(dp);
	return held;
}

/*
 * bpf_stats (default on) keeps the kernel's BPF run statistics on while the
 * daemon runs, for the per-program series; false leaves the host's switch
 * alone and serves no such series. The kernel's run counts (bpftool) are the
 * ground truth; where something else holds the statistics on (the sysctl in
 * the VM guests, another tool's handle), the daemon's own handle is: it holds
 * one by default and none with false.
 */
Test(daemon, bpf_stats_on_by_default_and_false_leaves_the_kernel_alone, .fini = fini,
     .timeout = 120)
{
	long before = bpf_stats_enabled();
	char *m = NULL;

	dm_need_root();
	cr_assert_geq(before, 0, "no /proc/sys/kernel/bpf_stats_enabled");
	dm_init(&d, "{\"http\": {\"listen\": \"127.0.0.1:0\"}, \"interval_ms\": 200}\n");
	dm_start(&d);
	dm_wait_windows(&d, 3);
	cr_assert_gt(switch_runs(), 0, "the default turns the kernel's statistics on");
	cr_assert_eq(stats_fds(d.pid), 1, "the default holds one BPF_ENABLE_STATS handle");
	cr_assert_eq(http_get(d.port, "/metrics", &m), 200);
	cr_assert_gt(count_lines(m, "kpilot_observer_program_runs_total{program="), 0, "%s", m);
	cr_assert_gt(count_lines(m, "kpilot_observer_program_run_seconds_total{program="), 0);
	free(m);
	cr_assert_eq(dm_stop(&d, SIGTERM), 0);
	fini();

	dm_init(&d, "{\"http\": {\"listen\": \"127.0.0.1:0\"}, \"interval_ms\": 200, "
		 "\"bpf_stats\": false}\n");
	dm_start(&d);
	dm_wait_windows(&d, 3);
	cr_assert_eq(stats_fds(d.pid), 0, "bpf_stats false holds the statistics on");
	if (!before && !others_hold_stats(d.pid))
		cr_assert_eq(switch_runs(), 0, "bpf_stats false turned the statistics on");
	else
		cr_log_info("the statistics are on here (sysctl %ld or another holder): the daemon's "
			    "own handle checked", before);
	cr_assert_eq(http_get(d.port, "/metrics", &m), 200);
	cr_assert_eq(count_lines(m, "kpilot_observer_program_run"), 0, "%s", m);
	cr_assert_gt(prom_value(m, "kpilot_observer_windows_total"), 1, "the rest is served");
	promtool_clean(m);
	free(m);
	cr_assert_eq(dm_stop(&d, SIGTERM), 0);
}
