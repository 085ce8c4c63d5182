/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Maps and helpers every kpilot BPF object shares. Each object declares the
 * shared maps itself; user space creates them once (in the sched object) and
 * hands the same fds to the others with bpf_map__reuse_fd() before loading.
 */
#ifndef KPILOT_COMMON_BPF_H
#define KPILOT_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "kpilot.h"

/* Set by user space before load; frozen, so the verifier prunes on them. */
const volatile __u64 flush_ns = 1000000000ULL;	/* min gap between records of one entity */
const volatile bool filter_members = false;	/* only emit for tgids in `members` */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

/* tgid -> operator id (0: watched pid without operator). Inherited on fork. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KP_MAX_PROCS);
	__type(key, __u32);
	__type(value, __u32);
} members SEC(".maps");

struct kp_cpu_stats cpu_stats[KP_MAX_CPUS] SEC(".bss");

/*
 * Each handler exists twice: tp_btf (direct BTF access, cheapest) and raw_tp
 * (BPF_CORE_READ, where tp_btf can't attach); user space loads one family
 * and finds them by name, tp_<tracepoint> and raw_<tracepoint>. `call` is
 * the __always_inline body, which reads the constant `btf` so the compiler
 * drops the other family's code from each program; `args...` are the
 * tracepoint's arguments as BPF_PROG takes them.
 */
#define TP_TWINS(tp, call, args...)				\
SEC("tp_btf/" #tp)						\
int BPF_PROG(tp_##tp, ##args)					\
{								\
	const bool btf __attribute__((unused)) = true;		\
								\
	call;							\
	return 0;						\
}								\
								\
SEC("raw_tp/" #tp)						\
int BPF_PROG(raw_##tp, ##args)					\
{								\
	const bool btf __attribute__((unused)) = false;		\
								\
	call;							\
	return 0;						\
}

/* Find the entry of `key`, creating it from `zero` if absent. */
static __always_inline void *lookup_or_init(void *map, const void *key, const void *zero)
{
	void *v = bpf_map_lookup_elem(map, key);

	if (v)
		return v;
	bpf_map_update_elem(map, key, zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

static __always_inline struct kp_cpu_stats *this_cpu_stats(void)
{
	return &cpu_stats[bpf_get_smp_processor_id() & (KP_MAX_CPUS - 1)];
}

static __always_inline void count_event(void)
{
	this_cpu_stats()->events++;
}

/* log2 slot of a duration in ns, as microseconds; last slot collects the tail. */
static __always_inline __u32 hist_slot(__u64 ns)
{
	__u64 us = ns / 1000;
	__u32 slot = 0;

	/* Unrolled binary log2 to keep the verifier's instruction count low. */
	if (us >> 16) { us >>= 16; slot += 16; }
	if (us >> 8)  { us >>= 8;  slot += 8; }
	if (us >> 4)  { us >>= 4;  slot += 4; }
	if (us >> 2)  { us >>= 2;  slot += 2; }
	if (us >> 1)  { slot += 1; }
	return slot < KP_HIST_SLOTS ? slot : KP_HIST_SLOTS - 1;
}

/*
 * Whether an entity that last flushed at *last is due for a record, and if so
 * claim the flush. Two CPUs can race past the check; the claim re-read makes
 * that rare, and every emitter subtracts exactly what it emitted, so the
 * totals stay exact even then.
 */
static __always_inline bool flush_due(__u64 *last, __u64 now)
{
	if (now - *last < flush_ns)
		return false;
	*last = now;
	return *(volatile __u64 *)last == now;
}

/* Whether records for this tgid are wanted; returns its operator id in *op. */
static __always_inline bool wanted(__u32 tgid, __u32 *op)
{
	__u32 *v = bpf_map_lookup_elem(&members, &tgid);

	*op = v ? *v : 0;
	return v || !filter_members;
}

/*
 * Callers test the reservation for NULL exactly once and count a drop
 * there: a second test of the same pointer (a counter in here, say) leaves
 * verifiers before ~6.3 exploring a path where the reservation is never
 * released, and they refuse the program.
 */
#define reserve(size) bpf_ringbuf_reserve(&events, (size), 0)

static __always_inline void count_drop(void)
{
	this_cpu_stats()->drops++;
}

static __always_inline void set_hdr(struct kp_rec_hdr *h, __u16 type, __u16 flags, __u32 op,
				    __u64 now)
{
	h->type = type;
	h->flags = flags;
	h->op = op;
	h->ts_ns = now;
}

static __always_inline void submit(void *r)
{
	this_cpu_stats()->records++;
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
}

#endif
