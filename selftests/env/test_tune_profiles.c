// SPDX-License-Identifier: GPL-2.0
/*
 * The shipped profiles (the JSON files in tools/profiles): each passes the validator on
 * this machine (--dry-run), and where its tool is installed, its real
 * benchmark runs and yields its metric (--trials 0: the baseline only, so no
 * knob is written). pgbench gets a private PostgreSQL cluster and wrk a
 * private nginx inside a throwaway network namespace.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include "../lib/testutil.h"

#define KPILOT "./kpilot"
#define PG "/usr/lib/postgresql/15/bin"

static char tmp[64];

static void setup(void)
{
	if (access(KPILOT, X_OK) || access("tools/profiles", R_OK))
		cr_skip_test("run from the top of the tree after make");
	if (geteuid() != 0)
		cr_skip_test("needs root: the profiles read and write kernel knobs");
	snprintf(tmp, sizeof(tmp), "/tmp/kpilot-prof-XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
}

static void teardown(void)
{
	tu_rmtmp(tmp);
}

static bool have(const char *tool)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
	return tu_system(cmd) == 0;
}

/* `prefix` runs before kpilot (environment, a namespace). */
static double baseline(const char *profile, const char *prefix)
{
	char cmd[1024], path[128];
	json_error_t e;
	json_t *r;
	double v;

	snprintf(cmd, sizeof(cmd), "%s " KPILOT " tune --profile %s --trials 0 --out %s/%s "
		 "--state-dir %s/state -q 2>%s/%s.err", prefix, profile, tmp, profile, tmp, tmp,
		 profile);
	cr_assert_eq(tu_system(cmd), 0, "%s failed (see %s/%s.err)", profile, tmp, profile);
	snprintf(path, sizeof(path), "%s/%s/results.json", tmp, profile);
	r = json_load_file(path, 0, &e);
	cr_assert_not_null(r, "%s", e.text);
	v = json_real_value(json_object_get(r, "baseline_metric"));
	cr_assert_eq(json_integer_value(json_object_get(r, "trials")), 0);
	json_decref(r);
	return v;
}

Test(profiles, every_profile_passes_the_validator, .init = setup, .fini = teardown)
{
	static const char *const names[] = { "tcp-churn", "pgbench", "sysbench-cpu",
					     "sysbench-fileio", "fio", "wrk-nginx" };
	char cmd[256], *out;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(cmd, sizeof(cmd), KPILOT " tune --profile %s --dry-run --state-dir %s/state "
			 ">%s/out 2>&1", names[i], tmp, tmp);
		cr_assert_eq(tu_system(cmd), 0, "%s", names[i]);
		snprintf(cmd, sizeof(cmd), "%s/out", tmp);
		out = tu_slurp(cmd);
		cr_assert(out && strstr(out, "first proposal passes the validator"), "%s: %s",
			  names[i], out);
		free(out);
	}
}

Test(profiles, sysbench_cpu, .init = setup, .fini = teardown)
{
	if (!have("sysbench"))
		cr_skip_test("sysbench not installed (tools/deps.sh --extras)");
	cr_assert_gt(baseline("sysbench-cpu", ""), 0);
}

Test(profiles, sysbench_fileio, .init = setup, .fini = teardown)
{
	if (!have("sysbench"))
		cr_skip_test("sysbench not installed (tools/deps.sh --extras)");
	cr_assert_gt(baseline("sysbench-fileio", ""), 0);
}

Test(profiles, fio, .init = setup, .fini = teardown)
{
	if (!have("fio"))
		cr_skip_test("fio not installed (tools/deps.sh --extras)");
	cr_assert_gt(baseline("fio", ""), 0);
}

Test(profiles, pgbench_on_a_private_cluster, .init = setup, .fini = teardown)
{
	char cmd[1024], env[256];
	double tps;

	if (!have("pgbench") || access(PG "/initdb", X_OK) || !have("su"))
		cr_skip_test("PostgreSQL 15 server or pgbench not installed (tools/deps.sh --extras)");
	/* A throwaway cluster on a private socket: the machine's own is left alone. */
	snprintf(cmd, sizeof(cmd),
		 "chown postgres %s && su postgres -s /bin/sh -c '" PG "/initdb -D %s/pg >/dev/null &&"
		 " " PG "/pg_ctl -D %s/pg -o \"-p 5499 -k %s -c listen_addresses=\" -l %s/pg.log start"
		 " >/dev/null && pgbench -h %s -p 5499 -i -s 1 postgres >/dev/null 2>&1'",
		 tmp, tmp, tmp, tmp, tmp, tmp);
	cr_assert_eq(tu_system(cmd), 0, "cannot start a private PostgreSQL cluster");
	snprintf(env, sizeof(env), "PGHOST=%s PGPORT=5499 PGUSER=postgres PGDATABASE=postgres", tmp);
	tps = baseline("pgbench", env);
	snprintf(cmd, sizeof(cmd), "su postgres -s /bin/sh -c '" PG "/pg_ctl -D %s/pg stop -m fast' "
		 ">/dev/null", tmp);
	tu_system(cmd);
	cr_assert_gt(tps, 0);
}

Test(profiles, wrk_against_nginx_in_a_namespace, .init = setup, .fini = teardown)
{
	char cmd[2048];
	FILE *f;

	if (!have("wrk") || !have("nginx") || !have("unshare"))
		cr_skip_test("wrk or nginx not installed (tools/deps.sh --extras)");
	snprintf(cmd, sizeof(cmd), "%s/nginx.conf", tmp);
	f = fopen(cmd, "w");
	fprintf(f, "worker_processes 1; pid %s/nginx.pid; error_log %s/error.log;\n"
		   "events { worker_connections 1024; }\n"
		   "http { access_log off; client_body_temp_path %s/b; proxy_temp_path %s/p;"
		   " fastcgi_temp_path %s/f; uwsgi_temp_path %s/u; scgi_temp_path %s/s;\n"
		   " server { listen 127.0.0.1:8089; location / { return 200 \"hello\\n\"; } } }\n",
		tmp, tmp, tmp, tmp, tmp, tmp, tmp);
	fclose(f);
	/* nginx and the session share a private network namespace: the host's TCP knobs stay. */
	snprintf(cmd, sizeof(cmd),
		 "unshare --net sh -c 'ip link set lo up && nginx -c %s/nginx.conf -p %s &&"
		 " WRK_URL=http://127.0.0.1:8089/ " KPILOT " tune --profile wrk-nginx --trials 0"
		 " --out %s/wrk --state-dir %s/state -q 2>%s/wrk.err; s=$?;"
		 " nginx -c %s/nginx.conf -p %s -s stop; exit $s'",
		 tmp, tmp, tmp, tmp, tmp, tmp, tmp);
	cr_assert_eq(tu_system(cmd), 0, "wrk-nginx failed (see %s/wrk.err)", tmp);
	snprintf(cmd, sizeof(cmd), "%s/wrk/results.json", tmp);
	{
		json_t *r = json_load_file(cmd, 0, NULL);

		cr_assert_not_null(r);
		cr_assert_gt(json_real_value(json_object_get(r, "baseline_metric")), 0);
		json_decref(r);
	}
}
