// SPDX-License-Identifier: GPL-2.0
/*
 * kpilot tune for real: reward patterns on real benchmark output, short real
 * sessions (tcp-churn in private namespaces; a host-mode session run inside
 * a private network namespace so the host never changes), the guardrails,
 * Ctrl-C, and a config that is not safe to run as root.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "env/benchmark/bench_run.h"
#include "../lib/testutil.h"

#define KPILOT "./kpilot"
#define OUTPUTS "selftests/data/bench-outputs/"

static char tmp[64];

static void need_root(void)
{
	if (access(KPILOT, X_OK))
		cr_skip_test("no ./kpilot: run from the top of the tree after make");
	if (geteuid() != 0)
		cr_skip_test("needs root: namespaces, knobs and BPF");
}

static void mktmp(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/kpilot-tune-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
}

static void rmtmp(void)
{
	char cmd[128];

	if (!tmp[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	if (system(cmd))
		cr_log_info("cannot remove %s", tmp);
	tmp[0] = '\0';
}

/* ---- the reward metric on real output of each tool ---- */

static double metric_of(const char *file, const char *pattern)
{
	char *text = tu_slurp(file);
	double v = -1;

	cr_assert_not_null(text, "%s missing", file);
	cr_assert_eq(kp_metric_parse(pattern, text, &v), 0, "%s: no match", file);
	free(text);
	return v;
}

Test(tune, metric_patterns_on_real_output)
{
	if (access(OUTPUTS "pgbench.txt", R_OK))
		cr_skip_test("run from the top of the tree");
	/* The patterns of the tools/profiles files, on output captured from each tool. */
	cr_assert_float_eq(metric_of(OUTPUTS "pgbench.txt", "tps = ([0-9.]+)"), 36384.395877, 1e-6);
	cr_assert_float_eq(metric_of(OUTPUTS "sysbench-cpu.txt", "events per second: +([0-9.]+)"),
			   1734.34, 1e-6);
	cr_assert_float_eq(metric_of(OUTPUTS "sysbench-fileio.txt", "writes/s: +([0-9.]+)"),
			   11569.81, 1e-6);
	cr_assert_float_eq(metric_of(OUTPUTS "fio.json.txt",
				     "\"write\" : \\{[^}]*\"iops\" : ([0-9.]+)"), 229005.979073, 1e-6);
	cr_assert_float_eq(metric_of(OUTPUTS "wrk.txt", "Requests/sec: +([0-9.]+)"), 135908.88, 1e-6);
}

Test(tune, metric_parse_rules)
{
	double v = 0;

	cr_assert_eq(kp_metric_parse("tps = ([0-9.]+)", "tps = 1.5\ntps = 2.5\n", &v), 0);
	cr_assert_float_eq(v, 2.5, 1e-12, "the last match counts");
	cr_assert_eq(kp_metric_parse("tps = ([0-9.]+)", "no numbers here", &v), -ENOENT);
	cr_assert_eq(kp_metric_parse("tps = ([0-9.]+)", "tps = 1.2.3", &v), -EINVAL);
	cr_assert_eq(kp_metric_parse("x=([a-z]+)", "x=abc", &v), -EINVAL);
	cr_assert_eq(kp_metric_parse("(", "x", &v), -EINVAL);
}

/* ---- real sessions ---- */

static json_t *results(const char *dir)
{
	char path[256];
	json_error_t e;
	json_t *r;

	snprintf(path, sizeof(path), "%s/results.json", dir);
	r = json_load_file(path, 0, &e);
	cr_assert_not_null(r, "%s: %s", path, e.text);
	return r;
}

static void no_namespaces_left(void)
{
	cr_assert_neq(tu_system("ip netns list | grep -q '^kpilot-'"), 0, "a kpilot namespace was left");
}

static const char *const churn_knobs[] = {
	"net.ipv4.ip_local_port_range", "net.ipv4.tcp_tw_reuse", "net.ipv4.tcp_fin_timeout",
	"net.ipv4.tcp_max_tw_buckets", "net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog",
};

static void read_knobs(char vals[][64])
{
	char path[128], *s;
	size_t i;

	for (i = 0; i < 6; i++) {
		snprintf(path, sizeof(path), "/proc/sys/%s", churn_knobs[i]);
		for (s = path + 10; *s; s++)
			if (*s == '.')
				*s = '/';
		s = tu_slurp(path);
		cr_assert_not_null(s);
		snprintf(vals[i], 64, "%s", s);
		free(s);
	}
}

Test(tune, tcp_churn_session_restores_and_writes_results, .fini = rmtmp)
{
	char before[6][64], after[6][64], cmd[512], path[256];
	json_t *r, *h;
	struct stat st;
	size_t i;

	need_root();
	mktmp();
	read_knobs(before);
	snprintf(cmd, sizeof(cmd), KPILOT " tune --profile tcp-churn --trials 8 --churn-seconds 1"
		 " --confirm 2 --seed 3 --out %s/out --state-dir %s/state -q", tmp, tmp);
	cr_assert_eq(tu_system(cmd), 0);
	read_knobs(after);
	for (i = 0; i < 6; i++)
		cr_assert_str_eq(after[i], before[i], "host %s changed", churn_knobs[i]);
	no_namespaces_left();
	for (i = 0; i < 3; i++) {
		static const char *const files[] = { "results.json", "history.csv", "plot.svg" };

		snprintf(path, sizeof(path), "%s/out/%s", tmp, files[i]);
		cr_assert_eq(stat(path, &st), 0, "%s missing", path);
		cr_assert_gt(st.st_size, 100);
	}
	r = results(strcat(strcpy(path, tmp), "/out"));
	cr_assert_str_eq(json_string_value(json_object_get(r, "workload_name")), "tcp-churn");
	cr_assert_str_eq(json_string_value(json_object_get(r, "algo")), "ppo");
	cr_assert_eq(json_integer_value(json_object_get(r, "seed")), 3);
	cr_assert_eq(json_integer_value(json_object_get(r, "trials")), 8);
	cr_assert_gt(json_real_value(json_object_get(r, "baseline_metric")), 0);
	h = json_object_get(r, "history");
	cr_assert_eq(json_array_size(h), 8);
	cr_assert_not_null(json_object_get(json_array_get(h, 0), "config"));
	cr_assert_not_null(json_object_get(r, "best_config"));
	cr_assert_not_null(json_object_get(r, "improvement_pct"));
	h = json_object_get(r, "confirmation");
	cr_assert(json_is_object(h), "a confirmation");
	cr_assert(json_is_boolean(json_object_get(h, "significant")));
	cr_assert(json_integer_value(json_object_get(h, "runs")) == 2 ||
		  json_object_get(h, "skipped"));
	json_decref(r);
	/* Nothing left to roll back: every change was restored and journaled. */
	snprintf(cmd, sizeof(cmd), KPILOT " rollback --list --state-dir %s/state 2>&1 | "
		 "grep -qi 'nothing'", tmp);
	cr_assert_eq(tu_system(cmd), 0, "rollback --list shows pending changes");
}

/* A benchmark that works once (the baseline), then fails: abort after 3. */
Test(tune, three_failures_in_a_row_abort_and_restore, .fini = rmtmp)
{
	char cfg[256], cmd[512];
	json_t *r;
	FILE *f;

	need_root();
	mktmp();
	snprintf(cfg, sizeof(cfg), "%s/fail.json", tmp);
	f = fopen(cfg, "w");
	fprintf(f, "{\"workload_name\": \"flaky\", \"netns\": true,"
		   " \"benchmark\": {\"command\": [\"n=$(cat %s/n 2>/dev/null || echo 0); echo $((n+1)) > %s/n;"
		   " [ $n -eq 0 ] && echo score=5 || exit 1\"], \"shell\": true, \"timeout_s\": 10},"
		   " \"reward_metric\": {\"name\": \"score\", \"pattern\": \"score=([0-9]+)\"},"
		   " \"action_space\": [{\"knob\": \"net.core.somaxconn\", \"min\": 128, \"max\": 4096}],"
		   " \"training\": {\"trials\": 10, \"algo\": \"random\"}}\n", tmp, tmp);
	fclose(f);
	snprintf(cmd, sizeof(cmd), KPILOT " tune --config %s --out %s/out --state-dir %s/state -q",
		 cfg, tmp, tmp);
	cr_assert_eq(tu_system(cmd), 3, "exit status 3: aborted by the guardrails");
	r = results(strcat(strcpy(cfg, tmp), "/out"));
	cr_assert(json_is_true(json_object_get(r, "aborted")));
	cr_assert_eq(json_integer_value(json_object_get(r, "failures")), 3);
	cr_assert_eq(json_integer_value(json_object_get(r, "trials")), 3);
	cr_assert(json_is_false(json_object_get(json_array_get(json_object_get(r, "history"), 0), "ok")));
	json_decref(r);
	no_namespaces_left();
}

Test(tune, sigint_restores_and_writes_partial_results, .fini = rmtmp)
{
	char out[128], state[128], log[128], before[6][64], after[6][64];
	struct timespec t0, t1;
	int status, fd;
	pid_t pid;
	json_t *r;
	size_t i;

	need_root();
	mktmp();
	read_knobs(before);
	snprintf(out, sizeof(out), "%s/out", tmp);
	snprintf(state, sizeof(state), "%s/state", tmp);
	snprintf(log, sizeof(log), "%s/log", tmp);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(KPILOT, KPILOT, "tune", "--profile", "tcp-churn", "--trials", "30",
		      "--churn-seconds", "1", "--out", out, "--state-dir", state, NULL);
		_exit(127);
	}
	/* Interrupt it mid-run: after its first trial, however slow the machine. */
	for (i = 0; i < 600; i++) {
		char *text = tu_slurp(log);
		bool started = text && strstr(text, "trial 1/30");

		free(text);
		if (started)
			break;
		usleep(100000);
	}
	cr_assert_lt(i, 600, "no trial within 60 s");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(kill(pid, SIGINT), 0);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 130, "status %d", status);
	cr_assert_lt(t1.tv_sec - t0.tv_sec, 5, "stops promptly");
	r = results(out);
	cr_assert(json_is_true(json_object_get(r, "interrupted")));
	cr_assert_lt(json_integer_value(json_object_get(r, "trials")), 30);
	cr_assert_gt(json_integer_value(json_object_get(r, "trials")), 0);
	json_decref(r);
	read_knobs(after);
	for (i = 0; i < 6; i++)
		cr_assert_str_eq(after[i], before[i], "host %s changed", churn_knobs[i]);
	no_namespaces_left();
}

/*
 * Host mode, run inside a private network namespace (unshare) so "the host"
 * is a throwaway one. The benchmark reports somaxconn itself, so the best
 * trial is the largest value proposed; --apply-best keeps it, rollback
 * restores the original.
 */
Test(tune, host_mode_apply_best_then_rollback, .fini = rmtmp)
{
	char cfg[256], cmd[1024];
	json_t *r;
	long best;
	FILE *f;

	need_root();
	if (tu_system("command -v unshare >/dev/null"))
		cr_skip_test("unshare (util-linux) not installed");
	mktmp();
	snprintf(cfg, sizeof(cfg), "%s/host.json", tmp);
	f = fopen(cfg, "w");
	fprintf(f, "{\"workload_name\": \"self\","
		   " \"benchmark\": {\"command\": [\"echo score=$(cat /proc/sys/net/core/somaxconn)\"],"
		   " \"shell\": true, \"timeout_s\": 10},"
		   " \"reward_metric\": {\"name\": \"score\", \"pattern\": \"score=([0-9]+)\"},"
		   " \"action_space\": [{\"knob\": \"net.core.somaxconn\", \"min\": 1024, \"max\": 8192}],"
		   " \"training\": {\"trials\": 5, \"algo\": \"random\", \"seed\": 2}}\n");
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "unshare --net sh -c '"
		 "orig=$(cat /proc/sys/net/core/somaxconn);"
		 KPILOT " tune --config %s --out %s/out --state-dir %s/state --apply-best -q || exit 10;"
		 "kept=$(cat /proc/sys/net/core/somaxconn);"
		 "echo $kept > %s/kept;"
		 "[ \"$kept\" != \"$orig\" ] || exit 11;"
		 KPILOT " rollback --state-dir %s/state >/dev/null 2>&1 || exit 12;"
		 "[ \"$(cat /proc/sys/net/core/somaxconn)\" = \"$orig\" ] || exit 13'",
		 cfg, tmp, tmp, tmp, tmp);
	cr_assert_eq(tu_system(cmd), 0, "10: tune failed, 11: best not kept, 12: rollback failed, "
				  "13: not restored");
	r = results(strcat(strcpy(cfg, tmp), "/out"));
	cr_assert(json_is_true(json_object_get(r, "applied_best")));
	cr_assert(json_is_true(json_object_get(json_object_get(r, "confirmation"), "significant")),
		  "the metric is the knob: the default confirmation must say so");
	best = atol(json_string_value(json_object_get(json_object_get(r, "best_config"),
						      "net.core.somaxconn")));
	cr_assert_float_eq(json_real_value(json_object_get(r, "best_metric")), best, 1e-9,
			   "the metric is the value itself");
	snprintf(cmd, sizeof(cmd), "%s/kept", tmp);
	{
		char *kept = tu_slurp(cmd);

		cr_assert_not_null(kept);
		cr_assert_eq(atol(kept), best, "--apply-best kept the best value");
		free(kept);
	}
	json_decref(r);
}

Test(tune, refuses_configs_others_can_write, .fini = rmtmp)
{
	char cfg[256], cmd[512], out[512];
	FILE *f, *p;

	need_root();
	mktmp();
	snprintf(cfg, sizeof(cfg), "%s/open.json", tmp);
	f = fopen(cfg, "w");
	fprintf(f, "{}\n");
	fclose(f);
	chmod(cfg, 0666);
	snprintf(cmd, sizeof(cmd), KPILOT " tune --config %s 2>&1; echo status=$?", cfg);
	p = popen(cmd, "r");
	cr_assert(fgets(out, sizeof(out), p));
	cr_assert(strstr(out, "group- or world-writable (mode 0666); chmod go-w it"), "%s", out);
	cr_assert(fgets(out, sizeof(out), p));
	cr_assert_str_eq(out, "status=2\n");
	pclose(p);
}
