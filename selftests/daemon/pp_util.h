/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the pipeline policy tests: a wordcount pipeline the test starts
 * itself (not through kpilot), each operator in a v1 cpu cgroup of the
 * test's own (kptpp.<pid>/OP, quota 0.5 core to start: the "originals"),
 * its reports in a file or a FIFO; and a real `kpilot run` managing it.
 */
#ifndef KPILOT_TEST_PP_UTIL_H
#define KPILOT_TEST_PP_UTIL_H

#include "daemon_util.h"

#define WORDCOUNT "./build/tools/wordcount/wordcount"
#define PP_CG_ROOT "/sys/fs/cgroup/cpu"
#define PP_ORIG 50000LL		/* cpu.cfs_quota_us the test gives each operator first */

static const char *const pp_ops[4] = { "source", "split", "count", "sink" };

struct wc {
	pid_t launcher, op[4];
	char cg[128];		/* kptpp.<pid>, relative to PP_CG_ROOT */
	char rep[128], ctl[128];
	bool fifo;
};

static struct wc wc;
static struct dm dm;
static int pp_interval_ms = 1000;	/* the policy's */
static char pp_rates[512];		/* the "rates" object; "": the report file */

static inline void pp_need_v1(void)
{
	dm_need_root();
	if (access(WORDCOUNT, X_OK))
		cr_skip_test("no " WORDCOUNT ": run make first");
	if (access(PP_CG_ROOT "/cpu.cfs_quota_us", F_OK))
		cr_skip_test("no cgroup v1 cpu hierarchy at " PP_CG_ROOT " (the v2 path is not "
			     "tested here)");
}

static inline void pp_cg_file(int op, const char *file, char *out, size_t len)
{
	snprintf(out, len, "%s/%s/%s/%s", PP_CG_ROOT, wc.cg, pp_ops[op], file);
}

static inline long long pp_quota(int op)
{
	char p[256], buf[64] = "";
	FILE *f;

	pp_cg_file(op, "cpu.cfs_quota_us", p, sizeof(p));
	f = fopen(p, "r");
	cr_assert_not_null(f, "%s: %s", p, strerror(errno));
	cr_assert_not_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	return atoll(buf);
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

/* The first line of the report file, waiting up to 5 s. */
static inline void pp_start_line(char *line, size_t len)
{
	for (int i = 0; i < 100; i++) {
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
 * The cgroups, then wordcount at rate (half the default costs: 1500/s need
 * ~0.6 core, room on this shared 2-core machine), its stdout to the report
 * file or FIFO (a FIFO: the test's read end, returned, holds it open until
 * the daemon has its own).
 */
static inline int pp_start_wc(int rate, bool fifo)
{
	char p[256], r[32], line[4096] = "";
	int rfd = -1;

	memset(&wc, 0, sizeof(wc));
	snprintf(wc.cg, sizeof(wc.cg), "kptpp.%d", (int)getpid());
	snprintf(p, sizeof(p), "%s/%s", PP_CG_ROOT, wc.cg);
	cr_assert_eq(mkdir(p, 0755), 0, "%s: %s", p, strerror(errno));
	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/%s/%s", PP_CG_ROOT, wc.cg, pp_ops[i]);
		cr_assert_eq(mkdir(p, 0755), 0, "%s: %s", p, strerror(errno));
		pp_cg_file(i, "cpu.cfs_quota_us", p, sizeof(p));
		pp_write(p, "50000");
	}
	snprintf(wc.rep, sizeof(wc.rep), "%s/reports", dm.dir);
	snprintf(wc.ctl, sizeof(wc.ctl), "%s/wc.ctl", dm.dir);
	wc.fifo = fifo;
	if (fifo) {
		cr_assert_eq(mkfifo(wc.rep, 0600), 0);
		rfd = open(wc.rep, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		cr_assert_geq(rfd, 0);
	}
	snprintf(r, sizeof(r), "%d", rate);
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

		for (int i = 0; i < 100 && !memchr(line, '\n', n); i++) {
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

	snprintf(v, sizeof(v), "rate %d\n", rate);
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
		snprintf(p, sizeof(p), "%s/%s/%s", PP_CG_ROOT, wc.cg, pp_ops[i]);
		for (int k = 0; k < 100 && rmdir(p) && errno == EBUSY; k++)
			usleep(50000);	/* exiting operators leave within a few ms */
	}
	snprintf(p, sizeof(p), "%s/%s", PP_CG_ROOT, wc.cg);
	rmdir(p);
	wc.cg[0] = '\0';
}

static inline void pp_fini(void)
{
	dm_stop(&dm, SIGKILL);
	pp_stop_wc();
	dm_cleanup(&dm);
}

/* A daemon config: the four operators by cgroup, one pipeline policy with extra members. */
static inline void pp_config(const char *agent, const char *extra)
{
	char text[4096], top[1024], rates[640];

	cr_assert_not_null(getcwd(top, sizeof(top)));
	if (pp_rates[0])
		snprintf(rates, sizeof(rates), "%s", pp_rates);
	else
		snprintf(rates, sizeof(rates), "{\"file\": \"%s\"}", wc.rep);
	snprintf(text, sizeof(text),
		 "{\"state_dir\": \"%s/state\", \"interval_ms\": 500, \"operators\": ["
		 "{\"name\": \"source\", \"cgroup\": \"cpu/%s/source\"},"
		 "{\"name\": \"split\", \"cgroup\": \"cpu/%s/split\"},"
		 "{\"name\": \"count\", \"cgroup\": \"cpu/%s/count\"},"
		 "{\"name\": \"sink\", \"cgroup\": \"cpu/%s/sink\"}],"
		 "\"policies\": [{\"name\": \"wc\", \"kind\": \"pipeline\", \"agent\": \"%s\","
		 "\"interval_ms\": %d, \"save_every\": 2, \"pipeline\": \"%s/tools/profiles/"
		 "wordcount.pipeline.json\", \"operators\": [\"source\", \"split\", \"count\", "
		 "\"sink\"], \"rates\": %s, \"budget_cores\": 1.0%s%s}]}",
		 dm.dir, wc.cg, wc.cg, wc.cg, wc.cg, agent, pp_interval_ms, top,
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

static inline long long pp_reconf(void)
{
	json_t *st = pp_state();
	long long n = (long long)pp_num(st, "reconfigurations");

	json_decref(st);
	return n;
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
		cr_assert_eq(pp_quota(i), PP_ORIG, "%s: cfs_quota_us %lld, the original was %lld",
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
 * Wait (up to s seconds) until the last interval met the target (attainment
 * >= 0.95 at target), n times in a row; whether it did.
 */
static inline bool pp_wait_met(double target, int n, int s)
{
	int ok = 0;

	for (int i = 0; i < s * 2; i++) {
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
