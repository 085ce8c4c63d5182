// SPDX-License-Identifier: GPL-2.0
/*
 * Sessions: open (lock, recover what crashed sessions left), the knob
 * definitions a session uses, restore and close.  Applying changes is in
 * apply.c, the guardrails in guardrails.c, the journal's replay in replay.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "actuate/cgroup.h"
#include "actuate/sysctl.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "safety/session_impl.h"

static int session_seq;

static void free_list(char **l)
{
	int i;

	for (i = 0; l && l[i]; i++)
		free(l[i]);
	free(l);
}

static void session_free(struct kp_session *s)
{
	int i;

	if (!s)
		return;
	free_list(s->allow);
	free_list(s->allow_risky);
	for (i = 0; i < s->njs; i++)
		free(s->js[i].t);
	free(s->js);
	free(s->k);
	free(s->defs);
	if (s->t.netns_fd >= 0)
		close(s->t.netns_fd);
	kp_journal_close(s->j);
	free(s);
}

static int copy_list(char ***out, const char *const *in)
{
	int i, n;

	if (!in)
		return 0;
	for (n = 0; in[n]; n++)
		;
	*out = calloc(n + 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		if (!((*out)[i] = strdup(in[i])))
			return -ENOMEM;
	return 0;
}

static int open_netns(struct kp_session *s, const char *netns, char *why, size_t len)
{
	struct stat st;
	int err;

	if (!netns || !*netns)
		return 0;
	snprintf(s->netns, sizeof(s->netns), "%s", netns);
	s->t.netns_fd = kp_netns_open(netns);
	if (s->t.netns_fd < 0) {
		err = s->t.netns_fd;
		snprintf(why, len, "cannot open network namespace '%s': %s", netns,
			 err == -EINVAL ? "bad name" : strerror(-err));
		return err;
	}
	if (!fstat(s->t.netns_fd, &st))
		s->nsino = st.st_ino;
	return 0;
}

int sess_open(const struct kp_session_opts *o, struct kp_session **out,
	      char *why, size_t len, bool recover)
{
	struct kp_session *s;
	bool torn = false;
	int err;

	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(why, len, "cannot allocate a session (%zu bytes)", sizeof(*s));
		return -ENOMEM;
	}
	s->t.netns_fd = -1;
	snprintf(s->root, sizeof(s->root), "%s", o->root && *o->root ? o->root : "/");
	snprintf(s->state_dir, sizeof(s->state_dir), "%s",
		 o->state_dir && *o->state_dir ? o->state_dir : KP_STATE_DIR_DEFAULT);
	snprintf(s->cmd, sizeof(s->cmd), "%s", o->cmd ? o->cmd : "session");
	s->dry_run = o->dry_run;
	s->keep = o->keep;
	s->quiet_changes = o->quiet_changes;
	s->policy = o->step_policy;
	s->budget = o->cpu_budget;
	s->thr = o->regress_threshold > 0 ? o->regress_threshold : 0.10;
	s->regress_steps = o->regress_steps > 0 ? o->regress_steps : 3;
	s->max_failed = o->max_failed_steps > 0 ? o->max_failed_steps : 3;
	s->clock = o->clock ? o->clock : kp_wall_s;
	s->ncpus = kp_ncpus();
	/* unique even for several sessions of one process within a second */
	snprintf(s->sid, sizeof(s->sid), "%lld-%d-%d", (long long)kp_wall_s(), getpid(),
		 ++session_seq);
	if (s->root[0] != '/' || strstr(s->root, "..")) {
		snprintf(why, len, "root '%s' must be an absolute path without '..'", s->root);
		err = -EINVAL;
		goto fail;
	}
	s->t.root = s->root;
	s->t.store = s->state_dir;
	s->t.cg_version = kp_cg_detect(s->root);
	if (s->t.cg_version < 0)
		s->t.cg_version = 0;

	err = copy_list(&s->allow, o->allow);
	err = err ?: copy_list(&s->allow_risky, o->allow_risky);
	if (err)
		snprintf(why, len, "cannot copy the allowlists: %s", strerror(-err));
	err = err ?: open_netns(s, o->netns, why, len);
	if (err)
		goto fail;
	err = kp_journal_open(s->state_dir, &s->j, why, len);
	if (err) {
		s->j = NULL;
		/* a dry run may lack the rights to lock it, never trust a bad one */
		if (!s->dry_run || err == -EBUSY || err == -EPERM || err == -ENOTDIR)
			goto fail;
		kp_debug("dry run without a journal: %s", why);
	}
	/* before anything else: what earlier runs left behind */
	err = kp_journal_replay(s->j ? kp_journal_path(s->j) : "/nonexistent", sess_replay_one, s,
				&torn);
	if (err) {
		snprintf(why, len, "cannot read the journal in %s: %s", s->state_dir,
			 strerror(-err));
		goto fail;
	}
	if (torn)
		kp_warn("journal: the last record was torn (power lost mid-write?); "
			"everything before it is used");
	if (s->other_root)
		kp_warn("journal: %d record%s name%s root '%.200s', not '%s': ignored, never "
			"written (a fake root is given by the caller, e.g. a test's --root)",
			s->other_root, s->other_root == 1 ? "" : "s",
			s->other_root == 1 ? "s" : "", s->other_root_name, s->root);
	if (s->j && recover) {
		sess_recover_crashed(s);
		sess_archive_if_clean(s);
	}
	*out = s;
	return 0;
fail:
	session_free(s);
	return err;
}

int kp_session_open(const struct kp_session_opts *o, struct kp_session **out,
		    char *why, size_t len)
{
	return sess_open(o, out, why, len, true);
}

static bool cmp_gt_seq(const struct kstate *a, const struct kstate *b)
{
	return a->sess_seq > b->sess_seq;
}

int kp_session_set_netns(struct kp_session *s, const char *netns, char *why, size_t len)
{
	struct stat st;
	int fd = -1;

	if (netns && *netns) {
		fd = kp_netns_open(netns);
		if (fd < 0) {
			snprintf(why, len, "cannot open network namespace '%s': %s", netns,
				 fd == -EINVAL ? "bad name" : strerror(-fd));
			return fd;
		}
	}
	if (s->t.netns_fd >= 0)
		close(s->t.netns_fd);
	s->t.netns_fd = fd;
	snprintf(s->netns, sizeof(s->netns), "%s", fd >= 0 ? netns : "");
	s->nsino = fd >= 0 && !fstat(fd, &st) ? st.st_ino : 0;
	s->own_ns = false;
	return 0;
}

int kp_session_set_own_netns(struct kp_session *s, const char *netns, char *why, size_t len)
{
	int err = kp_session_set_netns(s, netns, why, len);

	s->own_ns = !err && s->t.netns_fd >= 0;
	return err;
}

static int restore(struct kp_session *s, bool setup_too)
{
	int *idx, i, m = 0, err = 0;

	idx = calloc(s->nk + 1, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	for (i = 0; i < s->nk; i++)
		if (s->k[i].touched && (setup_too || !s->k[i].setup))
			idx[m++] = i;
	/* newest change first: invariants held at every step forward hold backward */
	for (i = 1; i < m; i++) {
		int v = idx[i], j = i;

		while (j > 0 && cmp_gt_seq(&s->k[v], &s->k[idx[j - 1]])) {
			idx[j] = idx[j - 1];
			j--;
		}
		idx[j] = v;
	}
	for (i = 0; i < m; i++) {
		struct kstate *k = &s->k[idx[i]];
		int e = sess_undo_knob(s, k, k->start, "session ends");

		if (e && !err)
			err = e;
		if (!e)
			k->touched = false;
	}
	free(idx);
	return err;
}

int kp_session_restore(struct kp_session *s)
{
	return restore(s, true);
}

int kp_session_restore_knobs(struct kp_session *s)
{
	return restore(s, false);
}

int kp_session_close(struct kp_session *s)
{
	struct kp_jrec *r;
	int err = 0;

	if (!s)
		return 0;
	/* a dry run begins a session only when it recovered a crashed one */
	if (s->begun) {
		if (!s->keep && !s->dry_run)
			err = kp_session_restore(s);
		/*
		 * A knob left unrestored keeps the session open in the journal, so
		 * the next start recovers it as it would after a crash.
		 */
		if (err) {
			kp_warn("journal: not every knob was restored; the session stays open for "
				"the next start or `kpilot rollback`");
			session_free(s);
			return err;
		}
		r = sess_rec_new();
		err = r ? sess_jlog(s, s->keep ? KP_J_COMMIT : KP_J_END, NULL, r, true) : -ENOMEM;
		if (err)
			kp_warn("journal: cannot record the end of the session: %s", strerror(-err));
		free(r);
		err = 0;
		sess_archive_if_clean(s);
	}
	session_free(s);
	return err;
}

bool kp_session_aborted(const struct kp_session *s)
{
	return s->aborted;
}

/* ---- definitions ------------------------------------------------------ */

const struct kp_knob *sess_def_for(struct kp_session *s, const char *name)
{
	int i;

	for (i = 0; i < s->ndefs; i++)
		if (!strcmp(s->defs[i].name, name))
			return &s->defs[i];
	return kp_knob_builtin(name);
}

const struct kp_knob *kp_session_knob(struct kp_session *s, const char *name)
{
	char why[256];

	if (kp_validate_name(name, (const char *const *)s->allow, why, sizeof(why)))
		return NULL;
	return sess_def_for(s, name);
}

void kp_session_risk(struct kp_session *s, const char *name, enum kp_risk *side,
		     long long *at, bool *allowed)
{
	const struct kp_knob *k = kp_knob_builtin(name) ?: sess_def_for(s, name);
	const struct kp_knob_hooks *h = kp_knob_hooks(name);
	int i;

	*side = k ? k->risk : KP_RISK_NONE;
	*at = k ? k->risk_at : 0;
	*allowed = false;
	if (*side != KP_RISK_NONE && h && h->risk_at)
		*at = h->risk_at(&s->t, k->risk_at);
	for (i = 0; s->allow_risky && s->allow_risky[i]; i++)
		if (!strcmp(s->allow_risky[i], name))
			*allowed = true;
}

int kp_session_add_knob(struct kp_session *s, const struct kp_knob *in, char *why, size_t len)
{
	const struct kp_knob *b;
	struct kp_knob k = *in, *d;
	const char *deny;

	k.name[KP_NAME_MAX - 1] = '\0';
	if (kp_knob_name_check(k.name, why, len))
		return -EINVAL;
	deny = kp_knob_denied(k.name);
	if (deny) {
		snprintf(why, len, "%s: denied: matches '%s' on the built-in denylist", k.name, deny);
		return -EINVAL;
	}
	b = kp_knob_builtin(k.name);
	k.kind = sess_is_cgroup(k.name) ? KP_KNOB_CGROUP :
		 kp_knob_is_steer(k.name) ? KP_KNOB_STEER : KP_KNOB_SYSCTL;
	if (k.kind == KP_KNOB_CGROUP && !b) {
		snprintf(why, len, "%s: kpilot manages cpu.max, cpu.weight and cpuset.cpus only",
			 k.name);
		return -EINVAL;
	}
	if (b) {
		/* a config may narrow a built-in knob, never widen it */
		k.type = b->type;
		k.arity = b->arity;
		k.per_netns = b->per_netns;
		k.ordered = b->ordered;
		if (k.min < b->min)
			k.min = b->min;
		if (k.max > b->max || k.max == 0)
			k.max = b->max;
		/* a step of its own is checked in addition to the built-in one */
		if (!k.step_abs && !k.step_pct) {
			k.step_abs = b->step_abs;
			k.step_pct = b->step_pct;
		}
		if (k.min_interval_ms < b->min_interval_ms)
			k.min_interval_ms = b->min_interval_ms;
		if (b->type == KP_VT_ENUM)
			memcpy(k.enums, b->enums, sizeof(k.enums));
	}
	if (k.type == KP_VT_INT)
		k.arity = 1;
	if ((k.type == KP_VT_TUPLE && (k.arity < 2 || k.arity > KP_TUPLE_MAX)) ||
	    k.type > KP_VT_WEIGHTS) {
		snprintf(why, len, "%s: bad value type", k.name);
		return -EINVAL;
	}
	if ((k.type == KP_VT_INT || k.type == KP_VT_TUPLE || k.type == KP_VT_CPUMAX) &&
	    k.min > k.max) {
		snprintf(why, len, "%s: empty safe range [%lld, %lld]", k.name, k.min, k.max);
		return -EINVAL;
	}
	if (k.step_abs < 0 || k.step_pct < 0 || k.min_interval_ms < 0) {
		snprintf(why, len, "%s: negative step or interval", k.name);
		return -EINVAL;
	}
	d = realloc(s->defs, (s->ndefs + 1) * sizeof(*d));
	if (!d)
		return -ENOMEM;
	s->defs = d;
	s->defs[s->ndefs++] = k;
	return 0;
}

