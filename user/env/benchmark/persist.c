// SPDX-License-Identifier: GPL-2.0
/*
 * kpilot persist: gate on the confirmation, plan the files (which knob goes
 * where, which cannot be kept), apply the values through a keep-mode safety
 * session, then write the files through the same session, journaled.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "actuate/file.h"
#include "env/benchmark/persist.h"
#include "env/benchmark/results_load.h"
#include "lib/log.h"
#include "safety/session.h"

/* One file being planned: its name and the lines after the header. */
struct plan {
	char unit[KP_NAME_MAX];		/* "" for the sysctl.d file */
	char name[KP_NAME_MAX];
	char body[4096];
};

/* The gate --apply-best has, in its words: a gain that is not confirmed is refused. */
static int gate(const struct kp_saved *r, char *why, size_t len)
{
	const struct kp_confirm *c = &r->conf;

	if (!r->best_trial || !r->nknobs) {
		snprintf(why, len, "refused: no trial beat the baseline; nothing to persist, "
			 "every knob keeps its value");
		return -EDOM;
	}
	if (!r->has_conf) {
		snprintf(why, len, "refused: the gain was not confirmed (the run had --confirm 0); "
			 "nothing written, every knob keeps its value");
		return -EDOM;
	}
	if (!c->n) {
		snprintf(why, len, "refused: nothing confirmed (%s); nothing written, every knob "
			 "keeps its value", c->skipped ? c->skipped : "?");
		return -EDOM;
	}
	if (!c->significant) {
		snprintf(why, len, "refused: the improvement %+.1f%% (95%% CI %+.1f%% to %+.1f%%, "
			 "%d runs each) is not significant; nothing written, every knob keeps its "
			 "value", c->pct, c->pct_lo, c->pct_hi, c->n);
		return -EDOM;
	}
	return 0;
}

/* The unit a cgroup path belongs to (its last component), or why there is none. */
static int cg_unit(const char *path, char *unit, size_t ulen, char *why, size_t len)
{
	const char *last = strrchr(path, '/');
	size_t n;

	last = last ? last + 1 : path;
	n = strlen(last);
	snprintf(unit, ulen, "%s", last);
	if ((n > 8 && !strcmp(last + n - 8, ".service")) || (n > 6 && !strcmp(last + n - 6, ".slice")))
		return 0;
	if (n > 6 && !strcmp(last + n - 6, ".scope"))
		snprintf(why, len, "%.100s is a transient scope: systemd keeps no drop-in for it once it "
			 "ends", last);
	else
		snprintf(why, len, "the cgroup %.100s belongs to no systemd unit (its last component is "
			 "not a .service or .slice), so nothing would apply it at boot", path);
	return -ENOENT;
}

/* One cgroup value as the unit file's directive. */
static int directive(const char *attr, const char *value, char *buf, size_t len)
{
	long long q, p = 100000;
	char word[32];

	if (!strcmp(attr, "cpu.weight"))
		return snprintf(buf, len, "CPUWeight=%s\n", value), 0;
	if (!strcmp(attr, "cpuset.cpus"))
		return snprintf(buf, len, "AllowedCPUs=%s\n", value), 0;
	if (strcmp(attr, "cpu.max"))
		return -EINVAL;
	if (sscanf(value, "%31s %lld", word, &p) < 1 || p <= 0)
		return -EINVAL;
	if (!strcmp(word, "max")) {
		snprintf(buf, len, "CPUQuota=\n");
	} else {
		q = strtoll(word, NULL, 10);
		if (q <= 0)
			return -EINVAL;
		if (q * 100 % p)
			snprintf(buf, len, "CPUQuota=%.2f%%\n", q * 100.0 / p);
		else
			snprintf(buf, len, "CPUQuota=%lld%%\n", q * 100 / p);
	}
	if (p != 100000)
		snprintf(buf + strlen(buf), len - strlen(buf), "CPUQuotaPeriodSec=%lldus\n", p);
	return 0;
}

static struct plan *plan_for(struct plan *pl, int *n, const char *unit, const char *workload)
{
	int i;

	for (i = 0; i < *n; i++)
		if (!strcmp(pl[i].unit, unit))
			return &pl[i];
	pl = &pl[(*n)++];
	snprintf(pl->unit, sizeof(pl->unit), "%s", unit);
	if (unit[0])
		snprintf(pl->name, sizeof(pl->name), "file:etc/systemd/system/%s.d/90-kpilot-%s.conf",
			 unit, workload);
	else
		snprintf(pl->name, sizeof(pl->name), "file:etc/sysctl.d/90-kpilot-%s.conf", workload);
	snprintf(pl->body, sizeof(pl->body), "%s", unit[0] ? (strstr(unit, ".slice") ?
		 "[Slice]\n" : "[Service]\n") : "");
	return pl;
}

/* One knob into its file's plan; false (and out->refused) when it cannot be kept. */
static bool plan_knob(const struct kp_saved *r, int i, struct plan *pl, int *npl,
		      struct kp_persist_out *out)
{
	char path[KP_NAME_MAX], attr[KP_NAME_MAX], unit[KP_NAME_MAX], line[512], why[300];
	struct plan *p;

	if (strncmp(r->knob[i], "cgroup:", 7)) {
		p = plan_for(pl, npl, "", r->workload);
		snprintf(line, sizeof(line), "%s = %s\n", r->knob[i], r->best[i]);
		goto add;
	}
	if (kp_knob_cgroup_split(r->knob[i], path, attr)) {
		snprintf(why, sizeof(why), "not a cgroup knob name");
		goto refuse;
	}
	if (cg_unit(path, unit, sizeof(unit), why, sizeof(why)))
		goto refuse;
	if (directive(attr, r->best[i], line, sizeof(line))) {
		snprintf(why, sizeof(why), "no unit directive for %.64s '%.64s'", attr, r->best[i]);
		goto refuse;
	}
	p = plan_for(pl, npl, unit, r->workload);
add:
	snprintf(p->body + strlen(p->body), sizeof(p->body) - strlen(p->body), "%s", line);
	return true;
refuse:
	snprintf(out->refused[out->nrefused++], sizeof(out->refused[0]), "%.64s: not persisted: %s",
		 r->knob[i], why);
	return false;
}

static char *file_text(const struct kp_saved *r, const struct plan *p)
{
	char when[64], *text;
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	if (asprintf(&text,
		     "# Written by kpilot persist on %s\n"
		     "# from %s: workload %s, algo %s, best trial %d,\n"
		     "# confirmed %+.1f%% (95%% CI %+.1f%% to %+.1f%%, %d runs each).\n"
		     "# Undo: `kpilot rollback` removes this file and restores the values it replaced;\n"
		     "# by hand: delete this file%s.\n%s",
		     when, r->path, r->workload, r->algo[0] ? r->algo : "?", r->best_trial,
		     r->conf.pct, r->conf.pct_lo, r->conf.pct_hi, r->conf.n,
		     p->unit[0] ? " and run `systemctl daemon-reload`" :
				  " (the values stay until the next boot)", p->body) < 0)
		return NULL;
	return text;
}

/* The best values, within the step limits: clamped steps go on after each knob's interval. */
static int apply_values(struct kp_session *s, const struct kp_saved *r, const bool *keep,
			struct kp_persist_out *out, char *why, size_t len)
{
	struct kp_change ch[KP_RESULTS_MAX_KNOBS];
	int i, n, round, err = 0;
	bool counted[KP_RESULTS_MAX_KNOBS] = { false };

	for (round = 0; round < 20; round++) {
		for (i = n = 0; i < r->nknobs; i++) {
			if (!keep[i])
				continue;
			memset(&ch[n], 0, sizeof(ch[n]));
			ch[n].knob = r->knob[i];
			ch[n++].value = r->best[i];
		}
		err = kp_session_apply(s, ch, n, "kpilot persist", why, len);
		if (err)
			return err;
		for (i = n = 0; i < r->nknobs; i++) {
			if (!keep[i])
				continue;
			if (ch[n].status != KP_CH_UNCHANGED && !counted[i]) {
				counted[i] = true;
				out->napplied++;
			}
			if (ch[n++].status != KP_CH_CLAMPED)
				continue;
			err = 1;
		}
		if (err != 1)
			return 0;
		usleep(1100 * 1000);	/* the table's minimum interval is at most 1 s */
	}
	snprintf(why, len, "the best values were not reached in 20 steps");
	return -EINVAL;
}

/* The files through the session: each write journaled, atomic. */
static int put_files(struct kp_session *s, struct kp_persist_out *out, char *why, size_t len)
{
	int i, err;

	for (i = 0; i < out->nfiles; i++) {
		err = kp_session_put_file(s, out->files[i].name, out->files[i].text,
					  "kpilot persist", why, len);
		if (err)
			return err;
	}
	return 0;
}

static int plan_all(const struct kp_saved *r, bool *keep, struct kp_persist_out *out,
		    const char *root, char *why, size_t len)
{
	struct plan pl[KP_RESULTS_MAX_KNOBS + 1];
	struct kp_target t = { .root = root ? root : "/", .netns_fd = -1 };
	int i, npl = 0, nkeep = 0;

	for (i = 0; i < r->nknobs; i++)
		nkeep += keep[i] = plan_knob(r, i, pl, &npl, out);
	if (!nkeep) {
		snprintf(why, len, "refused: no knob of %s can be persisted (%s)", r->path,
			 out->nrefused ? out->refused[0] : "none");
		return -EINVAL;
	}
	for (i = 0; i < npl; i++) {
		struct kp_persist_file *f = &out->files[out->nfiles];

		snprintf(f->name, sizeof(f->name), "%s", pl[i].name);
		if (!kp_file_name_ok(f->name) || kp_file_path(&t, f->name, f->path, sizeof(f->path))) {
			snprintf(why, len, "refused: %s is not a name kpilot writes (workload '%s')",
				 f->name + 5, r->workload);
			return -EINVAL;
		}
		f->text = file_text(r, &pl[i]);
		if (!f->text)
			return -ENOMEM;
		out->nfiles++;
	}
	return 0;
}

int kp_persist(const struct kp_persist_opts *o, struct kp_persist_out *out, char *why,
	       size_t len)
{
	struct kp_session_opts so = { .root = o->root, .state_dir = o->state_dir, .cmd = "persist",
				      .keep = true, .dry_run = o->dry_run,
				      .step_policy = KP_STEP_CLAMP, .allow_risky = o->allow_risky };
	bool keep[KP_RESULTS_MAX_KNOBS] = { false };
	struct kp_session *s = NULL;
	struct kp_saved r;
	int err;

	memset(out, 0, sizeof(*out));
	err = kp_saved_load(o->results, &r, why, len);
	if (err)	/* an unreadable file is the environment, not a refusal */
		return err == -EINVAL ? -EBADMSG : err;
	err = gate(&r, why, len);
	err = err ?: plan_all(&r, keep, out, o->root, why, len);
	err = err ?: kp_session_open(&so, &s, why, len);
	if (err)
		goto out;
	err = apply_values(s, &r, keep, out, why, len);
	err = err ?: put_files(s, out, why, len);
	if (err)	/* all or nothing: what this session did is undone */
		kp_session_restore(s);
	kp_session_close(s);
out:
	kp_saved_free(&r);
	return err;
}

void kp_persist_out_free(struct kp_persist_out *out)
{
	int i;

	for (i = 0; i < out->nfiles; i++)
		free(out->files[i].text);
	out->nfiles = 0;
}
