/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The HTTP listener's request parsing, pure (no I/O, no state), so it can be
 * fuzzed (selftests/fuzz/fuzz_http_req.c): the method and the request target
 * to a route and its parameters, and the bearer token check.
 */
#ifndef KPILOT_DAEMON_HTTP_REQ_H
#define KPILOT_DAEMON_HTTP_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include "daemon/policy.h"

#define KP_HTTP_MAX_TARGET	1024	/* bytes of path and query: longer is 414 */
#define KP_HTTP_MAX_TOKEN	256	/* bytes of a bearer token */

enum kp_http_route { KP_HTTP_METRICS, KP_HTTP_STATS, KP_HTTP_TRAIN, KP_HTTP_SAVE };

struct kp_http_req {
	enum kp_http_route route;
	bool mutating;			/* POST: needs the token */
	char policy[KP_POL_NAME_LEN];	/* "" none given */
	int batch, iterations;		/* 0: the daemon's default */
	const char *allow;		/* the route's method, for a 405's Allow header */
};

/*
 * method and target ("/train?policy=web&iterations=5") to *r. Returns the
 * HTTP status: 200 parsed, else 400 (bad or unknown parameter), 404 (no such
 * path), 405 (wrong method: r->allow says which), 414 (target too long),
 * with the reason in why.
 */
int kp_http_parse(const char *method, const char *target, struct kp_http_req *r,
		  char *why, size_t len);

/*
 * The Authorization header's value ("Bearer TOKEN") carries token: compared
 * in time independent of where they differ. A NULL or empty token never matches.
 */
bool kp_http_token_ok(const char *authorization, const char *token);

#endif
