// SPDX-License-Identifier: GPL-2.0
/*
 * Sessions: the one path from a proposal to the system.  Knowledge of every
 * knob kpilot ever wrote comes from replaying the journal, so a session, a
 * crash recovery and `kpilot rollback` all see the same truth.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "actuate/cgroup.h"
#include "lib/log.h"
#include "safety/session.h"
#include "actuate/sysctl.h"
#include "lib/clock.h"
#include "lib/text.h"

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
	struct kp_target t;
	unsigned long long nsino;
	bool dry_run, keep;
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

	bool have_ref;
	double ref;
	int bad, failed;
	bool aborted;
};

static volatile sig_atomic_t stop_flag;
static int session_seq;

static void on_signal(int sig)
{
	if (stop_flag)
		signal(sig, SIG_DFL);	/* a second one while restoring: the user insists */
	stop_flag = 1;
}

void kp_safety_catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

bool kp_safety_stop_requested(void)
{
	return stop_flag;
}

static bool is_cgroup(const char *name)
{
	return !strncmp(name, "cgroup:", 7);
}

/* ---- actuator dispatch ------------------------------------------------ */

static int act_read(const struct kp_target *t, const char *name, char *text, char *raw,
		    size_t len)
{
	char path[KP_NAME_MAX], attr[KP_NAME_MAX];
	int err;

	if (!is_cgroup(name)) {
		err = kp_sysctl_read(t, name, text, len);
		if (!err && raw)
			snprintf(raw, len, "%s", text);
		return err;
	}
	if (kp_knob_cgroup_split(name, path, attr))
		return -EINVAL;
	return kp_cg_read(t, path, attr, text, raw, len);
}

static int act_write(const struct kp_target *t, const char *name, const char *text, bool raw)
{
	char path[KP_NAME_MAX], attr[KP_NAME_MAX];

	if (!is_cgroup(name))
		return kp_sysctl_write(t, name, text);
	if (kp_knob_cgroup_split(name, path, attr))
		return -EINVAL;
	return raw ? kp_cg_write_raw(t, path, attr, text) : kp_cg_write(t, path, attr, text);
}

static void act_file(const struct kp_target *t, const char *name, char *buf, size_t len)
{
	char path[KP_NAME_MAX], attr[KP_NAME_MAX];

	buf[0] = '\0';
	if (!is_cgroup(name))
		kp_sysctl_path(t->root, name, buf, len);
	else if (!kp_knob_cgroup_split(name, path, attr))
		kp_cg_file(t, path, attr, buf, len);
}

/* Write, then read back: the value must be what we asked for. */
static int write_verify(const struct kp_target *t, const char *name, const char *text,
			bool raw, char *why, size_t len)
{
	char got[KP_VALUE_MAX], gotraw[KP_VALUE_MAX];
	int err;

	err = act_write(t, name, text, raw);
	if (err) {
		snprintf(why, len, "%s: writing '%s' failed: %s", name, text, strerror(-err));
		return err == -EINVAL || err == -ERANGE ? -EIO : err;
	}
	err = act_read(t, name, got, gotraw, sizeof(got));
	if (err) {
		snprintf(why, len, "%s: reading back failed: %s", name, strerror(-err));
		return -EIO;
	}
	if (strcmp(raw ? gotraw : got, text)) {
		snprintf(why, len, "%s: wrote '%s' but read back '%s'", name, text,
			 raw ? gotraw : got);
		return -EIO;
	}
	return 0;
}

/* ---- knob state ------------------------------------------------------- */

static struct kstate *kfind(struct kp_session *s, const char *root, const char *netns,
			    const char *name, bool create)
{
	struct kstate *k;
	int i;

	for (i = 0; i < s->nk; i++) {
		k = &s->k[i];
		if (!strcmp(k->name, name) && !strcmp(k->root, root) && !strcmp(k->netns, netns))
			return k;
	}
	if (!create)
		return NULL;
	k = realloc(s->k, (s->nk + 1) * sizeof(*k));
	if (!k)
		return NULL;
	s->k = k;
	k = &s->k[s->nk++];
	memset(k, 0, sizeof(*k));
	snprintf(k->name, sizeof(k->name), "%s", name);
	snprintf(k->root, sizeof(k->root), "%s", root);
	snprintf(k->netns, sizeof(k->netns), "%s", netns);
	return k;
}

static struct jsess *jsfind(struct kp_session *s, const char *sid)
{
	int i;

	for (i = s->njs - 1; i >= 0; i--)	/* the latest of that name */
		if (!strcmp(s->js[i].sid, sid))
			return &s->js[i];
	return NULL;
}

static int replay_one(const struct kp_jrec *r, void *ctx)
{
	struct kp_session *s = ctx;
	struct kstate *k = NULL;
	struct jsess *js;
	int i;

	if (r->knob[0]) {
		/* the journal names files we will write: trust no name in it */
		if (kp_knob_name_check(r->knob, NULL, 0) || kp_knob_denied(r->knob) ||
		    r->root[0] != '/' || strstr(r->root, "..")) {
			kp_warn("journal: record %lld names a knob kpilot would never write "
				"('%.64s'): ignored", r->seq, r->knob);
			return 0;
		}
		k = kfind(s, r->root, r->netns, r->knob, true);
		if (!k)
			return -ENOMEM;
	}
	switch (r->op) {
	case KP_J_BEGIN:
		js = realloc(s->js, (s->njs + 1) * sizeof(*js));
		if (!js)
			return -ENOMEM;
		s->js = js;
		js = &s->js[s->njs++];
		memset(js, 0, sizeof(*js));
		snprintf(js->sid, sizeof(js->sid), "%s", r->sid);
		snprintf(js->cmd, sizeof(js->cmd), "%s", r->cmd);
		js->pid = r->pid;
		break;
	case KP_J_ORIG:
		k->has_orig = true;
		k->dropped = false;
		k->nsino = r->nsino;
		snprintf(k->orig, sizeof(k->orig), "%s", r->value);
		snprintf(k->raw, sizeof(k->raw), "%s", r->raw);
		snprintf(k->expected, sizeof(k->expected), "%s", r->value);
		k->intent_old[0] = '\0';
		break;
	case KP_J_CHANGE:
		snprintf(k->intent_old, sizeof(k->intent_old), "%s", r->old);
		snprintf(k->expected, sizeof(k->expected), "%s", r->new);
		k->last_seq = r->seq;
		k->prev_t = k->last_t;
		k->last_t = r->t;
		js = jsfind(s, r->sid);
		if (!js)
			break;
		for (i = 0; i < js->n && js->t[i].k != k - s->k; i++)
			;
		if (i == js->n) {
			struct touch *t = realloc(js->t, (js->n + 1) * sizeof(*t));

			if (!t)
				return -ENOMEM;
			js->t = t;
			js->n++;
			t[i].k = k - s->k;
			snprintf(t[i].start, sizeof(t[i].start), "%s", r->old);
		}
		js->t[i].seq = r->seq;
		break;
	case KP_J_FAIL:
		/* unknown: the write may have half happened; it does not count as one */
		k->expected[0] = '\0';
		k->last_t = k->prev_t;
		break;
	case KP_J_RESTORE:
		snprintf(k->expected, sizeof(k->expected), "%s", r->value);
		k->intent_old[0] = '\0';
		k->last_seq = r->seq;
		break;
	case KP_J_FOREIGN:
		k->dropped = true;
		break;
	case KP_J_COMMIT:
	case KP_J_END:
	case KP_J_RECOVERED:
		js = jsfind(s, r->sid);
		if (js)
			js->closed = true;
		break;
	case KP_J_ROLLBACK:
		for (i = 0; i < s->njs; i++)
			s->js[i].closed = true;
		break;
	default:
		break;
	}
	return 0;
}

/* Is the value found one kpilot can have left there? */
static bool ours(const struct kstate *k, const char *cur)
{
	return !k->expected[0] || !strcmp(cur, k->expected) ||
	       (k->intent_old[0] && !strcmp(cur, k->intent_old));
}

/* ---- journal helpers -------------------------------------------------- */

static int jlog(struct kp_session *s, enum kp_jop op, const struct kstate *k,
		struct kp_jrec *r, bool sync)
{
	struct kp_jrec b;
	int err;

	if (!s->j)
		return s->dry_run ? 0 : -EROFS;
	if (!s->begun && op != KP_J_ROLLBACK) {
		memset(&b, 0, sizeof(b));
		b.op = KP_J_BEGIN;
		snprintf(b.sid, sizeof(b.sid), "%s", s->sid);
		b.pid = getpid();
		snprintf(b.cmd, sizeof(b.cmd), "%s", s->cmd);
		snprintf(b.mode, sizeof(b.mode), "%s", s->keep ? "keep" : "restore");
		snprintf(b.root, sizeof(b.root), "%s", s->root);
		snprintf(b.netns, sizeof(b.netns), "%s", s->netns);
		b.t = s->clock();
		err = kp_journal_append(s->j, &b, false);
		if (err)
			return err;
		s->begun = true;
		replay_one(&b, s);
	}
	r->op = op;
	r->t = s->clock();
	snprintf(r->sid, sizeof(r->sid), "%s", s->sid);
	if (k) {
		snprintf(r->knob, sizeof(r->knob), "%s", k->name);
		snprintf(r->root, sizeof(r->root), "%s", k->root);
		snprintf(r->netns, sizeof(r->netns), "%s", k->netns);
		r->nsino = k->nsino;
	}
	err = kp_journal_append(s->j, r, sync);
	if (err)
		return err;
	return replay_one(r, s);
}

static struct kp_jrec *rec_new(void)
{
	return calloc(1, sizeof(struct kp_jrec));
}

/* ---- targets for knobs from any session ------------------------------- */

/* The target a journaled knob lives in; *fd gets a netns fd to close. */
static int target_for(struct kp_session *s, const struct kstate *k, struct kp_target *t, int *fd)
{
	struct stat st;

	*fd = -1;
	t->root = k->root;
	t->netns_fd = -1;
	t->cg_version = is_cgroup(k->name) ? kp_cg_detect(k->root) : 0;
	if (is_cgroup(k->name) && t->cg_version < 0)
		return -ENOENT;
	if (!k->netns[0])
		return 0;
	if (s->t.netns_fd >= 0 && !strcmp(k->netns, s->netns) && k->nsino == s->nsino) {
		t->netns_fd = s->t.netns_fd;
		return 0;
	}
	*fd = kp_netns_open(k->netns);
	if (*fd < 0)
		return *fd;
	if (fstat(*fd, &st) || (k->nsino && st.st_ino != k->nsino)) {
		close(*fd);
		*fd = -1;
		return -ENOENT;		/* a different namespace took the name */
	}
	t->netns_fd = *fd;
	return 0;
}

static void foreign(struct kp_session *s, struct kstate *k, const char *cur)
{
	struct kp_jrec *r = rec_new();

	kp_warn("%s%s%s: changed by someone else (kpilot wrote '%s', now '%s'); "
		"no longer managing it, keeping its value", k->name,
		k->netns[0] ? " in netns " : "", k->netns, k->expected, cur);
	if (r) {
		snprintf(r->value, sizeof(r->value), "%s", cur);
		snprintf(r->new, sizeof(r->new), "%s", k->expected);
		snprintf(r->why, sizeof(r->why), "value changed outside kpilot");
		if (jlog(s, KP_J_FOREIGN, k, r, true))
			kp_warn("journal: cannot record that %s is no longer managed", k->name);
		free(r);
	}
	k->dropped = true;
}

/* Its namespace or cgroup no longer exists: nothing left to restore. */
static void gone(struct kp_session *s, struct kstate *k, int err)
{
	struct kp_jrec *r = rec_new();

	kp_info("%s%s%s: %s; nothing to restore", k->name, k->netns[0] ? " in netns " : "",
		k->netns, err == -ENOENT ? "gone" : strerror(-err));
	if (r) {
		snprintf(r->why, sizeof(r->why), "gone: %s", strerror(-err));
		jlog(s, KP_J_FOREIGN, k, r, true);
		free(r);
	}
	k->dropped = true;
}

/*
 * Put one knob back to target (the original, or the value before a session).
 * Leaves it alone when someone else changed it since kpilot's last write.
 */
static int undo_knob(struct kp_session *s, struct kstate *k, const char *target,
		     const char *why_text)
{
	char cur[KP_VALUE_MAX], why[512];
	struct kp_target t;
	struct kp_jrec *r;
	bool raw;
	int fd, err;

	if (k->dropped)
		return 0;
	err = target_for(s, k, &t, &fd);
	if (err == -ENOENT) {
		gone(s, k, err);
		return 0;
	}
	if (err) {
		kp_err("%s: cannot reach it to restore '%s': %s", k->name, target, strerror(-err));
		return err;
	}
	err = act_read(&t, k->name, cur, NULL, sizeof(cur));
	if (err == -ENOENT) {
		gone(s, k, err);
		err = 0;
		goto out;
	}
	if (err) {
		kp_err("%s: cannot read it to restore '%s': %s", k->name, target, strerror(-err));
		goto out;
	}
	raw = k->raw[0] && !strcmp(target, k->orig);
	if (!strcmp(cur, target) && !raw)
		goto done;
	if (strcmp(cur, target) && !ours(k, cur)) {
		foreign(s, k, cur);
		goto out;
	}
	err = write_verify(&t, k->name, raw ? k->raw : target, raw, why, sizeof(why));
	if (err) {
		kp_err("restore failed: %s", why);
		goto out;
	}
	kp_info("%s%s%s: %s -> %s (%s)", k->name, k->netns[0] ? " in netns " : "", k->netns,
		cur, target, why_text);
done:
	r = rec_new();
	if (!r) {
		err = -ENOMEM;
		goto out;
	}
	snprintf(r->value, sizeof(r->value), "%s", target);
	snprintf(r->why, sizeof(r->why), "%s", why_text);
	err = jlog(s, KP_J_RESTORE, k, r, false);
	free(r);
out:
	if (fd >= 0)
		close(fd);
	return err;
}

static int cmp_touch(const void *a, const void *b)
{
	const struct touch *x = a, *y = b;

	return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

/* Undo the changes of sessions that died without closing, newest first. */
static int recover_crashed(struct kp_session *s)
{
	int i, m, err = 0;

	for (i = 0; i < s->njs; i++) {
		struct kp_jrec *r;
		int n = s->js[i].n;

		if (s->js[i].closed || !strcmp(s->js[i].sid, s->sid))
			continue;
		if (n)
			kp_warn("kpilot %s (pid %d, session %s) did not finish: undoing its %d change%s",
				s->js[i].cmd[0] ? s->js[i].cmd : "?", s->js[i].pid, s->js[i].sid, n,
				n == 1 ? "" : "s");
		qsort(s->js[i].t, n, sizeof(*s->js[i].t), cmp_touch);
		/* s->js moves when our own begin record is journaled: index, not pointer */
		for (m = 0; m < n; m++) {
			struct touch *t = &s->js[i].t[m];
			char start[KP_VALUE_MAX];
			int e;

			snprintf(start, sizeof(start), "%s", t->start);
			e = undo_knob(s, &s->k[t->k], start, "recovery after a crash");
			if (e && !err)
				err = e;
		}
		r = rec_new();
		if (!r)
			return -ENOMEM;
		/* jlog stamps our own sid: this record names the dead session */
		snprintf(r->sid, sizeof(r->sid), "%s", s->js[i].sid);
		r->op = KP_J_RECOVERED;
		if (s->j && !kp_journal_append(s->j, r, true))
			s->js[i].closed = true;
		free(r);
	}
	return err;
}

/* Nothing left to restore: every managed knob holds its original. */
static bool all_clean(const struct kp_session *s)
{
	int i;

	for (i = 0; i < s->nk; i++) {
		const struct kstate *k = &s->k[i];

		if (k->has_orig && !k->dropped && strcmp(k->expected, k->orig))
			return false;
	}
	return true;
}

static void archive_if_clean(struct kp_session *s)
{
	char dst[4400];
	int i, err;

	if (!s->j || !kp_journal_nonempty(s->j) || !all_clean(s))
		return;
	for (i = 0; i < s->njs; i++)
		if (!s->js[i].closed && strcmp(s->js[i].sid, s->sid))
			return;
	err = kp_journal_archive(s->j, dst, sizeof(dst));
	if (err) {
		kp_warn("journal: cannot archive: %s", strerror(-err));
		return;
	}
	kp_debug("journal archived to %s", dst);
	/* a fresh journal starts: forget the old one's knobs and sessions */
	for (i = 0; i < s->njs; i++)
		free(s->js[i].t);
	free(s->js);
	s->js = NULL;
	s->njs = 0;
	for (i = 0; i < s->nk; i++) {
		struct kstate *k = &s->k[i];

		k->has_orig = false;
		k->expected[0] = k->intent_old[0] = '\0';
		k->dropped = false;
	}
	s->begun = false;
}

/* ---- open / close ----------------------------------------------------- */

static void session_free(struct kp_session *s)
{
	int i;

	if (!s)
		return;
	if (s->allow) {
		for (i = 0; s->allow[i]; i++)
			free(s->allow[i]);
		free(s->allow);
	}
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

static int session_open(const struct kp_session_opts *o, struct kp_session **out,
			char *why, size_t len, bool recover)
{
	struct kp_session *s;
	struct stat st;
	bool torn = false;
	int i, n, err;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->t.netns_fd = -1;
	snprintf(s->root, sizeof(s->root), "%s", o->root && *o->root ? o->root : "/");
	snprintf(s->state_dir, sizeof(s->state_dir), "%s",
		 o->state_dir && *o->state_dir ? o->state_dir : KP_STATE_DIR_DEFAULT);
	snprintf(s->cmd, sizeof(s->cmd), "%s", o->cmd ? o->cmd : "session");
	s->dry_run = o->dry_run;
	s->keep = o->keep;
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
	s->t.cg_version = kp_cg_detect(s->root);
	if (s->t.cg_version < 0)
		s->t.cg_version = 0;

	if (o->allow) {
		for (n = 0; o->allow[n]; n++)
			;
		s->allow = calloc(n + 1, sizeof(*s->allow));
		if (!s->allow) {
			err = -ENOMEM;
			goto fail;
		}
		for (i = 0; i < n; i++)
			if (!(s->allow[i] = strdup(o->allow[i]))) {
				err = -ENOMEM;
				goto fail;
			}
	}
	if (o->netns && *o->netns) {
		snprintf(s->netns, sizeof(s->netns), "%s", o->netns);
		s->t.netns_fd = kp_netns_open(o->netns);
		if (s->t.netns_fd < 0) {
			err = s->t.netns_fd;
			snprintf(why, len, "cannot open network namespace '%s': %s", o->netns,
				 err == -EINVAL ? "bad name" : strerror(-err));
			goto fail;
		}
		if (!fstat(s->t.netns_fd, &st))
			s->nsino = st.st_ino;
	}

	err = kp_journal_open(s->state_dir, &s->j, why, len);
	if (err) {
		s->j = NULL;
		if (!s->dry_run || err == -EBUSY)
			goto fail;
		kp_debug("dry run without a journal: %s", why);
	}
	/* before anything else: what earlier runs left behind */
	err = kp_journal_replay(s->j ? kp_journal_path(s->j) : "/nonexistent", replay_one, s,
				&torn);
	if (err) {
		snprintf(why, len, "cannot read the journal in %s: %s", s->state_dir,
			 strerror(-err));
		goto fail;
	}
	if (torn)
		kp_warn("journal: the last record was torn (power lost mid-write?); "
			"everything before it is used");
	if (s->j && recover) {
		recover_crashed(s);
		archive_if_clean(s);
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
	return session_open(o, out, why, len, true);
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
	return 0;
}

int kp_session_restore(struct kp_session *s)
{
	int *idx, i, m = 0, err = 0;

	idx = calloc(s->nk + 1, sizeof(*idx));
	if (!idx)
		return -ENOMEM;
	for (i = 0; i < s->nk; i++)
		if (s->k[i].touched)
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
		int e = undo_knob(s, k, k->start, "session ends");

		if (e && !err)
			err = e;
		if (!e)
			k->touched = false;
	}
	free(idx);
	return err;
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
		r = rec_new();
		if (r) {
			if (jlog(s, s->keep ? KP_J_COMMIT : KP_J_END, NULL, r, true))
				kp_warn("journal: cannot record the end of the session");
			free(r);
		}
		archive_if_clean(s);
	}
	session_free(s);
	return err;
}

bool kp_session_aborted(const struct kp_session *s)
{
	return s->aborted;
}

/* ---- definitions ------------------------------------------------------ */

static const struct kp_knob *def_for(struct kp_session *s, const char *name)
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
	return def_for(s, name);
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
	k.kind = is_cgroup(k.name) ? KP_KNOB_CGROUP : KP_KNOB_SYSCTL;
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
	    k.type > KP_VT_CPULIST) {
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

/* ---- apply ------------------------------------------------------------ */

struct pending {
	struct kp_change *c;
	const struct kp_knob *def;
	int ki;				/* index into s->k, which may move */
	struct kp_value old, nv;
	bool clamped, unchanged;
	long long delta_mc;		/* cpu.max: change in millicores, for ordering */
};

int kp_session_read(struct kp_session *s, const char *knob, char *buf, size_t len)
{
	char why[256];

	if (kp_knob_name_check(knob, why, sizeof(why)))
		return -EINVAL;
	if (is_cgroup(knob) && !s->t.cg_version)
		return -ENOENT;
	return act_read(&s->t, knob, buf, NULL, len);
}

static int env_err(int err, const char *name, char *why, size_t len)
{
	if (err == -ENOENT)
		snprintf(why, len, "%s: not present on this system", name);
	else
		snprintf(why, len, "%s: %s", name, strerror(-err));
	return err == -EINVAL ? -EIO : err;
}

/* Value of a knob in the batch if it is there, else on the system. */
static int proposed(struct kp_session *s, struct pending *p, int n, const char *name,
		    struct kp_value *v)
{
	const struct kp_knob *d;
	char text[KP_VALUE_MAX];
	int i;

	for (i = 0; i < n; i++)
		if (!strcmp(p[i].c->knob, name)) {
			*v = p[i].nv;
			return 0;
		}
	d = def_for(s, name);
	if (!d || act_read(&s->t, name, text, NULL, sizeof(text)))
		return -ENOENT;
	return kp_value_parse(d, text, v, NULL, 0);
}

static int check_invariants(struct kp_session *s, struct pending *p, int n, char *why, size_t len)
{
	static const char *const pairs[][2] = {
		{ "vm.dirty_background_ratio", "vm.dirty_ratio" },
		{ "vm.dirty_background_bytes", "vm.dirty_bytes" },
	};
	struct kp_value a, b;
	long long sum = 0;
	bool any = false;
	size_t q;
	int i;

	for (q = 0; q < sizeof(pairs) / sizeof(pairs[0]); q++) {
		for (i = 0; i < n; i++)
			if (!strcmp(p[i].c->knob, pairs[q][0]) || !strcmp(p[i].c->knob, pairs[q][1]))
				break;
		if (i == n)
			continue;
		if (proposed(s, p, n, pairs[q][0], &a) || proposed(s, p, n, pairs[q][1], &b))
			continue;
		if (kp_check_dirty(pairs[q][0], a.v[0], pairs[q][1], b.v[0], why, len))
			return -EINVAL;
	}
	if (s->budget <= 0)
		return 0;
	/* the session's operators: every cpu.max it set before or sets now */
	for (i = 0; i < n; i++) {
		if (p[i].def->type != KP_VT_CPUMAX)
			continue;
		any = true;
		sum += kp_cpumax_millicores(&p[i].nv, s->ncpus);
	}
	if (!any)
		return 0;
	for (i = 0; i < s->nk; i++) {
		struct kstate *k = &s->k[i];
		const struct kp_knob *d;
		struct kp_value v;
		int m;

		if (!k->touched || k->dropped || strcmp(k->root, s->root))
			continue;
		d = def_for(s, k->name);
		if (!d || d->type != KP_VT_CPUMAX)
			continue;
		for (m = 0; m < n && strcmp(p[m].c->knob, k->name); m++)
			;
		if (m < n)
			continue;
		if (kp_value_parse(d, k->expected, &v, NULL, 0))
			continue;
		sum += kp_cpumax_millicores(&v, s->ncpus);
	}
	return kp_check_budget(sum, s->budget, why, len);
}

static int validate_one(struct kp_session *s, struct pending *p, char *why, size_t len)
{
	struct kp_change *c = p->c;
	char cur[KP_VALUE_MAX], err2[256], parent[KP_VALUE_MAX], avail[KP_VALUE_MAX];
	char path[KP_NAME_MAX], attr[KP_NAME_MAX];
	const struct kp_knob *builtin;
	struct kstate *k;
	int err;

	if (!c->knob || !c->value) {
		snprintf(why, len, "a change needs a knob and a value");
		return -EINVAL;
	}
	if (kp_validate_name(c->knob, (const char *const *)s->allow, why, len))
		return -EINVAL;
	p->def = def_for(s, c->knob);
	if (!p->def) {
		snprintf(why, len, "%s: not in the knob table (a session may add it with bounds)",
			 c->knob);
		return -EINVAL;
	}
	if (kp_validate_netns(p->def, c->knob, s->netns[0] ? s->netns : NULL, why, len))
		return -EINVAL;
	if (kp_value_parse(p->def, c->value, &p->nv, err2, sizeof(err2))) {
		snprintf(why, len, "%s: %s", c->knob, err2);
		return -EINVAL;
	}
	if (is_cgroup(c->knob) && !s->t.cg_version) {
		snprintf(why, len, "%s: no cgroup hierarchy under %s", c->knob, s->root);
		return -ENOENT;
	}
	err = act_read(&s->t, c->knob, cur, NULL, sizeof(cur));
	if (err)
		return env_err(err, c->knob, why, len);
	if (kp_value_parse(p->def, cur, &p->old, err2, sizeof(err2))) {
		snprintf(why, len, "%s: cannot understand its current value: %s", c->knob, err2);
		return -EIO;
	}
	snprintf(c->old, sizeof(c->old), "%s", cur);
	k = kfind(s, s->root, s->netns, c->knob, true);
	if (!k)
		return -ENOMEM;
	p->ki = k - s->k;
	if (k->touched && k->dropped) {
		snprintf(why, len, "%s: no longer managed (someone else changed it)", c->knob);
		return -EINVAL;
	}
	if (k->expected[0] && !k->dropped && !ours(k, cur)) {
		if (k->touched) {
			foreign(s, k, cur);
			snprintf(why, len, "%s: changed by someone else; no longer managed", c->knob);
			return -EINVAL;
		}
		/* a value left by an earlier kpilot run and since changed: theirs now */
		if (!s->dry_run)
			foreign(s, k, cur);
	}
	if (p->def->type == KP_VT_CPUMAX && !p->nv.v[1])
		p->nv.v[1] = p->old.v[1];
	if (kp_value_eq(&p->old, &p->nv)) {
		p->unchanged = true;
		snprintf(c->applied, sizeof(c->applied), "%s", cur);
		c->status = KP_CH_UNCHANGED;
		return 0;
	}
	if (kp_validate_value(p->def, c->knob, &p->old, &p->nv, s->policy, s->ncpus, s->clock(),
			      k->dropped ? 0 : k->last_t, &p->clamped, why, len))
		return -EINVAL;
	builtin = kp_knob_builtin(c->knob);
	if (builtin && builtin != p->def) {
		bool clamped2 = false;

		if (kp_validate_value(builtin, c->knob, &p->old, &p->nv, s->policy, s->ncpus,
				      s->clock(), k->dropped ? 0 : k->last_t, &clamped2, why, len))
			return -EINVAL;
		p->clamped |= clamped2;
	}
	if (!strcmp(c->knob, "net.ipv4.tcp_congestion_control") &&
	    !kp_sysctl_read(&s->t, "net.ipv4.tcp_available_congestion_control", avail,
			    sizeof(avail)) && !kp_word_in(avail, p->nv.s)) {
		/* anything else would make the kernel load a module */
		snprintf(why, len, "%s: '%s' is not available on this kernel (available: %s)",
			 c->knob, p->nv.s, avail);
		return -EINVAL;
	}
	if (p->def->type == KP_VT_CPULIST) {
		if (!p->nv.s[0]) {
			snprintf(why, len, "%s: empty CPU list", c->knob);
			return -EINVAL;
		}
		kp_knob_cgroup_split(c->knob, path, attr);
		err = kp_cg_parent_cpus(&s->t, path, parent, sizeof(parent));
		if (err)
			return env_err(err, c->knob, why, len);
		if (kp_check_cpuset(c->knob, p->nv.s, parent, why, len))
			return -EINVAL;
	}
	if (p->def->type == KP_VT_CPUMAX)
		p->delta_mc = kp_cpumax_millicores(&p->nv, s->ncpus) -
			      kp_cpumax_millicores(&p->old, s->ncpus);
	kp_value_format(&p->nv, c->applied, sizeof(c->applied));
	/* clamping may land back on the current value */
	if (p->clamped && kp_value_eq(&p->old, &p->nv)) {
		p->unchanged = true;
		c->status = KP_CH_UNCHANGED;
	}
	return 0;
}

static int write_one(struct kp_session *s, struct pending *p, const char *reason,
		     char *why, size_t len)
{
	struct kstate *k = &s->k[p->ki];
	struct kp_jrec *r;
	char cur_raw[KP_VALUE_MAX], cur[KP_VALUE_MAX];
	int err;

	r = rec_new();
	if (!r)
		return -ENOMEM;
	if (!k->has_orig || k->dropped) {
		err = act_read(&s->t, k->name, cur, cur_raw, sizeof(cur));
		if (err) {
			free(r);
			return env_err(err, k->name, why, len);
		}
		k->nsino = s->nsino;
		snprintf(r->value, sizeof(r->value), "%s", cur);
		if (strcmp(cur, cur_raw))
			snprintf(r->raw, sizeof(r->raw), "%s", cur_raw);
		act_file(&s->t, k->name, r->path, sizeof(r->path));
		err = jlog(s, KP_J_ORIG, k, r, true);
		if (err)
			goto jfail;
		memset(r, 0, sizeof(*r));
	}
	snprintf(r->old, sizeof(r->old), "%s", p->c->old);
	snprintf(r->new, sizeof(r->new), "%s", p->c->applied);
	snprintf(r->why, sizeof(r->why), "%s%s", reason ? reason : "",
		 p->clamped ? " (step clamped)" : "");
	err = jlog(s, KP_J_CHANGE, k, r, true);	/* durable before the write */
	if (err)
		goto jfail;
	if (!k->touched) {
		k->touched = true;
		snprintf(k->start, sizeof(k->start), "%s", p->c->old);
	}
	k->sess_seq = k->last_seq;
	err = write_verify(&s->t, k->name, p->c->applied, false, why, len);
	if (err) {
		memset(r, 0, sizeof(*r));
		snprintf(r->why, sizeof(r->why), "%s", why);
		jlog(s, KP_J_FAIL, k, r, true);
		free(r);
		return err;
	}
	k->last_t = s->clock();
	p->c->status = p->clamped ? KP_CH_CLAMPED : KP_CH_APPLIED;
	kp_info("%s%s%s: %s -> %s (%s%s)", k->name, k->netns[0] ? " in netns " : "", k->netns,
		p->c->old, p->c->applied, reason ? reason : "no reason given",
		p->clamped ? ", step clamped" : "");
	free(r);
	return 0;
jfail:
	snprintf(why, len, "journal %s: cannot write: %s", kp_journal_path(s->j), strerror(-err));
	free(r);
	return err;
}

/* Decreases of CPU quota first, so the sum stays within budget at every instant. */
static int cmp_pending(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;

	return x->delta_mc < y->delta_mc ? -1 : x->delta_mc > y->delta_mc;
}

static int abort_session(struct kp_session *s, const char *why)
{
	kp_err("aborting: %s; restoring every knob this session changed", why);
	kp_session_restore(s);
	s->aborted = true;
	return -ECANCELED;
}

int kp_session_apply(struct kp_session *s, struct kp_change *ch, int n, const char *reason,
		     char *why, size_t len)
{
	struct pending *p;
	char tmp[512];
	int i, m, err = 0, done = 0;

	if (s->aborted) {
		snprintf(why, len, "the session was aborted by its guardrails");
		return -ECANCELED;
	}
	if (n <= 0)
		return 0;
	p = calloc(n, sizeof(*p));
	if (!p)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		ch[i].status = KP_CH_NOT_DONE;
		ch[i].old[0] = ch[i].applied[0] = '\0';
		p[i].c = &ch[i];
	}
	for (i = 0; i < n; i++) {
		err = validate_one(s, &p[i], why, len);
		if (err)
			goto refused;
		for (m = 0; m < i; m++) {
			if (!strcmp(ch[m].knob, ch[i].knob)) {
				snprintf(why, len, "%s: given twice", ch[i].knob);
				err = -EINVAL;
				goto refused;
			}
		}
	}
	err = check_invariants(s, p, n, why, len);
	if (err)
		goto refused;
	if (s->dry_run) {
		for (i = 0; i < n; i++)
			if (!p[i].unchanged)
				ch[i].status = KP_CH_DRY_RUN;
		goto out;
	}
	qsort(p, n, sizeof(*p), cmp_pending);
	for (i = 0; i < n; i++) {
		if (p[i].unchanged)
			continue;
		if (kp_safety_stop_requested()) {
			snprintf(why, len, "interrupted by a signal");
			err = -EINTR;
			break;
		}
		err = write_one(s, &p[i], reason, why, len);
		if (err)
			break;
		done = i + 1;
	}
	if (!err) {
		goto out;
	}
	/* undo this batch, including the knob that failed half-way */
	for (i = (err == -EINTR ? done : done + 1) - 1; i >= 0; i--) {
		if (p[i].unchanged || i >= n)
			continue;
		if (undo_knob(s, &s->k[p[i].ki], p[i].c->old, "batch undone"))
			kp_err("%s: could not undo; `kpilot rollback` will restore it",
			       p[i].c->knob);
		p[i].c->status = KP_CH_NOT_DONE;
	}
	if (err == -EIO || err == -EACCES || err == -EPERM) {
		if (++s->failed >= s->max_failed) {
			snprintf(tmp, sizeof(tmp), "%d failed steps in a row (last: %s)",
				 s->failed, why);
			abort_session(s, tmp);
		}
	}
	goto out;
refused:
	for (i = 0; i < n; i++)
		ch[i].status = KP_CH_NOT_DONE;
out:
	free(p);
	return err;
}

/* ---- guardrails ------------------------------------------------------- */

static void snapshot_good(struct kp_session *s)
{
	int i;

	for (i = 0; i < s->nk; i++) {
		struct kstate *k = &s->k[i];

		if (!k->touched)
			continue;
		k->has_good = true;
		snprintf(k->good, sizeof(k->good), "%s", k->expected);
	}
}

static int revert_to_good(struct kp_session *s, const char *why_text)
{
	char why[512], cur[KP_VALUE_MAX];
	int i, err = 0;

	for (i = 0; i < s->nk; i++) {
		struct kstate *k = &s->k[i];
		const char *target;
		struct kp_jrec *r;
		int e;

		if (!k->touched || k->dropped)
			continue;
		/* untouched when the snapshot was taken: it held its start value */
		target = k->has_good ? k->good : k->start;
		if (!strcmp(target, k->expected))
			continue;
		if (!act_read(&s->t, k->name, cur, NULL, sizeof(cur)) && !ours(k, cur)) {
			foreign(s, k, cur);
			continue;
		}
		r = rec_new();
		if (!r)
			return -ENOMEM;
		snprintf(r->old, sizeof(r->old), "%s", k->expected);
		snprintf(r->new, sizeof(r->new), "%s", target);
		snprintf(r->why, sizeof(r->why), "%s", why_text);
		e = jlog(s, KP_J_CHANGE, k, r, true);
		if (!e)
			e = write_verify(&s->t, k->name, target, false, why, sizeof(why));
		if (e) {
			kp_err("guardrail revert of %s failed: %s", k->name, e == -EIO ? why : strerror(-e));
			if (!err)
				err = e;
		} else {
			k->last_t = s->clock();
			kp_info("%s: %s -> %s (%s)", k->name, r->old, target, why_text);
		}
		free(r);
	}
	return err;
}

int kp_session_report(struct kp_session *s, double reward)
{
	char why[256];

	if (s->aborted)
		return -ECANCELED;
	s->failed = 0;
	if (reward != reward)	/* NaN: a broken measurement is a failed step */
		return kp_session_step_failed(s, "reward is NaN");
	if (!s->have_ref || reward >= s->ref - s->thr * (s->ref < 0 ? -s->ref : s->ref)) {
		s->have_ref = true;
		s->ref = reward;
		s->bad = 0;
		snapshot_good(s);
		return 0;
	}
	if (++s->bad < s->regress_steps)
		return 0;
	snprintf(why, sizeof(why),
		 "guardrail: reward below %.6g (last known-good) by more than %.0f%% for %d steps",
		 s->ref, s->thr * 100, s->bad);
	kp_warn("%s; reverting to the last known-good configuration", why);
	s->bad = 0;
	if (revert_to_good(s, why) && ++s->failed >= s->max_failed)
		return abort_session(s, "the revert to known-good failed");
	return 1;
}

int kp_session_step_failed(struct kp_session *s, const char *reason)
{
	char why[512];

	if (s->aborted)
		return -ECANCELED;
	if (++s->failed < s->max_failed) {
		kp_warn("step failed (%d of %d in a row): %s", s->failed, s->max_failed,
			reason ? reason : "?");
		return 0;
	}
	snprintf(why, sizeof(why), "%d failed steps in a row (last: %s)", s->failed,
		 reason ? reason : "?");
	return abort_session(s, why);
}

int kp_session_check(struct kp_session *s)
{
	char cur[KP_VALUE_MAX];
	int i, n = 0;

	for (i = 0; i < s->nk; i++) {
		struct kstate *k = &s->k[i];

		if (!k->touched || k->dropped || strcmp(k->root, s->root) ||
		    strcmp(k->netns, s->netns))
			continue;
		if (act_read(&s->t, k->name, cur, NULL, sizeof(cur)))
			continue;
		if (!ours(k, cur)) {
			foreign(s, k, cur);
			n++;
		}
	}
	return n;
}

int kp_safety_trusted_file(const char *path, char *why, size_t len)
{
	struct stat st;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		snprintf(why, len, "%s: %s", path,
			 err == -ELOOP ? "is a symlink; give the file itself" : strerror(-err));
		return err;
	}
	if (fstat(fd, &st)) {
		err = -errno;
		snprintf(why, len, "%s: %s", path, strerror(-err));
	} else if (!S_ISREG(st.st_mode)) {
		snprintf(why, len, "%s: not a regular file", path);
		err = -EPERM;
	} else if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(why, len, "%s: owned by uid %u, not root: it would run commands as root",
			 path, (unsigned)st.st_uid);
		err = -EPERM;
	} else if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, len, "%s: group- or world-writable (mode %04o); chmod go-w it",
			 path, (unsigned)(st.st_mode & 07777));
		err = -EPERM;
	}
	close(fd);
	return err;
}

/* ---- kpilot rollback -------------------------------------------------- */

static int cmp_kseq(const void *a, const void *b, void *ctx)
{
	const struct kp_session *s = ctx;
	const struct kstate *x = &s->k[*(const int *)a], *y = &s->k[*(const int *)b];

	return x->last_seq < y->last_seq ? 1 : x->last_seq > y->last_seq ? -1 : 0;
}

static const char *list_action(struct kp_session *s, struct kstate *k, char *cur, size_t len)
{
	struct kp_target t;
	int fd;

	cur[0] = '\0';
	if (k->dropped)
		return "keep (changed by someone else)";
	if (target_for(s, k, &t, &fd))
		return "skip (namespace or cgroup gone)";
	if (act_read(&t, k->name, cur, NULL, len)) {
		snprintf(cur, len, "?");
		if (fd >= 0)
			close(fd);
		return "skip (cannot read)";
	}
	if (fd >= 0)
		close(fd);
	if (!strcmp(cur, k->orig))
		return "nothing (already original)";
	if (!ours(k, cur))
		return "keep (changed by someone else)";
	return "restore";
}

int kp_safety_rollback(const char *state_dir, bool list, bool json, FILE *out,
		       char *why, size_t len)
{
	struct kp_session_opts o = { .state_dir = state_dir, .cmd = "rollback", .keep = true,
				     .dry_run = list };
	struct kp_session *s;
	struct kp_jrec *r;
	int *idx, i, m = 0, err, e;

	err = session_open(&o, &s, why, len, !list);
	if (err)
		return err;
	idx = calloc(s->nk + 1, sizeof(*idx));
	if (!idx) {
		kp_session_close(s);
		return -ENOMEM;
	}
	for (i = 0; i < s->nk; i++)
		if (s->k[i].has_orig)
			idx[m++] = i;
	qsort_r(idx, m, sizeof(*idx), cmp_kseq, s);
	if (list) {
		char cur[KP_VALUE_MAX];

		json_t *arr = json_array();

		if (!json && m)
			fprintf(out, "%-40s %-12s %-24s %-24s %s\n", "KNOB", "NETNS", "NOW",
				"ORIGINAL", "ACTION");
		for (i = 0; i < m; i++) {
			struct kstate *k = &s->k[idx[i]];
			const char *act = list_action(s, k, cur, sizeof(cur));

			if (json)
				json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}",
					"knob", k->name, "netns", k->netns, "root", k->root,
					"now", cur, "original", k->orig, "action", act));
			else
				fprintf(out, "%-40s %-12s %-24s %-24s %s\n", k->name,
					k->netns[0] ? k->netns : "-", cur, k->orig, act);
		}
		if (json) {
			json_dumpf(arr, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			fputc('\n', out);
		} else if (!m)
			fprintf(out, "nothing to restore\n");
		json_decref(arr);
		free(idx);
		kp_session_close(s);
		return 0;
	}
	for (i = 0; i < m; i++) {
		struct kstate *k = &s->k[idx[i]];

		e = undo_knob(s, k, k->orig, "kpilot rollback");
		if (e && !err) {
			err = e;
			snprintf(why, len, "%s: could not be restored (see above)", k->name);
		}
	}
	free(idx);
	if (!err && s->j && kp_journal_nonempty(s->j)) {
		r = rec_new();
		if (r) {
			jlog(s, KP_J_ROLLBACK, NULL, r, true);
			free(r);
		}
		for (i = 0; i < s->njs; i++)
			s->js[i].closed = true;
		archive_if_clean(s);
	}
	kp_session_close(s);
	return err;
}
