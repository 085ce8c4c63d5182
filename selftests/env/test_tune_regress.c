// SPDX-License-Identifier: GPL-2.0
/*
 * A host-mode tune whose reward keeps falling: the guardrail puts the last
 * known-good values back after a few trials, and the trial after that revert
 * must still run. The revert writes the knobs too, so the next trial waits
 * out their minimum write interval; it once did not, and every trial after a
 * revert failed with "last written 0.00 s ago" (seen on pgbench, 9 of 40
 * trials). Inside a private network namespace: the host never changes.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include "../lib/testutil.h"

#define KPILOT "./kpilot"

static char tmp[64];

static void setup(void)
{
	char path[128];
	FILE *f;

	if (access(KPILOT, X_OK))
		cr_skip_test("no ./kpilot: run from the top of the tree after make");
	if (geteuid() != 0)
		cr_skip_test("needs root: namespaces and knobs");
	if (tu_system("command -v unshare >/dev/null"))
		cr_skip_test("unshare (util-linux) not installed");
	snprintf(tmp, sizeof(tmp), "/tmp/kpilot-regress-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
	snprintf(path, sizeof(path), "%s/run.json", tmp);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	/* Each run scores 150 less than the one before: a regression every trial. */
	fprintf(f, "{\"workload_name\": \"regress\","
		   " \"benchmark\": {\"command\": [\"n=$(cat %s/n 2>/dev/null || echo 0);"
		   " echo $((n + 1)) > %s/n; echo score=$((2000 - 150 * n))\"],"
		   " \"shell\": true, \"timeout_s\": 10},"
		   " \"reward_metric\": {\"name\": \"score\", \"pattern\": \"score=([0-9]+)\"},"
		   " \"action_space\": [{\"knob\": \"net.core.somaxconn\", \"min\": 4096, \"max\": 8192},"
		   "                    {\"knob\": \"net.ipv4.tcp_fin_timeout\", \"min\": 30, \"max\": 60}]}\n",
		tmp, tmp);
	fclose(f);
	cr_assert_eq(chmod(path, 0600), 0);
}

static void teardown(void)
{
	tu_rmtmp(tmp);
}

Test(tune_regress, the_trial_after_a_revert_runs, .init = setup, .fini = teardown,
     .timeout = 120)
{
	char cmd[512], path[128], *err;
	json_error_t e;
	json_t *r, *h;
	size_t i;

	snprintf(cmd, sizeof(cmd), "unshare --net " KPILOT " tune --config %s/run.json --algo random"
		 " --trials 8 --confirm 0 --out %s/out --state-dir %s/state -q 2>%s/stderr",
		 tmp, tmp, tmp, tmp);
	snprintf(path, sizeof(path), "%s/stderr", tmp);
	cr_assert_eq(tu_system(cmd), 0, "%s failed:\n%s", cmd, tu_slurp(path));
	err = tu_slurp(path);
	cr_assert(strstr(err, "back to the last known-good values"),
		  "the guardrail never reverted:\n%s", err);
	snprintf(path, sizeof(path), "%s/out/results.json", tmp);
	r = json_load_file(path, 0, &e);
	cr_assert_not_null(r, "%s: %s", path, e.text);
	cr_expect_eq(json_integer_value(json_object_get(r, "trials")), 8);
	json_array_foreach(json_object_get(r, "history"), i, h)
		cr_expect(json_is_true(json_object_get(h, "ok")), "trial %zu failed: %s", i + 1,
			  json_string_value(json_object_get(h, "error")));
	cr_expect_eq(json_integer_value(json_object_get(r, "failures")), 0);
	json_decref(r);
	free(err);
}
