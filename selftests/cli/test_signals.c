// SPDX-License-Identifier: GPL-2.0
/*
 * Stop signals at random points: SIGTERM, SIGINT or SIGHUP sent to `kpilot
 * tune` (host mode, in this test's own network namespace, so the knobs it
 * changes are private) 50 times at a random moment of its life (config,
 * session open, observer load, baseline, trials), and to `kpilot observe`.
 * Each time: the documented status (130 interrupted; killed by the signal
 * only before the session opened, when nothing has changed), every knob back,
 * no journal left to replay, no benchmark process left behind. The seed is
 * printed; KPILOT_SIGNALS_SEED replays a run.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "../lib/safety_fake.h"

#define KPILOT "./kpilot"
#define ROUNDS 50
#define MARK "kpsigtest"

static const char *const knobs[] = { "net.core.somaxconn", "net.ipv4.tcp_fin_timeout" };
static char dir[64];

static void need_root(void)
{
	if (access(KPILOT, X_OK))
		cr_skip_test("no ./kpilot: run from the top of the tree after make");
	if (geteuid())
		cr_skip_test("needs root (a private network namespace, BPF)");
}

static void read_knob(const char *name, char *v, size_t len)
{
	char path[128], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/%s", name);
	for (p = path + 10; *p; p++)
		if (*p == '.')
			*p = '/';
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	cr_assert_not_null(fgets(v, (int)len, f));
	fclose(f);
}

static void write_config(const char *path)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f);
	fprintf(f, "{\"workload_name\": \"signals\", \"netns\": false,\n"
		   " \"benchmark\": {\"command\": [\"sh\", \"-c\", \"sleep 0.1; echo " MARK " score 1\"],"
		   " \"timeout_s\": 10},\n"
		   " \"reward_metric\": {\"name\": \"score\", \"pattern\": \"score ([0-9.]+)\","
		   " \"goal\": \"maximize\"},\n"
		   " \"action_space\": [{\"knob\": \"%s\", \"min\": 1024, \"max\": 8192},"
		   " {\"knob\": \"%s\", \"min\": 10, \"max\": 60}],\n"
		   " \"training\": {\"trials\": 1000, \"algo\": \"random\"}}\n", knobs[0], knobs[1]);
	fclose(f);
	chmod(path, 0600);
}

/* Is any process of ours still running the benchmark (its command line has MARK)? */
static bool benchmark_left(void)
{
	char cmd[128];

	/* [k]: the pattern does not match the shell that runs pgrep */
	snprintf(cmd, sizeof(cmd), "pgrep -f '[%c]%s score' >/dev/null", MARK[0], &MARK[1]);
	return system(cmd) == 0;
}

static int run_and_signal(char *const argv[], int sig, long delay_us)
{
	int st, fd, i;
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		dup2(fd, 2);
		execv(KPILOT, argv);
		_exit(127);
	}
	usleep(delay_us);
	kill(pid, sig);
	for (i = 0; i < 300 && waitpid(pid, &st, WNOHANG) == 0; i++)
		usleep(50000);	/* 15 s to restore and exit */
	if (i == 300) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		cr_assert_fail("still running 15 s after signal %d at %ld ms", sig, delay_us / 1000);
	}
	return st;
}

static void cleanup(void)
{
	if (dir[0])
		fake_rm(dir);
}

Test(signals, tune_restores_at_any_moment, .fini = cleanup, .timeout = 600)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	char cfg[128], state[128], out[128], orig[2][32], now[32], cmd[300];
	char *argv[] = { KPILOT, "tune", "--config", cfg, "--confirm", "0", "--state-dir", state,
			 "--out", out, "-q", NULL };
	unsigned int seed = (unsigned int)time(NULL);
	int r, k, st, sig, early = 0, intr = 0;
	long delay;

	need_root();
	if (getenv("KPILOT_SIGNALS_SEED"))
		seed = (unsigned int)atoi(getenv("KPILOT_SIGNALS_SEED"));
	cr_log_info("seed %u (KPILOT_SIGNALS_SEED replays it)", seed);
	srand(seed);
	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare: %s", strerror(errno));
	snprintf(dir, sizeof(dir), "/tmp/kpilot-signals-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(cfg, sizeof(cfg), "%s/signals.json", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	write_config(cfg);
	for (k = 0; k < 2; k++)
		read_knob(knobs[k], orig[k], sizeof(orig[k]));
	for (r = 0; r < ROUNDS; r++) {
		sig = sigs[rand() % 3];
		delay = 1000 + rand() % 2500000;	/* 1 ms to 2.5 s */
		st = run_and_signal(argv, sig, delay);
		if (WIFSIGNALED(st)) {
			/* only before the session opened: then nothing was journaled */
			cr_expect_eq(WTERMSIG(st), sig, "round %d: died of signal %d", r, WTERMSIG(st));
			early++;
		} else {
			cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 130,
				  "round %d: signal %d at %ld ms: status %d", r, sig, delay / 1000,
				  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
			intr++;
		}
		for (k = 0; k < 2; k++) {
			read_knob(knobs[k], now, sizeof(now));
			cr_expect_str_eq(now, orig[k], "round %d: %s left changed (signal %d at %ld ms)",
					 r, knobs[k], sig, delay / 1000);
		}
		snprintf(cmd, sizeof(cmd), KPILOT " rollback --list --state-dir %s 2>&1 | "
			 "grep -q 'nothing to restore'", state);
		cr_expect_eq(system(cmd), 0, "round %d: the journal has something to restore", r);
		cr_expect(!benchmark_left(), "round %d: a benchmark process outlived kpilot", r);
	}
	cr_log_info("%d rounds: %d interrupted (130), %d killed before the session opened",
		    ROUNDS, intr, early);
}

Test(signals, observe_exits_0_on_each_stop_signal, .timeout = 120)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };
	char *argv[] = { KPILOT, "observe", "--pin", "--duration", "30", NULL };
	struct stat sb;
	int i, st;

	need_root();
	for (i = 0; i < 6; i++) {
		st = run_and_signal(argv, sigs[i % 3], 100000 + 200000 * i);	/* loading, then running */
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "signal %d: status %d",
			  sigs[i % 3], st);
		cr_expect_neq(stat("/sys/fs/bpf/kpilot", &sb), 0, "signal %d: pins left", sigs[i % 3]);
	}
}
