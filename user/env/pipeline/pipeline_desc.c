// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "safety/knob.h"
#include "env/pipeline/pipeline_desc.h"
#include "lib/json.h"
#include "lib/text.h"

static int parse_launcher(struct kp_json *c, json_t *l, struct kp_pipe_desc *d)
{
	static const struct { const char *name; int sig; } sigs[] = {
		{ "SIGTERM", SIGTERM }, { "SIGINT", SIGINT }, { "SIGHUP", SIGHUP },
		{ "SIGQUIT", SIGQUIT }, { "SIGUSR1", SIGUSR1 }, { "SIGUSR2", SIGUSR2 },
	};
	json_t *cmd, *v;
	char s[32], p[64];
	size_t i;
	int err;

	if (!json_is_object(l))
		return kp_json_want(c, "$.launcher", "an object", l);
	cmd = json_object_get(l, "command");
	if (!json_is_array(cmd) || !json_array_size(cmd))
		return kp_json_fail(c, "$.launcher.command", "expected a non-empty array of strings (argv)");
	if (json_array_size(cmd) > KP_PIPE_MAX_ARGS)
		return kp_json_fail(c, "$.launcher.command", "more than %d arguments", KP_PIPE_MAX_ARGS);
	json_array_foreach(cmd, i, v) {
		snprintf(p, sizeof(p), "$.launcher.command[%zu]", i);
		if (!json_is_string(v))
			return kp_json_fail(c, p, "expected a string");
		d->argv[i] = strdup(json_string_value(v));
		if (!d->argv[i])
			return -ENOMEM;
		d->argc = i + 1;
	}
	err = kp_json_str(c, l, "$.launcher", "pids", true, s, sizeof(s));
	if (err)
		return err;
	if (strcmp(s, "start_line"))
		return kp_json_fail(c, "$.launcher.pids", "'%s': only \"start_line\" is supported", s);
	err = kp_json_str(c, l, "$.launcher", "report", true, s, sizeof(s));
	if (err)
		return err;
	if (strcmp(s, "interval_lines"))
		return kp_json_fail(c, "$.launcher.report", "'%s': only \"interval_lines\" is supported", s);
	d->fifo = json_object_get(l, "control");
	if (d->fifo && (err = kp_json_str(c, l, "$.launcher", "control", false, s, sizeof(s))))
		return err;
	if (d->fifo && strcmp(s, "fifo"))
		return kp_json_fail(c, "$.launcher.control", "'%s': only \"fifo\" is supported", s);
	d->stop_signal = SIGTERM;
	if (json_object_get(l, "stop_signal")) {
		err = kp_json_str(c, l, "$.launcher", "stop_signal", false, s, sizeof(s));
		if (err)
			return err;
		for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]) && strcmp(sigs[i].name, s); i++)
			;
		if (i == sizeof(sigs) / sizeof(sigs[0]))
			return kp_json_fail(c, "$.launcher.stop_signal", "'%s' is not one of SIGTERM SIGINT "
				    "SIGHUP SIGQUIT SIGUSR1 SIGUSR2", s);
		d->stop_signal = sigs[i].sig;
	}
	d->stop_timeout_s = 10;
	return kp_json_num(c, l, "$.launcher", "stop_timeout_s", false, 0.1, 600, &d->stop_timeout_s);
}

static int parse_op(struct kp_json *c, json_t *o, int i, struct kp_pipe_op *op)
{
	char p[64], knob[512], why[256];
	double mn, mx, init;
	json_t *w;
	int err;

	snprintf(p, sizeof(p), "$.operators[%d]", i);
	if (!json_is_object(o))
		return kp_json_fail(c, p, "expected an object");
	if (json_object_get(o, "command") || json_object_get(o, "pids"))
		return kp_json_fail(c, p, "per-operator command or pids: not supported yet; give a launcher");
	err = kp_json_str(c, o, p, "name", true, op->name, sizeof(op->name));
	if (err)
		return err;
	if (!kp_name_ok(op->name, strlen(op->name), sizeof(op->name)))
		return kp_json_fail(c, p, "name '%s' has characters outside [A-Za-z0-9_.-]", op->name);
	err = kp_json_str(c, o, p, "cgroup", true, op->cgroup, sizeof(op->cgroup));
	if (err)
		return err;
	snprintf(knob, sizeof(knob), "cgroup:%s:cpu.max", op->cgroup);
	if (kp_knob_name_check(knob, why, sizeof(why))) {
		char q[80];

		snprintf(q, sizeof(q), "%s.cgroup", p);
		return kp_json_fail(c, q, "'%s' is not a relative cgroup path of [A-Za-z0-9_-] words",
			    op->cgroup);
	}
	op->workers = op->workers_min = 1;
	op->workers_max = 16;
	w = json_object_get(o, "workers");
	if (w) {
		char q[80];

		snprintf(q, sizeof(q), "%s.workers", p);
		if (!json_is_object(w))
			return kp_json_fail(c, q, "expected an object {initial, min, max}");
		mn = op->workers_min;
		mx = op->workers_max;
		err = kp_json_num(c, w, q, "min", false, 1, 1024, &mn);
		err = err ?: kp_json_num(c, w, q, "max", false, 1, 1024, &mx);
		if (err)
			return err;
		op->workers_min = mn;
		op->workers_max = mx;
		init = op->workers_min;
		err = kp_json_num(c, w, q, "initial", false, 1, 1024, &init);
		if (err)
			return err;
		op->workers = init;
		if (op->workers_min > op->workers_max || op->workers < op->workers_min ||
		    op->workers > op->workers_max)
			return kp_json_fail(c, q, "needs min <= initial <= max");
	}
	return 0;
}

/* Kahn's algorithm, stable in declaration order; -EINVAL on a cycle. */
static int topo_sort(struct kp_json *c, struct kp_pipe_desc *d)
{
	int indeg[KP_PIPE_MAX_OPS] = { 0 }, n = 0, i, e;
	bool done[KP_PIPE_MAX_OPS] = { false };

	for (e = 0; e < d->nedges; e++)
		indeg[d->edges[e][1]]++;
	while (n < d->nops) {
		for (i = 0; i < d->nops && (done[i] || indeg[i]); i++)
			;
		if (i == d->nops)
			return kp_json_fail(c, "$.edges", "the edges form a cycle: not a DAG");
		done[i] = true;
		d->topo[n++] = i;
		for (e = 0; e < d->nedges; e++)
			if (d->edges[e][0] == i)
				indeg[d->edges[e][1]]--;
	}
	return 0;
}

static int parse_edges(struct kp_json *c, json_t *a, struct kp_pipe_desc *d)
{
	json_t *e;
	size_t i;
	int k;

	if (!json_is_array(a))
		return kp_json_fail(c, "$.edges", "expected an array of [from, to] pairs");
	if (json_array_size(a) > KP_PIPE_MAX_EDGES)
		return kp_json_fail(c, "$.edges", "more than %d edges", KP_PIPE_MAX_EDGES);
	json_array_foreach(a, i, e) {
		char p[64];

		snprintf(p, sizeof(p), "$.edges[%zu]", i);
		if (!json_is_array(e) || json_array_size(e) != 2 ||
		    !json_is_string(json_array_get(e, 0)) || !json_is_string(json_array_get(e, 1)))
			return kp_json_fail(c, p, "expected [\"from\", \"to\"]");
		for (k = 0; k < 2; k++) {
			const char *nm = json_string_value(json_array_get(e, k));

			d->edges[i][k] = kp_pipe_op_index(d, nm);
			if (d->edges[i][k] < 0)
				return kp_json_fail(c, p, "no operator named '%s'", nm);
		}
		if (d->edges[i][0] == d->edges[i][1])
			return kp_json_fail(c, p, "an operator cannot feed itself");
		d->nedges = i + 1;
	}
	return topo_sort(c, d);
}

static int parse_reward(struct kp_json *c, json_t *r, struct kp_pipe_reward *w)
{
	const struct { const char *key; double *dst, lo, hi; } f[] = {
		{ "w_attainment", &w->w_attainment, 0, 1000 },
		{ "w_latency", &w->w_latency, 0, 1000 },
		{ "w_cpu", &w->w_cpu, 0, 1000 },
		{ "w_errors", &w->w_errors, 0, 1000 },
		{ "latency_slo_ms", &w->latency_slo_ms, 0.001, 1e7 },
	};
	const char *key;
	json_t *v;
	size_t i;
	int err;

	if (!json_is_object(r))
		return kp_json_fail(c, "$.reward", "expected an object");
	json_object_foreach(r, key, v) {
		for (i = 0; i < sizeof(f) / sizeof(f[0]) && strcmp(f[i].key, key); i++)
			;
		if (i == sizeof(f) / sizeof(f[0])) {
			char p[96];

			snprintf(p, sizeof(p), "$.reward.%.64s", key);
			return kp_json_fail(c, p, "unknown key (w_attainment, w_latency, w_cpu, w_errors, "
				    "latency_slo_ms)");
		}
		err = kp_json_num(c, r, "$.reward", key, true, f[i].lo, f[i].hi, f[i].dst);
		if (err)
			return err;
	}
	return 0;
}

static int parse_metrics(struct kp_json *c, json_t *m, struct kp_pipe_desc *d)
{
	int err = 0;

	snprintf(d->m_throughput, sizeof(d->m_throughput), "throughput");
	snprintf(d->m_target, sizeof(d->m_target), "target");
	snprintf(d->m_p50, sizeof(d->m_p50), "lat_p50_ms");
	snprintf(d->m_p99, sizeof(d->m_p99), "lat_p99_ms");
	snprintf(d->m_ops, sizeof(d->m_ops), "ops");
	if (!m)
		return 0;
	if (!json_is_object(m))
		return kp_json_fail(c, "$.metrics", "expected an object");
	if ((err = kp_json_str(c, m, "$.metrics", "throughput", false, d->m_throughput, 32)) < 0 ||
	    (err = kp_json_str(c, m, "$.metrics", "target", false, d->m_target, 32)) < 0 ||
	    (err = kp_json_str(c, m, "$.metrics", "latency_p50_ms", false, d->m_p50, 32)) < 0 ||
	    (err = kp_json_str(c, m, "$.metrics", "latency_p99_ms", false, d->m_p99, 32)) < 0 ||
	    (err = kp_json_str(c, m, "$.metrics", "operator", false, d->m_ops, 32)) < 0)
		return err;
	return 0;
}

static int parse_rate(struct kp_json *c, json_t *r, struct kp_pipe_desc *d)
{
	json_t *steps, *v;
	size_t i;
	int err;

	if (!json_is_object(r))
		return kp_json_fail(c, "$.rate", "expected an object");
	err = kp_json_num(c, r, "$.rate", "initial", false, 0, 1e9, &d->rate);
	if (err < 0)
		return err;
	steps = json_object_get(r, "steps");
	if (!steps)
		return 0;
	if (!json_is_array(steps) || json_array_size(steps) > KP_PIPE_MAX_RATES)
		return kp_json_fail(c, "$.rate.steps", "expected an array of at most %d numbers",
			    KP_PIPE_MAX_RATES);
	json_array_foreach(steps, i, v) {
		char p[64];

		snprintf(p, sizeof(p), "$.rate.steps[%zu]", i);
		if (!json_is_number(v) || json_number_value(v) <= 0)
			return kp_json_fail(c, p, "expected a positive number");
		d->rates[i] = json_number_value(v);
		d->nrates = i + 1;
	}
	return 0;
}

static int parse_ops(struct kp_json *c, json_t *ops, struct kp_pipe_desc *d)
{
	json_t *o;
	size_t i;
	int err;

	if (!json_is_array(ops) || !json_array_size(ops))
		return kp_json_fail(c, "$.operators", "expected a non-empty array of operators");
	if (json_array_size(ops) > KP_PIPE_MAX_OPS)
		return kp_json_fail(c, "$.operators", "more than %d operators", KP_PIPE_MAX_OPS);
	json_array_foreach(ops, i, o) {
		err = parse_op(c, o, i, &d->ops[i]);
		if (err)
			return err;
		if (kp_pipe_op_index(d, d->ops[i].name) >= 0) {
			char p[64];

			snprintf(p, sizeof(p), "$.operators[%zu].name", i);
			return kp_json_fail(c, p, "'%s' appears twice", d->ops[i].name);
		}
		d->nops = i + 1;
	}
	if (d->cpu_budget < 0.05 * d->nops - 1e-9)
		return kp_json_fail(c, "$.cpu_budget", "%g cores cannot give %d operators 0.05 core each",
				    d->cpu_budget, d->nops);
	return 0;
}

static int parse_root(struct kp_json *c, json_t *root, struct kp_pipe_desc *d)
{
	int err;

	err = kp_json_str(c, root, "$", "pipeline", true, d->name, sizeof(d->name));
	if (err)
		return err;
	if (!kp_name_ok(d->name, strlen(d->name), sizeof(d->name)))
		return kp_json_fail(c, "$.pipeline", "'%s' has characters outside [A-Za-z0-9_.-]",
				    d->name);
	err = kp_json_num(c, root, "$", "cpu_budget", true, 0.05, 1024, &d->cpu_budget);
	if (err)
		return err;
	if (!json_object_get(root, "launcher"))
		return kp_json_fail(c, "$.launcher", "missing: only pipelines started by a launcher are "
				    "supported");
	err = parse_launcher(c, json_object_get(root, "launcher"), d);
	err = err ?: parse_ops(c, json_object_get(root, "operators"), d);
	err = err ?: parse_edges(c, json_object_get(root, "edges"), d);
	if (!err && json_object_get(root, "rate"))
		err = parse_rate(c, json_object_get(root, "rate"), d);
	err = err ?: parse_metrics(c, json_object_get(root, "metrics"), d);
	if (!err && json_object_get(root, "reward"))
		err = parse_reward(c, json_object_get(root, "reward"), &d->reward);
	return err;
}

int kp_pipe_desc_parse(const char *text, const char *origin, struct kp_pipe_desc *d,
		       char *why, size_t len)
{
	struct kp_json c = { .origin = origin, .why = why, .len = len, .terse = true };
	json_t *root;
	int ret;

	memset(d, 0, sizeof(*d));
	d->reward = (struct kp_pipe_reward){ .w_attainment = 4, .w_latency = 0.5, .w_cpu = 1,
					     .w_errors = 1, .latency_slo_ms = 100 };
	ret = kp_json_root(&c, text, &root);
	if (!root)
		return ret;
	ret = ret ?: parse_root(&c, root, d);
	json_decref(root);
	if (ret)
		kp_pipe_desc_free(d);
	return ret;
}

int kp_pipe_desc_load(const char *path, struct kp_pipe_desc *d, char *why, size_t len)
{
	char *text;
	int ret = kp_json_read(path, 1 << 20, &text, why, len);

	if (ret)
		return ret;
	ret = kp_pipe_desc_parse(text, path, d, why, len);
	free(text);
	return ret;
}

void kp_pipe_desc_free(struct kp_pipe_desc *d)
{
	int i;

	for (i = 0; i < d->argc; i++)
		free(d->argv[i]);
	memset(d->argv, 0, sizeof(d->argv));
	d->argc = 0;
}

int kp_pipe_op_index(const struct kp_pipe_desc *d, const char *name)
{
	int i;

	for (i = 0; i < d->nops; i++)
		if (!strcmp(d->ops[i].name, name))
			return i;
	return -1;
}
