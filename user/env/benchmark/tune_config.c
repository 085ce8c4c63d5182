// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "env/benchmark/tune_config.h"
#include "lib/text.h"

const char *const kp_tune_state_names[] = {
	"cpu",			/* cores the benchmark's processes used */
	"runq_p99_us",		/* their run-queue wait p99 */
	"runq_wait_frac",	/* run-queue wait / (run-queue wait + CPU) */
	"io_p99_us",		/* their block I/O latency p99 */
	"io_mbps",		/* their block I/O throughput */
	"tcp_retrans",		/* their retransmits per second */
	"tcp_connect_p99_us",	/* their connect latency p99 */
	"tcp_time_wait",	/* their TIME_WAIT entries per second */
	"ctx_switches",		/* their context switches per second */
	"iowait",		/* system iowait share (/proc/stat) */
	"memory_avail",		/* MemAvailable / MemTotal */
	"psi_cpu",		/* /proc/pressure/cpu some avg10 */
	"psi_io",		/* /proc/pressure/io some avg10 */
	"psi_memory",		/* /proc/pressure/memory some avg10 */
	NULL,
};

/*
 * tcp-churn: a built-in client and server in two fresh private network
 * namespaces per trial (Documentation/tuning.md explains the effect).
 */
static const char profile_tcp_churn[] =
"{\n"
"  \"workload_name\": \"tcp-churn\",\n"
"  \"benchmark\": { \"builtin\": \"tcp-churn\", \"timeout_s\": 30, \"warmup_runs\": 0, \"repeats\": 1 },\n"
"  \"reward_metric\": { \"name\": \"conns_per_sec\", \"pattern\": \"conns_per_sec=([0-9.]+)\",\n"
"                     \"goal\": \"maximize\" },\n"
"  \"action_space\": [\n"
"    { \"knob\": \"net.ipv4.ip_local_port_range\", \"element\": 0, \"min\": 1024, \"max\": 32768 },\n"
"    { \"knob\": \"net.ipv4.tcp_tw_reuse\", \"min\": 0, \"max\": 2 },\n"
"    { \"knob\": \"net.ipv4.tcp_fin_timeout\", \"min\": 5, \"max\": 60 },\n"
"    { \"knob\": \"net.ipv4.tcp_max_tw_buckets\", \"min\": 4096, \"max\": 262144, \"scale\": \"log\" },\n"
"    { \"knob\": \"net.core.somaxconn\", \"min\": 128, \"max\": 8192, \"scale\": \"log\" },\n"
"    { \"knob\": \"net.ipv4.tcp_max_syn_backlog\", \"min\": 128, \"max\": 8192, \"scale\": \"log\" }\n"
"  ],\n"
"  \"state_space\": [ \"cpu\", \"tcp_connect_p99_us\", \"tcp_time_wait\", \"runq_p99_us\" ],\n"
"  \"reward\": { \"performance\": 1.0, \"stability\": 0.1, \"failure\": 1.0 },\n"
"  \"training\": { \"trials\": 40, \"episode_steps\": 10, \"seed\": 1, \"algo\": \"ppo\" },\n"
"  \"netns\": true\n"
"}\n";

const char *const kp_tune_profile_names[] = { "tcp-churn", NULL };

const char *kp_tune_profile(const char *name)
{
	if (!strcmp(name, "tcp-churn"))
		return profile_tcp_churn;
	return NULL;
}

struct ctx {
	const char *origin;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 3, 4)))
static int fail(struct ctx *x, const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(x->err, x->errlen, "%s: %s: %s", x->origin, path, msg);
	return -EINVAL;
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

/* Every key of obj must be in allowed (NULL-terminated): typos are errors. */
static int known_keys(struct ctx *x, const char *path, json_t *obj, const char *const *allowed)
{
	const char *key, *const *a;
	char p[128];
	json_t *v;

	json_object_foreach(obj, key, v) {
		for (a = allowed; *a && strcmp(*a, key); a++)
			;
		if (!*a) {
			snprintf(p, sizeof(p), "%s.%s", path, key);
			return fail(x, p, "unknown key");
		}
	}
	return 0;
}

static int get_obj(struct ctx *x, json_t *parent, const char *key, const char *path,
		   bool required, json_t **out)
{
	json_t *v = json_object_get(parent, key);

	*out = NULL;
	if (!v)
		return required ? fail(x, path, "missing (expected an object)") : 0;
	if (!json_is_object(v))
		return fail(x, path, "expected an object, got %s", type_name(v));
	*out = v;
	return 0;
}

static int get_str(struct ctx *x, json_t *parent, const char *key, const char *path,
		   bool required, char *buf, size_t len)
{
	json_t *v = json_object_get(parent, key);

	if (!v)
		return required ? fail(x, path, "missing (expected a string)") : 0;
	if (!json_is_string(v))
		return fail(x, path, "expected a string, got %s", type_name(v));
	if (!json_string_length(v) || json_string_length(v) >= len)
		return fail(x, path, "expected a string of 1-%zu characters", len - 1);
	snprintf(buf, len, "%s", json_string_value(v));
	return 0;
}

static int get_num(struct ctx *x, json_t *parent, const char *key, const char *path,
		   double lo, double hi, double *out)
{
	json_t *v = json_object_get(parent, key);
	double d;

	if (!v)
		return 0;	/* keep the default */
	if (!json_is_number(v))
		return fail(x, path, "expected a number, got %s", type_name(v));
	d = json_number_value(v);
	if (!isfinite(d) || d < lo || d > hi)
		return fail(x, path, "expected a number in [%g, %g], got %g", lo, hi, d);
	*out = d;
	return 0;
}

static int get_int(struct ctx *x, json_t *parent, const char *key, const char *path,
		   long long lo, long long hi, long long *out)
{
	json_t *v = json_object_get(parent, key);

	if (!v)
		return 0;
	if (!json_is_integer(v))
		return fail(x, path, "expected an integer, got %s", type_name(v));
	if (json_integer_value(v) < lo || json_integer_value(v) > hi)
		return fail(x, path, "expected an integer in [%lld, %lld], got %lld", lo, hi,
			    (long long)json_integer_value(v));
	*out = json_integer_value(v);
	return 0;
}

static int get_bool(struct ctx *x, json_t *parent, const char *key, const char *path, bool *out)
{
	json_t *v = json_object_get(parent, key);

	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return fail(x, path, "expected true or false, got %s", type_name(v));
	*out = json_is_true(v);
	return 0;
}

static int parse_benchmark(struct ctx *x, json_t *b, struct kp_tune_config *c)
{
	static const char *const keys[] = { "command", "shell", "builtin", "timeout_s",
					    "warmup_runs", "repeats", NULL };
	long long warm = c->warmup_runs, rep = c->repeats;
	json_t *cmd = json_object_get(b, "command"), *v;
	char path[64];
	size_t i;
	int err;

	err = known_keys(x, "$.benchmark", b, keys);
	err = err ?: get_bool(x, b, "shell", "$.benchmark.shell", &c->shell);
	err = err ?: get_str(x, b, "builtin", "$.benchmark.builtin", false, c->builtin,
			     sizeof(c->builtin));
	err = err ?: get_num(x, b, "timeout_s", "$.benchmark.timeout_s", 0.1, 86400, &c->timeout_s);
	err = err ?: get_int(x, b, "warmup_runs", "$.benchmark.warmup_runs", 0, 100, &warm);
	err = err ?: get_int(x, b, "repeats", "$.benchmark.repeats", 1, 100, &rep);
	if (err)
		return err;
	c->warmup_runs = warm;
	c->repeats = rep;
	if (c->builtin[0]) {
		if (strcmp(c->builtin, "tcp-churn"))
			return fail(x, "$.benchmark.builtin", "expected \"tcp-churn\", got \"%s\"",
				    c->builtin);
		if (cmd)
			return fail(x, "$.benchmark.command", "not allowed with a builtin benchmark");
		return 0;
	}
	if (!cmd)
		return fail(x, "$.benchmark.command", "missing (expected an array of strings)");
	if (!json_is_array(cmd) || !json_array_size(cmd))
		return fail(x, "$.benchmark.command", "expected a non-empty array of strings, got %s",
			    json_is_array(cmd) ? "an empty array" : type_name(cmd));
	if (json_array_size(cmd) > KP_TUNE_MAX_ARGS)
		return fail(x, "$.benchmark.command", "at most %d arguments", KP_TUNE_MAX_ARGS);
	if (c->shell && json_array_size(cmd) != 1)
		return fail(x, "$.benchmark.command",
			    "with \"shell\": true, expected one string (the script for /bin/sh -c)");
	json_array_foreach(cmd, i, v) {
		snprintf(path, sizeof(path), "$.benchmark.command[%zu]", i);
		if (!json_is_string(v))
			return fail(x, path, "expected a string, got %s", type_name(v));
		if (!(c->argv[i] = strdup(json_string_value(v))))
			return -ENOMEM;
		c->argc++;
	}
	return 0;
}

static int parse_metric(struct ctx *x, json_t *m, struct kp_tune_config *c)
{
	static const char *const keys[] = { "name", "pattern", "goal", NULL };
	char goal[16] = "maximize", pat[1024], msg[256];
	regex_t re;
	int err;

	err = known_keys(x, "$.reward_metric", m, keys);
	err = err ?: get_str(x, m, "name", "$.reward_metric.name", true, c->metric_name,
			     sizeof(c->metric_name));
	err = err ?: get_str(x, m, "pattern", "$.reward_metric.pattern", true, pat, sizeof(pat));
	err = err ?: get_str(x, m, "goal", "$.reward_metric.goal", false, goal, sizeof(goal));
	if (err)
		return err;
	if (!strcmp(goal, "maximize"))
		c->goal = KP_GOAL_MAXIMIZE;
	else if (!strcmp(goal, "minimize"))
		c->goal = KP_GOAL_MINIMIZE;
	else
		return fail(x, "$.reward_metric.goal", "expected \"maximize\" or \"minimize\", got \"%s\"",
			    goal);
	err = regcomp(&re, pat, REG_EXTENDED);
	if (err) {
		regerror(err, &re, msg, sizeof(msg));
		return fail(x, "$.reward_metric.pattern", "not a POSIX extended regex: %s", msg);
	}
	if (re.re_nsub != 1) {
		regfree(&re);
		return fail(x, "$.reward_metric.pattern", "expected exactly one capture group, got %zu",
			    re.re_nsub);
	}
	regfree(&re);
	c->pattern = strdup(pat);
	return c->pattern ? 0 : -ENOMEM;
}

static int parse_actions(struct ctx *x, json_t *a, struct kp_tune_config *c)
{
	static const char *const keys[] = { "knob", "min", "max", "scale", "max_step", "element",
					    NULL };
	char path[96], p2[128], scale[16];
	size_t i;
	json_t *v;
	int err, k;

	if (!json_is_array(a) || !json_array_size(a))
		return fail(x, "$.action_space", "expected a non-empty array of knobs, got %s",
			    json_is_array(a) ? "an empty array" : type_name(a));
	if (json_array_size(a) > KP_TUNE_MAX_ACTIONS)
		return fail(x, "$.action_space", "at most %d knobs", KP_TUNE_MAX_ACTIONS);
	json_array_foreach(a, i, v) {
		struct kp_tune_action *ac = &c->actions[i];
		long long el = 0;
		bool has_min, has_max;

		snprintf(path, sizeof(path), "$.action_space[%zu]", i);
		if (!json_is_object(v))
			return fail(x, path, "expected an object, got %s", type_name(v));
		err = known_keys(x, path, v, keys);
		snprintf(p2, sizeof(p2), "%s.knob", path);
		err = err ?: get_str(x, v, "knob", p2, true, ac->knob, sizeof(ac->knob));
		has_min = json_object_get(v, "min");
		has_max = json_object_get(v, "max");
		if (!err && (!has_min || !has_max))
			return fail(x, path, "expected both \"min\" and \"max\"");
		snprintf(p2, sizeof(p2), "%s.min", path);
		err = err ?: get_num(x, v, "min", p2, -1e18, 1e18, &ac->min);
		snprintf(p2, sizeof(p2), "%s.max", path);
		err = err ?: get_num(x, v, "max", p2, -1e18, 1e18, &ac->max);
		snprintf(p2, sizeof(p2), "%s.max_step", path);
		err = err ?: get_num(x, v, "max_step", p2, 0, 1e18, &ac->max_step);
		snprintf(p2, sizeof(p2), "%s.element", path);
		err = err ?: get_int(x, v, "element", p2, 0, 3, &el);
		strcpy(scale, "linear");
		snprintf(p2, sizeof(p2), "%s.scale", path);
		err = err ?: get_str(x, v, "scale", p2, false, scale, sizeof(scale));
		if (err)
			return err;
		if (ac->min >= ac->max)
			return fail(x, path, "expected min < max, got %g >= %g", ac->min, ac->max);
		if (strcmp(scale, "linear") && strcmp(scale, "log"))
			return fail(x, p2, "expected \"linear\" or \"log\", got \"%s\"", scale);
		ac->log_scale = !strcmp(scale, "log");
		if (ac->log_scale && ac->min <= 0)
			return fail(x, path, "a log scale needs min > 0, got %g", ac->min);
		ac->element = el;
		for (k = 0; k < (int)i; k++)
			if (!strcmp(c->actions[k].knob, ac->knob))
				return fail(x, path, "knob %s given twice (one action per knob)", ac->knob);
		c->nactions++;
	}
	return 0;
}

static int parse_state(struct ctx *x, json_t *s, struct kp_tune_config *c)
{
	const char *const *n;
	char path[64];
	size_t i;
	json_t *v;

	if (!json_is_array(s))
		return fail(x, "$.state_space", "expected an array of metric names, got %s",
			    type_name(s));
	if (json_array_size(s) > KP_TUNE_MAX_STATE)
		return fail(x, "$.state_space", "at most %d metrics", KP_TUNE_MAX_STATE);
	json_array_foreach(s, i, v) {
		snprintf(path, sizeof(path), "$.state_space[%zu]", i);
		if (!json_is_string(v))
			return fail(x, path, "expected a metric name, got %s", type_name(v));
		for (n = kp_tune_state_names; *n && strcmp(*n, json_string_value(v)); n++)
			;
		if (!*n)
			return fail(x, path, "unknown metric \"%s\" (Documentation/tuning.md lists them)",
				    json_string_value(v));
		snprintf(c->state[c->nstate++], sizeof(c->state[0]), "%s", json_string_value(v));
	}
	return 0;
}

static int parse_training(struct ctx *x, json_t *t, struct kp_tune_config *c)
{
	static const char *const keys[] = { "trials", "episode_steps", "seed", "algo", NULL };
	long long trials = c->trials, ep = c->episode_steps, seed = (long long)c->seed;
	char algo[16] = "";
	int err;

	err = known_keys(x, "$.training", t, keys);
	err = err ?: get_int(x, t, "trials", "$.training.trials", 1, 100000, &trials);
	err = err ?: get_int(x, t, "episode_steps", "$.training.episode_steps", 1, 100000, &ep);
	err = err ?: get_int(x, t, "seed", "$.training.seed", 0, 1LL << 62, &seed);
	err = err ?: get_str(x, t, "algo", "$.training.algo", false, algo, sizeof(algo));
	if (err)
		return err;
	if (algo[0] && strcmp(algo, "ppo") && strcmp(algo, "random"))
		return fail(x, "$.training.algo", "expected \"ppo\" or \"random\", got \"%s\"", algo);
	c->algo = !strcmp(algo, "random") ? KP_ALGO_RANDOM : KP_ALGO_PPO;
	c->trials = trials;
	c->episode_steps = ep;
	c->seed = seed;
	return 0;
}

int kp_tune_config_parse(const char *text, const char *origin, struct kp_tune_config *c,
			 char *err, size_t errlen)
{
	static const char *const keys[] = { "workload_name", "benchmark", "reward_metric",
					    "action_space", "state_space", "reward", "training",
					    "netns", NULL };
	static const char *const rkeys[] = { "performance", "stability", "failure", NULL };
	struct ctx x = { origin, err, errlen };
	json_t *root, *b, *m, *r, *t, *s;
	json_error_t je;
	int ret;

	memset(c, 0, sizeof(*c));
	c->timeout_s = 300;
	c->repeats = 1;
	c->w_perf = 1.0;
	c->w_stability = 0.1;
	c->w_failure = 1.0;
	c->trials = 40;
	c->episode_steps = 10;
	c->seed = 1;
	root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		snprintf(err, errlen, "%s: line %d column %d: %s", origin, je.line, je.column, je.text);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		ret = fail(&x, "$", "expected an object, got %s", type_name(root));
		goto out;
	}
	ret = known_keys(&x, "$", root, keys);
	ret = ret ?: get_str(&x, root, "workload_name", "$.workload_name", true, c->workload_name,
			     sizeof(c->workload_name));
	if (!ret && !kp_name_ok(c->workload_name, strlen(c->workload_name), sizeof(c->workload_name)))
		ret = fail(&x, "$.workload_name", "expected letters, digits, '_', '.' or '-', got \"%s\"",
			   c->workload_name);
	ret = ret ?: get_obj(&x, root, "benchmark", "$.benchmark", true, &b);
	ret = ret ?: parse_benchmark(&x, b, c);
	ret = ret ?: get_obj(&x, root, "reward_metric", "$.reward_metric", true, &m);
	ret = ret ?: parse_metric(&x, m, c);
	if (!ret && !json_object_get(root, "action_space"))
		ret = fail(&x, "$.action_space", "missing (expected an array of knobs)");
	ret = ret ?: parse_actions(&x, json_object_get(root, "action_space"), c);
	s = json_object_get(root, "state_space");
	ret = ret ?: (s ? parse_state(&x, s, c) : 0);
	ret = ret ?: get_obj(&x, root, "reward", "$.reward", false, &r);
	if (!ret && r) {
		ret = known_keys(&x, "$.reward", r, rkeys);
		ret = ret ?: get_num(&x, r, "performance", "$.reward.performance", 0, 1000, &c->w_perf);
		ret = ret ?: get_num(&x, r, "stability", "$.reward.stability", 0, 1000,
				     &c->w_stability);
		ret = ret ?: get_num(&x, r, "failure", "$.reward.failure", 0, 1000, &c->w_failure);
	}
	ret = ret ?: get_obj(&x, root, "training", "$.training", false, &t);
	ret = ret ?: (t ? parse_training(&x, t, c) : 0);
	ret = ret ?: get_bool(&x, root, "netns", "$.netns", &c->netns);
	if (!ret && c->builtin[0] && !c->netns)
		ret = fail(&x, "$.netns", "the tcp-churn benchmark runs in private namespaces: expected true");
out:
	json_decref(root);
	if (ret)
		kp_tune_config_free(c);
	return ret;
}

int kp_tune_config_load(const char *path, struct kp_tune_config *c, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "re");
	int ret;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	ret = getdelim(&text, &len, '\0', f) < 0 ? -EIO : 0;
	fclose(f);
	if (ret) {
		free(text);
		snprintf(err, errlen, "%s: cannot read", path);
		return ret;
	}
	ret = kp_tune_config_parse(text, path, c, err, errlen);
	free(text);
	return ret;
}

void kp_tune_config_free(struct kp_tune_config *c)
{
	int i;

	for (i = 0; i < c->argc; i++)
		free(c->argv[i]);
	free(c->pattern);
	c->argc = 0;
	c->pattern = NULL;
}
