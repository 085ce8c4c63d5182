/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A chat-completions server for the LLM client's tests, in the test's own
 * process (libmicrohttpd, one thread per connection, 127.0.0.1, a free
 * port): it answers what the test set (a completion around a content
 * string, a raw body, an HTTP status, a slow or an oversized answer) and
 * records every request (path, method, Authorization, body), so a test
 * checks what the client sent as well as what it made of the answer.
 */
#ifndef KPILOT_TEST_LLM_SERVER_H
#define KPILOT_TEST_LLM_SERVER_H

#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <criterion/criterion.h>

#if MHD_VERSION < 0x00097002
typedef int SRV_RESULT;
#else
typedef enum MHD_Result SRV_RESULT;
#endif

enum srv_mode {
	SRV_CONTENT,	/* 200, a chat completion whose message.content is `text` */
	SRV_RAW,	/* `status` with `text` as the whole body */
	SRV_REFUSAL,	/* 200, message.refusal is `text` */
	SRV_CUT,	/* 200, content `text` with finish_reason "length" */
	SRV_SLOW,	/* like CONTENT, after `delay_s` */
	SRV_BIG,	/* 200, a body of 2 MiB */
};

struct srv {
	struct MHD_Daemon *d;
	unsigned int port;
	char base[64];			/* http://127.0.0.1:PORT/v1 */
	enum srv_mode mode;
	unsigned int status;		/* SRV_RAW */
	const char *text;
	const char *location;		/* SRV_RAW: a Location header */
	double delay_s;
	volatile int stop;
	pthread_mutex_t mu;
	int nreq;			/* recorded: the last request */
	char path[256], method[16], auth[1024], ctype[128];
	char *body;
};

struct srv_req {
	char *buf;
	size_t n;
};

static char *srv_completion(const struct srv *s)
{
	json_t *msg, *r;
	char *out;

	if (s->mode == SRV_REFUSAL)
		msg = json_pack("{s:s, s:n, s:s}", "role", "assistant", "content", "refusal", s->text);
	else
		msg = json_pack("{s:s, s:s, s:n}", "role", "assistant", "content", s->text, "refusal");
	r = json_pack("{s:s, s:s, s:s, s:[{s:i, s:o, s:s}]}", "id", "chatcmpl-test", "object",
		      "chat.completion", "model", "test", "choices", "index", 0, "message", msg,
		      "finish_reason", s->mode == SRV_CUT ? "length" : "stop");
	out = json_dumps(r, JSON_COMPACT);
	json_decref(r);
	return out;
}

static void srv_record(struct srv *s, struct MHD_Connection *c, const char *url,
		       const char *method, struct srv_req *rq)
{
	const char *v;

	pthread_mutex_lock(&s->mu);
	s->nreq++;
	snprintf(s->path, sizeof(s->path), "%s", url);
	snprintf(s->method, sizeof(s->method), "%s", method);
	v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	snprintf(s->auth, sizeof(s->auth), "%s", v ? v : "");
	v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	snprintf(s->ctype, sizeof(s->ctype), "%s", v ? v : "");
	free(s->body);
	s->body = rq->buf ? strndup(rq->buf, rq->n) : strdup("");
	pthread_mutex_unlock(&s->mu);
}

static void srv_wait(struct srv *s)
{
	struct timespec t = { 0, 20 * 1000 * 1000 };
	double left;

	for (left = s->delay_s; left > 0 && !s->stop; left -= 0.02)
		nanosleep(&t, NULL);
}

static SRV_RESULT srv_answer(struct srv *s, struct MHD_Connection *c)
{
	unsigned int code = s->mode == SRV_RAW ? s->status : MHD_HTTP_OK;
	struct MHD_Response *r;
	SRV_RESULT ret;
	size_t n;
	char *b;

	if (s->mode == SRV_SLOW)
		srv_wait(s);
	if (s->mode == SRV_BIG) {
		n = 2 << 20;
		b = malloc(n);
		memset(b, ' ', n);
	} else {
		b = s->mode == SRV_RAW ? strdup(s->text) : srv_completion(s);
		n = strlen(b);
	}
	r = MHD_create_response_from_buffer(n, b, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", "application/json");
	if (s->location)
		MHD_add_response_header(r, "Location", s->location);
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static SRV_RESULT srv_handle(void *cls, struct MHD_Connection *c, const char *url,
			     const char *method, const char *version, const char *data,
			     size_t *size, void **con_cls)
{
	struct srv *s = cls;
	struct srv_req *rq = *con_cls;

	if (!rq) {
		*con_cls = calloc(1, sizeof(*rq));
		return *con_cls ? MHD_YES : MHD_NO;
	}
	if (*size) {
		rq->buf = realloc(rq->buf, rq->n + *size);
		memcpy(rq->buf + rq->n, data, *size);
		rq->n += *size;
		*size = 0;
		return MHD_YES;
	}
	srv_record(s, c, url, method, rq);
	return srv_answer(s, c);
}

static void srv_done(void *cls, struct MHD_Connection *c, void **con_cls,
		     enum MHD_RequestTerminationCode toe)
{
	struct srv_req *rq = *con_cls;

	if (rq)
		free(rq->buf);
	free(rq);
	*con_cls = NULL;
}

static inline void srv_start(struct srv *s, enum srv_mode mode, const char *text)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	const union MHD_DaemonInfo *di;

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->mu, NULL);
	s->mode = mode;
	s->text = text;
	s->status = 200;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
				0, NULL, NULL, srv_handle, s,
				MHD_OPTION_SOCK_ADDR, &a,
				MHD_OPTION_NOTIFY_COMPLETED, srv_done, NULL,
				MHD_OPTION_END);
	cr_assert_not_null(s->d, "the test server did not start");
	di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	cr_assert_not_null(di);
	s->port = di->port;
	snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%u/v1", s->port);
}

static inline void srv_stop(struct srv *s)
{
	s->stop = 1;
	if (s->d)
		MHD_stop_daemon(s->d);
	s->d = NULL;
	free(s->body);
	s->body = NULL;
}

#endif
