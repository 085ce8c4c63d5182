// SPDX-License-Identifier: GPL-2.0
/*
 * Connection steering for a service whose replicas share one listening
 * address (SO_REUSEPORT): per new connection, pick a replica's listener
 * from `socks` by the weights in `weights` (weighted random), round-robin
 * or fewest active connections. Nothing here allocates or locks: the
 * program runs in softirq on the SYN; counters are atomic adds into
 * preallocated array slots, flows go into an LRU hash (preallocated).
 * Whatever fails (an empty slot, a zero total) returns SK_PASS without a
 * selection, which is the kernel's own hash: a connection is never dropped
 * because of this program.
 *
 * Two entry points: steer_select (SEC sk_reuseport, 4.19+) and
 * steer_migrate (SEC sk_reuseport/migrate, 5.14+), which is also called
 * when a listener closes with connections pending, so they move to another
 * replica instead of being reset. User space loads one of them.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "kpsteer.h"

#define ETH_P_IP	0x0800
#define IPPROTO_TCP	6
#define TCP_ESTABLISHED	1
#define TCP_SYN_RECV	3
#define TCP_CLOSE	7

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
	__uint(max_entries, KP_STEER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kp_steer_cfg);
} cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KP_STEER_MAX);
	__type(key, __u32);
	__type(value, __u32);
} weights SEC(".maps");

/* The replicas' pids in slot order: read by user space only, to detach later. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KP_STEER_MAX);
	__type(key, __u32);
	__type(value, __u32);
} pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KP_STEER_MAX);
	__type(key, __u32);
	__type(value, struct kp_steer_slot);
} slots SEC(".maps");

/* Signed, so a missed end (an LRU eviction) cannot wrap a count to 2^64. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KP_STEER_MAX);
	__type(key, __u32);
	__type(value, __s64);
} active SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct kp_steer_flow);
	__type(value, __u32);
} flows SEC(".maps");

static __always_inline __u32 pick_weighted(__u32 n)
{
	__u32 i, total = 0, r, *w;

	for (i = 0; i < KP_STEER_MAX; i++) {
		__u32 k = i;

		if (i >= n)
			break;
		w = bpf_map_lookup_elem(&weights, &k);
		if (w && *w < 1000000)
			total += *w;
	}
	if (!total)
		return KP_STEER_MAX;
	r = bpf_get_prandom_u32() % total;
	for (i = 0; i < KP_STEER_MAX; i++) {
		__u32 k = i;

		if (i >= n)
			break;
		w = bpf_map_lookup_elem(&weights, &k);
		if (!w || *w >= 1000000)
			continue;
		if (r < *w)
			return i;
		r -= *w;
	}
	return KP_STEER_MAX;
}

static __always_inline __u32 pick_rr(__u32 n)
{
	__u32 zero = 0;
	__u64 *c = bpf_map_lookup_elem(&rr, &zero), v;

	if (!c || !n)
		return KP_STEER_MAX;
	/* read, then add: fetching adds need 5.12; a rare race only repeats a slot */
	v = *c;
	__sync_fetch_and_add(c, 1);
	return (__u32)(v % n);
}

static __always_inline __u32 pick_least(__u32 n)
{
	__u32 i, best = KP_STEER_MAX;
	__s64 least = 0, *a;

	for (i = 0; i < KP_STEER_MAX; i++) {
		__u32 k = i;

		if (i >= n)
			break;
		a = bpf_map_lookup_elem(&active, &k);
		if (!a)
			continue;
		if (best == KP_STEER_MAX || *a < least) {
			best = i;
			least = *a;
		}
	}
	return best;
}

/* The client's address and port from the SYN (IPv4 only). */
static __always_inline int flow_of(struct sk_reuseport_md *ctx, struct kp_steer_flow *f)
{
	__u8 vihl;

	if (ctx->eth_protocol != bpf_htons(ETH_P_IP) || ctx->ip_protocol != IPPROTO_TCP)
		return -1;
	if (bpf_skb_load_bytes_relative(ctx, 0, &vihl, 1, BPF_HDR_START_NET))
		return -1;
	if (bpf_skb_load_bytes_relative(ctx, 12, &f->addr, 4, BPF_HDR_START_NET))
		return -1;
	if (bpf_skb_load_bytes_relative(ctx, (vihl & 0xf) * 4, &f->port, 2,
					BPF_HDR_START_NET))
		return -1;
	f->pad = 0;
	return 0;
}

static __always_inline int steer(struct sk_reuseport_md *ctx, bool migrating)
{
	struct kp_steer_flow f;
	struct kp_steer_slot *s;
	struct kp_steer_cfg *c;
	__u32 zero = 0, idx;
	__s64 *a;

	c = bpf_map_lookup_elem(&cfg, &zero);
	if (!c || c->mode == KP_STEER_HASH || !c->n)
		return SK_PASS;
	if (c->mode == KP_STEER_RR)
		idx = pick_rr(c->n);
	else if (c->mode == KP_STEER_LEASTCONN)
		idx = pick_least(c->n);
	else
		idx = pick_weighted(c->n);
	if (idx >= KP_STEER_MAX)
		return SK_PASS;
	s = bpf_map_lookup_elem(&slots, &idx);
	if (bpf_sk_select_reuseport(ctx, &socks, &idx, 0)) {
		if (s)
			__sync_fetch_and_add(&s->failed, 1);
		return SK_PASS;		/* the kernel's hash decides */
	}
	if (s)
		__sync_fetch_and_add(migrating ? &s->migrated : &s->selected, 1);
	if (migrating || !c->track || flow_of(ctx, &f))
		return SK_PASS;
	if (bpf_map_update_elem(&flows, &f, &idx, BPF_ANY))
		return SK_PASS;
	a = bpf_map_lookup_elem(&active, &idx);
	if (a)
		__sync_fetch_and_add(a, 1);
	return SK_PASS;
}

SEC("sk_reuseport")
int steer_select(struct sk_reuseport_md *ctx)
{
	return steer(ctx, false);
}

/* ctx->migrating_sk exists from 5.14 only: this program is not loaded before. */
SEC("sk_reuseport/migrate")
int steer_migrate(struct sk_reuseport_md *ctx)
{
	return steer(ctx, ctx->migrating_sk != NULL);
}

/*
 * A tracked connection ends when it leaves ESTABLISHED (either side closes)
 * or dies in SYN_RECV; the flow's entry goes, so an end counts once. A raw
 * tracepoint: it needs no tracefs mounted, and exists from 4.17.
 */
SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(steer_state, const struct sock *sk, int oldstate, int newstate)
{
	struct kp_steer_flow f = {};
	struct kp_steer_slot *s;
	__u32 *idx, i;
	__s64 *a;

	if (oldstate != TCP_ESTABLISHED && !(oldstate == TCP_SYN_RECV && newstate == TCP_CLOSE))
		return 0;
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP ||
	    BPF_CORE_READ(sk, __sk_common.skc_family) != 2)
		return 0;
	f.addr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
	f.port = BPF_CORE_READ(sk, __sk_common.skc_dport);
	idx = bpf_map_lookup_elem(&flows, &f);
	if (!idx)
		return 0;
	i = *idx;
	if (bpf_map_delete_elem(&flows, &f))
		return 0;		/* another CPU ended it first */
	if (i >= KP_STEER_MAX)
		return 0;
	a = bpf_map_lookup_elem(&active, &i);
	if (a)
		__sync_fetch_and_add(a, -1);
	s = bpf_map_lookup_elem(&slots, &i);
	if (s)
		__sync_fetch_and_add(&s->ended, 1);
	return 0;
}
