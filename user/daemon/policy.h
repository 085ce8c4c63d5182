/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The daemon's policies: each turns what the windows showed into state, lets
 * its agent propose, and applies through the daemon's one safety session
 * (validate -> journal -> write -> read back). policy.c parses the members
 * every kind shares and runs the schedule (interval, pause, hold-off,
 * checkpoints, overrides); each kind (policy_sysctl.c, policy_pipeline.c)
 * fills a struct kp_policy_kind. Documentation/daemon.md has the schema.
 *
 * A policy's life:
 *	parse (config load; also at SIGHUP, on the new text, before anything stops)
 *	start (the session is open and has replayed the journal: add knobs, load
 *	       the checkpoint; a refused checkpoint is logged and the agent starts fresh)
 *	step, every interval_ms, unless paused
 *	save, every save_every updates, on `ctl save` and at stop
 *	free (after the session restored what it changed, unless keep_on_exit)
 */
#ifndef KPILOT_DAEMON_POLICY_H
#define KPILOT_DAEMON_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "safety/knob.h"

struct kp_session;
struct kp_dm_config;
struct kp_dm_figures;
struct kp_json;

#define KP_POL_MAX		16
#define KP_POL_NAME_LEN		64
#define KP_POL_MAX_KNOBS	32

/* What the daemon hands a policy at start and at each step. */
struct kp_pol_env {
	struct kp_session *s;			/* every change goes through it */
	const struct kp_dm_config *cfg;		/* operators (by name), state dir */
	const struct kp_dm_figures *fig;	/* cumulative figures; locked by the caller */
	double now;				/* CLOCK_MONOTONIC seconds */
};

/* One knob a policy manages, as status and /metrics show it. */
struct kp_pol_knob {
	char name[KP_NAME_MAX];			/* "net.ipv4.tcp_fin_timeout", "cgroup:a/b:cpu.max" */
	char value[KP_VALUE_MAX];		/* last read or written */
	bool overridden;			/* someone else wrote it: left alone until resume */
	char override_why[160];
	unsigned long long changes, refusals, reverts;
};

struct kp_policy {
	const struct kp_policy_kind *kind;
	char name[KP_POL_NAME_LEN];
	char agent[16];				/* kind-specific: "ds2", "ppo", "tpe", "random" */
	bool exploration;			/* off: the greedy policy only (production) */
	unsigned int interval_ms;
	unsigned int holdoff_ms;		/* after a change, no other change (0: one interval) */
	int save_every;				/* updates between checkpoints (0: at stop and save only) */
	char ckpt[4200];			/* <state_dir>/policies/<name>.ckpt */
	char netns[256];			/* set by a kind that targets one: NAME or path; "" ours */

	/* kept by policy.c; kinds update the counters and knobs[] */
	bool paused;
	double next_at, holdoff_until;
	unsigned long long steps, updates, changes, refusals, reverts, overrides;
	double last_reward;
	bool have_reward;
	char last_error[512];
	struct kp_pol_knob knobs[KP_POL_MAX_KNOBS];
	int nknobs;
	void *priv;				/* the kind's */
};

struct kp_policy_kind {
	const char *name;			/* "sysctl", "pipeline", "replicas" */
	const char *const *keys;		/* the kind's own members of a policy object */
	const char *const *agents;		/* agents it has, NULL-terminated; [0] is the default */
	/* Kind members of obj (path "$.policies[i]"); errors through x name the member. */
	int (*parse)(struct kp_policy *p, struct kp_json *x, json_t *obj, const char *path,
		     const struct kp_dm_config *cfg);
	int (*start)(struct kp_policy *p, struct kp_pol_env *e, char *why, size_t len);
	/* One interval: measure since the last step, reward, learn, maybe apply. 0 or -errno. */
	int (*step)(struct kp_policy *p, struct kp_pol_env *e);
	/* Write the agent to p->ckpt (atomic). NULL: nothing to keep. */
	int (*save)(struct kp_policy *p, char *why, size_t len);
	/* `ctl train P` / POST /train: extra updates from what the agent has seen. NULL: none. */
	int (*train)(struct kp_policy *p, int batch, int iterations, char *why, size_t len);
	/* The kind's own status members (state, rates, agent figures): a new object or NULL. */
	json_t *(*status)(struct kp_policy *p);
	void (*free)(struct kp_policy *p);
};

extern const struct kp_policy_kind kp_policy_sysctl;
extern const struct kp_policy_kind kp_policy_pipeline;
extern const struct kp_policy_kind kp_policy_replicas;

/*
 * The policies of a config's "policies" array: parsed whole or not at all.
 * 0 or -EINVAL with "origin: $.policies[i].member: what" in x.
 */
int kp_policies_parse(struct kp_json *x, json_t *arr, const struct kp_dm_config *cfg,
		      struct kp_policy **out, int *n);
void kp_policies_free(struct kp_policy *p, int n);

/* The policy as status shows it: a new object. */
json_t *kp_pol_json(const struct kp_policy *p);

/* A policy's knob record (added on first use). NULL when KP_POL_MAX_KNOBS are taken. */
struct kp_pol_knob *kp_pol_knob(struct kp_policy *p, const char *name);

/*
 * Apply a batch for policy p through the session, with the reason logged and
 * journaled as "policy NAME: why". Counts changes and refusals, updates
 * knobs[], logs one line per changed knob ("policy P: KNOB old -> new: why"),
 * starts the hold-off, and skips knobs that are overridden. 0, or the
 * session's -errno (safety/session.h).
 */
struct kp_change;
int kp_pol_apply(struct kp_policy *p, struct kp_pol_env *e, struct kp_change *ch, int n,
		 const char *why_text);

#endif
