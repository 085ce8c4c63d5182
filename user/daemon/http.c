// SPDX-License-Identifier: GPL-2.0
/* GET /metrics and GET /stats over libmicrohttpd. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>
#include "daemon/http.h"
#include "lib/log.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT;
#else
typedef enum MHD_Result MHD_RESULT;
#endif

struct kp_http {
	struct MHD_Daemon *mhd;
	struct kp_dm_figures *fig;
	unsigned int port;
};

/* Per request: what its body has carried so far. */
struct req {
	size_t body;
};

static MHD_RESULT reply(struct MHD_Connection *c, unsigned int code, const char *type,
			char *body, size_t n, bool owned)
{
	struct MHD_Response *r;
	MHD_RESULT ret;

	r = MHD_create_response_from_buffer(n, body, owned ? MHD_RESPMEM_MUST_FREE :
					    MHD_RESPMEM_PERSISTENT);
	if (!r) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, "Allow", "GET");
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static MHD_RESULT text(struct MHD_Connection *c, unsigned int code, const char *msg)
{
	return reply(c, code, "text/plain; charset=utf-8", (char *)msg, strlen(msg), false);
}

static MHD_RESULT metrics(struct MHD_Connection *c, struct kp_dm_figures *fig)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	if (!f)
		return text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	pthread_mutex_lock(&fig->lock);
	kp_dm_prom_write(f, fig);
	pthread_mutex_unlock(&fig->lock);
	if (fclose(f)) {
		free(buf);
		return text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	}
	return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", buf, n, true);
}

static MHD_RESULT stats(struct MHD_Connection *c, struct kp_dm_figures *fig)
{
	json_t *o;
	char *s;

	pthread_mutex_lock(&fig->lock);
	o = kp_dm_fig_json(fig);
	pthread_mutex_unlock(&fig->lock);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		return text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	return reply(c, MHD_HTTP_OK, "application/json", s, strlen(s), true);
}

/* The first call, before any body is read: the only time a refusal can be queued. */
static MHD_RESULT first(struct MHD_Connection *c, const char *method, void **con_cls)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	struct req *r = calloc(1, sizeof(*r));

	if (!r)
		return MHD_NO;
	*con_cls = r;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");
	if (cl && strtoull(cl, NULL, 10) > KP_HTTP_MAX_BODY)
		return text(c, 413 /* content too large */, "request too large\n");
	return MHD_YES;
}

static MHD_RESULT handle(void *cls, struct MHD_Connection *c, const char *url,
			 const char *method, const char *version, const char *upload,
			 size_t *upload_size, void **con_cls)
{
	struct kp_http *h = cls;
	struct req *r = *con_cls;

	if (!r)
		return first(c, method, con_cls);
	if (*upload_size) {
		/* A chunked body that outgrows the bound: no reply can be queued now; cut it. */
		r->body += *upload_size;
		*upload_size = 0;
		return r->body > KP_HTTP_MAX_BODY ? MHD_NO : MHD_YES;
	}
	if (!strcmp(url, "/metrics"))
		return metrics(c, h->fig);
	if (!strcmp(url, "/stats"))
		return stats(c, h->fig);
	return text(c, MHD_HTTP_NOT_FOUND, "not found: kpilot serves /metrics and /stats\n");
}

static void done(void *cls, struct MHD_Connection *c, void **con_cls,
		 enum MHD_RequestTerminationCode toe)
{
	free(*con_cls);
	*con_cls = NULL;
}

/* libmicrohttpd's messages: debug lines (a refused connection is logged by the caller). */
__attribute__((format(printf, 2, 0)))
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	kp_debug("http: %s", msg);
}

int kp_http_start(struct kp_http **out, const char *host, unsigned int port,
		  struct kp_dm_figures *fig, char *why, size_t len)
{
	struct sockaddr_storage ss = {};
	struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *di;
	struct kp_http *h;

	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		flags |= MHD_USE_IPv6;
	} else {
		snprintf(why, len, "http: '%s' is not a numeric address", host);
		return -EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->fig = fig;
	h->mhd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, h,
				  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				  MHD_OPTION_SOCK_ADDR, &ss,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)KP_HTTP_MEM_LIMIT,
				  MHD_OPTION_CONNECTION_LIMIT, 64u,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT, 16u,
				  MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				  MHD_OPTION_NOTIFY_COMPLETED, done, NULL,
				  MHD_OPTION_END);
	if (!h->mhd) {
		snprintf(why, len, "http: cannot listen on %s:%u (in use, or not an address "
			 "of this host)", host, port);
		free(h);
		return -EADDRINUSE;
	}
	di = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
	h->port = di ? di->port : port;
	*out = h;
	return 0;
}

unsigned int kp_http_port(const struct kp_http *h)
{
	return h ? h->port : 0;
}

void kp_http_stop(struct kp_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->mhd);
	free(h);
}
