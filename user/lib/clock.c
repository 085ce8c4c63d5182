// SPDX-License-Identifier: GPL-2.0
#include <time.h>
#include "lib/clock.h"

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

double kp_mono_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

double kp_wall_s(void)
{
	return clock_s(CLOCK_REALTIME);
}
