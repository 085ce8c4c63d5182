// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's pipeline policy (Documentation/daemon.md, "The pipeline
 * policy"): its config errors name their JSON path; on a real wordcount the
 * test starts itself, with its operators in the test's own cpu cgroups (v1
 * or v2, each operator's path in another form the config takes),
 * ds2 meets a raised rate again within DS2's budget of reconfigurations and
 * within the CPU budget; exploration off is stable; a SIGKILLed daemon's
 * quotas are restored from the journal at the restart before it manages
 * again, from its checkpoint; a corrupt or mismatched checkpoint is refused
 * and the agent starts fresh; SIGTERM restores every quota and nothing is
 * left behind; an operator's cgroup mounted outside /sys/fs/cgroup is
 * refused by path.
 */
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include "daemon/config.h"
#include "pp_util.h"

/* ---- the config (no root) ------------------------------------------------ */

static void refused(const char *policy, const char *ops, const char *want)
{
	char text[4096], top[1024];

	cr_assert_not_null(getcwd(top, sizeof(top)));
	snprintf(text, sizeof(text), "{\"state_dir\": \"/tmp/kptpp-none\", \"operators\": [%s], "
		 "\"policies\": [{\"name\": \"wc\", \"kind\": \"pipeline\", %s}]}", ops, policy);
	/* the description by absolute path: the test binary has no tools/profiles beside it */
	for (char *p = strstr(text, "@WC@"); p; p = strstr(text, "@WC@")) {
		char rest[4096];

		snprintf(rest, sizeof(rest), "%s", p + 4);
		snprintf(p, sizeof(text) - (p - text), "%s/tools/profiles/wordcount.pipeline.json%s",
			 top, rest);
	}
	dm_parse_expect(text, want);
}

#define OPS "{\"name\": \"source\", \"cgroup\": \"a/source\"}, {\"name\": \"split\", " \
	"\"cgroup\": \"a/split\"}, {\"name\": \"count\", \"cgroup\": \"a/count\"}"
#define OPS4 OPS ", {\"name\": \"sink\", \"cgroup\": \"a/sink\"}"
#define NAMES "\"operators\": [\"source\", \"split\", \"count\", \"sink\"]"
#define WCP "\"pipeline\": \"@WC@\""
#define FILE_SRC "\"rates\": {\"file\": \"/tmp/r.jsonl\"}"

Test(policy_pipeline, config_errors_name_the_json_path)
{
	refused(WCP ", " NAMES ", " FILE_SRC, OPS4, NULL);
	refused(WCP ", \"operators\": [\"source\", \"split\", \"count\", \"nope\"], " FILE_SRC,
		OPS4, "k.json: $.policies[0].operators[3]: 'nope' is not an operator of $.operators");
	refused(WCP ", " NAMES ", " FILE_SRC, OPS ", {\"name\": \"sink\", \"pids\": [1]}",
		"$.policies[0].operators[3]: operator 'sink' is given by pids: a pipeline operator "
		"needs a cgroup");
	refused(WCP ", \"operators\": [\"source\", \"split\", \"count\"], " FILE_SRC, OPS4,
		"$.policies[0].operators: the pipeline's operator 'sink' is not listed");
	refused(WCP ", " NAMES ", " FILE_SRC ", \"budget_cores\": 0", OPS4,
		"$.policies[0].budget_cores: 0: the CPU budget must be > 0 cores");
	refused(WCP ", " NAMES ", " FILE_SRC ", \"budget_cores\": -1.5", OPS4,
		"$.policies[0].budget_cores: -1.5: the CPU budget must be > 0 cores");
	refused(WCP ", " NAMES ", " FILE_SRC ", \"budget_cores\": 0.1", OPS4,
		"$.policies[0].budget_cores: 0.1 cores cannot give 4 operators 0.05 core each");
	refused(WCP ", " NAMES, OPS4, "$.policies[0].rates: missing");
	refused(WCP ", " NAMES ", \"rates\": {}", OPS4,
		"$.policies[0].rates: give exactly one of \"file\"");
	refused(WCP ", " NAMES ", \"rates\": {\"file\": \"r.jsonl\"}", OPS4,
		"$.policies[0].rates: file 'r.jsonl' is not an absolute path");
	refused(WCP ", " NAMES ", \"rates\": {\"fifo\": \"/r\"}", OPS4,
		"$.policies[0].rates.fifo: unknown key");
	refused(WCP ", " NAMES ", \"rates\": {\"prometheus\": \"http://10.1.2.3:9100/metrics\", "
		"\"metrics\": {\"in\": \"x\"}}", OPS4,
		"$.policies[0].rates: prometheus: '10.1.2.3': only a numeric 127.x.x.x address");
	refused(WCP ", " NAMES ", \"rates\": {\"prometheus\": \"http://127.0.0.1:9100/metrics\"}",
		OPS4, "$.policies[0].rates.metrics: missing");
	refused(WCP ", " NAMES ", \"rates\": {\"prometheus\": \"http://127.0.0.1:9100/metrics\", "
		"\"metrics\": {\"in\": \"wc_in_total\", \"label\": \"op\"}}", OPS4, NULL);
	refused(WCP ", " NAMES ", " FILE_SRC ", \"agent\": \"ppo\"", OPS4,
		"$.policies[0]: agent \"ppo\": a pipeline policy has ds2, random");
	refused(WCP ", " NAMES ", " FILE_SRC ", \"budget\": 1", OPS4,
		"$.policies[0]: unknown member \"budget\" for a pipeline policy");
	refused(NAMES ", " FILE_SRC, OPS4, "$.policies[0]: give exactly one of \"pipeline\"");
	refused("\"pipeline\": \"no-such-profile\", " NAMES ", " FILE_SRC, OPS4,
		"$.policies[0].pipeline: 'no-such-profile' is neither an absolute path nor a profile");
	refused(NAMES ", " FILE_SRC ", \"budget_cores\": 1, \"edges\": [[\"source\", \"split\"], "
		"[\"split\", \"count\"], [\"count\", \"sink\"]]", OPS4, NULL);
	refused(NAMES ", " FILE_SRC ", \"budget_cores\": 1, \"edges\": [[\"source\", \"split\"], "
		"[\"split\", \"source\"]]", OPS4, "$.policies[0].edges: the inline pipeline: $.edges");
	refused(NAMES ", " FILE_SRC ", \"edges\": [[\"source\", \"split\"]]", OPS4,
		"$.policies[0]: an inline DAG needs \"budget_cores\"");
}

/* ---- a real pipeline and a real daemon (root) ---------------------------- */

static void start_daemon(void)
{
	dm_start(&dm);
}

/* Until the policy has reconfigured at least n times in total (up to s seconds, pp_secs). */
static void wait_reconf(long long n, int s)
{
	for (int i = 0; i < pp_secs(s) * 4 && pp_reconf() < n; i++)
		usleep(250000);
	cr_assert_geq(pp_reconf(), n, "the policy reconfigured %lld times in %d s, not %lld "
		      "(log %s)", pp_reconf(), pp_secs(s), n, dm.log);
}

static void stop_and_check(void)
{
	cr_assert_eq(dm_stop(&dm, SIGTERM), 0, "kpilot run did not exit 0 on SIGTERM");
	pp_assert_originals();
	cr_assert(pp_log_has("every knob the policies changed is restored", 0));
	pp_stop_wc();
}

TestSuite(policy_pipeline_run, .init = pp_need_cgroup, .fini = pp_fini, .timeout = 120);

/*
 * A rate step 500 -> 1500/s. DS2's budget: 3 reconfigurations (Kalavri et
 * al. converge in at most three steps; here the first jumps to the new
 * target with the measured per-record cost, the others absorb the noise of
 * a shared machine and the 0.05-core grid). utilisation 0.8: headroom for
 * the other tenants of this machine.
 */
Test(policy_pipeline_run, ds2_meets_a_raised_rate_within_its_budget)
{
	long long r0;

	dm_init(&dm, "{}");
	pp_start_wc(500, false);
	pp_config("ds2", "\"utilisation\": 0.8");
	start_daemon();
	wait_reconf(1, 15);
	cr_assert(pp_wait_met(500, 4, 20), "500/s (%d/s) not met (log %s)", pp_rate(500), dm.log);
	r0 = pp_reconf();
	pp_set_rate(1500);
	cr_assert(pp_wait_met(1500, 4, 25), "1500/s (%d/s) not met again (log %s)", pp_rate(1500),
		  dm.log);
	cr_assert_leq(pp_reconf() - r0, 3, "%lld reconfigurations to meet 1500/s, DS2's budget "
		      "is 3 (log %s)", pp_reconf() - r0, dm.log);
	pp_assert_budget(1.0);
	stop_and_check();
}

/* exploration off: no reconfiguration at a steady rate once sized; random explores otherwise. */
Test(policy_pipeline_run, exploration_off_is_stable)
{
	long long r, u;
	json_t *st;

	dm_init(&dm, "{}");
	pp_start_wc(800, false);
	pp_config("ds2", "\"exploration\": \"off\", \"utilisation\": 0.7");
	start_daemon();
	wait_reconf(1, 15);
	cr_assert(pp_wait_met(800, 4, 20), "800/s (%d/s) not met (log %s)", pp_rate(800), dm.log);
	/* sized: DS2's window (3 intervals) holds only intervals under its own quotas */
	r = pp_reconf();
	for (int quiet = 0, i = 0; quiet < 4 && i < pp_secs(20); i++, sleep(1))
		quiet = pp_reconf() == r ? quiet + 1 : (r = pp_reconf(), 0);
	pp_wait_updates(pp_count("agent_updates"), 8, 12);
	if (pp_reconf() != r) {
		char cmd[256];

		snprintf(cmd, sizeof(cmd), "grep 'policy wc: .*reconfiguration' %s >&2", dm.log);
		if (system(cmd))
			cr_log_info("no reconfiguration lines in %s", dm.log);
	}
	cr_assert_eq(pp_reconf(), r, "ds2 with exploration off reconfigured %lld times in 8 "
		     "steady intervals (log %s)", pp_reconf() - r, dm.log);
	cr_assert_eq(dm_stop(&dm, SIGTERM), 0);
	pp_assert_originals();

	/* random explores: a new split nearly every interval ... */
	pp_config("random", "\"deadband\": 0.05");
	start_daemon();
	u = pp_count("agent_updates");
	for (int i = 0; i < pp_secs(7) * 4 && pp_reconf() < 3; i++)
		usleep(250000);
	cr_assert_geq(pp_reconf(), 3, "random with exploration on made %lld changes in %lld "
		      "intervals", pp_reconf(), pp_count("agent_updates") - u);
	cr_assert_eq(dm_stop(&dm, SIGTERM), 0);
	/* ... and with it off keeps the best split its checkpoint holds */
	pp_config("random", "\"deadband\": 0.05, \"exploration\": false");
	start_daemon();
	st = pp_state();
	cr_assert_str_eq(json_string_value(json_object_get(st, "checkpoint_at_start")), "loaded");
	json_decref(st);
	pp_wait_updates(pp_count("agent_updates"), 3, 5);
	r = pp_reconf();
	cr_assert_leq(r, 1, "random with exploration off: %lld changes to reach its best", r);
	pp_wait_updates(pp_count("agent_updates"), 5, 8);
	cr_assert_eq(pp_reconf(), r, "random with exploration off kept changing");
	pp_assert_budget(1.0);
	stop_and_check();
}

Test(policy_pipeline_run, sigkill_then_restart_restores_first_then_manages_from_checkpoint)
{
	char ckpt[256];
	long off;

	dm_init(&dm, "{}");
	pp_start_wc(800, false);
	/* a long first interval at the restart: the test sees the restored quotas before a step */
	pp_config("ds2", "\"utilisation\": 0.8");
	start_daemon();
	wait_reconf(1, 15);
	snprintf(ckpt, sizeof(ckpt), "%s/state/policies/wc.ckpt", dm.dir);
	for (int i = 0; i < pp_secs(40) && access(ckpt, F_OK); i++)
		usleep(250000);
	cr_assert_eq(access(ckpt, F_OK), 0, "no checkpoint after 2 updates: %s", ckpt);
	cr_assert_neq(pp_quota(2), PP_ORIG, "count still has its original quota");
	dm_stop(&dm, SIGKILL);
	cr_assert_neq(pp_quota(2), PP_ORIG, "a SIGKILLed daemon restored nothing, yet it did");
	off = pp_log_size();
	pp_interval_ms = 3000;
	pp_config("ds2", "\"utilisation\": 0.8");
	start_daemon();
	pp_assert_originals();
	cr_assert(pp_log_has("did not finish: undoing its", off), "no journal replay in %s", dm.log);
	cr_assert(pp_log_has("ds2 agent state loaded from", off), "checkpoint not loaded (%s)",
		  dm.log);
	wait_reconf(1, 15);
	cr_assert(pp_log_has("ds2 reconfiguration 1", off));
	cr_assert_neq(pp_quota(2), PP_ORIG, "not managed again after the restart");
	pp_assert_budget(1.0);
	stop_and_check();
}

Test(policy_pipeline_run, corrupt_or_mismatched_checkpoint_is_refused_and_starts_fresh)
{
	char ckpt[256], dir[200];
	json_t *st;
	long off;

	dm_init(&dm, "{}");
	pp_start_wc(800, false);
	snprintf(dir, sizeof(dir), "%s/state", dm.dir);
	mkdir(dir, 0700);
	snprintf(dir, sizeof(dir), "%s/state/policies", dm.dir);
	mkdir(dir, 0700);
	snprintf(ckpt, sizeof(ckpt), "%s/wc.ckpt", dir);
	dm_write(ckpt, "KPCK this is no checkpoint\n");
	pp_config("ds2", "");
	start_daemon();
	cr_assert(pp_log_has("checkpoint ", 0) && pp_log_has("refused: not a checkpoint, "
		  "truncated or corrupt; the ds2 agent starts fresh", 0), "log %s", dm.log);
	st = pp_state();
	cr_assert(!strncmp(json_string_value(json_object_get(st, "checkpoint_at_start")),
			   "refused", 7));
	json_decref(st);
	wait_reconf(1, 15);		/* fresh, it still works */
	cr_assert_eq(dm_stop(&dm, SIGTERM), 0);
	/* a ds2 checkpoint now; a random policy of the same name refuses it */
	off = pp_log_size();
	pp_config("random", "");
	start_daemon();
	cr_assert(pp_log_has("refused: it holds a ds2 agent of 4 operators; this policy has a "
			     "random agent of 4; the random agent starts fresh", off), "log %s",
		  dm.log);
	stop_and_check();
}

/* A FIFO as the rate source; SIGTERM restores every quota; nothing left behind. */
Test(policy_pipeline_run, fifo_source_and_sigterm_leave_nothing_behind)
{
	char p[256];
	int rfd;

	dm_init(&dm, "{}");
	rfd = pp_start_wc(800, true);
	pp_config("ds2", "");
	start_daemon();
	close(rfd);		/* the daemon's read end holds the FIFO now */
	wait_reconf(1, 15);
	pp_assert_knobs();
	pp_assert_budget(1.0);
	cr_assert_eq(dm_stop(&dm, SIGTERM), 0);
	pp_assert_originals();
	/* the launcher's stdout lost its reader: it drains and exits by itself */
	for (int i = 0; i < pp_secs(100) && waitpid(wc.launcher, NULL, WNOHANG) != wc.launcher; i++)
		usleep(100000);
	cr_assert_eq(kill(wc.launcher, 0), -1, "wordcount still runs");
	wc.launcher = 0;
	snprintf(p, sizeof(p), "%s/%s", pp_root, wc.cg);
	pp_stop_wc();
	cr_assert_eq(access(p, F_OK), -1, "%s is still there", p);
	for (int i = 0; i < 4; i++)
		cr_assert(kill(wc.op[i], 0) == -1 && errno == ESRCH, "operator %s (pid %d) still runs",
			  pp_ops[i], (int)wc.op[i]);
}

/*
 * A cgroup directory outside /sys/fs/cgroup (cgroup2 mounted again in a
 * private mount namespace: the host's empty unified hierarchy, or the
 * guest's own): the observer takes the operators, no knob can name them,
 * so the policy's start refuses them by path and the daemon exits.
 */
static char elsewhere[128];

static void elsewhere_fini(void)
{
	char p[300];

	for (int i = 0; i < 4 && pp_cg_base[0]; i++) {
		snprintf(p, sizeof(p), "%s/%s", pp_cg_base, pp_ops[i]);
		rmdir(p);
	}
	if (pp_cg_base[0])
		rmdir(pp_cg_base);
	if (elsewhere[0])
		umount2(elsewhere, MNT_DETACH);
}

Test(policy_pipeline_run, a_cgroup_mounted_elsewhere_is_refused_by_path, .fini = elsewhere_fini)
{
	char cmd[512], p[300], want[400];
	int rc;

	dm_init(&dm, "{}");
	cr_assert_eq(unshare(CLONE_NEWNS), 0, "unshare: %s", strerror(errno));
	cr_assert_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	snprintf(elsewhere, sizeof(elsewhere), "%s/cg", dm.dir);
	cr_assert_eq(mkdir(elsewhere, 0755), 0);
	if (mount("none", elsewhere, "cgroup2", 0, NULL)) {
		elsewhere[0] = '\0';
		cr_skip_test("cannot mount cgroup2: %s", strerror(errno));
	}
	snprintf(pp_cg_base, sizeof(pp_cg_base), "%s/kptppx.%d", elsewhere, (int)getpid());
	cr_assert_eq(mkdir(pp_cg_base, 0755), 0, "%s: %s", pp_cg_base, strerror(errno));
	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/%s", pp_cg_base, pp_ops[i]);
		cr_assert_eq(mkdir(p, 0755), 0, "%s: %s", p, strerror(errno));
	}
	snprintf(wc.rep, sizeof(wc.rep), "%s/reports", dm.dir);
	dm_write(wc.rep, "");
	pp_config("ds2", "");
	snprintf(cmd, sizeof(cmd), "timeout %d " KPILOT " run --config %s --socket %s >>%s 2>&1",
		 pp_secs(60), dm.cfg, dm.sock, dm.log);
	rc = system(cmd);
	cr_assert(WIFEXITED(rc) && WEXITSTATUS(rc) != 0 && WEXITSTATUS(rc) != 124,
		  "kpilot run with a cgroup outside /sys/fs/cgroup: status %d (log %s)", rc, dm.log);
	snprintf(want, sizeof(want), "operator source: cgroup '%s/source' is not under "
		 "/sys/fs/cgroup", pp_cg_base);
	cr_assert(pp_log_has(want, 0), "no '%s' in %s", want, dm.log);
}

/* ---- a Prometheus rate source: the test serves counters at 700 records/s ---- */

static int prom_fd = -1;
static double prom_t0;

static double mono(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void *prom_serve(void *arg)
{
	(void)arg;
	for (;;) {
		char req[2048], body[2048], out[2560];
		int c = accept(prom_fd, NULL, NULL), k = 0;
		double n;

		if (c < 0)
			return NULL;
		if (read(c, req, sizeof(req)) <= 0) {
			close(c);
			continue;
		}
		n = 700 * (mono() - prom_t0);
		k += snprintf(body + k, sizeof(body) - k, "# TYPE wc_records_in_total counter\n");
		for (int i = 0; i < 4; i++)
			k += snprintf(body + k, sizeof(body) - k,
				      "wc_records_in_total{job=\"wc\",operator=\"%s\"} %.0f\n"
				      "wc_records_out_total{operator=\"%s\",job=\"wc\"} %.0f\n",
				      pp_ops[i], n, pp_ops[i], i == 3 ? 0 : n);
		k += snprintf(body + k, sizeof(body) - k, "# TYPE wc_target gauge\nwc_target 700\n");
		k = snprintf(out, sizeof(out), "HTTP/1.0 200 OK\r\nContent-Type: text/plain; "
			     "version=0.0.4\r\nContent-Length: %d\r\n\r\n%s", k, body);
		if (write(c, out, (size_t)k) != k)
			cr_log_info("prometheus stand-in: short write");
		close(c);
	}
}

Test(policy_pipeline_run, prometheus_counters_become_rates)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	pthread_t th;
	json_t *st, *op;

	prom_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(prom_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(prom_fd, 8), 0);
	getsockname(prom_fd, (struct sockaddr *)&sa, &sl);
	prom_t0 = mono();
	cr_assert_eq(pthread_create(&th, NULL, prom_serve, NULL), 0);
	dm_init(&dm, "{}");
	pp_start_wc(700, false);
	snprintf(pp_rates, sizeof(pp_rates), "{\"prometheus\": \"http://127.0.0.1:%u/metrics\", "
		 "\"metrics\": {\"in\": \"wc_records_in_total\", \"out\": \"wc_records_out_total\", "
		 "\"target\": \"wc_target\"}}", ntohs(sa.sin_port));
	pp_config("ds2", "");
	start_daemon();
	wait_reconf(1, 15);
	for (int i = 0; i < pp_secs(3) * 10 && pp_count("reports") < 3; i++)
		usleep(100000);
	st = pp_state();
	cr_assert_eq(pp_num(st, "target"), 700, "target %g", pp_num(st, "target"));
	/* one scrape per interval; the first only sets the counters' base */
	cr_assert_geq(pp_num(st, "reports"), 3, "%g scrapes folded", pp_num(st, "reports"));
	op = json_array_get(json_object_get(st, "operators"), 1);
	cr_assert(pp_num(op, "in") > 600 && pp_num(op, "in") < 800, "split in %g/s from counters "
		  "growing 700/s", pp_num(op, "in"));
	cr_assert(pp_num(op, "out") > 600 && pp_num(op, "out") < 800);
	json_decref(st);
	pp_assert_budget(1.0);
	stop_and_check();
	shutdown(prom_fd, SHUT_RDWR);
	close(prom_fd);
	pthread_join(th, NULL);
}
