// SPDX-License-Identifier: GPL-2.0
/*
 * One interval of a sysctl policy: measure the objective since the last
 * step, learn from it, and maybe change the knobs (through kp_pol_apply).
 *
 * A trial is one interval under one configuration: the change is made right
 * after the figures were read, so the next interval runs wholly under it.
 * An interval with fewer samples than the metric needs (no connections), or
 * for a rate source fewer fresh reports than min_samples (or none carrying
 * the metric), is not a measurement: nothing is learnt and nothing changes.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/policy_sysctl.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "observe/metrics.h"
#include "safety/session.h"

double sk_reward(const struct sk_priv *k, double m)
{
	double b = k->base > 1e-9 ? k->base : 1e-9;

	return k->minimize ? (k->base - m) / b : (m - k->base) / b;
}

double sk_unit(const struct sk_knob *k, const char *text)
{
	char *end;
	long long v = strtoll(text, &end, 10);

	return kp_knob_to_unit(&k->span, v);
}

static const struct kp_dm_acc *find_op(const struct kp_pol_env *e, const char *name)
{
	for (int i = 0; i < e->fig->nops; i++)
		if (!strcmp(e->fig->ops[i].name, name))
			return &e->fig->ops[i];
	return NULL;
}

static void hist_diff(const __u64 *a, const __u64 *b, __u64 *d)
{
	for (int i = 0; i < KP_HIST_SLOTS; i++)
		d[i] = a[i] >= b[i] ? a[i] - b[i] : 0;
}

static __u64 dsub(__u64 a, __u64 b)
{
	return a >= b ? a - b : 0;
}

/* The objective over [prev, now]: 0 and *m, or -EAGAIN (too few samples). */
static int metric_of(const struct sk_priv *k, const struct kp_dm_acc *a, double dt, double *m)
{
	const struct kp_dm_acc *b = &k->prev;
	__u64 h[KP_HIST_SLOTS], n;

	switch (k->metric) {
	case SK_CONNECT_P99:
	case SK_CONNECT_P50:
		hist_diff(a->conn_hist, b->conn_hist, h);
		break;
	case SK_RUNQ_P99:
		hist_diff(a->runq_hist, b->runq_hist, h);
		break;
	case SK_IO_P99:
		hist_diff(a->io_hist, b->io_hist, h);
		break;
	case SK_CONN_RATE:
		n = dsub(a->tcp_active_opens, b->tcp_active_opens) +
		    dsub(a->tcp_passive_opens, b->tcp_passive_opens);
		*m = n / dt;
		return (int)n >= k->min_samples ? 0 : -EAGAIN;
	default:
		n = dsub(a->cpu_ns, b->cpu_ns);
		*m = n / 1e9 / dt;
		return n > 0 ? 0 : -EAGAIN;
	}
	n = kp_hist_total(h, KP_HIST_SLOTS);
	*m = kp_hist_percentile(h, KP_HIST_SLOTS, k->metric == SK_CONNECT_P50 ? 50 : 99);
	return n >= (__u64)k->min_samples ? 0 : -EAGAIN;
}

/*
 * The rate source's objective since the last step: 0 and *m, or -EAGAIN
 * (too few reports, none with the metric, or the source failed: said once
 * in the log, and in last_error until a measurement).
 */
static int rate_of(struct kp_policy *p, struct sk_priv *k, double now, double *m)
{
	struct pp_meas pm;
	int ret = pp_src_take(&k->src, &k->rdesc, now, &pm);

	if (!ret && pm.lines < k->min_samples)
		snprintf(k->src.error, sizeof(k->src.error), "%d report%s from the rate source "
			 "in the last interval, %d needed", pm.lines, pm.lines == 1 ? "" : "s",
			 k->min_samples);
	else if (!ret && !isfinite(pm.throughput))
		snprintf(k->src.error, sizeof(k->src.error), "the rate source's %d report%s in "
			 "the last interval have no number \"%s\"", pm.lines,
			 pm.lines == 1 ? "" : "s", k->rate_metric);
	if (!k->src.error[0]) {
		k->src_error[0] = '\0';
		k->reports += (unsigned long long)pm.lines;
		*m = pm.throughput;
		return 0;
	}
	if (strcmp(k->src_error, k->src.error))
		kp_info("policy %s: interval skipped: %s", p->name, k->src.error);
	snprintf(k->src_error, sizeof(k->src_error), "%s", k->src.error);
	snprintf(p->last_error, sizeof(p->last_error), "%s", k->src.error);
	return -EAGAIN;
}

/* The configuration in place, in units. */
static void cur_units(const struct sk_priv *k, double *u)
{
	for (int i = 0; i < k->nk; i++)
		u[i] = sk_unit(&k->k[i], k->k[i].cur);
}

static bool cur_is_best(const struct sk_priv *k)
{
	for (int i = 0; i < k->nk; i++)
		if (strcmp(k->k[i].cur, k->k[i].best))
			return false;
	return true;
}

static void remember(struct sk_priv *k, const double *u, double m)
{
	if (k->nhist == SK_MAX_HIST) {	/* the oldest goes: the workload drifts */
		memmove(k->hist_u[0], k->hist_u[1], sizeof(k->hist_u[0]) * (SK_MAX_HIST - 1));
		memmove(&k->hist_m[0], &k->hist_m[1], sizeof(k->hist_m[0]) * (SK_MAX_HIST - 1));
		k->nhist--;
	}
	memcpy(k->hist_u[k->nhist], u, sizeof(double) * k->nk);
	k->hist_m[k->nhist++] = m;
}

static bool better(const struct sk_priv *k, double a, double b)
{
	return k->minimize ? a < b : a > b;
}

/* A measurement of what is in place: the incumbent, the agent, the regression count. */
static void learn(struct kp_policy *p, double m)
{
	struct sk_priv *k = p->priv;
	double u[SK_MAX_KNOBS];
	int ret;

	cur_units(k, u);
	p->last_reward = sk_reward(k, m);
	p->have_reward = true;
	if (cur_is_best(k)) {
		/* the incumbent again: its figure is the mean of its measurements */
		k->best = (k->best * k->best_n + m) / (k->best_n + 1);
		k->best_n++;
	} else if (better(k, m, k->best)) {
		for (int i = 0; i < k->nk; i++)
			snprintf(k->k[i].best, sizeof(k->k[i].best), "%s", k->k[i].cur);
		k->best = m;
		k->best_n = 1;
	}
	if (k->minimize ? m > k->best * (1 + k->regress_thr) : m < k->best * (1 - k->regress_thr))
		k->bad++;
	else
		k->bad = 0;
	/* production mode learns nothing; ppo learns what it proposed (what it became) */
	if (!p->exploration || (k->ro && !k->pending))
		return;
	remember(k, u, m);
	p->updates++;
	if (!k->ro)
		return;
	ret = kp_rollout_tell(k->ro, u, NULL, p->last_reward);
	k->pending = false;
	if (ret)
		snprintf(p->last_error, sizeof(p->last_error), "agent: %s", strerror(-ret));
}

/* The next configuration, in units: the agent's, or the incumbent's. */
static int propose(struct kp_policy *p, double *u, const char **src)
{
	struct sk_priv *k = p->priv;
	int ret;

	if (!p->exploration || k->reverting || k->to_best) {
		for (int i = 0; i < k->nk; i++)
			u[i] = sk_unit(&k->k[i], k->k[i].best);
		*src = k->reverting ? "revert to the last known-good values" :
		       k->to_best ? "the checkpoint's incumbent" : "the incumbent";
		return 0;
	}
	if (!k->ro) {
		for (int i = 0; i < k->nk; i++)
			u[i] = kp_rng_uniform(&k->rng) * 2 - 1;
		*src = "random trial";
		return 0;
	}
	ret = kp_rollout_propose(k->ro, u);
	if (ret)
		return ret;
	k->pending = true;
	*src = "ppo trial";
	return 0;
}

/* Knobs whose minimum interval is over, moved to u; the others wait. */
static int apply(struct kp_policy *p, struct kp_pol_env *e, const double *u, const char *src)
{
	struct sk_priv *k = p->priv;
	struct kp_change ch[SK_MAX_KNOBS];
	char val[SK_MAX_KNOBS][32], why[256];
	int n = 0, idx[SK_MAX_KNOBS], ret;

	for (int i = 0; i < k->nk; i++) {
		struct sk_knob *s = &k->k[i];
		struct kp_pol_knob *pk = kp_pol_knob(p, s->name);
		double gap = s->span.min_interval_ms / 1000.0;

		snprintf(val[i], sizeof(val[i]), "%lld", kp_knob_from_unit(&s->span, u[i]));
		if (!strcmp(val[i], s->cur) || (pk && pk->overridden) ||
		    (s->last_write && kp_mono_s() - s->last_write < gap + 0.1))
			continue;
		memset(&ch[n], 0, sizeof(ch[n]));
		ch[n].knob = s->name;
		ch[n].value = val[i];
		idx[n++] = i;
	}
	if (!n)
		return 0;
	snprintf(why, sizeof(why), "%s (%s %s %.6g, incumbent %.6g)", src,
		 sk_metric_name(k), "last", k->last, k->best);
	ret = kp_pol_apply(p, e, ch, n, why);
	snprintf(k->last_why, sizeof(k->last_why), "%s", src);
	if (ret)
		return ret;
	for (int j = 0; j < n; j++) {
		struct sk_knob *s = &k->k[idx[j]];

		if (ch[j].status != KP_CH_APPLIED && ch[j].status != KP_CH_CLAMPED)
			continue;
		snprintf(s->cur, sizeof(s->cur), "%s", ch[j].applied);
		s->last_write = kp_mono_s();	/* the agent may have taken a while since e->now */
		if (k->reverting) {
			struct kp_pol_knob *pk = kp_pol_knob(p, s->name);

			if (pk)
				pk->reverts++;
		}
	}
	return 0;
}

/* The baseline: the original values' objective; a checkpoint's history joins the agent. */
static int baseline(struct kp_policy *p, double m)
{
	struct sk_priv *k = p->priv;
	int ret;

	k->have_base = true;
	k->base = m;
	if (!k->loaded) {
		k->best = m;
		k->best_n = 1;
	}
	k->to_best = k->loaded;
	kp_info("policy %s: baseline %s %.6g at the original values%s", p->name,
		sk_metric_name(k), m, k->loaded ? "; the checkpoint's incumbent is "
		"tried next" : "");
	p->last_reward = 0;
	p->have_reward = true;
	ret = !strcmp(p->agent, "ppo") && p->exploration ? sk_agent_open(p) : 0;
	if (ret)
		snprintf(p->last_error, sizeof(p->last_error), "agent: %s", strerror(-ret));
	return ret;
}

/* After a sustained regression: every knob back to the incumbent, then trials again. */
static void check_regression(struct kp_policy *p)
{
	struct sk_priv *k = p->priv;

	if (cur_is_best(k))
		k->reverting = k->to_best = false;
	if (k->bad < k->regress_n || k->reverting)
		return;
	kp_warn("policy %s: %s %.6g is worse than the known-good %.6g by more than %.0f%% for "
		"%d intervals: sustained regression", p->name,
		sk_metric_name(k), k->last, k->best, k->regress_thr * 100, k->bad);
	k->bad = 0;
	if (cur_is_best(k)) {
		/* nothing better is known: the workload changed under the incumbent */
		kp_info("policy %s: the known-good values are in place: their figure is now %.6g",
			p->name, k->last);
		k->best = k->last;
		k->best_n = 1;
		return;
	}
	k->reverting = true;
	p->reverts++;
}

static bool in_holdoff(const struct kp_policy *p, const struct kp_pol_env *e)
{
	/* the step runs a little after the hold-off's end it set one interval ago */
	return e->now + p->interval_ms / 10000.0 < p->holdoff_until;
}

/* A knob someone else set is theirs: its value is part of what is measured, never moved. */
static void sync_overridden(struct kp_policy *p)
{
	struct sk_priv *k = p->priv;

	for (int i = 0; i < k->nk; i++) {
		struct kp_pol_knob *pk = kp_pol_knob(p, k->k[i].name);

		if (!pk || !pk->overridden || !strcmp(pk->value, k->k[i].cur))
			continue;
		snprintf(k->k[i].cur, sizeof(k->k[i].cur), "%s", pk->value);
		snprintf(k->k[i].best, sizeof(k->k[i].best), "%s", pk->value);
	}
}

/* The objective since the last step: 0 and *m, or -EAGAIN (no measurement, or the first). */
static int measure(struct kp_policy *p, struct kp_pol_env *e, double *m)
{
	struct sk_priv *k = p->priv;
	const struct kp_dm_acc *a;
	int ret;

	if (k->metric == SK_RATE)
		return rate_of(p, k, e->now, m);
	a = find_op(e, k->op);
	if (!a)
		return -ENOENT;
	if (!k->have_prev || e->now <= k->prev_t) {
		k->prev = *a;
		k->prev_t = e->now;
		k->have_prev = true;
		return -ENOENT;
	}
	ret = metric_of(k, a, e->now - k->prev_t, m);
	k->prev = *a;
	k->prev_t = e->now;
	return ret;
}

int sk_step(struct kp_policy *p, struct kp_pol_env *e)
{
	struct sk_priv *k = p->priv;
	double u[SK_MAX_KNOBS], m;
	const char *src = "";
	int ret;

	sync_overridden(p);
	ret = measure(p, e, &m);
	if (ret == -ENOENT)
		return 0;
	if (ret) {
		k->skipped++;
		return 0;
	}
	k->measured++;
	k->last = m;
	if (!k->have_base)
		ret = baseline(p, m);
	else
		learn(p, m);
	check_regression(p);
	if (ret || in_holdoff(p, e) || (k->ro && k->pending))
		return 0;
	ret = propose(p, u, &src);
	return ret ?: apply(p, e, u, src);
}
