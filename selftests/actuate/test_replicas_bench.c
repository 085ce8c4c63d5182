// SPDX-License-Identifier: GPL-2.0
/*
 * tools/bench/replicas (build/tools/replicas/replicas) with a small budget:
 * every arm answers its requests, the DQN arm (a real `kpilot run` with a
 * replicas policy, trained briefly, then with exploration off) among them,
 * the RESULT line has the DQN's p99 and adapt_s, and nothing is left behind
 * (the namespaces, the replicas' cgroups, the pinned steering maps, the DQN
 * arm's state directory), also when the benchmark is stopped with SIGINT
 * halfway.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIN "build/tools/replicas/replicas"

static void nothing_left(void)
{
	char out[4096] = "";
	FILE *p = popen("ip netns list | grep kprep-; ls -d /sys/fs/cgroup/*/kpilot-replicas-* "
			"/sys/fs/cgroup/kpilot-replicas-* /sys/fs/bpf/kpilot-steer/replicas-* "
			"/tmp/kprpl-dqn.* 2>/dev/null", "r");
	size_t n;

	cr_assert_not_null(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	pclose(p);
	cr_expect_str_eq(out, "", "left behind: %s", out);
}

static void need_root(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root (namespaces, cgroups, bpf)");
	if (access(BIN, X_OK))
		cr_skip_test("%s not built", BIN);
}

Test(replicas_bench, small_budget)
{
	char line[512], result[512] = "";
	int arms = 0, dqn = 0, trained = 0, st;
	FILE *p;

	need_root();
	p = popen("tools/bench/replicas --secs 2 --rounds 1 --rate 80 --dqn-train 8 "
		  "--dqn-warm 2 2>&1", "r");
	cr_assert_not_null(p);
	while (fgets(line, sizeof(line), p)) {
		cr_log_info("%s", line);
		if ((line[0] == 'a' || line[0] == 'b') && line[1] == ' ') {
			arms++;
			cr_expect(strstr(line, "errors=0"), "errors: %s", line);
		}
		if ((line[0] == 'a' || line[0] == 'b') && strstr(line, " dqn "))
			dqn++;
		if (strstr(line, "dqn trained: steps"))
			trained++;
		if (!strncmp(line, "RESULT ", 7))
			snprintf(result, sizeof(result), "%s", line);
	}
	st = pclose(p);
	cr_expect_eq(st, 0, "exit status %d", st);
	cr_expect_eq(arms, 10, "%d arm lines (5 arms x 2 scenarios)", arms);
	cr_expect_eq(dqn, 2, "the dqn arm in both scenarios");
	cr_expect_eq(trained, 1, "the dqn arm's training line");
	cr_expect(strstr(result, "RESULT dqn_p99_ms=") && !strstr(result, "dqn_p99_ms=na") &&
		  !strstr(result, "adapt_s=na") && strstr(result, "hash_p99_ms=") &&
		  strstr(result, "best_heuristic_p99_ms=") && strstr(result, "errors=0"),
		  "RESULT line: %s", result);
	nothing_left();
}

Test(replicas_bench, sigint_cleans_up)
{
	pid_t pid;
	int st;

	need_root();
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid) {
		execl(BIN, BIN, "--secs", "5", "--rounds", "1", "--scenario", "a", (char *)NULL);
		_exit(127);
	}
	sleep(3);		/* set up, steering attached, the client running */
	kill(pid, SIGINT);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGINT, "status %#x", st);
	nothing_left();
}
