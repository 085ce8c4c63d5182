/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the daemon knows between windows: cumulative per-operator and
 * all-observed-process figures (Prometheus counters and histograms), the
 * latest window's top-N processes by CPU, and the observer's own counters.
 * The loop writes it once per window; the HTTP thread and the control socket
 * read it, all under the lock.
 */
#ifndef KPILOT_DAEMON_FIGURES_H
#define KPILOT_DAEMON_FIGURES_H

#include <pthread.h>
#include <stdio.h>
#include <jansson.h>
#include "observe/metrics.h"

/* Cumulative since the daemon started (or, for an operator, since it was configured). */
struct kp_dm_acc {
	char name[KP_OP_NAME_LEN];
	__u64 cpu_ns, runq_ns, nvcsw, nivcsw;
	__u64 io_ops, io_read_bytes, io_write_bytes;
	__u64 tcp_retrans, tcp_active_opens, tcp_passive_opens;
	__u64 runq_hist[KP_HIST_SLOTS];
	__u64 io_hist[KP_HIST_SLOTS];
	__u64 conn_hist[KP_HIST_SLOTS];
};

#define KP_DM_MAX_PROGS	32

/* One BPF program's bpf_stats, cumulative across observer reopens. */
struct kp_dm_prog {
	char name[64];
	__u64 runs, ns, base_runs, base_ns;
};

struct kp_dm_figures {
	pthread_mutex_t lock;
	struct kp_dm_acc all;			/* every observed process */
	struct kp_dm_acc ops[KP_MAX_OPERATORS];
	int nops;
	struct kp_entity *top;			/* the latest window's top processes by CPU */
	size_t ntop;
	unsigned int window_ms;
	__u64 windows;
	/* the observer's counters, carried over observer reopens (reload) */
	__u64 events, records, drops;
	__u64 base_events, base_records, base_drops;
	double start_wall_s;
	char mode[16], runq_method[16];
	struct kp_dm_prog progs[KP_DM_MAX_PROGS];	/* bpf_stats (empty when unavailable) */
	int nprogs;
};

void kp_dm_fig_init(struct kp_dm_figures *f);
void kp_dm_fig_free(struct kp_dm_figures *f);

/* The configured operators, in order; accumulators of kept names survive. Caller locks. */
void kp_dm_fig_set_ops(struct kp_dm_figures *f, const char (*names)[KP_OP_NAME_LEN], int n);

/*
 * Fold one window in. op_name maps an observer operator id to its name.
 * ev/rec/drops: the observer's cumulative counters. Caller locks. 0 or -ENOMEM.
 */
int kp_dm_fig_window(struct kp_dm_figures *f, struct kp_interval *iv,
		     const char *(*op_name)(const void *arg, __u32 id), const void *arg,
		     unsigned int top_n, __u64 ev, __u64 rec, __u64 drops);

/* The observer's per-program bpf_stats (names kept, totals monotonic). Caller locks. */
struct kp_prog_stat;
void kp_dm_fig_progs(struct kp_dm_figures *f, const struct kp_prog_stat *s, int n);

/* A new observer starts its counters at 0: keep the totals monotonic. Caller locks. */
void kp_dm_fig_rebase(struct kp_dm_figures *f);

/* A process name as printable ASCII ('?' for the rest): labels and JSON strings. */
void kp_dm_comm_clean(const char *in, char *out);

/* Prometheus text exposition format 0.0.4. Caller locks. */
void kp_dm_prom_write(FILE *out, const struct kp_dm_figures *f);

/* The policies' series (agent and safety figures). Caller holds the policies' lock. */
struct kp_policy;
void kp_dm_prom_policies(FILE *out, const struct kp_policy *p, int n);

/* The /stats and `ctl status` figures as a new JSON object. Caller locks. */
json_t *kp_dm_fig_json(const struct kp_dm_figures *f);

#endif
