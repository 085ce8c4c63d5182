/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The state an agent sees, one table per environment: every metric's name
 * (as configs and results files spell it), unit and how it is measured.
 * The tuning config validator accepts exactly the benchmark table's names,
 * and a tuning run measures them through the same entries.
 */
#ifndef KPILOT_STATE_H
#define KPILOT_STATE_H

#include "observe/metrics.h"
#include "state/sysstat.h"

/* What one benchmark trial showed, for the benchmark metrics. */
struct kp_state_sample {
	const struct kp_entity *e;	/* the benchmark's processes (zeros without eBPF) */
	double wall_s;			/* the trial's wall time (> 0) */
	const struct kp_cpustat *cs0, *cs1;	/* /proc/stat before and after */
};

struct kp_state_metric {
	const char *name;
	const char *unit;
	const char *how;		/* how it is measured, for people */
	double (*measure)(const struct kp_state_sample *s);	/* NULL: the environment fills it */
};

/* The metrics a tuning config's state_space may name; NULL-name-terminated. */
extern const struct kp_state_metric kp_bench_state[];
/* The benchmark metric of that name, or NULL. */
const struct kp_state_metric *kp_bench_state_find(const char *name);

/* A stream pipeline's state per control interval, in this order. */
enum kp_pipe_state_index {
	KP_PS_TARGET, KP_PS_THROUGHPUT, KP_PS_P99_MS, KP_PS_ALLOC, KP_PS_NEED, KP_PS_THROTTLED,
	KP_PS_RECONFIGURED, KP_PS_REWARD, KP_PS_OCCUPANCY, KP_PS_BLOCKED, KP_PS_COUNT
};
extern const struct kp_state_metric kp_pipe_state_metrics[KP_PS_COUNT];

#endif
