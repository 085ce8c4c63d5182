// SPDX-License-Identifier: GPL-2.0
/*
 * Scheduler observer: per-thread CPU time, run-queue wait (with a log2
 * histogram) and voluntary/involuntary context switches, accumulated in task
 * storage (or a hash keyed by pid on kernels without it) and streamed as one
 * delta record per thread per flush interval.
 *
 * Each handler exists twice: tp_btf (direct BTF access, cheapest) and raw_tp
 * (BPF_CORE_READ, for kernels where tp_btf can't attach). User space loads one
 * family. The bodies are __always_inline with a constant `btf` flag, so the
 * compiler drops the other family's code from each program.
 */
#include "proc.bpf.h"

#define TASK_RUNNING	0
#define TASK_DEAD	0x80

/* Before 5.14 the state field was `long state`. */
struct task_struct___o {
	volatile long state;
} __attribute__((preserve_access_index));

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct kp_task);
} task_store SEC(".maps");

/* Fallback for kernels without task storage in tracing programs (< 5.13). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KP_MAX_TASKS);
	__type(key, __u32);
	__type(value, struct kp_task);
} task_hash SEC(".maps");

/* Task storage needs a BTF task pointer: only the tp_btf family has one. */
static __always_inline struct kp_task *task_get(struct task_struct *t, __u32 pid,
						bool btf, bool create)
{
	static const struct kp_task zero;
	struct kp_task *v;

	if (btf)
		return bpf_task_storage_get(&task_store, t, 0,
					    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	v = bpf_map_lookup_elem(&task_hash, &pid);
	if (v || !create)
		return v;
	bpf_map_update_elem(&task_hash, &pid, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&task_hash, &pid);
}

/*
 * CPU time is charged as deltas of the kernel's own se.sum_exec_runtime, the
 * clock behind CLOCK_PROCESS_CPUTIME_ID: exact, free of the interrupt time a
 * switch-in/switch-out stopwatch would absorb, and one load instead of a
 * timestamp. The first sight of a task only takes the baseline, so tasks
 * older than the observer don't report their whole lifetime at once.
 */
static __always_inline void charge(struct kp_task *v, __u64 runtime)
{
	if (v->seen)
		v->cpu_ns += runtime - v->last_runtime_ns;
	v->seen = 1;
	v->last_runtime_ns = runtime;
}

static __always_inline __u64 task_runtime(struct task_struct *t, bool btf)
{
	return btf ? t->se.sum_exec_runtime : BPF_CORE_READ(t, se.sum_exec_runtime);
}

/*
 * Whether the thread's records are wanted, and its operator. The answer is
 * cached in the task, so its last records, sent after the process left
 * `members` at exit, still go to its operator.
 */
static __always_inline bool task_wanted(struct kp_task *v, __u32 tgid)
{
	__u32 *op = bpf_map_lookup_elem(&members, &tgid);

	if (op) {
		v->op = *op;
		v->watched = 1;
	}
	return v->watched || !filter_members;
}

/*
 * Emit the thread's deltas and reset them. Only the CPU the thread runs on
 * (switch-out, tick, exit) calls this, so no other writer races with it.
 */
static __always_inline void task_flush(struct kp_task *v, struct task_struct *t,
				       __u32 pid, __u32 tgid, __u64 now, __u16 flags)
{
	struct kp_task_rec *r;
	int i;

	if (!task_wanted(v, tgid))
		goto reset;
	if (!v->cpu_ns && !v->runq_ns && !v->nvcsw && !v->nivcsw && !(flags & KP_F_EXIT))
		return;
	r = reserve(sizeof(*r));
	if (!r)
		return;	/* keep the counts: the next flush carries them */
	r->hdr.type = KP_REC_TASK;
	r->hdr.flags = flags;
	r->hdr.op = v->op;
	r->hdr.ts_ns = now;
	r->pid = pid;
	r->tgid = tgid;
	BPF_CORE_READ_STR_INTO(&r->comm, t, group_leader, comm);
	r->cpu_ns = v->cpu_ns;
	r->runq_ns = v->runq_ns;
	r->nvcsw = v->nvcsw;
	r->nivcsw = v->nivcsw;
	for (i = 0; i < KP_HIST_SLOTS; i++)
		r->runq_hist[i] = v->runq_hist[i];
	submit(r);
reset:
	v->cpu_ns = 0;
	v->runq_ns = 0;
	v->nvcsw = 0;
	v->nivcsw = 0;
	__builtin_memset(v->runq_hist, 0, sizeof(v->runq_hist));
}

static __always_inline __u32 task_state(struct task_struct *t, bool btf)
{
	if (bpf_core_field_exists(t->__state))
		return btf ? t->__state : BPF_CORE_READ(t, __state);
	return BPF_CORE_READ((struct task_struct___o *)t, state);
}

static __always_inline void on_switch(bool preempt, struct task_struct *prev,
				      struct task_struct *next, bool btf)
{
	__u32 prev_pid, prev_tgid, next_pid, state;
	__u64 now = bpf_ktime_get_ns();
	struct kp_task *v;

	count_event();
	if (btf) {
		prev_pid = prev->pid;
		prev_tgid = prev->tgid;
		next_pid = next->pid;
	} else {
		prev_pid = BPF_CORE_READ(prev, pid);
		prev_tgid = BPF_CORE_READ(prev, tgid);
		next_pid = BPF_CORE_READ(next, pid);
	}

	if (prev_pid) {
		v = task_get(prev, prev_pid, btf, true);
		if (v) {
			state = task_state(prev, btf);
			charge(v, task_runtime(prev, btf));
			/* The kernel's own rule for nvcsw vs nivcsw. */
			if (preempt || state == TASK_RUNNING) {
				v->nivcsw++;
				v->runq_since_ns = now;
			} else {
				v->nvcsw++;
			}
			if (state & TASK_DEAD) {
				/* Its last switch: everything it ran is in. */
				task_flush(v, prev, prev_pid, prev_tgid, now, KP_F_EXIT);
				if (!btf)
					bpf_map_delete_elem(&task_hash, &prev_pid);
			} else if (flush_due(&v->last_flush_ns, now)) {
				task_flush(v, prev, prev_pid, prev_tgid, now, 0);
			}
		}
	}

	if (next_pid) {
		v = task_get(next, next_pid, btf, true);
		if (v) {
			if (v->runq_since_ns) {
				__u64 wait = now - v->runq_since_ns;

				v->runq_ns += wait;
				v->runq_hist[hist_slot(wait)]++;
				v->runq_since_ns = 0;
			}
			if (!v->seen)
				charge(v, task_runtime(next, btf));
		}
	}
}

static __always_inline void on_wakeup(struct task_struct *p, bool btf)
{
	__u32 pid = btf ? p->pid : BPF_CORE_READ(p, pid);
	struct kp_task *v;

	count_event();
	if (!pid)
		return;
	v = task_get(p, pid, btf, true);
	if (!v)
		return;
	if (!v->runq_since_ns)
		v->runq_since_ns = bpf_ktime_get_ns();
	if (!v->seen)
		charge(v, task_runtime(p, btf));
}

/* A new process (not a thread) inherits its parent's operator. */
static __always_inline void on_fork(struct task_struct *parent, struct task_struct *child,
				    bool btf)
{
	__u32 ptgid, ctgid, *op;

	count_event();
	ptgid = btf ? parent->tgid : BPF_CORE_READ(parent, tgid);
	ctgid = btf ? child->tgid : BPF_CORE_READ(child, tgid);
	if (ptgid == ctgid)
		return;
	op = bpf_map_lookup_elem(&members, &ptgid);
	if (op)
		bpf_map_update_elem(&members, &ctgid, op, BPF_ANY);
}

/*
 * A thread exits: flush what it has (which also caches its operator) and,
 * when it is the process's last thread, flush the process's block and tcp
 * counts and take it out of its operator. Its final switch sends the rest.
 */
static __always_inline void on_proc_exit(struct task_struct *p, bool btf)
{
	__u32 pid, tgid;
	__u64 now = bpf_ktime_get_ns();
	struct kp_proc *pp;
	struct kp_task *v;
	int live;

	count_event();
	pid = btf ? p->pid : BPF_CORE_READ(p, pid);
	tgid = btf ? p->tgid : BPF_CORE_READ(p, tgid);
	v = task_get(p, pid, btf, false);
	if (v) {
		charge(v, task_runtime(p, btf));
		task_flush(v, p, pid, tgid, now, 0);
	}
	live = BPF_CORE_READ(p, signal, live.counter);
	if (live)
		return;
	pp = bpf_map_lookup_elem(&proc_stats, &tgid);
	if (pp)
		proc_flush(pp, tgid, now, true);
	bpf_map_delete_elem(&members, &tgid);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(tp_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	on_switch(preempt, prev, next, true);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(tp_sched_wakeup, struct task_struct *p)
{
	on_wakeup(p, true);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(tp_sched_wakeup_new, struct task_struct *p)
{
	on_wakeup(p, true);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(tp_sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	on_fork(parent, child, true);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(tp_sched_process_exit, struct task_struct *p)
{
	on_proc_exit(p, true);
	return 0;
}

SEC("raw_tp/sched_switch")
int BPF_PROG(raw_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	on_switch(preempt, prev, next, false);
	return 0;
}

SEC("raw_tp/sched_wakeup")
int BPF_PROG(raw_sched_wakeup, struct task_struct *p)
{
	on_wakeup(p, false);
	return 0;
}

SEC("raw_tp/sched_wakeup_new")
int BPF_PROG(raw_sched_wakeup_new, struct task_struct *p)
{
	on_wakeup(p, false);
	return 0;
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(raw_sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	on_fork(parent, child, false);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(raw_sched_process_exit, struct task_struct *p)
{
	on_proc_exit(p, false);
	return 0;
}

/*
 * A low-rate per-CPU timer (perf cpu-clock): charges the running thread and
 * flushes it when due, so a thread that never leaves its CPU still reports
 * every interval (se.sum_exec_runtime advances on every scheduler tick).
 */
const volatile bool tick_task_storage = true;

SEC("perf_event")
int tick(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	__u64 id = bpf_get_current_pid_tgid(), now;
	__u32 pid = (__u32)id, tgid = id >> 32;
	struct kp_task *v;

	if (!pid)
		return 0;
	if (tick_task_storage)
		v = bpf_task_storage_get(&task_store, bpf_get_current_task_btf(), 0, 0);
	else
		v = bpf_map_lookup_elem(&task_hash, &pid);
	if (!v || !v->seen)
		return 0;
	charge(v, BPF_CORE_READ(t, se.sum_exec_runtime));
	now = bpf_ktime_get_ns();
	if (flush_due(&v->last_flush_ns, now))
		task_flush(v, t, pid, tgid, now, 0);
	return 0;
}
