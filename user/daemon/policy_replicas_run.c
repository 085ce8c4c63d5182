// SPDX-License-Identifier: GPL-2.0
/*
 * One interval of a replicas policy: read the steering's per-slot counters
 * (pinned maps) and each replica operator's CPU and run-queue wait (the
 * daemon's figures), turn them into a state and a reward, let the agent
 * choose, and apply the weights through kp_pol_apply (validator, journal).
 * The kernel only reads the weights map: nothing here is on the connection
 * path. Documentation/daemon.md, "The replicas policy", has the state, the
 * reward and the actions.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "daemon/figures.h"
#include "daemon/policy_replicas.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "safety/session.h"

#define RP_BALANCE	0.2	/* weight of the balance term */
#define RP_FAIL		10.0	/* weight of the failed-selection fraction */
#define RP_GAP_S	1.05	/* the knob's 1 s minimum interval, with slack */

double rp_avg_recent(const struct rp_priv *r)
{
	double s = 0;

	for (int i = 0; i < r->nrecent; i++)
		s += r->recent[i];
	return r->nrecent ? s / r->nrecent : 0;
}

static const struct kp_dm_acc *acc_of(const struct kp_pol_env *e, const char *name)
{
	for (int k = 0; k < e->fig->nops; k++)
		if (!strcmp(e->fig->ops[k].name, name))
			return &e->fig->ops[k];
	return NULL;
}

static unsigned long long since(unsigned long long now, unsigned long long *prev)
{
	unsigned long long d = now >= *prev ? now - *prev : 0;

	*prev = now;
	return d;
}

/* The interval's figures per replica; the connection rate. */
static void measure(struct rp_priv *r, const struct kp_pol_env *e,
		    const struct kp_steer_stats *s, double dt)
{
	unsigned long long total = 0;

	for (int i = 0; i < r->n; i++) {
		struct rp_replica *x = &r->r[i];
		const struct kp_dm_acc *a = acc_of(e, x->op);
		unsigned long long cpu = since(a ? a->cpu_ns : 0, &x->cpu_prev);
		unsigned long long rq = since(a ? a->runq_ns : 0, &x->runq_prev);

		x->selected = since(s->slot[i].selected, &x->sel_prev);
		x->failed = since(s->slot[i].failed, &x->fail_prev);
		x->active = s->active[i] > 0 ? s->active[i] : 0;
		x->cpu = dt > 0 ? cpu / 1e9 / dt : 0;
		x->runq = dt > 0 ? fmin(rq / 1e9 / dt, 1) : 0;
		/* in-flight connections (queue depth), or waiting for a CPU, whichever shows more */
		x->congestion = fmax((double)x->active / (1.0 + x->active), x->runq);
		if (s->cfg.mode == KP_STEER_WEIGHTS)
			x->weight = s->weights[i];
		total += x->selected;
		r->failed_total += x->failed;
	}
	for (int i = 0; i < r->n; i++)
		r->r[i].share = total ? (double)r->r[i].selected / total : 0;
	r->rate = dt > 0 ? total / dt : 0;
}

/*
 * -L + 0.2 B - 10 F: L the congestion the traffic met (each replica's
 * weighted by its share of the new connections), B one minus the spread of
 * the congestion across replicas, F the failed selections per new connection.
 */
static double reward(const struct rp_priv *r)
{
	double lat = 0, lo = 1, hi = 0, fail = 0, sel = 0;

	for (int i = 0; i < r->n; i++) {
		const struct rp_replica *x = &r->r[i];

		lat += x->share * x->congestion;
		lo = fmin(lo, x->congestion);
		hi = fmax(hi, x->congestion);
		fail += (double)x->failed;
		sel += (double)x->selected;
	}
	return -lat + RP_BALANCE * (1 - (hi - lo)) - RP_FAIL * fail / fmax(sel, 1);
}

static void observe(const struct rp_priv *r, float *o)
{
	for (int i = 0; i < r->n; i++) {
		const struct rp_replica *x = &r->r[i];
		float *f = o + i * RP_FEAT;

		f[0] = (float)x->share;
		f[1] = (float)x->congestion;
		f[2] = (float)x->runq;
		f[3] = (float)fmin(x->cpu, 4);
		f[4] = (float)x->weight / 1000.0f;
	}
	o[r->n * RP_FEAT] = (float)(log1p(r->rate) / 10);
}

/* Action a (0 no-op, else a move from i to j) on the weights in force. 0: nothing moves. */
static int decode(const struct rp_priv *r, int a, int *from, int *to)
{
	int k = a - 1, m;

	if (a < 1 || a >= RP_ACTIONS(r->n))
		return 0;
	*from = k / (r->n - 1);
	*to = k % (r->n - 1);
	if (*to >= *from)
		(*to)++;
	m = r->delta;
	if ((int)r->r[*from].weight - m < (int)kp_steer_knob.min)
		m = (int)r->r[*from].weight - (int)kp_steer_knob.min;
	if ((int)r->r[*to].weight + m > (int)kp_steer_knob.max)
		m = (int)kp_steer_knob.max - (int)r->r[*to].weight;
	return m > 0 ? m : 0;
}

void rp_action_text(const struct rp_priv *r, int a, char *buf, size_t len)
{
	int i, j, m = decode(r, a, &i, &j);

	if (!m)
		snprintf(buf, len, "no-op");
	else
		snprintf(buf, len, "move %d %s -> %s", m, r->r[i].op, r->r[j].op);
}

/* Prequal's hot-cold rule on what the kernel shows: weights ~ 1 / ((1 + in flight)(1 + 10 wait)). */
static void prequal(const struct rp_priv *r, __u32 *w)
{
	double inv[RP_MAX], sum = 0;

	for (int i = 0; i < r->n; i++) {
		inv[i] = 1 / ((1.0 + r->r[i].active) * (1 + 10 * r->r[i].runq));
		sum += inv[i];
	}
	for (int i = 0; i < r->n; i++) {
		double v = inv[i] / sum * r->n * r->init_weight;

		w[i] = (__u32)fmax(kp_steer_knob.min, fmin(kp_steer_knob.max, round(v)));
	}
}

/* The weights w through the session. 0 applied, 1 nothing to do, -errno refused. */
static int put(struct kp_policy *p, struct rp_priv *r, struct kp_pol_env *e, const __u32 *w,
	       const char *what)
{
	struct kp_change ch = { .knob = r->knob };
	char val[KP_VALUE_MAX] = "", why[300];
	const char *t = ch.applied;
	bool same = true;
	int ret;

	for (int i = 0; i < r->n; i++) {
		snprintf(val + strlen(val), sizeof(val) - strlen(val), "%s%u", i ? " " : "", w[i]);
		same &= w[i] == r->r[i].weight;
	}
	if (same)
		return 1;
	ch.value = val;
	snprintf(why, sizeof(why), "%s %s (reward %.3f)", p->agent, what, p->last_reward);
	ret = kp_pol_apply(p, e, &ch, 1, why);
	if (ret) {
		r->refused_actions++;
		return ret;
	}
	if (ch.status != KP_CH_APPLIED && ch.status != KP_CH_CLAMPED)
		return 1;	/* overridden: the admin's */
	r->last_write = kp_mono_s();
	/* the applied (maybe clamped) text is what the kernel has now */
	for (int i = 0; i < r->n; i++) {
		char *end;
		unsigned long v = strtoul(t, &end, 10);

		r->r[i].weight = end != t ? (__u32)v : w[i];
		t = end;
	}
	return 0;
}

/* The agent's choice, applied: the action that took effect (0 when nothing moved). */
static int act(struct kp_policy *p, struct rp_priv *r, struct kp_pol_env *e, const float *o)
{
	__u32 w[RP_MAX] = { 0 };
	int a = 0, i, j, m;
	char what[120];

	for (int k = 0; k < r->n; k++)
		w[k] = r->r[k].weight;
	if (r->agent == RP_PREQUAL) {
		prequal(r, w);
		snprintf(what, sizeof(what), "hot-cold weights");
	} else {
		if (r->agent == RP_DQN && kp_dqn_act(r->q, o, &a))
			a = 0;
		else if (r->agent == RP_RANDOM)
			a = (int)kp_rng_below(&r->rng, (uint32_t)RP_ACTIONS(r->n));
		m = decode(r, a, &i, &j);
		if (m) {
			w[i] -= (__u32)m;
			w[j] += (__u32)m;
		}
		rp_action_text(r, a, what, sizeof(what));
	}
	snprintf(r->last_why, sizeof(r->last_why), "%s", what);
	/* too soon for the knob: the agent's choice counts as a no-op, as it is one */
	if (kp_mono_s() - r->last_write < RP_GAP_S) {
		snprintf(r->last_why, sizeof(r->last_why), "no-op (the knob's 1 s interval)");
		return 0;
	}
	if (put(p, r, e, w, what)) {
		if (r->agent != RP_PREQUAL && strcmp(what, "no-op"))
			snprintf(r->last_why, sizeof(r->last_why), "no-op (%s refused)", what);
		return 0;
	}
	return a;
}

static void remember(struct kp_policy *p, struct rp_priv *r, double rew)
{
	r->recent[r->recent_at] = rew;
	r->recent_at = (r->recent_at + 1) % RP_RECENT;
	if (r->nrecent < RP_RECENT)
		r->nrecent++;
	p->last_reward = rew;
	p->have_reward = true;
}

int rp_step(struct kp_policy *p, struct kp_pol_env *e)
{
	struct rp_priv *r = p->priv;
	struct kp_steer_stats s;
	float o[RP_OBS(RP_MAX)];
	double dt = e->now - r->t_prev;
	int ret;

	ret = kp_steer_stats_read(r->service, &s);
	if (ret == -ENOENT) {
		char why[512];

		/* rolled back (`ctl rollback`, then `ctl resume`): steer again, from equal weights */
		kp_info("policy %s: service %s is not steered: attaching again", p->name,
			r->service);
		if (rp_steer_up(p, e, why, sizeof(why)))
			snprintf(p->last_error, sizeof(p->last_error), "%s", why);
		r->t_prev = e->now;
		return 0;
	}
	if (ret) {
		snprintf(p->last_error, sizeof(p->last_error), "service %s: steering maps: %s",
			 r->service, strerror(-ret));
		return 0;
	}
	if (r->unjournaled) {
		char why[512];

		/* refused (within 1 s of a rollback's write): the next step tries again */
		if (!rp_equal_weights(p, e, why, sizeof(why)))
			r->t_prev = e->now;
		return 0;
	}
	measure(r, e, &s, dt);
	r->t_prev = e->now;
	if (!r->have_prev) {
		/* the counters so far are history: the first interval starts now */
		r->have_prev = true;
		r->failed_total = 0;
		return 0;
	}
	observe(r, o);
	remember(p, r, reward(r));
	if (r->q && r->have_obs && p->exploration) {
		ret = kp_dqn_record(r->q, r->obs, r->last_action, (float)p->last_reward, o, false);
		if (ret == 1)
			p->updates++;
		else if (ret < 0)
			snprintf(p->last_error, sizeof(p->last_error), "dqn: %s", strerror(-ret));
	}
	r->last_action = act(p, r, e, o);
	memcpy(r->obs, o, sizeof(float) * RP_OBS(r->n));
	r->have_obs = true;
	return 0;
}

int rp_save(struct kp_policy *p, char *why, size_t len)
{
	struct rp_priv *r = p->priv;
	int ret;

	if (!r || !r->q)
		return 0;
	ret = kp_dqn_save(r->q, p->ckpt);
	if (ret)
		snprintf(why, len, "%s: %s", p->ckpt, strerror(-ret));
	return ret;
}

static int fresh(struct kp_policy *p, struct rp_priv *r)
{
	struct kp_dqn_config c;

	kp_dqn_config_default(&c, RP_OBS(r->n), RP_ACTIONS(r->n));
	c.buffer_size = r->buffer_size;
	c.batch_size = r->batch;
	c.learning_starts = r->learning_starts;
	c.train_freq = 1;		/* one gradient step per interval: epsilon decays per step */
	c.target_update = r->target_update;
	c.gamma = 0.9;			/* a move shows in the next interval or two */
	c.lr = 1e-3;
	c.huber = true;
	c.explore = p->exploration;
	c.seed = r->seed;
	return kp_dqn_create(&r->q, &c);
}

/* The checkpoint's agent if it is one for this state and these actions. 0 or -errno (why). */
static int load(struct kp_policy *p, struct rp_priv *r, char *why, size_t len)
{
	const struct kp_dqn_config *c;
	int ret = kp_dqn_load(&r->q, p->ckpt);

	if (ret == -EBADMSG)
		snprintf(why, len, "not a DQN checkpoint, truncated or corrupt");
	else if (ret == -EINVAL)
		snprintf(why, len, "a checkpoint of another kind");
	else if (ret == -EPROTONOSUPPORT)
		snprintf(why, len, "a checkpoint of another version");
	else if (ret)
		snprintf(why, len, "%s", strerror(-ret));
	if (ret)
		return ret;
	c = kp_dqn_config_of(r->q);
	if (c->obs_dim != RP_OBS(r->n) || c->n_actions != RP_ACTIONS(r->n)) {
		snprintf(why, len, "made for a state of %d and %d actions, this policy's %d "
			 "replicas have %d and %d", c->obs_dim, c->n_actions, r->n, RP_OBS(r->n),
			 RP_ACTIONS(r->n));
		kp_dqn_destroy(r->q);
		r->q = NULL;
		return -EINVAL;
	}
	kp_dqn_set_explore(r->q, p->exploration);
	return 0;
}

int rp_agent_open(struct kp_policy *p, char *why, size_t len)
{
	struct rp_priv *r = p->priv;
	struct kp_dqn_stats st;
	char w[300];
	int ret;

	if (r->agent != RP_DQN) {
		snprintf(r->ckpt_state, sizeof(r->ckpt_state), "none: the %s agent has no model",
			 p->agent);
		return 0;
	}
	if (access(p->ckpt, F_OK)) {
		snprintf(r->ckpt_state, sizeof(r->ckpt_state), "fresh");
		kp_info("policy %s: no checkpoint at %s: the DQN starts fresh", p->name, p->ckpt);
	} else if (load(p, r, w, sizeof(w))) {
		snprintf(r->ckpt_state, sizeof(r->ckpt_state), "refused: %.180s", w);
		kp_warn("policy %s: checkpoint %s refused: %s; the DQN starts fresh", p->name,
			p->ckpt, w);
	} else {
		kp_dqn_stats(r->q, &st);
		snprintf(r->ckpt_state, sizeof(r->ckpt_state), "loaded");
		kp_info("policy %s: DQN loaded from %s (%ld steps, %ld updates, epsilon %.3f)",
			p->name, p->ckpt, st.steps, st.updates, st.epsilon);
		return 0;
	}
	ret = fresh(p, r);
	if (ret)
		snprintf(why, len, "policy %s: the DQN: %s", p->name, strerror(-ret));
	return ret;
}
