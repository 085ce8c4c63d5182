/* SPDX-License-Identifier: GPL-2.0 */
/*
 * test_llm's cases: a config every check accepts, variations of it, and
 * one ask of the in-process server that also checks that neither the
 * reason nor stderr shows the key or the URL.
 */
#ifndef KPILOT_TEST_LLM_CASES_H
#define KPILOT_TEST_LLM_CASES_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "intent/llm.h"
#include "../lib/testutil.h"
#include "llm_server.h"

#define KEY	"sk-test-5ecret-0123456789abcdef"

/* A config every check accepts: an installed binary as argv, table knobs inside the table. */
static const char good[] =
"{\"workload_name\": \"echo-bench\","
" \"benchmark\": {\"command\": [\"echo\", \"tps = 100\"], \"shell\": false, \"timeout_s\": 30,"
"                \"warmup_runs\": 0, \"repeats\": 1},"
" \"reward_metric\": {\"name\": \"tps\", \"pattern\": \"tps = ([0-9.]+)\", \"goal\": \"maximize\"},"
" \"action_space\": [{\"knob\": \"vm.swappiness\", \"min\": 10, \"max\": 60, \"scale\": \"linear\","
"                     \"max_step\": 0, \"element\": 0},"
"                    {\"knob\": \"net.core.somaxconn\", \"min\": 128, \"max\": 8192,"
"                     \"scale\": \"log\", \"max_step\": 0, \"element\": 0}],"
" \"state_space\": [\"cpu\", \"iowait\"],"
" \"reward\": {\"performance\": 1.0, \"stability\": 0.1, \"failure\": 1.0},"
" \"training\": {\"trials\": 30, \"episode_steps\": 10, \"seed\": 1, \"algo\": \"ppo\"},"
" \"netns\": false}";

static inline struct kp_llm_opts opts_for(const struct srv *s)
{
	static const char *const proxies[] = { "http_proxy", "HTTP_PROXY", "https_proxy",
					       "HTTPS_PROXY", "all_proxy", "ALL_PROXY", NULL };
	struct kp_llm_opts o = { .timeout_s = 10 };
	int i;

	/* the server is on loopback: a proxy of the caller's must not be asked */
	for (i = 0; proxies[i]; i++)
		unsetenv(proxies[i]);
	snprintf(o.url, sizeof(o.url), "%s", s->base);
	snprintf(o.model, sizeof(o.model), "test-model");
	snprintf(o.api_key, sizeof(o.api_key), "%s", KEY);
	return o;
}

/* The good config with one member replaced: "benchmark.shell" = true, ... */
static inline char *good_with(const char *path, json_t *v)
{
	json_t *root = json_loads(good, 0, NULL), *obj = root;
	char p[128], *dot, *key = p, *out;

	snprintf(p, sizeof(p), "%s", path);
	while ((dot = strchr(key, '.'))) {
		*dot = '\0';
		obj = json_object_get(obj, key);
		if (json_is_array(obj))
			obj = json_array_get(obj, 0);
		key = dot + 1;
	}
	cr_assert(json_is_object(obj), "good_with(%s)", path);
	json_object_set_new(obj, key, v);
	out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return out;
}

/* Ask the server; stderr goes to a file meanwhile, and neither it nor why may show a secret. */
static inline int ask_checked(struct srv *s, struct kp_llm_opts *o, struct kp_tune_config *c,
		       char **json, char *why, size_t len)
{
	char tmp[] = "/tmp/kpllm-err.XXXXXX", *err, port[16];
	int fd = mkstemp(tmp), saved = dup(2), ret;

	cr_assert(fd >= 0 && saved >= 0);
	fflush(stderr);
	dup2(fd, 2);
	ret = kp_llm_session_config(o, "optimize this system for a PostgreSQL database",
				    "host: 2 cores, 4 GiB, cgroup v1; knobs: vm.swappiness 0-200",
				    c, json, why, len);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	/* NULL: nothing was written (an empty file) */
	err = tu_slurp(tmp) ?: strdup("");
	unlink(tmp);
	snprintf(port, sizeof(port), ":%u", s->port);
	cr_assert_null(strpbrk(why, "\n\r"), "why is not one line: %s", why);
	cr_assert_null(strstr(why, KEY), "the key in why: %s", why);
	cr_assert_null(strstr(why, "sk-test"), "part of the key in why: %s", why);
	cr_assert_null(strstr(why, "127.0.0.1"), "the URL's host in why: %s", why);
	cr_assert_null(strstr(why, port), "the URL's port in why: %s", why);
	cr_assert_null(strstr(err, KEY), "the key on stderr: %s", err);
	cr_assert_null(strstr(err, "127.0.0.1"), "the URL on stderr: %s", err);
	free(err);
	return ret;
}

/* Serve content, ask, expect -err with `words` in the reason. */
static inline void expect_refusal(enum srv_mode mode, const char *content, int err,
				  const char *words)
{
	struct kp_tune_config c;
	struct kp_llm_opts o;
	char why[512] = "", *json = (char *)1;
	struct srv s;
	int ret;

	srv_start(&s, mode, content);
	o = opts_for(&s);
	ret = ask_checked(&s, &o, &c, &json, why, sizeof(why));
	cr_expect_eq(ret, err, "got %d (%s), expected %d", ret, why, err);
	cr_expect_not_null(strstr(why, words), "expected \"%s\" in: %s", words, why);
	cr_expect_null(json);
	cr_expect_eq(s.nreq, 1, "%d requests", s.nreq);
	srv_stop(&s);
}

#endif
