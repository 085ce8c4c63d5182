// SPDX-License-Identifier: GPL-2.0
/* The members every policy kind shares, and applying through the session for a policy. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/config.h"
#include "daemon/policy.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/text.h"
#include "safety/session.h"

static const struct kp_policy_kind *const kinds[] = { &kp_policy_sysctl, &kp_policy_pipeline,
							   &kp_policy_replicas };

#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static const char *const common_keys[] = { "name", "kind", "agent", "exploration", "interval_ms",
					   "holdoff_ms", "save_every", NULL };

static const struct kp_policy_kind *find_kind(const char *name)
{
	for (size_t i = 0; i < NKINDS; i++)
		if (!strcmp(kinds[i]->name, name))
			return kinds[i];
	return NULL;
}

/* Every key of obj is a common one or the kind's: a typo is an error that names it. */
static int check_keys(struct kp_json *x, const char *path, json_t *obj,
		      const struct kp_policy_kind *k)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		bool ok = false;

		for (int i = 0; common_keys[i] && !ok; i++)
			ok = !strcmp(key, common_keys[i]);
		for (int i = 0; k->keys && k->keys[i] && !ok; i++)
			ok = !strcmp(key, k->keys[i]);
		if (!ok)
			return kp_json_fail(x, path, "unknown member \"%s\" for a %s policy", key,
					    k->name);
	}
	return 0;
}

static int parse_agent(struct kp_json *x, json_t *obj, const char *path, struct kp_policy *p)
{
	const char *const *a = p->kind->agents;
	char list[128] = "";
	int ret;

	snprintf(p->agent, sizeof(p->agent), "%s", a[0]);
	ret = kp_json_str(x, obj, path, "agent", false, p->agent, sizeof(p->agent));
	if (ret)
		return ret;
	for (int i = 0; a[i]; i++) {
		if (!strcmp(a[i], p->agent))
			return 0;
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
			 a[i]);
	}
	return kp_json_fail(x, path, "agent \"%s\": a %s policy has %s", p->agent, p->kind->name,
			    list);
}

static int parse_exploration(struct kp_json *x, json_t *obj, const char *path, bool *on)
{
	json_t *v = json_object_get(obj, "exploration");
	char p[96];

	*on = true;
	if (!v)
		return 0;
	snprintf(p, sizeof(p), "%s.exploration", path);
	if (json_is_boolean(v)) {
		*on = json_is_true(v);
		return 0;
	}
	if (json_is_string(v) && (!strcmp(json_string_value(v), "on") ||
				  !strcmp(json_string_value(v), "off"))) {
		*on = !strcmp(json_string_value(v), "on");
		return 0;
	}
	return kp_json_want(x, p, "\"on\" or \"off\"", v);
}

static int parse_common(struct kp_json *x, json_t *obj, const char *path,
			const struct kp_dm_config *cfg, struct kp_policy *p)
{
	char kind[32];
	long long v;
	int ret;

	ret = kp_json_str(x, obj, path, "name", true, p->name, sizeof(p->name));
	if (!ret && !kp_name_ok(p->name, strlen(p->name), KP_POL_NAME_LEN))
		ret = kp_json_fail(x, path, "name '%s' must be 1-%d characters of [A-Za-z0-9_.-]",
				   p->name, KP_POL_NAME_LEN - 1);
	if (!ret)
		ret = kp_json_str(x, obj, path, "kind", true, kind, sizeof(kind));
	if (ret)
		return ret;
	p->kind = find_kind(kind);
	if (!p->kind)
		return kp_json_fail(x, path, "kind \"%s\" is not one of sysctl, pipeline, "
				    "replicas", kind);
	ret = check_keys(x, path, obj, p->kind);
	if (!ret)
		ret = parse_agent(x, obj, path, p);
	if (!ret)
		ret = parse_exploration(x, obj, path, &p->exploration);
	v = cfg->interval_ms > 1000 ? cfg->interval_ms : 1000;
	if (!ret)
		ret = kp_json_int(x, obj, path, "interval_ms", cfg->interval_ms, 3600000, &v);
	p->interval_ms = (unsigned int)v;
	v = 0;
	if (!ret)
		ret = kp_json_int(x, obj, path, "holdoff_ms", 0, 3600000, &v);
	p->holdoff_ms = (unsigned int)v;
	v = 100;
	if (!ret)
		ret = kp_json_int(x, obj, path, "save_every", 0, 1000000, &v);
	p->save_every = (int)v;
	snprintf(p->ckpt, sizeof(p->ckpt), "%s/policies/%s.ckpt", cfg->state_dir, p->name);
	return ret;
}

int kp_policies_parse(struct kp_json *x, json_t *arr, const struct kp_dm_config *cfg,
		      struct kp_policy **out, int *n)
{
	struct kp_policy *p;
	char path[64];
	json_t *o;
	size_t i;
	int ret = 0;

	*out = NULL;
	*n = 0;
	if (!json_is_array(arr))
		return kp_json_want(x, "$.policies", "an array", arr);
	if (json_array_size(arr) > KP_POL_MAX)
		return kp_json_fail(x, "$.policies", "more than %d policies", KP_POL_MAX);
	p = calloc(json_array_size(arr) + 1, sizeof(*p));
	if (!p)
		return kp_json_fail(x, "$.policies", "out of memory");
	json_array_foreach(arr, i, o) {
		snprintf(path, sizeof(path), "$.policies[%zu]", i);
		if (!json_is_object(o)) {
			ret = kp_json_want(x, path, "an object", o);
			break;
		}
		ret = parse_common(x, o, path, cfg, &p[i]);
		if (!ret)
			ret = p[i].kind->parse(&p[i], x, o, path, cfg);
		if (ret)
			break;
		for (size_t j = 0; j < i && !ret; j++)
			if (!strcmp(p[j].name, p[i].name))
				ret = kp_json_fail(x, path, "policy '%s' is already $.policies[%zu]",
						   p[i].name, j);
		if (ret)
			break;
	}
	if (ret) {
		kp_policies_free(p, (int)json_array_size(arr));
		return ret;
	}
	*out = p;
	*n = (int)json_array_size(arr);
	return 0;
}

void kp_policies_free(struct kp_policy *p, int n)
{
	if (!p)
		return;
	for (int i = 0; i < n; i++)
		if (p[i].kind && p[i].kind->free && p[i].priv)
			p[i].kind->free(&p[i]);
	free(p);
}

struct kp_pol_knob *kp_pol_knob(struct kp_policy *p, const char *name)
{
	for (int i = 0; i < p->nknobs; i++)
		if (!strcmp(p->knobs[i].name, name))
			return &p->knobs[i];
	if (p->nknobs == KP_POL_MAX_KNOBS)
		return NULL;
	memset(&p->knobs[p->nknobs], 0, sizeof(p->knobs[0]));
	snprintf(p->knobs[p->nknobs].name, KP_NAME_MAX, "%s", name);
	return &p->knobs[p->nknobs++];
}

/* The overridden knobs are left out of the batch (they are the admin's now). */
static int drop_overridden(struct kp_policy *p, struct kp_pol_env *e, struct kp_change *ch, int n)
{
	int m = 0;

	for (int i = 0; i < n; i++) {
		struct kp_pol_knob *k = kp_pol_knob(p, ch[i].knob);

		if (kp_session_overridden(e->s, ch[i].knob)) {
			if (k && !k->overridden) {
				k->overridden = true;
				p->overrides++;
				snprintf(k->override_why, sizeof(k->override_why),
					 "changed by someone else; left alone until `kpilot ctl "
					 "resume %s`", p->name);
			}
			continue;
		}
		ch[m++] = ch[i];
	}
	return m;
}

int kp_pol_apply(struct kp_policy *p, struct kp_pol_env *e, struct kp_change *ch, int n,
		 const char *why_text)
{
	char reason[512], why[512];
	int ret;

	n = drop_overridden(p, e, ch, n);
	if (!n)
		return 0;
	snprintf(reason, sizeof(reason), "policy %s: %s", p->name, why_text);
	ret = kp_session_apply(e->s, ch, n, reason, why, sizeof(why));
	if (ret) {
		p->refusals++;
		snprintf(p->last_error, sizeof(p->last_error), "%s", why);
		for (int i = 0; i < n; i++) {
			struct kp_pol_knob *k = kp_pol_knob(p, ch[i].knob);

			if (k)
				k->refusals++;
		}
		kp_warn("policy %s: change refused: %s", p->name, why);
		return ret;
	}
	for (int i = 0; i < n; i++) {
		struct kp_pol_knob *k = kp_pol_knob(p, ch[i].knob);

		if (ch[i].status != KP_CH_APPLIED && ch[i].status != KP_CH_CLAMPED)
			continue;
		if (k) {
			k->changes++;
			snprintf(k->value, sizeof(k->value), "%s", ch[i].applied);
		}
		p->changes++;
		kp_info("policy %s: %s %s -> %s: %s%s", p->name, ch[i].knob, ch[i].old,
			ch[i].applied, why_text, ch[i].status == KP_CH_CLAMPED ? " (step clamped)" : "");
	}
	p->holdoff_until = e->now + (p->holdoff_ms ? p->holdoff_ms : p->interval_ms) / 1000.0;
	return 0;
}

/* status, `ctl policies` and /stats: the shared figures, the knobs, then the kind's own. */
json_t *kp_pol_json(const struct kp_policy *p)
{
	json_t *o, *knobs = json_array(), *own;

	for (int i = 0; knobs && i < p->nknobs; i++) {
		const struct kp_pol_knob *k = &p->knobs[i];

		json_array_append_new(knobs, json_pack("{s:s, s:s, s:b, s:s?, s:I, s:I, s:I}",
			"knob", k->name, "value", k->value, "overridden", k->overridden,
			"override", k->override_why[0] ? k->override_why : NULL,
			"changes", (json_int_t)k->changes, "refusals", (json_int_t)k->refusals,
			"reverts", (json_int_t)k->reverts));
	}
	o = json_pack("{s:s, s:s, s:s, s:b, s:b, s:i, s:s, s:s?, s:I, s:I, s:I, s:I, s:I, s:I, "
		      "s:o*, s:s?, s:o}",
		      "name", p->name, "kind", p->kind->name, "agent", p->agent,
		      "exploration", p->exploration, "paused", p->paused,
		      "interval_ms", (int)p->interval_ms, "checkpoint", p->ckpt,
		      "netns", p->netns[0] ? p->netns : NULL,
		      "steps", (json_int_t)p->steps, "updates", (json_int_t)p->updates,
		      "changes", (json_int_t)p->changes, "refusals", (json_int_t)p->refusals,
		      "reverts", (json_int_t)p->reverts, "overrides", (json_int_t)p->overrides,
		      "reward", p->have_reward ? json_real(p->last_reward) : NULL,
		      "last_error", p->last_error[0] ? p->last_error : NULL,
		      "knobs", knobs ? knobs : json_array());
	own = p->kind->status && p->priv ? p->kind->status((struct kp_policy *)p) : NULL;
	if (o && own)
		json_object_set_new(o, "state", own);
	else
		json_decref(own);
	return o;
}
