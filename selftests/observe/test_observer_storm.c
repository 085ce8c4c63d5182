// SPDX-License-Identifier: GPL-2.0
/*
 * A fork storm while observing: 5,000 short processes (fork, a little CPU,
 * exit) under `kpilot observe --json`. Ground truth is the storm's own pids:
 * each must be reported (its exit flushes its record) or be counted in the
 * summaries' drops, and kpilot's peak RSS stays bounded (its per-process
 * state lives in fixed-size BPF maps and one interval's table in user space).
 */
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>

#define KPILOT "./kpilot"
#define STORM 5000
#define RSS_MAX_KB (128 * 1024)

static pid_t storm[STORM];

static int cmp_pid(const void *a, const void *b)
{
	return *(const pid_t *)a - *(const pid_t *)b;
}

static unsigned int burn(void)
{
	volatile unsigned int x = 0;
	int i;

	for (i = 0; i < 20000; i++)
		x += (unsigned int)i;
	return x;
}

/* The storm's pids that appear in kpilot's records; drops summed over intervals. */
static void count(FILE *f, long *seen, long *drops)
{
	static char line[8192];
	static char hit[STORM];
	pid_t pid, *p;
	long d;

	*seen = *drops = 0;
	memset(hit, 0, sizeof(hit));
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, "\"kind\":\"summary\"")) {
			char *q = strstr(line, "\"drops\":");

			if (q && sscanf(q, "\"drops\":%ld", &d) == 1)
				*drops += d;
			continue;
		}
		char *q = strstr(line, "\"pid\":");

		if (!q || sscanf(q, "\"pid\":%d", &pid) != 1)
			continue;
		p = bsearch(&pid, storm, STORM, sizeof(pid), cmp_pid);
		if (p && !hit[p - storm]) {
			hit[p - storm] = 1;
			(*seen)++;
		}
	}
}

static void storm_run(bool legacy)
{
	char out[] = "/tmp/kpilot-storm-XXXXXX";
	struct rusage ru;
	long seen, drops;
	int fd, st, i;
	pid_t kp, c;
	FILE *f;

	if (access(KPILOT, X_OK))
		cr_skip_test("no ./kpilot: run from the top of the tree after make");
	if (geteuid())
		cr_skip_test("needs root to load BPF programs");
	fd = mkstemp(out);
	cr_assert_geq(fd, 0);
	kp = fork();
	cr_assert_geq(kp, 0);
	if (kp == 0) {
		dup2(fd, 1);
		execl(KPILOT, KPILOT, "observe", "--json", "--interval", "500",
		      legacy ? "--legacy" : NULL, NULL);
		_exit(127);
	}
	sleep(3);	/* loaded and attached */
	for (i = 0; i < STORM; i++) {
		c = fork();
		cr_assert_geq(c, 0, "fork %d: %s", i, strerror(errno));
		if (c == 0) {
			_exit(burn() == 1);	/* never 1: keeps the loop */
		}
		storm[i] = c;
		if (i >= 64)	/* reap as it goes: short processes, not a pile (never kp) */
			waitpid(storm[i - 64], NULL, 0);
	}
	for (i = 0; i < STORM; i++)
		waitpid(storm[i], NULL, 0);
	/* two more intervals to flush, then a stop (as slow a guest as it takes) */
	sleep(2);
	kill(kp, SIGINT);
	cr_assert_eq(wait4(kp, &st, 0, &ru), kp);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "kpilot observe: status %d", st);
	qsort(storm, STORM, sizeof(pid_t), cmp_pid);
	f = fdopen(fd, "r");
	rewind(f);
	count(f, &seen, &drops);
	fclose(f);
	unlink(out);
	cr_log_info("%s: %d processes: %ld reported, %ld drops counted, peak RSS %ld KiB",
		    legacy ? "raw_tp" : "tp_btf", STORM, seen, drops, ru.ru_maxrss);
	cr_expect_geq(seen + drops, STORM * 99 / 100, "%ld reported + %ld dropped of %d", seen, drops,
		      STORM);
	/* ASan's shadow and quarantine take ~100 MiB of their own */
	cr_expect_lt(ru.ru_maxrss, getenv("KPILOT_SANITIZED") ? 4 * RSS_MAX_KB : RSS_MAX_KB,
		     "peak RSS %ld KiB", ru.ru_maxrss);
}

Test(observer_storm, five_thousand_short_processes_tp_btf, .timeout = 180)
{
	storm_run(false);
}

Test(observer_storm, five_thousand_short_processes_legacy, .timeout = 180)
{
	storm_run(true);
}
