// SPDX-License-Identifier: GPL-2.0
/*
 * Reference programs for tools/bench/observer-overhead, attached next to the
 * observer on the same tracepoint so their per-event costs are measured in
 * the same run: an empty handler (the floor) and a runqlat-style handler
 * (hash update on switch-out, lookup + delete on switch-in), the usual way.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, __u64);
} start SEC(".maps");

__u32 hist[32];

SEC("tp_btf/sched_switch")
int BPF_PROG(empty_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(runqlat_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u32 pid = prev->pid;
	__u64 ts, *tsp, delta;
	__u32 slot = 0;

	if (prev->__state == 0 && pid) {
		ts = bpf_ktime_get_ns();
		bpf_map_update_elem(&start, &pid, &ts, BPF_ANY);
	}
	pid = next->pid;
	tsp = bpf_map_lookup_elem(&start, &pid);
	if (!tsp)
		return 0;
	delta = (bpf_ktime_get_ns() - *tsp) / 1000;
	while (delta >>= 1)
		if (++slot >= 31)
			break;
	__sync_fetch_and_add(&hist[slot & 31], 1);
	bpf_map_delete_elem(&start, &pid);
	return 0;
}
