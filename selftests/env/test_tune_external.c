// SPDX-License-Identifier: GPL-2.0
/*
 * kpilot tune --algo external: the JSON-lines protocol against a tiny
 * optimizer and against tools/optimizers/optuna.py, on a host-mode run inside
 * a private network namespace (the host never changes) whose benchmark
 * prints the sum of the two knobs it reads back from /proc. Both directions
 * of the conversation are recorded (tee), so the points asked can be
 * compared with the points and values kpilot applied. Then the optimizer's
 * failures: a malformed line, an early exit, a timeout.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include "../lib/testutil.h"

#define KPILOT "./kpilot"

static char tmp[64];

static void setup(void)
{
	FILE *f;
	char path[128];

	if (access(KPILOT, X_OK))
		cr_skip_test("no ./kpilot: run from the top of the tree after make");
	if (geteuid() != 0)
		cr_skip_test("needs root: namespaces and knobs");
	if (tu_system("command -v unshare >/dev/null && command -v python3 >/dev/null"))
		cr_skip_test("unshare (util-linux) or python3 not installed");
	snprintf(tmp, sizeof(tmp), "/tmp/kpilot-ext-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
	snprintf(path, sizeof(path), "%s/run.json", tmp);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	/* Within both knobs' built-in steps from anywhere in the range: what is asked is applied. */
	fprintf(f, "{\"workload_name\": \"ext\","
		   " \"benchmark\": {\"command\": [\"echo score=$(( $(cat /proc/sys/net/core/somaxconn)"
		   " + $(cat /proc/sys/net/ipv4/tcp_fin_timeout) ))\"], \"shell\": true, \"timeout_s\": 10},"
		   " \"reward_metric\": {\"name\": \"score\", \"pattern\": \"score=([0-9]+)\"},"
		   " \"action_space\": [{\"knob\": \"net.core.somaxconn\", \"min\": 4096, \"max\": 8192},"
		   "                    {\"knob\": \"net.ipv4.tcp_fin_timeout\", \"min\": 30, \"max\": 60}],"
		   " \"training\": {\"trials\": 4, \"seed\": 3}}\n");
	fclose(f);
	/* Asks fixed points, one outside the box; told is ignored. */
	snprintf(path, sizeof(path), "%s/fixed.py", tmp);
	f = fopen(path, "w");
	fprintf(f, "import json, sys\n"
		   "pts = [[-1, -1], [1, 1], [0, 0.5], [1.5, -3]]\n"
		   "space = json.loads(sys.stdin.readline())\n"
		   "for i, p in enumerate(pts):\n"
		   "    print(json.dumps({'type': 'ask', 'point': p}), flush=True)\n"
		   "    m = json.loads(sys.stdin.readline())\n"
		   "    assert m['type'] == 'tell', m\n"
		   "assert json.loads(sys.stdin.readline())['type'] == 'done'\n");
	fclose(f);
}

static void teardown(void)
{
	char cmd[128];

	if (!tmp[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	if (system(cmd))
		cr_log_info("cannot remove %s", tmp);
	tmp[0] = '\0';
}

/* kpilot tune with this optimizer argv (shell words) in a private netns; its exit status. */
static int run(const char *extra, const char *optimizer)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd),
		 "unshare --net " KPILOT " tune --config %s/run.json --out %s/out --state-dir %s/state -q %s"
		 " --algo external --optimizer %s 2>%s/stderr", tmp, tmp, tmp, extra, optimizer, tmp);
	return tu_system(cmd);
}

/* The same, both directions recorded. */
static int run_logged(const char *optimizer)
{
	char opt[1024];

	snprintf(opt, sizeof(opt), "sh -c 'tee %s/to-opt.log | %s | tee %s/from-opt.log'", tmp,
		 optimizer, tmp);
	return run("", opt);
}

static json_t *lines(const char *name, int *n)
{
	char path[128], *text, *line, *save;
	json_t *a = json_array();

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	text = tu_slurp(path);
	cr_assert_not_null(text, "%s missing", path);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *m = json_loads(line, 0, NULL);

		cr_assert_not_null(m, "%s: not JSON: %s", name, line);
		json_array_append_new(a, m);
	}
	free(text);
	*n = json_array_size(a);
	return a;
}

static const char *type_of(json_t *m)
{
	return json_string_value(json_object_get(m, "type"));
}

/*
 * Every ask (clipped to the box) is the point told back, up to the knob's
 * integer resolution; the values told are the ones in results.json, read
 * back from /proc by the benchmark (the metric is their sum).
 */
static void check_conversation(int trials)
{
	static const double lo[2] = { 4096, 30 }, hi[2] = { 8192, 60 };
	static const char *knob[2] = { "net.core.somaxconn", "net.ipv4.tcp_fin_timeout" };
	int nin, nout, i, k;
	json_t *in = lines("to-opt.log", &nin), *out = lines("from-opt.log", &nout), *r, *hist;
	json_t *space = json_array_get(in, 0);
	char path[128];

	cr_assert_str_eq(type_of(space), "space");
	cr_assert_eq(json_integer_value(json_object_get(space, "trials")), trials);
	cr_assert_eq(json_integer_value(json_object_get(space, "seed")), 3);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(
			 json_object_get(space, "knobs"), 1), "name")), knob[1]);
	cr_assert_eq(nin, trials + 2, "space, %d tells, done: got %d lines", trials, nin);
	cr_assert_str_eq(type_of(json_array_get(in, nin - 1)), "done");
	snprintf(path, sizeof(path), "%s/out/results.json", tmp);
	r = json_load_file(path, 0, NULL);
	cr_assert_not_null(r);
	hist = json_object_get(r, "history");
	cr_assert_eq(json_array_size(hist), (size_t)trials);
	cr_assert_str_eq(json_string_value(json_object_get(r, "algo")), "external");
	for (i = 0; i < trials; i++) {
		json_t *ask = json_object_get(json_array_get(out, i), "point");
		json_t *tell = json_array_get(in, i + 1), *h = json_array_get(hist, i);
		json_t *vals = json_object_get(tell, "values");
		double sum = 0;

		cr_assert_str_eq(type_of(tell), "tell");
		cr_assert(json_is_false(json_object_get(tell, "failed")), "trial %d failed", i + 1);
		for (k = 0; k < 2; k++) {
			double a = json_number_value(json_array_get(ask, k));
			double told = json_number_value(json_array_get(json_object_get(tell, "point"), k));
			long long v = json_integer_value(json_object_get(vals, knob[k]));
			const char *res = json_string_value(json_object_get(json_object_get(h, "config"),
									    knob[k]));

			a = a < -1 ? -1 : a > 1 ? 1 : a;
			cr_assert_leq(fabs(a - told), 2 / (hi[k] - lo[k]) + 1e-9,
				      "trial %d %s: asked %g, applied %g", i + 1, knob[k], a, told);
			cr_assert_leq(fabs(lo[k] + (a + 1) / 2 * (hi[k] - lo[k]) - v), 1.0,
				      "trial %d %s: asked %g, value %lld", i + 1, knob[k], a, v);
			cr_assert_not_null(res);
			cr_assert_eq(atoll(res), v, "told %lld, results.json %s", v, res);
			sum += v;
		}
		cr_assert_float_eq(json_number_value(json_object_get(tell, "metric")), sum, 1e-9,
				   "the benchmark read back what was told");
	}
	json_decref(r);
	json_decref(in);
	json_decref(out);
}

TestSuite(tune_external, .init = setup, .fini = teardown);

Test(tune_external, asked_points_are_applied_and_told_back)
{
	char opt[128];

	snprintf(opt, sizeof(opt), "python3 %s/fixed.py", tmp);
	cr_assert_eq(run_logged(opt), 0, "stderr: %s", tu_slurp(strcat(strcpy(opt, tmp), "/stderr")));
	check_conversation(4);
}

Test(tune_external, optuna_tpe)
{
	char opt[256];
	int s;

	if (tu_system("/usr/bin/python3 -c 'import optuna' 2>/dev/null"))
		cr_skip_test("python3-optuna not installed (tools/deps.sh --extras)");
	snprintf(opt, sizeof(opt), "%s/tools/optimizers/optuna.py --sampler tpe",
		 getcwd((char[256]){ 0 }, 256));
	s = run_logged(opt);
	cr_assert_eq(s, 0, "stderr: %s", tu_slurp(strcat(strcpy(opt, tmp), "/stderr")));
	check_conversation(4);
}

/* An optimizer (a python3 script) that misbehaves: kpilot stops (status 2) and says how. */
static void expect_failure(const char *extra, const char *script, const char *needle)
{
	char opt[256], path[128], *err;
	FILE *f;
	int s;

	snprintf(path, sizeof(path), "%s/bad.py", tmp);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f, "import sys, time\nsys.stdin.readline()\n%s\n", script);
	fclose(f);
	snprintf(opt, sizeof(opt), "python3 %s", path);
	s = run(extra, opt);
	snprintf(path, sizeof(path), "%s/stderr", tmp);
	err = tu_slurp(path);
	cr_assert_not_null(err);
	cr_assert_eq(s, 2, "exit status %d, stderr: %s", s, err);
	cr_assert_not_null(strstr(err, needle), "no '%s' in: %s", needle, err);
	free(err);
}

Test(tune_external, malformed_line_is_named)
{
	expect_failure("", "print('hello', flush=True)\nsys.stdin.read()", "optimizer line 1: ");
}

Test(tune_external, wrong_dimension_is_refused)
{
	expect_failure("", "print('{\"type\": \"ask\", \"point\": [0]}', flush=True)\nsys.stdin.read()",
		       "must be an array of 2 numbers");
}

Test(tune_external, early_exit_is_reported)
{
	expect_failure("", "sys.exit(3)", "exited (status 3)");
}

Test(tune_external, timeout)
{
	time_t t0 = time(NULL);

	expect_failure("--optimizer-timeout 1", "time.sleep(30)", "did not answer within 1 s");
	cr_assert_lt(time(NULL) - t0, 15, "the timeout did not stop the wait");
}

/* The command tuning.md and --help show, with the smallest budget. */
Test(tune_external, documented_tcp_churn_with_optuna)
{
	char cmd[512], path[128];
	json_t *r;

	if (tu_system("/usr/bin/python3 -c 'import optuna' 2>/dev/null"))
		cr_skip_test("python3-optuna not installed (tools/deps.sh --extras)");
	snprintf(cmd, sizeof(cmd),
		 KPILOT " tune --profile tcp-churn --algo external --trials 2 --churn-seconds 0.5"
		 " --out %s/churn --state-dir %s/state -q"
		 " --optimizer tools/optimizers/optuna.py --sampler tpe", tmp, tmp);
	cr_assert_eq(tu_system(cmd), 0);
	snprintf(path, sizeof(path), "%s/churn/results.json", tmp);
	r = json_load_file(path, 0, NULL);
	cr_assert_not_null(r);
	cr_assert_eq(json_integer_value(json_object_get(r, "trials")), 2);
	cr_assert_eq(json_integer_value(json_object_get(r, "failures")), 0);
	json_decref(r);
}

/* Not external, but the same fixture: the default agent and ppo-plain end to end. */
Test(tune_external, ppo_reports_its_model_ppo_plain_runs)
{
	static const char *const algos[] = { "ppo", "ppo-plain" };
	char cmd[512], path[128];
	int i;

	for (i = 0; i < 2; i++) {
		json_t *r, *m;

		snprintf(cmd, sizeof(cmd),
			 "unshare --net " KPILOT " tune --config %s/run.json --trials 7 --out %s/%s"
			 " --state-dir %s/state -q --algo %s", tmp, tmp, algos[i], tmp, algos[i]);
		cr_assert_eq(tu_system(cmd), 0, "%s", algos[i]);
		snprintf(path, sizeof(path), "%s/%s/results.json", tmp, algos[i]);
		r = json_load_file(path, 0, NULL);
		cr_assert_not_null(r);
		cr_assert_str_eq(json_string_value(json_object_get(r, "algo")), algos[i]);
		cr_assert_eq(json_integer_value(json_object_get(r, "trials")), 7);
		m = json_object_get(r, "model");
		if (i == 0) {
			cr_assert(json_is_object(m), "no model in ppo's results");
			cr_assert_eq(json_integer_value(json_object_get(m, "trials")), 7);
			cr_assert(json_is_number(json_object_get(m, "oob_r2")) ||
				  json_is_null(json_object_get(m, "oob_r2")));
		} else {
			cr_assert_null(m, "ppo-plain has no model");
		}
		json_decref(r);
	}
}
