/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The daemon's config (/etc/kpilot/kpilot.json): where it listens, which
 * operators it watches, how many processes /metrics shows. Every error names
 * its JSON path. Documentation/daemon.md has the schema.
 */
#ifndef KPILOT_DAEMON_CONFIG_H
#define KPILOT_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/un.h>
#include "observe/opspec.h"

struct kp_policy;

#define KP_DM_SOCKET		"/run/kpilot/kpilot.sock"
#define KP_DM_STATE_DIR		"/var/lib/kpilot"
#define KP_DM_TOP_DEFAULT	10
#define KP_DM_TOP_MAX		1000
#define KP_DM_CONFIG_MAX	(1 << 20)

struct kp_dm_config {
	bool http;			/* an "http" object was given */
	char http_host[64];		/* numeric IPv4 or IPv6 address */
	unsigned int http_port;		/* 0: the kernel picks one (status says which) */
	bool allow_remote;		/* a non-loopback listen address is accepted */
	char socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char state_dir[4096];
	unsigned int interval_ms;
	unsigned int top_processes;
	struct kp_opspec ops[KP_MAX_OPERATORS];
	int nops;
	struct kp_policy *pol;		/* policy.h; NULL/0: observe-only */
	int npol;
	char *pol_json;			/* the "policies" text, canonical: a reload compares it */
	bool keep_on_exit;		/* leave managed knobs as they are at stop */
	bool bpf_stats;			/* the kernel's BPF run statistics on while running (host-wide) */
	char token_file[4096];		/* HTTP mutating requests: a root-only file's text ("" none) */
};

/* Free a parsed config (its policies too). */
void kp_dm_config_free(struct kp_dm_config *c);

/* Defaults: no HTTP, the default socket and state dir, 1000 ms, top 10. */
void kp_dm_config_defaults(struct kp_dm_config *c);

/* Parse config text; origin names it in messages. 0 or -EINVAL with "origin: $.path: what". */
int kp_dm_config_parse(const char *text, const char *origin, struct kp_dm_config *c,
		       char *why, size_t len);

/* Read a root-owned, not group/world-writable file and parse it. */
int kp_dm_config_load(const char *path, struct kp_dm_config *c, char *why, size_t len);

/* Same operators, interval and process count: the observer may stay. */
bool kp_dm_config_same_observer(const struct kp_dm_config *a, const struct kp_dm_config *b);

#endif
