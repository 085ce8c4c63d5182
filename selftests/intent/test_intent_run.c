// SPDX-License-Identifier: GPL-2.0
/*
 * kpilot tune --intent, the real binary: --print-config (byte-identical
 * across processes and with what this process builds), the refusals (an
 * unknown sentence, a missing tool, no terminal without --yes), an answer
 * typed on a pseudo-terminal, one real tcp-churn run that must leave
 * nothing changed, and the seed sentence against a private PostgreSQL.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include "env/benchmark/tune_config.h"
#include "intent/intent.h"
#include "intent_util.h"
#include "../lib/emulation.h"

/* ---- the real binary ---- */

Test(intent_run, print_config_is_the_same_bytes_in_two_processes)
{
	struct kp_host_facts h;
	struct kp_tune_config c;
	struct kp_intent in;
	char *a, *b, why[512];

	need_binary();
	cr_assert_eq(run(KPILOT " tune --intent '" CHURN_SENTENCE "' --print-config", &a), 0);
	cr_assert_eq(run(KPILOT " tune --intent '" CHURN_SENTENCE "' --print-config", &b), 0);
	cr_assert_str_eq(a, b);
	cr_assert_eq(kp_tune_config_parse(a, "stdout", &c, why, sizeof(why)), 0, "%s", why);
	cr_assert(c.netns);
	cr_assert_str_eq(c.builtin, "tcp-churn");
	kp_tune_config_free(&c);
	/* and what this process builds for this host */
	cr_assert_eq(kp_host_facts_read("/", NULL, &h, why, sizeof(why)), 0);
	build_ok(CHURN_SENTENCE, &h, &in);
	cr_assert_str_eq(in.json, a);
	kp_intent_free(&in);
	free(a);
	free(b);
	/* the seed sentence: a pgbench session where pgbench is, the package where not */
	if (!kp_host_has(&h, KP_TOOL_PGBENCH)) {
		cr_assert_eq(run(KPILOT " tune --intent '" SEED_SENTENCE "' --print-config 2>&1", &a), 2);
		cr_assert_not_null(strstr(a, "postgresql"), "%s", a);
		free(a);
		return;
	}
	cr_assert_eq(run(KPILOT " tune --intent '" SEED_SENTENCE "' --print-config", &a), 0);
	cr_assert_eq(kp_tune_config_parse(a, "stdout", &c, why, sizeof(why)), 0, "%s", why);
	cr_assert_str_eq(c.argv[0], "pgbench");
	kp_tune_config_free(&c);
	free(a);
}

Test(intent_run, binary_refuses_an_unknown_sentence)
{
	char *out;
	int c;

	need_binary();
	cr_assert_eq(run(KPILOT " tune --intent 'make it fast' --print-config 2>&1", &out), 2);
	cr_assert_not_null(strstr(out, "no workload class matches \"make it fast\""), "%s", out);
	for (c = 0; c < KP_CLASS_N; c++) {
		cr_assert_not_null(strstr(out, kp_cat_classes[c].name), "%s", out);
		cr_assert_not_null(strstr(out, kp_cat_classes[c].example), "%s", out);
	}
	free(out);
}

Test(intent_run, binary_names_the_missing_package)
{
	char *out;

	need_binary();
	/* wrk lives in /usr/bin: not on this PATH (/usr/sbin and /sbin are searched anyway) */
	cr_assert_eq(run("PATH=/nonexistent " KPILOT " tune --intent 'nginx web server' "
			 "--print-config 2>&1", &out), 2);
	cr_assert_not_null(strstr(out, "runs wrk, which is not installed"), "%s", out);
	cr_assert_not_null(strstr(out, "package wrk"), "%s", out);
	free(out);
}

/* Without --yes and without a terminal nothing runs: the session is shown, exit 2. */
Test(intent_run, refuses_without_yes_and_terminal, .fini = rmtmp)
{
	struct kp_host_facts h;
	struct kp_intent in;
	char cmd[512], path[128], *out;
	int i;

	need_binary();
	mktmp();
	snprintf(cmd, sizeof(cmd), KPILOT " tune --intent '" CHURN_SENTENCE "' --trials 3 --out %s/out "
		 "--state-dir %s/state </dev/null 2>&1", tmp, tmp);
	cr_assert_eq(run(cmd, &out), 2, "%s", out);
	cr_assert_not_null(strstr(out, geteuid() ? "needs root" : "there is no terminal to answer on"),
			   "%s", out);
	cr_assert_not_null(strstr(out, "tcp-churn, built in"), "%s", out);
	cr_assert_not_null(strstr(out, "budget     3 trials"), "--trials shown: %s", out);
	cr_assert_not_null(strstr(out, "reward"));
	cr_assert_eq(kp_host_facts_read("/", NULL, &h, cmd, sizeof(cmd)), 0);
	build_ok(CHURN_SENTENCE, &h, &in);
	for (i = 0; i < in.cfg.nactions; i++)
		cr_assert_not_null(strstr(out, in.cfg.actions[i].knob), "%s not shown",
				   in.cfg.actions[i].knob);
	kp_intent_free(&in);
	snprintf(path, sizeof(path), "%s/out", tmp);
	cr_assert_neq(access(path, F_OK), 0, "results written: something ran");
	free(out);
}

static void need_root_and_script(void)
{
	need_binary();
	if (geteuid() != 0)
		cr_skip_test("needs root: namespaces, knobs and BPF");
	if (tu_system("command -v script >/dev/null"))
		cr_skip_test("no script(1) to give kpilot a terminal (util-linux)");
}

/* kpilot tune --intent on script(1)'s pseudo-terminal, answer typed on it. */
static int typed(const char *answer, char **out)
{
	char cmd[768];

	snprintf(cmd, sizeof(cmd), "printf '%s\\n' | script -qec \"" KPILOT " tune --intent '"
		 CHURN_SENTENCE "' --trials 0 --confirm 0 --churn-seconds 1 --out %s/out "
		 "--state-dir %s/state -q\" /dev/null 2>&1", answer, tmp, tmp);
	return run(cmd, out);
}

/* An answer typed on a terminal: only "yes" runs. */
Test(intent_run, typed_answer_on_a_terminal, .fini = rmtmp)
{
	char path[128], *out;

	need_root_and_script();
	mktmp();
	cr_assert_eq(typed("no", &out), 1, "%s", out);
	cr_assert_not_null(strstr(out, "Type yes to start"), "%s", out);
	cr_assert_not_null(strstr(out, "not started"), "%s", out);
	snprintf(path, sizeof(path), "%s/out", tmp);
	cr_assert_neq(access(path, F_OK), 0, "answered no, yet results were written");
	free(out);
	cr_assert_eq(typed("yes", &out), 0, "%s", out);
	snprintf(path, sizeof(path), "%s/out/results.json", tmp);
	cr_assert_eq(access(path, F_OK), 0, "answered yes, no results: %s", out);
	free(out);
}

/* /proc/sys's text of each of the session's knobs (NUL-separated in buf). */
static void read_knobs(const struct kp_tune_config *c, char vals[][64])
{
	char path[320], *s, *p;
	int i;

	for (i = 0; i < c->nactions; i++) {
		snprintf(path, sizeof(path), "/proc/sys/%s", c->actions[i].knob);
		for (p = path + 10; *p; p++)
			if (*p == '.')
				*p = '/';
		cr_assert_not_null(s = tu_slurp(path), "%s", path);
		snprintf(vals[i], 64, "%s", s);
		free(s);
	}
}

static char *netns_list(void)
{
	char *out;

	run("ip netns list 2>/dev/null | awk '{print $1}' | grep '^kpilot-' | sort", &out);
	return out;
}

static void results_match(const char *dir, const struct kp_tune_config *c)
{
	char path[256];
	json_error_t e;
	json_t *r, *h, *best;
	size_t i;
	int k;

	snprintf(path, sizeof(path), "%s/results.json", dir);
	cr_assert_not_null(r = json_load_file(path, 0, &e), "%s: %s", path, e.text);
	cr_assert_str_eq(json_string_value(json_object_get(r, "workload_name")), "tcp-churn");
	cr_assert_eq(json_integer_value(json_object_get(r, "seed")), 2);
	cr_assert_eq(json_integer_value(json_object_get(r, "trials")), 2);
	cr_assert_gt(json_number_value(json_object_get(r, "baseline_metric")), 0);
	h = json_object_get(r, "history");
	cr_assert_eq(json_array_size(h), 2);
	best = json_object_get(r, "best_config");
	cr_assert_eq(json_object_size(best), (size_t)c->nactions);
	for (k = 0; k < c->nactions; k++)
		cr_assert_not_null(json_object_get(best, c->actions[k].knob), "%s", c->actions[k].knob);
	for (i = 0; i < json_array_size(h); i++)
		cr_assert_eq(json_object_size(json_object_get(json_array_get(h, i), "config")),
			     (size_t)c->nactions);
	json_decref(r);
}

/* One real run from a sentence: the smallest budget, in private namespaces. */
Test(intent_run, real_network_churn_run_leaves_nothing, .fini = rmtmp)
{
	char before[KP_TUNE_MAX_ACTIONS][64], after[KP_TUNE_MAX_ACTIONS][64], cmd[512], path[128];
	struct kp_host_facts h;
	struct kp_intent in;
	char *ns0, *ns1, *out;
	int i;

	need_binary();
	if (geteuid() != 0)
		cr_skip_test("needs root: namespaces, knobs and BPF");
	mktmp();
	cr_assert_eq(kp_host_facts_read("/", NULL, &h, cmd, sizeof(cmd)), 0);
	build_ok(CHURN_SENTENCE, &h, &in);
	read_knobs(&in.cfg, before);
	ns0 = netns_list();
	snprintf(cmd, sizeof(cmd), KPILOT " tune --intent '" CHURN_SENTENCE "' --yes --trials 2 "
		 "--confirm 2 --seed 2 --churn-seconds 1 --out %s/out --state-dir %s/state 2>&1",
		 tmp, tmp);
	cr_assert_eq(run(cmd, &out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "every knob is back to its original value"), "%s", out);
	free(out);
	read_knobs(&in.cfg, after);
	for (i = 0; i < in.cfg.nactions; i++)
		cr_assert_str_eq(after[i], before[i], "host %s changed", in.cfg.actions[i].knob);
	ns1 = netns_list();
	cr_assert_str_eq(ns1, ns0, "a kpilot namespace was left");
	free(ns0);
	free(ns1);
	snprintf(path, sizeof(path), "%s/out", tmp);
	results_match(path, &in.cfg);
	kp_intent_free(&in);
	snprintf(cmd, sizeof(cmd), KPILOT " rollback --list --state-dir %s/state 2>&1 | grep -qi nothing",
		 tmp);
	cr_assert_eq(tu_system(cmd), 0, "rollback --list shows pending changes");
}

/* ---- the seed sentence against a real PostgreSQL server ---- */

#define PG "/usr/lib/postgresql/15/bin"
#define PG_PORT "5497"

static bool pg_started;

static void pg_stop(void)
{
	char cmd[256];

	if (pg_started) {
		snprintf(cmd, sizeof(cmd), "su postgres -s /bin/sh -c '" PG "/pg_ctl -D %s/pg stop -m fast'"
			 " >/dev/null 2>&1", tmp);
		tu_system(cmd);
		pg_started = false;
	}
	rmtmp();
}

/*
 * A throwaway cluster on a private socket (the machine's own is left alone),
 * initialised as the session says it must be; the baseline only (--trials 0):
 * the session's knobs are host knobs, which a test must not move.
 */
Test(intent_run, seed_sentence_measures_a_private_postgresql, .fini = pg_stop)
{
	char cmd[1024], path[128], *out;
	json_error_t e;
	json_t *r;

	need_binary();
	if (geteuid() != 0)
		cr_skip_test("needs root: a PostgreSQL cluster run as postgres, BPF");
	if (kp_test_emulated())	/* initdb and pgbench under TCG: minutes (test_tune_profiles is left out of the VM) */
		cr_skip_test("a PostgreSQL cluster under emulation takes minutes; it runs on the host");
	if (tu_system("command -v pgbench >/dev/null && command -v su >/dev/null") ||
	    access(PG "/initdb", X_OK))
		cr_skip_test("PostgreSQL 15 server or pgbench not installed (tools/deps.sh --extras)");
	mktmp();
	snprintf(cmd, sizeof(cmd),
		 "chown postgres %s && su postgres -s /bin/sh -c '" PG "/initdb -D %s/pg >/dev/null &&"
		 " " PG "/pg_ctl -D %s/pg -o \"-p " PG_PORT " -k %s -c listen_addresses=\" -l %s/pg.log"
		 " start >/dev/null && pgbench -h %s -p " PG_PORT " -i -s 1 postgres >/dev/null 2>&1'",
		 tmp, tmp, tmp, tmp, tmp, tmp);
	pg_started = true;
	cr_assert_eq(tu_system(cmd), 0, "cannot start a private PostgreSQL cluster");
	snprintf(cmd, sizeof(cmd), "PGHOST=%s PGPORT=" PG_PORT " PGUSER=postgres PGDATABASE=postgres "
		 KPILOT " tune --intent '" SEED_SENTENCE "' --yes --trials 0 --confirm 0 --out %s/out "
		 "--state-dir %s/state 2>&1", tmp, tmp, tmp);
	cr_assert_eq(run(cmd, &out), 0, "%s", out);
	cr_assert_not_null(strstr(out, "benchmark  pgbench -n -S"), "%s", out);
	free(out);
	snprintf(path, sizeof(path), "%s/out/results.json", tmp);
	cr_assert_not_null(r = json_load_file(path, 0, &e), "%s", e.text);
	cr_assert_str_eq(json_string_value(json_object_get(r, "workload_name")), "pgbench");
	cr_assert_gt(json_number_value(json_object_get(r, "baseline_metric")), 0, "no tps measured");
	json_decref(r);
}
