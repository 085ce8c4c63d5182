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
	__type(value, struct kp_proc);
} proc_stats SEC(".maps");

#define add(p, v) __sync_fetch_and_add(&(p), (v))

static __always_inline struct kp_proc *proc_get(__u32 tgid)
{
	static const struct kp_proc zero;

	return lookup_or_init(&proc_stats, &tgid, &zero);
}

#define take(dst, src) do { (dst) = (src); add(src, -(dst)); } while (0)

static __always_inline void proc_flush(struct kp_proc *p, __u32 tgid, __u64 now, bool force)
{
	struct kp_proc_rec *r;
	__u32 op;
	int i;

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
	r->hdr.type = KP_REC_PROC;
	r->hdr.flags = 0;
	r->hdr.op = op;
	r->hdr.ts_ns = now;
	r->tgid = tgid;
	r->pad = 0;
	take(r->io_ops, p->io_ops);
	take(r->io_read_bytes, p->io_read_bytes);
	take(r->io_write_bytes, p->io_write_bytes);
	take(r->io_queue_ns, p->io_queue_ns);
	take(r->tcp_retrans, p->tcp_retrans);
	take(r->tcp_srtt_sum_us, p->tcp_srtt_sum_us);
	take(r->tcp_srtt_samples, p->tcp_srtt_samples);
	take(r->tcp_active_opens, p->tcp_active_opens);
	take(r->tcp_passive_opens, p->tcp_passive_opens);
	take(r->tcp_closes, p->tcp_closes);
	take(r->tcp_time_wait, p->tcp_time_wait);
	for (i = 0; i < KP_HIST_SLOTS; i++) {
		take(r->io_lat_hist[i], p->io_lat_hist[i]);
		take(r->tcp_conn_hist[i], p->tcp_conn_hist[i]);
	}
	submit(r);
}

#endif
