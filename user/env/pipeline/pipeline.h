/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A running stream pipeline as an environment: started from its
 * description, each operator in a cgroup of its own (v2 where the host has
 * it, the v1 cpu and cpuset hierarchies otherwise), CPU quotas written only
 * through a safety session whose budget is the pipeline's, worker counts
 * and the source rate through the launcher's control FIFO, and per
 * interval a state made of the eBPF observer's per-operator figures, the
 * cgroups' throttling and the pipeline's own report.
 *
 *	kp_pipe_open(&e, &desc, &opts, why, len);
 *	while (kp_pipe_step(e, &st, why, len) == 0) {	// one report interval
 *		... decide quotas from st ...
 *		kp_pipe_apply(e, quotas, "ds2", why, len);
 *	}
 *	kp_pipe_close(e);	// quotas restored, processes stopped, cgroups removed
 */
#ifndef KPILOT_PIPELINE_H
#define KPILOT_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include "env/pipeline/pipeline_desc.h"

struct kp_pipe_opts {
	const char *root;		/* prefix of /sys/fs/cgroup (tests); NULL: "/" */
	const char *state_dir;		/* the safety journal; NULL: /var/lib/kpilot */
	const char *topdir;		/* relative launcher paths start here; NULL: cwd */
	char *const *extra_args;	/* appended to the launcher command, NULL-terminated */
	double rate;			/* initial source rate; 0: the description's */
	bool no_observer;		/* figures from the pipeline's report only */
	double start_timeout_s;		/* for the start line (5) */
};

/* One operator over one interval. */
struct kp_pipe_opstate {
	double in, out;			/* records/s */
	double cpu_app;			/* cores, from the pipeline's report */
	double cpu;			/* on-CPU cores from the observer (cpu_app without it) */
	double runq;			/* run-queue wait, s/s summed over threads */
	double csw;			/* context switches /s (voluntary + involuntary) */
	double blocked;			/* s/s blocked on a full output channel */
	double occupancy;		/* output channel fill, 0-1, time-averaged */
	int workers;
	double throttled_frac;		/* throttled periods / periods */
	double throttled_s;		/* throttled time in the interval, s */
	double quota;			/* cores in force during the interval */
};

struct kp_pipe_state {
	double dt;			/* s */
	double target, throughput;	/* records/s at the source / at the sink */
	double attainment;		/* throughput / target, 1 when unthrottled (target 0) */
	double p50_ms, p99_ms;		/* NaN when nothing arrived */
	double alloc;			/* sum of quotas in force, cores */
	int errors;			/* refused or failed writes since the last step */
	struct kp_pipe_opstate op[KP_PIPE_MAX_OPS];
};

struct kp_pipe;

/*
 * Start the pipeline, create and populate the cgroups, open the safety
 * session and the observer. Needs root. On failure everything done so far
 * is undone and -errno returned with one line in why.
 */
int kp_pipe_open(struct kp_pipe **out, const struct kp_pipe_desc *d,
		 const struct kp_pipe_opts *o, char *why, size_t len);

/*
 * Wait for the next report interval (up to 3 intervals) and fill st.
 * -EINTR on a stop signal, -EPIPE when the pipeline ended, -ETIMEDOUT.
 */
int kp_pipe_step(struct kp_pipe *e, struct kp_pipe_state *st, char *why, size_t len);

/*
 * New quotas (cores, on the 0.05 grid, summing within the budget) for every
 * operator in one validated batch, and worker counts to match (one worker
 * per started core). 0, or the kp_session_apply() error with why.
 */
int kp_pipe_apply(struct kp_pipe *e, const double *quota, const char *reason,
		  char *why, size_t len);

/* Quotas in force (cores), or NULL before the first apply. */
const double *kp_pipe_quotas(const struct kp_pipe *e);

/* The source's target rate, through the control FIFO. */
int kp_pipe_set_rate(struct kp_pipe *e, double rate);

/* cgroup hierarchy in use: 1 or 2. */
int kp_pipe_cg_version(const struct kp_pipe *e);
/* Operator i's process and its cpu-controller cgroup directory. */
int kp_pipe_op_pid(const struct kp_pipe *e, int i);
const char *kp_pipe_op_dir(const struct kp_pipe *e, int i);

/*
 * Restore the quotas, stop the pipeline (drain, then SIGKILL after the
 * description's timeout), close the observer, remove the cgroups this
 * environment created (closing the safety session, whose journal holds them:
 * after a crash, `kpilot rollback` removes them). Safe on a partly opened
 * environment.
 * 0, or the first -errno met (everything is attempted).
 */
int kp_pipe_close(struct kp_pipe *e);

#endif
