// SPDX-License-Identifier: GPL-2.0
/* The pipeline trace: JSON lines written one write() each, read back tolerantly. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include "env/pipeline/trace.h"

#define TRACE_LINE_MAX	8192

struct kp_trace_writer {
	int fd;
	int err;
	struct kp_trace hdr;		/* names only */
};

/* A number, or null for NaN / infinity (JSON has neither). */
static int put(char *b, size_t len, const char *key, double v)
{
	return isfinite(v) ? snprintf(b, len, "\"%s\":%.6g", key, v) :
			     snprintf(b, len, "\"%s\":null", key);
}

#define PUT(key, v, sep)						\
	do {								\
		k += put(buf + k, k < len ? len - k : 0, key, v);	\
		k += snprintf(buf + k, k < len ? len - k : 0, "%s", sep); \
	} while (0)

static int fmt_op(const char *name, const struct kp_pipe_opstate *s, char *buf, size_t len)
{
	size_t k = snprintf(buf, len, "\"%s\":{", name);

	PUT("in", s->in, ",");
	PUT("out", s->out, ",");
	PUT("cpu", s->cpu, ",");
	PUT("cpu_app", s->cpu_app, ",");
	PUT("quota", s->quota, ",");
	PUT("workers", s->workers, ",");
	PUT("throttled_frac", s->throttled_frac, ",");
	PUT("throttled_s", s->throttled_s, ",");
	PUT("runq", s->runq, ",");
	PUT("csw", s->csw, ",");
	PUT("blocked", s->blocked, ",");
	PUT("occupancy", s->occupancy, "}");
	return k;
}

static int fmt_quotas(const struct kp_trace *h, const char *key, const double *q, char *buf,
		      size_t len)
{
	size_t k = snprintf(buf, len, "\"%s\":{", key);
	int i;

	for (i = 0; i < h->nops; i++)
		PUT(h->op[i], q[i], i + 1 < h->nops ? "," : "}");
	return k;
}

int kp_trace_format(const struct kp_trace *h, const struct kp_trace_rec *r, char *buf, size_t len)
{
	const struct kp_pipe_state *st = &r->st;
	double to[KP_PIPE_MAX_OPS];
	json_t *reason;
	char *rs;
	size_t k;
	int i;

	k = snprintf(buf, len, "{\"n\":%d,", r->n);
	PUT("t", r->t, ",");
	PUT("dt", st->dt, ",");
	PUT("rate", r->rate, ",");
	PUT("target", st->target, ",");
	PUT("throughput", st->throughput, ",");
	PUT("attainment", st->attainment, ",");
	PUT("p50_ms", st->p50_ms, ",");
	PUT("p99_ms", st->p99_ms, ",");
	PUT("alloc", st->alloc, ",");
	PUT("errors", st->errors, ",");
	if (r->deploy[0])
		k += snprintf(buf + k, k < len ? len - k : 0, "\"deploy\":\"%.11s\",", r->deploy);
	else
		k += snprintf(buf + k, k < len ? len - k : 0, "\"deploy\":null,");
	k += snprintf(buf + k, k < len ? len - k : 0, "\"ops\":{");
	for (i = 0; i < h->nops; i++) {
		k += fmt_op(h->op[i], &st->op[i], buf + k, k < len ? len - k : 0);
		k += snprintf(buf + k, k < len ? len - k : 0, "%s", i + 1 < h->nops ? "," : "},");
	}
	if (!r->changed) {
		k += snprintf(buf + k, k < len ? len - k : 0, "\"change\":null}");
	} else {
		for (i = 0; i < h->nops; i++)
			to[i] = st->op[i].quota;
		reason = json_string(r->reason);
		rs = reason ? json_dumps(reason, JSON_ENCODE_ANY) : NULL;

		k += snprintf(buf + k, k < len ? len - k : 0, "\"change\":{\"reason\":%s,",
			      rs ? rs : "\"\"");
		free(rs);
		json_decref(reason);
		k += fmt_quotas(h, "from", r->before, buf + k, k < len ? len - k : 0);
		k += snprintf(buf + k, k < len ? len - k : 0, ",");
		k += fmt_quotas(h, "to", to, buf + k, k < len ? len - k : 0);
		k += snprintf(buf + k, k < len ? len - k : 0, "}}");
	}
	return k < len ? (int)k : -ENOSPC;
}

static int write_line(struct kp_trace_writer *w, char *line, int n)
{
	ssize_t m;

	line[n++] = '\n';
	m = write(w->fd, line, n);	/* one write: the line is whole or absent */
	if (m != n)
		w->err = m < 0 ? -errno : -EIO;
	return w->err;
}

static json_t *header(const struct kp_pipe_desc *d, const char *algo)
{
	json_t *ops = json_array(), *edges = json_array();
	int i;

	for (i = 0; i < d->nops; i++)
		json_array_append_new(ops, json_string(d->ops[i].name));
	for (i = 0; i < d->nedges; i++)
		json_array_append_new(edges, json_pack("[ss]", d->ops[d->edges[i][0]].name,
						       d->ops[d->edges[i][1]].name));
	return json_pack("{sssisssssfsoso}", "trace", "kpilot-pipeline", "version",
			 KP_TRACE_VERSION, "pipeline", d->name, "algo", algo, "budget",
			 d->cpu_budget, "ops", ops, "edges", edges);
}

int kp_trace_open(struct kp_trace_writer **out, const char *path, const struct kp_pipe_desc *d,
		  const char *algo, char *why, size_t len)
{
	struct kp_trace_writer *w = calloc(1, sizeof(*w));
	char line[TRACE_LINE_MAX];
	json_t *h;
	char *s;
	int i, err, n;

	*out = NULL;
	if (!w)
		return -ENOMEM;
	w->hdr.nops = d->nops;
	for (i = 0; i < d->nops; i++)
		snprintf(w->hdr.op[i], sizeof(w->hdr.op[i]), "%s", d->ops[i].name);
	w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		err = -errno;
		snprintf(why, len, "cannot create the trace %s: %s", path, strerror(errno));
		free(w);
		return err;
	}
	h = header(d, algo);
	s = h ? json_dumps(h, JSON_COMPACT) : NULL;
	json_decref(h);
	n = s ? snprintf(line, sizeof(line) - 1, "%s", s) : -1;
	free(s);
	err = n < 0 || n >= (int)sizeof(line) - 1 ? -ENOMEM : write_line(w, line, n);
	if (err) {
		snprintf(why, len, "cannot write the trace %s: %s", path, strerror(-err));
		kp_trace_close(w);
		return err;
	}
	*out = w;
	return 0;
}

int kp_trace_write(struct kp_trace_writer *w, const struct kp_trace_rec *r)
{
	char line[TRACE_LINE_MAX];
	int n;

	if (!w || w->err)
		return w ? w->err : -EBADF;
	n = kp_trace_format(&w->hdr, r, line, sizeof(line) - 1);
	if (n < 0)
		return w->err = n;
	return write_line(w, line, n);
}

int kp_trace_close(struct kp_trace_writer *w)
{
	int err;

	if (!w)
		return 0;
	err = w->err;
	if (close(w->fd) && !err)
		err = -errno;
	free(w);
	return err;
}

/* ---- reading ---------------------------------------------------------------- */

static double num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

static int op_of(const struct kp_trace *tr, const char *name)
{
	int i;

	for (i = 0; name && i < tr->nops; i++)
		if (!strcmp(tr->op[i], name))
			return i;
	return -1;
}

static int parse_header(struct kp_trace *tr, json_t *h, char *why, size_t len)
{
	json_t *ops = json_object_get(h, "ops"), *edges = json_object_get(h, "edges"), *v;
	const char *s = json_string_value(json_object_get(h, "trace"));
	size_t i;

	if (!s || strcmp(s, "kpilot-pipeline") || !json_is_array(ops) ||
	    json_array_size(ops) < 1 || json_array_size(ops) > KP_PIPE_MAX_OPS ||
	    json_array_size(edges) > KP_PIPE_MAX_EDGES) {
		snprintf(why, len, "the first line is not a kpilot pipeline trace header");
		return -EINVAL;
	}
	snprintf(tr->pipeline, sizeof(tr->pipeline), "%s",
		 json_string_value(json_object_get(h, "pipeline")) ?: "");
	snprintf(tr->algo, sizeof(tr->algo), "%s",
		 json_string_value(json_object_get(h, "algo")) ?: "");
	tr->budget = num(h, "budget");
	json_array_foreach(ops, i, v) {
		snprintf(tr->op[tr->nops++], sizeof(tr->op[0]), "%s", json_string_value(v) ?: "");
	}
	json_array_foreach(edges, i, v) {
		int a = op_of(tr, json_string_value(json_array_get(v, 0)));
		int b = op_of(tr, json_string_value(json_array_get(v, 1)));

		if (a < 0 || b < 0) {
			snprintf(why, len, "header: edge %zu names an unknown operator", i);
			return -EINVAL;
		}
		tr->edges[tr->nedges][0] = a;
		tr->edges[tr->nedges++][1] = b;
	}
	return 0;
}

static void parse_op(json_t *o, struct kp_pipe_opstate *s)
{
	double w = num(o, "workers");

	s->in = num(o, "in");
	s->out = num(o, "out");
	s->cpu = num(o, "cpu");
	s->cpu_app = num(o, "cpu_app");
	s->quota = num(o, "quota");
	s->workers = isfinite(w) ? (int)w : 0;
	s->throttled_frac = num(o, "throttled_frac");
	s->throttled_s = num(o, "throttled_s");
	s->runq = num(o, "runq");
	s->csw = num(o, "csw");
	s->blocked = num(o, "blocked");
	s->occupancy = num(o, "occupancy");
}

/* An interval line into r: false when it is not one (torn, or not ours). */
static bool parse_rec(const struct kp_trace *tr, const char *line, struct kp_trace_rec *r)
{
	json_t *j = json_loads(line, 0, NULL), *ops, *ch;
	struct kp_pipe_state *st = &r->st;
	int i;

	memset(r, 0, sizeof(*r));
	ops = json_object_get(j, "ops");
	if (!json_is_object(ops) || !json_is_integer(json_object_get(j, "n"))) {
		json_decref(j);
		return false;
	}
	r->n = json_integer_value(json_object_get(j, "n"));
	r->t = num(j, "t");
	r->rate = num(j, "rate");
	st->dt = num(j, "dt");
	st->target = num(j, "target");
	st->throughput = num(j, "throughput");
	st->attainment = num(j, "attainment");
	st->p50_ms = num(j, "p50_ms");
	st->p99_ms = num(j, "p99_ms");
	st->alloc = num(j, "alloc");
	st->errors = isfinite(num(j, "errors")) ? (int)num(j, "errors") : 0;
	for (i = 0; i < tr->nops; i++)
		parse_op(json_object_get(ops, tr->op[i]), &st->op[i]);
	snprintf(r->deploy, sizeof(r->deploy), "%s",
		 json_string_value(json_object_get(j, "deploy")) ?: "");
	ch = json_object_get(j, "change");
	r->changed = json_is_object(ch);
	if (r->changed) {
		snprintf(r->reason, sizeof(r->reason), "%s",
			 json_string_value(json_object_get(ch, "reason")) ?: "");
		for (i = 0; i < tr->nops; i++)
			r->before[i] = num(json_object_get(ch, "from"), tr->op[i]);
	}
	json_decref(j);
	return true;
}

static int add_rec(struct kp_trace *tr, const char *line, int *cap)
{
	struct kp_trace_rec *p;

	if (tr->n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		p = realloc(tr->rec, *cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		tr->rec = p;
	}
	if (parse_rec(tr, line, &tr->rec[tr->n]))
		tr->n++;
	else
		tr->torn++;
	return 0;
}

int kp_trace_load(const char *path, struct kp_trace *tr, char *why, size_t len)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap_line = 0;
	int cap = 0, err = 0, lineno = 0;
	json_t *h;

	memset(tr, 0, sizeof(*tr));
	if (!f) {
		err = -errno;
		snprintf(why, len, "%s: %s", path, strerror(errno));
		return err;
	}
	while (!err && getline(&line, &cap_line, f) > 0) {
		if (lineno++ == 0) {
			h = json_loads(line, 0, NULL);
			err = parse_header(tr, h, why, len);
			json_decref(h);
			continue;
		}
		err = add_rec(tr, line, &cap);
	}
	if (!err && !lineno) {
		snprintf(why, len, "empty");
		err = -EINVAL;
	}
	free(line);
	fclose(f);
	if (err) {
		if (err == -ENOMEM)
			snprintf(why, len, "out of memory");
		kp_trace_free(tr);
	}
	return err;
}

void kp_trace_free(struct kp_trace *tr)
{
	free(tr->rec);
	tr->rec = NULL;
	tr->n = 0;
}
