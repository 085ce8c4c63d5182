// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "env/benchmark/bench_run.h"
#include "cli/commands.h"
#include "lib/log.h"
#include "observe/observer.h"
#include "agent/ppo.h"
#include "agent/rng.h"
#include "safety/session.h"
#include "state/sysstat.h"
#include "env/benchmark/tune.h"
#include "lib/clock.h"

#define CHURN_PORT	"8080"
#define CHURN_SRV_IP	"10.251.0.1"
#define CHURN_CLI_IP	"10.251.0.2"
#define PPO_ROLLOUT	8	/* trials per PPO update: tens of trials, several updates */
#define PPO_STEP	1.0	/* a PPO action moves the incumbent by STEP * a, per knob, in [-1, 1] units */

struct tune {
	const struct kp_tune_opts *o;
	const struct kp_tune_config *c;
	struct kp_session *s;
	struct kp_observer *obs;
	int op;				/* the observer's "bench" operator */
	struct kp_ppo *ppo;
	struct kp_rng rng;
	int obs_dim;
	float obs_vec[2 * KP_TUNE_MAX_ACTIONS + 2 + KP_TUNE_MAX_STATE];
	/* PPO proposes steps from the incumbent: the best configuration so far. */
	double u_best[KP_TUNE_MAX_ACTIONS];
	double r_best;
	struct kp_results r;
	/* netns mode: the current run's namespaces */
	char ns[2][64];			/* [0] server (or the only one), [1] client */
	int nns;
	char veth[2][16];
	int run_id;
	double t0;
	double last_apply;		/* host mode: when the knobs were last written */
};

static bool stop_requested(void)
{
	return kp_safety_stop_requested();
}

static bool better(const struct kp_tune_config *c, double a, double b)
{
	return c->goal == KP_GOAL_MAXIMIZE ? a > b : a < b;
}

/* ---- namespaces (netns mode) ------------------------------------------- */

/* Run a helper command (ip) from an argv array; 0 or -EIO with its output. */
static int run_cmd(char *const argv[], char *why, size_t len)
{
	struct kp_run_opts ro = { .argv = argv };
	struct kp_child p;
	int st;

	st = kp_proc_start(&ro, &p, why, len);
	if (st)
		return st;
	st = kp_proc_finish(&p, 10, NULL);
	if (st) {
		snprintf(why, len, "%s %s %s: %s", argv[0], argv[1], argv[2],
			 p.len ? p.out : "failed");
		why[strcspn(why, "\n")] = '\0';
		kp_proc_free(&p);
		return -EIO;
	}
	kp_proc_free(&p);
	return 0;
}

static void ns_teardown(struct tune *t)
{
	char why[256];
	int i;

	for (i = t->nns - 1; i >= 0; i--) {
		char *del[] = { "ip", "netns", "delete", t->ns[i], NULL };

		if (run_cmd(del, why, sizeof(why)))
			kp_warn("cannot delete network namespace %s: %s", t->ns[i], why);
	}
	t->nns = 0;
}

/*
 * Fresh namespaces for one run: one with loopback for a command, or the
 * tcp-churn pair (server, client) joined by a veth link.
 */
static int ns_setup(struct tune *t, char *why, size_t len)
{
	bool pair = !!t->c->builtin[0];
	int i, err;

	t->run_id++;
	t->nns = 0;
	for (i = 0; i < (pair ? 2 : 1); i++) {
		char *add[] = { "ip", "netns", "add", t->ns[i], NULL };
		char *lo[] = { "ip", "-n", t->ns[i], "link", "set", "lo", "up", NULL };

		snprintf(t->ns[i], sizeof(t->ns[i]), "kpilot-%d-%d-%s", getpid(), t->run_id,
			 pair ? (i ? "cli" : "srv") : "run");
		err = run_cmd(add, why, len);
		if (err)
			goto fail;
		t->nns++;
		err = run_cmd(lo, why, len);
		if (err)
			goto fail;
	}
	if (pair) {
		static const char *const ip[2] = { CHURN_SRV_IP "/24", CHURN_CLI_IP "/24" };

		snprintf(t->veth[0], sizeof(t->veth[0]), "kp%05d%04da", getpid() % 100000,
			 t->run_id % 10000);
		snprintf(t->veth[1], sizeof(t->veth[1]), "kp%05d%04db", getpid() % 100000,
			 t->run_id % 10000);
		{
			char *mk[] = { "ip", "link", "add", t->veth[0], "netns", t->ns[0], "type",
				       "veth", "peer", "name", t->veth[1], "netns", t->ns[1], NULL };

			err = run_cmd(mk, why, len);
			if (err)
				goto fail;
		}
		for (i = 0; i < 2; i++) {
			char *addr[] = { "ip", "-n", t->ns[i], "addr", "add", (char *)ip[i], "dev",
					 t->veth[i], NULL };
			char *up[] = { "ip", "-n", t->ns[i], "link", "set", t->veth[i], "up", NULL };

			err = run_cmd(addr, why, len);
			err = err ?: run_cmd(up, why, len);
			if (err)
				goto fail;
		}
	}
	return 0;
fail:
	ns_teardown(t);
	return err;
}

/* ---- actions -> knob values --------------------------------------------- */

/* The value an action in [-1, 1] stands for, as text for the validator. */
static int action_value(struct tune *t, int i, double u, char *out, size_t len)
{
	const struct kp_tune_action *a = &t->c->actions[i];
	const struct kp_knob *def = kp_session_knob(t->s, a->knob);
	struct kp_value v;
	struct kp_knob span;
	char cur[KP_VALUE_MAX], err[256];
	long long x;
	int ret;

	if (!def)
		return -ENOENT;
	span = *def;
	span.min = llround(a->min);
	span.max = llround(a->max);
	span.scale = a->log_scale ? KP_SCALE_LOG : KP_SCALE_LINEAR;
	x = kp_knob_from_unit(&span, u);
	switch (def->type) {
	case KP_VT_INT:
		snprintf(out, len, "%lld", x);
		return 0;
	case KP_VT_TUPLE:
		/* One element moves; the others keep their current values. */
		ret = kp_session_read(t->s, a->knob, cur, sizeof(cur));
		if (ret)
			return ret;
		if (kp_value_parse(def, cur, &v, err, sizeof(err)) || a->element >= v.n)
			return -EINVAL;
		v.v[a->element] = x;
		return kp_value_format(&v, out, len);
	case KP_VT_ENUM: {
		const char *w = def->enums;
		long long k;

		for (k = 0; k < x && (w = strchr(w, ' ')); k++)
			w++;
		if (!w)
			return -EINVAL;
		snprintf(out, len, "%.*s", (int)strcspn(w, " "), w);
		return 0;
	}
	default:
		return -EINVAL;
	}
}

/*
 * Host mode writes the same knobs every trial: a fast benchmark must not
 * run into their minimum write interval, so wait it out.
 */
static void wait_interval(struct tune *t)
{
	double need = 0, left;
	int i;

	for (i = 0; i < t->c->nactions; i++) {
		const struct kp_knob *k = kp_session_knob(t->s, t->c->actions[i].knob);

		if (k && k->min_interval_ms / 1000.0 > need)
			need = k->min_interval_ms / 1000.0;
	}
	left = t->last_apply + need + 0.01 - kp_mono_s();
	if (t->last_apply && left > 0)
		usleep((useconds_t)(left * 1e6));
}

/* Apply values[] in the session's current target (one batch). */
static int apply(struct tune *t, char values[][64], const char *reason, char applied[][64],
		 char *why, size_t len)
{
	static const char *const what[] = { "applied", "clamped", "unchanged", "would set",
					    "not done" };
	struct kp_change ch[KP_TUNE_MAX_ACTIONS];
	int i, n = t->c->nactions, err;

	for (i = 0; i < n; i++) {
		memset(&ch[i], 0, sizeof(ch[i]));
		ch[i].knob = t->c->actions[i].knob;
		ch[i].value = values[i];
	}
	err = kp_session_apply(t->s, ch, n, reason, why, len);
	if (err)
		return err;
	for (i = 0; i < n && applied; i++)
		snprintf(applied[i], 64, "%s", ch[i].applied);
	for (i = 0; i < n && t->o->dry_run; i++)
		printf("%-9s %s: %s -> %s\n", what[ch[i].status], ch[i].knob, ch[i].old,
		       ch[i].applied[0] ? ch[i].applied : ch[i].value);
	return 0;
}

/* ---- benchmark runs ------------------------------------------------------ */

static int watch(pid_t pid, void *arg)
{
	struct tune *t = arg;

	if (t->obs)
		kp_observer_add_member(t->obs, t->op, pid);
	return 0;
}

static int run_churn(struct tune *t, double *metric, char *why, size_t len)
{
	/* 4 s: long enough for TIME_WAIT to exhaust the default port range (~28k ports). */
	double secs = t->o->churn_seconds > 0 ? t->o->churn_seconds : 4;
	char s_secs[32], c_secs[32];
	char *srv[] = { "/proc/self/exe", "tcpchurn", "server", "--addr", CHURN_SRV_IP, "--port",
			CHURN_PORT, "--seconds", s_secs, NULL };
	char *cli[] = { "/proc/self/exe", "tcpchurn", "client", "--addr", CHURN_SRV_IP, "--port",
			CHURN_PORT, "--seconds", c_secs, "--threads", "4", NULL };
	struct kp_run_opts so = { .argv = srv, .netns = t->ns[0], .on_start = watch, .arg = t };
	struct kp_run_opts co = { .argv = cli, .netns = t->ns[1], .on_start = watch, .arg = t };
	struct kp_child sp, cp;
	int st, err;

	snprintf(s_secs, sizeof(s_secs), "%g", secs + t->c->timeout_s);
	snprintf(c_secs, sizeof(c_secs), "%g", secs);
	err = kp_proc_start(&so, &sp, why, len);
	if (err)
		return err;
	err = kp_proc_wait_for(&sp, "listening", 5);
	if (err) {
		snprintf(why, len, "the tcp-churn server did not start: %s", sp.len ? sp.out : "no output");
		kp_proc_free(&sp);
		return -EIO;
	}
	err = kp_proc_start(&co, &cp, why, len);
	if (err) {
		kp_proc_free(&sp);
		return err;
	}
	st = kp_proc_finish(&cp, t->c->timeout_s, stop_requested);
	kill(sp.pid, SIGTERM);
	kp_proc_finish(&sp, 5, NULL);
	kp_proc_free(&sp);
	if (st) {
		snprintf(why, len, "%s", st == -ETIMEDOUT ? "timed out" : st == -EINTR ? "interrupted" :
			 "the tcp-churn client failed");
		kp_proc_free(&cp);
		return st < 0 ? st : -EIO;
	}
	err = kp_metric_parse(t->c->pattern, cp.out, metric);
	if (err)
		snprintf(why, len, "no %s in the client's output", t->c->metric_name);
	kp_proc_free(&cp);
	return err;
}

static int run_command(struct tune *t, double *metric, char *why, size_t len)
{
	struct kp_run_opts ro = { .argv = t->c->argv, .shell = t->c->shell,
				  .netns = t->nns ? t->ns[0] : NULL, .on_start = watch, .arg = t };
	struct kp_child p;
	int st, err;

	err = kp_proc_start(&ro, &p, why, len);
	if (err)
		return err;
	st = kp_proc_finish(&p, t->c->timeout_s, stop_requested);
	if (st == -ETIMEDOUT || st == -EINTR) {
		snprintf(why, len, "%s", st == -ETIMEDOUT ? "timed out" : "interrupted");
		kp_proc_free(&p);
		return st;
	}
	err = kp_metric_parse(t->c->pattern, p.out, metric);
	if (st) {
		/* The last line of its output says more than the status. */
		char *last = p.len ? p.out + p.len - 1 : p.out;

		while (last > p.out && *last == '\n')
			*last-- = '\0';
		last = strrchr(p.out, '\n');
		snprintf(why, len, "exit status %d: %.100s", st, last ? last + 1 : p.out);
		err = -EIO;
	} else if (err) {
		snprintf(why, len, "no match for the %s pattern in the output", t->c->metric_name);
	}
	kp_proc_free(&p);
	return err;
}

/*
 * One run of the benchmark. In netns mode in fresh namespaces, with
 * values (NULL: the defaults) applied there and restored before they go.
 */
static int run_once(struct tune *t, char values[][64], char applied[][64], const char *reason,
		    double *metric, char *why, size_t len)
{
	int err, i;

	if (!t->c->netns)
		return t->c->builtin[0] ? -EINVAL : run_command(t, metric, why, len);
	err = ns_setup(t, why, len);
	if (err)
		return err;
	for (i = 0; i < t->nns && values; i++) {
		err = kp_session_set_netns(t->s, t->ns[i], why, len);
		err = err ?: apply(t, values, reason, i ? NULL : applied, why, len);
		if (err)
			goto out;
	}
	if (!values && applied)
		for (i = 0; i < t->c->nactions; i++) {
			kp_session_set_netns(t->s, t->ns[0], why, len);
			kp_session_read(t->s, t->c->actions[i].knob, applied[i], 64);
		}
	err = t->c->builtin[0] ? run_churn(t, metric, why, len) : run_command(t, metric, why, len);
out:
	if (values)
		kp_session_restore(t->s);
	kp_session_set_netns(t->s, NULL, why, len);
	ns_teardown(t);
	return err;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* warmup_runs, then repeats: the median, and the spread (coefficient of variation). */
static int measure(struct tune *t, char values[][64], char applied[][64], const char *reason,
		   double *metric, double *cv, char *why, size_t len)
{
	double m[100], mean = 0, var = 0;
	int i, n = 0, err = 0;

	for (i = 0; i < t->c->warmup_runs && !stop_requested(); i++)
		run_once(t, values, applied, reason, &m[0], why, len);
	for (i = 0; i < t->c->repeats; i++) {
		if (stop_requested())
			return -EINTR;
		err = run_once(t, values, applied, reason, &m[n], why, len);
		if (err == -EINVAL && values)
			return err;	/* refused by the validator: no point repeating */
		if (!err)
			n++;
	}
	if (!n)
		return err ? err : -EIO;
	qsort(m, n, sizeof(m[0]), cmp_double);
	*metric = n % 2 ? m[n / 2] : (m[n / 2 - 1] + m[n / 2]) / 2;
	for (i = 0; i < n; i++)
		mean += m[i] / n;
	for (i = 0; i < n; i++)
		var += (m[i] - mean) * (m[i] - mean) / n;
	*cv = mean ? sqrt(var) / fabs(mean) : 0;
	return 0;
}

/* ---- state and reward ------------------------------------------------------ */

static void collect_state(struct tune *t, double wall_s, const struct kp_cpustat *cs0,
			  double *state)
{
	struct kp_entity none = { 0 }, *e = &none;
	struct kp_cpustat cs1;
	int i;

	if (t->obs) {
		usleep(100000);	/* exit records of the last run */
		kp_observer_poll(t->obs);
		e = kp_table_find(&kp_observer_interval(t->obs)->ops, t->op);
		if (!e)
			e = &none;
	}
	if (wall_s <= 0)
		wall_s = 1;
	kp_cpustat_read("/proc", &cs1);
	for (i = 0; i < t->c->nstate; i++) {
		const char *n = t->c->state[i];
		double v = 0;

		if (!strcmp(n, "cpu"))
			v = e->cpu_ns / 1e9 / wall_s;
		else if (!strcmp(n, "runq_p99_us"))
			v = kp_hist_percentile(e->runq_hist, KP_HIST_SLOTS, 99);
		else if (!strcmp(n, "runq_wait_frac"))
			v = e->runq_ns + e->cpu_ns ? (double)e->runq_ns / (e->runq_ns + e->cpu_ns) : 0;
		else if (!strcmp(n, "io_p99_us"))
			v = kp_hist_percentile(e->io_lat_hist, KP_HIST_SLOTS, 99);
		else if (!strcmp(n, "io_mbps"))
			v = (e->io_read_bytes + e->io_write_bytes) / 1e6 / wall_s;
		else if (!strcmp(n, "tcp_retrans"))
			v = e->tcp_retrans / wall_s;
		else if (!strcmp(n, "tcp_connect_p99_us"))
			v = kp_hist_percentile(e->tcp_conn_hist, KP_HIST_SLOTS, 99);
		else if (!strcmp(n, "tcp_time_wait"))
			v = e->tcp_time_wait / wall_s;
		else if (!strcmp(n, "ctx_switches"))
			v = (e->nvcsw + e->nivcsw) / wall_s;
		else if (!strcmp(n, "iowait"))
			v = kp_iowait_share(cs0, &cs1);
		else if (!strcmp(n, "memory_avail"))
			v = kp_mem_avail("/proc");
		else if (!strcmp(n, "psi_cpu"))
			v = kp_psi_some10("/proc", "cpu");
		else if (!strcmp(n, "psi_io"))
			v = kp_psi_some10("/proc", "io");
		else if (!strcmp(n, "psi_memory"))
			v = kp_psi_some10("/proc", "memory");
		state[i] = v;
	}
	if (t->obs)
		kp_observer_reset(t->obs);
}

/*
 * Relative improvement over the baseline (goal-aware), less a penalty for
 * spread between repeats; a failed trial costs the failure weight.
 */
static double reward_of(const struct tune *t, bool ok, double metric, double cv)
{
	const struct kp_tune_config *c = t->c;
	double rel;

	if (!ok)
		return -c->w_failure;
	rel = (metric - t->r.baseline) / fabs(t->r.baseline);
	if (c->goal == KP_GOAL_MINIMIZE)
		rel = -rel;
	return c->w_perf * rel - c->w_stability * cv;
}

/* ---- agents ------------------------------------------------------------------ */

/*
 * PPO's action is a bounded step from the incumbent (the best configuration
 * found so far, at first the current one), not a point in the box: with tens
 * of trials, a policy that starts as a local search around the best known
 * configuration and learns which directions pay beats one that must first
 * learn where the good region is (tools/bench/tuning measures it against
 * random search). It is also how the safety layer thinks: bounded steps.
 * The observation: the incumbent, its reward, the last reward, the state.
 */
static int agent_open(struct tune *t)
{
	struct kp_ppo_config pc;

	t->obs_dim = t->c->nactions + 2 + t->c->nstate;
	kp_rng_seed(&t->rng, t->c->seed);
	if (t->c->algo != KP_ALGO_PPO)
		return 0;
	kp_ppo_config_tuning(&pc, t->obs_dim, t->c->nactions);
	pc.num_steps = PPO_ROLLOUT;
	pc.num_minibatches = 2;
	pc.seed = t->c->seed;
	return kp_ppo_create(&t->ppo, &pc);
}

/* Where a knob value sits in an action's range, in [-1, 1]. */
static double value_unit(struct tune *t, int i, const char *text)
{
	const struct kp_tune_action *a = &t->c->actions[i];
	const struct kp_knob *def = kp_session_knob(t->s, a->knob);
	struct kp_knob span;
	struct kp_value v;
	char err[256];
	long long x;

	if (!def || kp_value_parse(def, text, &v, err, sizeof(err)))
		return 0;
	if (def->type == KP_VT_ENUM) {
		const char *w = def->enums;

		for (x = 0; w && strncmp(w, v.s, strlen(v.s)); x++)
			if ((w = strchr(w, ' ')))
				w++;
	} else {
		x = v.v[def->type == KP_VT_TUPLE && a->element < v.n ? a->element : 0];
	}
	span = *def;
	span.min = llround(a->min);
	span.max = llround(a->max);
	span.scale = a->log_scale ? KP_SCALE_LOG : KP_SCALE_LINEAR;
	return kp_knob_to_unit(&span, x);
}

static void agent_observe(struct tune *t, double last_reward, const double *state)
{
	int i, d = t->c->nactions;

	for (i = 0; i < d; i++)
		t->obs_vec[i] = t->u_best[i];
	t->obs_vec[d] = t->r_best;
	t->obs_vec[d + 1] = last_reward;
	for (i = 0; i < t->c->nstate; i++)
		t->obs_vec[d + 2 + i] = state ? state[i] : 0;
}

/*
 * The first incumbent is the middle of the box the config asks to explore
 * (the usual prior), standing for the baseline: any trial that beats the
 * baseline replaces it.
 */
static void agent_start(struct tune *t)
{
	int i;

	for (i = 0; i < t->c->nactions; i++)
		t->u_best[i] = 0;
	t->r_best = 0;	/* the baseline's reward */
	agent_observe(t, 0, NULL);
}

static int agent_propose(struct tune *t, double *u, float *a)
{
	int i, err;

	if (!t->ppo) {
		for (i = 0; i < t->c->nactions; i++)
			u[i] = kp_rng_uniform(&t->rng) * 2 - 1;
		return 0;
	}
	err = kp_ppo_act(t->ppo, t->obs_vec, a, NULL, NULL);
	for (i = 0; !err && i < t->c->nactions; i++) {
		u[i] = t->u_best[i] + PPO_STEP * a[i];
		u[i] = u[i] < -1 ? -1 : u[i] > 1 ? 1 : u[i];
	}
	return err;
}

/*
 * The outcome of the last proposal; the next observation is built here. The
 * incumbent is what was applied, which the validator may have clamped.
 */
static int agent_learn(struct tune *t, char applied[][64], bool ok, double reward,
		       const double *state, int trial)
{
	bool truncated = trial % t->c->episode_steps == 0;
	float r = reward;
	int i, full;

	if (ok && reward > t->r_best) {
		for (i = 0; i < t->c->nactions; i++)
			t->u_best[i] = value_unit(t, i, applied[i]);
		t->r_best = reward;
	}
	agent_observe(t, reward, state);
	if (!t->ppo)
		return 0;
	full = kp_ppo_record(t->ppo, &r, NULL, &truncated, t->obs_vec);
	if (full < 0)
		return full;
	return full ? kp_ppo_update(t->ppo, t->obs_vec, NULL) : 0;
}

/* ---- the session ---------------------------------------------------------------- */

static int add_knobs(struct tune *t, char *why, size_t len)
{
	int i, err;

	for (i = 0; i < t->c->nactions; i++) {
		const struct kp_tune_action *a = &t->c->actions[i];
		const struct kp_knob *b = kp_knob_builtin(a->knob);
		struct kp_knob k;

		if (b) {
			k = *b;
			/* A tuple's range bounds every element: only the action narrows it. */
			if (b->type == KP_VT_INT) {
				k.min = llround(a->min);
				k.max = llround(a->max);
			}
		} else {
			memset(&k, 0, sizeof(k));
			snprintf(k.name, sizeof(k.name), "%s", a->knob);
			k.kind = KP_KNOB_SYSCTL;
			k.type = KP_VT_INT;
			k.arity = 1;
			k.min = llround(a->min);
			k.max = llround(a->max);
			k.min_interval_ms = 1000;
			k.per_netns = t->c->netns;
		}
		k.scale = a->log_scale ? KP_SCALE_LOG : KP_SCALE_LINEAR;
		if (a->max_step > 0)
			k.step_abs = llround(a->max_step);
		err = kp_session_add_knob(t->s, &k, why, len);
		if (err)
			return err;
	}
	return 0;
}

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

/* Keep the best values on the host: stepwise, each step within the rules. */
static int apply_best(struct tune *t, char *why, size_t len)
{
	struct kp_session_opts so = { .state_dir = t->o->state_dir, .cmd = "tune --apply-best",
				      .keep = true, .step_policy = KP_STEP_CLAMP };
	char vals[KP_TUNE_MAX_ACTIONS][64], applied[KP_TUNE_MAX_ACTIONS][64];
	struct kp_session *s;
	int i, k, err;

	err = kp_session_open(&so, &s, why, len);
	if (err)
		return err;
	memcpy(vals, t->r.trials[t->r.best].values, sizeof(vals));
	for (k = 0; k < 20; k++) {
		struct tune tmp = *t;
		bool done = true;

		tmp.s = s;
		err = apply(&tmp, vals, "tune --apply-best", applied, why, len);
		if (err)
			break;
		for (i = 0; i < t->c->nactions; i++)
			if (strcmp(applied[i], vals[i]))
				done = false;
		if (done)
			break;
		/* clamped by the step limit: the next step after the knobs' interval */
		sleep(1);
	}
	kp_session_close(s);
	return err;
}

int kp_tune_run(const struct kp_tune_opts *o, char *out_dir, size_t out_len,
		char *why, size_t len)
{
	const struct kp_tune_config *c = o->cfg;
	const char *allow[KP_TUNE_MAX_ACTIONS + 1];
	struct kp_session_opts so = { .state_dir = o->state_dir, .cmd = "tune",
				      .step_policy = KP_STEP_CLAMP, .dry_run = o->dry_run };
	struct kp_observer_opts oo = { .interval_ms = 1000, .filter = true };
	struct kp_opspec spec = { .name = "bench", .type = KP_OP_PIDS };
	double u[KP_TUNE_MAX_ACTIONS], metric, cv;
	float step[KP_TUNE_MAX_ACTIONS];
	char vals[KP_TUNE_MAX_ACTIONS][64], reason[64], err2[512];
	struct tune t = { .o = o, .c = c };
	int i, n, err, ret = KP_EXIT_OK, fails_in_row = 0;

	t.r.cfg = c;
	t.r.algo = c->algo == KP_ALGO_PPO ? "ppo" : "random";
	t.r.seed = c->seed;
	t.r.best = -1;
	t.r.baseline = NAN;
	t.r.trials = calloc(c->trials + 1, sizeof(*t.r.trials));
	if (!t.r.trials) {
		snprintf(why, len, "out of memory");
		return KP_EXIT_USAGE;
	}
	for (i = 0; i < c->nactions; i++)
		allow[i] = c->actions[i].knob;
	allow[i] = NULL;
	so.allow = allow;

	kp_safety_catch_signals();
	err = kp_session_open(&so, &t.s, why, len);
	err = err ?: add_knobs(&t, why, len);
	if (err) {
		ret = KP_EXIT_USAGE;
		goto out;
	}
	if (o->dry_run) {
		/* The plan: the box's centre, validated against this machine. */
		if (c->netns && (err = ns_setup(&t, why, len))) {
			ret = KP_EXIT_USAGE;
			goto out;
		}
		if (c->netns)
			kp_session_set_netns(t.s, t.ns[0], why, len);
		for (i = 0; i < c->nactions && !err; i++)
			err = action_value(&t, i, 0.0, vals[i], sizeof(vals[i]));
		err = err ?: apply(&t, vals, "tune --dry-run", NULL, why, len);
		kp_session_set_netns(t.s, NULL, err2, sizeof(err2));
		ns_teardown(&t);
		ret = err ? KP_EXIT_USAGE : KP_EXIT_OK;
		goto out;
	}
	err = agent_open(&t);
	if (err) {
		snprintf(why, len, "cannot create the %s agent: %s", t.r.algo, strerror(-err));
		ret = KP_EXIT_USAGE;
		goto out;
	}
	if (kp_observer_open(&t.obs, &oo, err2, sizeof(err2)) ||
	    (t.op = kp_observer_add_operator(t.obs, &spec, err2, sizeof(err2))) < 0) {
		kp_warn("no eBPF state for the agent (%s); tuning on the metric alone", err2);
		kp_observer_close(t.obs);
		t.obs = NULL;
	}

	t.t0 = kp_mono_s();
	/* Baseline: the current settings (fresh namespaces' defaults in netns mode). */
	err = measure(&t, NULL, t.r.baseline_values, "baseline", &t.r.baseline, &cv, why, len);
	if (!err && !c->netns)
		for (i = 0; i < c->nactions; i++)
			kp_session_read(t.s, c->actions[i].knob, t.r.baseline_values[i], 64);
	if (err) {
		if (err == -EINTR) {
			ret = KP_EXIT_INTERRUPTED;
			t.r.interrupted = true;
		} else {
			char msg[400];

			snprintf(msg, sizeof(msg), "%s", why);
			snprintf(why, len, "the baseline run failed: %s", msg);
			ret = KP_EXIT_USAGE;
		}
		goto out;
	}
	if (!t.r.baseline) {
		snprintf(why, len, "the baseline %s is 0: nothing to improve relative to", c->metric_name);
		ret = KP_EXIT_USAGE;
		goto out;
	}
	if (t.obs) {
		kp_observer_poll(t.obs);
		kp_observer_reset(t.obs);
	}
	kp_info("baseline %s = %.6g", c->metric_name, t.r.baseline);
	agent_start(&t);

	for (n = 1; n <= c->trials && !stop_requested(); n++) {
		struct kp_trial *tr = &t.r.trials[n - 1];
		struct kp_cpustat cs0;
		double t1 = kp_mono_s();

		tr->n = n;
		tr->metric = NAN;
		kp_cpustat_read("/proc", &cs0);
		err = agent_propose(&t, u, step);
		for (i = 0; i < c->nactions && !err; i++)
			err = action_value(&t, i, u[i], vals[i], sizeof(vals[i]));
		if (err) {
			snprintf(why, len, "the agent's proposal %d cannot be used: %s", n, strerror(-err));
			ret = KP_EXIT_USAGE;
			break;
		}
		snprintf(reason, sizeof(reason), "%s trial %d", t.r.algo, n);
		memcpy(tr->values, vals, sizeof(tr->values));
		if (!c->netns) {
			wait_interval(&t);
			err = apply(&t, vals, reason, tr->values, tr->error, sizeof(tr->error));
			t.last_apply = kp_mono_s();
			if (err == -ECANCELED) {
				t.r.aborted = true;
				break;
			}
		}
		err = err ?: measure(&t, c->netns ? vals : NULL, tr->values, reason, &metric, &cv,
				     tr->error, sizeof(tr->error));
		if (err == -EINTR) {
			t.r.interrupted = true;
			break;
		}
		tr->ok = !err;
		tr->metric = err ? NAN : metric;
		tr->seconds = kp_mono_s() - t1;
		collect_state(&t, tr->seconds, &cs0, tr->state);
		tr->reward = reward_of(&t, tr->ok, metric, cv);
		t.r.ntrials = n;
		if (tr->ok && (t.r.best < 0 || better(c, metric, t.r.trials[t.r.best].metric)))
			t.r.best = n - 1;
		err = agent_learn(&t, tr->values, tr->ok, tr->reward, tr->state, n);
		if (err) {
			snprintf(why, len, "the agent's update failed: %s", strerror(-err));
			ret = KP_EXIT_USAGE;
			break;
		}
		/* Guardrails: 3 failed trials in a row abort and restore. */
		fails_in_row = tr->ok ? 0 : fails_in_row + 1;
		if (!tr->ok) {
			t.r.failures++;
			if (kp_session_step_failed(t.s, tr->error) == -ECANCELED ||
			    fails_in_row >= 3) {
				t.r.aborted = true;
				progress(&t, n, tr);
				break;
			}
		} else if (!c->netns && kp_session_report(t.s, tr->reward) == 1) {
			kp_warn("trial %d: reward regressed for several trials; back to the last known-good values",
				n);
		}
		progress(&t, n, tr);
	}
	if (o->progress)
		fputc('\n', stderr);
	if (stop_requested())
		t.r.interrupted = true;
	if (t.r.interrupted)
		ret = KP_EXIT_INTERRUPTED;
	else if (t.r.aborted)
		ret = KP_EXIT_ABORTED;
out:
	t.r.elapsed_s = t.t0 ? kp_mono_s() - t.t0 : 0;
	if (t.nns)
		ns_teardown(&t);
	if (t.s) {
		err = kp_session_close(t.s);	/* restores every original */
		if (err)
			kp_warn("restoring the original values: %s", strerror(-err));
	}
	if (ret == KP_EXIT_OK && o->apply_best && !kp_results_improvement(&t.r)) {
		kp_warn("--apply-best: no trial beat the baseline; keeping the original values");
	} else if (ret == KP_EXIT_OK && o->apply_best && t.r.best >= 0 && !c->netns) {
		err = apply_best(&t, err2, sizeof(err2));
		if (err)
			kp_warn("--apply-best: %s", err2);
		else
			t.r.applied_best = true;
	} else if (o->apply_best && c->netns && ret == KP_EXIT_OK) {
		kp_warn("--apply-best: %s runs in private namespaces; nothing on this host to keep",
			c->workload_name);
	}
	kp_observer_close(t.obs);
	kp_ppo_destroy(t.ppo);
	if (!o->dry_run && t.t0 && (ret != KP_EXIT_USAGE || t.r.ntrials)) {
		kp_results_dir(o->out_dir, c->workload_name, out_dir, out_len);
		if (kp_results_write(&t.r, out_dir, err2, sizeof(err2))) {
			kp_err("%s", err2);
			out_dir[0] = '\0';
		}
		if (o->json) {
			json_t *j = kp_results_json(&t.r);

			json_dumpf(j, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
			putchar('\n');
			json_decref(j);
		} else if (!o->quiet) {
			printf("%s: baseline %s %.6g", c->workload_name, c->metric_name, t.r.baseline);
			if (t.r.best >= 0 && kp_results_improvement(&t.r))
				printf(", best %.6g at trial %d (%+.1f%%)", t.r.trials[t.r.best].metric,
				       t.r.trials[t.r.best].n, kp_results_improvement(&t.r));
			else if (t.r.best >= 0)
				printf(", no trial beat it (best %.6g at trial %d)",
				       t.r.trials[t.r.best].metric, t.r.trials[t.r.best].n);
			printf(", %d trials, %d failed%s%s\n", t.r.ntrials, t.r.failures,
			       t.r.interrupted ? ", interrupted" : "", t.r.aborted ? ", aborted" : "");
			if (t.r.best >= 0) {
				printf("best configuration:\n");
				for (i = 0; i < c->nactions; i++)
					printf("  %-32s %-16s (baseline %s)\n", c->actions[i].knob,
					       t.r.trials[t.r.best].values[i], t.r.baseline_values[i]);
			}
			printf("every knob is back to its original value%s\n",
			       t.r.applied_best ? ", except the best configuration kept by --apply-best "
						  "(kpilot rollback undoes it)" : "");
			if (out_dir[0])
				printf("results: %s/results.json, history.csv, plot.svg\n", out_dir);
		}
	}
	free(t.r.trials);
	return ret;
}
