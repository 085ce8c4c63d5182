/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the pipeline policy tests: a wordcount pipeline the test starts
 * itself (not through kpilot), each operator in a cpu cgroup of the test's
 * own (kptpp.<pid>/OP, quota 0.5 core to start: the "originals"), its
 * reports in a file or a FIFO; and a real `kpilot run` managing it.
 * cgroup v1 (the cpu hierarchy, cpu.cfs_quota_us) where it exists, else v2
 * (cpu.max; make vmtest's guests): pp_need_cgroup() says which.
 */
#ifndef KPILOT_TEST_PP_UTIL_H
#define KPILOT_TEST_PP_UTIL_H

#include "daemon_util.h"
#include "../lib/emulation.h"

#define WORDCOUNT "./build/tools/wordcount/wordcount"
#define PP_V1_ROOT "/sys/fs/cgroup/cpu"
#define PP_V2_ROOT "/sys/fs/cgroup"
#define PP_ORIG 50000LL		/* the quota (us per 100 ms) the test gives each operator first */
#define PP_PERIOD 100000LL

static const char *const pp_ops[4] = { "source", "split", "count", "sink" };

/*
 * Under emulation (make vmtest's TCG guest) the hash rounds cost about what
 * they cost natively, but each record's channel wake-ups cost ~0.25-0.5 ms
 * of system time per operator (wordcount run in the 6.12 guest: 0.45 core
 * at 300/s with nearly no hash rounds, 1.1 at 1500/s): the rates the tests
 * name, at a fifth, fit the 1-core budget there as they do here (at full
 * rates the 1500/s step took DS2 7 reconfigurations there, 2026-12-02,
 * its noisy per-record costs at the budget's edge). Deadlines
 * of polls are longer there too; windows of steady intervals are counted in
 * the agent's updates, not seconds.
 */
static inline int pp_rate(int r)
{
	return kp_test_emulated() ? r / 5 : r;
}

static inline int pp_secs(int s)
{
	return kp_test_emulated() ? 3 * s : s;
}

struct wc {
	pid_t launcher, op[4];
	char cg[128];		/* kptpp.<pid>, relative to pp_root */
	char rep[128], ctl[128];
	bool fifo;
};

static struct wc wc;
static struct dm dm;
static int pp_cgv;			/* 1 or 2: pp_need_cgroup() */
static const char *pp_root = PP_V1_ROOT;	/* the cpu hierarchy's root */
static int pp_interval_ms = 1000;	/* the policy's */
static char pp_rates[512];		/* the "rates" object; "": the report file */
static bool pp_cpuset;			/* v2: enable cpuset too (pp_make_cgroups) */

/* Whether cgroup.controllers (a line of names) lists name as a word: cpu is not cpuset. */
static inline bool pp_v2_has(const char *name)
{
	char buf[512] = "", *tok, *save = NULL;
	FILE *f = fopen(PP_V2_ROOT "/cgroup.controllers", "r");

	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
		if (!strcmp(tok, name))
			return true;
	return false;
}

/* v1 where a cpu hierarchy exists (this host), else v2 with the cpu controller. */
static inline void pp_need_cgroup(void)
{
	dm_need_root();
	if (access(WORDCOUNT, X_OK))
		cr_skip_test("no " WORDCOUNT ": run make first");
	if (!access(PP_V1_ROOT "/cpu.cfs_quota_us", F_OK)) {
		pp_cgv = 1;
		pp_root = PP_V1_ROOT;
	} else if (pp_v2_has("cpu")) {
		pp_cgv = 2;
		pp_root = PP_V2_ROOT;
	} else {
		cr_skip_test("no cgroup v1 cpu hierarchy at " PP_V1_ROOT " and no cpu controller "
			     "in " PP_V2_ROOT "/cgroup.controllers");
	}
}

static inline void pp_cg_file(int op, const char *file, char *out, size_t len)
{
	snprintf(out, len, "%s/%s/%s/%s", pp_root, wc.cg, pp_ops[op], file);
}

/*
 * An operator's quota in us per 100 ms, -1 for none: v1's cpu.cfs_quota_us
 * as it is (the period stays 100 ms there), v2's cpu.max "QUOTA PERIOD" or
 * "max PERIOD" scaled to a 100 ms period.
 */
static inline long long pp_quota(int op)
{
	char p[256], buf[64] = "", q[32] = "";
	long long per = 0;
	FILE *f;

	pp_cg_file(op, pp_cgv == 2 ? "cpu.max" : "cpu.cfs_quota_us", p, sizeof(p));
	f = fopen(p, "r");
	cr_assert_not_null(f, "%s: %s", p, strerror(errno));
	cr_assert_not_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	if (pp_cgv != 2)
		return atoll(buf);
	cr_assert_eq(sscanf(buf, "%31s %lld", q, &per), 2, "%s: '%s'", p, buf);
	cr_assert_gt(per, 0, "%s: '%s'", p, buf);
	if (!strcmp(q, "max"))
		return -1;
	return (atoll(q) * PP_PERIOD + per / 2) / per;
}

static inline void pp_write(const char *path, const char *v)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(v, f);
	cr_assert_eq(fclose(f), 0, "%s <- %s: %s", path, v, strerror(errno));
}

/* The start line's pid of each operator, then each into its cgroup. */
static inline void pp_place(const char *start_line)
{
	json_t *j = json_loads(start_line, 0, NULL);
	char p[256], v[32];

	cr_assert_not_null(j, "start line: %s", start_line);
	for (int i = 0; i < 4; i++) {
		json_t *pid = json_object_get(json_object_get(json_object_get(j, "ops"),
							      pp_ops[i]), "pid");

		cr_assert(json_is_integer(pid), "no ops.%s.pid: %s", pp_ops[i], start_line);
		wc.op[i] = (pid_t)json_integer_value(pid);
		snprintf(v, sizeof(v), "%d", (int)wc.op[i]);
		pp_cg_file(i, "cgroup.procs", p, sizeof(p));
		pp_write(p, v);
	}
	json_decref(j);
}

/* The first line of the report file, waiting up to 5 s (15 s emulated). */
static inline void pp_start_line(char *line, size_t len)
{
	for (int i = 0; i < pp_secs(100); i++) {
		FILE *f = fopen(wc.rep, "r");

		line[0] = '\0';
		if (f) {
			if (!fgets(line, (int)len, f))
				line[0] = '\0';
			fclose(f);
		}
		if (strchr(line, '\n'))
			return;
		usleep(50000);
	}
	cr_assert_fail("wordcount wrote no start line to %s", wc.rep);
}

/*
 * kptpp.<pid>/OP, each quota PP_ORIG. v2: cpu (and cpuset when pp_cpuset)
 * enabled for the root's children (left on: the guest's systemd-less root
 * has nothing else to disturb, and a host's v2 root has them on already)
 * and for kptpp.<pid>'s. A v2 cpuset left empty is its parent's CPUs.
 */
static inline void pp_make_cgroups(void)
{
	const char *ctl = pp_cpuset ? "+cpu +cpuset" : "+cpu";
	char p[256];

	if (pp_cgv == 2)
		pp_write(PP_V2_ROOT "/cgroup.subtree_control", ctl);
	snprintf(p, sizeof(p), "%s/%s", pp_root, wc.cg);
	cr_assert_eq(mkdir(p, 0755), 0, "%s: %s", p, strerror(errno));
	if (pp_cgv == 2) {
		snprintf(p, sizeof(p), "%s/%s/cgroup.subtree_control", pp_root, wc.cg);
		pp_write(p, ctl);
	}
	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/%s/%s", pp_root, wc.cg, pp_ops[i]);
		cr_assert_eq(mkdir(p, 0755), 0, "%s: %s", p, strerror(errno));
		pp_cg_file(i, pp_cgv == 2 ? "cpu.max" : "cpu.cfs_quota_us", p, sizeof(p));
		pp_write(p, pp_cgv == 2 ? "50000 100000" : "50000");
	}
}

/*
 * The cgroups, then wordcount at rate (half the default costs: 1500/s need
 * ~0.6 core, room on this shared 2-core machine), its stdout to the report
 * file or FIFO (a FIFO: the test's read end, returned, holds it open until
 * the daemon has its own).
 */
static inline int pp_start_wc(int rate, bool fifo)
{
	char r[32], line[4096] = "";
	int rfd = -1;

	memset(&wc, 0, sizeof(wc));
	snprintf(wc.cg, sizeof(wc.cg), "kptpp.%d", (int)getpid());
	pp_make_cgroups();
	snprintf(wc.rep, sizeof(wc.rep), "%s/reports", dm.dir);
	snprintf(wc.ctl, sizeof(wc.ctl), "%s/wc.ctl", dm.dir);
	wc.fifo = fifo;
	if (fifo) {
		cr_assert_eq(mkfifo(wc.rep, 0600), 0);
		rfd = open(wc.rep, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		cr_assert_geq(rfd, 0);
	}
	snprintf(r, sizeof(r), "%d", pp_rate(rate));
	wc.launcher = fork();
	cr_assert_geq(wc.launcher, 0);
	if (!wc.launcher) {
		int fd = open(wc.rep, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(fd, 1);
		execl(WORDCOUNT, WORDCOUNT, "run", "--rate", r, "--split-cost", "3500",
		      "--count-cost", "5750", "--interval", "500", "--control", wc.ctl,
		      (char *)NULL);
		_exit(127);
	}
	if (fifo) {
		size_t n = 0;

		for (int i = 0; i < pp_secs(100) && !memchr(line, '\n', n); i++) {
			ssize_t k = read(rfd, line + n, sizeof(line) - 1 - n);

			if (k > 0)
				n += (size_t)k;
			line[n] = '\0';
			usleep(50000);
		}
		cr_assert(strchr(line, '\n'), "no start line on the FIFO");
		*strchr(line, '\n') = '\0';
	} else {
		pp_start_line(line, sizeof(line));
	}
	pp_place(line);
	return rfd;
}

static inline void pp_set_rate(int rate)
{
	char v[32];

	snprintf(v, sizeof(v), "rate %d\n", pp_rate(rate));
	pp_write(wc.ctl, v);
}

/* Stop wordcount and remove the cgroups; asserts nothing is left. */
static inline void pp_stop_wc(void)
{
	char p[256];
	int st;

	if (wc.launcher > 0) {
		kill(wc.launcher, SIGTERM);
		for (int i = 0; i < 150 && waitpid(wc.launcher, &st, WNOHANG) != wc.launcher; i++)
			usleep(100000);
		if (!kill(wc.launcher, 0)) {
			kill(-wc.launcher, SIGKILL);
			kill(wc.launcher, SIGKILL);
			waitpid(wc.launcher, &st, 0);
		}
		wc.launcher = 0;
	}
	if (!wc.cg[0])
		return;
	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/%s/%s", pp_root, wc.cg, pp_ops[i]);
		for (int k = 0; k < 100 && rmdir(p) && errno == EBUSY; k++)
			usleep(50000);	/* exiting operators leave within a few ms */
	}
	snprintf(p, sizeof(p), "%s/%s", pp_root, wc.cg);
	rmdir(p);
	wc.cg[0] = '\0';
}

static inline void pp_fini(void)
{
	dm_stop(&dm, SIGKILL);
	pp_stop_wc();
	dm_cleanup(&dm);
}

/*
 * The operators' cgroups as a config names them, each in another of the
 * forms $.operators takes (Documentation/daemon.md): absolute under
 * /sys/fs/cgroup, absolute from the hierarchy's root, under the controller
 * mount (v1) or relative to /sys/fs/cgroup (v2), and bare, which v1
 * resolves by searching the hierarchies. Each must give the policy the knob
 * cgroup:kptpp.<pid>/OP:cpu.max (pp_assert_knobs).
 */
static char pp_cg_base[256];		/* when set, every operator is pp_cg_base/OP */

static inline void pp_cfg_cgroup(int op, char *out, size_t len)
{
	if (pp_cg_base[0]) {
		snprintf(out, len, "%.*s/%s", (int)(len - 16), pp_cg_base, pp_ops[op]);
		return;
	}
	switch (op) {
	case 0:
		snprintf(out, len, "%s/%s/%s", pp_root, wc.cg, pp_ops[op]);
		break;
	case 1:
		snprintf(out, len, "/%s/%s", wc.cg, pp_ops[op]);
		break;
	case 2:
		snprintf(out, len, "%s%s/%s", pp_cgv == 2 ? "" : "cpu/", wc.cg, pp_ops[op]);
		break;
	default:
		snprintf(out, len, "%s/%s", wc.cg, pp_ops[op]);
	}
}

/* A daemon config: the four operators by cgroup, one pipeline policy with extra members. */
static inline void pp_config(const char *agent, const char *extra)
{
	char text[4096], top[1024], rates[640], cg[4][200];

	cr_assert_not_null(getcwd(top, sizeof(top)));
	if (pp_rates[0])
		snprintf(rates, sizeof(rates), "%s", pp_rates);
	else
		snprintf(rates, sizeof(rates), "{\"file\": \"%s\"}", wc.rep);
	for (int i = 0; i < 4; i++)
		pp_cfg_cgroup(i, cg[i], sizeof(cg[i]));
	snprintf(text, sizeof(text),
		 "{\"state_dir\": \"%s/state\", \"interval_ms\": 500, \"operators\": ["
		 "{\"name\": \"source\", \"cgroup\": \"%s\"},"
		 "{\"name\": \"split\", \"cgroup\": \"%s\"},"
		 "{\"name\": \"count\", \"cgroup\": \"%s\"},"
		 "{\"name\": \"sink\", \"cgroup\": \"%s\"}],"
		 "\"policies\": [{\"name\": \"wc\", \"kind\": \"pipeline\", \"agent\": \"%s\","
		 "\"interval_ms\": %d, \"save_every\": 2, \"pipeline\": \"%s/tools/profiles/"
		 "wordcount.pipeline.json\", \"operators\": [\"source\", \"split\", \"count\", "
		 "\"sink\"], \"rates\": %s, \"budget_cores\": 1.0%s%s}]}",
		 dm.dir, cg[0], cg[1], cg[2], cg[3], agent, pp_interval_ms, top,
		 rates, extra[0] ? ", " : "", extra);
	dm_write(dm.cfg, text);
}

/* The policy's kind state in status (caller's). */
static inline json_t *pp_state(void)
{
	json_t *s = dm_status(&dm);
	json_t *st = json_object_get(json_array_get(json_object_get(s, "policies"), 0), "state");

	cr_assert_not_null(st, "no policies[0].state in status");
	json_incref(st);
	json_decref(s);
	return st;
}

static inline double pp_num(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_number(v) ? json_number_value(v) : -1;
}

static inline long long pp_count(const char *key)
{
	json_t *st = pp_state();
	long long n = (long long)pp_num(st, key);

	json_decref(st);
	return n;
}

static inline long long pp_reconf(void)
{
	return pp_count("reconfigurations");
}

/* Until the agent has taken n more intervals than at0 (agent_updates; up to s seconds). */
static inline void pp_wait_updates(long long at0, long long n, int s)
{
	for (int i = 0; i < pp_secs(s) * 10 && pp_count("agent_updates") < at0 + n; i++)
		usleep(100000);
	cr_assert_geq(pp_count("agent_updates"), at0 + n, "the agent took %lld intervals in %d s, "
		      "not %lld (log %s)", pp_count("agent_updates") - at0, pp_secs(s), n, dm.log);
}

/* Every operator's knob in status is cgroup:kptpp.<pid>/OP:cpu.max, whatever its config form. */
static inline void pp_assert_knobs(void)
{
	json_t *st = pp_state(), *ops = json_object_get(st, "operators");
	char want[256];

	cr_assert_eq(json_array_size(ops), 4, "status has %zu operators", json_array_size(ops));
	for (int i = 0; i < 4; i++) {
		const char *k = json_string_value(json_object_get(json_array_get(ops, i), "knob"));

		snprintf(want, sizeof(want), "cgroup:%s/%s:cpu.max", wc.cg, pp_ops[i]);
		cr_assert(k && !strcmp(k, want), "%s: knob %s, want %s", pp_ops[i], k ? k : "none",
			  want);
	}
	json_decref(st);
}

/* The quotas now sum within budget (cores), each a positive finite quota. */
static inline void pp_assert_budget(double budget)
{
	long long sum = 0;

	for (int i = 0; i < 4; i++) {
		long long q = pp_quota(i);

		cr_assert_gt(q, 0, "%s: quota %lld", pp_ops[i], q);
		sum += q;
	}
	cr_assert_leq(sum, (long long)(budget * 100000 + 0.5), "quotas sum to %lld us > %.2f cores",
		      sum, budget);
}

static inline void pp_assert_originals(void)
{
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pp_quota(i), PP_ORIG, "%s: quota %lld us, the original was %lld",
			     pp_ops[i], pp_quota(i), PP_ORIG);
}

/* Whether the daemon's log holds text (after offset bytes). */
static inline bool pp_log_has(const char *text, long offset)
{
	FILE *f = fopen(dm.log, "r");
	char line[2048];
	bool hit = false;

	if (!f)
		return false;
	fseek(f, offset, SEEK_SET);
	while (!hit && fgets(line, sizeof(line), f))
		hit = strstr(line, text) != NULL;
	fclose(f);
	return hit;
}

static inline long pp_log_size(void)
{
	struct stat st;

	return stat(dm.log, &st) ? 0 : (long)st.st_size;
}

/*
 * Wait (up to s seconds, pp_secs) until the last interval met the target
 * (attainment >= 0.95 at target, a rate as the tests name it: pp_rate), n
 * times in a row; whether it did.
 */
static inline bool pp_wait_met(double target, int n, int s)
{
	int ok = 0;

	target = pp_rate((int)target);
	for (int i = 0; i < pp_secs(s) * 2; i++) {
		json_t *st = pp_state();
		double att = pp_num(st, "attainment"), t = pp_num(st, "target");

		json_decref(st);
		ok = t == target && att >= 0.95 ? ok + 1 : 0;
		if (ok >= n)
			return true;
		pp_assert_budget(1.0);
		usleep(500000);
	}
	return false;
}

#endif
