// SPDX-License-Identifier: GPL-2.0
/*
 * kpilot report on a hand-made results dir (selftests/data/doc-commands/
 * results: 5 trials, one failed, a significant confirmation): every section,
 * the numbers in it, where the learning curve comes from; and kp_knob_doc()
 * for every knob of the table.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../lib/testutil.h"
#include "safety/knob.h"
#include "safety/knob_doc.h"

#define KPILOT "./kpilot"
#define DATA "selftests/data/doc-commands/results"

static char tmp[64], out[256];

static void setup(void)
{
	if (access(KPILOT, X_OK))
		cr_skip_test("no ./kpilot: run from the top of the tree after make");
	snprintf(tmp, sizeof(tmp), "/tmp/kpilot-report-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
	snprintf(out, sizeof(out), "%s/out", tmp);
}

static void teardown(void)
{
	tu_rmtmp(tmp);
}

/* kpilot report ARGS: its stdout (caller frees); *rc its exit status. */
static char *report(const char *args, int *rc)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd), KPILOT " report %s >%s 2>&1", args, out);
	*rc = tu_system(cmd);
	return tu_slurp(out);
}

TestSuite(tune_report, .init = setup, .fini = teardown);

Test(tune_report, every_section_with_its_numbers)
{
	static const char *const want[] = {
		"Workload: doc-churn, metric conns_per_sec (higher is better), algo ppo, 62 s\n",
		"\nWhat was tried: 5 trials, 1 failed\n",
		"  net.core.somaxconn                 1024 .. 65535            4096\n",
		"  net.ipv4.tcp_fin_timeout           5 .. 90                  60\n",
		"  net.ipv4.ip_local_port_range       5 distinct values        32768 60999\n",
		"  trial 3 failed: benchmark exited with status 1\n",
		"\nLearning curve (best so far per trial, from history.csv; higher is better):\n",
		"   base          3800\n",
		"      1          3500          3500  # new best\n",
		"      2          4100          4100  #################### new best\n",
		"      3        failed          4100  ####################\n",
		"      5          4400          4400  ############################## new best\n",
		"\nBest configuration: trial 5, conns_per_sec 4400 against the baseline 3800 (+15.8%)\n",
		"  net.ipv4.ip_local_port_range       24576 60999              (baseline 32768 60999)\n",
		"  confirmed over 5 runs each: baseline 3800 (sd 7.91), best 4400 (sd 7.91): +15.8% "
		"(95% CI +15.5% to +16.1%), significant\n",
		"\nWhat each knob does:\n  net.core.somaxconn: longest accept queue",
		"\nApply:\n  kpilot persist " DATA "/results.json   # apply and keep across reboots\n",
		"  kpilot set net.core.somaxconn=8192 net.ipv4.tcp_fin_timeout=30 "
		"net.ipv4.ip_local_port_range='24576 60999'   # this boot only\n",
		"\nUndo:\n  kpilot rollback   #",
	};
	const char *prev;
	char *text;
	size_t i;
	int rc;

	text = report(DATA "/results.json", &rc);
	cr_assert_eq(rc, 0, "%s", text);
	/* in this order */
	for (i = 0, prev = text; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *at = strstr(prev, want[i]);

		cr_assert_not_null(at, "missing or out of order: '%s' in:\n%s", want[i], text);
		prev = at;
	}
	free(text);
}

/* The curve comes from history.csv when there is one, else from results.json. */
Test(tune_report, curve_from_history_csv_else_results_json)
{
	char cmd[512], *text;
	int rc;

	snprintf(cmd, sizeof(cmd), "cp " DATA "/results.json %s/ && "
		 "printf 'trial,ok,conns_per_sec,reward,error\\n1,1,9999,0.5,\"\"\\n' >%s/history.csv",
		 tmp, tmp);
	cr_assert_eq(tu_system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/results.json", tmp);
	text = report(cmd, &rc);
	cr_assert_eq(rc, 0);
	cr_assert(strstr(text, "from history.csv;"), "%s", text);
	cr_assert(strstr(text, "      1          9999          9999  ############################## new best\n"), "%s", text);
	cr_assert_null(strstr(text, "      2  "), "history.csv has one trial: %s", text);
	free(text);
	snprintf(cmd, sizeof(cmd), "rm %s/history.csv", tmp);
	cr_assert_eq(tu_system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/results.json", tmp);
	text = report(cmd, &rc);
	cr_assert(strstr(text, "from results.json;"), "%s", text);
	cr_assert(strstr(text, "      4          3900          4100  "), "%s", text);
	free(text);
}

Test(tune_report, json_has_the_same_numbers)
{
	json_t *o, *curve, *k;
	json_error_t je;
	char *text;
	int rc;

	text = report(DATA "/results.json --json", &rc);
	cr_assert_eq(rc, 0, "%s", text);
	o = json_loads(text, 0, &je);
	cr_assert_not_null(o, "%s: %s", je.text, text);
	curve = json_object_get(o, "curve");
	cr_assert_eq(json_array_size(curve), 5);
	cr_assert(json_is_null(json_object_get(json_array_get(curve, 2), "metric")));
	cr_assert_float_eq(json_number_value(json_object_get(json_array_get(curve, 2),
							     "best_so_far")), 4100, 1e-9);
	cr_assert_float_eq(json_number_value(json_object_get(json_object_get(o, "confirmation"),
							     "ci95_pct_low")), 15.486, 1e-9);
	k = json_array_get(json_object_get(o, "knobs"), 1);
	cr_assert_str_eq(json_string_value(json_object_get(k, "tried")), "5 .. 90");
	cr_assert_not_null(json_string_value(json_object_get(k, "doc")));
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(o, "undo"), 0)),
			 "kpilot rollback");
	json_decref(o);
	free(text);
}

Test(tune_report, an_unconfirmed_gain_gets_no_persist_command)
{
	char cmd[512], *text;
	int rc;

	snprintf(cmd, sizeof(cmd), "sed 's/\"significant\": true/\"significant\": false/' "
		 DATA "/results.json >%s/results.json", tmp);
	cr_assert_eq(tu_system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "%s/results.json", tmp);
	text = report(cmd, &rc);
	cr_assert_eq(rc, 0);
	cr_assert(strstr(text, "(95% CI +15.5% to +16.1%), not significant\n"), "%s", text);
	cr_assert(strstr(text, "refuses: the gain is not confirmed as significant)"), "%s", text);
	cr_assert_null(strstr(text, "# apply and keep across reboots"), "%s", text);
	free(text);
}

Test(tune_report, a_file_that_is_not_results_is_refused)
{
	char *text;
	int rc;

	text = report("selftests/data/doc-commands/my.json", &rc);
	cr_assert_eq(rc, 2, "%s", text);
	cr_assert_str_eq(text, "kpilot report: selftests/data/doc-commands/my.json: $.best_config: "
			 "missing: not a kpilot tune results.json\n");
	free(text);
}

Test(tune_report, every_table_knob_has_a_doc)
{
	size_t i;

	for (i = 0; i < kp_builtin_nknobs; i++) {
		const char *d = kp_knob_doc(kp_builtin_knobs[i].name);

		cr_assert(d && strlen(d) > 10 && !strchr(d, '\n'), "%s: no one-line doc",
			  kp_builtin_knobs[i].name);
	}
	cr_assert_null(kp_knob_doc("net.core.no_such_knob"));
	cr_assert_null(kp_knob_doc("fs.file-max"));
	cr_assert_str_eq(kp_knob_doc("cgroup:system.slice/web.service:cpu.max"),
			 kp_knob_doc("cpu.max"));
}
