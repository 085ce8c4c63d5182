/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The validator: pure decisions about a proposed change, each refusal with a
 * one-line reason that names the knob.  It reads nothing and writes nothing;
 * the session (apply.c) feeds it the current values and acts on its verdict.
 */
#ifndef KPILOT_VALIDATOR_H
#define KPILOT_VALIDATOR_H

#include <stdbool.h>
#include <stddef.h>
#include "safety/knob.h"

enum kp_step_policy {
	KP_STEP_REJECT,		/* a step over the maximum is refused */
	KP_STEP_CLAMP,		/* ... or cut down to the maximum */
	KP_STEP_NONE,		/* no step limit: a namespace the session made for itself */
};

/*
 * Syntax, denylist and allowlist (fnmatch patterns, NULL-terminated; NULL
 * allows any knob that has a definition).  0 or -EINVAL with the reason.
 */
int kp_validate_name(const char *name, const char *const *allow, char *why, size_t len);

/* Which namespace a knob lives in: refuse host-wide knobs when a netns is the target. */
int kp_validate_netns(const struct kp_knob *k, const char *name, const char *netns,
		      char *why, size_t len);

/*
 * Range, step (clamping nv in place under KP_STEP_CLAMP, setting *clamped),
 * tuple order and minimum interval.  now and last are wall seconds (last 0:
 * never written).  ncpus caps cpu.max.  0 or -EINVAL with the reason.
 */
int kp_validate_value(const struct kp_knob *k, const char *name, const struct kp_value *old,
		      struct kp_value *nv, enum kp_step_policy policy, int ncpus,
		      double now, double last, bool *clamped, char *why, size_t len);

/*
 * The risky side of a knob (knob.h): a value below its safe floor (or above
 * its safe ceiling) at, refused unless allowed.  0 or -EINVAL with the reason.
 */
int kp_validate_risk(const struct kp_knob *k, const char *name, const struct kp_value *nv,
		     long long at, bool allowed, char *why, size_t len);

/* Steering weights (KP_VT_WEIGHTS): bounds per replica, the step, the replica count. */
int kp_check_weights(const struct kp_knob *k, const char *name, const struct kp_value *old,
		     struct kp_value *nv, enum kp_step_policy policy, bool *clamped,
		     char *why, size_t len);

/* Cross-knob invariants. */
int kp_check_dirty(const char *bg_name, long long bg, const char *fg_name, long long fg,
		   char *why, size_t len);
int kp_check_budget(long long sum_millicores, double budget_cores, char *why, size_t len);
int kp_check_cpuset(const char *name, const char *cpus, const char *parent_cpus,
		    char *why, size_t len);

#endif
