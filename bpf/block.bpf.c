// SPDX-License-Identifier: GPL-2.0
/*
 * Block observer: per process, per device: ops, bytes read/written, latency
 * (issue -> complete) histogram and queue time (insert -> issue). A request
 * is charged to the task that submitted it: seen at block_io_start where the
 * kernel has it (6.5+), else the task that inserted it, or issued it when it
 * bypassed the scheduler.
 *
 * block_rq_insert/issue lost their request_queue argument in 5.11: the tp_btf
 * programs come in both shapes and user space loads the one matching the
 * running kernel's BTF; raw_tp reads the request from the slot in rq_arg.
 */
#include "proc.bpf.h"

#define REQ_OP_BITS	8
#define REQ_OP_MASK	((1 << REQ_OP_BITS) - 1)
#define REQ_OP_READ	0
#define REQ_OP_WRITE	1

char LICENSE[] SEC("license") = "GPL";

const volatile int rq_arg = 0;	/* raw_tp: 1 on kernels before 5.11 */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KP_MAX_INFLIGHT);
	__type(key, __u64);
	__type(value, struct kp_rq);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KP_MAX_DEVS);
	__type(key, __u32);
	__type(value, struct kp_dev);
} dev_stats SEC(".maps");

/* Before 5.16 the disk hung off the request itself. */
struct request___o {
	struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

static __always_inline __u32 rq_dev(struct request *rq)
{
	struct gendisk *disk;

	if (bpf_core_field_exists(((struct request___o *)rq)->rq_disk))
		disk = BPF_CORE_READ((struct request___o *)rq, rq_disk);
	else
		disk = BPF_CORE_READ(rq, q, disk);
	if (!disk)
		return 0;
	return (BPF_CORE_READ(disk, major) << 20) | BPF_CORE_READ(disk, first_minor);
}

/*
 * Requests are recycled from a per-queue pool, and one can vanish without a
 * completion (merged into another after insert). An entry whose generation
 * differs from the request's allocation time belongs to an earlier life of
 * the same struct request and is replaced.
 */
enum rq_stage { RQ_START, RQ_INSERT, RQ_ISSUE };

/*
 * block_io_start (6.5+) runs in the submitter's context when a bio becomes a
 * request: the owner is certain. Without it, the task inserting the request
 * (or issuing it, when it bypassed the scheduler) is the best guess, and
 * usually the submitter too.
 */
static __always_inline void on_rq(struct request *rq, enum rq_stage stage)
{
	__u64 key = (__u64)rq, now = bpf_ktime_get_ns(), gen;
	struct kp_rq *v, nv = {};

	count_event();
	gen = BPF_CORE_READ(rq, start_time_ns);
	v = bpf_map_lookup_elem(&inflight, &key);
	if (v && v->gen == gen && stage != RQ_START) {
		if (stage == RQ_ISSUE)
			v->issue_ns = now;
		else
			v->insert_ns = now;
		return;
	}
	nv.gen = gen;
	nv.tgid = bpf_get_current_pid_tgid() >> 32;
	nv.dev = rq_dev(rq);
	if (stage == RQ_ISSUE)
		nv.issue_ns = now;
	else if (stage == RQ_INSERT)
		nv.insert_ns = now;
	bpf_map_update_elem(&inflight, &key, &nv, BPF_ANY);
}

static __always_inline struct kp_dev *dev_get(__u32 dev)
{
	static const struct kp_dev zero;

	return lookup_or_init(&dev_stats, &dev, &zero);
}

static __always_inline void dev_flush(struct kp_dev *d, __u32 dev, __u64 now)
{
	struct kp_dev_rec *r;

	if (!flush_due(&d->last_flush_ns, now))
		return;
	r = reserve(sizeof(*r));
	if (!r) {
		count_drop();
		return;	/* keep the counts: the next flush carries them */
	}
	set_hdr(&r->hdr, KP_REC_DEV, 0, 0, now);
	r->dev = dev;
	r->pad = 0;
	take_io(&r->io, &d->io);
	submit(r);
}

static __always_inline void count_io(struct kp_io_counts *c, bool read, __u32 len,
				     __u64 queue, __u32 slot)
{
	add(c->io_ops, 1);
	if (read)
		add(c->io_read_bytes, len);
	else
		add(c->io_write_bytes, len);
	add(c->io_queue_ns, queue);
	add(c->io_lat_hist[slot], 1);
}

static __always_inline void on_complete(struct request *rq)
{
	__u64 key = (__u64)rq, now = bpf_ktime_get_ns(), lat, queue = 0;
	__u32 op, len, slot;
	struct kp_proc_acct *p;
	struct kp_dev *d;
	struct kp_rq *v;

	count_event();
	v = bpf_map_lookup_elem(&inflight, &key);
	if (!v)
		return;	/* issued before we attached, or already completed */
	if (!v->issue_ns || v->gen != BPF_CORE_READ(rq, start_time_ns))
		goto out;
	lat = now - v->issue_ns;
	if (v->insert_ns && v->issue_ns > v->insert_ns)
		queue = v->issue_ns - v->insert_ns;
	slot = hist_slot(lat);
	op = BPF_CORE_READ(rq, cmd_flags) & REQ_OP_MASK;
	len = BPF_CORE_READ(rq, __data_len);
	if (op != REQ_OP_READ && op != REQ_OP_WRITE)
		goto out;

	d = dev_get(v->dev);
	if (d) {
		count_io(&d->io, op == REQ_OP_READ, len, queue, slot);
		dev_flush(d, v->dev, now);
	}
	p = v->tgid ? proc_get(v->tgid) : NULL;
	if (p) {
		count_io(&p->io, op == REQ_OP_READ, len, queue, slot);
		proc_flush(p, v->tgid, now, false);
	}
out:
	bpf_map_delete_elem(&inflight, &key);
}

TP_TWINS(block_io_start, on_rq(rq, RQ_START), struct request *rq)
TP_TWINS(block_rq_complete, on_complete(rq), struct request *rq)

/*
 * Not twins: insert and issue take (q, rq) before 5.11 and (rq) since, so
 * tp_btf has one program per shape and raw_tp reads the slot rq_arg says.
 */
SEC("tp_btf/block_rq_insert")
int BPF_PROG(tp_block_rq_insert, struct request *rq)
{
	on_rq(rq, RQ_INSERT);
	return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(tp_block_rq_issue, struct request *rq)
{
	on_rq(rq, RQ_ISSUE);
	return 0;
}

SEC("tp_btf/block_rq_insert")
int BPF_PROG(tp_block_rq_insert_old, void *q, struct request *rq)
{
	on_rq(rq, RQ_INSERT);
	return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(tp_block_rq_issue_old, void *q, struct request *rq)
{
	on_rq(rq, RQ_ISSUE);
	return 0;
}

SEC("raw_tp/block_rq_insert")
int raw_block_rq_insert(__u64 *ctx)
{
	on_rq((struct request *)ctx[rq_arg & 1], RQ_INSERT);
	return 0;
}

SEC("raw_tp/block_rq_issue")
int raw_block_rq_issue(__u64 *ctx)
{
	on_rq((struct request *)ctx[rq_arg & 1], RQ_ISSUE);
	return 0;
}
