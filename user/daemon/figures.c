// SPDX-License-Identifier: GPL-2.0
/* The daemon's figures: fold each observer window into cumulative totals. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/figures.h"
#include "lib/clock.h"
#include "observe/observer.h"

void kp_dm_fig_init(struct kp_dm_figures *f)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	strcpy(f->all.name, "all");
	f->start_wall_s = kp_wall_s();
}

void kp_dm_fig_free(struct kp_dm_figures *f)
{
	free(f->top);
	f->top = NULL;
	pthread_mutex_destroy(&f->lock);
}

void kp_dm_fig_set_ops(struct kp_dm_figures *f, const char (*names)[KP_OP_NAME_LEN], int n)
{
	struct kp_dm_acc *next = calloc(KP_MAX_OPERATORS, sizeof(*next));
	int i, j;

	if (!next) {
		f->nops = 0;
		return;
	}
	for (i = 0; i < n && i < KP_MAX_OPERATORS; i++) {
		strcpy(next[i].name, names[i]);
		for (j = 0; j < f->nops; j++)
			if (!strcmp(f->ops[j].name, names[i]))
				next[i] = f->ops[j];
	}
	memcpy(f->ops, next, sizeof(f->ops));
	f->nops = i;
	free(next);
}

static void add_hist(__u64 *acc, const __u64 *h)
{
	int k;

	for (k = 0; k < KP_HIST_SLOTS; k++)
		acc[k] += h[k];
}

static void fold(struct kp_dm_acc *a, const struct kp_entity *e)
{
	a->cpu_ns += e->cpu_ns;
	a->runq_ns += e->runq_ns;
	a->nvcsw += e->nvcsw;
	a->nivcsw += e->nivcsw;
	a->io_ops += e->io_ops;
	a->io_read_bytes += e->io_read_bytes;
	a->io_write_bytes += e->io_write_bytes;
	a->tcp_retrans += e->tcp_retrans;
	a->tcp_active_opens += e->tcp_active_opens;
	a->tcp_passive_opens += e->tcp_passive_opens;
	add_hist(a->runq_hist, e->runq_hist);
	add_hist(a->io_hist, e->io_lat_hist);
	add_hist(a->conn_hist, e->tcp_conn_hist);
}

static struct kp_dm_acc *op_acc(struct kp_dm_figures *f, const char *name)
{
	int i;

	for (i = 0; name && i < f->nops; i++)
		if (!strcmp(f->ops[i].name, name))
			return &f->ops[i];
	return NULL;
}

int kp_dm_fig_window(struct kp_dm_figures *f, struct kp_interval *iv,
		     const char *(*op_name)(const void *arg, __u32 id), const void *arg,
		     unsigned int top_n, __u64 ev, __u64 rec, __u64 drops)
{
	struct kp_entity *sorted;
	struct kp_dm_acc *a;
	size_t i, n = 0;

	for (i = 0; i < iv->procs.cap; i++)
		if (iv->procs.used[i])
			fold(&f->all, &iv->procs.slots[i]);
	for (i = 0; i < iv->ops.cap; i++) {
		if (!iv->ops.used[i])
			continue;
		a = op_acc(f, op_name(arg, iv->ops.slots[i].id));
		if (a)
			fold(a, &iv->ops.slots[i]);
	}
	sorted = kp_table_sorted(&iv->procs, &n);
	if (!sorted && iv->procs.len)
		return -ENOMEM;
	free(f->top);
	f->top = sorted;
	f->ntop = n < top_n ? n : top_n;
	f->windows++;
	f->events = f->base_events + ev;
	f->records = f->base_records + rec;
	f->drops = f->base_drops + drops;
	return 0;
}

void kp_dm_fig_rebase(struct kp_dm_figures *f)
{
	f->base_events = f->events;
	f->base_records = f->records;
	f->base_drops = f->drops;
	for (int i = 0; i < f->nprogs; i++) {
		f->progs[i].base_runs = f->progs[i].runs;
		f->progs[i].base_ns = f->progs[i].ns;
	}
}

void kp_dm_fig_progs(struct kp_dm_figures *f, const struct kp_prog_stat *s, int n)
{
	for (int i = 0; i < n; i++) {
		struct kp_dm_prog *p = NULL;

		for (int j = 0; j < f->nprogs && !p; j++)
			if (!strcmp(f->progs[j].name, s[i].name))
				p = &f->progs[j];
		if (!p && f->nprogs == KP_DM_MAX_PROGS)
			continue;
		if (!p) {
			p = &f->progs[f->nprogs++];
			memset(p, 0, sizeof(*p));
			snprintf(p->name, sizeof(p->name), "%s", s[i].name);
		}
		p->runs = p->base_runs + s[i].run_cnt;
		p->ns = p->base_ns + s[i].run_time_ns;
	}
}

void kp_dm_comm_clean(const char *in, char *out)
{
	size_t i;

	for (i = 0; i < KP_COMM_LEN - 1 && in[i]; i++)
		out[i] = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
	out[i] = '\0';
}

static json_t *acc_json(const struct kp_dm_acc *a)
{
	json_t *o = json_object();

	json_object_set_new(o, "name", json_string(a->name));
	json_object_set_new(o, "cpu_seconds_total", json_real(a->cpu_ns / 1e9));
	json_object_set_new(o, "runqueue_wait_seconds_total", json_real(a->runq_ns / 1e9));
	json_object_set_new(o, "block_io_operations_total", json_integer((json_int_t)a->io_ops));
	json_object_set_new(o, "tcp_retransmits_total", json_integer((json_int_t)a->tcp_retrans));
	json_object_set_new(o, "runqueue_p99_us", json_real(kp_hist_percentile(a->runq_hist,
							    KP_HIST_SLOTS, 99)));
	return o;
}

json_t *kp_dm_fig_json(const struct kp_dm_figures *f)
{
	json_t *o = json_object(), *ops = json_array(), *procs = json_array();
	size_t i;
	int k;

	json_object_set_new(o, "windows", json_integer((json_int_t)f->windows));
	json_object_set_new(o, "window_ms", json_integer(f->window_ms));
	json_object_set_new(o, "uptime_s", json_real(kp_wall_s() - f->start_wall_s));
	json_object_set_new(o, "observer_mode", json_string(f->mode));
	json_object_set_new(o, "runq_method", json_string(f->runq_method));
	json_object_set_new(o, "events_total", json_integer((json_int_t)f->events));
	json_object_set_new(o, "records_total", json_integer((json_int_t)f->records));
	json_object_set_new(o, "ringbuf_drops_total", json_integer((json_int_t)f->drops));
	json_object_set_new(o, "observed", acc_json(&f->all));
	for (k = 0; k < f->nops; k++)
		json_array_append_new(ops, acc_json(&f->ops[k]));
	json_object_set_new(o, "operators", ops);
	for (i = 0; i < f->ntop; i++) {
		json_t *p = json_object();
		char comm[KP_COMM_LEN];
		double win = f->window_ms ? f->window_ms * 1e6 : 1;

		json_object_set_new(p, "pid", json_integer(f->top[i].id));
		kp_dm_comm_clean(f->top[i].comm, comm);
		json_object_set_new(p, "comm", json_string(comm));
		json_object_set_new(p, "cpu_ratio", json_real(f->top[i].cpu_ns / win));
		json_array_append_new(procs, p);
	}
	json_object_set_new(o, "top_processes", procs);
	return o;
}
