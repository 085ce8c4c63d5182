// SPDX-License-Identifier: GPL-2.0
/* The daemon's start, reload and stop: the observer, the control socket, the listener. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "daemon/ctl.h"
#include "daemon/daemon_int.h"
#include "daemon/http.h"
#include "daemon/policy.h"
#include "lib/log.h"
#include "observe/observer.h"

static int open_observer(const struct kp_dm_config *c, struct kp_observer **out,
			 char *why, size_t len)
{
	/* self_stats: bpf_stats for /metrics' per-program run time (a few ns per run) */
	struct kp_observer_opts o = { .interval_ms = c->interval_ms, .filter = c->nops > 0,
				      .self_stats = c->bpf_stats };
	struct kp_observer *obs;
	int i, ret;

	ret = kp_observer_open(&obs, &o, why, len);
	if (ret)
		return ret;
	for (i = 0; i < c->nops; i++) {
		ret = kp_observer_add_operator(obs, &c->ops[i], why, len);
		if (ret < 0) {
			kp_observer_close(obs);
			return ret;
		}
	}
	*out = obs;
	return 0;
}

/* The listener first: its thread may be answering from the figures. */
static void close_parts(struct kp_dm_parts *p, const struct kp_dm *keep)
{
	if (p->http && (!keep || p->http != keep->http))
		kp_http_stop(p->http);
	if (p->obs && (!keep || p->obs != keep->obs))
		kp_observer_close(p->obs);
	if (p->ctl_fd >= 0 && (!keep || p->ctl_fd != keep->ctl_fd))
		kp_ctl_close(p->ctl_fd, p->socket);
}

/* Open what c needs; what d already runs the same way is reused (d NULL at start). */
static int open_parts(struct kp_dm *d, const struct kp_dm_config *c,
		      struct kp_dm_parts *p, char *why, size_t len)
{
	const char *sock = d->socket_override ? d->socket_override : c->socket;
	bool running = d->cfg != NULL;
	int ret = 0;

	memset(p, 0, sizeof(*p));
	p->ctl_fd = -1;
	snprintf(p->socket, sizeof(p->socket), "%s", sock);
	if (running && kp_dm_config_same_observer(d->cfg, c))
		p->obs = d->obs;
	else
		ret = open_observer(c, &p->obs, why, len);
	if (!ret && running && !strcmp(d->socket, p->socket))
		p->ctl_fd = d->ctl_fd;
	else if (!ret)
		ret = kp_ctl_listen(p->socket, &p->ctl_fd, why, len);
	if (!ret && c->http && running && d->http && !strcmp(d->cfg->http_host, c->http_host) &&
	    d->cfg->http_port == c->http_port)
		p->http = d->http;
	else if (!ret && c->http)
		ret = kp_http_start(&p->http, c->http_host, c->http_port, d, why, len);
	if (ret)
		close_parts(p, running ? d : NULL);
	return ret;
}

/*
 * Swap in the new parts and config (caller holds pol_lock: the HTTP thread
 * reads d->cfg under it). *old gets what the caller closes after unlocking:
 * stopping an old listener waits for its thread, which may wait for the lock.
 */
static void commit(struct kp_dm *d, struct kp_dm_config *c, struct kp_dm_parts *p,
		   struct kp_dm_parts *old)
{
	char names[KP_MAX_OPERATORS][KP_OP_NAME_LEN];
	bool new_obs = p->obs != d->obs;
	int i;

	*old = (struct kp_dm_parts){ .obs = d->obs, .http = d->http, .ctl_fd = d->ctl_fd };
	snprintf(old->socket, sizeof(old->socket), "%s", d->socket);
	d->obs = p->obs;
	d->http = p->http;
	d->ctl_fd = p->ctl_fd;
	snprintf(d->socket, sizeof(d->socket), "%s", p->socket);
	kp_dm_config_free(d->cfg);
	free(d->cfg);
	d->cfg = c;
	for (i = 0; i < c->nops; i++)
		strcpy(names[i], c->ops[i].name);
	pthread_mutex_lock(&d->fig.lock);
	kp_dm_fig_set_ops(&d->fig, (const char (*)[KP_OP_NAME_LEN])names, c->nops);
	d->fig.window_ms = c->interval_ms;
	snprintf(d->fig.mode, sizeof(d->fig.mode), "%s", kp_observer_mode(d->obs));
	snprintf(d->fig.runq_method, sizeof(d->fig.runq_method), "%s",
		 kp_observer_runq_method(d->obs));
	if (new_obs) {
		kp_dm_fig_rebase(&d->fig);
		d->warned_drops = 0;
	}
	pthread_mutex_unlock(&d->fig.lock);
}

static void say_running(const struct kp_dm *d, const char *what)
{
	char http[96] = "no HTTP listener";

	if (d->http)
		snprintf(http, sizeof(http), "http on %s%s%s:%u", strchr(d->cfg->http_host, ':') ?
			 "[" : "", d->cfg->http_host, strchr(d->cfg->http_host, ':') ? "]" : "",
			 kp_http_port(d->http));
	char pols[256] = "observe-only (no policies)";

	for (int i = 0, n = 0; i < d->cfg->npol; i++)
		n += snprintf(pols + n, sizeof(pols) > (size_t)n ? sizeof(pols) - n : 0, "%s%s %s",
			      i ? ", " : "policies: ", d->cfg->pol[i].kind->name, d->cfg->pol[i].name);
	kp_info("%s %s: %s, %d operator%s, %s programs, %u ms windows, control socket %s, %s",
		what, d->config, pols, d->cfg->nops, d->cfg->nops == 1 ? "" : "s",
		kp_observer_mode(d->obs), d->cfg->interval_ms, d->socket, http);
}

static int load(const char *path, struct kp_dm_config **out, char *why, size_t len)
{
	struct kp_dm_config *c = malloc(sizeof(*c));
	int ret;

	if (!c)
		return -ENOMEM;
	ret = kp_dm_config_load(path, c, why, len);
	if (ret)
		free(c);	/* a refused config holds nothing */
	else
		*out = c;
	return ret;
}

int kp_dm_start(struct kp_dm *d, char *why, size_t len)
{
	struct kp_dm_config *c;
	struct kp_dm_parts p, old;
	int ret;

	ret = load(d->config, &c, why, len);
	if (ret)
		return ret;
	ret = open_parts(d, c, &p, why, len);
	if (ret) {
		kp_dm_config_free(c);
		free(c);
		return ret;
	}
	pthread_mutex_lock(&d->pol_lock);
	commit(d, c, &p, &old);
	pthread_mutex_unlock(&d->pol_lock);
	close_parts(&old, d);
	/* the session's open replays the journal: a crashed run's changes are undone first */
	ret = kp_dm_pol_start(d, why, len);
	if (ret)
		return ret;
	say_running(d, "running");
	return 0;
}

static bool same_policies(const struct kp_dm_config *a, const struct kp_dm_config *b)
{
	if (!a->pol_json || !b->pol_json)
		return !a->pol_json && !b->pol_json;
	return !strcmp(a->pol_json, b->pol_json) && !strcmp(a->state_dir, b->state_dir);
}

/* The same policies: the running ones (agents, counters, overrides) go on under the new config. */
static void keep_policies(struct kp_dm_config *old, struct kp_dm_config *c)
{
	struct kp_policy *p = c->pol;

	c->pol = old->pol;
	old->pol = p;
}

void kp_dm_reload(struct kp_dm *d)
{
	char why[512];
	struct kp_dm_config *c;
	struct kp_dm_parts p, old;
	bool kept;
	int ret;

	ret = load(d->config, &c, why, sizeof(why));
	if (!ret) {
		ret = open_parts(d, c, &p, why, sizeof(why));
		if (ret) {
			kp_dm_config_free(c);
			free(c);
		}
	}
	if (ret) {
		d->reloads_refused++;
		snprintf(d->last_reload_error, sizeof(d->last_reload_error), "%s", why);
		kp_err("SIGHUP: reload refused, the running config stays: %s", why);
		return;
	}
	pthread_mutex_lock(&d->pol_lock);
	kept = same_policies(d->cfg, c);
	if (kept)
		keep_policies(d->cfg, c);
	else
		kp_dm_pol_stop(d, "SIGHUP: the policies changed");
	commit(d, c, &p, &old);
	if (!kept && kp_dm_pol_start(d, why, sizeof(why))) {
		/* the new policies could not start: nothing runs, nothing stays changed */
		kp_err("SIGHUP: the new policies did not start: %s; running observe-only", why);
		kp_dm_pol_stop(d, "SIGHUP");
		kp_dm_config_free(d->cfg);
	}
	pthread_mutex_unlock(&d->pol_lock);
	close_parts(&old, d);
	d->reloads++;
	d->last_reload_error[0] = '\0';
	say_running(d, "SIGHUP: reloaded");
}

void kp_dm_stop(struct kp_dm *d)
{
	struct kp_dm_parts all = { .obs = d->obs, .http = d->http, .ctl_fd = d->ctl_fd };

	snprintf(all.socket, sizeof(all.socket), "%s", d->socket);
	close_parts(&all, NULL);
	d->obs = NULL;
	d->http = NULL;
	d->ctl_fd = -1;
	kp_dm_pol_stop(d, "stopping");
	kp_dm_config_free(d->cfg);
	free(d->cfg);
	d->cfg = NULL;
}

void kp_dm_notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
		return;
	n = strlen(path);
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';	/* an abstract socket */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
		kp_warn("NOTIFY_SOCKET %s: %s", path, strerror(errno));
	close(fd);
}
