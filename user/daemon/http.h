/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The HTTP listener (libmicrohttpd, its own thread): GET /metrics
 * (Prometheus text), GET /stats (JSON), POST /train and POST /save_model
 * (a bearer token from the config's token_file). Other paths 404, other
 * methods 405; headers, bodies and the request rate are bounded.
 */
#ifndef KPILOT_DAEMON_HTTP_H
#define KPILOT_DAEMON_HTTP_H

#include <stddef.h>
#include "daemon/figures.h"

#define KP_HTTP_MAX_BODY	4096	/* bytes a request may carry: larger is 413 */
#define KP_HTTP_MEM_LIMIT	(32 * 1024)	/* per connection: bounds the headers */
#define KP_HTTP_RATE		20	/* requests a second (a burst of as many): more is 429 */
#define KP_HTTP_RATE_STR	"20"

struct kp_http;
struct kp_dm;

/* Listen on host:port (numeric; port 0: any). 0 or -errno with a reason. */
int kp_http_start(struct kp_http **out, const char *host, unsigned int port, struct kp_dm *d,
		  char *why, size_t len);
/* The port bound (the kernel's pick for port 0). */
unsigned int kp_http_port(const struct kp_http *h);
void kp_http_stop(struct kp_http *h);

#endif
