// SPDX-License-Identifier: GPL-2.0
/* Routes, query parameters and the bearer token of the daemon's HTTP requests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/commands.h"
#include "daemon/http_req.h"
#include "lib/text.h"

static const struct {
	const char *path, *method;
	enum kp_http_route route;
	const char *params;		/* the keys it takes, space-separated */
} routes[] = {
	{ "/metrics", "GET", KP_HTTP_METRICS, "" },
	{ "/stats", "GET", KP_HTTP_STATS, "" },
	{ "/train", "POST", KP_HTTP_TRAIN, "policy batch_size iterations" },
	{ "/save_model", "POST", KP_HTTP_SAVE, "policy" },
};

static int hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode in[0..n) into out (size len); -1 if malformed, too long or holding a NUL. */
static int decode(const char *in, size_t n, char *out, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		int c = (unsigned char)in[i];

		if (c == '%') {
			if (i + 2 >= n || hex(in[i + 1]) < 0 || hex(in[i + 2]) < 0)
				return -1;
			c = hex(in[i + 1]) * 16 + hex(in[i + 2]);
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (!c || o + 1 >= len)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return 0;
}

static bool takes(const char *params, const char *key)
{
	size_t n = strlen(key);
	const char *p;

	for (p = strstr(params, key); n && p; p = strstr(p + 1, key))
		if ((p == params || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
			return true;
	return false;
}

static int count(const char *key, const char *v, int max, int *out, char *why, size_t len)
{
	char *end;
	long n = strtol(v, &end, 10);

	if (!*v || *end || n < 1 || n > max) {
		snprintf(why, len, "%s: '%.32s' is not a count in 1-%d", key, v, max);
		return 400;
	}
	*out = (int)n;
	return 200;
}

static int param(struct kp_http_req *r, const char *key, const char *v, char *why, size_t len)
{
	if (!strcmp(key, "policy")) {
		if (r->policy[0]) {
			snprintf(why, len, "policy given twice");
			return 400;
		}
		if (!kp_name_ok(v, strlen(v), KP_POL_NAME_LEN)) {
			snprintf(why, len, "policy: '%.64s' is not a policy name", v);
			return 400;
		}
		snprintf(r->policy, sizeof(r->policy), "%s", v);
		return 200;
	}
	if ((!strcmp(key, "batch_size") && r->batch) || (!strcmp(key, "iterations") && r->iterations)) {
		snprintf(why, len, "%s given twice", key);
		return 400;
	}
	if (!strcmp(key, "batch_size"))
		return count(key, v, KP_TRAIN_BATCH_MAX, &r->batch, why, len);
	return count(key, v, KP_TRAIN_ITER_MAX, &r->iterations, why, len);
}

/* key=value&... of the route's keys only. */
static int query(struct kp_http_req *r, const char *params, const char *q, char *why, size_t len)
{
	char key[32], val[KP_HTTP_MAX_TARGET];

	while (q && *q) {
		const char *amp = strchr(q, '&'), *end = amp ? amp : q + strlen(q);
		const char *eq = memchr(q, '=', (size_t)(end - q));
		int ret;

		if (end == q) {
			q = amp ? amp + 1 : NULL;
			continue;
		}
		if (!eq || decode(q, (size_t)(eq - q), key, sizeof(key)) ||
		    decode(eq + 1, (size_t)(end - eq - 1), val, sizeof(val))) {
			snprintf(why, len, "the query is not key=value&... (percent-encoded)");
			return 400;
		}
		if (!takes(params, key)) {
			snprintf(why, len, "unknown parameter '%.31s'%s%s", key,
				 *params ? ": this path takes " : ": this path takes none",
				 params);
			return 400;
		}
		ret = param(r, key, val, why, len);
		if (ret != 200)
			return ret;
		q = amp ? amp + 1 : NULL;
	}
	return 200;
}

int kp_http_parse(const char *method, const char *target, struct kp_http_req *r,
		  char *why, size_t len)
{
	const char *q = strchr(target, '?');
	size_t n = q ? (size_t)(q - target) : strlen(target);

	memset(r, 0, sizeof(*r));
	if (strlen(target) > KP_HTTP_MAX_TARGET) {
		snprintf(why, len, "request target longer than %d bytes", KP_HTTP_MAX_TARGET);
		return 414;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		bool get = !strcmp(routes[i].method, "GET");

		if (strlen(routes[i].path) != n || strncmp(routes[i].path, target, n))
			continue;
		r->route = routes[i].route;
		r->allow = get ? "GET, HEAD" : "POST";
		if (strcmp(method, routes[i].method) && !(get && !strcmp(method, "HEAD"))) {
			snprintf(why, len, "%s takes %s only", routes[i].path, r->allow);
			return 405;
		}
		r->mutating = !get;
		return query(r, routes[i].params, q ? q + 1 : NULL, why, len);
	}
	snprintf(why, len, "not found: kpilot serves GET /metrics, GET /stats, POST /train and "
		 "POST /save_model");
	return 404;
}

bool kp_http_token_ok(const char *authorization, const char *token)
{
	const char *got;
	size_t n, m;
	unsigned char diff = 0;

	if (!authorization || !token || !*token || strncmp(authorization, "Bearer ", 7))
		return false;
	got = authorization + 7;
	n = strlen(got);
	m = strlen(token);
	/* every byte of the longer one read: the time says nothing of where they differ */
	for (size_t i = 0; i < (n > m ? n : m); i++)
		diff |= (unsigned char)((i < n ? got[i] : 0) ^ (i < m ? token[i] : 0));
	return !diff && n == m;
}
