/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per-process (tgid) block and tcp accumulator, shared by block.bpf.c,
 * tcp.bpf.c and sched.bpf.c (which flushes it when the process exits)
 * through one map. Its updaters run on any CPU (I/O completion
 * interrupts, softirqs), so every counter is updated atomically, and a flush
 * subtracts exactly what it emitted instead of zeroing: a count added between
 * the read and the reset is never lost.
 */
#ifndef KPILOT_PROC_BPF_H
#define KPILOT_PROC_BPF_H

#include "common.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KP_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct kp_proc_acct);
} proc_stats SEC(".maps");

#define add(p, v) __sync_fetch_and_add(&(p), (v))

static __always_inline struct kp_proc_acct *proc_get(__u32 tgid)
{
	static const struct kp_proc_acct zero;

	return lookup_or_init(&proc_stats, &tgid, &zero);
}

#define take(dst, src) do { (dst) = (src); add(src, -(dst)); } while (0)

/* Move the counts from the accumulator `src` into the record `dst`. */
static __always_inline void take_io(struct kp_io_counts *dst, struct kp_io_counts *src)
{
	int i;

	take(dst->io_ops, src->io_ops);
	take(dst->io_read_bytes, src->io_read_bytes);
	take(dst->io_write_bytes, src->io_write_bytes);
	take(dst->io_queue_ns, src->io_queue_ns);
	for (i = 0; i < KP_HIST_SLOTS; i++)
		take(dst->io_lat_hist[i], src->io_lat_hist[i]);
}

static __always_inline void take_tcp(struct kp_tcp_counts *dst, struct kp_tcp_counts *src)
{
	int i;

	take(dst->tcp_retrans, src->tcp_retrans);
	take(dst->tcp_srtt_sum_us, src->tcp_srtt_sum_us);
	take(dst->tcp_srtt_samples, src->tcp_srtt_samples);
	take(dst->tcp_active_opens, src->tcp_active_opens);
	take(dst->tcp_passive_opens, src->tcp_passive_opens);
	take(dst->tcp_closes, src->tcp_closes);
	take(dst->tcp_time_wait, src->tcp_time_wait);
	for (i = 0; i < KP_HIST_SLOTS; i++)
		take(dst->tcp_conn_hist[i], src->tcp_conn_hist[i]);
}

static __always_inline void proc_flush(struct kp_proc_acct *p, __u32 tgid, __u64 now, bool force)
{
	struct kp_proc_rec *r;
	__u32 op;

	if (force)
		p->last_flush_ns = now;
	else if (!flush_due(&p->last_flush_ns, now))
		return;
	if (!wanted(tgid, &op))
		return;
	r = reserve(sizeof(*r));
	if (!r) {
		count_drop();
		return;	/* keep the counts: the next flush carries them */
	}
	set_hdr(&r->hdr, KP_REC_PROC, 0, op, now);
	r->tgid = tgid;
	r->pad = 0;
	take_io(&r->io, &p->io);
	take_tcp(&r->tcp, &p->tcp);
	submit(r);
}

#endif
