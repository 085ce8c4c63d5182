/* SPDX-License-Identifier: GPL-2.0 */
/*
 * `kpilot run`: the daemon's loop, observe-only for now. The observer streams
 * windows, the figures keep the latest, the control socket and the HTTP
 * listener serve them. SIGHUP reloads the config (a bad one is refused and
 * the running one kept); SIGTERM/SIGINT stop it. Nothing is managed yet, so
 * there is nothing to restore at exit.
 */
#ifndef KPILOT_DAEMON_H
#define KPILOT_DAEMON_H

#include <stddef.h>

/*
 * Run until SIGTERM or SIGINT. socket: overrides the config's (NULL: the
 * config's). Returns 0 when stopped by a signal, -errno with a reason when
 * it could not start (config, observer, socket, listener).
 */
int kp_daemon_run(const char *config, const char *socket, char *why, size_t len);

#endif
