// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's commands, one dispatcher for the control socket (the loop's
 * thread) and the HTTP listener (its own thread): every policy field is read
 * and written under d->pol_lock, which the loop holds while it steps them,
 * so a command lands between two steps. reload is the socket's only (it
 * swaps the config, and runs in the loop's thread as SIGHUP does).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "daemon/commands.h"
#include "daemon/daemon_int.h"
#include "daemon/http.h"
#include "daemon/policy.h"
#include "lib/log.h"
#include "safety/session.h"

static json_t *ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_t *refused(int *code, int c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static json_t *ok(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:b, s:s}", "ok", 1, "message", msg);
}

static json_t *refused(int *code, int c, const char *fmt, ...)
{
	char msg[640];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	*code = c;
	return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

json_t *kp_dm_status(struct kp_dm *d)
{
	char http[96];
	json_t *s, *fig, *pols, *knobs;

	pthread_mutex_lock(&d->fig.lock);
	fig = kp_dm_fig_json(&d->fig);
	pthread_mutex_unlock(&d->fig.lock);
	snprintf(http, sizeof(http), strchr(d->cfg->http_host, ':') ? "[%s]:%u" : "%s:%u",
		 d->cfg->http_host, kp_http_port(d->http));
	s = json_pack("{s:i, s:s, s:s, s:s, s:s?, s:i, s:i, s:s?, s:o}",
		      "pid", (int)getpid(), "mode", d->cfg->npol ? "managing" : "observe-only",
		      "config", d->config, "socket", d->socket, "http", d->http ? http : NULL,
		      "reloads", d->reloads, "reloads_refused", d->reloads_refused,
		      "last_reload_error", d->last_reload_error[0] ? d->last_reload_error : NULL,
		      "figures", fig);
	json_object_set_new(s, "state_dir", json_string(d->cfg->state_dir));
	json_object_set_new(s, "keep_on_exit", json_boolean(d->cfg->keep_on_exit));
	pthread_mutex_lock(&d->pol_lock);
	json_object_set_new(s, "policies", pols = json_array());
	json_object_set_new(s, "managed_knobs", knobs = json_array());
	for (int i = 0; i < d->cfg->npol; i++) {
		const struct kp_policy *p = &d->cfg->pol[i];

		json_array_append_new(pols, kp_pol_json(p));
		for (int j = 0; j < p->nknobs; j++)
			json_array_append_new(knobs, json_pack("{s:s, s:s, s:s, s:b}", "policy",
				p->name, "knob", p->knobs[j].name, "value", p->knobs[j].value,
				"overridden", p->knobs[j].overridden));
	}
	pthread_mutex_unlock(&d->pol_lock);
	return s;
}

/* "P1, P2" or "none (observe-only)": what a refusal of an unknown name offers. */
static void known(const struct kp_dm *d, char *buf, size_t len)
{
	size_t n = 0;

	snprintf(buf, len, "none (observe-only)");
	for (int i = 0; i < d->cfg->npol && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "", d->cfg->pol[i].name);
}

/* The request's policy (caller holds pol_lock); NULL with *ans set when none matches. */
static struct kp_policy *find(struct kp_dm *d, json_t *req, bool needed, json_t **ans, int *code)
{
	const char *name = json_string_value(json_object_get(req, "policy"));
	char list[KP_POL_MAX * (KP_POL_NAME_LEN + 2) + 32];

	*ans = NULL;
	if (!name) {
		if (needed)
			*ans = refused(code, 400, "which policy? give its name");
		return NULL;
	}
	for (int i = 0; i < d->cfg->npol; i++)
		if (!strcmp(d->cfg->pol[i].name, name))
			return &d->cfg->pol[i];
	known(d, list, sizeof(list));
	*ans = refused(code, 404, "no policy '%.64s': this daemon runs %s", name, list);
	return NULL;
}

static json_t *policies(struct kp_dm *d)
{
	json_t *arr = json_array();

	for (int i = 0; i < d->cfg->npol; i++)
		json_array_append_new(arr, kp_pol_json(&d->cfg->pol[i]));
	return json_pack("{s:b, s:o}", "ok", 1, "policies", arr);
}

static json_t *pause_resume(struct kp_dm *d, struct kp_policy *p, bool pause, int *code)
{
	int n;

	if (pause) {
		if (p->paused)
			return ok("policy %s was already paused", p->name);
		p->paused = true;
		kp_info("policy %s: paused (kpilot ctl pause); its knobs keep their values", p->name);
		return ok("policy %s paused: no more steps until `kpilot ctl resume %s`; its knobs "
			  "keep their values", p->name, p->name);
	}
	n = kp_dm_pol_resume(d, p);
	if (n < 0)
		return refused(code, 409, "policy %s: %s", p->name, p->last_error);
	kp_info("policy %s: resumed; %d overridden knob%s managed again", p->name, n,
		n == 1 ? "" : "s");
	return ok("policy %s resumed; %d overridden knob%s managed again", p->name, n,
		  n == 1 ? "" : "s");
}

static json_t *explore(struct kp_policy *p, json_t *req, int *code)
{
	json_t *on = json_object_get(req, "on");

	if (!json_is_boolean(on))
		return refused(code, 400, "explore %s: on or off?", p->name);
	p->exploration = json_is_true(on);
	kp_info("policy %s: exploration %s", p->name, p->exploration ? "on" : "off");
	return ok("policy %s: exploration %s%s", p->name, p->exploration ? "on" : "off",
		  p->exploration ? "" : " (the greedy policy only)");
}

static json_t *save(struct kp_dm *d, struct kp_policy *one, int *code)
{
	json_t *arr = json_array(), *ans;
	int failed = 0, n = 0;

	for (int i = 0; i < d->cfg->npol; i++) {
		struct kp_policy *p = &d->cfg->pol[i];
		int ret;

		if (one && p != one)
			continue;
		n++;
		ret = p->kind->save ? kp_dm_pol_save(p) : 0;
		failed += ret != 0;
		json_array_append_new(arr, json_pack("{s:s, s:s, s:b, s:s?}", "policy", p->name,
			"checkpoint", p->ckpt, "saved", !ret && p->kind->save,
			"error", ret ? p->last_error : (p->kind->save ? NULL :
			"its agent keeps nothing to save")));
	}
	if (failed)
		ans = refused(code, 500, "%d of %d checkpoints not saved", failed, n);
	else if (!n)
		ans = ok("nothing to save: no policy runs (observe-only)");
	else
		ans = ok("%d polic%s saved", n, n == 1 ? "y" : "ies");
	json_object_set_new(ans, "saved", arr);
	return ans;
}

static json_t *train(struct kp_policy *p, json_t *req, int *code)
{
	json_int_t batch = json_integer_value(json_object_get(req, "batch_size"));
	json_int_t iter = json_integer_value(json_object_get(req, "iterations"));
	unsigned long long before = p->updates;
	char why[512] = "";
	json_t *ans;

	if (!batch)
		batch = KP_TRAIN_BATCH;
	if (!iter)
		iter = KP_TRAIN_ITER;
	if (batch < 1 || batch > KP_TRAIN_BATCH_MAX || iter < 1 || iter > KP_TRAIN_ITER_MAX)
		return refused(code, 400, "train %s: batch_size 1-%d and iterations 1-%d",
			       p->name, KP_TRAIN_BATCH_MAX, KP_TRAIN_ITER_MAX);
	if (!p->kind->train)
		return refused(code, 409, "policy %s (%s, agent %s) has no training step: its "
			       "agent learns only from its own steps", p->name, p->kind->name, p->agent);
	if (p->kind->train(p, (int)batch, (int)iter, why, sizeof(why)))
		return refused(code, 409, "train %s: %s", p->name, why);
	kp_info("policy %s: trained, %d x %d: %llu updates", p->name, (int)iter, (int)batch,
		p->updates - before);
	ans = ok("policy %s trained: %llu updates (%llu in all)", p->name, p->updates - before,
		 p->updates);
	json_object_set_new(ans, "updates", json_integer((json_int_t)p->updates));
	return ans;
}

/* After a restore, the knobs' records show what they hold now (status, /metrics). */
static void reread(struct kp_dm *d)
{
	char why[256];

	for (int i = 0; i < d->cfg->npol; i++) {
		struct kp_policy *p = &d->cfg->pol[i];

		if (kp_session_set_netns(d->s, p->netns[0] ? p->netns : NULL, why, sizeof(why)))
			continue;
		for (int j = 0; j < p->nknobs; j++)
			kp_session_read(d->s, p->knobs[j].name, p->knobs[j].value,
					sizeof(p->knobs[j].value));
	}
}

/* Every policy paused, then what they changed restored: `resume` starts one again. */
static json_t *rollback(struct kp_dm *d, int *code)
{
	int ret;

	if (!d->s)
		return ok("nothing to restore: no policy runs (observe-only)");
	for (int i = 0; i < d->cfg->npol; i++)
		d->cfg->pol[i].paused = true;
	ret = kp_dm_pol_restore(d, "kpilot ctl rollback");
	reread(d);
	if (ret)
		return refused(code, 500, "restoring the managed knobs: %s; every policy is "
			       "paused; `kpilot rollback` retries", strerror(-ret));
	return ok("every knob the policies changed is restored and every policy is paused; "
		  "`kpilot ctl resume P` starts one again");
}

static json_t *reload(struct kp_dm *d, int *code)
{
	int refused_before = d->reloads_refused;
	json_t *ans;

	kp_info("kpilot ctl reload: reading %s again", d->config);
	kp_dm_reload(d);
	if (d->reloads_refused != refused_before)
		ans = refused(code, 409, "reload refused, the running config stays: %s",
			      d->last_reload_error);
	else
		ans = ok("reloaded %s", d->config);
	json_object_set_new(ans, "reloads", json_integer(d->reloads));
	json_object_set_new(ans, "reloads_refused", json_integer(d->reloads_refused));
	return ans;
}

/* The commands that name a policy, under pol_lock. */
static json_t *policy_cmd(struct kp_dm *d, const char *cmd, json_t *req, int *code)
{
	bool optional = !strcmp(cmd, "save") || !strcmp(cmd, "policies") ||
			!strcmp(cmd, "rollback");
	struct kp_policy *p;
	json_t *ans;

	pthread_mutex_lock(&d->pol_lock);
	p = find(d, req, !optional, &ans, code);
	if (ans)
		goto out;
	if (!strcmp(cmd, "policies"))
		ans = policies(d);
	else if (!strcmp(cmd, "pause") || !strcmp(cmd, "resume"))
		ans = pause_resume(d, p, !strcmp(cmd, "pause"), code);
	else if (!strcmp(cmd, "explore"))
		ans = explore(p, req, code);
	else if (!strcmp(cmd, "save"))
		ans = save(d, p, code);
	else if (!strcmp(cmd, "train"))
		ans = train(p, req, code);
	else
		ans = rollback(d, code);
out:
	pthread_mutex_unlock(&d->pol_lock);
	return ans;
}

json_t *kp_dm_command(struct kp_dm *d, json_t *req, bool from_http, int *code)
{
	static const char *const pol_cmds[] = { "policies", "pause", "resume", "explore", "save",
						"train", "rollback", NULL };
	const char *cmd = json_string_value(json_object_get(req, "cmd"));

	*code = 200;
	if (cmd && !strcmp(cmd, "status") && !from_http)
		return json_pack("{s:b, s:o}", "ok", 1, "status", kp_dm_status(d));
	if (cmd && !strcmp(cmd, "reload") && !from_http)
		return reload(d, code);
	for (int i = 0; cmd && pol_cmds[i]; i++)
		if (!strcmp(cmd, pol_cmds[i]))
			return policy_cmd(d, cmd, req, code);
	return refused(code, 400, "unknown command '%.64s': this kpilot knows status, policies, "
		       "pause, resume, explore, save, train, rollback, reload",
		       cmd ? cmd : "(none)");
}

json_t *kp_dm_handle(json_t *req, void *arg)
{
	int code;

	return kp_dm_command(arg, req, false, &code);
}
