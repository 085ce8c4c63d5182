// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "env/benchmark/bench_run.h"
#include "env/benchmark/tune_run.h"
#include "lib/fs.h"
#include "observe/observer.h"
#include "safety/session.h"
#include "state/state.h"

bool tune_stop_requested(void)
{
	return kp_safety_stop_requested();
}


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
	char s_secs[32], c_secs[32], self[4096];
	char *srv[] = { self, "tcpchurn", "server", "--addr", CHURN_SRV_IP, "--port",
			CHURN_PORT, "--seconds", s_secs, NULL };
	char *cli[] = { self, "tcpchurn", "client", "--addr", CHURN_SRV_IP, "--port",
			CHURN_PORT, "--seconds", c_secs, "--threads", "4", NULL };
	struct kp_run_opts so = { .argv = srv, .netns = t->ns[0], .on_start = watch, .arg = t };
	struct kp_run_opts co = { .argv = cli, .netns = t->ns[1], .on_start = watch, .arg = t };
	struct kp_child sp, cp;
	int st, err;

	kp_self_exe(self, sizeof(self));
	snprintf(s_secs, sizeof(s_secs), "%g", secs + t->c->timeout_s);
	snprintf(c_secs, sizeof(c_secs), "%g", secs);
	err = kp_child_start(&so, &sp, why, len);
	if (err)
		return err;
	err = kp_child_wait_for(&sp, "listening", 5);
	if (err) {
		snprintf(why, len, "the tcp-churn server did not start: %s", sp.len ? sp.out : "no output");
		kp_child_free(&sp);
		return -EIO;
	}
	err = kp_child_start(&co, &cp, why, len);
	if (err) {
		kp_child_free(&sp);
		return err;
	}
	st = kp_child_finish(&cp, t->c->timeout_s, tune_stop_requested);
	kill(sp.pid, SIGTERM);
	kp_child_finish(&sp, 5, NULL);
	kp_child_free(&sp);
	if (st) {
		if (st == -ETIMEDOUT || st == -EINTR)
			snprintf(why, len, "the tcp-churn client %s",
				 st == -ETIMEDOUT ? "timed out" : "was interrupted");
		else if (st < 0)
			snprintf(why, len, "the tcp-churn client: %s", strerror(-st));
		else
			snprintf(why, len, "the tcp-churn client exited with status %d: %s", st,
				 cp.len ? cp.out : "no output");
		why[strcspn(why, "\n")] = '\0';
		kp_child_free(&cp);
		return st < 0 ? st : -EIO;
	}
	err = kp_metric_parse(t->c->pattern, cp.out, metric);
	if (err)
		snprintf(why, len, "no %s in the client's output", t->c->metric_name);
	kp_child_free(&cp);
	return err;
}

static int run_command(struct tune *t, double *metric, char *why, size_t len)
{
	struct kp_run_opts ro = { .argv = t->c->argv, .shell = t->c->shell,
				  .netns = t->nns ? t->ns[0] : NULL, .on_start = watch, .arg = t };
	struct kp_child p;
	int st, err;

	err = kp_child_start(&ro, &p, why, len);
	if (err)
		return err;
	st = kp_child_finish(&p, t->c->timeout_s, tune_stop_requested);
	if (st == -ETIMEDOUT || st == -EINTR) {
		snprintf(why, len, "%s", st == -ETIMEDOUT ? "timed out" : "interrupted");
		kp_child_free(&p);
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
	kp_child_free(&p);
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
	err = tune_ns_setup(t, why, len);
	if (err)
		return err;
	for (i = 0; i < t->nns && values; i++) {
		err = kp_session_set_own_netns(t->s, t->ns[i], why, len);
		err = err ?: tune_apply(t, values, reason, i ? NULL : applied, why, len);
		if (err)
			goto out;
	}
	if (!values && applied)
		for (i = 0; i < t->c->nactions; i++) {
			kp_session_set_own_netns(t->s, t->ns[0], why, len);
			kp_session_read(t->s, t->c->actions[i].knob, applied[i], 64);
		}
	err = t->c->builtin[0] ? run_churn(t, metric, why, len) : run_command(t, metric, why, len);
out:
	if (values)
		kp_session_restore(t->s);
	kp_session_set_netns(t->s, NULL, why, len);
	tune_ns_teardown(t);
	return err;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* warmup_runs, then repeats: the median, and the spread (coefficient of variation). */
int tune_measure(struct tune *t, char values[][64], char applied[][64], const char *reason,
		 double *metric, double *cv, char *why, size_t len)
{
	double m[100], mean = 0, var = 0;
	int i, n = 0, err = 0;

	for (i = 0; i < t->c->warmup_runs && !tune_stop_requested(); i++)
		run_once(t, values, applied, reason, &m[0], why, len);
	for (i = 0; i < t->c->repeats; i++) {
		if (tune_stop_requested())
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


void tune_collect_state(struct tune *t, double wall_s, const struct kp_cpustat *cs0,
			double *state)
{
	struct kp_entity none = { 0 };
	struct kp_state_sample smp = { .e = &none, .cs0 = cs0 };
	struct kp_cpustat cs1;
	int i;

	if (t->obs) {
		usleep(100000);	/* exit records of the last run */
		kp_observer_poll(t->obs);
		smp.e = kp_table_find(&kp_observer_interval(t->obs)->ops, t->op);
		if (!smp.e)
			smp.e = &none;
	}
	smp.wall_s = wall_s > 0 ? wall_s : 1;
	kp_cpustat_read("/proc", &cs1);
	smp.cs1 = &cs1;
	for (i = 0; i < t->c->nstate; i++) {
		const struct kp_state_metric *m = kp_bench_state_find(t->c->state[i]);

		/* the validator only lets the table's names through */
		state[i] = m ? m->measure(&smp) : 0;
	}
	if (t->obs)
		kp_observer_reset(t->obs);
}

/*
 * Relative improvement over the baseline (goal-aware), less a penalty for
 * spread between repeats; a failed trial costs the failure weight.
 */
double tune_reward(const struct tune *t, bool ok, double metric, double cv)
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
