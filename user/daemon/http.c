// SPDX-License-Identifier: GPL-2.0
/*
 * The HTTP listener over libmicrohttpd: GET /metrics, GET /stats, and the
 * token-guarded POST /train and POST /save_model. One internal polling
 * thread calls every handler, so the rate bucket needs no lock; policies are
 * read and changed under d->pol_lock (commands.c), figures under fig.lock,
 * never both at once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <microhttpd.h>
#include "daemon/commands.h"
#include "daemon/daemon_int.h"
#include "daemon/http.h"
#include "daemon/http_req.h"
#include "daemon/policy.h"
#include "lib/clock.h"
#include "lib/log.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT;
#else
typedef enum MHD_Result MHD_RESULT;
#endif

struct kp_http {
	struct MHD_Daemon *mhd;
	struct kp_dm *d;
	unsigned int port;
	double tokens, last;		/* the rate bucket: KP_HTTP_RATE a second */
};

/* Per request: its target as the client sent it, what its body carried so far. */
struct req {
	char target[KP_HTTP_MAX_TARGET + 2];
	struct kp_http_req r;
	size_t body;
	bool started, refused;
};

static MHD_RESULT reply(struct MHD_Connection *c, unsigned int code, const char *type,
			char *body, size_t n, bool owned, const char *allow)
{
	struct MHD_Response *r;
	MHD_RESULT ret;

	r = MHD_create_response_from_buffer(n, body, owned ? MHD_RESPMEM_MUST_FREE :
					    MHD_RESPMEM_MUST_COPY);
	if (!r) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	if (allow)
		MHD_add_response_header(r, "Allow", allow);
	if (code == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"kpilot\"");
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static MHD_RESULT text(struct MHD_Connection *c, unsigned int code, const char *msg)
{
	char buf[800];

	snprintf(buf, sizeof(buf), "%s\n", msg);
	return reply(c, code, "text/plain; charset=utf-8", buf, strlen(buf), false, NULL);
}

static MHD_RESULT json_reply(struct MHD_Connection *c, unsigned int code, json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	if (!s)
		return text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	return reply(c, code, "application/json", s, strlen(s), true, NULL);
}

/* Until the first config is in (start), nothing but figures exist. */
static bool ready(struct kp_dm *d)
{
	bool ok;

	pthread_mutex_lock(&d->pol_lock);
	ok = d->cfg != NULL;
	pthread_mutex_unlock(&d->pol_lock);
	return ok;
}

static MHD_RESULT metrics(struct MHD_Connection *c, struct kp_dm *d)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	if (!f)
		return text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	pthread_mutex_lock(&d->fig.lock);
	kp_dm_prom_write(f, &d->fig);
	pthread_mutex_unlock(&d->fig.lock);
	pthread_mutex_lock(&d->pol_lock);
	if (d->cfg)
		kp_dm_prom_policies(f, d->cfg->pol, d->cfg->npol);
	pthread_mutex_unlock(&d->pol_lock);
	if (fclose(f)) {
		free(buf);
		return text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	}
	return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", buf, n, true, NULL);
}

/* The figures, and per policy what the DQN service showed: steps, updates, buffer, reward. */
static MHD_RESULT stats(struct MHD_Connection *c, struct kp_dm *d)
{
	json_t *o, *pols = json_array();

	pthread_mutex_lock(&d->fig.lock);
	o = kp_dm_fig_json(&d->fig);
	pthread_mutex_unlock(&d->fig.lock);
	pthread_mutex_lock(&d->pol_lock);
	for (int i = 0; d->cfg && i < d->cfg->npol; i++) {
		static const char *const seed[] = { "epsilon", "steps_done", "buffer_size",
						    "avg_recent_reward", "model_path", NULL };
		json_t *p = kp_pol_json(&d->cfg->pol[i]), *st = json_object_get(p, "state");

		/* the seed's names, where the kind has them (buffer_size: every kind's) */
		for (int k = 0; seed[k]; k++) {
			json_t *v = json_object_get(st, seed[k]);

			if (v || !strcmp(seed[k], "buffer_size"))
				json_object_set(p, seed[k], v ? v : json_null());
		}
		json_array_append_new(pols, p);
	}
	pthread_mutex_unlock(&d->pol_lock);
	json_object_set_new(o, "policies", pols);
	return json_reply(c, MHD_HTTP_OK, o);
}

/* A token bucket over every request: a burst of KP_HTTP_RATE, refilled at KP_HTTP_RATE/s. */
static bool rate_ok(struct kp_http *h)
{
	double now = kp_mono_s();

	h->tokens += (now - h->last) * KP_HTTP_RATE;
	h->last = now;
	if (h->tokens > KP_HTTP_RATE)
		h->tokens = KP_HTTP_RATE;
	if (h->tokens < 1)
		return false;
	h->tokens -= 1;
	return true;
}

/* The token_file's token: a regular root-owned file no one else may read. 0 or -errno. */
static int read_token(const char *path, char *tok, size_t len, char *why, size_t wlen)
{
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), err = 0;

	if (fd < 0) {
		snprintf(why, wlen, "token_file %.400s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 077)) {
		snprintf(why, wlen, "token_file %.400s: must be a regular file owned by root, mode "
			 "0600 or 0400 (it is %04o, uid %u)", path, (unsigned)(st.st_mode & 07777),
			 (unsigned)st.st_uid);
		err = -EPERM;
	} else if ((n = read(fd, tok, len - 1)) <= 0) {
		snprintf(why, wlen, "token_file %.400s: empty", path);
		err = -ENODATA;
	} else {
		tok[n] = '\0';
		tok[strcspn(tok, "\r\n")] = '\0';
		if (!tok[0]) {
			snprintf(why, wlen, "token_file %.400s: empty", path);
			err = -ENODATA;
		}
	}
	close(fd);
	return err;
}

/* A mutating request's credentials: 0 to go on, else the refusal's status. */
static unsigned int auth(struct MHD_Connection *c, struct kp_dm *d, char *why, size_t len)
{
	char path[sizeof(d->cfg->token_file)], tok[KP_HTTP_MAX_TOKEN + 2];
	const char *hdr = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						      MHD_HTTP_HEADER_AUTHORIZATION);
	bool ok;

	pthread_mutex_lock(&d->pol_lock);
	snprintf(path, sizeof(path), "%s", d->cfg->token_file);
	pthread_mutex_unlock(&d->pol_lock);
	if (!path[0]) {
		snprintf(why, len, "refused: no token_file in the config, so HTTP changes nothing; "
			 "use the control socket (kpilot ctl) or configure token_file");
		return MHD_HTTP_FORBIDDEN;
	}
	if (read_token(path, tok, sizeof(tok), why, len)) {
		kp_warn("http: %s", why);
		return MHD_HTTP_FORBIDDEN;
	}
	ok = kp_http_token_ok(hdr, tok);
	memset(tok, 0, sizeof(tok));
	if (!ok) {
		snprintf(why, len, "refused: %s", hdr ? "wrong token" :
			 "no \"Authorization: Bearer TOKEN\" header");
		return MHD_HTTP_UNAUTHORIZED;
	}
	return 0;
}

/* The first call, before any body is read: the only time a refusal can be queued. */
static MHD_RESULT first(struct MHD_Connection *c, struct kp_http *h, struct req *q,
			const char *method)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	char why[640];
	unsigned int code;

	q->refused = true;
	if (!rate_ok(h))
		return text(c, 429 /* too many requests */, "too many requests: at most "
			    KP_HTTP_RATE_STR " a second");
	if (cl && strtoull(cl, NULL, 10) > KP_HTTP_MAX_BODY)
		return text(c, 413 /* content too large */, "request too large");
	code = (unsigned int)kp_http_parse(method, q->target, &q->r, why, sizeof(why));
	if (code == 405)
		return reply(c, code, "text/plain; charset=utf-8", why, strlen(why), false,
			     q->r.allow);
	if (code != 200)
		return text(c, code, why);
	if (!ready(h->d))
		return text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "starting");
	code = q->r.mutating ? auth(c, h->d, why, sizeof(why)) : 0;
	if (code)
		return text(c, code, why);
	q->refused = false;
	return MHD_YES;
}

static MHD_RESULT mutate(struct MHD_Connection *c, struct kp_dm *d, const struct kp_http_req *r)
{
	json_t *req = json_pack("{s:s}", "cmd", r->route == KP_HTTP_TRAIN ? "train" : "save"), *ans;
	int code;

	if (r->policy[0])
		json_object_set_new(req, "policy", json_string(r->policy));
	else if (r->route == KP_HTTP_TRAIN)
		json_object_set_new(req, "policy", json_null());
	if (r->batch)
		json_object_set_new(req, "batch_size", json_integer(r->batch));
	if (r->iterations)
		json_object_set_new(req, "iterations", json_integer(r->iterations));
	ans = kp_dm_command(d, req, true, &code);
	json_decref(req);
	kp_info("http: POST %s%s%s: %s", r->route == KP_HTTP_TRAIN ? "/train" : "/save_model",
		r->policy[0] ? " policy " : "", r->policy,
		json_string_value(json_object_get(ans, code == 200 ? "message" : "error")));
	return json_reply(c, (unsigned int)code, ans);
}

static MHD_RESULT handle(void *cls, struct MHD_Connection *c, const char *url,
			 const char *method, const char *version, const char *upload,
			 size_t *upload_size, void **con_cls)
{
	struct kp_http *h = cls;
	struct req *q = *con_cls;

	if (!q)
		return MHD_NO;
	if (!q->started) {
		q->started = true;
		return first(c, h, q, method);
	}
	if (q->refused)
		return MHD_YES;
	if (*upload_size) {
		/* A chunked body that outgrows the bound: no reply can be queued now; cut it. */
		q->body += *upload_size;
		*upload_size = 0;
		return q->body > KP_HTTP_MAX_BODY ? MHD_NO : MHD_YES;
	}
	if (q->r.route == KP_HTTP_METRICS)
		return metrics(c, h->d);
	if (q->r.route == KP_HTTP_STATS)
		return stats(c, h->d);
	return mutate(c, h->d, &q->r);
}

/* The raw target, path and query as sent (the parser is ours: kp_http_parse). */
static void *uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct req *q = calloc(1, sizeof(*q));

	if (q)
		snprintf(q->target, sizeof(q->target), "%s", uri);
	return q;
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

static int addr(const char *host, unsigned int port, struct sockaddr_storage *ss,
		unsigned int *flags, char *why, size_t len)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*flags |= MHD_USE_IPv6;
		return 0;
	}
	snprintf(why, len, "http: '%s' is not a numeric address", host);
	return -EINVAL;
}

int kp_http_start(struct kp_http **out, const char *host, unsigned int port, struct kp_dm *d,
		  char *why, size_t len)
{
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *di;
	struct sockaddr_storage ss;
	struct kp_http *h;

	if (addr(host, port, &ss, &flags, why, len))
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->d = d;
	h->tokens = KP_HTTP_RATE;
	h->last = kp_mono_s();
	h->mhd = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, h,
				  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				  MHD_OPTION_SOCK_ADDR, &ss,
				  MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL,
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
