// SPDX-License-Identifier: GPL-2.0
/*
 * tools/bench/daemon-sysctl, as Documentation/daemon.md shows it, with the
 * smallest budget: it trains, measures the defaults and the tuned daemon in
 * interleaved rounds, prints its RESULT line, and leaves nothing behind (its
 * netns, its temporary directory). The figure itself is the benchmark's,
 * not this test's: a 4 s training proves the plumbing, not the gain.
 */
#include <criterion/criterion.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../lib/testutil.h"


static int netns_left(void)
{
	return tu_glob_count("/run/netns/kp-bench-*");
}

Test(daemon_bench, sysctl_smallest_budget_prints_result_and_cleans_up, .timeout = 180)
{
	char line[1024], result[1024] = "";
	int rounds = 0, st, tmp0 = tu_glob_count("/tmp/kpilot-dsys-*"), ns0 = netns_left();
	double d = -1, t = -1, r = -1;
	FILE *p;

	if (geteuid())
		cr_skip_test("needs root (a netns, kpilot run)");
	if (access("./kpilot", X_OK))
		cr_skip_test("no ./kpilot: run make first");
	p = popen("tools/bench/daemon-sysctl 4 1 1 2>&1", "r");
	cr_assert_not_null(p);
	while (fgets(line, sizeof(line), p)) {
		cr_log_info("%s", line);
		if (!strncmp(line, "round ", 6))
			rounds++;
		if (!strncmp(line, "RESULT ", 7))
			snprintf(result, sizeof(result), "%s", line);
	}
	st = pclose(p);
	cr_assert_eq(st, 0, "exit status %d", st);
	cr_assert_eq(rounds, 1, "%d round lines for 1 round", rounds);
	cr_assert(strstr(result, "RESULT train_s=4 rounds=1 "), "RESULT line: %s", result);
	cr_assert(sscanf(strstr(result, "default_cps="), "default_cps=%lf tuned_cps=%lf ratio=%lf",
			 &d, &t, &r) == 3, "RESULT line: %s", result);
	cr_assert(d > 0 && t > 0 && r > 0, "no connection measured: %s", result);
	cr_assert(strstr(result, "incumbent=\"tcp_tw_reuse="), "%s", result);
	cr_assert_eq(netns_left(), ns0, "a kp-bench-* netns left behind");
	cr_assert_eq(tu_glob_count("/tmp/kpilot-dsys-*"), tmp0, "a /tmp/kpilot-dsys-* dir left behind");
}
