// SPDX-License-Identifier: GPL-2.0
/* Stop signals set a flag that loops poll, so a session can restore before exiting. */
#include <signal.h>
#include "safety/session.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	if (stop_flag)
		signal(sig, SIG_DFL);	/* a second one while restoring: the user insists */
	stop_flag = 1;
}

void kp_safety_catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

bool kp_safety_stop_requested(void)
{
	return stop_flag;
}

