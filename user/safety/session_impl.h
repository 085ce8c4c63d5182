/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inside a safety session: the state shared by session.c, apply.c, setup.c,
 * replay.c, invariants.c, guardrails.c, rollback.c and act.c.  Not for use
 * outside user/safety/.
 */
#ifndef KPILOT_SESSION_IMPL_H
#define KPILOT_SESSION_IMPL_H

#include <string.h>
#include "actuate/fsio.h"
#include "safety/session.h"

/* One knob as the journal knows it (every session), plus this session's view. */
struct kstate {
	char name[KP_NAME_MAX];
	char root[256];
	char netns[256];
	unsigned long long nsino;
	bool has_orig;
	char orig[KP_VALUE_MAX];
	char raw[KP_VALUE_MAX];		/* exact native original, "" when equal to orig */
	char expected[KP_VALUE_MAX];	/* what kpilot last wrote; "" unknown */
	char intent_old[KP_VALUE_MAX];	/* a journaled change may not have happened */
	bool dropped;			/* someone else owns it now */
	long long last_seq;
	double last_t;			/* last change, wall seconds */
	double prev_t;			/* the one before, if the last failed */
	/* this session */
	bool touched;
	char start[KP_VALUE_MAX];	/* value before this session's first change */
	long long sess_seq;
	bool has_good;
	char good[KP_VALUE_MAX];
	bool setup;			/* a run's own cgroup (setup.c), not a knob */
};

struct touch {
	int k;
	long long seq;
	char start[KP_VALUE_MAX];
};

struct jsess {
	char sid[40];
	int pid;
	char cmd[32];
	bool closed;
	struct touch *t;
	int n;
};

struct kp_session {
	char root[256];
	char state_dir[4096];
	char netns[256];
	char **allow;
	char **allow_risky;
	bool own_ns;			/* the netns is the caller's own: no step limit */
	struct kp_target t;
	unsigned long long nsino;
	bool dry_run, keep, quiet_changes;
	enum kp_step_policy policy;
	double budget;
	double thr;
	int regress_steps, max_failed;
	double (*clock)(void);
	char cmd[32];
	int ncpus;

	struct kp_journal *j;
	bool begun;
	char sid[40];

	struct kstate *k;
	int nk;
	struct jsess *js;
	int njs;
	struct kp_knob *defs;
	int ndefs;

	/* journal records naming another root: ignored (trust.c's rule), counted */
	int other_root;
	char other_root_name[256];

	bool have_ref;
	double ref;
	int bad, failed;
	int bad_reverts;	/* guardrail reverts that failed, in a row */
	bool aborted;
};

/* One change of a batch being applied. */
struct pending {
	struct kp_change *c;
	const struct kp_knob *def;
	int ki;				/* index into s->k, which may move */
	struct kp_value old, nv;
	bool clamped, unchanged;
	long long delta_mc;		/* cpu.max: change in millicores, for ordering */
};

static inline bool sess_is_cgroup(const char *name)
{
	return !strncmp(name, "cgroup:", 7);
}

/* act.c: knobs by name, through the right actuator */
int sess_act_read(const struct kp_target *t, const char *name, char *text, char *raw,
		  size_t len);
void sess_act_file(const struct kp_target *t, const char *name, char *buf, size_t len);
int sess_write_verify(const struct kp_target *t, const char *name, const char *text,
		      bool raw, char *why, size_t len);
int sess_target_for(struct kp_session *s, const struct kstate *k, struct kp_target *t,
		    int *fd);

/* replay.c: the journal's truth, undo, recovery */
struct kstate *sess_kfind(struct kp_session *s, const char *root, const char *netns,
			  const char *name, bool create);
int sess_replay_one(const struct kp_jrec *r, void *ctx);
bool sess_ours(const struct kstate *k, const char *cur);
int sess_jlog(struct kp_session *s, enum kp_jop op, const struct kstate *k,
	      struct kp_jrec *r, bool sync);
struct kp_jrec *sess_rec_new(void);
void sess_foreign(struct kp_session *s, struct kstate *k, const char *cur);
int sess_undo_knob(struct kp_session *s, struct kstate *k, const char *target,
		   const char *why_text);
int sess_recover_crashed(struct kp_session *s);
void sess_archive_if_clean(struct kp_session *s);

/* session.c */
int sess_open(const struct kp_session_opts *o, struct kp_session **out,
	      char *why, size_t len, bool recover);
const struct kp_knob *sess_def_for(struct kp_session *s, const char *name);

/* apply.c, invariants.c, guardrails.c */
int sess_write_journaled(struct kp_session *s, struct kstate *k, const char *old,
			 const char *new, const char *why_text, char *why, size_t len);
int sess_env_err(int err, const char *name, char *why, size_t len);
int sess_check_invariants(struct kp_session *s, struct pending *p, int n, char *why,
			  size_t len);
int sess_abort(struct kp_session *s, const char *why);

#endif
