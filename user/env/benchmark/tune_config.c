// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "env/benchmark/tune_config.h"
#include "lib/json.h"
#include "lib/text.h"
#include "state/state.h"

/*
 * tcp-churn: a built-in client and server in two fresh private network
 * namespaces per trial (Documentation/tuning.md explains the effect).
 * net.ipv4.tcp_max_tw_buckets is left out: lowering it is the profile's
 * biggest win and a correctness risk (safety.md); raising it cannot help.
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

static int parse_benchmark(struct kp_json *x, json_t *b, struct kp_tune_config *c)
{
	static const char *const keys[] = { "command", "shell", "builtin", "timeout_s",
					    "warmup_runs", "repeats", NULL };
	long long warm = c->warmup_runs, rep = c->repeats;
	json_t *cmd = json_object_get(b, "command"), *v;
	char path[64];
	size_t i;
	int err;

	err = kp_json_keys(x, "$.benchmark", b, keys);
	err = err ?: kp_json_bool(x, b, "$.benchmark", "shell", &c->shell);
	err = err ?: kp_json_str(x, b, "$.benchmark", "builtin", false, c->builtin,
			     sizeof(c->builtin));
	err = err ?: kp_json_num(x, b, "$.benchmark", "timeout_s", false, 0.1, 86400, &c->timeout_s);
	err = err ?: kp_json_int(x, b, "$.benchmark", "warmup_runs", 0, 100, &warm);
	err = err ?: kp_json_int(x, b, "$.benchmark", "repeats", 1, 100, &rep);
	if (err)
		return err;
	c->warmup_runs = warm;
	c->repeats = rep;
	if (c->builtin[0]) {
		if (strcmp(c->builtin, "tcp-churn"))
			return kp_json_fail(x, "$.benchmark.builtin", "expected \"tcp-churn\", got \"%s\"",
				    c->builtin);
		if (cmd)
			return kp_json_fail(x, "$.benchmark.command", "not allowed with a builtin benchmark");
		return 0;
	}
	if (!cmd)
		return kp_json_fail(x, "$.benchmark.command", "missing (expected an array of strings)");
	if (!json_is_array(cmd) || !json_array_size(cmd))
		return kp_json_fail(x, "$.benchmark.command", "expected a non-empty array of strings, got %s",
			    json_is_array(cmd) ? "an empty array" : kp_json_type(cmd));
	if (json_array_size(cmd) > KP_TUNE_MAX_ARGS)
		return kp_json_fail(x, "$.benchmark.command", "at most %d arguments", KP_TUNE_MAX_ARGS);
	if (c->shell && json_array_size(cmd) != 1)
		return kp_json_fail(x, "$.benchmark.command",
			    "with \"shell\": true, expected one string (the script for /bin/sh -c)");
	json_array_foreach(cmd, i, v) {
		snprintf(path, sizeof(path), "$.benchmark.command[%zu]", i);
		if (!json_is_string(v))
			return kp_json_want(x, path, "a string", v);
		if (!(c->argv[i] = strdup(json_string_value(v))))
			return -ENOMEM;
		c->argc++;
	}
	return 0;
}

/*
 * POSIX leaves a repeated repetition ("a++", "a*{2}") undefined, and glibc's
 * regcomp takes exponential time on a run of them. Outside brackets only.
 */
static bool repeated_repetition(const char *p)
{
	bool rep = false;

	for (; *p; p++) {
		if (*p == '\\' && p[1]) {
			p++;
			rep = false;
		} else if (*p == '[') {
			p += p[1] == '^' ? 2 : 1;
			if (*p == ']')
				p++;
			while (*p && *p != ']')
				p++;
			if (!*p)
				return false;	/* regcomp says what is wrong */
			rep = false;
		} else if (strchr("*+?{", *p)) {
			if (rep)
				return true;
			if (*p == '{')
				while (p[1] && *p != '}')
					p++;
			rep = true;
		} else {
			rep = false;
		}
	}
	return false;
}

static int parse_metric(struct kp_json *x, json_t *m, struct kp_tune_config *c)
{
	static const char *const keys[] = { "name", "pattern", "goal", NULL };
	char goal[16] = "maximize", pat[1024], msg[256];
	regex_t re;
	int err;

	err = kp_json_keys(x, "$.reward_metric", m, keys);
	err = err ?: kp_json_str(x, m, "$.reward_metric", "name", true, c->metric_name,
			     sizeof(c->metric_name));
	err = err ?: kp_json_str(x, m, "$.reward_metric", "pattern", true, pat, sizeof(pat));
	err = err ?: kp_json_str(x, m, "$.reward_metric", "goal", false, goal, sizeof(goal));
	if (err)
		return err;
	if (!strcmp(goal, "maximize"))
		c->goal = KP_GOAL_MAXIMIZE;
	else if (!strcmp(goal, "minimize"))
		c->goal = KP_GOAL_MINIMIZE;
	else
		return kp_json_fail(x, "$.reward_metric.goal", "expected \"maximize\" or \"minimize\", got \"%s\"",
			    goal);
	if (repeated_repetition(pat))
		return kp_json_fail(x, "$.reward_metric.pattern",
				    "a repetition of a repetition (like '++') is undefined in POSIX regexes");
	err = regcomp(&re, pat, REG_EXTENDED);
	if (err) {
		regerror(err, &re, msg, sizeof(msg));
		return kp_json_fail(x, "$.reward_metric.pattern", "not a POSIX extended regex: %s", msg);
	}
	if (re.re_nsub != 1) {
		regfree(&re);
		return kp_json_fail(x, "$.reward_metric.pattern", "expected exactly one capture group, got %zu",
			    re.re_nsub);
	}
	regfree(&re);
	c->pattern = strdup(pat);
	return c->pattern ? 0 : -ENOMEM;
}

static int parse_actions(struct kp_json *x, json_t *a, struct kp_tune_config *c)
{
	static const char *const keys[] = { "knob", "min", "max", "scale", "max_step", "element",
					    NULL };
	char path[96], p2[128], scale[16];
	size_t i;
	json_t *v;
	int err, k;

	if (!json_is_array(a) || !json_array_size(a))
		return kp_json_fail(x, "$.action_space", "expected a non-empty array of knobs, got %s",
			    json_is_array(a) ? "an empty array" : kp_json_type(a));
	if (json_array_size(a) > KP_TUNE_MAX_ACTIONS)
		return kp_json_fail(x, "$.action_space", "at most %d knobs", KP_TUNE_MAX_ACTIONS);
	json_array_foreach(a, i, v) {
		struct kp_tune_action *ac = &c->actions[i];
		long long el = 0;
		bool has_min, has_max;

		snprintf(path, sizeof(path), "$.action_space[%zu]", i);
		if (!json_is_object(v))
			return kp_json_want(x, path, "an object", v);
		err = kp_json_keys(x, path, v, keys);
		err = err ?: kp_json_str(x, v, path, "knob", true, ac->knob, sizeof(ac->knob));
		has_min = json_object_get(v, "min");
		has_max = json_object_get(v, "max");
		if (!err && (!has_min || !has_max))
			return kp_json_fail(x, path, "expected both \"min\" and \"max\"");
		err = err ?: kp_json_num(x, v, path, "min", false, -1e18, 1e18, &ac->min);
		err = err ?: kp_json_num(x, v, path, "max", false, -1e18, 1e18, &ac->max);
		err = err ?: kp_json_num(x, v, path, "max_step", false, 0, 1e18, &ac->max_step);
		err = err ?: kp_json_int(x, v, path, "element", 0, 3, &el);
		strcpy(scale, "linear");
		err = err ?: kp_json_str(x, v, path, "scale", false, scale, sizeof(scale));
		if (err)
			return err;
		if (ac->min >= ac->max)
			return kp_json_fail(x, path, "expected min < max, got %g >= %g", ac->min, ac->max);
		snprintf(p2, sizeof(p2), "%s.scale", path);
		if (strcmp(scale, "linear") && strcmp(scale, "log"))
			return kp_json_fail(x, p2, "expected \"linear\" or \"log\", got \"%s\"", scale);
		ac->log_scale = !strcmp(scale, "log");
		if (ac->log_scale && ac->min <= 0)
			return kp_json_fail(x, path, "a log scale needs min > 0, got %g", ac->min);
		ac->element = el;
		for (k = 0; k < (int)i; k++)
			if (!strcmp(c->actions[k].knob, ac->knob))
				return kp_json_fail(x, path, "knob %s given twice (one action per knob)", ac->knob);
		c->nactions++;
	}
	return 0;
}

static int parse_state(struct kp_json *x, json_t *s, struct kp_tune_config *c)
{
	char path[64];
	size_t i;
	json_t *v;

	if (!json_is_array(s))
		return kp_json_want(x, "$.state_space", "an array of metric names", s);
	if (json_array_size(s) > KP_TUNE_MAX_STATE)
		return kp_json_fail(x, "$.state_space", "at most %d metrics", KP_TUNE_MAX_STATE);
	json_array_foreach(s, i, v) {
		snprintf(path, sizeof(path), "$.state_space[%zu]", i);
		if (!json_is_string(v))
			return kp_json_want(x, path, "a metric name", v);
		if (!kp_bench_state_find(json_string_value(v)))
			return kp_json_fail(x, path, "unknown metric \"%s\" (Documentation/tuning.md lists them)",
				    json_string_value(v));
		snprintf(c->state[c->nstate++], sizeof(c->state[0]), "%s", json_string_value(v));
	}
	return 0;
}

const char *const kp_tune_algo_names[] = { "ppo", "ppo-plain", "random", "external", NULL };

int kp_tune_algo(const char *name)
{
	int i;

	for (i = 0; kp_tune_algo_names[i]; i++)
		if (!strcmp(name, kp_tune_algo_names[i]))
			return i;
	return -1;
}

static int parse_training(struct kp_json *x, json_t *t, struct kp_tune_config *c)
{
	static const char *const keys[] = { "trials", "episode_steps", "seed", "algo", NULL };
	long long trials = c->trials, ep = c->episode_steps, seed = (long long)c->seed;
	char algo[16] = "";
	int err;

	err = kp_json_keys(x, "$.training", t, keys);
	err = err ?: kp_json_int(x, t, "$.training", "trials", 1, 100000, &trials);
	err = err ?: kp_json_int(x, t, "$.training", "episode_steps", 1, 100000, &ep);
	err = err ?: kp_json_int(x, t, "$.training", "seed", 0, 1LL << 62, &seed);
	err = err ?: kp_json_str(x, t, "$.training", "algo", false, algo, sizeof(algo));
	if (err)
		return err;
	c->algo = KP_ALGO_PPO;
	if (algo[0] && (int)(c->algo = kp_tune_algo(algo)) < 0)
		return kp_json_fail(x, "$.training.algo",
				    "expected \"ppo\", \"ppo-plain\", \"random\" or \"external\", got \"%s\"",
				    algo);
	c->trials = trials;
	c->episode_steps = ep;
	c->seed = seed;
	return 0;
}

/* What a config leaves out. */
static const struct kp_tune_config defaults = {
	.timeout_s = 300, .repeats = 1,
	.w_perf = 1.0, .w_stability = 0.1, .w_failure = 1.0,
	.trials = 40, .episode_steps = 10, .seed = 1,
};

static int parse_reward(struct kp_json *x, json_t *root, struct kp_tune_config *c)
{
	static const char *const keys[] = { "performance", "stability", "failure", NULL };
	json_t *r;
	int err;

	err = kp_json_obj(x, root, "$", "reward", false, &r);
	if (err || !r)
		return err;
	err = kp_json_keys(x, "$.reward", r, keys);
	err = err ?: kp_json_num(x, r, "$.reward", "performance", false, 0, 1000, &c->w_perf);
	err = err ?: kp_json_num(x, r, "$.reward", "stability", false, 0, 1000, &c->w_stability);
	return err ?: kp_json_num(x, r, "$.reward", "failure", false, 0, 1000, &c->w_failure);
}

int kp_tune_config_parse(const char *text, const char *origin, struct kp_tune_config *c,
			 char *why, size_t len)
{
	static const char *const keys[] = { "workload_name", "benchmark", "reward_metric",
					    "action_space", "state_space", "reward", "training",
					    "netns", NULL };
	struct kp_json x = { .origin = origin, .why = why, .len = len };
	json_t *root, *b, *m, *t, *s;
	int ret;

	*c = defaults;
	ret = kp_json_root(&x, text, &root);
	if (!root)
		return ret;
	ret = ret ?: kp_json_keys(&x, "$", root, keys);
	ret = ret ?: kp_json_str(&x, root, "$", "workload_name", true, c->workload_name,
				 sizeof(c->workload_name));
	if (!ret && !kp_name_ok(c->workload_name, strlen(c->workload_name), sizeof(c->workload_name)))
		ret = kp_json_fail(&x, "$.workload_name",
				   "expected letters, digits, '_', '.' or '-', got \"%s\"",
				   c->workload_name);
	ret = ret ?: kp_json_obj(&x, root, "$", "benchmark", true, &b);
	ret = ret ?: parse_benchmark(&x, b, c);
	ret = ret ?: kp_json_obj(&x, root, "$", "reward_metric", true, &m);
	ret = ret ?: parse_metric(&x, m, c);
	if (!ret && !json_object_get(root, "action_space"))
		ret = kp_json_fail(&x, "$.action_space", "missing (expected an array of knobs)");
	ret = ret ?: parse_actions(&x, json_object_get(root, "action_space"), c);
	s = json_object_get(root, "state_space");
	ret = ret ?: (s ? parse_state(&x, s, c) : 0);
	ret = ret ?: parse_reward(&x, root, c);
	ret = ret ?: kp_json_obj(&x, root, "$", "training", false, &t);
	ret = ret ?: (t ? parse_training(&x, t, c) : 0);
	ret = ret ?: kp_json_bool(&x, root, "$", "netns", &c->netns);
	if (!ret && c->builtin[0] && !c->netns)
		ret = kp_json_fail(&x, "$.netns",
				   "the tcp-churn benchmark runs in private namespaces: expected true");
	json_decref(root);
	if (ret)
		kp_tune_config_free(c);
	return ret;
}

int kp_tune_config_load(const char *path, struct kp_tune_config *c, char *why, size_t len)
{
	char *text;
	int ret = kp_json_read(path, 0, &text, why, len);

	if (ret)
		return ret;
	ret = kp_tune_config_parse(text, path, c, why, len);
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
