// SPDX-License-Identifier: GPL-2.0
/*
 * The wordcount launcher signalled in its first milliseconds, 300 times:
 * it must never leave its control FIFO behind. It once installed its
 * SIGTERM handler after creating the FIFO, so a signal in between killed it
 * with the FIFO in place, and every later run on that path failed (mkfifo:
 * EEXIST): a pipeline session stopped at the wrong moment broke the next
 * ones (test_pipeline_env's signals test, CI 2026-12-01).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORDCOUNT "./build/tools/wordcount/wordcount"

Test(wordcount_signals, early_sigterm_leaves_no_fifo, .timeout = 120)
{
	char fifo[64];
	int r, st, left = 0, killed = 0;

	if (access(WORDCOUNT, X_OK))
		cr_skip_test("no " WORDCOUNT ": run from the top of the tree after make");
	snprintf(fifo, sizeof(fifo), "/tmp/kpilot-wcsig-%d.ctl", getpid());
	srand((unsigned int)getpid());
	for (r = 0; r < 300; r++) {
		pid_t pid = fork();

		cr_assert_geq(pid, 0);
		if (pid == 0) {
			int fd = open("/dev/null", O_WRONLY);

			dup2(fd, 1);
			dup2(fd, 2);
			execl(WORDCOUNT, WORDCOUNT, "run", "--control", fifo, "--seconds", "5",
			      "--rate", "100", (char *)NULL);
			_exit(127);
		}
		usleep((useconds_t)(rand() % 3000));	/* exec, set-up, the FIFO, the forks */
		kill(pid, SIGTERM);
		cr_assert_eq(waitpid(pid, &st, 0), pid);
		killed += WIFSIGNALED(st);
		if (!access(fifo, F_OK)) {
			left++;
			unlink(fifo);
		}
	}
	cr_log_info("300 rounds: %d died of the signal (before the handler), %d left the FIFO",
		    killed, left);
	cr_expect_eq(left, 0, "the control FIFO was left behind in %d of 300 rounds", left);
}
