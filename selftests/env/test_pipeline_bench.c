// SPDX-License-Identifier: GPL-2.0
/*
 * tools/bench/pipeline --trace with the smallest budget (6 intervals per
 * arm, one ground-truth rate, 100 pretraining steps): the capacity is
 * measured and the rates scaled to it, the four arms report, the simulator
 * is calibrated from the DS2 arm, fidelity is measured, the RESULT line
 * has every field with a number and targets_met last, is the last line, and
 * nothing is left behind (the bench's cgroups, wordcount processes and
 * control FIFO, all named after its temporary directory, and that
 * directory). Root, from the top of the tree.
 */
#include <criterion/criterion.h>
#include "../lib/testutil.h"
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CMD "tools/bench/pipeline --trace --intervals 6 --gt-fracs 1.0 --gt-intervals 2 " \
	    "--sim-steps 100 --capacity-intervals 2 2>&1"


static void nothing_left(int tmp_before)
{
	cr_expect_eq(tu_glob_count("/sys/fs/cgroup/*/kpilot-bench-pipeline-*"), 0, "cgroups left");
	cr_expect_eq(tu_glob_count("/tmp/kpilot-bench-pipeline-*"), tmp_before,
		     "a temporary directory or control FIFO left");
	/* the [e]: not the shell that runs pgrep */
	cr_expect_neq(system("pgrep -f 'kpilot-bench-pipelin[e]-' >/dev/null"), 0,
		      "a wordcount process is left");
}

/* The value of key= in line, or NULL; "na" counts as no number. */
static const char *field(const char *line, const char *key, char *val, size_t len)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), " %s=", key);
	p = strstr(line, k);
	if (!p)
		return NULL;
	p += strlen(k);
	snprintf(val, len, "%.*s", (int)strcspn(p, " \n"), p);
	return val;
}

static void check_result(const char *result)
{
	static const char *const keys[] = { "sim_attainment", "sim_reconf", "ds2_reconf",
		"sim_overprov", "ds2_overprov", "fidelity_mean_err", "fidelity_worst_err",
		"rollbacks" };
	char val[64], *end;
	size_t i;

	cr_assert(!strncmp(result, "RESULT ", 7), "no RESULT line");
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		cr_expect(field(result, keys[i], val, sizeof(val)), "%s missing: %s", keys[i], result);
		if (!field(result, keys[i], val, sizeof(val)))
			continue;
		strtod(val, &end);
		cr_expect(*val && !*end, "%s=%s is no number", keys[i], val);
	}
	field(result, "sim_attainment", val, sizeof(val));
	cr_expect(strtod(val, NULL) > 0.3 && strtod(val, NULL) < 1.5, "sim_attainment %s", val);
}

Test(pipeline_bench, trace_small_budget, .timeout = 600)
{
	char line[1024], result[1024] = "", last[1024] = "";
	int arms = 0, capacity = 0, scaled = 0, calibrated = 0, st, tmp_before;
	FILE *p;

	if (geteuid() != 0)
		cr_skip_test("needs root (cgroups, eBPF)");
	if (access("build/tools/wordcount/wordcount", X_OK) || access("kpilot", X_OK))
		cr_skip_test("kpilot or build/tools/wordcount/wordcount not built");
	tmp_before = tu_glob_count("/tmp/kpilot-bench-pipeline-*");
	p = popen(CMD, "r");
	cr_assert_not_null(p);
	while (fgets(line, sizeof(line), p)) {
		/* Criterion 2.4 crashes on an empty message */
		if (strcmp(line, "\n"))
			cr_log_info("%s", line);
		capacity += !strncmp(line, "capacity: ", 10) && strstr(line, "/s at the full budget");
		scaled += !strncmp(line, "rate trace: ", 12) && strstr(line, "of the capacity");
		calibrated += !!strstr(line, "calibrated from the DS2 arm's trace");
		arms += !strncmp(line, "static  ", 8) || !strncmp(line, "ds2  ", 5) ||
			!strncmp(line, "ppo live  ", 10) || !strncmp(line, "ppo sim-pretrained  ", 20);
		if (!strncmp(line, "RESULT ", 7))
			snprintf(result, sizeof(result), "%s", line);
		snprintf(last, sizeof(last), "%s", line);
	}
	st = pclose(p);
	cr_expect_eq(st, 0, "exit status %d", st);
	cr_expect_eq(capacity, 1, "the capacity is measured");
	cr_expect_eq(scaled, 1, "the trace's peak is scaled to it");
	cr_expect_eq(calibrated, 1, "the simulator calibrated from the DS2 arm");
	cr_expect_eq(arms, 4, "%d arm lines", arms);
	check_result(result);
	cr_expect(!strcmp(last, result), "the RESULT line is not the last: %s", last);
	cr_expect(strstr(result, " targets_met=yes\n") || strstr(result, " targets_met=no\n"),
		  "targets_met is not the RESULT line's last field: %s", result);
	nothing_left(tmp_before);
}
