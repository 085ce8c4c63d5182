// SPDX-License-Identifier: GPL-2.0
/*
 * kpilot tune --intent TEXT --llm URL, the real binary against the
 * in-process chat-completions server (no real model here: Documentation/
 * llm.md): a vetted answer is the session; a refused, broken or missing one
 * falls back to the offline matcher's; the key and the endpoint never show.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "env/benchmark/tune_config.h"
#include "intent_util.h"
#include "llm_cases.h"

static struct srv s;

static void unproxied(void)
{
	static const char *const v[] = { "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
					 "all_proxy", "ALL_PROXY", NULL };

	for (int i = 0; v[i]; i++)
		unsetenv(v[i]);
	setenv("KPILOT_LLM_API_KEY", KEY, 1);
}

/* kpilot tune --intent SENTENCE --llm <the server> ARGS: status, stdout and stderr. */
static int intent(const char *sentence, const char *args, char **out, char **err)
{
	char cmd[1024], path[96];
	FILE *f;
	int st;

	snprintf(path, sizeof(path), "%s/stderr", tmp);
	snprintf(cmd, sizeof(cmd), KPILOT " tune --intent '%s' --llm %s %s 2>%s </dev/null",
		 sentence, s.base, args, path);
	st = run(cmd, out);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	*err = calloc(1, 1 << 16);
	cr_assert_not_null(*err);
	fread(*err, 1, (1 << 16) - 1, f);
	fclose(f);
	/* neither the key nor the endpoint, whatever happened */
	cr_assert_null(strstr(*err, KEY), "the key on stderr: %s", *err);
	cr_assert_null(strstr(*err, s.base + 7), "the endpoint on stderr: %s", *err);
	return st;
}

static void setup(enum srv_mode mode, const char *text)
{
	need_binary();
	unproxied();
	mktmp();
	srv_start(&s, mode, text);
}

static void teardown(void)
{
	srv_stop(&s);
	rmtmp();
}

static char *workload_of(const char *json)
{
	struct kp_tune_config c;
	char why[512], *name;

	cr_assert_eq(kp_tune_config_parse(json, "stdout", &c, why, sizeof(why)), 0, "%s: %s", why, json);
	name = strdup(c.workload_name);
	kp_tune_config_free(&c);
	return name;
}

Test(intent_llm, a_vetted_answer_is_the_session, .fini = teardown)
{
	char *out, *err, *name;

	setup(SRV_CONTENT, good);
	cr_assert_eq(intent(CHURN_SENTENCE, "--print-config", &out, &err), 0, "%s", err);
	cr_assert_eq(s.nreq, 1, "the endpoint was asked once");
	cr_assert_not_null(strstr(s.auth, KEY), "the key from KPILOT_LLM_API_KEY was sent");
	name = workload_of(out);
	cr_assert_str_eq(name, "echo-bench", "the model's session, not the offline one");
	free(name);
	free(out);
	free(err);
	/* shown before anything runs, with where it came from */
	cr_assert_eq(intent(CHURN_SENTENCE, "--dry-run", &out, &err), 0, "%s", err);
	cr_assert_not_null(strstr(err, "the --llm endpoint's answer"), "%s", err);
	cr_assert_not_null(strstr(err, "echo 'tps = 100'"), "the command in full: %s", err);
	free(out);
	free(err);
}

Test(intent_llm, a_refused_answer_falls_back_to_the_offline_session, .fini = teardown)
{
	char *bad = good_with("benchmark.shell", json_true()), *out, *err, *name;

	setup(SRV_CONTENT, bad);
	cr_assert_eq(intent(CHURN_SENTENCE, "--print-config", &out, &err), 0, "%s", err);
	cr_assert_not_null(strstr(err, "the model's session is not used"), "%s", err);
	cr_assert_not_null(strstr(err, "shell"), "the reason names the shell: %s", err);
	cr_assert_not_null(strstr(err, "the offline matcher's session instead"), "%s", err);
	name = workload_of(out);
	cr_assert_str_eq(name, "tcp-churn");
	free(name);
	free(out);
	free(err);
	free(bad);
}

Test(intent_llm, broken_answers_fall_back, .fini = teardown)
{
	char *out, *err, *name;

	setup(SRV_RAW, "{ not json");
	s.status = 500;
	cr_assert_eq(intent(CHURN_SENTENCE, "--print-config", &out, &err), 0, "%s", err);
	cr_assert_not_null(strstr(err, "not used"), "%s", err);
	name = workload_of(out);
	cr_assert_str_eq(name, "tcp-churn");
	free(name);
	free(out);
	free(err);
	s.status = 200;		/* 200, but not a config */
	cr_assert_eq(intent(CHURN_SENTENCE, "--print-config", &out, &err), 0, "%s", err);
	cr_assert_not_null(strstr(err, "not used"), "%s", err);
	free(out);
	free(err);
}

/* The offline matcher knows no class for it: the model's vetted answer still serves. */
Test(intent_llm, a_sentence_only_the_model_maps, .fini = teardown)
{
	char *out, *err, *name;

	setup(SRV_CONTENT, good);
	cr_assert_eq(intent("make it fast", "--print-config", &out, &err), 0, "%s", err);
	name = workload_of(out);
	cr_assert_str_eq(name, "echo-bench");
	free(name);
	free(out);
	free(err);
	srv_stop(&s);
	srv_start(&s, SRV_REFUSAL, "I cannot help with that");
	cr_assert_eq(intent("make it fast", "--print-config", &out, &err), 2, "%s", err);
	cr_assert_not_null(strstr(err, "workload classes it knows"), "%s", err);
	free(out);
	free(err);
}

Test(intent_llm, llm_needs_intent)
{
	char *out;

	need_binary();
	cr_assert_eq(run(KPILOT " tune --profile tcp-churn --llm http://127.0.0.1:9/v1 2>&1", &out), 2);
	cr_assert_not_null(strstr(out, "--llm go with --intent"), "%s", out);
	free(out);
}
