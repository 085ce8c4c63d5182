// SPDX-License-Identifier: GPL-2.0
/*
 * Running the policies: the daemon's one safety session (opened only when a
 * policy exists: observe-only changes nothing and journals nothing), their
 * schedule, checkpoints, overrides, and what stopping restores.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "daemon/daemon_int.h"
#include "daemon/policy.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "safety/session.h"

static int open_session(struct kp_dm *d, char *why, size_t len)
{
	struct kp_session_opts o = {
		.cmd = "run",
		.state_dir = d->cfg->state_dir,
		.step_policy = KP_STEP_CLAMP,
		/* stop() restores unless keep_on_exit; a crash is recovered at the next start */
		.keep = true,
		/* kp_pol_apply's line names the policy: one line per change, not two */
		.quiet_changes = true,
	};
	int ret;

	ret = kp_session_open(&o, &d->s, why, len);
	if (ret)
		return ret;
	return 0;
}

/* The session's target for a policy: its netns (or ours). */
static int target(struct kp_dm *d, struct kp_policy *p)
{
	char why[256];
	int ret = kp_session_set_netns(d->s, p->netns[0] ? p->netns : NULL, why, sizeof(why));

	if (ret)
		snprintf(p->last_error, sizeof(p->last_error), "%s", why);
	return ret;
}

static void env_of(struct kp_dm *d, struct kp_pol_env *e)
{
	e->s = d->s;
	e->cfg = d->cfg;
	e->fig = &d->fig;
	e->now = kp_mono_s();
}

int kp_dm_pol_save(struct kp_policy *p)
{
	char why[512];
	int ret;

	if (!p->kind->save)
		return 0;
	ret = p->kind->save(p, why, sizeof(why));
	if (ret) {
		kp_warn("policy %s: checkpoint %s not saved: %s", p->name, p->ckpt, why);
		snprintf(p->last_error, sizeof(p->last_error), "checkpoint: %.480s", why);
	}
	return ret;
}

static int start_one(struct kp_dm *d, struct kp_policy *p, char *why, size_t len)
{
	struct kp_pol_env e;
	char dir[4200];
	int ret;

	snprintf(dir, sizeof(dir), "%s/policies", d->cfg->state_dir);
	if (mkdir(dir, 0700) && errno != EEXIST) {
		snprintf(why, len, "%s: %s", dir, strerror(errno));
		return -errno;
	}
	ret = target(d, p);
	if (ret) {
		snprintf(why, len, "policy %s: %s", p->name, p->last_error);
		return ret;
	}
	env_of(d, &e);
	pthread_mutex_lock(&d->fig.lock);
	ret = p->kind->start ? p->kind->start(p, &e, why, len) : 0;
	pthread_mutex_unlock(&d->fig.lock);
	p->next_at = e.now + p->interval_ms / 1000.0;
	return ret;
}

int kp_dm_pol_start(struct kp_dm *d, char *why, size_t len)
{
	int ret;

	if (!d->cfg->npol)
		return 0;
	if (!d->s) {
		ret = open_session(d, why, len);
		if (ret)
			return ret;
	}
	for (int i = 0; i < d->cfg->npol; i++) {
		ret = start_one(d, &d->cfg->pol[i], why, len);
		if (ret)
			return ret;
	}
	return 0;
}

/* Knobs someone else wrote since the last window: the policy leaves them alone. */
static void check_overrides(struct kp_dm *d, struct kp_policy *p)
{
	if (target(d, p) || kp_session_check(d->s) < 0)
		return;
	for (int i = 0; i < p->nknobs; i++) {
		struct kp_pol_knob *k = &p->knobs[i];
		char cur[KP_VALUE_MAX] = "?";

		if (k->overridden || !kp_session_overridden(d->s, k->name))
			continue;
		kp_session_read(d->s, k->name, cur, sizeof(cur));
		k->overridden = true;
		p->overrides++;
		snprintf(k->override_why, sizeof(k->override_why), "set to '%s' by someone else; "
			 "left alone until `kpilot ctl resume %s`", cur, p->name);
		snprintf(k->value, sizeof(k->value), "%s", cur);
		kp_warn("policy %s: %s: %s", p->name, k->name, k->override_why);
	}
}

static void step_one(struct kp_dm *d, struct kp_policy *p, double now)
{
	unsigned long long before = p->updates;
	struct kp_pol_env e;
	int ret;

	check_overrides(d, p);
	if (p->paused || now < p->next_at || kp_session_aborted(d->s))
		return;
	p->next_at = now + p->interval_ms / 1000.0;
	env_of(d, &e);
	pthread_mutex_lock(&d->fig.lock);
	ret = p->kind->step(p, &e);
	pthread_mutex_unlock(&d->fig.lock);
	p->steps++;
	if (ret && ret != -EINVAL)
		kp_warn("policy %s: step %llu: %s", p->name, p->steps, strerror(-ret));
	if (p->save_every && p->updates / p->save_every != before / p->save_every)
		kp_dm_pol_save(p);
}

void kp_dm_pol_window(struct kp_dm *d)
{
	double now = kp_mono_s();

	if (!d->s)
		return;
	pthread_mutex_lock(&d->pol_lock);
	for (int i = 0; i < d->cfg->npol; i++)
		step_one(d, &d->cfg->pol[i], now);
	pthread_mutex_unlock(&d->pol_lock);
}

int kp_dm_pol_resume(struct kp_dm *d, struct kp_policy *p)
{
	int n = 0;

	if (target(d, p))
		return -EIO;
	for (int i = 0; i < p->nknobs; i++) {
		if (!p->knobs[i].overridden)
			continue;
		kp_session_resume(d->s, p->knobs[i].name);
		p->knobs[i].overridden = false;
		p->knobs[i].override_why[0] = '\0';
		n++;
	}
	p->paused = false;
	return n;
}

/* Restore what the policies changed, now (stop, `ctl rollback`, a reload that changes them). */
int kp_dm_pol_restore(struct kp_dm *d, const char *why_text)
{
	int ret;

	if (!d->s)
		return 0;
	ret = kp_session_restore(d->s);
	if (ret)
		kp_err("%s: restoring the managed knobs: %s; `kpilot rollback` retries", why_text,
		       strerror(-ret));
	else
		kp_info("%s: every knob the policies changed is restored", why_text);
	return ret;
}

/* Checkpoints, then (unless keep_on_exit) every managed knob back, then the session closed. */
void kp_dm_pol_stop(struct kp_dm *d, const char *why_text)
{
	if (!d->s)
		return;
	if (d->cfg)
		for (int i = 0; i < d->cfg->npol; i++)
			kp_dm_pol_save(&d->cfg->pol[i]);
	if (!d->cfg || !d->cfg->keep_on_exit)
		kp_dm_pol_restore(d, why_text);
	else
		kp_info("%s: keep_on_exit: the managed knobs keep their values (`kpilot rollback` "
			"restores them)", why_text);
	kp_session_close(d->s);
	d->s = NULL;
}
