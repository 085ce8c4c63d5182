// SPDX-License-Identifier: GPL-2.0
/*
 * The pipeline environment on the real machine: cgroups made and filled,
 * quotas written through the validator, short tuning sessions of every
 * controller, Ctrl-C, and nothing left behind. Root; from the top of the tree.
 * Every test uses cgroups and a control FIFO named after this process, so
 * that what is left behind is ours to find and remove (in .fini too).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include "actuate/cgroup.h"
#include "env/pipeline/pipectl.h"
#include "env/pipeline/pipeline.h"
#include "env/pipeline/pipeline_desc.h"
#include "../lib/testutil.h"
#include "pipe_fixture.h"

#define WORDCOUNT "build/tools/wordcount/wordcount"
#define KPILOT "./kpilot"
#define V1_CPU "/sys/fs/cgroup/cpu"
#define V1_CPUSET "/sys/fs/cgroup/cpuset"

static char tag[64];		/* kpilot-test-<pid> */
static char tmp[256];	/* state dir, description, results */
static char fifo[256];
static char descpath[PATH_MAX];

static void make_desc(void)
{
	snprintf(descpath, sizeof(descpath), "%s/p.pipeline.json", tmp);
	pf_make_desc(descpath, "wc-test", fifo, tag);
}

/* POSIX shared memory a pipeline or kpilot could have left (wordcount names none). */
static int shm_entries(void)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		n += strstr(de->d_name, "wordcount") || strstr(de->d_name, "kpilot") ||
		     strstr(de->d_name, "wc-");
	if (d)
		closedir(d);
	return n;
}

static int shm_before;

static void setup(void)
{
	pf_need(KPILOT, "these tests use the v1 cpu hierarchy; the v2 test covers v2 hosts");
	pf_names("kpilot-test", tag, tmp, fifo);
	make_desc();
	shm_before = shm_entries();
}

/* Processes whose command line names our FIFO: ours, and must be gone. */
static int our_procs(bool kill_them)
{
	return pf_procs_with(fifo, kill_them);
}


static void assert_nothing_left(void)
{
	cr_expect_eq(shm_entries(), shm_before, "a /dev/shm entry was left behind");
	cr_expect_eq(our_procs(false), 0, "processes of the pipeline are still running");
	cr_expect(!pf_exists(V1_CPU "/%s", tag), "cgroup " V1_CPU "/%s left behind", tag);
	cr_expect(!pf_exists(V1_CPUSET "/%s", tag), "cgroup " V1_CPUSET "/%s left behind", tag);
	cr_expect(!pf_exists("%s", fifo), "control FIFO %s left behind", fifo);
}

static void teardown(void)
{
	static const char *const ops[] = { "source", "split", "count", "sink", "" };
	char p[PATH_MAX + 64], cmd[PATH_MAX + 16];
	int i, k;

	if (!tag[0])
		return;
	our_procs(true);
	usleep(100000);
	for (k = 0; k < 2; k++)
		for (i = 0; i < 5; i++) {
			snprintf(p, sizeof(p), "%s/%s/%s", k ? V1_CPUSET : V1_CPU, tag, ops[i]);
			rmdir(p);
		}
	unlink(fifo);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	tu_system(cmd);
}

TestSuite(pipeline_env, .init = setup, .fini = teardown, .timeout = 60);

static long read_long(const char *dir, const char *file)
{
	char p[PATH_MAX + 64], *s;
	long v;

	snprintf(p, sizeof(p), "%s/%s", dir, file);
	s = tu_slurp(p);
	cr_assert(s, "cannot read %s", p);
	v = strtol(s, NULL, 10);
	free(s);
	return v;
}

static bool procs_has(const char *dir, int pid)
{
	char p[PATH_MAX + 64], *s, *tok, *save = NULL;
	bool found = false;

	snprintf(p, sizeof(p), "%s/cgroup.procs", dir);
	s = tu_slurp(p);
	for (tok = s ? strtok_r(s, "\n", &save) : NULL; tok; tok = strtok_r(NULL, "\n", &save))
		found |= atoi(tok) == pid;
	free(s);
	return found;
}

Test(pipeline_env, operators_get_their_own_v1_cgroups_and_quotas_go_through_the_validator)
{
	struct kp_pipe_opts o = { .state_dir = tmp, .rate = 500 };
	struct kp_pipe_desc d;
	struct kp_pipe_state st;
	struct kp_pipe *e;
	char err[1024], set[PATH_MAX];
	double q[4] = { 0.1, 0.5, 0.8, 0.1 }, over[4] = { 0.6, 0.6, 0.6, 0.6 };
	int i;

	cr_assert_eq(kp_pipe_desc_load(descpath, &d, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(kp_pipe_open(&e, &d, &o, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(kp_pipe_cg_version(e), 1);
	for (i = 0; i < 4; i++) {
		snprintf(set, sizeof(set), V1_CPUSET "/%s", d.ops[i].cgroup);
		cr_expect(procs_has(kp_pipe_op_dir(e, i), kp_pipe_op_pid(e, i)),
			  "%s not in %s", d.ops[i].name, kp_pipe_op_dir(e, i));
		cr_expect(procs_has(set, kp_pipe_op_pid(e, i)), "%s not in %s", d.ops[i].name, set);
		/* a new cgroup starts unlimited */
		cr_expect_eq(read_long(kp_pipe_op_dir(e, i), "cpu.cfs_quota_us"), -1);
	}
	cr_assert_eq(kp_pipe_apply(e, q, "test", err, sizeof(err)), 0, "%s", err);
	for (i = 0; i < 4; i++) {
		cr_expect_eq(read_long(kp_pipe_op_dir(e, i), "cpu.cfs_quota_us"),
			     (long)(q[i] * 100000 + 0.5), "%s", d.ops[i].name);
		cr_expect_eq(read_long(kp_pipe_op_dir(e, i), "cpu.cfs_period_us"), 100000);
	}
	/* 2.4 cores over a budget of 2: refused whole, nothing written */
	usleep(250000);		/* past the knobs' minimum interval */
	cr_expect_eq(kp_pipe_apply(e, over, "test over budget", err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "budget"), "%s", err);
	for (i = 0; i < 4; i++)
		cr_expect_eq(read_long(kp_pipe_op_dir(e, i), "cpu.cfs_quota_us"),
			     (long)(q[i] * 100000 + 0.5));
	/* the state: the counter is the heaviest operator, and it is throttled at 0.8 */
	cr_assert_eq(kp_pipe_step(e, &st, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(kp_pipe_step(e, &st, err, sizeof(err)), 0, "%s", err);
	cr_expect_float_eq(st.target, 500, 1e-9);
	cr_expect_gt(st.op[2].cpu, st.op[1].cpu);
	cr_expect_gt(st.op[2].in, 300);
	cr_expect_float_eq(st.alloc, 1.5, 1e-9);
	cr_expect_eq(kp_pipe_close(e), 0);
	assert_nothing_left();
	kp_pipe_desc_free(&d);
}

/*
 * cgroup v2 (Fedora, and make vmtest's guest): the same placement and
 * quotas, in cpu.max. Skips where /sys/fs/cgroup is not cgroup2.
 */
#define V2_ROOT "/sys/fs/cgroup"

static void setup_v2(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root: creates cgroups and loads eBPF programs");
	if (access(WORDCOUNT, X_OK) || access(KPILOT, X_OK))
		cr_skip_test("no " WORDCOUNT " or " KPILOT ": run from the top of the tree after make");
	if (kp_cg_detect("/") != 2)
		cr_skip_test("/sys/fs/cgroup is not cgroup v2 here (the controllers are bound to v1 "
			     "hierarchies); make vmtest's guest runs this test");
	snprintf(tag, sizeof(tag), "kpilot-test-%d", (int)getpid());
	snprintf(tmp, sizeof(tmp), "/tmp/%s", tag);
	snprintf(fifo, sizeof(fifo), "/tmp/%s.ctl", tag);
	mkdir(tmp, 0755);
	make_desc();
	shm_before = shm_entries();
}

static void teardown_v2(void)
{
	static const char *const ops[] = { "source", "split", "count", "sink", "" };
	char p[PATH_MAX + 64], cmd[PATH_MAX + 16];
	int i;

	if (!tag[0])
		return;
	our_procs(true);
	usleep(100000);
	for (i = 0; i < 5; i++) {
		snprintf(p, sizeof(p), V2_ROOT "/%s/%s", tag, ops[i]);
		rmdir(p);
	}
	unlink(fifo);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	tu_system(cmd);
}

static void read_cpu_max(const char *dir, char *out, size_t len)
{
	char p[PATH_MAX + 64], *s;

	snprintf(p, sizeof(p), "%s/cpu.max", dir);
	s = tu_slurp(p);
	cr_assert(s, "cannot read %s", p);
	s[strcspn(s, "\n")] = '\0';
	snprintf(out, len, "%s", s);
	free(s);
}

Test(pipeline_env_v2, operators_get_v2_cgroups_and_cpu_max, .init = setup_v2,
     .fini = teardown_v2, .timeout = 120)
{
	struct kp_pipe_opts o = { .state_dir = tmp, .rate = 300 };
	double q[4] = { 0.1, 0.5, 0.8, 0.1 };
	static const char *const want[4] = { "10000 100000", "50000 100000", "80000 100000",
					     "10000 100000" };
	struct kp_pipe_desc d;
	struct kp_pipe *e;
	char err[1024], v[64];
	int i;

	cr_assert_eq(kp_pipe_desc_load(descpath, &d, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(kp_pipe_open(&e, &d, &o, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(kp_pipe_cg_version(e), 2);
	for (i = 0; i < 4; i++) {
		cr_expect(procs_has(kp_pipe_op_dir(e, i), kp_pipe_op_pid(e, i)),
			  "%s not in %s", d.ops[i].name, kp_pipe_op_dir(e, i));
		read_cpu_max(kp_pipe_op_dir(e, i), v, sizeof(v));
		cr_expect_str_eq(v, "max 100000", "a new cgroup starts unlimited");
	}
	cr_assert_eq(kp_pipe_apply(e, q, "test v2", err, sizeof(err)), 0, "%s", err);
	for (i = 0; i < 4; i++) {
		read_cpu_max(kp_pipe_op_dir(e, i), v, sizeof(v));
		cr_expect_str_eq(v, want[i], "%s", d.ops[i].name);
	}
	cr_expect_eq(kp_pipe_close(e), 0);
	cr_expect_eq(our_procs(false), 0, "processes of the pipeline are still running");
	cr_expect(!pf_exists(V2_ROOT "/%s", tag), "cgroup " V2_ROOT "/%s left behind", tag);
	cr_expect(!pf_exists("%s", fifo), "control FIFO %s left behind", fifo);
	kp_pipe_desc_free(&d);
}

static json_t *session(const char *algo, int trials, int expect_status, double sigint_after)
{
	char cmd[3 * PATH_MAX], out[PATH_MAX + 16];
	json_t *r = NULL;
	pid_t pid;
	int st;

	snprintf(out, sizeof(out), "%s/out-%s", tmp, algo);
	snprintf(cmd, sizeof(cmd), "%d", trials);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char *argv[] = { KPILOT, "tune", "--pipeline", descpath, "--algo", (char *)algo,
				 "--trials", cmd, "--state-dir", tmp, "--out", out, "-q", NULL };

		freopen("/dev/null", "w", stdout);
		execv(KPILOT, argv);
		_exit(127);
	}
	if (sigint_after > 0) {
		usleep(sigint_after * 1e6);
		kill(pid, SIGINT);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == expect_status, "kpilot tune --algo %s: %d",
		  algo, WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));
	snprintf(cmd, sizeof(cmd), "%s/results.json", out);
	r = json_load_file(cmd, 0, NULL);
	cr_assert(r, "no %s", cmd);
	assert_nothing_left();
	return r;
}

static void check_session(json_t *r, const char *algo, int trials)
{
	json_t *h = json_object_get(r, "history");
	size_t i;
	json_t *t;

	cr_expect_str_eq(json_string_value(json_object_get(r, "algo")), algo);
	cr_expect_str_eq(json_string_value(json_object_get(r, "metric")), "attainment");
	cr_expect_eq(json_integer_value(json_object_get(r, "trials")), trials);
	cr_assert_eq(json_array_size(h), (size_t)trials);
	json_array_foreach(h, i, t) {
		json_t *s = json_object_get(t, "state");

		cr_expect(json_is_true(json_object_get(t, "ok")));
		cr_expect_leq(json_number_value(json_object_get(s, "alloc_cores")), 2.0 + 1e-9);
		cr_expect_gt(json_number_value(json_object_get(s, "throughput")), 100);
	}
}

Test(pipeline_env, a_short_ppo_session_finishes_and_leaves_nothing)
{
	json_t *r = session("ppo", 5, 0, 0);

	check_session(r, "ppo", 5);
	json_decref(r);
}

static long quota_of(json_t *config, const char *op)
{
	char key[128];
	json_t *v;

	snprintf(key, sizeof(key), "cgroup:%s/%s:cpu.max", tag, op);
	v = json_object_get(config, key);
	cr_assert(json_is_string(v), "no %s in the config", key);
	return atol(json_string_value(v));
}

Test(pipeline_env, a_short_ds2_session_gives_count_more_than_split)
{
	json_t *r = session("ds2", 4, 0, 0);
	json_t *last;

	check_session(r, "ds2", 4);
	/* count costs ~1.6x split per record; at 800/s both need well under a core each */
	last = json_object_get(json_array_get(json_object_get(r, "history"), 3), "config");
	cr_expect_gt(quota_of(last, "count"), quota_of(last, "split"));
	cr_expect_lt(quota_of(last, "count"), 100000);
	cr_expect_leq(quota_of(last, "source"), 10000);
	json_decref(r);
}

Test(pipeline_env, a_short_static_session_keeps_the_equal_split)
{
	json_t *r = session("static", 3, 0, 0);
	json_t *h = json_object_get(r, "history"), *t;
	size_t i;

	check_session(r, "static", 3);
	json_array_foreach(h, i, t) {
		const char *key;
		json_t *v;

		json_object_foreach(json_object_get(t, "config"), key, v)
			cr_expect_str_eq(json_string_value(v), "50000 100000", "%s", key);
	}
	json_decref(r);
}

Test(pipeline_env, ctrl_c_restores_stops_and_removes)
{
	json_t *r = session("ds2", 30, 130, 5.5);

	cr_expect(json_is_true(json_object_get(r, "interrupted")));
	json_decref(r);
}

/*
 * kpilot killed mid-run cannot clean up: its journal holds every cgroup it
 * made, and `kpilot rollback` removes them (moving out the pipeline's
 * processes still in them).
 */
Test(pipeline_env, rollback_removes_the_cgroups_of_a_killed_run)
{
	char trials[] = "30", out[PATH_MAX + 16], cmd[2 * PATH_MAX];
	pid_t pid;
	int st;

	snprintf(out, sizeof(out), "%s/out-killed", tmp);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char *argv[] = { KPILOT, "tune", "--pipeline", descpath, "--algo", "static",
				 "--trials", trials, "--state-dir", tmp, "--out", out, "-q", NULL };

		freopen("/dev/null", "w", stdout);
		execv(KPILOT, argv);
		_exit(127);
	}
	usleep(3000000);
	kill(pid, SIGKILL);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(pf_exists(V1_CPU "/%s", tag), "the run made no cgroup " V1_CPU "/%s", tag);
	snprintf(cmd, sizeof(cmd), KPILOT " rollback --state-dir %s 2>/dev/null", tmp);
	cr_expect_eq(tu_system(cmd), 0, "%s", cmd);
	cr_expect(!pf_exists(V1_CPU "/%s", tag), "cgroup " V1_CPU "/%s left behind", tag);
	cr_expect(!pf_exists(V1_CPUSET "/%s", tag), "cgroup " V1_CPUSET "/%s left behind", tag);
	our_procs(true);
}

/* Where a kpilot that ignored a stop signal is: its signal masks and wait channel. */
static char *stuck_state(pid_t pid)
{
	static char out[512];
	char path[64], line[128], *w;
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "Sig", 3) || !strncmp(line, "ShdPnd", 6) ||
		    !strncmp(line, "State", 5) || !strncmp(line, "Threads", 7)) {
			line[strcspn(line, "\n")] = '\0';
			n += snprintf(out + n, sizeof(out) - n, "%s ", line);
			if (n >= sizeof(out))
				break;
		}
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/wchan", pid);
	w = tu_slurp(path);
	if (n < sizeof(out))
		snprintf(out + n, sizeof(out) - n, "wchan %s", w ? w : "?");
	free(w);
	return out;
}

/*
 * SIGTERM, SIGINT or SIGHUP at a random moment of a pipeline session, 50
 * times (the seed is printed; KPILOT_SIGNALS_SEED replays it): status 130,
 * or death by that signal only before the session opened; either way no
 * operator, cgroup, FIFO or journal entry left (test_signals does the same
 * for benchmark tuning and observe).
 */
Test(pipeline_env, stop_signals_at_any_moment_leave_nothing, .timeout = 400)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	char out[PATH_MAX + 16], cmd[2 * PATH_MAX], errpath[PATH_MAX + 16], *err;
	unsigned int seed = (unsigned int)time(NULL);
	int r, st, sig, i, early = 0;
	long delay;
	pid_t pid;

	if (getenv("KPILOT_SIGNALS_SEED"))
		seed = (unsigned int)atoi(getenv("KPILOT_SIGNALS_SEED"));
	cr_log_info("seed %u (KPILOT_SIGNALS_SEED replays it)", seed);
	srand(seed);
	snprintf(out, sizeof(out), "%s/out-signals", tmp);
	snprintf(errpath, sizeof(errpath), "%s/stderr", tmp);
	for (r = 0; r < 50; r++) {
		sig = sigs[rand() % 3];
		delay = 1000 + rand() % 2000000;	/* 1 ms to 2 s: set-up, launch, intervals */
		pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			char *argv[] = { KPILOT, "tune", "--pipeline", descpath, "--algo", "ds2",
					 "--trials", "30", "--state-dir", tmp, "--out", out, "-q", NULL };

			freopen("/dev/null", "w", stdout);
			freopen(errpath, "w", stderr);
			execv(KPILOT, argv);
			_exit(127);
		}
		usleep((useconds_t)delay);
		kill(pid, sig);
		for (i = 0; i < 300 && waitpid(pid, &st, WNOHANG) == 0; i++)
			usleep(50000);
		if (i == 300) {
			char *state = stuck_state(pid);

			err = tu_slurp(errpath);
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			cr_assert_fail("round %d: still running 15 s after signal %d at %ld ms; %s; "
				       "it said: %s", r, sig, delay / 1000, state, err ? err : "");
		}
		if (WIFSIGNALED(st)) {
			cr_expect_eq(WTERMSIG(st), sig, "round %d: died of signal %d", r, WTERMSIG(st));
			early++;
		} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 130) {
			err = tu_slurp(errpath);
			cr_expect_fail("round %d: signal %d at %ld ms: status %d; it said: %s", r, sig,
				       delay / 1000, WIFEXITED(st) ? WEXITSTATUS(st) : -1, err ? err : "");
			free(err);
		}
		if (pf_exists("%s", fifo)) {
			err = tu_slurp(errpath);
			cr_expect_fail("round %d: signal %d at %ld ms: the FIFO is left; it said: %s", r,
				       sig, delay / 1000, err ? err : "");
			free(err);
		}
		assert_nothing_left();
		snprintf(cmd, sizeof(cmd), KPILOT " rollback --list --state-dir %s 2>&1 | "
			 "grep -q 'nothing to restore'", tmp);
		cr_expect_eq(tu_system(cmd), 0, "round %d: the journal has something to restore", r);
	}
	cr_log_info("50 rounds: %d interrupted (130), %d killed before the session opened",
		    50 - early, early);
}
