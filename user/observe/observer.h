/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The eBPF observer: loads the sched, block and tcp programs, streams their
 * records from one ring buffer and folds them into interval metrics.
 * Used by `kpilot observe` and by every session that needs per-process or
 * per-operator state.
 */
#ifndef KPILOT_OBSERVER_H
#define KPILOT_OBSERVER_H

#include <stdbool.h>
#include "observe/metrics.h"
#include "observe/opspec.h"

#define KP_PIN_DIR "/sys/fs/bpf/kpilot"

struct kp_observer_opts {
	unsigned int interval_ms;	/* flush interval of each entity (default 1000) */
	bool legacy;			/* force raw_tp + hash (what kernels < 5.13 run) */
	bool filter;			/* report only watched pids and operator members */
	bool pin;			/* pin maps under pin_dir */
	bool keep_pinned;		/* leave them pinned on close */
	bool self_stats;		/* enable bpf_stats for per-program run time */
	const char *pin_dir;		/* default KP_PIN_DIR */
	const char *sysfs_cgroup;	/* default /sys/fs/cgroup */
	const char *proc;		/* default /proc */
	const char *absent_tps;		/* tests: comma-separated tracepoints to treat as missing */
};

/* Per BPF program figures from bpf_stats, cumulative since load. */
struct kp_prog_stat {
	char name[64];
	__u64 run_cnt;
	__u64 run_time_ns;
};

struct kp_observer;

/*
 * Open, load and attach. Returns 0 or -errno with a one-sentence reason in
 * why (not root, no BTF, ...). Probe failures of single tracepoints are
 * warnings: the rest keep working.
 */
int kp_observer_open(struct kp_observer **out, const struct kp_observer_opts *opts,
		     char *why, size_t len);
void kp_observer_close(struct kp_observer *obs);

/* The program family in use: "tp_btf" or "raw_tp". */
const char *kp_observer_mode(const struct kp_observer *obs);
/* How run-queue wait is measured: "run_delay" (sched_info) or "timed" (wakeups). */
const char *kp_observer_runq_method(const struct kp_observer *obs);

/* Watch a process, its existing descendants and, through fork, its future ones. */
int kp_observer_watch_pid(struct kp_observer *obs, pid_t pid);
/*
 * Add an operator; returns its id (>= 1) or -errno with a reason in why.
 * A pid operator may start empty and get members with kp_observer_add_member().
 */
int kp_observer_add_operator(struct kp_observer *obs, const struct kp_opspec *spec,
			     char *why, size_t len);
/* Add a process (and its descendants) to an operator, e.g. a new benchmark run. */
int kp_observer_add_member(struct kp_observer *obs, int op_id, pid_t pid);
const char *kp_observer_op_name(const struct kp_observer *obs, __u32 id);
int kp_observer_nops(const struct kp_observer *obs);

/*
 * Consume every record streamed so far into the current interval; rescans
 * operator cgroups for processes that joined without forking from a member.
 */
int kp_observer_poll(struct kp_observer *obs);

/* The current interval's metrics; valid until the next kp_observer_reset(). */
struct kp_interval *kp_observer_interval(struct kp_observer *obs);
void kp_observer_reset(struct kp_observer *obs);

/* Handler invocations, records submitted, records dropped: cumulative. */
void kp_observer_counters(const struct kp_observer *obs, __u64 *events, __u64 *records,
			  __u64 *drops);

/* bpf_stats per attached program (needs opts.self_stats); returns count. */
int kp_observer_prog_stats(const struct kp_observer *obs, struct kp_prog_stat *out, int max);

#endif
