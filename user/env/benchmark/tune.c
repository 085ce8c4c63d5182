// SPDX-License-Identifier: GPL-2.0
/*
 * The benchmark tuning run: the environment (reset = the baseline, step =
 * one trial) and the loop of agent proposal -> environment step -> agent
 * update -> guardrails, then results. The jobs it is made of are in
 * tune_run.h's files.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent/ppo.h"
#include "env/env.h"
#include "env/benchmark/tune_run.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "observe/observer.h"
#include "safety/session.h"

static void progress(struct tune *t, int n, const struct kp_trial *tr)
{
	const struct kp_tune_config *c = t->c;
	double el = kp_mono_s() - t->t0, eta = n ? el / n * (c->trials - n) : 0;
	double best = t->r.best >= 0 ? t->r.trials[t->r.best].metric : NAN;
	char cur[32];

	if (tr->ok)
		snprintf(cur, sizeof(cur), "%.6g", tr->metric);
	else
		snprintf(cur, sizeof(cur), "failed");
	if (t->o->progress)
		fprintf(stderr, "\r\033[Ktrial %d/%d  %s %s  best %.6g (%+.1f%%)  failures %d  ETA %dm%02ds",
			n, c->trials, c->metric_name, cur, isfinite(best) ? best : t->r.baseline,
			kp_results_improvement(&t->r), t->r.failures, (int)eta / 60, (int)eta % 60);
	else
		fprintf(stderr, "kpilot: trial %d/%d %s=%s best=%.6g (%+.1f%%)%s%s\n", n, c->trials,
			c->metric_name, cur, isfinite(best) ? best : t->r.baseline,
			kp_results_improvement(&t->r), tr->ok ? "" : " error: ", tr->ok ? "" : tr->error);
	fflush(stderr);
}

/* ---- the environment: reset = the baseline, step = one trial -------------- */

static void state_obs(const struct tune *t, const double *state, float *obs)
{
	int i;

	for (i = 0; i < t->c->nstate; i++)
		obs[i] = state ? state[i] : 0;
}

/* The current settings (fresh namespaces' defaults in netns mode). */
static int bench_reset(struct kp_env *e, float *obs, char *why, size_t len)
{
	struct tune *t = e->priv;
	const struct kp_tune_config *c = t->c;
	char msg[400];
	double cv;
	int i, err;

	t->t0 = kp_mono_s();
	err = tune_measure(t, NULL, t->r.baseline_values, "baseline", &t->r.baseline, &cv, why, len);
	if (!err && !c->netns)
		for (i = 0; i < c->nactions; i++)
			kp_session_read(t->s, c->actions[i].knob, t->r.baseline_values[i], 64);
	if (err == -EINTR) {
		t->r.interrupted = true;
		return err;
	}
	if (err) {
		snprintf(msg, sizeof(msg), "%s", why);
		snprintf(why, len, "the baseline run failed: %s", msg);
		return kp_run_err(err);
	}
	if (!t->r.baseline) {
		snprintf(why, len, "the baseline %s is 0: nothing to improve relative to",
			 c->metric_name);
		return -EINVAL;
	}
	if (t->obs) {
		kp_observer_poll(t->obs);
		kp_observer_reset(t->obs);
	}
	kp_info("baseline %s = %.6g", c->metric_name, t->r.baseline);
	state_obs(t, NULL, obs);
	return 0;
}

/*
 * One trial of the configuration action stands for (a point of the box in
 * [-1, 1] units per knob), recorded in t->r.trials[t->r.ntrials]. A failed
 * trial is not an error: it costs the failure weight. done: the guardrails
 * aborted the trial, Ctrl-C, or the last trial.
 */
static int bench_step(struct kp_env *e, const double *action, float *obs, double *reward,
		      bool *done, char *why, size_t len)
{
	struct tune *t = e->priv;
	const struct kp_tune_config *c = t->c;
	int i, n = t->r.ntrials + 1, err = 0;
	struct kp_trial *tr = &t->r.trials[n - 1];
	char vals[KP_TUNE_MAX_ACTIONS][64], reason[64];
	double t1 = kp_mono_s(), metric = NAN, cv = 0;
	struct kp_cpustat cs0;

	*done = true;
	tr->n = n;
	tr->metric = NAN;
	kp_cpustat_read("/proc", &cs0);
	for (i = 0; i < c->nactions && !err; i++)
		err = tune_action_value(t, i, action[i], vals[i], sizeof(vals[i]));
	if (err) {
		snprintf(why, len, "the agent's proposal %d cannot be used: %s", n, strerror(-err));
		return kp_run_err(err);
	}
	snprintf(reason, sizeof(reason), "%s trial %d", t->r.algo, n);
	memcpy(tr->values, vals, sizeof(tr->values));
	if (!c->netns) {
		tune_wait_interval(t);
		err = tune_apply(t, vals, reason, tr->values, tr->error, sizeof(tr->error));
		t->last_apply = kp_mono_s();
		if (err == -ECANCELED) {
			t->r.aborted = true;
			return 0;
		}
	}
	err = err ?: tune_measure(t, c->netns ? vals : NULL, tr->values, reason, &metric, &cv,
				  tr->error, sizeof(tr->error));
	if (err == -EINTR) {
		t->r.interrupted = true;
		return 0;
	}
	tr->ok = !err;
	tr->metric = err ? NAN : metric;
	tr->seconds = kp_mono_s() - t1;
	tune_collect_state(t, tr->seconds, &cs0, tr->state);
	tr->reward = tune_reward(t, tr->ok, metric, cv);
	t->r.ntrials = n;
	if (tr->ok && (t->r.best < 0 ||
		       kp_results_better(&t->desc, metric, t->r.trials[t->r.best].metric)))
		t->r.best = n - 1;
	state_obs(t, tr->state, obs);
	*reward = tr->reward;
	*done = n >= c->trials;
	return 0;
}

static const struct kp_env_ops bench_ops = { .reset = bench_reset, .step = bench_step };

void tune_env(struct tune *t, struct kp_env *e)
{
	*e = (struct kp_env){ .name = t->c->workload_name, .ops = &bench_ops, .priv = t,
			      .obs_dim = t->c->nstate, .act_dim = t->c->nactions };
}

/* ---- the run ------------------------------------------------------------------ */

static void describe(struct tune *t)
{
	const struct kp_tune_config *c = t->c;
	struct kp_results_desc *d = &t->desc;
	int i;

	d->workload_name = c->workload_name;
	d->metric_name = c->metric_name;
	d->minimize = c->goal == KP_GOAL_MINIMIZE;
	d->nknobs = c->nactions;
	for (i = 0; i < c->nactions; i++)
		d->knob[i] = c->actions[i].knob;
	d->nstate = c->nstate;
	for (i = 0; i < c->nstate; i++)
		d->state[i] = c->state[i];
	t->r.d = d;
	t->r.algo = kp_tune_algo_names[c->algo];
	t->r.seed = c->seed;
	t->r.best = -1;
	t->r.baseline = NAN;
}

/* The safety session every write goes through, with the config's knobs. */
static int open_session(struct tune *t, struct kp_tune_config *eff, const char **allow,
			char *why, size_t len)
{
	struct kp_session_opts so = { .state_dir = t->o->state_dir, .cmd = "tune",
				      .step_policy = KP_STEP_CLAMP, .dry_run = t->o->dry_run,
				      .allow = allow, .allow_risky = t->o->allow_risky };
	int i, err;

	for (i = 0; i < t->c->nactions; i++)
		allow[i] = t->c->actions[i].knob;
	allow[i] = NULL;
	kp_safety_catch_signals();
	err = kp_session_open(&so, &t->s, why, len);
	return err ?: tune_add_knobs(t, eff, why, len);
}

/* The plan: the box's centre, validated against this machine. */
static int dry_run(struct tune *t, char *why, size_t len)
{
	char vals[KP_TUNE_MAX_ACTIONS][64], scratch[512];
	int i, err;

	if (t->c->netns && (err = tune_ns_setup(t, why, len)))
		return err;
	if (t->c->netns)
		kp_session_set_own_netns(t->s, t->ns[0], why, len);
	for (i = 0, err = 0; i < t->c->nactions && !err; i++)
		err = tune_action_value(t, i, 0.0, vals[i], sizeof(vals[i]));
	err = err ?: tune_apply(t, vals, "tune --dry-run", NULL, why, len);
	kp_session_set_netns(t->s, NULL, scratch, sizeof(scratch));
	tune_ns_teardown(t);
	return err;
}

/* The agent, and the observer for its state (optional: without it, the metric alone). */
static int open_agent(struct tune *t, char *why, size_t len)
{
	struct kp_observer_opts oo = { .interval_ms = 1000, .filter = true };
	struct kp_opspec spec = { .name = "bench", .type = KP_OP_PIDS };
	char msg[512];
	int err = tune_agent_open(t);

	if (err) {
		snprintf(why, len, "cannot create the %s agent: %s", t->r.algo, strerror(-err));
		return kp_run_err(err);
	}
	if (kp_observer_open(&t->obs, &oo, msg, sizeof(msg)) ||
	    (t->op = kp_observer_add_operator(t->obs, &spec, msg, sizeof(msg))) < 0) {
		kp_warn("no eBPF state for the agent (%s); tuning on the metric alone", msg);
		kp_observer_close(t->obs);
		t->obs = NULL;
	}
	return 0;
}

/*
 * Guardrails after trial n: 3 failed trials in a row, or the safety
 * session's own limit, abort and restore; a reward that regressed for
 * several trials goes back to the last known-good values (host mode).
 */
static bool guardrails(struct tune *t, int n, const struct kp_trial *tr)
{
	t->fails_in_row = tr->ok ? 0 : t->fails_in_row + 1;
	if (!tr->ok) {
		t->r.failures++;
		if (kp_session_step_failed(t->s, tr->error) == -ECANCELED || t->fails_in_row >= 3) {
			t->r.aborted = true;
			return false;
		}
	} else if (!t->c->netns && kp_session_report(t->s, tr->reward) == 1) {
		kp_warn("trial %d: reward regressed for several trials; back to the last known-good values",
			n);
		/* the revert wrote the knobs: the next trial waits out their interval too */
		t->last_apply = kp_mono_s();
	}
	return true;
}

/* Baseline, then the trials; -EINTR or -ECANCELED when they stopped early. */
static int trials(struct tune *t, char *why, size_t len)
{
	struct kp_env e;
	float obs[KP_TUNE_MAX_STATE], a[KP_TUNE_MAX_ACTIONS];
	double u[KP_TUNE_MAX_ACTIONS], reward;
	bool done = false;
	int n, err;

	tune_env(t, &e);
	err = kp_env_reset(&e, obs, why, len);
	if (err)
		return err;
	tune_agent_start(t);
	for (n = 1, err = 0; n <= t->c->trials && !tune_stop_requested(); n++) {
		struct kp_trial *tr = &t->r.trials[n - 1];

		err = tune_agent_propose(t, u, a);
		if (err) {
			snprintf(why, len, "the agent's proposal %d cannot be used: %s", n, strerror(-err));
			err = kp_run_err(err);
			break;
		}
		err = kp_env_step(&e, u, obs, &reward, &done, why, len);
		if (err || t->r.aborted || t->r.interrupted)
			break;
		err = tune_agent_learn(t, tr->values, tr->ok, tr->reward, tr->state, n);
		if (err) {
			snprintf(why, len, "the agent's update failed: %s", strerror(-err));
			err = kp_run_err(err);
			break;
		}
		if (!guardrails(t, n, tr)) {
			progress(t, n, tr);
			break;
		}
		progress(t, n, tr);
	}
	if (t->o->progress)
		fputc('\n', stderr);
	if (tune_stop_requested())
		t->r.interrupted = true;
	return t->r.interrupted ? -EINTR : t->r.aborted ? -ECANCELED : err;
}

/*
 * Keep the best configuration, when asked, confirmed (unless the
 * confirmation was turned off) and when there is one on this host.
 */
static int keep_best(struct tune *t, char *why, size_t len)
{
	char msg[512];

	if (tune_confirm_gate(&t->r, why, len))
		return -EDOM;
	if (!kp_results_improvement(&t->r)) {
		kp_warn("--apply-best: no trial beat the baseline; keeping the original values");
	} else if (t->r.best >= 0 && !t->c->netns) {
		if (tune_apply_best(t, msg, sizeof(msg)))
			kp_warn("--apply-best: %s", msg);
		else
			t->r.applied_best = true;
	} else if (t->c->netns) {
		kp_warn("--apply-best: %s runs in private namespaces; nothing on this host to keep",
			t->c->workload_name);
	}
	return 0;
}

static void summary(const struct tune *t, const char *out_dir)
{
	const struct kp_tune_config *c = t->c;
	const struct kp_results *r = &t->r;
	int i;

	printf("%s: baseline %s %.6g", c->workload_name, c->metric_name, r->baseline);
	if (r->best >= 0 && kp_results_improvement(r))
		printf(", best %.6g at trial %d (%+.1f%%)", r->trials[r->best].metric,
		       r->trials[r->best].n, kp_results_improvement(r));
	else if (r->best >= 0)
		printf(", no trial beat it (best %.6g at trial %d)", r->trials[r->best].metric,
		       r->trials[r->best].n);
	printf(", %d trials, %d failed%s%s\n", r->ntrials, r->failures,
	       r->interrupted ? ", interrupted" : "", r->aborted ? ", aborted" : "");
	if (r->best >= 0) {
		printf("best configuration:\n");
		for (i = 0; i < c->nactions; i++)
			printf("  %-32s %-16s (baseline %s)\n", c->actions[i].knob,
			       r->trials[r->best].values[i], r->baseline_values[i]);
	}
	tune_confirm_line(r, stdout);
	printf("every knob is back to its original value%s\n",
	       r->applied_best ? ", except the best configuration kept by --apply-best "
				 "(kpilot rollback undoes it)" : "");
	if (out_dir[0])
		printf("results: %s/results.json, history.csv, plot.svg\n", out_dir);
}

int kp_tune_run(const struct kp_tune_opts *o, char *out_dir, size_t out_len,
		char *why, size_t len)
{
	const char *allow[KP_TUNE_MAX_ACTIONS + 1];
	struct kp_tune_config eff = *o->cfg;	/* ranges as the session narrows them */
	struct tune t = { .o = o, .c = &eff };
	int err, ret, kept = 0;

	describe(&t);
	t.r.trials = calloc(t.c->trials + 1, sizeof(*t.r.trials));
	if (!t.r.trials) {
		snprintf(why, len, "out of memory");
		return -ENOMEM;
	}
	ret = open_session(&t, &eff, allow, why, len);
	if (!ret && o->dry_run)
		ret = dry_run(&t, why, len);
	if (ret || o->dry_run) {
		ret = ret ? kp_run_err(ret) : 0;
		goto out;
	}
	ret = open_agent(&t, why, len);
	ret = ret ?: trials(&t, why, len);
	if (!ret && o->confirm > 0)
		ret = tune_confirm(&t, o->confirm, why, len);
out:
	t.r.elapsed_s = t.t0 ? kp_mono_s() - t.t0 : 0;
	if (t.nns)
		tune_ns_teardown(&t);
	if (t.s) {
		err = kp_session_close(t.s);	/* restores every original */
		if (err)
			kp_warn("restoring the original values: %s", strerror(-err));
	}
	if (!ret && o->apply_best)
		kept = keep_best(&t, why, len);
	kp_observer_close(t.obs);
	tune_agent_close(&t);
	if (!o->dry_run && t.t0 && (!kp_run_failed(ret) || t.r.ntrials)) {
		ret = kp_results_publish(&t.r, o->out_dir, o->json, out_dir, out_len, ret, why, len);
		if (!o->json && !o->quiet)
			summary(&t, out_dir);
	}
	free(t.r.trials);
	return ret ?: kept;
}
