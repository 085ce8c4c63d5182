/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The control socket: a UNIX stream socket, mode 0600, root peers only
 * (SO_PEERCRED), one JSON request line and one JSON answer line per
 * connection. Requests are bounded (KP_CTL_MAX_REQ).
 */
#ifndef KPILOT_DAEMON_CTL_H
#define KPILOT_DAEMON_CTL_H

#include <stddef.h>
#include <jansson.h>

#define KP_CTL_MAX_REQ	4096	/* bytes, the newline included */
#define KP_CTL_MAX_RESP	(1 << 20)

/*
 * Bind and listen at path (its directory made 0755 if missing). A socket
 * file nobody answers on is stale and replaced; a live one is refused
 * (-EADDRINUSE: another daemon). 0 or -errno with a reason.
 */
int kp_ctl_listen(const char *path, int *fd, char *why, size_t len);
void kp_ctl_close(int fd, const char *path);

/*
 * Take one pending connection, if any, and answer it: handle() gets the
 * parsed request object and returns the answer (a new reference). Refusals
 * (not root, too large, not JSON) are answered here and never reach
 * handle(). Returns 1 if a connection was served, 0 if none was pending.
 */
int kp_ctl_serve_one(int lfd, json_t *(*handle)(json_t *req, void *arg), void *arg);

/* Client: send req (one JSON object), read the answer (*resp: the caller's). */
int kp_ctl_request(const char *path, json_t *req, json_t **resp, char *why, size_t len);

#endif
