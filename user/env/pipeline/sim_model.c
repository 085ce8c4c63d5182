// SPDX-License-Identifier: GPL-2.0
/* The simulator's model: fitted from traces, saved and loaded as JSON. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include "env/pipeline/sim.h"
#include "env/pipeline/trace.h"

struct fit {
	double n, sx, sy, sxx, sxy, in, out;
};

/* Intervals a controller did not just change are steady enough to fit. */
static void add_interval(struct fit *f, const struct kp_pipe_opstate *o)
{
	double x = o->in, y = o->cpu;

	if (!isfinite(x) || !isfinite(y) || x <= 0 || y <= 0)
		return;
	f->n++;
	f->sx += x;
	f->sy += y;
	f->sxx += x * x;
	f->sxy += x * y;
	f->in += x;
	f->out += isfinite(o->out) ? o->out : 0;
}

/*
 * cpu = cpu0 + in / mu: least squares when the input rates spread (a
 * coefficient of variation of 10% or more) and the fit is sane, the ratio
 * through the origin otherwise.
 */
static int solve(const struct fit *f, struct kp_sim_op *op)
{
	double mx = f->sx / f->n, var = f->sxx / f->n - mx * mx, slope, icpt;

	if (f->n < 1)
		return -EINVAL;
	if (f->n >= 3 && var > 0 && sqrt(var) >= 0.1 * mx) {
		slope = (f->sxy / f->n - mx * f->sy / f->n) / var;
		icpt = f->sy / f->n - slope * mx;
		if (slope > 0 && icpt > -0.02) {
			op->mu = 1 / slope;
			op->cpu0 = fmax(0, icpt);
			return 0;
		}
	}
	op->mu = f->sx / f->sy;
	op->cpu0 = 0;
	return 0;
}

/* No channel filling up: the latency is the pipeline's own, not a queue's. */
static bool calm(const struct kp_pipe_state *st, int nops)
{
	int i;

	for (i = 0; i < nops; i++)
		if (st->op[i].occupancy > 0.05 || st->op[i].throttled_frac > 0.05)
			return false;
	return true;
}

int kp_sim_calibrate(const struct kp_trace *tr, int ntr, const struct kp_pipe_desc *d,
		     struct kp_sim_model *m, char *why, size_t len)
{
	struct fit f[KP_PIPE_MAX_OPS] = { 0 };
	double p50 = INFINITY;
	int i, k, j;

	kp_sim_model_init(m, d);
	for (k = 0; k < ntr; k++) {
		if (tr[k].nops != d->nops) {
			snprintf(why, len, "trace %d has %d operators, %s %d", k + 1, tr[k].nops,
				 d->name, d->nops);
			return -EINVAL;
		}
		for (j = 0; j < tr[k].n; j++) {
			const struct kp_trace_rec *r = &tr[k].rec[j];

			if (r->changed)	/* the interval mixes two configurations */
				continue;
			for (i = 0; i < d->nops; i++)
				add_interval(&f[i], &r->st.op[i]);
			if (isfinite(r->st.p50_ms) && calm(&r->st, d->nops))
				p50 = fmin(p50, r->st.p50_ms);
			if (isfinite(r->st.dt) && r->st.dt > 0)
				m->interval_s = r->st.dt;
		}
	}
	for (i = 0; i < d->nops; i++) {
		if (solve(&f[i], &m->op[i])) {
			snprintf(why, len, "operator %s never processed a record with CPU in the traces",
				 d->ops[i].name);
			return -EINVAL;
		}
		m->op[i].sel = f[i].in > 0 && f[i].out > 0 ? f[i].out / f[i].in : 1;
	}
	m->interval_s = 1;	/* the report interval: whole seconds are what tune uses */
	if (isfinite(p50))
		m->base_ms = p50;
	return 0;
}

int kp_sim_model_save(const struct kp_sim_model *m, const char *path, char *why, size_t len)
{
	json_t *ops = json_object(), *j;
	int i, err;

	for (i = 0; i < m->nops; i++)
		json_object_set_new(ops, m->op[i].name,
				    json_pack("{sfsfsf}", "mu", m->op[i].mu, "cpu0", m->op[i].cpu0,
					      "sel", m->op[i].sel));
	j = json_pack("{sssssisfsfsfsfsfsfso}", "model", "kpilot-pipeline-sim", "pipeline",
		      m->pipeline, "version", 1, "ncpu", m->ncpu, "capacity", m->capacity,
		      "base_ms", m->base_ms, "service_cv", m->service_cv, "noise", m->noise,
		      "interval_s", m->interval_s, "ops", ops);
	err = j ? json_dump_file(j, path, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : -1;
	json_decref(j);
	if (err) {
		snprintf(why, len, "cannot write %s", path);
		return -EIO;
	}
	return 0;
}

static double num(json_t *o, const char *key, double dflt)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : dflt;
}

int kp_sim_model_load(const char *path, struct kp_sim_model *m, char *why, size_t len)
{
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je), *ops, *v;
	const char *name, *kind;

	memset(m, 0, sizeof(*m));
	kind = json_string_value(json_object_get(j, "model"));
	ops = json_object_get(j, "ops");
	if (!j || !kind || strcmp(kind, "kpilot-pipeline-sim") || !json_is_object(ops) ||
	    json_object_size(ops) > KP_PIPE_MAX_OPS) {
		snprintf(why, len, "%s: %s", path, j ? "not a kpilot simulator model" : je.text);
		json_decref(j);
		return -EINVAL;
	}
	snprintf(m->pipeline, sizeof(m->pipeline), "%s",
		 json_string_value(json_object_get(j, "pipeline")) ?: "");
	m->ncpu = num(j, "ncpu", 2);
	m->capacity = num(j, "capacity", 512);
	m->base_ms = num(j, "base_ms", 0.5);
	m->noise = num(j, "noise", 0);
	m->service_cv = num(j, "service_cv", 0.35);
	m->interval_s = num(j, "interval_s", 1);
	m->seed = 1;
	json_object_foreach(ops, name, v) {
		struct kp_sim_op *op = &m->op[m->nops++];

		snprintf(op->name, sizeof(op->name), "%s", name);
		op->mu = num(v, "mu", NAN);
		op->cpu0 = num(v, "cpu0", 0);
		op->sel = num(v, "sel", 1);
	}
	json_decref(j);
	if (m->ncpu <= 0 || m->capacity < 1 || m->interval_s <= 0) {
		snprintf(why, len, "%s: ncpu, capacity and interval_s must be positive", path);
		return -EINVAL;
	}
	return 0;
}
