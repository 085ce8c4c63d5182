/* SPDX-License-Identifier: GPL-2.0 */
/*
 * An external optimizer (kpilot tune --algo external --optimizer CMD...): a
 * child process spoken to in JSON lines on its stdin/stdout, one message a
 * line (protocol: Documentation/tuning.md, "External optimizers"). Its
 * stderr is kpilot's. Errors name the optimizer's line number.
 */
#ifndef KPILOT_EXTERNAL_H
#define KPILOT_EXTERNAL_H

#include <stddef.h>
#include <jansson.h>

struct kp_external;

/* Start argv[0] (PATH searched) with argv; replies must come within timeout_s. */
int kp_external_start(struct kp_external **out, char *const *argv, double timeout_s,
		      char *why, size_t len);
/* Send one message (a JSON object), as one line. -EPIPE: the optimizer is gone. */
int kp_external_send(struct kp_external *x, json_t *msg, char *why, size_t len);
/*
 * The next message, which must be an object of the given "type": *msg is a
 * new reference. -ETIMEDOUT, -EPIPE (exited: its status is in why), -EPROTO
 * (malformed: why quotes the line and its number).
 */
int kp_external_recv(struct kp_external *x, const char *type, json_t **msg, char *why, size_t len);
/* Send {"type":"done"} (unless gone), wait for it to exit (2 s), then kill its group. */
void kp_external_stop(struct kp_external *x);

#endif
