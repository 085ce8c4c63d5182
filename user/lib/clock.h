/* SPDX-License-Identifier: GPL-2.0 */
/* Clocks in seconds as doubles: the units every loop and record use. */
#ifndef KPILOT_LIB_CLOCK_H
#define KPILOT_LIB_CLOCK_H

/* CLOCK_MONOTONIC: intervals, deadlines, timeouts. */
double kp_mono_s(void);
/* CLOCK_REALTIME: timestamps a person or another host reads (journal, logs). */
double kp_wall_s(void);

#endif
