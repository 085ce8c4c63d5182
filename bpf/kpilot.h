/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Records the BPF programs stream to user space, and the map values bpftool
 * shows. Plain fixed-size C types only: this header is compiled both against
 * vmlinux.h (BPF) and against libc (user space).
 */
#ifndef KPILOT_H
#define KPILOT_H

#define KP_COMM_LEN	16
/* log2 buckets: slot k counts values in [2^k, 2^(k+1)) microseconds (slot 0: < 2 us). */
#define KP_HIST_SLOTS	24
#define KP_MAX_CPUS	512	/* per-CPU counter slots in .bss */
#define KP_MAX_TASKS	32768	/* hash fallback for per-task state */
#define KP_MAX_PROCS	16384
#define KP_MAX_DEVS	64
#define KP_MAX_INFLIGHT	8192	/* block requests in flight */
#define KP_MAX_SOCKS	65536

enum kp_rec_type {
	KP_REC_TASK = 1,	/* sched deltas of one thread */
	KP_REC_PROC = 2,	/* block + tcp deltas of one process (tgid) */
	KP_REC_DEV = 3,		/* block deltas of one device */
};

enum kp_rec_flags {
	KP_F_EXIT = 1,		/* last record of this thread: it exited */
};

struct kp_rec_hdr {
	__u16 type;
	__u16 flags;
	__u32 op;		/* operator id, 0 = none */
	__u64 ts_ns;		/* CLOCK_MONOTONIC (bpf_ktime_get_ns) at emission */
};

/* Per thread; user space sums threads into their process. */
struct kp_task_rec {
	struct kp_rec_hdr hdr;
	__u32 pid;
	__u32 tgid;
	char comm[KP_COMM_LEN];	/* the process (group leader) name */
	__u64 cpu_ns;
	__u64 runq_ns;
	__u32 nvcsw;
	__u32 nivcsw;
	__u32 runq_hist[KP_HIST_SLOTS];
};

/*
 * Block I/O counts of one process or device, and TCP counts of one process:
 * the same structs in the BPF map values, the records and user space's
 * sweep of dead processes, so every counter is named once. Field names are
 * those of the JSON report and of bpftool's dump of the pinned maps.
 */
struct kp_io_counts {
	__u64 io_ops;
	__u64 io_read_bytes;
	__u64 io_write_bytes;
	__u64 io_queue_ns;	/* insert -> issue, summed */
	__u32 io_lat_hist[KP_HIST_SLOTS];	/* issue -> complete */
};

struct kp_tcp_counts {
	__u64 tcp_retrans;	/* segments and SYN-ACKs */
	__u64 tcp_srtt_sum_us;	/* sum of tcp_probe srtt samples */
	__u64 tcp_srtt_samples;
	__u64 tcp_active_opens;
	__u64 tcp_passive_opens;
	__u64 tcp_closes;
	__u64 tcp_time_wait;
	__u32 tcp_conn_hist[KP_HIST_SLOTS];	/* SYN_SENT -> ESTABLISHED */
};

struct kp_proc_rec {
	struct kp_rec_hdr hdr;
	__u32 tgid;
	__u32 pad;
	struct kp_io_counts io;
	struct kp_tcp_counts tcp;
};

struct kp_dev_rec {
	struct kp_rec_hdr hdr;
	__u32 dev;		/* major << 20 | minor, as the kernel's dev_t */
	__u32 pad;
	struct kp_io_counts io;
};

/*
 * Map values (pinned maps are dumped by bpftool with these names).
 * kp_task: per-thread accumulator, in task storage or the fallback hash.
 */
struct kp_task {
	__u64 last_flush_ns;	/* task clock (se.exec_start) at the last flush */
	__u64 cpu_ns;
	__u64 runq_ns;
	__u32 nvcsw;
	__u32 nivcsw;
	__u32 runq_hist[KP_HIST_SLOTS];
	/* The kernel's own counters at the last charge (deltas are charged). */
	__u64 last_runtime_ns;	/* se.sum_exec_runtime */
	__u64 last_run_delay_ns;	/* sched_info.run_delay */
	__u64 last_nvcsw;
	__u64 last_nivcsw;
	__u64 runq_since_ns;	/* timestamp method: runnable since, 0 = not waiting */
	__u32 op;		/* operator at the last flush, kept past exit */
	__u8 seen;		/* the last_* fields hold a baseline */
	__u8 watched;		/* was a member at some flush */
	__u16 pad;
};

/* Per-process (tgid) block and tcp accumulator, in proc_stats. */
struct kp_proc_acct {
	__u64 last_flush_ns;
	struct kp_io_counts io;
	struct kp_tcp_counts tcp;
};

struct kp_dev {
	__u64 last_flush_ns;
	struct kp_io_counts io;
};

/* A block request in flight, keyed by its struct request address. */
struct kp_rq {
	__u64 gen;		/* rq->start_time_ns: tells a reused request apart */
	__u64 insert_ns;
	__u64 issue_ns;
	__u32 tgid;		/* submitter */
	__u32 dev;
};

/* A TCP socket's owner, keyed by struct sock address. */
struct kp_sock {
	__u64 syn_sent_ns;
	__u32 tgid;
	__u32 pad;
};

/* Per-CPU statistics, one cache line each so CPUs never share one. */
struct kp_cpu_stats {
	__u64 events;		/* handler invocations */
	__u64 records;		/* records submitted */
	__u64 drops;		/* records the ring buffer had no room for */
	__u64 pad[5];
};

#endif /* KPILOT_H */
