// SPDX-License-Identifier: GPL-2.0
/*
 * TCP observer: per process: active and passive opens, closes, TIME_WAIT
 * entries, connect latency (SYN_SENT -> ESTABLISHED), retransmitted segments
 * and SYN-ACKs, smoothed RTT samples from tcp_probe.
 *
 * Most TCP events run in softirq context, where `current` is whoever was
 * interrupted, so sockets are charged to their owner, not to current: the
 * process that called connect() (recorded at SYN_SENT, process context) or
 * the process that listens on the local port (recorded at LISTEN) for
 * accepted connections.
 */
#include "proc.bpf.h"

#define AF_INET		2
#define AF_INET6	10
#define IPPROTO_TCP	6

char LICENSE[] SEC("license") = "GPL";

/* struct sock address -> owner */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KP_MAX_SOCKS);
	__type(key, __u64);
	__type(value, struct kp_sock);
} sock_owner SEC(".maps");

/* local port -> tgid of the listening process */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u16);
	__type(value, __u32);
} listeners SEC(".maps");

static __always_inline __u32 sock_tgid(const struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct kp_sock *o = bpf_map_lookup_elem(&sock_owner, &key);

	return o ? o->tgid : 0;
}

static __always_inline void on_state(const struct sock *sk, int old, int new)
{
	__u64 key = (__u64)sk, now;
	struct kp_sock *o, no = {};
	struct kp_proc_acct *p = NULL;
	__u32 tgid = 0, *lt;
	__u16 port;

	count_event();
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return;
	now = bpf_ktime_get_ns();
	port = BPF_CORE_READ(sk, __sk_common.skc_num);

	switch (new) {
	case TCP_LISTEN:
		tgid = bpf_get_current_pid_tgid() >> 32;
		bpf_map_update_elem(&listeners, &port, &tgid, BPF_ANY);
		return;
	case TCP_SYN_SENT:
		no.tgid = bpf_get_current_pid_tgid() >> 32;
		no.syn_sent_ns = now;
		bpf_map_update_elem(&sock_owner, &key, &no, BPF_ANY);
		return;
	case TCP_ESTABLISHED:
		if (old == TCP_SYN_SENT) {
			o = bpf_map_lookup_elem(&sock_owner, &key);
			if (!o)
				return;
			tgid = o->tgid;
			p = proc_get(tgid);
			if (!p)
				return;
			add(p->tcp.tcp_active_opens, 1);
			add(p->tcp.tcp_conn_hist[hist_slot(now - o->syn_sent_ns)], 1);
		} else if (old == TCP_SYN_RECV) {
			lt = bpf_map_lookup_elem(&listeners, &port);
			if (!lt)
				return;
			tgid = *lt;
			no.tgid = tgid;
			bpf_map_update_elem(&sock_owner, &key, &no, BPF_ANY);
			p = proc_get(tgid);
			if (!p)
				return;
			add(p->tcp.tcp_passive_opens, 1);
		}
		break;
	case TCP_CLOSE:
		if (old == TCP_LISTEN) {
			bpf_map_delete_elem(&listeners, &port);
			return;
		}
		tgid = sock_tgid(sk);
		bpf_map_delete_elem(&sock_owner, &key);
		if (!tgid || old == TCP_SYN_SENT)
			return;
		p = proc_get(tgid);
		if (!p)
			return;
		add(p->tcp.tcp_closes, 1);
		/*
		 * The full socket never shows TIME_WAIT: tcp_time_wait() hands
		 * over to a timewait socket and closes this one from FIN_WAIT2
		 * or CLOSING, the states only an active closer passes through.
		 */
		if (old == TCP_FIN_WAIT2 || old == TCP_CLOSING)
			add(p->tcp.tcp_time_wait, 1);
		break;
	default:
		return;
	}
	if (p)
		proc_flush(p, tgid, now, false);
}

static __always_inline void charge_retrans(const struct sock *sk, bool listener)
{
	__u32 tgid = 0, *lt;
	struct kp_proc_acct *p;
	__u16 port;

	count_event();
	if (listener) {
		port = BPF_CORE_READ(sk, __sk_common.skc_num);
		lt = bpf_map_lookup_elem(&listeners, &port);
		tgid = lt ? *lt : 0;
	} else {
		tgid = sock_tgid(sk);
	}
	if (!tgid)
		return;
	p = proc_get(tgid);
	if (!p)
		return;
	add(p->tcp.tcp_retrans, 1);
	proc_flush(p, tgid, bpf_ktime_get_ns(), false);
}

static __always_inline void on_probe(struct sock *sk)
{
	__u32 tgid, srtt;
	struct kp_proc_acct *p;

	count_event();
	tgid = sock_tgid(sk);
	if (!tgid)
		return;
	p = bpf_map_lookup_elem(&proc_stats, &tgid);
	if (!p)
		return;
	srtt = BPF_CORE_READ((struct tcp_sock *)sk, srtt_us) >> 3;
	add(p->tcp.tcp_srtt_sum_us, srtt);
	add(p->tcp.tcp_srtt_samples, 1);
	proc_flush(p, tgid, bpf_ktime_get_ns(), false);
}

TP_TWINS(inet_sock_set_state, on_state(sk, old, new), const struct sock *sk, int old, int new)
TP_TWINS(tcp_retransmit_skb, charge_retrans(sk, false), const struct sock *sk)
TP_TWINS(tcp_retransmit_synack, charge_retrans(sk, true), const struct sock *sk)
TP_TWINS(tcp_probe, on_probe(sk), struct sock *sk)
