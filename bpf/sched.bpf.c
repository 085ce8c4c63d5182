// SPDX-License-Identifier: GPL-2.0
/*
 * Scheduler observer: per-thread CPU time, run-queue wait (with a log2
 * histogram of single waits) and voluntary/involuntary context switches,
 * accumulated in task storage (or a hash keyed by pid where tracing programs
 * lack it) and streamed as one delta record per thread per flush interval.
 *
 * The kernel already keeps all of it per task: se.sum_exec_runtime (the clock
 * behind CLOCK_PROCESS_CPUTIME_ID), sched_info.run_delay (total run-queue
 * wait, CONFIG_SCHED_INFO) and nvcsw/nivcsw. So sched_switch only charges
 * the deltas of the task leaving the CPU: every run on a CPU was preceded by
 * exactly one wait, so the run_delay delta at switch-out is that one wait.
 * No timestamps, no wakeup handler, nothing for the incoming task. Exact,
 * and free of the interrupt time a switch-in/switch-out stopwatch absorbs.
 *
 * Where sched_info is missing, and in legacy mode, run-queue wait is timed
 * instead: sched_wakeup/sched_wakeup_new (or a preemption) start the clock,
 * switch-in stops it.
 *
 * Each handler exists twice, tp_btf and raw_tp (TP_TWINS in common.bpf.h).
 *
 * Kernel safety (Documentation/design.md): task storage is only looked up
 * under the scheduler's locks (sched_switch, sched_wakeup) and in hard-IRQ
 * context (the hrtimer tick). Creating it there allocated with GFP_ATOMIC on
 * 5.13-6.3, which may wake kswapd, whose wakeup spins on the runqueue lock
 * sched_switch already holds: a deadlock. It is created where no scheduler
 * lock is held: at birth (task_newtask, sched_process_fork) and, for tasks
 * alive at start-up, by the seed_tasks iterator that user space runs once
 * after attaching the birth programs and before the others. The legacy hash
 * is preallocated: inserting into it allocates nothing (see task_get()).
 */
#include "proc.bpf.h"

#define TASK_RUNNING	0
#define TASK_DEAD	0x80

char LICENSE[] SEC("license") = "GPL";

/* Set by user space: run-queue wait from sched_info.run_delay (else timed). */
const volatile bool runq_from_schedinfo = true;

/* Before 5.14 the state field was `long state`. */
struct task_struct___o {
	volatile long state;
} __attribute__((preserve_access_index));

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

/*
 * Task storage needs a BTF task pointer: only the tp_btf family has one.
 * `create` may be true under scheduler locks only for the legacy hash
 * (create_locked()): it is preallocated (no BPF_F_NO_PREALLOC), so an insert pops
 * a free element and takes the bucket's raw spinlock, never the allocator.
 */
#define create_locked(btf) (!(btf))

static __always_inline struct kp_task *task_get(struct task_struct *t, __u32 pid,
						bool btf, bool create)
{
	static const struct kp_task zero;

	if (btf)
		return bpf_task_storage_get(&task_store, t, 0,
					    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	if (!create)
		return bpf_map_lookup_elem(&task_hash, &pid);
	return lookup_or_init(&task_hash, &pid, &zero);
}

#define rd(btf, t, field) ((btf) ? (t)->field : BPF_CORE_READ(t, field))

/*
 * Charge the kernel's counters since the last charge. The first sight of a
 * task only takes the baseline, so tasks older than the observer don't
 * report their lifetime at once. `switched_out`: the task just ended a run,
 * so the run_delay delta is the single wait before that run.
 */
static __always_inline void charge(struct kp_task *v, struct task_struct *t, bool btf,
				   bool switched_out)
{
	__u64 runtime = rd(btf, t, se.sum_exec_runtime);
	__u64 nvcsw = rd(btf, t, nvcsw), nivcsw = rd(btf, t, nivcsw), delay = 0;
	bool first = !v->seen;

	if (runq_from_schedinfo)
		delay = rd(btf, t, sched_info.run_delay);
	if (!first) {
		v->cpu_ns += runtime - v->last_runtime_ns;
		v->nvcsw += nvcsw - v->last_nvcsw;
		v->nivcsw += nivcsw - v->last_nivcsw;
		if (runq_from_schedinfo && switched_out) {
			__u64 wait = delay - v->last_run_delay_ns;

			v->runq_ns += wait;
			v->runq_hist[hist_slot(wait)]++;
		}
	}
	v->seen = 1;
	v->last_runtime_ns = runtime;
	v->last_nvcsw = nvcsw;
	v->last_nivcsw = nivcsw;
	/* Mid-run charges (tick, exit) leave the current wait for switch-out. */
	if (runq_from_schedinfo && (switched_out || first))
		v->last_run_delay_ns = delay;
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
	if (!r) {
		count_drop();
		return;	/* keep the counts: the next flush carries them */
	}
	set_hdr(&r->hdr, KP_REC_TASK, flags, v->op, now);
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

/* Timestamp method: a wait ends when the task is switched in. */
static __always_inline void timed_switch_in(struct task_struct *next, bool btf, __u64 now)
{
	__u32 pid = rd(btf, next, pid);
	struct kp_task *v;
	__u64 wait;

	if (!pid)
		return;
	/* only a task whose wait began at a wakeup or preemption has one to end:
	 * its state exists already, so look it up and never create it here */
	v = task_get(next, pid, btf, false);
	if (!v || !v->runq_since_ns)
		return;
	wait = now - v->runq_since_ns;
	v->runq_ns += wait;
	v->runq_hist[hist_slot(wait)]++;
	v->runq_since_ns = 0;
}

/*
 * The flush clock of a task: se.exec_start, the run-queue clock the kernel
 * stamped when it last charged the task (just now, at switch-out or tick).
 * A load instead of a clock read on the hottest path; only flush timing
 * depends on it, never a reported figure.
 */
static __always_inline __u64 task_clock(struct task_struct *t, bool btf)
{
	return rd(btf, t, se.exec_start);
}

static __always_inline void on_switch(struct task_struct *prev, struct task_struct *next,
				      bool btf)
{
	__u64 now = 0, clock;
	__u32 pid, tgid, state;
	struct kp_task *v;

	count_event();
	if (!runq_from_schedinfo) {
		now = bpf_ktime_get_ns();
		timed_switch_in(next, btf, now);
	}
	pid = rd(btf, prev, pid);
	if (!pid)
		return;	/* the idle task */
	v = task_get(prev, pid, btf, create_locked(btf));
	if (!v)
		return;	/* no state (born before the iterator ran, or no memory) */
	charge(v, prev, btf, true);
	state = task_state(prev, btf);
	if (!runq_from_schedinfo && state == TASK_RUNNING)
		v->runq_since_ns = now;	/* preempted: waiting from now */
	tgid = rd(btf, prev, tgid);
	clock = task_clock(prev, btf);
	if (state & TASK_DEAD) {
		/* Its last switch: everything it ran is in. */
		task_flush(v, prev, pid, tgid, bpf_ktime_get_ns(), KP_F_EXIT);
		if (!btf)
			bpf_map_delete_elem(&task_hash, &pid);
	} else if (flush_due(&v->last_flush_ns, clock)) {
		task_flush(v, prev, pid, tgid, bpf_ktime_get_ns(), 0);
	}
}

/* Timestamp method only: a wakeup starts a wait. */
static __always_inline void on_wakeup(struct task_struct *p, bool btf)
{
	__u32 pid = rd(btf, p, pid);
	struct kp_task *v;

	count_event();
	if (!pid)
		return;
	v = task_get(p, pid, btf, create_locked(btf));
	if (!v)
		return;
	if (!v->seen)
		charge(v, p, btf, false);
	if (!v->runq_since_ns)
		v->runq_since_ns = bpf_ktime_get_ns();
}

/*
 * Every new task (thread or process) gets its state at birth, with the
 * baseline of its counters (zero), so a child that runs and exits without
 * ever being switched out still reports all it ran. task_newtask fires in
 * copy_process() for every task, io_uring workers included, with no
 * scheduler lock held and before the task first runs; sched_process_fork
 * (same context, later) repeats it in case task_newtask could not attach.
 */
static __always_inline void task_born(struct task_struct *t, bool btf)
{
	struct kp_task *v = task_get(t, rd(btf, t, pid), btf, true);

	if (v && !v->seen)
		charge(v, t, btf, false);
}

/* A new process (not a thread) inherits its parent's operator. */
static __always_inline void on_fork(struct task_struct *parent, struct task_struct *child,
				    bool btf)
{
	__u32 ptgid = rd(btf, parent, tgid), ctgid = rd(btf, child, tgid), *op;

	count_event();
	task_born(child, btf);
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
	__u32 pid = rd(btf, p, pid), tgid = rd(btf, p, tgid);
	__u64 now = bpf_ktime_get_ns();
	struct kp_proc_acct *pp;
	struct kp_task *v;

	count_event();
	v = task_get(p, pid, btf, false);
	if (v) {
		charge(v, p, btf, false);
		task_flush(v, p, pid, tgid, now, 0);
		v->last_flush_ns = task_clock(p, btf);
	}
	if (BPF_CORE_READ(p, signal, live.counter))
		return;
	pp = bpf_map_lookup_elem(&proc_stats, &tgid);
	if (pp)
		proc_flush(pp, tgid, now, true);
	bpf_map_delete_elem(&members, &tgid);
}

TP_TWINS(sched_switch, on_switch(prev, next, btf),
	 bool preempt, struct task_struct *prev, struct task_struct *next)
TP_TWINS(sched_wakeup, on_wakeup(p, btf), struct task_struct *p)
TP_TWINS(sched_wakeup_new, on_wakeup(p, btf), struct task_struct *p)
TP_TWINS(task_newtask, task_born(task, btf), struct task_struct *task, u64 clone_flags)
TP_TWINS(sched_process_fork, on_fork(parent, child, btf),
	 struct task_struct *parent, struct task_struct *child)
TP_TWINS(sched_process_exit, on_proc_exit(p, btf), struct task_struct *p)

/*
 * Run once by user space (bpf_iter_create + read) after the birth programs
 * are attached and before the others: gives every task alive at start-up
 * its storage and baseline, in process context under no scheduler lock.
 * A task born meanwhile gets it from task_newtask; creating twice is a no-op.
 */
SEC("iter/task")
int seed_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *t = ctx->task;
	struct kp_task *v;

	if (!t || !t->pid)
		return 0;
	v = bpf_task_storage_get(&task_store, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (v && !v->seen)
		charge(v, t, true, false);
	return 0;
}

/*
 * Threads that never leave their CPU still report every interval: the
 * scheduler tick is an hrtimer, so hrtimer expiry interrupts them, and
 * se.sum_exec_runtime is fresh there. Checked at most four times per flush
 * interval per CPU, so the cost is a few lookups per second.
 */
__u64 tick_next_ns[KP_MAX_CPUS] SEC(".bss");

static __always_inline void on_tick(bool btf)
{
	__u32 cpu = bpf_get_smp_processor_id() & (KP_MAX_CPUS - 1);
	__u64 now = bpf_ktime_get_ns(), id;
	struct task_struct *t;
	struct kp_task *v;
	__u32 pid;

	if (now < tick_next_ns[cpu])
		return;
	tick_next_ns[cpu] = now + flush_ns / 4;
	id = bpf_get_current_pid_tgid();
	pid = (__u32)id;
	if (!pid)
		return;
	/*
	 * Look up only: hard-IRQ context, where an allocation may wake kswapd
	 * and deadlock on a runqueue lock (the header comment). A thread got
	 * its state at birth or from the start-up iterator.
	 */
	t = btf ? bpf_get_current_task_btf() : (void *)bpf_get_current_task();
	v = task_get(t, pid, btf, false);
	if (!v || !v->seen)
		return;
	charge(v, t, btf, false);
	if (flush_due(&v->last_flush_ns, task_clock(t, btf)))
		task_flush(v, t, pid, id >> 32, now, 0);
}

TP_TWINS(hrtimer_expire_entry, on_tick(btf))
