// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's replicas policy (Documentation/daemon.md, "The replicas
 * policy"): its config errors name their JSON path; on three replica
 * processes the test forks itself in a private network namespace (one port,
 * SO_REUSEPORT, each in its own cpu cgroup, v1 or v2, with its own quota) under a
 * client's connections, a real `kpilot run` attaches the steering, the DQN
 * moves the weights knob within its bounds (read back from the pinned maps),
 * status and /stats show the agent's figures, a checkpoint is written and
 * loaded at the restart (a corrupt one refused, the agent fresh), SIGTERM
 * puts the kernel's default back with the service answering, a SIGKILLed
 * daemon leaves the service answering and its next start's journal replay
 * puts the default back first. Nothing is left behind.
 */
#include <sched.h>
#include <sys/time.h>
#include "actuate/steer.h"
#include "daemon/config.h"
#include "daemon_util.h"

/* ---- the config (no root) ------------------------------------------------ */

static void refused(const char *policy, const char *want)
{
	char text[4096];

	snprintf(text, sizeof(text), "{\"state_dir\": \"/tmp/kptrp-none\", \"interval_ms\": 250, \"operators\": ["
		 "{\"name\": \"r0\", \"pids\": [10]}, {\"name\": \"r1\", \"pids\": [11]}, "
		 "{\"name\": \"two\", \"pids\": [12, 13]}, {\"name\": \"cg\", \"cgroup\": \"a/b\"}], "
		 "\"policies\": [{\"name\": \"lb\", \"kind\": \"replicas\", %s}]}", policy);
	dm_parse_expect(text, want);
}

#define SVC "\"service\": \"web\", \"port\": 8080"
#define REPS "\"replicas\": [\"r0\", \"r1\"]"

Test(policy_replicas, config_errors_name_the_json_path)
{
	refused(SVC ", " REPS, NULL);
	refused(SVC ", \"replicas\": [\"r0\", \"cg\"], \"agent\": \"prequal\", \"exploration\": "
		"\"off\", \"checkpoint_every\": 10, \"delta\": 20", NULL);
	refused("\"port\": 8080, " REPS, "k.json: $.policies[0].service: missing");
	refused("\"service\": \"a b\", \"port\": 1, " REPS,
		"$.policies[0]: service 'a b': 1-63 characters of [A-Za-z0-9_-]");
	refused("\"service\": \"web\", " REPS, "$.policies[0].port: missing");
	refused("\"service\": \"web\", \"port\": 70000, " REPS, "$.policies[0].port");
	refused(SVC, "$.policies[0]: a replicas policy needs \"replicas\"");
	refused(SVC ", \"replicas\": \"r0\"", "$.policies[0].replicas: expected an array");
	refused(SVC ", \"replicas\": [\"r0\"]",
		"$.policies[0].replicas: 1 replicas: a replicas policy steers 2-8");
	refused(SVC ", \"replicas\": [\"r0\", \"nope\"]",
		"$.policies[0].replicas[1]: 'nope' is not an operator of $.operators");
	refused(SVC ", \"replicas\": [\"r0\", 3]", "$.policies[0].replicas[1]: expected an "
		"operator name");
	refused(SVC ", \"replicas\": [\"r0\", \"r0\"]",
		"$.policies[0].replicas[1]: 'r0' is already $.policies[0].replicas[0]");
	refused(SVC ", \"replicas\": [\"r0\", \"two\"]",
		"$.policies[0].replicas[1]: operator 'two' has 2 pids: a replica is one process");
	refused(SVC ", " REPS ", \"agent\": \"ppo\"",
		"$.policies[0]: agent \"ppo\": a replicas policy has dqn, prequal, random");
	refused(SVC ", " REPS ", \"delta\": 500", "$.policies[0].delta");
	refused(SVC ", " REPS ", \"interval_ms\": 500",
		"$.policies[0]: interval_ms 500: the weights knob takes one change a second");
	refused(SVC ", " REPS ", \"checkpoint_every\": 5, \"save_every\": 5",
		"$.policies[0]: give \"checkpoint_every\" or \"save_every\", not both");
	refused(SVC ", " REPS ", \"batch_size\": 100, \"buffer_size\": 50",
		"$.policies[0]: batch_size 100 is larger than buffer_size 50");
	refused(SVC ", " REPS ", \"netns\": \"x\"",
		"$.policies[0]: unknown member \"netns\" for a replicas policy");
	refused(SVC ", " REPS ", \"exploration\": 1", "$.policies[0].exploration: expected");
}

/* ---- three replicas, a client, a real daemon (root) --------------------- */

#define PORT	7431
#define NREP	3
#define CG_ROOT	"/sys/fs/cgroup/cpu"
#define CG2_ROOT "/sys/fs/cgroup"

static struct {
	pid_t rep[NREP], cli;
	char svc[32], cg[96];
	struct dm d;
	bool up;
	int cgv;		/* 1: the v1 cpu hierarchy (this host), 2: cgroup2 (the guests) */
} rig;

/* ~1 ms of this process's own CPU time: a request's work. */
static void work(void)
{
	struct timespec a, b;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
	do
		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000000L + b.tv_nsec - a.tv_nsec < 1000000);
}

static void serve(int slot, int lfd)
{
	char b = (char)('0' + slot);

	for (;;) {
		int c = accept(lfd, NULL, NULL);

		if (c < 0)
			continue;
		work();
		if (write(c, &b, 1) != 1)
			(void)0;
		close(c);
	}
}

/* One connection: the replica that answered, or -1. */
static int ask(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 3 };
	int fd = socket(AF_INET, SOCK_STREAM, 0), r = -1;
	char b;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (!connect(fd, (struct sockaddr *)&a, sizeof(a)) && read(fd, &b, 1) == 1)
		r = b - '0';
	close(fd);
	return r;
}

/* About 80 connections a second, one at a time. */
static void client(void)
{
	for (;;) {
		ask();
		usleep(12000);
	}
}

static int listener(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(PORT),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 256))
		return -1;
	return fd;
}

static void cg_put(int i, const char *file, long long v)
{
	char p[160], t[32];

	snprintf(p, sizeof(p), "%s/r%d/%s", rig.cg, i, file);
	snprintf(t, sizeof(t), "%lld", v);
	dm_write(p, t);
}

/* v1 where its cpu hierarchy exists, else cgroup2 with the cpu controller, else skip. */
static void cg_detect(void)
{
	char *c;

	if (!access(CG_ROOT "/cpu.cfs_quota_us", F_OK)) {
		rig.cgv = 1;
		return;
	}
	c = tu_slurp(CG2_ROOT "/cgroup.controllers");
	rig.cgv = c && (strstr(c, "cpu ") || strstr(c, "cpu\n")) ? 2 : 0;
	free(c);
	if (!rig.cgv)
		cr_skip_test("no cgroup v1 cpu hierarchy at " CG_ROOT " and no cpu controller in "
			     CG2_ROOT);
}

/* Replica i's quota at a 10 ms period, and its process moved in. */
static void cg_replica(int i, long long quota_us, pid_t pid)
{
	char p[160], t[48];

	if (rig.cgv == 1) {
		cg_put(i, "cpu.cfs_period_us", 10000);
		cg_put(i, "cpu.cfs_quota_us", quota_us);
		cg_put(i, "tasks", pid);
		return;
	}
	snprintf(p, sizeof(p), "%s/r%d/cpu.max", rig.cg, i);
	snprintf(t, sizeof(t), "%lld 10000", quota_us);
	dm_write(p, t);
	cg_put(i, "cgroup.procs", pid);
}

/* Quotas 0.5, 0.25 and 0.1 cores at a 10 ms period: replica 0 is the fast one. */
static void rig_start(void)
{
	static const long long quota_us[NREP] = { 5000, 2500, 1000 };
	char p[160];

	dm_need_root();
	cg_detect();
	if (unshare(CLONE_NEWNET) || system("ip link set lo up"))
		cr_skip_test("no private network namespace: %s", strerror(errno));
	snprintf(rig.svc, sizeof(rig.svc), "t-rpl-%d", (int)getpid());
	snprintf(rig.cg, sizeof(rig.cg), "%s/kptest-rpl-%d", rig.cgv == 1 ? CG_ROOT : CG2_ROOT,
		 (int)getpid());
	if (rig.cgv == 2)
		dm_write(CG2_ROOT "/cgroup.subtree_control", "+cpu");
	cr_assert_eq(mkdir(rig.cg, 0755), 0, "%s: %s", rig.cg, strerror(errno));
	rig.up = true;
	if (rig.cgv == 2) {
		snprintf(p, sizeof(p), "%s/cgroup.subtree_control", rig.cg);
		dm_write(p, "+cpu");
	}
	for (int i = 0; i < NREP; i++) {
		int fd = listener();

		snprintf(p, sizeof(p), "%s/r%d", rig.cg, i);
		cr_assert_eq(mkdir(p, 0755), 0, "%s: %s", p, strerror(errno));
		cr_assert_geq(fd, 0, "replica %d listener: %s", i, strerror(errno));
		rig.rep[i] = fork();
		cr_assert_geq(rig.rep[i], 0);
		if (!rig.rep[i])
			serve(i, fd);
		close(fd);
		cg_replica(i, quota_us[i], rig.rep[i]);
	}
	rig.cli = fork();
	cr_assert_geq(rig.cli, 0);
	if (!rig.cli)
		client();
}

static void rig_stop(void)
{
	char why[256], p[160];
	struct stat st;

	if (!rig.up)
		return;
	dm_cleanup(&rig.d);
	if (rig.cli > 0) {
		kill(rig.cli, SIGKILL);
		waitpid(rig.cli, NULL, 0);
	}
	kp_steer_detach(rig.svc, why, sizeof(why));
	for (int i = 0; i < NREP; i++) {
		if (rig.rep[i] > 0) {
			kill(rig.rep[i], SIGKILL);
			waitpid(rig.rep[i], NULL, 0);
		}
		snprintf(p, sizeof(p), "%s/r%d", rig.cg, i);
		rmdir(p);
	}
	cr_expect_eq(rmdir(rig.cg), 0, "%s left behind: %s", rig.cg, strerror(errno));
	snprintf(p, sizeof(p), KP_STEER_PIN_ROOT "/%s", rig.svc);
	cr_expect_neq(stat(p, &st), 0, "%s left behind", p);
}

static void rig_config(const char *extra)
{
	char conf[2048];

	snprintf(conf, sizeof(conf),
		 "{\"state_dir\": \"%s/state\", \"interval_ms\": 250,\n"
		 " \"http\": {\"listen\": \"127.0.0.1:0\"},\n"
		 " \"operators\": [{\"name\": \"r0\", \"pids\": [%d]}, {\"name\": \"r1\", "
		 "\"pids\": [%d]}, {\"name\": \"r2\", \"pids\": [%d]}],\n"
		 " \"policies\": [{\"name\": \"lb\", \"kind\": \"replicas\", \"service\": \"%s\",\n"
		 "   \"port\": %d, \"replicas\": [\"r0\", \"r1\", \"r2\"], \"interval_ms\": 1000,\n"
		 "   \"learning_starts\": 3, \"batch_size\": 4, \"checkpoint_every\": 2%s}]}\n",
		 rig.d.dir, (int)rig.rep[0], (int)rig.rep[1], (int)rig.rep[2], rig.svc, PORT, extra);
	dm_write(rig.d.cfg, conf);
}

/* The policy's "state" object (caller's). */
static json_t *pol_state(void)
{
	json_t *s = dm_status(&rig.d), *pols = json_object_get(s, "policies"), *st;

	cr_assert(json_is_array(pols) && json_array_size(pols) == 1, "no policies in status");
	st = json_incref(json_object_get(json_array_get(pols, 0), "state"));
	cr_assert_not_null(st, "no state for the policy");
	json_decref(s);
	return st;
}

static long long st_int(const char *key)
{
	json_t *st = pol_state();
	long long v = json_integer_value(json_object_get(st, key));

	json_decref(st);
	return v;
}

/* The weights in the pinned maps: n of them in [1, 1000], summing to 3 x 200. */
static void assert_weights(char *text, size_t len)
{
	unsigned int w[NREP], sum = 0;

	cr_assert_eq(kp_steer_read(rig.svc, text, len), 0);
	cr_assert_eq(sscanf(text, "%u %u %u", &w[0], &w[1], &w[2]), NREP, "weights '%s'", text);
	for (int i = 0; i < NREP; i++) {
		cr_assert(w[i] >= 1 && w[i] <= 1000, "weight %u out of [1, 1000]: '%s'", w[i], text);
		sum += w[i];
	}
	cr_assert_eq(sum, NREP * 200, "a move keeps the sum: '%s'", text);
}

/* The log has needle after its first off bytes. */
/* The policy attaches in mode hash at start, then sets equal weights at its first step. */
static void wait_weights(char *text, size_t len)
{
	for (int i = 0; i < 50 && !kp_steer_read(rig.svc, text, len) && !strcmp(text, "default");
	     i++)
		usleep(100000);
	assert_weights(text, len);
}

static bool log_has(size_t off, const char *needle)
{
	char *t = tu_slurp(rig.d.log);
	bool yes = t && strlen(t) >= off && strstr(t + off, needle);

	free(t);
	return yes;
}

static size_t log_len(void)
{
	struct stat st;

	return stat(rig.d.log, &st) ? 0 : (size_t)st.st_size;
}

static void assert_default_and_answering(const char *when)
{
	char text[128], p[160];
	struct stat st;

	cr_assert_eq(kp_steer_read(rig.svc, text, sizeof(text)), 0);
	cr_assert_str_eq(text, "default", "%s: steering '%s', not the default", when, text);
	snprintf(p, sizeof(p), KP_STEER_PIN_ROOT "/%s", rig.svc);
	cr_assert_neq(stat(p, &st), 0, "%s: %s still pinned", when, p);
	for (int i = 0; i < 10; i++)
		cr_assert_geq(ask(), 0, "%s: connection %d not answered", when, i);
}

TestSuite(policy_replicas_run, .fini = rig_stop, .timeout = 150);

/* Status after some learning: the agent's figures, per replica; its steps. */
static long long assert_learnt(void)
{
	json_t *st = pol_state(), *o;
	long long steps;

	cr_assert_geq(json_integer_value(json_object_get(st, "dqn_updates")), 4, "log %s",
		      rig.d.log);
	cr_assert_gt(json_integer_value(json_object_get(st, "buffer_size")), 3);
	cr_assert_lt(json_real_value(json_object_get(st, "epsilon")), 1.0);
	cr_assert(json_is_real(json_object_get(st, "avg_recent_reward")));
	o = json_object_get(st, "replicas");
	cr_assert_eq(json_array_size(o), NREP);
	cr_assert_gt(json_integer_value(json_object_get(json_array_get(o, 0), "pid")), 0);
	cr_assert_eq(json_array_size(json_object_get(st, "weights")), NREP);
	steps = json_integer_value(json_object_get(st, "steps_done"));
	json_decref(st);
	return steps;
}

/* /stats: the seed's names; a checkpoint (every 2 updates) on disk. */
static void assert_stats_and_checkpoint(void)
{
	char *body = NULL, ck[160];
	json_t *o, *st;

	cr_assert_eq(http_get(rig.d.port, "/stats", &body), 200);
	o = json_loads(body, 0, NULL);
	free(body);
	cr_assert_not_null(o);
	st = json_array_get(json_object_get(o, "policies"), 0);
	cr_assert(json_is_real(json_object_get(st, "epsilon")));
	cr_assert(json_is_integer(json_object_get(st, "steps_done")));
	cr_assert_gt(json_integer_value(json_object_get(st, "buffer_size")), 0);
	cr_assert(json_is_real(json_object_get(st, "avg_recent_reward")));
	cr_assert(strstr(json_string_value(json_object_get(st, "model_path")), "policies/lb.ckpt"));
	json_decref(o);
	snprintf(ck, sizeof(ck), "%s/state/policies/lb.ckpt", rig.d.dir);
	cr_assert_eq(access(ck, F_OK), 0, "no checkpoint %s", ck);
}

/* `kpilot ctl status`, as a person reads it: the program, the weights, the agent, each replica. */
static void assert_ctl_status(void)
{
	char cmd[256], out[4096] = "";
	FILE *f;
	size_t n;

	snprintf(cmd, sizeof(cmd), KPILOT " ctl --socket %s status", rig.d.sock);
	f = popen(cmd, "r");
	cr_assert_not_null(f);
	n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = '\0';
	cr_assert_eq(pclose(f), 0, "%s: %s", cmd, out);
	cr_assert(strstr(out, "steering:   sk_reuseport t-rpl-") && strstr(out, " program, weights ")
		  && strstr(out, "agent:      epsilon 0.") && strstr(out, ", buffer ") &&
		  strstr(out, "replica:    r2 (pid "), "ctl status said:\n%s", out);
}

/* ctl rollback: the default back, the policy paused; resume attaches again. */
static void rollback_and_resume(void)
{
	json_t *req = json_pack("{s:s, s:s}", "cmd", "resume", "policy", "lb"), *a = NULL, *o;
	char why[256], w[128];

	o = dm_ask(&rig.d, "rollback");
	cr_assert(json_is_true(json_object_get(o, "ok")), "ctl rollback refused");
	json_decref(o);
	assert_default_and_answering("after ctl rollback");
	cr_assert_eq(kp_ctl_request(rig.d.sock, req, &a, why, sizeof(why)), 0, "%s", why);
	cr_assert(json_is_true(json_object_get(a, "ok")), "ctl resume refused");
	json_decref(a);
	json_decref(req);
	wait_weights(w, sizeof(w));
	cr_assert(log_has(0, "is not steered: attaching again"), "log %s", rig.d.log);
}

Test(policy_replicas_run, dqn_steers_checkpoints_and_restores)
{
	char w0[128], w1[128];
	json_t *st;
	long long steps;
	size_t off;

	rig_start();
	dm_init(&rig.d, "{}");
	rig_config("");
	dm_start(&rig.d);
	st = pol_state();
	cr_assert(!strcmp(json_string_value(json_object_get(st, "program")), "migrate") ||
		  !strcmp(json_string_value(json_object_get(st, "program")), "plain"),
		  "program '%s'", json_string_value(json_object_get(st, "program")));
	cr_assert_str_eq(json_string_value(json_object_get(st, "checkpoint_at_start")), "fresh");
	json_decref(st);
	wait_weights(w0, sizeof(w0));
	cr_assert_str_eq(w0, "200 200 200", "equal weights at start");

	/* exploration from epsilon 1: moves nearly every interval, the DQN learning */
	for (int i = 0; i < 60 && (st_int("dqn_updates") < 4 || !strcmp(w0, "200 200 200")); i++) {
		sleep(1);
		assert_weights(w0, sizeof(w0));
	}
	cr_assert_neq(strcmp(w0, "200 200 200"), 0, "the weights never moved (log %s)", rig.d.log);
	steps = assert_learnt();
	assert_stats_and_checkpoint();
	assert_ctl_status();
	cr_assert_eq(dm_stop(&rig.d, SIGTERM), 0, "kpilot run did not exit 0 on SIGTERM");
	assert_default_and_answering("after SIGTERM");

	/* the restart continues from the checkpoint */
	dm_start(&rig.d);
	st = pol_state();
	cr_assert_str_eq(json_string_value(json_object_get(st, "checkpoint_at_start")), "loaded");
	cr_assert_geq(json_integer_value(json_object_get(st, "steps_done")), steps);
	json_decref(st);
	for (int i = 0; i < 20 && st_int("steps_done") <= steps + 1; i++)
		sleep(1);
	assert_weights(w1, sizeof(w1));
	rollback_and_resume();

	/* SIGKILL: the steering stays, the service answers; the next start replays first */
	cr_assert_eq(dm_stop(&rig.d, SIGKILL), 128 + SIGKILL);
	off = log_len();
	assert_weights(w1, sizeof(w1));
	for (int i = 0; i < 10; i++)
		cr_assert_geq(ask(), 0, "after SIGKILL: connection %d not answered", i);
	dm_start(&rig.d);
	cr_assert(log_has(off, "did not finish"), "no journal replay at the restart (log %s)",
		  rig.d.log);
	cr_assert(log_has(off, " -> default"), "the replay did not put the default back (log %s)",
		  rig.d.log);
	wait_weights(w1, sizeof(w1));	/* attached again, equal weights */
	cr_assert_str_eq(w1, "200 200 200");
	cr_assert_eq(dm_stop(&rig.d, SIGTERM), 0);
	assert_default_and_answering("after the second SIGTERM");
}

Test(policy_replicas_run, corrupt_checkpoint_refused_and_production_mode)
{
	char ck[160], w[128];
	json_t *st;

	rig_start();
	dm_init(&rig.d, "{}");
	rig_config(", \"exploration\": \"off\"");
	snprintf(ck, sizeof(ck), "%s/state", rig.d.dir);
	mkdir(ck, 0700);
	snprintf(ck, sizeof(ck), "%s/state/policies", rig.d.dir);
	mkdir(ck, 0700);
	snprintf(ck, sizeof(ck), "%s/state/policies/lb.ckpt", rig.d.dir);
	dm_write(ck, "KPCK this is not a checkpoint");
	dm_start(&rig.d);
	st = pol_state();
	cr_assert(strstr(json_string_value(json_object_get(st, "checkpoint_at_start")),
			 "refused: "), "%s", json_string_value(json_object_get(st,
			 "checkpoint_at_start")));
	json_decref(st);
	cr_assert(log_has(0, "refused"), "the refusal is not logged (log %s)", rig.d.log);
	/* production mode: greedy only, nothing recorded, epsilon 0 */
	sleep(5);
	st = pol_state();
	cr_assert_eq(json_integer_value(json_object_get(st, "buffer_size")), 0);
	cr_assert_eq(json_real_value(json_object_get(st, "epsilon")), 0.0);
	json_decref(st);
	assert_weights(w, sizeof(w));
	cr_assert_eq(dm_stop(&rig.d, SIGTERM), 0);
	assert_default_and_answering("after SIGTERM");
}
