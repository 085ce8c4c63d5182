// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "observe/report.h"

void kp_dev_name(__u32 dev, char *buf, size_t len)
{
	snprintf(buf, len, "%u:%u", dev >> 20, dev & ((1U << 20) - 1));
}

static double p_us(const __u64 *h, double p)
{
	return kp_hist_percentile(h, KP_HIST_SLOTS, p);
}

static const char *op_name(const struct kp_report_ctx *c, __u32 id)
{
	return id && c->op_name ? c->op_name(c->op_arg, id) : NULL;
}

static void set_u64(json_t *o, const char *k, __u64 v)
{
	json_object_set_new(o, k, json_integer((json_int_t)v));
}

static void set_real(json_t *o, const char *k, double v)
{
	/* Percentiles of log2 buckets are estimates: one decimal is honest. */
	json_object_set_new(o, k, json_real((double)(long long)(v * 10 + 0.5) / 10));
}

static void set_str_or_null(json_t *o, const char *k, const char *v)
{
	json_object_set_new(o, k, v ? json_string(v) : json_null());
}

static void set_io(json_t *o, const struct kp_entity *e)
{
	set_u64(o, "io_ops", e->io_ops);
	set_u64(o, "io_read_bytes", e->io_read_bytes);
	set_u64(o, "io_write_bytes", e->io_write_bytes);
	set_real(o, "io_lat_p50_us", p_us(e->io_lat_hist, 50));
	set_real(o, "io_lat_p99_us", p_us(e->io_lat_hist, 99));
	set_u64(o, "io_queue_ns", e->io_queue_ns);
}

json_t *kp_report_entity_json(const struct kp_entity *e, const struct kp_report_ctx *c)
{
	static const char *const kinds[] = { "process", "operator", "device" };
	json_t *o = json_object();
	char dev[32];

	if (!o)
		return NULL;
	set_u64(o, "ts_ns", c->ts_ns);
	set_u64(o, "interval_ms", c->interval_ms);
	json_object_set_new(o, "kind", json_string(kinds[e->kind]));
	if (e->kind == KP_ENTITY_DEVICE) {
		kp_dev_name(e->id, dev, sizeof(dev));
		json_object_set_new(o, "dev", json_string(dev));
		set_io(o, e);
		return o;
	}
	if (e->kind == KP_ENTITY_PROCESS) {
		set_u64(o, "pid", e->id);
		json_object_set_new(o, "comm", json_string(e->comm));
		set_str_or_null(o, "operator", op_name(c, e->op));
	} else {
		json_object_set_new(o, "pid", json_null());
		json_object_set_new(o, "comm", json_null());
		set_str_or_null(o, "operator", op_name(c, e->id));
	}
	set_u64(o, "cpu_ns", e->cpu_ns);
	set_u64(o, "runq_wait_ns", e->runq_ns);
	set_real(o, "runq_p50_us", p_us(e->runq_hist, 50));
	set_real(o, "runq_p99_us", p_us(e->runq_hist, 99));
	set_u64(o, "nvcsw", e->nvcsw);
	set_u64(o, "nivcsw", e->nivcsw);
	set_io(o, e);
	set_u64(o, "tcp_retrans", e->tcp_retrans);
	set_u64(o, "tcp_srtt_us", e->tcp_srtt_samples ? e->tcp_srtt_sum_us / e->tcp_srtt_samples : 0);
	set_u64(o, "tcp_opens", e->tcp_active_opens + e->tcp_passive_opens);
	set_u64(o, "tcp_active_opens", e->tcp_active_opens);
	set_u64(o, "tcp_passive_opens", e->tcp_passive_opens);
	set_u64(o, "tcp_closes", e->tcp_closes);
	set_u64(o, "tcp_time_wait", e->tcp_time_wait);
	set_real(o, "tcp_connect_p99_us", p_us(e->tcp_conn_hist, 99));
	set_u64(o, "threads", e->nthreads);
	json_object_set_new(o, "exited", json_boolean(e->exited));
	return o;
}

json_t *kp_report_summary_json(const struct kp_report_ctx *c, __u64 events, __u64 records,
			       __u64 drops, size_t nprocs)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	set_u64(o, "ts_ns", c->ts_ns);
	set_u64(o, "interval_ms", c->interval_ms);
	json_object_set_new(o, "kind", json_string("summary"));
	set_u64(o, "events", events);
	set_u64(o, "records", records);
	set_u64(o, "drops", drops);
	set_u64(o, "processes", nprocs);
	return o;
}

int kp_report_json_line(FILE *f, json_t *obj)
{
	int ret;

	if (!obj)
		return -ENOMEM;
	/* 12 significant digits: 437.8 prints as 437.8, not 437.80000000000001. */
	ret = json_dumpf(obj, f, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
	json_decref(obj);
	if (ret || fputc('\n', f) == EOF)
		return -EIO;
	return 0;
}

void kp_report_plain(FILE *f, const struct kp_entity *e, const struct kp_report_ctx *c)
{
	const char *on = op_name(c, e->kind == KP_ENTITY_OPERATOR ? e->id : e->op);
	char dev[32];

	if (e->kind == KP_ENTITY_DEVICE) {
		kp_dev_name(e->id, dev, sizeof(dev));
		fprintf(f, "device dev=%s io_ops=%llu rd_bytes=%llu wr_bytes=%llu io_p99_us=%.1f\n",
			dev, (unsigned long long)e->io_ops, (unsigned long long)e->io_read_bytes,
			(unsigned long long)e->io_write_bytes, p_us(e->io_lat_hist, 99));
		return;
	}
	if (e->kind == KP_ENTITY_PROCESS)
		fprintf(f, "process pid=%u comm=%s", e->id, e->comm);
	else
		fprintf(f, "operator");
	fprintf(f, " op=%s cpu_ms=%.1f runq_ms=%.1f runq_p99_us=%.1f nvcsw=%llu nivcsw=%llu"
		   " io_ops=%llu rd_bytes=%llu wr_bytes=%llu io_p99_us=%.1f tcp_opens=%llu"
		   " tcp_closes=%llu tcp_tw=%llu tcp_retrans=%llu%s\n",
		on ? on : "-", e->cpu_ns / 1e6, e->runq_ns / 1e6, p_us(e->runq_hist, 99),
		(unsigned long long)e->nvcsw, (unsigned long long)e->nivcsw,
		(unsigned long long)e->io_ops, (unsigned long long)e->io_read_bytes,
		(unsigned long long)e->io_write_bytes, p_us(e->io_lat_hist, 99),
		(unsigned long long)(e->tcp_active_opens + e->tcp_passive_opens),
		(unsigned long long)e->tcp_closes, (unsigned long long)e->tcp_time_wait,
		(unsigned long long)e->tcp_retrans, e->exited ? " exited" : "");
}

static void human_bytes(__u64 b, char *buf, size_t len)
{
	if (b >= 10ULL << 30)
		snprintf(buf, len, "%lluG", (unsigned long long)(b >> 30));
	else if (b >= 10ULL << 20)
		snprintf(buf, len, "%lluM", (unsigned long long)(b >> 20));
	else if (b >= 10ULL << 10)
		snprintf(buf, len, "%lluK", (unsigned long long)(b >> 10));
	else
		snprintf(buf, len, "%llu", (unsigned long long)b);
}

static void table_row(FILE *f, const struct kp_entity *e, const struct kp_report_ctx *c,
		      const char *id, const char *name)
{
	double secs = c->interval_ms / 1000.0;
	char rd[16], wr[16];

	human_bytes(e->io_read_bytes, rd, sizeof(rd));
	human_bytes(e->io_write_bytes, wr, sizeof(wr));
	fprintf(f, "%-8s %-16s %6.1f %8.2f %8.0f %7llu %7llu %7.0f %6s %6s %8.0f %6llu %6llu %5llu\n",
		id, name, e->cpu_ns / 1e7 / secs, e->runq_ns / 1e6, p_us(e->runq_hist, 99),
		(unsigned long long)e->nvcsw, (unsigned long long)e->nivcsw, e->io_ops / secs, rd,
		wr, p_us(e->io_lat_hist, 99),
		(unsigned long long)(e->tcp_active_opens + e->tcp_passive_opens),
		(unsigned long long)e->tcp_time_wait, (unsigned long long)e->tcp_retrans);
}

void kp_report_table(FILE *f, struct kp_interval *iv, const struct kp_report_ctx *c,
		     __u64 events, __u64 drops, int rows)
{
	struct kp_entity *v;
	char id[16];
	size_t n, i;

	fprintf(f, "\033[H\033[2J");
	fprintf(f, "kpilot observe - %zu processes, %llu events, %llu drops  (Ctrl-C quits)\n\n",
		iv->procs.len, (unsigned long long)events, (unsigned long long)drops);
	fprintf(f, "%-8s %-16s %6s %8s %8s %7s %7s %7s %6s %6s %8s %6s %6s %5s\n", "PID", "COMM",
		"CPU%", "RUNQ_MS", "RQP99us", "VCSW", "IVCSW", "IO/s", "READ", "WRITE", "IOP99us",
		"OPENS", "TW", "RETR");
	v = kp_table_sorted(&iv->ops, &n);
	for (i = 0; v && i < n; i++) {
		const char *on = op_name(c, v[i].id);

		table_row(f, &v[i], c, "op", on ? on : "?");
	}
	free(v);
	v = kp_table_sorted(&iv->procs, &n);
	for (i = 0; v && i < n && (!rows || (int)i < rows); i++) {
		snprintf(id, sizeof(id), "%u", v[i].id);
		table_row(f, &v[i], c, id, v[i].comm);
	}
	free(v);
	fflush(f);
}

void kp_print_log2_hist(FILE *f, const __u64 *vals, int slots, const char *title)
{
	static const char bar[] = "****************************************";
	__u64 max = 0;
	int i, last = -1, width;

	for (i = 0; i < slots; i++) {
		if (vals[i])
			last = i;
		if (vals[i] > max)
			max = vals[i];
	}
	fprintf(f, "%s\n", title);
	if (last < 0) {
		fprintf(f, "     (no samples)\n");
		return;
	}
	fprintf(f, "%*s%-*s : count    distribution\n", 10, "", 20, "usecs");
	for (i = 0; i <= last; i++) {
		unsigned long long lo = i ? 1ULL << i : 0, hi = (1ULL << (i + 1)) - 1;

		width = (int)(vals[i] * 40 / max);
		fprintf(f, "%*llu -> %-*llu : %-8llu |%.*s%*s|\n", 14, lo, 14, hi,
			(unsigned long long)vals[i], width, bar, 40 - width, "");
	}
}
