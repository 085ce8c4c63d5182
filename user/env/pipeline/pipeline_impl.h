/* SPDX-License-Identifier: GPL-2.0 */
/* Inside the pipeline environment: shared by pipeline.c and pipeline_cgroup.c. */
#ifndef KPILOT_PIPELINE_IMPL_H
#define KPILOT_PIPELINE_IMPL_H

#include <limits.h>
#include <sys/types.h>
#include "env/benchmark/bench_run.h"
#include "env/pipeline/pipeline.h"
#include "safety/session.h"

#define LINE_MAX_BYTES	65536

struct cpustat {
	unsigned long long periods, throttled, throttled_ns;
};

struct kp_pipe {
	const struct kp_pipe_desc *d;
	char root[1024];		/* "" for the real system */
	struct kp_child child;
	bool started;
	pid_t launcher;
	pid_t pid[KP_PIPE_MAX_OPS];
	char fifo[PATH_MAX];
	int cgv;
	char cpudir[KP_PIPE_MAX_OPS][PATH_MAX];	/* cpu controller (v1) or the cgroup (v2) */
	char setdir[KP_PIPE_MAX_OPS][PATH_MAX];	/* v1 cpuset; "" on v2 */
	struct kp_session *s;
	char knob[KP_PIPE_MAX_OPS][KP_NAME_MAX];
	struct kp_observer *obs;
	int opid[KP_PIPE_MAX_OPS];
	double quota[KP_PIPE_MAX_OPS];
	bool have_quota;
	int workers[KP_PIPE_MAX_OPS];
	struct cpustat cs[KP_PIPE_MAX_OPS];
	double t_obs;			/* when the observer's interval began */
	int errors;
	char buf[LINE_MAX_BYTES];
	size_t blen;
	size_t consumed;		/* bytes of buf the last line used */
};

/* pipeline_cgroup.c: every operator in a cgroup of its own, through the session's journal */
int kp_pipe_place(struct kp_pipe *e, char *why, size_t len);
int kp_pipe_read_cpustat(const struct kp_pipe *e, int i, struct cpustat *cs);

#endif
