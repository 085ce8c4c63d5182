/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A tuning config from an OpenAI-compatible chat-completions endpoint, and
 * the refusals a config from such an untrusted source goes through before
 * anyone may run it (Documentation/llm.md).  Nothing here logs: the key and
 * the endpoint's URL never reach a message.
 */
#ifndef KPILOT_INTENT_LLM_H
#define KPILOT_INTENT_LLM_H

#include <stddef.h>
#include <jansson.h>
#include "env/benchmark/tune_config.h"

/* Where kp_llm_opts_load(NULL, ...) looks; absent is not an error. */
#define KP_LLM_CONFIG_PATH	"/etc/kpilot/llm.json"
#define KP_LLM_MODEL_DEFAULT	"kpilot-intent"
#define KP_LLM_TIMEOUT_DEFAULT	30.0
/* The environment variable that overrides api_key_file. */
#define KP_LLM_KEY_ENV		"KPILOT_LLM_API_KEY"
/* The largest answer read (the whole HTTP body). */
#define KP_LLM_MAX_ANSWER	(1 << 20)

struct kp_llm_opts {
	char url[512];		/* base (…/v1) or the full …/chat/completions */
	char model[128];
	char api_key[512];	/* "" sends no Authorization header */
	double timeout_s;	/* the whole request: connect, send, answer */
};

/*
 * Defaults (no URL, model KP_LLM_MODEL_DEFAULT, no key, 30 s), then the
 * config file (path_or_null, or KP_LLM_CONFIG_PATH when it exists: JSON
 * with the optional keys url, model, api_key_file, timeout_s; the file must
 * pass kp_safety_trusted_file(), the key file must also be unreadable by
 * group and others), then KPILOT_LLM_API_KEY.  0 or -errno with the reason
 * (which names files, never the key).
 */
int kp_llm_opts_load(const char *path_or_null, struct kp_llm_opts *o, char *why, size_t len);
/* Set the endpoint (--llm URL): http:// or https:// only. */
int kp_llm_opts_set_url(struct kp_llm_opts *o, const char *url, char *why, size_t len);

/*
 * Ask the endpoint for a session config for `sentence`, with `context`
 * (host facts, the knob catalogue: the caller's text) in the prompt, under
 * the session schema with strict structured outputs.  On 0, *cfg is parsed
 * (kp_tune_config_parse) and vetted (kp_intent_vet), and *json is the
 * answer's config text (malloc'd, the caller frees; kp_tune_config_free
 * frees *cfg).  Otherwise -errno (-ETIMEDOUT, -EPROTO for an HTTP error,
 * -EBADMSG for an answer that is not a config, -EPERM for a refused one,
 * -EMSGSIZE, -ECONNREFUSED, ...), *json NULL, and one line in why saying
 * what was wrong, never the URL or the key.
 */
int kp_llm_session_config(const struct kp_llm_opts *o, const char *sentence,
			  const char *context, struct kp_tune_config *cfg, char **json,
			  char *why, size_t len);

/*
 * The answer of a chat-completions endpoint (the HTTP 200 body) to a
 * vetted config, as kp_llm_session_config() takes it: its parts for the
 * fuzzer and for callers that got the answer another way.
 */
int kp_llm_answer(const struct kp_llm_opts *o, const char *body, struct kp_tune_config *cfg,
		  char **json, char *why, size_t len);

/*
 * Refusals for a parsed config from an untrusted source, beyond the
 * parser's: a knob outside the knob table, a cgroup knob, a range outside
 * the table's or across its safe floor/ceiling, a host-wide knob with
 * "netns": true, a shell ("shell": true, a shell or command runner as
 * argv[0]), a benchmark binary not installed, a built-in benchmark, the
 * external optimizer, and budgets past the limits in Documentation/llm.md.
 * 0 or -EPERM with the reason.
 */
int kp_intent_vet(const struct kp_tune_config *c, char *why, size_t len);

/* The session schema (JSON Schema for strict structured outputs), a new reference. */
json_t *kp_intent_schema(void);

#endif
