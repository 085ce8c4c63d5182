// SPDX-License-Identifier: GPL-2.0
/*
 * The confirmation phase: after the trials, the baseline and the best
 * configuration are measured again, alternately, N times each, through the
 * safety session as the trials were (host mode: applied stepwise; netns
 * mode: fresh namespaces per run). A best trial picked out of tens of noisy
 * ones is biased upwards; alternating runs of the two, measured the same
 * way, are not, and the interval says whether the gain is more than noise.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "env/benchmark/tune_run.h"
#include "lib/log.h"

/* One run of one side; host mode applies its values first. */
static int measure_side(struct tune *t, bool best, double *out, char *why, size_t len)
{
	char (*vals)[64] = best ? t->r.trials[t->r.best].values : t->r.baseline_values;
	const char *reason = best ? "confirm best" : "confirm baseline";
	double cv;
	int err;

	if (t->c->netns)
		return tune_measure(t, best ? vals : NULL, NULL, reason, out, &cv, why, len);
	err = tune_apply_stepwise(t, t->s, vals, reason, why, len);
	return err ?: tune_measure(t, NULL, NULL, reason, out, &cv, why, len);
}

int tune_confirm(struct tune *t, int n, char *why, size_t len)
{
	struct kp_confirm *c = &t->r.conf;
	char msg[256];
	int i, err = 0;

	t->r.confirm_on = true;
	if (t->r.best < 0 || !kp_results_improvement(&t->r)) {
		c->skipped = t->r.ntrials ? "no trial beat the baseline" : "no trials";
		return 0;
	}
	for (i = 0; i < n && !err; i++) {
		err = measure_side(t, false, &c->base[i], msg, sizeof(msg));
		err = err ?: measure_side(t, true, &c->best[i], msg, sizeof(msg));
		if (!err)
			fprintf(stderr, "kpilot: confirm %d/%d %s baseline=%.6g best=%.6g\n", i + 1, n,
				t->c->metric_name, c->base[i], c->best[i]);
	}
	if (err == -EINTR || tune_stop_requested()) {
		t->r.interrupted = true;
		c->skipped = "interrupted";
		return -EINTR;
	}
	if (err == -ECANCELED) {
		t->r.aborted = true;
		c->skipped = "aborted";
		snprintf(why, len, "the confirmation was aborted by the guardrails: %s", msg);
		return -ECANCELED;
	}
	if (err) {
		/* not fatal: the trials stand, but nothing is confirmed */
		kp_warn("confirmation run %d failed: %s", i, msg);
		c->skipped = "a confirmation run failed";
		return 0;
	}
	c->n = n;
	kp_confirm_stats(c, t->desc.minimize);
	return 0;
}

void tune_confirm_line(const struct kp_results *r, FILE *f)
{
	const struct kp_confirm *c = &r->conf;

	if (!r->confirm_on)
		return;
	if (!c->n) {
		fprintf(f, "confirmation: none (%s)\n", c->skipped ? c->skipped : "?");
		return;
	}
	fprintf(f, "confirmed over %d runs each: baseline %.6g (sd %.3g), best %.6g (sd %.3g): "
		"%+.1f%% (95%% CI %+.1f%% to %+.1f%%), %s\n", c->n, c->base_mean, c->base_sd,
		c->best_mean, c->best_sd, c->pct, c->pct_lo, c->pct_hi,
		c->significant ? "significant" : "not significant");
}

/* --apply-best after a confirmation: 0 to go on, or -EDOM with why. */
int tune_confirm_gate(const struct kp_results *r, char *why, size_t len)
{
	const struct kp_confirm *c = &r->conf;

	if (!r->confirm_on || c->significant)
		return 0;
	if (!c->n)
		snprintf(why, len, "--apply-best refused: nothing confirmed (%s); every knob keeps "
			 "its original value", c->skipped ? c->skipped : "?");
	else
		snprintf(why, len, "--apply-best refused: the improvement %+.1f%% (95%% CI %+.1f%% "
			 "to %+.1f%%, %d runs each) is not significant; every knob keeps its original "
			 "value", c->pct, c->pct_lo, c->pct_hi, c->n);
	return -EDOM;
}
