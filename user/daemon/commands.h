/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The daemon's commands (`kpilot ctl`, POST /train, POST /save_model): one
 * JSON request object in, one answer object out ({"ok": true, "message": ...}
 * or {"ok": false, "error": ...}). Documentation/daemon.md lists them.
 */
#ifndef KPILOT_DAEMON_COMMANDS_H
#define KPILOT_DAEMON_COMMANDS_H

#include <stdbool.h>
#include <jansson.h>

struct kp_dm;

/* train's defaults and bounds (a request past them is refused, not clamped) */
#define KP_TRAIN_BATCH		32
#define KP_TRAIN_ITER		10
#define KP_TRAIN_BATCH_MAX	4096
#define KP_TRAIN_ITER_MAX	1000

/*
 * Answer req: {"cmd": C, "policy": P, ...}. from_http: the HTTP thread's
 * (status and reload are the socket's only). *code: the HTTP status that
 * fits (200; 400 bad request; 404 no such policy; 409 refused; 500 failed).
 */
json_t *kp_dm_command(struct kp_dm *d, json_t *req, bool from_http, int *code);

/* kp_ctl_serve_one()'s handler: arg is the struct kp_dm. */
json_t *kp_dm_handle(json_t *req, void *arg);

/* status's object (the socket's `status`; also holds pol_lock and the figures' lock). */
json_t *kp_dm_status(struct kp_dm *d);

#endif
