// SPDX-License-Identifier: GPL-2.0
/*
 * A sysctl policy whose objective comes from a rate source: the tcp-churn
 * netns of sysctl_rig.h, and a reporter of the test's own that reads the
 * netns's accepted connections (Tcp PassiveOpens in /proc/<server>/net/snmp,
 * the kernel's count) and offers them as JSON lines in a file or as a
 * Prometheus counter. The daemon must measure that rate, learn from it,
 * skip intervals without reports, and restore the knobs at SIGTERM.
 */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <criterion/criterion.h>
#include "sysctl_rig.h"

#define METRIC "accepted_per_s"

static struct {
	pthread_t th;
	volatile int stop, pause;
	char path[96];		/* the report file */
	int fd;			/* the Prometheus stand-in's listener, or -1 */
	double lo, hi;		/* the smallest and largest rate reported */
	int lines;
} rep = { .fd = -1 };

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* The netns's Tcp PassiveOpens, read through its server's /proc entry. */
static double passive_opens(void)
{
	char p[64], line[1024];
	int hdr = 0;
	double v = NAN;
	FILE *f;

	snprintf(p, sizeof(p), "/proc/%d/net/snmp", (int)rig.srv);
	f = fopen(p, "r");
	if (!f)
		return NAN;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Tcp:", 4) && hdr++) {
			/* Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens ... */
			char *t = strtok(line + 4, " ");

			for (int i = 0; t && i < 5; i++)
				t = strtok(NULL, " ");
			v = t ? atof(t) : NAN;
		}
	fclose(f);
	return v;
}

/* Every 100 ms, the last 100 ms's accepted connections per second, one JSON line. */
static void *report_file(void *arg)
{
	double t0 = now_s(), n0 = passive_opens();
	int fd = open(rep.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	(void)arg;
	if (fd < 0)
		return NULL;
	while (!rep.stop) {
		double t, n, r;
		char line[96];
		int k;

		usleep(100000);
		t = now_s();
		n = passive_opens();
		r = (n - n0) / (t - t0);
		t0 = t;
		n0 = n;
		if (rep.pause || !isfinite(r))
			continue;
		k = snprintf(line, sizeof(line), "{\"" METRIC "\": %.1f}\n", r);
		if (write(fd, line, (size_t)k) != k)
			break;
		if (!rep.lines++ || r < rep.lo)
			rep.lo = r;
		if (rep.lines == 1 || r > rep.hi)
			rep.hi = r;
	}
	close(fd);
	return NULL;
}

/*
 * A Prometheus text endpoint on loopback: the same count as a counter. It
 * keeps the range of the rates between scrapes, which is what the daemon's
 * measurement must fall in (one scrape per interval).
 */
static void *report_prom(void *arg)
{
	double t0 = 0, n0 = 0;

	(void)arg;
	for (;;) {
		char req[2048], out[512];
		int c = accept(rep.fd, NULL, NULL), k;
		double t = now_s(), n = passive_opens(), r = t0 > 0 ? (n - n0) / (t - t0) : NAN;

		if (c < 0)
			return NULL;
		if (read(c, req, sizeof(req)) <= 0) {
			close(c);
			continue;
		}
		k = snprintf(req, sizeof(req), "# TYPE kp_test_accepted_total counter\n"
			     "kp_test_accepted_total{ns=\"test\"} %.0f\n", n);
		k = snprintf(out, sizeof(out), "HTTP/1.0 200 OK\r\nContent-Type: text/plain; "
			     "version=0.0.4\r\nContent-Length: %d\r\n\r\n%s", k, req);
		if (write(c, out, (size_t)k) != k)
			cr_log_info("prometheus stand-in: short write");
		close(c);
		if (isfinite(r) && (!rep.lines || r < rep.lo))
			rep.lo = r;
		if (isfinite(r) && (!rep.lines || r > rep.hi))
			rep.hi = r;
		rep.lines += isfinite(r);
		t0 = t;
		n0 = n;
	}
}

static void rate_up(void)
{
	double n0;

	rig_up();
	rep.stop = rep.pause = 0;
	rep.lines = 0;
	snprintf(rep.path, sizeof(rep.path), "/tmp/kpsr.%d.jsonl", (int)getpid());
	n0 = passive_opens();
	cr_assert(isfinite(n0), "no Tcp line in /proc/%d/net/snmp", (int)rig.srv);
	/* the client connecting before the daemon starts: a baseline of 0 would be the start's */
	for (int i = 0; i < 100 && passive_opens() < n0 + 20; i++)
		usleep(100000);
	cr_assert_geq(passive_opens(), n0 + 20, "the tcp-churn client made no connection in 10 s");
}

static void rate_down(void)
{
	rep.stop = 1;
	if (rep.fd >= 0) {
		shutdown(rep.fd, SHUT_RDWR);
		close(rep.fd);
		rep.fd = -1;
	}
	if (rep.th)
		pthread_join(rep.th, NULL);
	rep.th = 0;
	unlink(rep.path);
	rig_down();
}

static void rate_daemon(const char *rates, const char *metric, int min_samples,
			const char *state)
{
	char conf[2048];

	snprintf(conf, sizeof(conf),
		 "{\"state_dir\": \"%s\", \"interval_ms\": 100,\n"
		 " \"policies\": [{\"name\": \"tcp\", \"kind\": \"sysctl\", \"netns\": \"%s\",\n"
		 "   \"interval_ms\": 400, \"agent\": \"random\",\n"
		 "   \"knobs\": [\"net.ipv4.tcp_fin_timeout\", {\"name\": \"net.core.somaxconn\", "
		 "\"min\": 256, \"max\": 8192}, \"net.ipv4.tcp_max_syn_backlog\"],\n"
		 "   \"objective\": {\"rate\": %s, \"metric\": \"%s\", \"min_samples\": %d}}]}\n",
		 state, rig.ns, rates, metric, min_samples);
	dm_init(&rig.d, conf);
	snprintf(rig.state, sizeof(rig.state), "%s", state);
	dm_start(&rig.d);
}

/* Wait until the policy has measured n intervals (up to s seconds). */
static void wait_measured(long long n, int s)
{
	for (int i = 0; i < s * 10; i++) {
		json_t *p = policy_status();
		long long m = pol_int(json_object_get(p, "state"), "measured");

		json_decref(p);
		if (m >= n)
			return;
		usleep(100000);
	}
	cr_assert_fail("fewer than %lld measurements in %d s: %s", n, s, rig.d.log);
}

static json_t *objective(json_t *p)
{
	return json_object_get(json_object_get(p, "state"), "objective");
}

static double state_num(json_t *p, const char *key)
{
	json_t *v = json_object_get(json_object_get(p, "state"), key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

Test(policy_sysctl_rate, file_reports_are_the_objective_gaps_skip_sigterm_restores,
     .init = rate_up, .fini = rate_down, .timeout = 90)
{
	char state[96], rates[160], v[32], fin[32], max[32];
	long long measured, skipped;
	json_t *p, *o;

	read_knob("net.ipv4.tcp_fin_timeout", fin, sizeof(fin));
	read_knob("net.core.somaxconn", max, sizeof(max));
	cr_assert_eq(pthread_create(&rep.th, NULL, report_file, NULL), 0);
	snprintf(state, sizeof(state), "/tmp/kpsr.%d", (int)getpid());
	snprintf(rates, sizeof(rates), "{\"file\": \"%s\"}", rep.path);
	rate_daemon(rates, METRIC, 2, state);
	cr_assert_gt(count_lines(rig.d.log, "maximize " METRIC " of rate source /tmp/kpsr."), 0,
		     "a rate's goal is maximize by default: %s", rig.d.log);
	wait_measured(4, 40);
	wait_changes(3, 20);
	p = policy_status();
	o = objective(p);
	cr_assert_str_eq(json_string_value(json_object_get(o, "metric")), METRIC);
	cr_assert_str_eq(json_string_value(json_object_get(o, "rate")), rep.path);
	cr_assert_gt(json_integer_value(json_object_get(o, "reports")), 4, "%s", rig.d.log);
	/* the objective is the reports' mean: inside what the reporter wrote, never a sum */
	cr_assert(state_num(p, "baseline") >= rep.lo && state_num(p, "baseline") <= rep.hi,
		  "baseline %g outside the reported [%g, %g]", state_num(p, "baseline"), rep.lo,
		  rep.hi);
	cr_assert(state_num(p, "last") >= rep.lo && state_num(p, "last") <= rep.hi,
		  "last %g outside the reported [%g, %g]", state_num(p, "last"), rep.lo, rep.hi);
	cr_assert_gt(state_num(p, "baseline"), 0, "no connection was accepted: %s", rig.d.log);
	cr_assert_gt(count_lines(rig.d.log, "trial (" METRIC " last"), 0, "%s", rig.d.log);
	json_decref(p);

	/* no reports: intervals are skipped and say why, nothing is learnt */
	rep.pause = 1;
	usleep(1500000);
	p = policy_status();
	measured = pol_int(json_object_get(p, "state"), "measured");
	skipped = pol_int(json_object_get(p, "state"), "skipped");
	json_decref(p);
	usleep(1500000);
	p = policy_status();
	cr_assert_eq(pol_int(json_object_get(p, "state"), "measured"), measured,
		     "measured without reports: %s", rig.d.log);
	cr_assert_gt(pol_int(json_object_get(p, "state"), "skipped"), skipped);
	cr_assert(strstr(json_string_value(json_object_get(objective(p), "source_error")),
			 "0 reports from the rate source in the last interval, 2 needed"), "%s",
		  json_dumps(objective(p), 0));
	json_decref(p);
	cr_assert_gt(count_lines(rig.d.log, "interval skipped: 0 reports"), 0, "%s", rig.d.log);
	rep.pause = 0;

	cr_assert_eq(dm_stop(&rig.d, SIGTERM), 0);
	read_knob("net.ipv4.tcp_fin_timeout", v, sizeof(v));
	cr_assert_str_eq(v, fin, "tcp_fin_timeout not restored: %s", rig.d.log);
	read_knob("net.core.somaxconn", v, sizeof(v));
	cr_assert_str_eq(v, max, "somaxconn not restored: %s", rig.d.log);
	snprintf(rates, sizeof(rates), "rm -rf %s", state);
	tu_system(rates);
}

Test(policy_sysctl_rate, prometheus_counter_becomes_the_rate, .init = rate_up,
     .fini = rate_down, .timeout = 90)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	char state[96], rates[160];
	json_t *p, *o;

	rep.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(rep.fd, 0);
	cr_assert_eq(bind(rep.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(rep.fd, 16), 0);
	cr_assert_eq(getsockname(rep.fd, (struct sockaddr *)&sa, &sl), 0);
	cr_assert_eq(pthread_create(&rep.th, NULL, report_prom, NULL), 0);
	snprintf(state, sizeof(state), "/tmp/kpsr.%d", (int)getpid());
	snprintf(rates, sizeof(rates), "{\"prometheus\": \"http://127.0.0.1:%u/metrics\"}",
		 ntohs(sa.sin_port));
	rate_daemon(rates, "kp_test_accepted_total", 1, state);
	wait_measured(4, 40);
	p = policy_status();
	o = objective(p);
	cr_assert(strstr(json_string_value(json_object_get(o, "rate")), "http://127.0.0.1:"));
	cr_assert_gt(rep.lines, 3, "the daemon scraped %d times", rep.lines);
	/* a counter's rate between two scrapes, not its value (the daemon's clock is not ours) */
	cr_assert(state_num(p, "last") >= 0.5 * rep.lo && state_num(p, "last") <= 1.5 * rep.hi,
		  "last %g outside the scrapes' rates [%g, %g]", state_num(p, "last"), rep.lo,
		  rep.hi);
	cr_assert_gt(state_num(p, "baseline"), 0, "%s", rig.d.log);
	json_decref(p);
	cr_assert_eq(dm_stop(&rig.d, SIGTERM), 0);
	snprintf(rates, sizeof(rates), "rm -rf %s", state);
	tu_system(rates);
}
