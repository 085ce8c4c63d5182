/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Interval metrics of processes, operators and devices, built from the
 * records the BPF programs stream. Pure data: no BPF, no I/O, so every rule
 * here is unit-tested.
 */
#ifndef KPILOT_METRICS_H
#define KPILOT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "kpilot.h"

#define KP_MAX_OPERATORS	64
#define KP_OP_NAME_LEN		32

enum kp_entity_kind { KP_ENTITY_PROCESS, KP_ENTITY_OPERATOR, KP_ENTITY_DEVICE };

/* Deltas over one interval for one entity. */
struct kp_entity {
	enum kp_entity_kind kind;
	__u32 id;		/* tgid, operator id or dev_t */
	__u32 op;		/* operator of a process, 0 = none */
	char comm[KP_COMM_LEN];
	bool exited;		/* the process's last thread exited in this interval */
	__u32 nthreads;		/* distinct threads that reported */
	__u64 cpu_ns;
	__u64 runq_ns;
	__u64 nvcsw;
	__u64 nivcsw;
	__u64 runq_hist[KP_HIST_SLOTS];
	__u64 io_ops;
	__u64 io_read_bytes;
	__u64 io_write_bytes;
	__u64 io_queue_ns;
	__u64 io_lat_hist[KP_HIST_SLOTS];
	__u64 tcp_retrans;
	__u64 tcp_srtt_sum_us;
	__u64 tcp_srtt_samples;
	__u64 tcp_active_opens;
	__u64 tcp_passive_opens;
	__u64 tcp_closes;
	__u64 tcp_time_wait;
	__u64 tcp_conn_hist[KP_HIST_SLOTS];
};

/* An open-addressing table of entities of one kind, keyed by id. */
struct kp_table {
	struct kp_entity *slots;
	bool *used;
	size_t cap;
	size_t len;
};

void kp_table_init(struct kp_table *t);
void kp_table_free(struct kp_table *t);
void kp_table_clear(struct kp_table *t);
/* Find or insert; NULL only on allocation failure. */
struct kp_entity *kp_table_get(struct kp_table *t, enum kp_entity_kind kind, __u32 id);
struct kp_entity *kp_table_find(const struct kp_table *t, __u32 id);
/* Entities in use, copied into a new array (caller frees), sorted by cpu_ns desc. */
struct kp_entity *kp_table_sorted(const struct kp_table *t, size_t *n);

/* What one interval saw. */
struct kp_interval {
	struct kp_table procs;
	struct kp_table ops;
	struct kp_table devs;
	__u64 records;		/* records ingested */
	__u64 bad_records;	/* malformed (short or unknown type) */
};

void kp_interval_init(struct kp_interval *iv);
void kp_interval_free(struct kp_interval *iv);
void kp_interval_clear(struct kp_interval *iv);

/* Add one ring-buffer record to the interval; -EINVAL if malformed. */
int kp_ingest(struct kp_interval *iv, const void *data, size_t size);

/*
 * Percentile of a log2 histogram (slot k = [2^k, 2^(k+1)) us, slot 0 = [0, 2)),
 * interpolated linearly inside the slot. p in [0, 100]. 0 when empty.
 */
double kp_hist_percentile(const __u64 *hist, int slots, double p);
__u64 kp_hist_total(const __u64 *hist, int slots);

#endif
