// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "safety/knob.h"
#include "env/pipeline/pipeline_desc.h"
#include "lib/text.h"

struct ctx {
	const char *origin;
	char *err;
	size_t len;
};

__attribute__((format(printf, 3, 4)))
static int fail(struct ctx *c, const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->err, c->len, "%s: %s: %s", c->origin, path, msg);
	return -EINVAL;
}

/* A string member; required or not. 1 when absent and optional. */
static int get_str(struct ctx *c, json_t *o, const char *path, const char *key, bool req,
		   char *out, size_t max)
{
	json_t *v = json_object_get(o, key);
	char p[256];

	snprintf(p, sizeof(p), "%s.%s", path, key);
	if (!v)
		return req ? fail(c, p, "missing (a string)") : 1;
	if (!json_is_string(v))
		return fail(c, p, "expected a string");
	if (strlen(json_string_value(v)) >= max)
		return fail(c, p, "longer than %zu characters", max - 1);
	snprintf(out, max, "%s", json_string_value(v));
	return 0;
}

static int get_num(struct ctx *c, json_t *o, const char *path, const char *key, bool req,
		   double lo, double hi, double *out)
{
	json_t *v = json_object_get(o, key);
	char p[256];

	snprintf(p, sizeof(p), "%s.%s", path, key);
	if (!v)
		return req ? fail(c, p, "missing (a number)") : 1;
	if (!json_is_number(v))
		return fail(c, p, "expected a number");
	*out = json_number_value(v);
	if (!isfinite(*out) || *out < lo || *out > hi)
		return fail(c, p, "%g is outside [%g, %g]", *out, lo, hi);
	return 0;
}

static int parse_launcher(struct ctx *c, json_t *l, struct kp_pipe_desc *d)
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
		return fail(c, "$.launcher", "expected an object");
	cmd = json_object_get(l, "command");
	if (!json_is_array(cmd) || !json_array_size(cmd))
		return fail(c, "$.launcher.command", "expected a non-empty array of strings (argv)");
	if (json_array_size(cmd) > KP_PIPE_MAX_ARGS)
		return fail(c, "$.launcher.command", "more than %d arguments", KP_PIPE_MAX_ARGS);
	json_array_foreach(cmd, i, v) {
		snprintf(p, sizeof(p), "$.launcher.command[%zu]", i);
		if (!json_is_string(v))
			return fail(c, p, "expected a string");
		d->argv[i] = strdup(json_string_value(v));
		if (!d->argv[i])
			return -ENOMEM;
		d->argc = i + 1;
	}
	err = get_str(c, l, "$.launcher", "pids", true, s, sizeof(s));
	if (err)
		return err;
	if (strcmp(s, "start_line"))
		return fail(c, "$.launcher.pids", "'%s': only \"start_line\" is supported", s);
	err = get_str(c, l, "$.launcher", "report", true, s, sizeof(s));
	if (err)
		return err;
	if (strcmp(s, "interval_lines"))
		return fail(c, "$.launcher.report", "'%s': only \"interval_lines\" is supported", s);
	err = get_str(c, l, "$.launcher", "control", false, s, sizeof(s));
	if (err < 0)
		return err;
	if (!err && strcmp(s, "fifo"))
		return fail(c, "$.launcher.control", "'%s': only \"fifo\" is supported", s);
	d->fifo = !err;
	d->stop_signal = SIGTERM;
	err = get_str(c, l, "$.launcher", "stop_signal", false, s, sizeof(s));
	if (err < 0)
		return err;
	if (!err) {
		for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]) && strcmp(sigs[i].name, s); i++)
			;
		if (i == sizeof(sigs) / sizeof(sigs[0]))
			return fail(c, "$.launcher.stop_signal", "'%s' is not one of SIGTERM SIGINT "
				    "SIGHUP SIGQUIT SIGUSR1 SIGUSR2", s);
		d->stop_signal = sigs[i].sig;
	}
	d->stop_timeout_s = 10;
	err = get_num(c, l, "$.launcher", "stop_timeout_s", false, 0.1, 600, &d->stop_timeout_s);
	return err < 0 ? err : 0;
}

static int parse_op(struct ctx *c, json_t *o, int i, struct kp_pipe_op *op)
{
	char p[64], knob[512], why[256];
	json_t *w;
	double v;
	int err;

	snprintf(p, sizeof(p), "$.operators[%d]", i);
	if (!json_is_object(o))
		return fail(c, p, "expected an object");
	if (json_object_get(o, "command") || json_object_get(o, "pids"))
		return fail(c, p, "per-operator command or pids: not supported yet; give a launcher");
	err = get_str(c, o, p, "name", true, op->name, sizeof(op->name));
	if (err)
		return err;
	if (!kp_name_ok(op->name, strlen(op->name), sizeof(op->name)))
		return fail(c, p, "name '%s' has characters outside [A-Za-z0-9_.-]", op->name);
	err = get_str(c, o, p, "cgroup", true, op->cgroup, sizeof(op->cgroup));
	if (err)
		return err;
	snprintf(knob, sizeof(knob), "cgroup:%s:cpu.max", op->cgroup);
	if (kp_knob_name_check(knob, why, sizeof(why))) {
		char q[80];

		snprintf(q, sizeof(q), "%s.cgroup", p);
		return fail(c, q, "'%s' is not a relative cgroup path of [A-Za-z0-9_-] words",
			    op->cgroup);
	}
	op->workers = op->workers_min = 1;
	op->workers_max = 16;
	w = json_object_get(o, "workers");
	if (w) {
		char q[80];

		snprintf(q, sizeof(q), "%s.workers", p);
		if (!json_is_object(w))
			return fail(c, q, "expected an object {initial, min, max}");
		if ((err = get_num(c, w, q, "min", false, 1, 1024, &v)) < 0)
			return err;
		if (!err)
			op->workers_min = v;
		if ((err = get_num(c, w, q, "max", false, 1, 1024, &v)) < 0)
			return err;
		if (!err)
			op->workers_max = v;
		if ((err = get_num(c, w, q, "initial", false, 1, 1024, &v)) < 0)
			return err;
		op->workers = err ? op->workers_min : (int)v;
		if (op->workers_min > op->workers_max || op->workers < op->workers_min ||
		    op->workers > op->workers_max)
			return fail(c, q, "needs min <= initial <= max");
	}
	return 0;
}

/* Kahn's algorithm, stable in declaration order; -EINVAL on a cycle. */
static int topo_sort(struct ctx *c, struct kp_pipe_desc *d)
{
	int indeg[KP_PIPE_MAX_OPS] = { 0 }, n = 0, i, e;
	bool done[KP_PIPE_MAX_OPS] = { false };

	for (e = 0; e < d->nedges; e++)
		indeg[d->edges[e][1]]++;
	while (n < d->nops) {
		for (i = 0; i < d->nops && (done[i] || indeg[i]); i++)
			;
		if (i == d->nops)
			return fail(c, "$.edges", "the edges form a cycle: not a DAG");
		done[i] = true;
		d->topo[n++] = i;
		for (e = 0; e < d->nedges; e++)
			if (d->edges[e][0] == i)
				indeg[d->edges[e][1]]--;
	}
	return 0;
}

static int parse_edges(struct ctx *c, json_t *a, struct kp_pipe_desc *d)
{
	json_t *e;
	size_t i;
	int k;

	if (!json_is_array(a))
		return fail(c, "$.edges", "expected an array of [from, to] pairs");
	if (json_array_size(a) > KP_PIPE_MAX_EDGES)
		return fail(c, "$.edges", "more than %d edges", KP_PIPE_MAX_EDGES);
	json_array_foreach(a, i, e) {
		char p[64];

		snprintf(p, sizeof(p), "$.edges[%zu]", i);
		if (!json_is_array(e) || json_array_size(e) != 2 ||
		    !json_is_string(json_array_get(e, 0)) || !json_is_string(json_array_get(e, 1)))
			return fail(c, p, "expected [\"from\", \"to\"]");
		for (k = 0; k < 2; k++) {
			const char *nm = json_string_value(json_array_get(e, k));

			d->edges[i][k] = kp_pipe_op_index(d, nm);
			if (d->edges[i][k] < 0)
				return fail(c, p, "no operator named '%s'", nm);
		}
		if (d->edges[i][0] == d->edges[i][1])
			return fail(c, p, "an operator cannot feed itself");
		d->nedges = i + 1;
	}
	return topo_sort(c, d);
}

static int parse_reward(struct ctx *c, json_t *r, struct kp_pipe_reward *w)
{
	static const struct { const char *key; size_t off; double lo, hi; } f[] = {
		{ "w_attainment", offsetof(struct kp_pipe_reward, w_attainment), 0, 1000 },
		{ "w_latency", offsetof(struct kp_pipe_reward, w_latency), 0, 1000 },
		{ "w_cpu", offsetof(struct kp_pipe_reward, w_cpu), 0, 1000 },
		{ "w_errors", offsetof(struct kp_pipe_reward, w_errors), 0, 1000 },
		{ "latency_slo_ms", offsetof(struct kp_pipe_reward, latency_slo_ms), 0.001, 1e7 },
	};
	const char *key;
	json_t *v;
	size_t i;
	int err;

	if (!json_is_object(r))
		return fail(c, "$.reward", "expected an object");
	json_object_foreach(r, key, v) {
		for (i = 0; i < sizeof(f) / sizeof(f[0]) && strcmp(f[i].key, key); i++)
			;
		if (i == sizeof(f) / sizeof(f[0])) {
			char p[96];

			snprintf(p, sizeof(p), "$.reward.%.64s", key);
			return fail(c, p, "unknown key (w_attainment, w_latency, w_cpu, w_errors, "
				    "latency_slo_ms)");
		}
		err = get_num(c, r, "$.reward", key, true, f[i].lo, f[i].hi,
			      (double *)((char *)w + f[i].off));
		if (err)
			return err;
	}
	return 0;
}

static int parse_metrics(struct ctx *c, json_t *m, struct kp_pipe_desc *d)
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
		return fail(c, "$.metrics", "expected an object");
	if ((err = get_str(c, m, "$.metrics", "throughput", false, d->m_throughput, 32)) < 0 ||
	    (err = get_str(c, m, "$.metrics", "target", false, d->m_target, 32)) < 0 ||
	    (err = get_str(c, m, "$.metrics", "latency_p50_ms", false, d->m_p50, 32)) < 0 ||
	    (err = get_str(c, m, "$.metrics", "latency_p99_ms", false, d->m_p99, 32)) < 0 ||
	    (err = get_str(c, m, "$.metrics", "operator", false, d->m_ops, 32)) < 0)
		return err;
	return 0;
}

static int parse_rate(struct ctx *c, json_t *r, struct kp_pipe_desc *d)
{
	json_t *steps, *v;
	size_t i;
	int err;

	if (!json_is_object(r))
		return fail(c, "$.rate", "expected an object");
	err = get_num(c, r, "$.rate", "initial", false, 0, 1e9, &d->rate);
	if (err < 0)
		return err;
	steps = json_object_get(r, "steps");
	if (!steps)
		return 0;
	if (!json_is_array(steps) || json_array_size(steps) > KP_PIPE_MAX_RATES)
		return fail(c, "$.rate.steps", "expected an array of at most %d numbers",
			    KP_PIPE_MAX_RATES);
	json_array_foreach(steps, i, v) {
		char p[64];

		snprintf(p, sizeof(p), "$.rate.steps[%zu]", i);
		if (!json_is_number(v) || json_number_value(v) <= 0)
			return fail(c, p, "expected a positive number");
		d->rates[i] = json_number_value(v);
		d->nrates = i + 1;
	}
	return 0;
}

int kp_pipe_desc_parse(const char *text, const char *origin, struct kp_pipe_desc *d,
		       char *err, size_t errlen)
{
	struct ctx c = { .origin = origin, .err = err, .len = errlen };
	json_t *root, *ops, *o;
	json_error_t je;
	size_t i;
	int ret;

	memset(d, 0, sizeof(*d));
	d->reward = (struct kp_pipe_reward){ .w_attainment = 4, .w_latency = 0.5, .w_cpu = 1,
					     .w_errors = 1, .latency_slo_ms = 100 };
	root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		snprintf(err, errlen, "%s: line %d column %d: %s", origin, je.line, je.column,
			 je.text);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		ret = fail(&c, "$", "expected an object");
		goto out;
	}
	ret = get_str(&c, root, "$", "pipeline", true, d->name, sizeof(d->name));
	if (ret)
		goto out;
	if (!kp_name_ok(d->name, strlen(d->name), sizeof(d->name))) {
		ret = fail(&c, "$.pipeline", "'%s' has characters outside [A-Za-z0-9_.-]", d->name);
		goto out;
	}
	ret = get_num(&c, root, "$", "cpu_budget", true, 0.05, 1024, &d->cpu_budget);
	if (ret)
		goto out;
	if (!json_object_get(root, "launcher")) {
		ret = fail(&c, "$.launcher", "missing: only pipelines started by a launcher are "
			   "supported");
		goto out;
	}
	ret = parse_launcher(&c, json_object_get(root, "launcher"), d);
	if (ret)
		goto out;
	ops = json_object_get(root, "operators");
	if (!json_is_array(ops) || !json_array_size(ops)) {
		ret = fail(&c, "$.operators", "expected a non-empty array of operators");
		goto out;
	}
	if (json_array_size(ops) > KP_PIPE_MAX_OPS) {
		ret = fail(&c, "$.operators", "more than %d operators", KP_PIPE_MAX_OPS);
		goto out;
	}
	json_array_foreach(ops, i, o) {
		ret = parse_op(&c, o, i, &d->ops[i]);
		if (ret)
			goto out;
		if (kp_pipe_op_index(d, d->ops[i].name) >= 0) {
			char p[64];

			snprintf(p, sizeof(p), "$.operators[%zu].name", i);
			ret = fail(&c, p, "'%s' appears twice", d->ops[i].name);
			goto out;
		}
		d->nops = i + 1;
	}
	if (d->cpu_budget < 0.05 * d->nops - 1e-9) {
		ret = fail(&c, "$.cpu_budget", "%g cores cannot give %d operators 0.05 core each",
			   d->cpu_budget, d->nops);
		goto out;
	}
	ret = parse_edges(&c, json_object_get(root, "edges"), d);
	if (ret)
		goto out;
	if (json_object_get(root, "rate") &&
	    (ret = parse_rate(&c, json_object_get(root, "rate"), d)))
		goto out;
	if ((ret = parse_metrics(&c, json_object_get(root, "metrics"), d)))
		goto out;
	if (json_object_get(root, "reward"))
		ret = parse_reward(&c, json_object_get(root, "reward"), &d->reward);
out:
	json_decref(root);
	if (ret)
		kp_pipe_desc_free(d);
	return ret;
}

int kp_pipe_desc_load(const char *path, struct kp_pipe_desc *d, char *err, size_t errlen)
{
	char *text = NULL;
	size_t cap = 0;
	FILE *f = fopen(path, "r");
	long n;
	int ret;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || n > (1 << 20) || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		snprintf(err, errlen, "%s: not a readable file under 1 MiB", path);
		return -EINVAL;
	}
	cap = n + 1;
	text = malloc(cap);
	if (!text || fread(text, 1, n, f) != (size_t)n) {
		free(text);
		fclose(f);
		snprintf(err, errlen, "%s: cannot read", path);
		return -EIO;
	}
	text[n] = '\0';
	fclose(f);
	ret = kp_pipe_desc_parse(text, path, d, err, errlen);
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
