// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "lib/log.h"
#include "env/pipeline/pipectl.h"
#include "env/pipeline/pipetune.h"
#include "agent/ppo.h"
#include "env/benchmark/results.h"
#include "safety/session.h"
#include "env/env.h"
#include "state/state.h"
#include "lib/clock.h"
#include "lib/fs.h"
#include "env/pipeline/rate_trace.h"
#include "env/pipeline/trace.h"
#include "env/pipeline/pipetune_impl.h"

const char *kp_pipe_algo_name(enum kp_pipe_algo a)
{
	return a == KP_PIPE_PPO ? "ppo" : a == KP_PIPE_DS2 ? "ds2" : "static";
}

double kp_pipe_reward(const struct kp_pipe_desc *d, const struct kp_pipe_state *st)
{
	const struct kp_pipe_reward *w = &d->reward;
	double att = fmin(isfinite(st->attainment) ? st->attainment : 0, 1);
	double lat = isfinite(st->p99_ms) ? fmin(1, st->p99_ms / w->latency_slo_ms) : 1;
	double cpu = isfinite(st->alloc) ? st->alloc / d->cpu_budget : 1;

	return w->w_attainment * att - w->w_latency * lat - w->w_cpu * cpu -
	       w->w_errors * (st->errors > 0);
}

static double clampd(double x, double lo, double hi)
{
	return !isfinite(x) ? lo : x < lo ? lo : x > hi ? hi : x;
}

/* Add an interval to DS2's window. */
static void ds2_window(struct pt *t, const struct kp_pipe_state *st)
{
	struct kp_ds2_op *w = t->win[t->nwin++ % DS2_WINDOW];
	int i;

	for (i = 0; i < t->d->nops; i++) {
		w[i].in = st->op[i].in;
		w[i].out = st->op[i].out;
		w[i].cpu = st->op[i].cpu;
	}
}

/*
 * DS2 over the window's intervals (the observer's CPU windows and the
 * pipeline's report intervals are not aligned; a few intervals together
 * make the ratio in / cpu steady); keeps the last known need where the
 * window shows none.
 */
static void ds2(struct pt *t, const struct kp_pipe_state *st, const double *cur,
		double util, double *q)
{
	struct kp_ds2_op op[KP_PIPE_MAX_OPS] = { 0 };
	double need[KP_PIPE_MAX_OPS];
	struct kp_ds2_in in = { .d = t->d, .target = st->target, .op = op, .current = cur,
				.utilisation = util };
	int i, k, n = t->nwin < DS2_WINDOW ? t->nwin : DS2_WINDOW;

	for (k = 0; k < n; k++)
		for (i = 0; i < t->d->nops; i++) {
			op[i].in += t->win[k][i].in / n;
			op[i].out += t->win[k][i].out / n;
			op[i].cpu += t->win[k][i].cpu / n;
		}
	kp_ds2_quotas(&in, q, need);
	for (i = 0; i < t->d->nops; i++)
		if (isfinite(need[i]))
			t->need[i] = need[i];
}

static void observe(struct pt *t, const struct kp_pipe_state *st)
{
	const struct kp_pipe_desc *d = t->d;
	int i, k = 0;

	for (i = 0; i < d->nops; i++) {
		const struct kp_pipe_opstate *s = &st->op[i];
		double q = isfinite(s->quota) ? s->quota : d->cpu_budget / d->nops;

		t->obs[k++] = clampd(s->cpu / q, 0, 2);			/* use of its quota */
		t->obs[k++] = clampd(s->throttled_frac, 0, 1);
		t->obs[k++] = clampd(s->blocked, 0, 4);			/* backpressure it suffers */
		t->obs[k++] = clampd(s->occupancy, 0, 1);
		t->obs[k++] = clampd(s->runq / fmax(s->cpu, 0.01), 0, 4);	/* CPU contention */
		t->obs[k++] = clampd(q / d->cpu_budget, 0, 1);
	}
	t->obs[k++] = clampd(st->attainment, 0, 1.5);
	t->obs[k++] = clampd(isfinite(st->p99_ms) ? st->p99_ms / d->reward.latency_slo_ms : 2, 0, 2);
}

static int ppo_open(struct pt *t)
{
	struct kp_ppo_config pc;

	t->obs_dim = t->d->nops * OBS_PER_OP + 2;
	kp_ppo_config_tuning(&pc, t->obs_dim, t->d->nops);
	pc.num_steps = PPO_ROLLOUT;
	pc.num_minibatches = 2;
	pc.init_logstd = -1.0;	/* ~0.04 of headroom of noise: exploration without churn */
	pc.seed = t->o->seed;
	return kp_ppo_create(&t->ppo, &pc);
}

/*
 * The PPO controller: the policy chooses each operator's headroom over the
 * need DS2's model measures (quota = need * (1.10 + 0.10 a)), so even its
 * first, untrained actions are sensible, and what it learns is how much
 * slack each operator needs against throttling and bursts, traded against
 * the CPU cost in the reward.
 */
static int ppo_decide(struct pt *t, const struct kp_pipe_state *st, const double *cur,
		      double reward, double *q)
{
	float a[KP_PIPE_MAX_OPS], r = reward;
	double dummy[KP_PIPE_MAX_OPS];
	int i, err;

	observe(t, st);
	if (t->acted) {
		err = kp_ppo_record(t->ppo, &r, NULL, NULL, NULL);
		if (err == 1)
			err = kp_ppo_update(t->ppo, t->obs, NULL);
		if (err < 0)
			return err;
	}
	/* a change held for its verification window: PPO learns from the quotas in force */
	if (kp_deploy_holding(&t->dp)) {
		kp_pt_held_action(t, a);
		err = kp_ppo_act_given(t->ppo, t->obs, a, NULL);
	} else {
		err = kp_ppo_act(t->ppo, t->obs, a, NULL, NULL);
	}
	if (err)
		return err;
	t->acted = true;
	ds2(t, st, cur, 1.0, dummy);
	for (i = 0; i < t->d->nops; i++)
		q[i] = t->need[i] > 0 ? t->need[i] * (PPO_HEADROOM + PPO_SPAN * a[i]) : cur[i];
	kp_quota_fit(q, t->d->nops, t->d->cpu_budget);
	return 0;
}

static void progress(struct pt *t, int n, const struct kp_trial *tr, const double *q)
{
	char qs[256] = "";
	int i, k = 0;

	for (i = 0; i < t->d->nops; i++)
		k += snprintf(qs + k, sizeof(qs) - k, "%s%s=%.2f", i ? " " : "", t->d->ops[i].name, q[i]);
	if (t->o->progress)
		fprintf(stderr, "\r\033[Kinterval %d/%d  attainment %.3f  p99 %.1f ms  cpu %.2f  [%s]",
			n, t->o->trials, tr->metric, tr->state[2], tr->state[3], qs);
	else if (!t->o->quiet)
		fprintf(stderr, "kpilot: interval %d/%d attainment=%.3f p99_ms=%.1f alloc=%.2f %s\n",
			n, t->o->trials, tr->metric, tr->state[2], tr->state[3], qs);
}

static void describe(struct pt *t)
{
	struct kp_results_desc *c = &t->desc;
	int i;

	c->workload_name = t->d->name;
	c->metric_name = "attainment";
	c->nknobs = t->d->nops;
	for (i = 0; i < t->d->nops; i++) {
		snprintf(t->knob[i], sizeof(t->knob[i]), "cgroup:%s:cpu.max", t->d->ops[i].cgroup);
		c->knob[i] = t->knob[i];
	}
	c->nstate = KP_PS_COUNT;
	for (i = 0; i < KP_PS_COUNT; i++)
		c->state[i] = kp_pipe_state_metrics[i].name;
	t->r.d = c;
	t->r.algo = kp_pipe_algo_name(t->o->algo);
	t->r.seed = t->o->seed;
	t->r.best = -1;
	t->r.baseline = NAN;
}

static void values_of(const struct pt *t, const double *q, char vals[][64])
{
	int i;

	for (i = 0; i < t->d->nops; i++)
		snprintf(vals[i], 64, "%.0f 100000", q[i] * 100000);
}

static void summary(struct pt *t, const char *out_dir)
{
	const struct kp_results *r = &t->r;
	int i;

	if (t->o->json || t->o->quiet)
		return;
	printf("%s (%s): baseline attainment %.3f (equal split)", t->d->name, r->algo, r->baseline);
	if (r->ntrials) {
		const struct kp_trial *last = &r->trials[r->ntrials - 1];

		printf(", last interval %.3f at %.2f cores", last->metric, last->state[3]);
	}
	printf(", %d intervals%s%s", r->ntrials, r->interrupted ? ", interrupted" : "",
	       r->aborted ? ", aborted" : "");
	if (t->dp.o.verify)
		printf(", %d deploys, %d verified, %d rollbacks", t->dp.deploys, t->dp.verified,
		       t->dp.rollbacks);
	printf("\n");
	if (r->ntrials) {
		printf("last quotas:\n");
		for (i = 0; i < t->d->nops; i++)
			printf("  %-10s %s\n", t->d->ops[i].name, r->trials[r->ntrials - 1].values[i]);
	}
	printf("quotas restored, pipeline stopped, cgroups removed\n");
	if (out_dir[0])
		printf("results: %s/results.json, history.csv, plot.svg, trace.jsonl\n", out_dir);
}

/* ---- the trace and the rate trace ------------------------------------------- */

/* The interval just measured, with the change made before it, into the trace. */
static void trace_interval(struct pt *t, int n, bool reconf, const double *before,
			   const char *reason)
{
	struct kp_trace_rec r = { .n = n, .rate = t->rate, .st = t->st, .changed = reconf };
	int err;

	if (n && t->label)
		snprintf(r.deploy, sizeof(r.deploy), "%s", t->label);

	t->elapsed += isfinite(t->st.dt) ? t->st.dt : 0;
	r.t = t->elapsed;
	if (!t->tw)
		return;
	if (reconf) {
		memcpy(r.before, before, sizeof(r.before));
		snprintf(r.reason, sizeof(r.reason), "%s", reason);
	}
	err = kp_trace_write(t->tw, &r);
	if (err) {
		kp_warn("the trace stops at interval %d: %s", n, strerror(-err));
		kp_trace_close(t->tw);
		t->tw = NULL;
	}
}

/* The source rate for the next interval (the rate trace's, or the step), when it changes. */
static void next_rate(struct pt *t, int n)
{
	const struct kp_pipe_tune_opts *o = t->o;
	double r = t->rate;
	int err;

	if (o->rate_trace)
		r = kp_rate_trace_at(o->rate_trace, t->elapsed * o->rate_speed);
	else if (o->step_at && n == o->step_at)
		r = o->step_rate;
	if (fabs(r - t->rate) <= 1e-9 * fmax(1, r))
		return;
	err = t->be->set_rate(t->e, r);
	if (err)
		kp_warn("interval %d: cannot change the rate to %.0f: %s", n, r, strerror(-err));
	else
		t->rate = r;
}

/* ---- the environment: reset = seed and baseline, step = one interval ---- */

/*
 * The seed: the equal split (or the given quotas), measured as the
 * baseline; the first interval mixes the start with the seed: skipped.
 */
static int pipe_reset(struct kp_env *e, float *obs, char *why, size_t len)
{
	struct pt *t = e->priv;
	const struct kp_pipe_desc *d = t->d;
	int err;

	err = t->be->open(&t->e, d, &t->env, t->be->arg, why, len);
	if (err)
		return err == -EINTR ? err : kp_run_err(err);
	if (t->o->have_quotas)
		memcpy(t->cur, t->o->quotas, sizeof(t->cur));
	else
		kp_static_quotas(d, t->cur);
	kp_quota_fit(t->cur, d->nops, d->cpu_budget);
	err = t->be->apply(t->e, t->cur, "pipeline seed", why, len);
	if (err)
		return err == -EINTR ? err : kp_run_err(err);
	memcpy(t->cur, t->be->quotas(t->e), sizeof(t->cur));
	values_of(t, t->cur, t->r.baseline_values);
	err = t->be->step(t->e, &t->st, why, len);
	if (!err)
		t->elapsed += isfinite(t->st.dt) ? t->st.dt : 0;
	err = err ?: t->be->step(t->e, &t->st, why, len);
	if (!err) {
		double none[KP_PIPE_MAX_OPS];

		for (int i = 0; i < d->nops; i++)
			none[i] = NAN;	/* no quota: max */
		trace_interval(t, 0, true, none, "pipeline seed");
	}
	if (err) {
		t->r.interrupted = err == -EINTR;
		return err == -EINTR ? err : kp_run_err(err);
	}
	t->r.baseline = t->st.attainment;
	kp_pt_deploy_init(t);
	observe(t, &t->st);
	memcpy(obs, t->obs, t->obs_dim * sizeof(*obs));
	return 0;
}

/* The trial's state, in kp_pipe_state_metrics' order. */
static void record(struct pt *t, struct kp_trial *tr, bool reconf)
{
	const struct kp_pipe_state *st = &t->st;
	double thr = 0, need = 0, occ = 0, blk = 0;
	int i;

	for (i = 0; i < t->d->nops; i++) {
		thr += st->op[i].throttled_s;
		need += isfinite(t->need[i]) ? t->need[i] : 0;
		occ = fmax(occ, st->op[i].occupancy);
		blk += st->op[i].blocked;
	}
	tr->ok = true;
	tr->metric = st->attainment;
	tr->reward = kp_pipe_reward(t->d, st);
	tr->state[KP_PS_TARGET] = st->target;
	tr->state[KP_PS_THROUGHPUT] = st->throughput;
	tr->state[KP_PS_P99_MS] = st->p99_ms;
	tr->state[KP_PS_ALLOC] = st->alloc;
	tr->state[KP_PS_NEED] = need;
	tr->state[KP_PS_THROTTLED] = thr;
	tr->state[KP_PS_RECONFIGURED] = reconf;
	tr->state[KP_PS_REWARD] = tr->reward;
	tr->state[KP_PS_OCCUPANCY] = occ;
	tr->state[KP_PS_BLOCKED] = blk;
	for (i = 0; i < t->d->nops; i++)
		kp_debug("interval %d %s: in %.0f/s out %.0f/s cpu %.3f (report %.3f) quota %.2f "
			 "throttled %.2f (%.3f s) runq %.3f blocked %.2f occupancy %.2f workers %d",
			 tr->n, t->d->ops[i].name, st->op[i].in, st->op[i].out, st->op[i].cpu,
			 st->op[i].cpu_app, st->op[i].quota, st->op[i].throttled_frac,
			 st->op[i].throttled_s, st->op[i].runq, st->op[i].blocked,
			 st->op[i].occupancy, st->op[i].workers);
}

/*
 * One control interval with quotas q (cores per operator), recorded in
 * t->r.trials[t->r.ntrials]. done: the guardrails refused, Ctrl-C, or the
 * last interval.
 */
static int pipe_step(struct kp_env *e, const double *q, float *obs, double *reward, bool *done,
		     char *why, size_t len)
{
	struct pt *t = e->priv;
	int n = t->r.ntrials + 1, err;
	struct kp_trial *tr = &t->r.trials[n - 1];
	double t1 = kp_mono_s(), before[KP_PIPE_MAX_OPS];
	char msg[512];
	bool reconf;

	*done = true;
	memcpy(before, t->cur, sizeof(before));
	err = kp_pt_stage(t, n, q, tr, &reconf);
	if (err) {
		t->r.aborted = err == -ECANCELED;
		t->r.interrupted = err == -EINTR;
		return 0;
	}
	next_rate(t, n);
	err = t->be->step(t->e, &t->st, msg, sizeof(msg));
	if (err == -EINTR) {
		t->r.interrupted = true;
		return 0;
	}
	tr->n = n;
	tr->seconds = kp_mono_s() - t1;
	values_of(t, t->cur, tr->values);
	t->r.ntrials = n;
	if (err) {
		snprintf(tr->error, sizeof(tr->error), "%.150s", msg);
		tr->metric = NAN;
		t->r.failures++;
		snprintf(why, len, "%s", msg);
		return kp_run_err(err);
	}
	record(t, tr, reconf);
	kp_pt_verify(t, n);
	trace_interval(t, n, reconf, before, t->reason);
	if (t->r.best < 0 || tr->metric > t->r.trials[t->r.best].metric + 1e-9)
		t->r.best = n - 1;
	observe(t, &t->st);
	memcpy(obs, t->obs, t->obs_dim * sizeof(*obs));
	*reward = tr->reward;
	*done = n >= t->o->trials;
	return 0;
}

static const struct kp_env_ops pipe_ops = { .reset = pipe_reset, .step = pipe_step };

/* ---- the run ---------------------------------------------------------------- */

/* The controller's quotas q from the interval just measured. */
static int decide(struct pt *t, double *q, char *why, size_t len)
{
	int err;

	ds2_window(t, &t->st);
	switch (t->o->algo) {
	case KP_PIPE_STATIC:
		ds2(t, &t->st, t->cur, 1.0, q);	/* for the need in the state only */
		memcpy(q, t->cur, sizeof(t->cur));
		break;
	case KP_PIPE_DS2:
		ds2(t, &t->st, t->cur, t->o->utilisation, q);
		break;
	case KP_PIPE_PPO:
		err = ppo_decide(t, &t->st, t->cur, kp_pipe_reward(t->d, &t->st), q);
		if (err) {
			snprintf(why, len, "the PPO controller failed: %s", strerror(-err));
			return kp_run_err(err);
		}
		break;
	}
	return 0;
}

/*
 * Seed, baseline, then one interval per trial. A failed setup or controller
 * returns at once; otherwise Ctrl-C and the guardrails decide the end.
 */
static int intervals(struct pt *t, char *why, size_t len)
{
	struct kp_env e = { .name = t->d->name, .ops = &pipe_ops, .priv = t,
			    .obs_dim = t->d->nops * OBS_PER_OP + 2, .act_dim = t->d->nops };
	double q[KP_PIPE_MAX_OPS], reward;
	float obs[KP_PIPE_MAX_OPS * OBS_PER_OP + 2];
	bool done;
	int n, err = 0;

	t->obs_dim = e.obs_dim;
	err = kp_env_reset(&e, obs, why, len);
	if (err)
		return err;
	for (n = 1; n <= t->o->trials; n++) {
		/* decide from the interval just measured, apply, measure the next */
		err = decide(t, q, why, len);
		if (err)
			return err;
		err = kp_env_step(&e, q, obs, &reward, &done, why, len);
		if (err || t->r.aborted || t->r.interrupted)
			break;
		progress(t, n, &t->r.trials[n - 1], t->cur);
	}
	if (t->o->progress)
		fputc('\n', stderr);
	if (kp_safety_stop_requested())
		t->r.interrupted = true;
	return t->r.interrupted ? -EINTR : t->r.aborted ? -ECANCELED : err;
}

/* The results directory now, for the trace as the run goes (a warning if it cannot be). */
static void open_trace(struct pt *t)
{
	char p[4200], why[4400];
	int err;

	kp_results_dir(t->o->out_dir, t->d->name, t->dir, sizeof(t->dir));
	err = kp_mkdir_p(t->dir, 0755);
	snprintf(p, sizeof(p), "%s/trace.jsonl", t->dir);
	if (err)
		snprintf(why, sizeof(why), "cannot create %s: %s", t->dir, strerror(-err));
	else
		err = kp_trace_open(&t->tw, p, t->d, t->r.algo, why, sizeof(why));
	if (err)
		kp_warn("no trace: %s", why);
}

/* The staged deployment's options checked; the PPO agent, the caller's or a new one. */
static int setup(struct pt *t, char *why, size_t len)
{
	int err = kp_deploy_opts_check(&t->o->deploy, why, len);

	if (err || t->o->algo != KP_PIPE_PPO)
		return err;
	if (t->o->ppo) {
		t->ppo = t->o->ppo;
		t->obs_dim = t->d->nops * OBS_PER_OP + 2;
		return 0;
	}
	err = ppo_open(t);
	if (err)
		snprintf(why, len, "cannot set up the PPO controller (%d inputs, %d actions): %s",
			 t->obs_dim, t->d->nops, strerror(-err));
	t->own_ppo = !err;
	return err;
}

int kp_pipe_tune_run(const struct kp_pipe_tune_opts *o, char *out_dir, size_t out_len,
		     char *why, size_t len)
{
	struct pt t = { .o = o, .d = o->d, .be = o->backend ?: &kp_pipe_real, .env = o->env };
	int err, ret;

	describe(&t);
	if (o->rate_trace)
		t.env.rate = kp_rate_trace_at(o->rate_trace, 0);
	t.rate = t.env.rate > 0 ? t.env.rate : o->d->rate;
	if (o->trials < 1 || o->trials > 100000) {
		snprintf(why, len, "%d control intervals: give 1 to 100000", o->trials);
		return -EINVAL;
	}
	t.r.trials = calloc(o->trials, sizeof(*t.r.trials));
	if (!t.r.trials) {
		snprintf(why, len, "cannot allocate the results of %d intervals (%zu bytes)",
			 o->trials, o->trials * sizeof(*t.r.trials));
		return -ENOMEM;
	}
	err = setup(&t, why, len);
	if (err) {
		free(t.r.trials);
		return err;
	}
	kp_safety_catch_signals();
	t.t0 = kp_mono_s();
	open_trace(&t);
	ret = o->pretrain && o->algo == KP_PIPE_PPO ? kp_pt_pretrain(&t, why, len) : 0;
	ret = ret ?: intervals(&t, why, len);
	err = t.e ? t.be->close(t.e) : 0;
	if (err)
		kp_warn("%s: cleaning up: %s", t.d->name, strerror(-err));
	if (t.own_ppo)
		kp_ppo_destroy(t.ppo);
	err = kp_trace_close(t.tw);
	if (err)
		kp_warn("%s/trace.jsonl: %s", t.dir, strerror(-err));
	t.r.elapsed_s = kp_mono_s() - t.t0;
	out_dir[0] = '\0';
	if (t.r.ntrials) {
		t.r.extra = kp_pt_results_extra(&t);
		ret = kp_results_publish(&t.r, t.dir, o->json, out_dir, out_len, ret, why, len);
		json_decref(t.r.extra);
		summary(&t, out_dir);
	}
	free(t.r.trials);
	return ret;
}
