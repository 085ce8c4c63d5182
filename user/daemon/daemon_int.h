/* SPDX-License-Identifier: GPL-2.0 */
/* The daemon's private state, shared by daemon.c (the loop) and start.c (start, reload, stop). */
#ifndef KPILOT_DAEMON_INT_H
#define KPILOT_DAEMON_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/un.h>
#include "daemon/config.h"
#include "daemon/figures.h"

struct kp_observer;
struct kp_http;
struct kp_session;
struct kp_policy;

/* What a config opens; a reload builds a new set and swaps it in whole. */
struct kp_dm_parts {
	struct kp_observer *obs;
	struct kp_http *http;
	int ctl_fd;
	char socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

struct kp_dm {
	const char *config;
	const char *socket_override;	/* --socket: wins over the config's */
	struct kp_dm_config *cfg;
	struct kp_observer *obs;
	struct kp_http *http;
	int ctl_fd;
	char socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int sigfd;
	struct kp_dm_figures fig;
	int reloads, reloads_refused;
	char last_reload_error[512];
	__u64 warned_drops;
	/* policies (policy.h): cfg owns the array; s is open while any policy runs */
	struct kp_session *s;
	pthread_mutex_t pol_lock;	/* the policies' runtime fields: loop vs. HTTP thread */
};

int kp_dm_start(struct kp_dm *d, char *why, size_t len);

/* policies_run.c: the session and the policies of d->cfg (caller holds nothing). */
int kp_dm_pol_start(struct kp_dm *d, char *why, size_t len);
void kp_dm_pol_window(struct kp_dm *d);		/* takes pol_lock */
int kp_dm_pol_save(struct kp_policy *p);	/* caller holds pol_lock */
int kp_dm_pol_resume(struct kp_dm *d, struct kp_policy *p);	/* caller holds pol_lock */
int kp_dm_pol_restore(struct kp_dm *d, const char *why_text);
void kp_dm_pol_stop(struct kp_dm *d, const char *why_text);
/* SIGHUP: the new config whole, or (logged) the old one kept. */
void kp_dm_reload(struct kp_dm *d);
void kp_dm_stop(struct kp_dm *d);
/* Type=notify: READY=1 on $NOTIFY_SOCKET, when set. */
void kp_dm_notify_ready(void);

#endif
