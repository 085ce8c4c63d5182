// SPDX-License-Identifier: GPL-2.0
/* Record decoding, aggregation into processes/operators/devices, percentiles. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include "observe/metrics.h"

static struct kp_task_rec task_rec(__u32 pid, __u32 tgid, __u32 op, __u64 cpu, __u16 flags)
{
	struct kp_task_rec r;

	memset(&r, 0, sizeof(r));
	r.hdr.type = KP_REC_TASK;
	r.hdr.op = op;
	r.hdr.flags = flags;
	r.pid = pid;
	r.tgid = tgid;
	strcpy(r.comm, "worker");
	r.cpu_ns = cpu;
	r.runq_ns = cpu / 10;
	r.nvcsw = 1;
	r.nivcsw = 2;
	r.runq_hist[3] = 1;
	return r;
}

Test(metrics, threads_sum_into_process_and_operator)
{
	struct kp_interval iv;
	struct kp_task_rec a = task_rec(100, 100, 1, 1000, 0), b = task_rec(101, 100, 1, 500, 0);
	struct kp_task_rec c = task_rec(200, 200, 1, 7, 0);
	struct kp_entity *p, *o;

	kp_interval_init(&iv);
	cr_assert_eq(kp_ingest(&iv, &a, sizeof(a)), 0);
	cr_assert_eq(kp_ingest(&iv, &b, sizeof(b)), 0);
	cr_assert_eq(kp_ingest(&iv, &c, sizeof(c)), 0);
	p = kp_table_find(&iv.procs, 100);
	cr_assert_not_null(p);
	cr_assert_eq(p->cpu_ns, 1500);
	cr_assert_eq(p->runq_ns, 150);
	cr_assert_eq(p->nvcsw, 2);
	cr_assert_eq(p->nivcsw, 4);
	cr_assert_eq(p->runq_hist[3], 2);
	cr_assert_eq(p->nthreads, 2);
	cr_assert_eq(p->op, 1);
	cr_assert_str_eq(p->comm, "worker");
	o = kp_table_find(&iv.ops, 1);
	cr_assert_not_null(o);
	cr_assert_eq(o->cpu_ns, 1507);
	cr_assert_eq(iv.procs.len, 2);
	cr_assert_eq(iv.records, 3);
	kp_interval_free(&iv);
}

Test(metrics, exit_of_leader_marks_process_exited)
{
	struct kp_interval iv;
	struct kp_task_rec t = task_rec(101, 100, 0, 1, KP_F_EXIT);
	struct kp_task_rec l = task_rec(100, 100, 0, 1, KP_F_EXIT);

	kp_interval_init(&iv);
	kp_ingest(&iv, &t, sizeof(t));
	cr_assert_not(kp_table_find(&iv.procs, 100)->exited, "a thread's exit is not the process's");
	kp_ingest(&iv, &l, sizeof(l));
	cr_assert(kp_table_find(&iv.procs, 100)->exited);
	cr_assert_null(kp_table_find(&iv.ops, 0), "no operator entity for op 0");
	kp_interval_free(&iv);
}

Test(metrics, proc_and_dev_records)
{
	struct kp_interval iv;
	struct kp_proc_rec r;
	struct kp_dev_rec d;
	struct kp_entity *p;

	memset(&r, 0, sizeof(r));
	r.hdr.type = KP_REC_PROC;
	r.tgid = 42;
	r.io.io_ops = 3;
	r.io.io_read_bytes = 4096;
	r.io.io_write_bytes = 8192;
	r.tcp.tcp_active_opens = 2;
	r.tcp.tcp_time_wait = 1;
	r.tcp.tcp_srtt_sum_us = 300;
	r.tcp.tcp_srtt_samples = 3;
	r.io.io_lat_hist[5] = 3;
	memset(&d, 0, sizeof(d));
	d.hdr.type = KP_REC_DEV;
	d.dev = (254 << 20) | 0;
	d.io.io_ops = 9;
	kp_interval_init(&iv);
	cr_assert_eq(kp_ingest(&iv, &r, sizeof(r)), 0);
	cr_assert_eq(kp_ingest(&iv, &r, sizeof(r)), 0);
	cr_assert_eq(kp_ingest(&iv, &d, sizeof(d)), 0);
	p = kp_table_find(&iv.procs, 42);
	cr_assert_eq(p->io_ops, 6);
	cr_assert_eq(p->io_read_bytes, 8192);
	cr_assert_eq(p->io_write_bytes, 16384);
	cr_assert_eq(p->tcp_active_opens, 4);
	cr_assert_eq(p->tcp_srtt_samples, 6);
	cr_assert_eq(p->io_lat_hist[5], 6);
	cr_assert_eq(kp_table_find(&iv.devs, d.dev)->io_ops, 9);
	kp_interval_free(&iv);
}

Test(metrics, malformed_records_are_counted_and_ignored)
{
	struct kp_interval iv;
	struct kp_task_rec t = task_rec(1, 1, 0, 1, 0);
	struct kp_rec_hdr h = { .type = 99 };

	kp_interval_init(&iv);
	cr_assert_eq(kp_ingest(&iv, &t, sizeof(t) - 1), -EINVAL);
	cr_assert_eq(kp_ingest(&iv, &h, sizeof(h)), -EINVAL);
	cr_assert_eq(kp_ingest(&iv, &h, 2), -EINVAL);
	cr_assert_eq(iv.bad_records, 3);
	cr_assert_eq(iv.records, 0);
	cr_assert_eq(iv.procs.len, 0);
	kp_interval_free(&iv);
}

Test(metrics, table_grows_and_sorts_by_cpu)
{
	struct kp_table t;
	struct kp_entity *v;
	size_t n, i;

	kp_table_init(&t);
	for (i = 1; i <= 1000; i++)
		kp_table_get(&t, KP_ENTITY_PROCESS, i)->cpu_ns = (i * 7919) % 1000;
	cr_assert_eq(t.len, 1000);
	for (i = 1; i <= 1000; i++)
		cr_assert_eq(kp_table_find(&t, i)->id, i);
	cr_assert_null(kp_table_find(&t, 5000));
	v = kp_table_sorted(&t, &n);
	cr_assert_eq(n, 1000);
	for (i = 1; i < n; i++)
		cr_assert_geq(v[i - 1].cpu_ns, v[i].cpu_ns);
	free(v);
	kp_table_clear(&t);
	cr_assert_eq(t.len, 0);
	cr_assert_null(kp_table_find(&t, 1));
	kp_table_free(&t);
}

Test(metrics, percentile_of_log2_hist)
{
	__u64 h[KP_HIST_SLOTS] = {};

	cr_assert_float_eq(kp_hist_percentile(h, KP_HIST_SLOTS, 99), 0, 1e-9, "empty");
	/* 100 samples in [8, 16) us: p50 is halfway, p99 near the top. */
	h[3] = 100;
	cr_assert_float_eq(kp_hist_percentile(h, KP_HIST_SLOTS, 50), 12.0, 1e-9);
	cr_assert_float_eq(kp_hist_percentile(h, KP_HIST_SLOTS, 99), 15.92, 1e-9);
	cr_assert_float_eq(kp_hist_percentile(h, KP_HIST_SLOTS, 100), 16.0, 1e-9);
	/* 90 fast ([0, 2) us), 10 slow ([1024, 2048) us): p50 fast, p99 slow. */
	memset(h, 0, sizeof(h));
	h[0] = 90;
	h[10] = 10;
	cr_assert_lt(kp_hist_percentile(h, KP_HIST_SLOTS, 50), 2.0);
	cr_assert_float_eq(kp_hist_percentile(h, KP_HIST_SLOTS, 99), 1024 + 1024 * 0.9, 1e-6);
	cr_assert_float_eq(kp_hist_percentile(h, KP_HIST_SLOTS, 90), 2.0, 1e-9);
	cr_assert_eq(kp_hist_total(h, KP_HIST_SLOTS), 100);
	/* Out-of-range p is clamped. */
	cr_assert_float_eq(kp_hist_percentile(h, KP_HIST_SLOTS, 250), 2048, 1e-9);
}
