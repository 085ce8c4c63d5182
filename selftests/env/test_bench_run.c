// SPDX-License-Identifier: GPL-2.0
/*
 * kp_child_start(): a stop signal sent to the child before it execs is not
 * lost. The child is forked with kpilot's handlers; one that took a SIGTERM
 * meant for the child let it exec on, and a pipeline launcher stopped that
 * way ran until kpilot SIGKILLed it at the stop timeout (testing.md,
 * test_pipeline_env).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <string.h>
#include "env/benchmark/bench_run.h"
#include "lib/clock.h"

static volatile sig_atomic_t caught;

static void on_stop(int sig)
{
	(void)sig;
	caught = 1;
}

/* Called in the parent right after fork(), before the child may exec. */
static int term_it(pid_t pid, void *arg)
{
	(void)arg;
	return kill(pid, SIGTERM) ? -1 : 0;
}

Test(bench_run, a_sigterm_before_exec_is_not_lost, .timeout = 60)
{
	char *const argv[] = { "sleep", "30", NULL };
	struct kp_run_opts o = { .argv = argv, .on_start = term_it };
	struct sigaction sa = { .sa_handler = on_stop };
	struct kp_child c;
	char why[256];
	double t0;
	int i, r;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);	/* as kp_safety_catch_signals() does */
	for (i = 0; i < 20; i++) {
		t0 = kp_mono_s();
		cr_assert_eq(kp_child_start(&o, &c, why, sizeof(why)), 0, "%s", why);
		r = kp_child_finish(&c, 20, NULL);
		kp_child_free(&c);
		cr_assert_eq(r, 128 + SIGTERM, "round %d: %d after %.1f s (the SIGTERM was lost: "
			     "sleep ran to the timeout)", i, r, kp_mono_s() - t0);
	}
	cr_assert_eq(caught, 0, "the child's SIGTERM reached the parent's handler");
	signal(SIGTERM, SIG_DFL);
}
