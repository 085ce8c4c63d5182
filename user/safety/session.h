/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one way kpilot changes the system.  Every change goes through
 * kp_session_apply(): validate -> journal (fsync) -> write -> read back.
 * A session restores what it changed when it closes (unless it keeps its
 * values, as `kpilot set` does), on SIGINT/SIGTERM/SIGHUP through the
 * caller's loop, and at the next start after a crash.
 *
 * Typical use (kpilot tune):
 *
 *	struct kp_session_opts o = { .cmd = "tune", .allow = allow, .cpu_budget = 2.0,
 *				     .step_policy = KP_STEP_CLAMP };
 *	kp_safety_catch_signals();
 *	if (kp_session_open(&o, &s, why, sizeof(why)))   ... exit 2 with why
 *	kp_session_add_knob(s, &my_knob, why, sizeof(why));
 *	while (!kp_safety_stop_requested()) {
 *		struct kp_change ch[2] = { { "net.core.somaxconn", "8192" },
 *					   { "cgroup:pipe/op1:cpu.max", "50000 100000" } };
 *		err = kp_session_apply(s, ch, 2, "ppo step 12", why, sizeof(why));
 *		if (err == -EINVAL) ... rejected, nothing written, why says why
 *		... run the benchmark ...
 *		if (kp_session_report(s, reward) == -ECANCELED) break;
 *	}
 *	kp_session_close(s);		// restores everything this session changed
 */
#ifndef KPILOT_SAFETY_H
#define KPILOT_SAFETY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "safety/journal.h"
#include "safety/knob.h"
#include "safety/validator.h"

struct kp_session;

struct kp_session_opts {
	const char *root;		/* prefix for /proc/sys, /sys/fs/cgroup; NULL: "/" */
	const char *state_dir;		/* NULL: /var/lib/kpilot */
	const char *netns;		/* NULL: ours; NAME (/run/netns/NAME) or a path */
	const char *const *allow;	/* fnmatch patterns, NULL-terminated; NULL: any defined knob */
	const char *const *allow_risky;	/* knob names, NULL-terminated: may cross their safe floor/ceiling */
	const char *cmd;		/* who, for the journal: "set", "tune" */
	bool dry_run;			/* validate and report; write nothing */
	bool keep;			/* leave values in place at close (kpilot set) */
	bool quiet_changes;		/* the caller logs each change (run's policy lines) */
	enum kp_step_policy step_policy;
	double cpu_budget;		/* CPUs the session's cpu.max quotas may sum to; 0: none */
	double regress_threshold;	/* relative reward drop that counts; 0: 0.10 */
	int regress_steps;		/* K consecutive regressions before reverting; 0: 3 */
	int max_failed_steps;		/* consecutive failures before abort; 0: 3 */
	double (*clock)(void);		/* wall seconds; NULL: CLOCK_REALTIME (tests inject) */
};

enum kp_change_status {
	KP_CH_APPLIED,		/* written and read back */
	KP_CH_CLAMPED,		/* written, step cut down to the maximum */
	KP_CH_UNCHANGED,	/* already had that value: skipped */
	KP_CH_DRY_RUN,		/* would be written */
	KP_CH_NOT_DONE,		/* the batch was refused or undone */
};

struct kp_change {
	const char *knob;		/* in: "net.core.somaxconn", "cgroup:a/b:cpu.max" */
	const char *value;		/* in: text as a person types it */
	char old[KP_VALUE_MAX];		/* out: value before */
	char applied[KP_VALUE_MAX];	/* out: value after (clamped, canonical) */
	enum kp_change_status status;	/* out */
};

/*
 * Open a session: lock the state dir, undo what crashed sessions left behind
 * (before anything else), archive a journal with nothing left to restore.
 * Returns 0 or -errno with a one-line reason (-EBUSY: another kpilot runs).
 */
int kp_session_open(const struct kp_session_opts *o, struct kp_session **out,
		    char *why, size_t len);

/*
 * Add a knob for this session (from a config).  A built-in knob can only be
 * narrowed: the range is intersected and the tighter step and interval win.
 * Denylisted and malformed names are refused.  0 or -EINVAL with the reason.
 */
int kp_session_add_knob(struct kp_session *s, const struct kp_knob *k, char *why, size_t len);

/* The definition the session uses for a knob (range, scale), or NULL when not allowed. */
const struct kp_knob *kp_session_knob(struct kp_session *s, const char *name);

/*
 * Apply changes together: all are validated first (with cross-knob
 * invariants on the combined result) and either none is written, or all
 * are written in a safe order; a failed write undoes the batch's writes.
 * Returns
 *   0		applied (see each change's status)
 *   -EINVAL	refused by the validator: nothing written, why has the reason
 *   -EIO	a write failed or read back wrong: batch undone, why says which
 *   -EINTR	a stop signal arrived: batch undone
 *   -ECANCELED	the session was aborted by its guardrails
 *   other	-errno: the environment (missing knob, no permission)
 */
int kp_session_apply(struct kp_session *s, struct kp_change *ch, int n, const char *reason,
		     char *why, size_t len);

/*
 * Point the session's next changes at another network namespace (NAME, a
 * path, or NULL for our own). Knobs already changed stay tracked in theirs:
 * restore and close undo them there. Sessions that run each trial in fresh
 * namespaces (kpilot tune's netns mode) switch per trial, then restore
 * before deleting the namespaces. 0 or -errno with the reason.
 */
int kp_session_set_netns(struct kp_session *s, const char *netns, char *why, size_t len);

/*
 * The same for a namespace the caller made for this session alone and
 * deletes after restoring it (kpilot tune's netns mode): no traffic but the
 * caller's own to protect, so no step limit applies there, only the range
 * (and the risk, order, invariant and hook rules). Never for a namespace
 * someone else made or uses. A later kp_session_set_netns() ends it.
 */
int kp_session_set_own_netns(struct kp_session *s, const char *netns, char *why, size_t len);

/*
 * A knob's safe floor or ceiling on this system (knob.h: risk, risk_at; the
 * knob's hook reads it in the session's current target), and whether this
 * session may cross it (opts.allow_risky). *side KP_RISK_NONE: no risky side.
 */
void kp_session_risk(struct kp_session *s, const char *name, enum kp_risk *side,
		     long long *at, bool *allowed);

/* A knob's current value, canonical text. */
int kp_session_read(struct kp_session *s, const char *knob, char *buf, size_t len);

/*
 * Guardrails.  report(): the reward of the configuration in place.  A reward
 * below the last known-good one by more than the threshold (relative) for K
 * steps in a row reverts to the known-good values; returns 1 when it did, 0
 * otherwise.  step_failed(): the step could not be measured; after the
 * configured number in a row the session restores everything and aborts
 * (-ECANCELED, also returned by every later apply).
 */
int kp_session_report(struct kp_session *s, double reward);
int kp_session_step_failed(struct kp_session *s, const char *reason);

/* Look for knobs someone else changed; stop managing them.  Returns how many. */
int kp_session_check(struct kp_session *s);

/* This session changed the knob (in its current netns) and someone else has since. */
bool kp_session_overridden(struct kp_session *s, const char *name);

/*
 * `kpilot ctl resume`: manage an overridden knob again. Its value now (the
 * admin's) becomes the one close and rollback restore. 1 if it was
 * overridden, 0 if not.
 */
int kp_session_resume(struct kp_session *s, const char *name);

/* Undo every change of this session, newest first.  0 or -errno. */
int kp_session_restore(struct kp_session *s);

bool kp_session_aborted(const struct kp_session *s);

/*
 * A run's own cgroups (the stream pipeline's operators), journaled like
 * knobs, so a crash leaves nothing `kpilot rollback` cannot undo.  They are
 * not knobs: no allowlist or validator applies, the guardrails leave them
 * alone, close undoes them (after everything changed since).  path is
 * relative to the cgroup root; ctrl names the v1 hierarchy ("cpu",
 * "cpuset"), v2 has one.  Undoing a directory moves the tasks still in it to
 * its parent (the root when the parent refuses them) and removes it.  Values
 * written inside a directory this session created are not journaled:
 * removing the directory undoes them, so enable a controller in a parent
 * before creating its children.  0 or -errno with the reason.
 */
int kp_session_cg_mkdir(struct kp_session *s, const char *path, const char *ctrl,
			const char *reason, char *why, size_t len);
int kp_session_cg_write(struct kp_session *s, const char *path, const char *attr,
			const char *value, const char *reason, char *why, size_t len);
/* v2: enable a controller ("cpu") in path's cgroup.subtree_control. */
int kp_session_cg_enable(struct kp_session *s, const char *path, const char *ctrl,
			 const char *reason, char *why, size_t len);

/*
 * Write a persisted file ("file:etc/sysctl.d/90-kpilot-W.conf" or a systemd
 * drop-in, actuate/file.h) with text, journaled like a knob: the old content
 * (or its absence) is kept in <state dir>/files, so `kpilot rollback` and the
 * recovery after a crash remove or restore it. Atomic (temp file, fsync,
 * rename). Unchanged content writes nothing. 0 or -errno with the reason.
 */
int kp_session_put_file(struct kp_session *s, const char *name, const char *text,
			const char *reason, char *why, size_t len);

/* Undo the session's knob changes, newest first, but not its cgroups.  0 or -errno. */
int kp_session_restore_knobs(struct kp_session *s);

/* Restore (or, with opts.keep, commit) and unlock.  0 or -errno. */
int kp_session_close(struct kp_session *s);

/*
 * kpilot rollback: restore every original in the journal under state_dir,
 * newest change first, and archive the journal.  Knobs someone else changed
 * since kpilot wrote them keep their value.  Returns 0 or -errno.
 */
int kp_safety_rollback(const char *state_dir, char *why, size_t len);

/*
 * The same under a fake root (tests, `kpilot rollback --root`): only the
 * journal's records of that root are used; NULL is "/". A journal's own
 * "root" field is never honoured.
 */
int kp_safety_rollback_at(const char *state_dir, const char *root, char *why, size_t len);

/*
 * kpilot rollback --forget KNOB: drop every original of KNOB from what is to
 * be restored (journaled), after a restore that keeps failing. 0, -ENOENT
 * (no such original) or -errno with the reason.
 */
int kp_safety_rollback_forget(const char *state_dir, const char *root, const char *knob,
			      char *why, size_t len);

/* One knob rollback would restore, and what it would do with it. */
struct kp_rollback_item {
	char knob[KP_NAME_MAX];
	char netns[256];
	char root[256];
	char now[KP_VALUE_MAX];		/* "" or "?" when it cannot be read */
	char orig[KP_VALUE_MAX];
	const char *action;		/* "restore", "keep (changed by someone else)", ... */
};

/*
 * What kp_safety_rollback() would do, newest change first, changing nothing:
 * *items (free() it) holds *n entries.  0 or -errno with the reason.
 */
int kp_safety_rollback_list(const char *state_dir, struct kp_rollback_item **items, int *n,
			    char *why, size_t len);
int kp_safety_rollback_list_at(const char *state_dir, const char *root,
			       struct kp_rollback_item **items, int *n, char *why, size_t len);

/*
 * A session config runs commands as root: accept it only as a regular file
 * (not a symlink) owned by root (or by us) and not group- or world-writable.
 * 0 or -EPERM/-errno with the reason.
 */
int kp_safety_trusted_file(const char *path, char *why, size_t len);

/* SIGINT/SIGTERM/SIGHUP set a flag instead of killing us: loops poll it. */
void kp_safety_catch_signals(void);
bool kp_safety_stop_requested(void);

#endif
