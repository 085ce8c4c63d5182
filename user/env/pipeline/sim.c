// SPDX-License-Identifier: GPL-2.0
/* The simulated pipeline: queues, quotas, backpressure, in 1 ms ticks. Pure computation. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "env/pipeline/pipectl.h"
#include "env/pipeline/sim.h"

#define TICK		0.001	/* s */
#define PERIOD_TICKS	100	/* the CFS period, 100 ms */
#define NBUCKETS	640	/* latency histogram: 1/16 octave from 1 us */
#define BEHIND_S	0.1	/* a source this far behind its schedule drops it (wordcount's) */

struct cohort {
	double n;		/* records */
	double birth;		/* when the source made them */
};

struct queue {
	struct cohort *c;
	int cap, head, len;
	double total;
};

struct acc {			/* one operator over the interval */
	double in, out, cpu, blocked, occ, thr_s, runq;
	int thr_periods;
};

struct kp_sim {
	const struct kp_pipe_desc *d;
	struct kp_sim_model m;
	double now, rate, due[KP_PIPE_MAX_OPS];	/* sources: records due, not yet made */
	double cap[KP_PIPE_MAX_OPS];	/* input channel capacity (records) */
	struct queue q[KP_PIPE_MAX_OPS];	/* input channel of each operator */
	bool source[KP_PIPE_MAX_OPS], sink[KP_PIPE_MAX_OPS];
	double quota[KP_PIPE_MAX_OPS];
	int workers[KP_PIPE_MAX_OPS];
	bool have_quota;
	double used[KP_PIPE_MAX_OPS];	/* CPU seconds in this period */
	bool throttled[KP_PIPE_MAX_OPS];	/* in this period */
	int tick;
	struct acc a[KP_PIPE_MAX_OPS];
	int periods;
	double hist[NBUCKETS], arrived;
	uint64_t rng;
};

void kp_sim_model_init(struct kp_sim_model *m, const struct kp_pipe_desc *d)
{
	int i;

	memset(m, 0, sizeof(*m));
	snprintf(m->pipeline, sizeof(m->pipeline), "%s", d->name);
	m->nops = d->nops;
	for (i = 0; i < d->nops; i++) {
		snprintf(m->op[i].name, sizeof(m->op[i].name), "%s", d->ops[i].name);
		m->op[i].mu = 1e5;
		m->op[i].sel = 1;
	}
	m->ncpu = 2;
	m->capacity = 512;
	m->base_ms = 0.5;
	m->service_cv = 0.35;
	m->interval_s = 1;
	m->seed = 1;
}

/* ---- randomness: xorshift64*, Poisson draws ---- */

static double uniform(struct kp_sim *s)
{
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return ((s->rng * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0) + 1e-17;
}

static double poisson(struct kp_sim *s, double mean)
{
	double l, p = 1, k = 0;

	if (mean <= 0)
		return 0;
	if (mean > 30)	/* normal approximation */
		return fmax(0, round(mean + sqrt(mean) * sqrt(-2 * log(uniform(s))) *
				     cos(2 * M_PI * uniform(s))));
	l = exp(-mean);
	do {
		k++;
		p *= uniform(s);
	} while (p > l);
	return k - 1;
}

/*
 * Records one operator completes in a tick of mean capacity `mean`:
 * Poisson for exponential service times (service_cv 1), otherwise a normal
 * draw of variance cv^2 * mean (a renewal process's count), rounded at
 * random so that the mean is kept.
 */
static double service(struct kp_sim *s, double mean)
{
	double cv = s->m.service_cv, x;

	if (cv >= 1)
		return poisson(s, mean);
	x = mean + cv * sqrt(mean) * sqrt(-2 * log(uniform(s))) * cos(2 * M_PI * uniform(s));
	x = fmax(0, x);
	return floor(x) + (uniform(s) < x - floor(x));
}

/* ---- FIFO cohorts ---- */

static int push(struct queue *q, double n, double birth)
{
	struct cohort *c;
	int i, tail;

	if (n <= 0)
		return 0;
	q->total += n;
	tail = (q->head + q->len - 1) % (q->cap ? q->cap : 1);
	if (q->len && q->c[tail].birth >= birth - TICK / 2) {	/* same tick: one cohort */
		q->c[tail].n += n;
		return 0;
	}
	if (q->len >= q->cap || q->cap <= 0) {
		c = malloc(sizeof(*c) * (q->cap > 0 ? (size_t)q->cap * 2 : 64));
		if (!c)
			return -ENOMEM;
		for (i = 0; q->cap > 0 && i < q->len; i++)
			c[i] = q->c[(q->head + i) % q->cap];
		free(q->c);
		q->c = c;
		q->cap = q->cap > 0 ? q->cap * 2 : 64;
		q->head = 0;
	}
	q->c[(q->head + q->len++) % q->cap] = (struct cohort){ n, birth };
	return 0;
}

/* Take k records off the head into out[] (at most max cohorts); how many cohorts. */
static int pop(struct queue *q, double k, struct cohort *out, int max)
{
	int n = 0;

	while (k > 1e-9 && q->len && n < max) {
		struct cohort *h = &q->c[q->head];
		double take = fmin(k, h->n);

		out[n++] = (struct cohort){ take, h->birth };
		h->n -= take;
		q->total -= take;
		k -= take;
		if (h->n <= 1e-9) {
			q->head = (q->head + 1) % q->cap;
			q->len--;
		}
	}
	if (q->total < 1e-9)
		q->total = 0;
	return n;
}

/* ---- one tick ---- */

static double space_out(const struct kp_sim *s, int i)
{
	double sp = INFINITY;
	int e;

	for (e = 0; e < s->d->nedges; e++)
		if (s->d->edges[e][0] == i) {
			int c = s->d->edges[e][1];

			sp = fmin(sp, (s->cap[c] - s->q[c].total) / fmax(s->m.op[i].sel, 1e-9));
		}
	return fmax(sp, 0);
}

/* CPU seconds operator i may use this tick (workers, then the period's quota). */
static double cpu_avail(const struct kp_sim *s, int i)
{
	double c = s->workers[i] * TICK;

	if (s->have_quota)
		c = fmin(c, fmax(0, s->quota[i] * PERIOD_TICKS * TICK - s->used[i]));
	return c;
}

static double pending(const struct kp_sim *s, int i)
{
	return s->source[i] ? floor(s->due[i]) : s->q[i].total;
}

static void deliver(struct kp_sim *s, int i, const struct cohort *c, int n)
{
	int e, k;

	for (k = 0; k < n; k++) {
		if (s->sink[i]) {
			double ms = (s->now - c[k].birth) * 1e3 + s->m.base_ms;
			int b = ms <= 0.001 ? 0 : (int)(16 * log2(ms / 0.001));

			s->hist[b < 0 ? 0 : b >= NBUCKETS ? NBUCKETS - 1 : b] += c[k].n;
			s->arrived += c[k].n;
			continue;
		}
		for (e = 0; e < s->d->nedges; e++)
			if (s->d->edges[e][0] == i)
				push(&s->q[s->d->edges[e][1]], c[k].n * s->m.op[i].sel, c[k].birth);
	}
}

/* Operator i's tick with share f of the CPU it asked for. */
static void run_op(struct kp_sim *s, int i, double f)
{
	const struct kp_sim_op *m = &s->m.op[i];
	struct acc *a = &s->a[i];
	struct cohort c[256];
	double avail = cpu_avail(s, i), full = s->workers[i] * TICK;
	double want = pending(s, i), sp = space_out(s, i), can, k, mean;
	int n;

	mean = m->mu * avail * f;
	/* far more service than work: no draw can bind (most ticks of a light operator) */
	can = want <= 0 ? 0 : want < mean - 4 * sqrt(mean) - 1 ? mean : service(s, mean);
	k = floor(fmin(fmin(can, want), sp));
	if (want > k + 1e-9 && sp < fmin(can, want))
		a->blocked += full;	/* every worker waits on the full channel */
	if (want > k + 1e-9 && avail < full - 1e-12) {
		s->throttled[i] = true;
		a->thr_s += TICK * (1 - avail / full);
	}
	if (s->source[i]) {
		s->due[i] -= k;
		n = 0;
		if (k > 0)
			c[n++] = (struct cohort){ k, s->now };
	} else {
		n = pop(&s->q[i], k, c, 256);
	}
	deliver(s, i, c, n);
	s->used[i] += k / m->mu;
	a->cpu += k / m->mu + m->cpu0 * TICK;
	a->in += k;
	a->out += s->sink[i] ? 0 : k * m->sel;
}

static void tick(struct kp_sim *s)
{
	const struct kp_pipe_desc *d = s->d;
	double demand = 0, f = 1, dem[KP_PIPE_MAX_OPS];
	int i, k;

	for (i = 0; i < d->nops; i++)
		if (s->source[i]) {
			/* the schedule: what was due and not made in time is lost */
			s->due[i] = fmin(s->due[i] + s->rate * TICK, fmax(1, s->rate * BEHIND_S));
		}
	for (i = 0; i < d->nops; i++) {
		/* the CPU its pending records need this tick, not a whole core */
		dem[i] = fmin(cpu_avail(s, i), pending(s, i) / s->m.op[i].mu);
		demand += dem[i];
	}
	if (demand > s->m.ncpu * TICK)
		f = s->m.ncpu * TICK / demand;
	for (k = 0; k < d->nops; k++) {
		i = d->topo[k];
		s->a[i].runq += dem[i] * (1 - f);
		run_op(s, i, f);
	}
	for (i = 0; i < d->nops; i++) {
		double occ = 0;
		int e;

		for (e = 0; e < d->nedges; e++)
			if (d->edges[e][0] == i)
				occ = fmax(occ, s->q[d->edges[e][1]].total / s->cap[d->edges[e][1]]);
		s->a[i].occ += occ;
	}
	s->now += TICK;
	if (++s->tick % PERIOD_TICKS == 0) {
		s->periods++;
		for (i = 0; i < d->nops; i++) {
			s->a[i].thr_periods += s->throttled[i];
			s->throttled[i] = false;
			s->used[i] = 0;
		}
	}
}

/* ---- the environment ---- */

int kp_sim_open(struct kp_sim **out, const struct kp_pipe_desc *d, const struct kp_sim_model *m,
		double rate, char *why, size_t len)
{
	struct kp_sim *s;
	int i, e;

	*out = NULL;
	if (m->nops != d->nops) {
		snprintf(why, len, "the model has %d operators, %s %d", m->nops, d->name, d->nops);
		return -EINVAL;
	}
	for (i = 0; i < d->nops; i++)
		if (strcmp(m->op[i].name, d->ops[i].name) || !(m->op[i].mu > 0)) {
			snprintf(why, len, "model operator %d: %s with rate %g, not %s", i,
				 m->op[i].name, m->op[i].mu, d->ops[i].name);
			return -EINVAL;
		}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->d = d;
	s->m = *m;
	s->rate = rate > 0 ? rate : d->rate;
	s->rng = m->seed * 0x9E3779B97F4A7C15ULL + 1;
	for (i = 0; i < d->nops; i++) {
		s->source[i] = s->sink[i] = true;
		s->cap[i] = m->capacity;
		s->workers[i] = d->ops[i].workers > 0 ? d->ops[i].workers : 1;
	}
	for (e = 0; e < d->nedges; e++) {
		s->sink[d->edges[e][0]] = false;
		s->source[d->edges[e][1]] = false;
	}
	*out = s;
	return 0;
}

void kp_sim_set_capacity(struct kp_sim *s, double capacity)
{
	int i;

	for (i = 0; i < s->d->nops; i++)
		s->cap[i] = capacity;
}

static double percentile(const struct kp_sim *s, double p)
{
	double want = p * s->arrived, seen = 0;
	int b;

	for (b = 0; b < NBUCKETS; b++) {
		seen += s->hist[b];
		if (seen >= want && s->hist[b] > 0)
			return 0.001 * exp2((b + 0.5) / 16);
	}
	return NAN;
}

static double noisy(struct kp_sim *s, double x)
{
	return s->m.noise > 0 ? x * (1 + s->m.noise * (2 * uniform(s) - 1)) : x;
}

int kp_sim_step(struct kp_sim *s, struct kp_pipe_state *st, char *why, size_t len)
{
	const struct kp_pipe_desc *d = s->d;
	int i, k, n = (int)lround(s->m.interval_s / TICK), periods0 = s->periods;
	double dt = n * TICK, src = 0;

	(void)why;
	(void)len;
	memset(st, 0, sizeof(*st));
	memset(s->a, 0, sizeof(s->a));
	memset(s->hist, 0, sizeof(s->hist));
	s->arrived = 0;
	for (k = 0; k < n; k++)
		tick(s);
	st->dt = dt;
	st->target = s->rate;
	for (i = 0; i < d->nops; i++) {
		struct kp_pipe_opstate *o = &st->op[i];
		int periods = s->periods - periods0;

		o->in = s->a[i].in / dt;
		o->out = s->a[i].out / dt;
		o->cpu = o->cpu_app = noisy(s, s->a[i].cpu / dt);
		o->runq = s->a[i].runq / dt;
		o->blocked = s->a[i].blocked / dt;
		o->occupancy = s->a[i].occ / n;
		o->workers = s->workers[i];
		o->throttled_frac = periods ? (double)s->a[i].thr_periods / periods : 0;
		o->throttled_s = s->a[i].thr_s;
		o->quota = s->have_quota ? s->quota[i] : NAN;
		if (s->sink[i])
			st->throughput += o->in;
		if (s->source[i])
			src += o->in;
	}
	st->attainment = st->target > 0 ? st->throughput / st->target : 1;
	st->p50_ms = percentile(s, 0.5);
	st->p99_ms = percentile(s, 0.99);
	st->alloc = s->have_quota ? kp_quota_sum(s->quota, d->nops) : NAN;
	(void)src;
	return 0;
}

int kp_sim_apply(struct kp_sim *s, const double *quota, const char *reason, char *why,
		 size_t len)
{
	const struct kp_pipe_desc *d = s->d;
	int i;

	(void)reason;
	if (kp_quota_sum(quota, d->nops) > d->cpu_budget + 1e-6) {
		snprintf(why, len, "%.2f cores over the budget of %.2f",
			 kp_quota_sum(quota, d->nops), d->cpu_budget);
		return -EPERM;
	}
	for (i = 0; i < d->nops; i++) {
		const struct kp_pipe_op *op = &d->ops[i];
		int w = (int)ceil(quota[i] - 1e-9);

		s->quota[i] = quota[i];
		if (op->workers_max > 0)
			w = w > op->workers_max ? op->workers_max : w;
		w = w < op->workers_min ? op->workers_min : w;
		s->workers[i] = w < 1 ? 1 : w;
	}
	s->have_quota = true;
	return 0;
}

const double *kp_sim_quotas(const struct kp_sim *s)
{
	return s->have_quota ? s->quota : NULL;
}

int kp_sim_set_rate(struct kp_sim *s, double rate)
{
	s->rate = rate;
	return 0;
}

void kp_sim_close(struct kp_sim *s)
{
	int i;

	if (!s)
		return;
	for (i = 0; i < s->d->nops; i++)
		free(s->q[i].c);
	free(s);
}

/* ---- as a backend of kp_pipe_tune_run ---- */

static int be_open(void **e, const struct kp_pipe_desc *d, const struct kp_pipe_opts *o,
		   const void *arg, char *why, size_t len)
{
	return kp_sim_open((struct kp_sim **)e, d, arg, o->rate, why, len);
}

static int be_step(void *e, struct kp_pipe_state *st, char *why, size_t len)
{
	return kp_sim_step(e, st, why, len);
}

static int be_apply(void *e, const double *q, const char *reason, char *why, size_t len)
{
	return kp_sim_apply(e, q, reason, why, len);
}

static const double *be_quotas(const void *e)
{
	return kp_sim_quotas(e);
}

static int be_set_rate(void *e, double rate)
{
	return kp_sim_set_rate(e, rate);
}

static int be_close(void *e)
{
	kp_sim_close(e);
	return 0;
}

const struct kp_pipe_backend kp_pipe_sim = {
	.name = "simulator", .open = be_open, .step = be_step, .apply = be_apply,
	.quotas = be_quotas, .set_rate = be_set_rate, .close = be_close,
};
