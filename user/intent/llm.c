// SPDX-License-Identifier: GPL-2.0
/*
 * One chat-completions request for a session config, through libcurl:
 * http or https only, no redirects followed (a redirect could take the key
 * to another host), the answer bounded in size and the whole request in
 * time.  The answer is an untrusted config: parsed like a file, then vetted
 * (vet.c).  No message carries the URL or the key: curl's own error buffer
 * (which names the host) is never used, and every reason is scrubbed of
 * both before it is returned, since a hostile server may echo them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "intent/llm.h"

#define SUFFIX		"/chat/completions"
#define INPUT_MAX	(64 * 1024)
#define ORIGIN		"the model's answer"

static const char system_prompt[] =
"You write tuning sessions for kpilot, a Linux kernel autotuner that runs as root. "
"Answer with one JSON object under the given schema and nothing else. Rules: use only "
"knobs from the knob catalogue, with min and max inside each knob's range there and on "
"its safe side; the benchmark command is the argv of a benchmark program installed on "
"this host (see the host facts), run directly: never a shell, an interpreter or a tool "
"that changes the system, and \"shell\" is false; timeout_s at most 3600, repeats 1-20, "
"warmup_runs 0-10, trials 2-500 (30 is usual), and all runs together under 24 hours; "
"\"netns\" is true only if every knob is per network namespace and the benchmark needs "
"nothing outside it. The reward_metric pattern is a POSIX extended regex with one "
"capture group matching the benchmark's output.";

struct answer {
	char *buf;
	size_t n;
	bool too_big;
};

static size_t collect(char *data, size_t size, size_t nmemb, void *arg)
{
	struct answer *a = arg;
	size_t add = size * nmemb;
	char *p;

	if (a->n + add > KP_LLM_MAX_ANSWER) {
		a->too_big = true;
		return 0;
	}
	p = realloc(a->buf, a->n + add + 1);
	if (!p)
		return 0;
	memcpy(p + a->n, data, add);
	a->n += add;
	p[a->n] = '\0';
	a->buf = p;
	return add;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The base URL, or the full one when it already ends in /chat/completions. */
static int endpoint(const char *base, char *out, size_t size)
{
	size_t n = strlen(base);

	while (n && base[n - 1] == '/')
		n--;
	if (n >= strlen(SUFFIX) && !strncmp(base + n - strlen(SUFFIX), SUFFIX, strlen(SUFFIX)))
		return (size_t)snprintf(out, size, "%.*s", (int)n, base) < size ? 0 : -ENAMETOOLONG;
	return (size_t)snprintf(out, size, "%.*s%s", (int)n, base, SUFFIX) < size ? 0 :
	       -ENAMETOOLONG;
}

static char *request_body(const struct kp_llm_opts *o, const char *sentence, const char *context)
{
	json_t *req, *msgs;
	char *user = NULL, *body = NULL;

	if (asprintf(&user, "Host facts and knob catalogue:\n%s\n\nThe request: %s\n",
		     context ? context : "(none given)", sentence) < 0)
		return NULL;
	msgs = json_pack("[{s:s, s:s}, {s:s, s:s}]", "role", "system", "content", system_prompt,
			 "role", "user", "content", user);
	req = json_pack("{s:s, s:o, s:i, s:{s:s, s:{s:s, s:b, s:o}}}", "model", o->model,
			"messages", msgs, "temperature", 0, "response_format", "type", "json_schema",
			"json_schema", "name", "kpilot_session", "strict", 1,
			"schema", kp_intent_schema());
	if (req)
		body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	free(user);
	return body;
}

static int transport_error(CURLcode rc, const struct answer *a, double timeout_s, char *why,
			   size_t len)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(why, len, "no answer from the LLM endpoint within %g s (timeout_s)", timeout_s);
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		snprintf(why, len, "could not connect to the LLM endpoint");
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(why, len, "the LLM endpoint's host name does not resolve");
		return -EHOSTUNREACH;
	case CURLE_UNSUPPORTED_PROTOCOL:
		snprintf(why, len, "the LLM endpoint must be http:// or https://");
		return -EINVAL;
	case CURLE_WRITE_ERROR:
		if (a->too_big) {
			snprintf(why, len, "the LLM endpoint's answer is larger than %d KiB",
				 KP_LLM_MAX_ANSWER >> 10);
			return -EMSGSIZE;
		}
		break;
	default:
		break;
	}
	/* curl_easy_strerror() is a fixed text: it names no host */
	snprintf(why, len, "the request to the LLM endpoint failed: %s", curl_easy_strerror(rc));
	return -EIO;
}

static struct curl_slist *headers(const struct kp_llm_opts *o)
{
	struct curl_slist *h = NULL, *n;
	char auth[sizeof(o->api_key) + 32];

	h = curl_slist_append(NULL, "Content-Type: application/json");
	if (h && (n = curl_slist_append(h, "Accept: application/json")))
		h = n;
	if (h && o->api_key[0]) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->api_key);
		n = curl_slist_append(h, auth);
		explicit_bzero(auth, sizeof(auth));
		if (!n) {
			curl_slist_free_all(h);
			return NULL;
		}
	}
	return h;
}

static void curl_limits(CURL *c, const struct kp_llm_opts *o)
{
	long ms = (long)(o->timeout_s * 1000);

	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms > 0 ? ms : 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms > 0 ? ms : 1L);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE, (long)KP_LLM_MAX_ANSWER);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "kpilot");
}

/* POST body to url: 0 with the HTTP status and the answer, or -errno. */
static int post(const struct kp_llm_opts *o, const char *url, const char *body, long *status,
		struct answer *a, char *why, size_t len)
{
	struct curl_slist *h;
	CURLcode rc;
	CURL *c;
	int err = 0;

	pthread_once(&curl_once, curl_init);
	if (curl_init_rc || !(c = curl_easy_init())) {
		snprintf(why, len, "libcurl could not start");
		return -ENOMEM;
	}
	h = headers(o);
	if (!h) {
		curl_easy_cleanup(c);
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	curl_limits(c, o);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
	rc = curl_easy_perform(c);
	if (rc == CURLE_FILESIZE_EXCEEDED) {
		a->too_big = true;
		rc = CURLE_WRITE_ERROR;
	}
	if (rc)
		err = transport_error(rc, a, o->timeout_s, why, len);
	else
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	/* the header list holds the key: wipe it before it goes back to malloc */
	for (struct curl_slist *p = h; p; p = p->next)
		explicit_bzero(p->data, strlen(p->data));
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return err;
}

/* A text from the answer, safe to quote: one line, printable, short. */
static void quote(char *out, size_t size, const char *s)
{
	size_t i;

	snprintf(out, size, "%.160s%s", s, strlen(s) > 160 ? "..." : "");
	for (i = 0; out[i]; i++)
		if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] >= 0x7f)
			out[i] = '?';
}

static int http_status(long status, const char *body, char *why, size_t len)
{
	json_t *root = json_loads(body, 0, NULL), *m;
	char msg[200] = "";

	m = json_object_get(json_object_get(root, "error"), "message");
	if (json_is_string(m))
		quote(msg, sizeof(msg), json_string_value(m));
	json_decref(root);
	snprintf(why, len, "the LLM endpoint answered HTTP %ld%s%s%s", status,
		 status >= 300 && status < 400 ? " (redirects are not followed)" : "",
		 msg[0] ? ": " : "", msg);
	return -EPROTO;
}

/* choices[0].message.content of a chat completion (a new string), or -errno. */
static int content_of(const char *body, char **content, char *why, size_t len)
{
	json_t *root, *ch, *msg, *v;
	json_error_t je;
	char q[200];
	int err = -EBADMSG;

	root = json_loads(body, 0, &je);
	if (!root) {
		snprintf(why, len, "the LLM endpoint's answer is not JSON (line %d column %d: %s)",
			 je.line, je.column, je.text);
		return -EBADMSG;
	}
	ch = json_array_get(json_object_get(root, "choices"), 0);
	msg = json_object_get(ch, "message");
	v = json_object_get(msg, "refusal");
	if (json_is_string(v)) {
		quote(q, sizeof(q), json_string_value(v));
		snprintf(why, len, "the model refused: %s", q);
		err = -EPERM;
	} else if (!json_is_string(v = json_object_get(msg, "content"))) {
		snprintf(why, len, "the LLM endpoint's answer is not a chat completion "
			 "(no choices[0].message.content string)");
	} else if (json_is_string(json_object_get(ch, "finish_reason")) &&
		   !strcmp(json_string_value(json_object_get(ch, "finish_reason")), "length")) {
		snprintf(why, len, "the model's answer was cut off (finish_reason \"length\")");
	} else {
		*content = strdup(json_string_value(v));
		err = *content ? 0 : -ENOMEM;
	}
	json_decref(root);
	return err;
}

/* Models that ignore the format wrap JSON in a Markdown fence: unwrap it. */
static void unfence(char *s)
{
	char *p = s, *e;

	while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')
		p++;
	if (!strncmp(p, "```", 3)) {
		p += strcspn(p, "\n");
		if (*p)
			p++;
		e = strstr(p, "```");
		if (e)
			*e = '\0';
	}
	memmove(s, p, strlen(p) + 1);
	for (e = s + strlen(s); e > s && strchr(" \n\r\t", e[-1]); e--)
		e[-1] = '\0';
}

/* Replace every occurrence of secret in s (a why buffer of size len). */
static void scrub(char *s, size_t len, const char *secret)
{
	static const char mark[] = "[redacted]";
	size_t n = strlen(secret), r;
	char *p = s;

	if (n < 4)
		return;
	while ((p = strstr(p, secret))) {
		r = strlen(s) - n + strlen(mark) < len ? strlen(mark) : 0;
		memmove(p + r, p + n, strlen(p + n) + 1);
		memcpy(p, mark, r);
		p += r;
	}
}

/* The reason as returned: one line, and nothing of the key or the endpoint. */
static void scrub_all(const struct kp_llm_opts *o, const char *url, char *why, size_t len)
{
	char host[256], *p;
	const char *h = strstr(o->url, "://");

	/* jansson's messages quote the input, which may hold a newline */
	for (p = why; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';

	scrub(why, len, o->api_key);
	if (url)
		scrub(why, len, url);
	scrub(why, len, o->url);
	if (h) {
		h += 3;
		snprintf(host, sizeof(host), "%.*s", (int)strcspn(h, "/?#"), h);
		scrub(why, len, host);
		host[strcspn(host, ":")] = '\0';
		scrub(why, len, host);
	}
}

static int config_of(const struct kp_llm_opts *o, char *text, struct kp_tune_config *cfg,
		     char *why, size_t len)
{
	char r[512];
	int err;

	unfence(text);
	if (strlen(o->api_key) >= 4 && strstr(text, o->api_key)) {
		snprintf(why, len, "the model's config is refused: it contains the API key");
		return -EPERM;
	}
	if (kp_tune_config_parse(text, ORIGIN, cfg, why, len))
		return -EBADMSG;
	err = kp_intent_vet(cfg, r, sizeof(r));
	if (err) {
		kp_tune_config_free(cfg);
		snprintf(why, len, "the model's config is refused: %s", r);
	}
	return err;
}

int kp_llm_answer(const struct kp_llm_opts *o, const char *body, struct kp_tune_config *cfg,
		  char **json, char *why, size_t len)
{
	char *text = NULL;
	int err;

	*json = NULL;
	memset(cfg, 0, sizeof(*cfg));
	err = content_of(body, &text, why, len);
	err = err ?: config_of(o, text, cfg, why, len);
	if (!err)
		*json = text;
	else
		free(text);
	if (err)
		scrub_all(o, NULL, why, len);
	return err;
}

static int ask(const struct kp_llm_opts *o, const char *url, const char *sentence,
	       const char *context, struct kp_tune_config *cfg, char **json, char *why, size_t len)
{
	struct answer a = { 0 };
	long status = 0;
	char *body;
	int err;

	body = request_body(o, sentence, context);
	if (!body) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	err = post(o, url, body, &status, &a, why, len);
	if (!err && status != 200)
		err = http_status(status, a.buf ? a.buf : "", why, len);
	if (!err && !a.buf) {
		snprintf(why, len, "the LLM endpoint's answer is empty");
		err = -EBADMSG;
	}
	err = err ?: kp_llm_answer(o, a.buf, cfg, json, why, len);
	free(a.buf);
	free(body);
	return err;
}

int kp_llm_session_config(const struct kp_llm_opts *o, const char *sentence,
			  const char *context, struct kp_tune_config *cfg, char **json,
			  char *why, size_t len)
{
	char url[sizeof(o->url) + sizeof(SUFFIX)];
	int err;

	*json = NULL;
	memset(cfg, 0, sizeof(*cfg));
	if (!o->url[0]) {
		snprintf(why, len, "no LLM endpoint given (--llm URL or \"url\" in %s)",
			 KP_LLM_CONFIG_PATH);
		return -EINVAL;
	}
	if (!(o->timeout_s > 0 && o->timeout_s <= 3600)) {
		snprintf(why, len, "the LLM request's timeout_s must be in (0, 3600]");
		return -EINVAL;
	}
	if (!sentence || !*sentence || strlen(sentence) > INPUT_MAX ||
	    (context && strlen(context) > INPUT_MAX)) {
		snprintf(why, len, "the sentence must be 1-%d bytes, the context at most %d",
			 INPUT_MAX, INPUT_MAX);
		return -E2BIG;
	}
	if (endpoint(o->url, url, sizeof(url))) {
		snprintf(why, len, "the LLM endpoint's URL is too long");
		return -ENAMETOOLONG;
	}
	err = ask(o, url, sentence, context, cfg, json, why, len);
	if (err)
		scrub_all(o, url, why, len);
	explicit_bzero(url, sizeof(url));
	return err;
}
