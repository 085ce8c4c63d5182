// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "observe/metrics.h"

void kp_table_init(struct kp_table *t)
{
	memset(t, 0, sizeof(*t));
}

void kp_table_free(struct kp_table *t)
{
	free(t->slots);
	free(t->used);
	kp_table_init(t);
}

void kp_table_clear(struct kp_table *t)
{
	if (t->used)
		memset(t->used, 0, t->cap * sizeof(*t->used));
	t->len = 0;
}

static size_t slot_of(__u32 id, size_t cap)
{
	/* Fibonacci hashing: pids are dense, so spread them. */
	return (size_t)((id * 2654435769u) & (cap - 1));
}

struct kp_entity *kp_table_find(const struct kp_table *t, __u32 id)
{
	size_t i;

	if (!t->cap)
		return NULL;
	for (i = slot_of(id, t->cap); t->used[i]; i = (i + 1) & (t->cap - 1))
		if (t->slots[i].id == id)
			return &t->slots[i];
	return NULL;
}

static int grow(struct kp_table *t)
{
	size_t ncap = t->cap ? t->cap * 2 : 64, i, j;
	struct kp_entity *ns = calloc(ncap, sizeof(*ns));
	bool *nu = calloc(ncap, sizeof(*nu));

	if (!ns || !nu) {
		free(ns);
		free(nu);
		return -ENOMEM;
	}
	for (i = 0; i < t->cap; i++) {
		if (!t->used[i])
			continue;
		for (j = slot_of(t->slots[i].id, ncap); nu[j]; j = (j + 1) & (ncap - 1))
			;
		ns[j] = t->slots[i];
		nu[j] = true;
	}
	free(t->slots);
	free(t->used);
	t->slots = ns;
	t->used = nu;
	t->cap = ncap;
	return 0;
}

struct kp_entity *kp_table_get(struct kp_table *t, enum kp_entity_kind kind, __u32 id)
{
	struct kp_entity *e = kp_table_find(t, id);
	size_t i;

	if (e)
		return e;
	if ((t->len + 1) * 4 > t->cap * 3 && grow(t))
		return NULL;
	for (i = slot_of(id, t->cap); t->used[i]; i = (i + 1) & (t->cap - 1))
		;
	t->used[i] = true;
	t->len++;
	e = &t->slots[i];
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	e->id = id;
	return e;
}

static int by_cpu_desc(const void *a, const void *b)
{
	const struct kp_entity *x = a, *y = b;

	if (x->cpu_ns != y->cpu_ns)
		return x->cpu_ns < y->cpu_ns ? 1 : -1;
	return x->id < y->id ? -1 : x->id > y->id;
}

struct kp_entity *kp_table_sorted(const struct kp_table *t, size_t *n)
{
	struct kp_entity *out = malloc((t->len ? t->len : 1) * sizeof(*out));
	size_t i, k = 0;

	*n = 0;
	if (!out)
		return NULL;
	for (i = 0; i < t->cap; i++)
		if (t->used[i])
			out[k++] = t->slots[i];
	qsort(out, k, sizeof(*out), by_cpu_desc);
	*n = k;
	return out;
}

void kp_interval_init(struct kp_interval *iv)
{
	memset(iv, 0, sizeof(*iv));
}

void kp_interval_free(struct kp_interval *iv)
{
	kp_table_free(&iv->procs);
	kp_table_free(&iv->ops);
	kp_table_free(&iv->devs);
	kp_interval_init(iv);
}

void kp_interval_clear(struct kp_interval *iv)
{
	kp_table_clear(&iv->procs);
	kp_table_clear(&iv->ops);
	kp_table_clear(&iv->devs);
	iv->records = 0;
	iv->bad_records = 0;
}

static void add_hist32(__u64 *dst, const __u32 *src)
{
	int i;

	for (i = 0; i < KP_HIST_SLOTS; i++)
		dst[i] += src[i];
}

static void add_task(struct kp_entity *e, const struct kp_task_rec *r)
{
	e->nthreads++;
	e->cpu_ns += r->cpu_ns;
	e->runq_ns += r->runq_ns;
	e->nvcsw += r->nvcsw;
	e->nivcsw += r->nivcsw;
	add_hist32(e->runq_hist, r->runq_hist);
}

static void add_io(struct kp_entity *e, const struct kp_io_counts *c)
{
	e->io_ops += c->io_ops;
	e->io_read_bytes += c->io_read_bytes;
	e->io_write_bytes += c->io_write_bytes;
	e->io_queue_ns += c->io_queue_ns;
	add_hist32(e->io_lat_hist, c->io_lat_hist);
}

static void add_tcp(struct kp_entity *e, const struct kp_tcp_counts *c)
{
	e->tcp_retrans += c->tcp_retrans;
	e->tcp_srtt_sum_us += c->tcp_srtt_sum_us;
	e->tcp_srtt_samples += c->tcp_srtt_samples;
	e->tcp_active_opens += c->tcp_active_opens;
	e->tcp_passive_opens += c->tcp_passive_opens;
	e->tcp_closes += c->tcp_closes;
	e->tcp_time_wait += c->tcp_time_wait;
	add_hist32(e->tcp_conn_hist, c->tcp_conn_hist);
}

/* Add a task or process record to its process or operator entity. */
static void add_rec(struct kp_entity *e, const struct kp_rec_hdr *h)
{
	const struct kp_proc_rec *r = (const void *)h;

	if (h->type == KP_REC_TASK) {
		add_task(e, (const void *)h);
		return;
	}
	add_io(e, &r->io);
	add_tcp(e, &r->tcp);
}

/* The entity of the record's process, and of its operator when it has one. */
static int targets(struct kp_interval *iv, __u32 tgid, __u32 op,
		   struct kp_entity **proc, struct kp_entity **oper)
{
	*proc = kp_table_get(&iv->procs, KP_ENTITY_PROCESS, tgid);
	*oper = NULL;
	if (!*proc)
		return -ENOMEM;
	if (op) {
		(*proc)->op = op;
		*oper = kp_table_get(&iv->ops, KP_ENTITY_OPERATOR, op);
		if (!*oper)
			return -ENOMEM;
	}
	return 0;
}

/* A task or process record: to its process, and to its operator if any. */
static int ingest_proc(struct kp_interval *iv, const struct kp_rec_hdr *h)
{
	const struct kp_task_rec *t = (const void *)h;
	const struct kp_proc_rec *r = (const void *)h;
	struct kp_entity *p, *o;
	int err;

	err = targets(iv, h->type == KP_REC_TASK ? t->tgid : r->tgid, h->op, &p, &o);
	if (err)
		return err;
	if (h->type == KP_REC_TASK) {
		memcpy(p->comm, t->comm, KP_COMM_LEN);
		p->comm[KP_COMM_LEN - 1] = '\0';
		/* The leader's exit record means the process is gone. */
		if ((h->flags & KP_F_EXIT) && t->pid == t->tgid)
			p->exited = true;
	}
	add_rec(p, h);
	if (o)
		add_rec(o, h);
	return 0;
}

static size_t rec_size(__u16 type)
{
	switch (type) {
	case KP_REC_TASK:
		return sizeof(struct kp_task_rec);
	case KP_REC_PROC:
		return sizeof(struct kp_proc_rec);
	case KP_REC_DEV:
		return sizeof(struct kp_dev_rec);
	default:
		return 0;
	}
}

int kp_ingest(struct kp_interval *iv, const void *data, size_t size)
{
	const struct kp_rec_hdr *h = data;
	const struct kp_dev_rec *d = data;
	struct kp_entity *e;
	int err;

	if (size < sizeof(*h) || !rec_size(h->type) || size < rec_size(h->type)) {
		iv->bad_records++;
		return -EINVAL;
	}
	if (h->type == KP_REC_DEV) {
		e = kp_table_get(&iv->devs, KP_ENTITY_DEVICE, d->dev);
		if (!e)
			return -ENOMEM;
		add_io(e, &d->io);
	} else {
		err = ingest_proc(iv, h);
		if (err)
			return err;
	}
	iv->records++;
	return 0;
}

__u64 kp_hist_total(const __u64 *hist, int slots)
{
	__u64 n = 0;
	int i;

	for (i = 0; i < slots; i++)
		n += hist[i];
	return n;
}

double kp_hist_percentile(const __u64 *hist, int slots, double p)
{
	__u64 total = kp_hist_total(hist, slots), cum = 0;
	double target, lo, hi;
	int i;

	if (!total)
		return 0;
	if (p < 0)
		p = 0;
	if (p > 100)
		p = 100;
	/* Rank of the wanted sample, 1-based, so p100 is the last one. */
	target = p / 100.0 * (double)total;
	if (target < 1)
		target = 1;
	for (i = 0; i < slots; i++) {
		if (!hist[i])
			continue;
		if ((double)(cum + hist[i]) >= target) {
			lo = i ? (double)(1ULL << i) : 0;
			hi = (double)(1ULL << (i + 1));
			return lo + (hi - lo) * (target - (double)cum) / (double)hist[i];
		}
		cum += hist[i];
	}
	return (double)(1ULL << slots);
}
