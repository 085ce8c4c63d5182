// SPDX-License-Identifier: GPL-2.0
/*
 * tools/bench/tuning with the smallest budget (Documentation/performance.md
 * shows it): the synthetic workload, one seed, every optimizer, a few
 * trials. The figures are the benchmark's business; this checks that the
 * command documented runs as documented: the tables, the RESULT line with a
 * ratio per optimizer, the SVG with one curve per optimizer, --from giving the
 * same RESULT again, and a clear refusal of a workload it does not know.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../lib/testutil.h"

#define BENCH "tools/bench/tuning"

static char tmp[64];

static void setup(void)
{
	if (access("./kpilot", X_OK) || access(BENCH, X_OK))
		cr_skip_test("run from the top of the tree after make");
	if (geteuid() != 0)
		cr_skip_test("needs root: every trial runs in fresh network namespaces");
	if (tu_system("/usr/bin/python3 -c 'import optuna' 2>/dev/null"))
		cr_skip_test("python3-optuna not installed (tools/deps.sh --extras)");
	snprintf(tmp, sizeof(tmp), "/tmp/kpilot-bt-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
}

static void teardown(void)
{
	tu_rmtmp(tmp);
}

static char *result_line(char *out)
{
	char *r = strstr(out, "\nRESULT ");

	cr_assert_not_null(r, "no RESULT line in:\n%s", out);
	r++;
	r[strcspn(r, "\n")] = '\0';
	return r;
}

static int count(const char *s, const char *what)
{
	int n = 0;

	for (; (s = strstr(s, what)); s++)
		n++;
	return n;
}

Test(bench_tuning, synth_smallest_budget, .init = setup, .fini = teardown, .timeout = 240)
{
	char cmd[512], path[128], *out, *svg, *again, first[1024];

	snprintf(cmd, sizeof(cmd), BENCH " --workloads synth --seeds 1 --trials 4 --keep %s "
		 ">%s/out 2>&1", tmp, tmp);
	snprintf(path, sizeof(path), "%s/out", tmp);
	cr_assert_eq(tu_system(cmd), 0, "%s failed:\n%s", cmd, tu_slurp(path));
	out = tu_slurp(path);
	cr_assert(strstr(out, "synth seed 1 tpe"), "no TPE run in:\n%s", out);
	snprintf(first, sizeof(first), "%s", result_line(out));
	for (const char *k = "synth_ppo_vs_tpe_best4=\0synth_ppo_vs_random_best4=\0"
			     "synth_ppo_vs_ppo_plain_best4=\0synth_targets_met=\0"; *k;
	     k += strlen(k) + 1)
		cr_expect(strstr(first, k), "%s missing from %s", k, first);
	snprintf(path, sizeof(path), "%s/learning-curves.svg", tmp);
	svg = tu_slurp(path);
	cr_assert_not_null(svg, "no %s", path);
	cr_expect_eq(count(svg, "<polyline"), 4, "one curve per optimizer:\n%s", svg);

	snprintf(cmd, sizeof(cmd), BENCH " --workloads synth --from %s >%s/again 2>&1", tmp, tmp);
	cr_assert_eq(tu_system(cmd), 0);
	snprintf(path, sizeof(path), "%s/again", tmp);
	again = tu_slurp(path);
	cr_expect_str_eq(result_line(again), first);
	free(out);
	free(svg);
	free(again);
}

Test(bench_tuning, unknown_workload_refused, .init = setup, .fini = teardown)
{
	char cmd[256], path[128], *out;

	snprintf(cmd, sizeof(cmd), BENCH " --workloads nope --trials 1 >%s/out 2>&1", tmp);
	cr_assert_neq(tu_system(cmd), 0);
	snprintf(path, sizeof(path), "%s/out", tmp);
	out = tu_slurp(path);
	cr_expect(strstr(out, "unknown workload nope (know synth, tcp-churn, pgbench)"),
		  "got: %s", out);
	free(out);
}
