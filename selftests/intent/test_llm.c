// SPDX-License-Identifier: GPL-2.0
/*
 * The LLM side of `kpilot tune --intent`: the chat-completions client
 * against a real local server (llm_server.h) answering good, malicious,
 * malformed, slow and failing answers; the refusals of kp_intent_vet; the
 * schema's strict-mode shape; where the options come from.  Every reason
 * is checked by its words, and no reason or stderr may carry the key or
 * the URL.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "intent/llm.h"
#include "lib/clock.h"
#include "safety/knob.h"
#include "../lib/testutil.h"
#include "llm_cases.h"

Test(llm, good_answer_parses_and_vets)
{
	struct kp_tune_config c;
	struct kp_llm_opts o;
	char why[512] = "", *json = NULL;
	struct srv s;
	int ret;

	srv_start(&s, SRV_CONTENT, good);
	o = opts_for(&s);
	ret = ask_checked(&s, &o, &c, &json, why, sizeof(why));
	cr_assert_eq(ret, 0, "%s", why);
	cr_expect_str_eq(json, good);
	cr_expect_str_eq(c.workload_name, "echo-bench");
	cr_expect_eq(c.nactions, 2);
	cr_expect_str_eq(c.actions[1].knob, "net.core.somaxconn");
	cr_expect(c.actions[1].log_scale);
	cr_expect_str_eq(c.argv[0], "echo");
	cr_expect_eq(c.trials, 30);
	cr_expect_eq(kp_intent_vet(&c, why, sizeof(why)), 0, "%s", why);
	kp_tune_config_free(&c);
	free(json);
	srv_stop(&s);
}

Test(llm, request_carries_strict_schema_model_and_key)
{
	struct kp_tune_config c;
	struct kp_llm_opts o;
	char why[512] = "", *json = NULL;
	json_t *req, *rf, *js, *msgs, *schema;
	struct srv s;

	srv_start(&s, SRV_CONTENT, good);
	o = opts_for(&s);
	cr_assert_eq(ask_checked(&s, &o, &c, &json, why, sizeof(why)), 0, "%s", why);
	cr_expect_str_eq(s.method, "POST");
	cr_expect_str_eq(s.path, "/v1/chat/completions");
	cr_expect_str_eq(s.auth, "Bearer " KEY);
	cr_expect_str_eq(s.ctype, "application/json");
	req = json_loads(s.body, 0, NULL);
	cr_assert_not_null(req, "the request is not JSON: %s", s.body);
	cr_expect_str_eq(json_string_value(json_object_get(req, "model")), "test-model");
	rf = json_object_get(req, "response_format");
	cr_expect_str_eq(json_string_value(json_object_get(rf, "type")), "json_schema");
	js = json_object_get(rf, "json_schema");
	cr_expect(json_is_true(json_object_get(js, "strict")), "strict is not true");
	cr_expect_str_eq(json_string_value(json_object_get(js, "name")), "kpilot_session");
	schema = kp_intent_schema();
	cr_expect(json_equal(json_object_get(js, "schema"), schema), "not the session schema");
	json_decref(schema);
	msgs = json_object_get(req, "messages");
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(msgs, 0), "role")),
			 "system");
	cr_expect_not_null(strstr(json_string_value(json_object_get(json_array_get(msgs, 1),
			"content")), "optimize this system for a PostgreSQL database"));
	cr_expect_not_null(strstr(json_string_value(json_object_get(json_array_get(msgs, 1),
			"content")), "knobs: vm.swappiness 0-200"));
	json_decref(req);
	kp_tune_config_free(&c);
	free(json);
	srv_stop(&s);
}

Test(llm, full_url_and_no_key)
{
	struct kp_tune_config c;
	struct kp_llm_opts o;
	char why[512] = "", *json = NULL;
	struct srv s;

	srv_start(&s, SRV_CONTENT, good);
	o = opts_for(&s);
	strcat(o.url, "/chat/completions/");
	o.api_key[0] = '\0';
	cr_assert_eq(ask_checked(&s, &o, &c, &json, why, sizeof(why)), 0, "%s", why);
	cr_expect_str_eq(s.path, "/v1/chat/completions");
	cr_expect_str_eq(s.auth, "", "an Authorization header without a key: %s", s.auth);
	kp_tune_config_free(&c);
	free(json);
	srv_stop(&s);
}

/* A model that ignores the format and fences its JSON still gives the same config. */
Test(llm, fenced_answer)
{
	struct kp_tune_config c;
	struct kp_llm_opts o;
	char why[512] = "", *json = NULL, *fenced;
	struct srv s;

	cr_assert(asprintf(&fenced, "\n```json\n%s\n```\n", good) > 0);
	srv_start(&s, SRV_CONTENT, fenced);
	o = opts_for(&s);
	cr_assert_eq(ask_checked(&s, &o, &c, &json, why, sizeof(why)), 0, "%s", why);
	cr_expect_str_eq(c.workload_name, "echo-bench");
	cr_expect_str_eq(json, good);
	kp_tune_config_free(&c);
	free(json);
	free(fenced);
	srv_stop(&s);
}

/* https:// is spoken (libcurl with TLS): against a plain HTTP server the handshake fails. */
Test(llm, https_to_a_plain_server)
{
	struct kp_tune_config c;
	struct kp_llm_opts o;
	char why[512] = "", *json = NULL;
	struct srv s;
	int ret;

	srv_start(&s, SRV_CONTENT, good);
	o = opts_for(&s);
	snprintf(o.url, sizeof(o.url), "https://127.0.0.1:%u/v1", s.port);
	ret = ask_checked(&s, &o, &c, &json, why, sizeof(why));
	cr_expect_eq(ret, -EIO, "%d: %s", ret, why);
	cr_expect_not_null(strstr(why, "the request to the LLM endpoint failed: SSL"), "%s", why);
	cr_expect_null(json);
	srv_stop(&s);
}

Test(llm, knob_outside_the_table)
{
	char *a = good_with("action_space.knob", json_string("net.ipv4.tcp_keepalive_time"));

	expect_refusal(SRV_CONTENT, a, -EPERM,
		       "refused: net.ipv4.tcp_keepalive_time: not in the knob table");
	free(a);
}

Test(llm, denied_and_cgroup_knobs)
{
	char *a = good_with("action_space.knob", json_string("kernel.panic"));
	char *b = good_with("action_space.knob", json_string("cgroup:system.slice:cpu.weight"));

	expect_refusal(SRV_CONTENT, a, -EPERM, "kernel.panic: on the denylist");
	expect_refusal(SRV_CONTENT, b, -EPERM, "cgroup knobs are not taken from a model's answer");
	free(a);
	free(b);
}

Test(llm, range_outside_the_table)
{
	char *a = good_with("action_space.max", json_integer(500));

	expect_refusal(SRV_CONTENT, a, -EPERM,
		       "vm.swappiness: the range [10, 500] is outside the knob table's [0, 200]");
	free(a);
}

Test(llm, shell_true)
{
	json_t *b = json_pack("{s:[s], s:b, s:i, s:i, s:i}", "command", "echo tps = 1", "shell", 1,
			      "timeout_s", 30, "warmup_runs", 0, "repeats", 1);
	char *a = good_with("benchmark", b);

	expect_refusal(SRV_CONTENT, a, -EPERM, "$.benchmark.shell: a shell command where argv is "
		       "possible");
	free(a);
}

Test(llm, shell_as_argv)
{
	char *a = good_with("benchmark.command", json_pack("[s, s, s]", "bash", "-c", "echo x"));
	char *b = good_with("benchmark.command", json_pack("[s, s, s]", "/bin/sh", "-c", "rm -rf /"));

	expect_refusal(SRV_CONTENT, a, -EPERM, "\"bash\" is a shell, a command runner");
	expect_refusal(SRV_CONTENT, b, -EPERM, "\"sh\" is a shell, a command runner");
	free(a);
	free(b);
}

Test(llm, benchmark_not_installed)
{
	char *a = good_with("benchmark.command", json_pack("[s]", "kpilot-no-such-bench"));
	char *b = good_with("benchmark.command", json_pack("[s]", "/nonexistent/pgbench"));
	char *c = good_with("benchmark.command", json_pack("[s]", "./pgbench"));

	expect_refusal(SRV_CONTENT, a, -EPERM,
		       "\"kpilot-no-such-bench\" is not installed (not found on PATH)");
	expect_refusal(SRV_CONTENT, b, -EPERM, "\"/nonexistent/pgbench\" is not installed");
	expect_refusal(SRV_CONTENT, c, -EPERM, "\"./pgbench\" is a relative path");
	free(a);
	free(b);
	free(c);
}

Test(llm, risky_side_and_host_knob_in_netns)
{
	json_t *act = json_pack("{s:s, s:i, s:i, s:s, s:i, s:i}", "knob",
				"net.ipv4.tcp_max_tw_buckets", "min", 1024, "max", 262144,
				"scale", "log", "max_step", 0, "element", 0);
	char *a = good_with("action_space", json_pack("[o]", act));
	char *b = good_with("netns", json_true());

	expect_refusal(SRV_CONTENT, a, -EPERM, "net.ipv4.tcp_max_tw_buckets: min 1024 is below the "
		       "knob table's safe floor 32768");
	expect_refusal(SRV_CONTENT, b, -EPERM, "vm.swappiness: not per network namespace");
	free(a);
	free(b);
}

Test(llm, absurd_budgets)
{
	char *a = good_with("benchmark.timeout_s", json_integer(86400));
	char *b = good_with("training.trials", json_integer(100000));
	char *c = good_with("benchmark.timeout_s", json_integer(3600));
	char *d = good_with("benchmark.repeats", json_integer(50));

	expect_refusal(SRV_CONTENT, a, -EPERM, "$.benchmark.timeout_s: 86400 s is more than");
	expect_refusal(SRV_CONTENT, b, -EPERM, "$.training.trials: 100000 is outside [2, 500]");
	/* the baseline and 30 trials, each up to an hour */
	expect_refusal(SRV_CONTENT, c, -EPERM, "31 runs of up to 3600 s each could take 31.0 hours");
	expect_refusal(SRV_CONTENT, d, -EPERM, "0 warmup runs and 50 repeats per trial are more");
	free(a);
	free(b);
	free(c);
	free(d);
}

Test(llm, malformed_json)
{
	expect_refusal(SRV_CONTENT, "{\"workload_name\": \"x\", \"benchmark\": ", -EBADMSG,
		       "the model's answer: line 1");
	expect_refusal(SRV_RAW, "<html>502 Bad Gateway</html>", -EBADMSG,
		       "the LLM endpoint's answer is not JSON");
	/* jansson quotes the bad escape, newline and all: the reason stays one line */
	expect_refusal(SRV_RAW, "{\"id\": \"```\\\n\"}", -EBADMSG,
		       "the LLM endpoint's answer is not JSON");
	expect_refusal(SRV_RAW, "{\"object\": \"list\"}", -EBADMSG,
		       "not a chat completion (no choices[0].message.content string)");
}

Test(llm, json_that_is_not_the_schema)
{
	char *a = good_with("training.algo", json_string("genetic"));

	expect_refusal(SRV_CONTENT, "{\"hello\": 1}", -EBADMSG, "the model's answer: $.hello: "
		       "unknown key");
	expect_refusal(SRV_CONTENT, a, -EBADMSG, "$.training.algo: expected \"ppo\"");
	free(a);
}

Test(llm, http_errors)
{
	struct kp_tune_config c;
	struct kp_llm_opts o;
	char why[512] = "", *json = NULL;
	struct srv s;

	srv_start(&s, SRV_RAW, "{\"error\": {\"message\": \"The model 'x' does not exist\"}}");
	s.status = 404;
	o = opts_for(&s);
	cr_expect_eq(ask_checked(&s, &o, &c, &json, why, sizeof(why)), -EPROTO, "%s", why);
	cr_expect_str_eq(why, "the LLM endpoint answered HTTP 404: The model 'x' does not exist");
	s.status = 500;
	s.text = "oops";
	cr_expect_eq(ask_checked(&s, &o, &c, &json, why, sizeof(why)), -EPROTO, "%s", why);
	cr_expect_str_eq(why, "the LLM endpoint answered HTTP 500");
	/* a redirect is not followed: one request, to this server */
	s.status = 302;
	s.location = "http://127.0.0.2:9/v1/chat/completions";
	cr_expect_eq(ask_checked(&s, &o, &c, &json, why, sizeof(why)), -EPROTO, "%s", why);
	cr_expect_str_eq(why, "the LLM endpoint answered HTTP 302 (redirects are not followed)");
	cr_expect_eq(s.nreq, 3);
	cr_expect_null(json);
	srv_stop(&s);
}

Test(llm, answer_that_never_comes)
{
	struct kp_tune_config c;
	struct kp_llm_opts o;
	char why[512] = "", *json = NULL;
	struct srv s;
	double t0;

	srv_start(&s, SRV_SLOW, good);
	s.delay_s = 20;
	o = opts_for(&s);
	o.timeout_s = 0.5;
	t0 = kp_mono_s();
	cr_expect_eq(ask_checked(&s, &o, &c, &json, why, sizeof(why)), -ETIMEDOUT, "%s", why);
	/* bounded by timeout_s: well before the server's 20 s */
	cr_expect_lt(kp_mono_s() - t0, 10.0);
	cr_expect_geq(kp_mono_s() - t0, 0.45);
	cr_expect_str_eq(why, "no answer from the LLM endpoint within 0.5 s (timeout_s)");
	srv_stop(&s);
}

Test(llm, oversized_refusal_and_cut_off_answers)
{
	expect_refusal(SRV_BIG, NULL, -EMSGSIZE, "answer is larger than 1024 KiB");
	expect_refusal(SRV_REFUSAL, "I can't help with that.", -EPERM,
		       "the model refused: I can't help with that.");
	expect_refusal(SRV_CUT, "{\"workload_name\": \"x\"}", -EBADMSG,
		       "cut off (finish_reason \"length\")");
}

Test(llm, nothing_listening)
{
	struct kp_tune_config c;
	struct kp_llm_opts o;
	char why[512] = "", *json = NULL;
	struct srv s;

	srv_start(&s, SRV_CONTENT, good);
	o = opts_for(&s);
	srv_stop(&s);	/* the port is free again: nothing listens */
	cr_expect_eq(ask_checked(&s, &o, &c, &json, why, sizeof(why)), -ECONNREFUSED, "%s", why);
	cr_expect_str_eq(why, "could not connect to the LLM endpoint");
	o.timeout_s = 0;
	cr_expect_eq(kp_llm_session_config(&o, "x", NULL, &c, &json, why, sizeof(why)), -EINVAL);
	cr_expect_str_eq(why, "the LLM request's timeout_s must be in (0, 3600]");
	o.timeout_s = 1;
	o.url[0] = '\0';
	cr_expect_eq(kp_llm_session_config(&o, "x", NULL, &c, &json, why, sizeof(why)), -EINVAL);
	cr_expect_not_null(strstr(why, "no LLM endpoint given"), "%s", why);
}

/* A hostile server echoes the key and the URL back: no reason may repeat them. */
Test(llm, echoed_secrets_never_shown)
{
	struct kp_tune_config c;
	struct kp_llm_opts o;
	char body[512] = "", why[512] = "", *json = NULL, *a;
	struct srv s;

	srv_start(&s, SRV_RAW, body);
	s.status = 401;
	snprintf(body, sizeof(body), "{\"error\": {\"message\": \"bad key %s for %s/chat/"
		 "completions\"}}", KEY, s.base);
	o = opts_for(&s);
	cr_expect_eq(ask_checked(&s, &o, &c, &json, why, sizeof(why)), -EPROTO, "%s", why);
	cr_expect_str_eq(why, "the LLM endpoint answered HTTP 401: bad key [redacted] for "
			 "[redacted]");
	srv_stop(&s);
	a = good_with("reward_metric.goal", json_string(KEY));
	expect_refusal(SRV_CONTENT, a, -EPERM, "refused: it contains the API key");
	free(a);
}

/* Strict structured outputs: every object closed, every property required. */
static void check_strict(json_t *node, const char *where)
{
	json_t *props = json_object_get(node, "properties"), *req, *v;
	const char *k;
	size_t i;

	if (json_is_object(json_object_get(node, "items")))
		check_strict(json_object_get(node, "items"), where);
	if (!props)
		return;
	cr_expect(json_is_false(json_object_get(node, "additionalProperties")),
		  "%s: additionalProperties is not false", where);
	req = json_object_get(node, "required");
	cr_expect_eq(json_array_size(req), json_object_size(props), "%s: not every property is "
		     "required", where);
	json_array_foreach(req, i, v)
		cr_expect_not_null(json_object_get(props, json_string_value(v)), "%s", where);
	json_object_foreach(props, k, v)
		check_strict(v, k);
}

Test(llm, schema_is_strict_and_names_the_table)
{
	json_t *s = kp_intent_schema(), *knobs, *v;
	size_t i, n = 0;

	cr_assert_not_null(s);
	check_strict(s, "$");
	knobs = json_object_get(json_object_get(json_object_get(json_object_get(json_object_get(
		s, "properties"), "action_space"), "items"), "properties"), "knob");
	knobs = json_object_get(knobs, "enum");
	json_array_foreach(knobs, i, v) {
		cr_expect_not_null(kp_knob_builtin(json_string_value(v)), "%s", json_string_value(v));
		n++;
	}
	for (i = 0; i < kp_builtin_nknobs; i++)
		n -= kp_builtin_knobs[i].kind == KP_KNOB_SYSCTL;
	cr_expect_eq(n, 0, "the knob enum is not the table's sysctls");
	cr_expect_null(json_object_get(json_object_get(json_object_get(json_object_get(s,
		"properties"), "benchmark"), "properties"), "builtin"));
	json_decref(s);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
	cr_assert_eq(chmod(path, mode), 0);
}

Test(llm, opts_defaults_file_and_env)
{
	char dir[] = "/tmp/kpllm.XXXXXX", cfg[64], keyf[64], text[256], why[512] = "";
	struct kp_llm_opts o;

	unsetenv(KP_LLM_KEY_ENV);
	if (access(KP_LLM_CONFIG_PATH, F_OK)) {
		cr_expect_eq(kp_llm_opts_load(NULL, &o, why, sizeof(why)), 0, "%s", why);
		cr_expect_str_eq(o.url, "");
		cr_expect_str_eq(o.model, KP_LLM_MODEL_DEFAULT);
		cr_expect_str_eq(o.api_key, "");
		cr_expect_eq(o.timeout_s, 30.0);
	}
	cr_assert_not_null(mkdtemp(dir));
	snprintf(cfg, sizeof(cfg), "%s/llm.json", dir);
	snprintf(keyf, sizeof(keyf), "%s/key", dir);
	write_file(keyf, KEY "\n", 0600);
	snprintf(text, sizeof(text), "{\"url\": \"https://llm.example/v1\", \"model\": \"m1\", "
		 "\"api_key_file\": \"%s\", \"timeout_s\": 5}", keyf);
	write_file(cfg, text, 0600);
	cr_expect_eq(kp_llm_opts_load(cfg, &o, why, sizeof(why)), 0, "%s", why);
	cr_expect_str_eq(o.url, "https://llm.example/v1");
	cr_expect_str_eq(o.model, "m1");
	cr_expect_str_eq(o.api_key, KEY);
	cr_expect_eq(o.timeout_s, 5.0);
	setenv(KP_LLM_KEY_ENV, "sk-from-the-environment", 1);
	cr_expect_eq(kp_llm_opts_load(cfg, &o, why, sizeof(why)), 0, "%s", why);
	cr_expect_str_eq(o.api_key, "sk-from-the-environment");
	setenv(KP_LLM_KEY_ENV, "sk-two\r\nX-Evil: 1", 1);
	cr_expect_eq(kp_llm_opts_load(cfg, &o, why, sizeof(why)), -EINVAL);
	cr_expect_str_eq(why, KP_LLM_KEY_ENV ": the API key has a space or a non-printable "
			 "character");
	unsetenv(KP_LLM_KEY_ENV);
	cr_expect_eq(kp_llm_opts_set_url(&o, "file:///etc/shadow", why, sizeof(why)), -EINVAL);
	cr_expect_str_eq(o.url, "https://llm.example/v1");
	tu_rmtmp(dir);
}

Test(llm, opts_untrusted_files_refused)
{
	char dir[] = "/tmp/kpllm.XXXXXX", cfg[64], keyf[64], text[256], why[512] = "";
	struct kp_llm_opts o;

	unsetenv(KP_LLM_KEY_ENV);
	cr_assert_not_null(mkdtemp(dir));
	snprintf(cfg, sizeof(cfg), "%s/llm.json", dir);
	snprintf(keyf, sizeof(keyf), "%s/key", dir);
	write_file(keyf, KEY, 0640);
	snprintf(text, sizeof(text), "{\"url\": \"http://127.0.0.1:1/v1\", \"api_key_file\": \"%s\"}",
		 keyf);
	write_file(cfg, text, 0600);
	cr_expect_eq(kp_llm_opts_load(cfg, &o, why, sizeof(why)), -EPERM);
	cr_expect_not_null(strstr(why, "readable or writable by group or others (mode 0640)"),
			   "%s", why);
	cr_expect_null(strstr(why, KEY));
	chmod(keyf, 0600);
	if (!geteuid()) {
		cr_assert_eq(chown(keyf, 65534, 65534), 0);
		cr_expect_eq(kp_llm_opts_load(cfg, &o, why, sizeof(why)), -EPERM);
		cr_expect_not_null(strstr(why, "owned by uid 65534, not root"), "%s", why);
		cr_assert_eq(chown(keyf, 0, 0), 0);
	}
	cr_expect_eq(kp_llm_opts_load(cfg, &o, why, sizeof(why)), 0, "%s", why);
	/* the config file itself steers what runs as root */
	chmod(cfg, 0666);
	cr_expect_eq(kp_llm_opts_load(cfg, &o, why, sizeof(why)), -EPERM);
	cr_expect_not_null(strstr(why, "group- or world-writable"), "%s", why);
	write_file(cfg, "{\"url\": \"ftp://x/v1\"}", 0600);
	cr_expect_eq(kp_llm_opts_load(cfg, &o, why, sizeof(why)), -EINVAL);
	cr_expect_not_null(strstr(why, "$.url: the LLM endpoint must be an http:// or https://"),
			   "%s", why);
	write_file(cfg, "{\"api_key_file\": \"llm.key\"}", 0600);
	cr_expect_eq(kp_llm_opts_load(cfg, &o, why, sizeof(why)), -EINVAL);
	cr_expect_not_null(strstr(why, "$.api_key_file: expected an absolute path"), "%s", why);
	write_file(cfg, "{\"api_key\": \"sk-inline\"}", 0600);
	cr_expect_eq(kp_llm_opts_load(cfg, &o, why, sizeof(why)), -EINVAL);
	cr_expect_not_null(strstr(why, "$.api_key: unknown key"), "%s", why);
	tu_rmtmp(dir);
}

Test(llm, vet_direct)
{
	struct kp_tune_config c;
	char why[512];

	cr_assert_eq(kp_tune_config_parse(kp_tune_profile("tcp-churn"), "p", &c, why, sizeof(why)),
		     0, "%s", why);
	cr_expect_eq(kp_intent_vet(&c, why, sizeof(why)), -EPERM);
	cr_expect_not_null(strstr(why, "a built-in benchmark is the offline matcher's"), "%s", why);
	kp_tune_config_free(&c);
	cr_assert_eq(kp_tune_config_parse(good, "g", &c, why, sizeof(why)), 0, "%s", why);
	c.algo = KP_ALGO_EXTERNAL;
	cr_expect_eq(kp_intent_vet(&c, why, sizeof(why)), -EPERM);
	cr_expect_not_null(strstr(why, "\"external\" runs an optimizer"), "%s", why);
	c.algo = KP_ALGO_PPO;
	/* an enum knob's range counts its words: reno cubic bbr htcp dctcp */
	strcpy(c.actions[0].knob, "net.ipv4.tcp_congestion_control");
	c.actions[0].min = 0;
	c.actions[0].max = 4;
	cr_expect_eq(kp_intent_vet(&c, why, sizeof(why)), 0, "%s", why);
	c.actions[0].max = 7;
	cr_expect_eq(kp_intent_vet(&c, why, sizeof(why)), -EPERM);
	cr_expect_str_eq(why, "net.ipv4.tcp_congestion_control: the range [0, 7] is outside the "
			 "knob table's [0, 4]");
	c.actions[0].max = 4;
	c.actions[0].element = 1;
	cr_expect_eq(kp_intent_vet(&c, why, sizeof(why)), -EPERM);
	cr_expect_not_null(strstr(why, "element 1 does not exist (the knob has 1)"), "%s", why);
	c.actions[0].element = 0;
	/* kpilot itself would change knobs outside the session */
	free(c.argv[0]);
	c.argv[0] = strdup("kpilot");
	cr_expect_eq(kp_intent_vet(&c, why, sizeof(why)), -EPERM);
	cr_expect_not_null(strstr(why, "\"kpilot\" is a shell, a command runner or a tool"), "%s",
			   why);
	kp_tune_config_free(&c);
}
