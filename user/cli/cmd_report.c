// SPDX-License-Identifier: GPL-2.0
/* kpilot report: a tuning run's results.json as a person reads it. */
#include <argp.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "env/benchmark/results_load.h"
#include "safety/knob_doc.h"

struct report_args {
	const char *results;
	bool json;
};

/* One trial of the learning curve. */
struct point {
	int trial;
	bool ok;
	double metric, best;	/* best so far, goal-aware; NaN before the first success */
};

static const char doc[] =
"Print a tuning run as a person reads it: the workload, what was tried\n"
"(trials, knobs and the values tried, failures), the learning curve (best\n"
"so far per trial, from history.csv beside results.json when present), the\n"
"best configuration with its confirmation's 95% confidence interval, what\n"
"each knob does, and the exact commands to apply or undo it.\n"
"\n"
"USAGE: kpilot report RESULTS.json [--json]\n"
"\n"
"EXAMPLES:\n"
"    kpilot report RESULTS.json\n"
"    kpilot report RESULTS.json --json        # the same, as one JSON object\n"
"\n"
"Exit status: 0 printed, 2 the file is unreadable or not a run's results.json.\n";

static const struct argp_option options[] = {
	{ "json", 'j', NULL, 0, "One JSON object instead of text" },
	{},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	struct report_args *a = state->input;

	switch (key) {
	case 'j': a->json = true; break;
	default:
		return cli_results_arg(key, arg, state, &a->results);
	}
	return 0;
}

static bool better(const struct kp_saved *r, double a, double b)
{
	return isnan(b) || (r->minimize ? a < b : a > b);
}

/* history.csv's first three columns (trial, ok, metric); NULL when it is absent or unreadable. */
static struct point *curve_csv(const struct kp_saved *r, int *n)
{
	char path[4200], *line = NULL, *e;
	struct point *p = NULL, *q;
	size_t cap = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s", r->path);
	snprintf(strrchr(path, '/') ? strrchr(path, '/') + 1 : path,
		 sizeof(path) - (strrchr(path, '/') ? strrchr(path, '/') + 1 - path : 0),
		 "history.csv");
	f = fopen(path, "re");
	*n = 0;
	if (!f)
		return NULL;
	while (getline(&line, &cap, f) > 0) {
		if (!strncmp(line, "trial,", 6))
			continue;
		q = realloc(p, (*n + 1) * sizeof(*p));
		if (!q)
			break;
		p = q;
		p[*n].trial = (int)strtol(line, &e, 10);
		p[*n].ok = *e == ',' && e[1] == '1';
		p[*n].metric = *e == ',' && e[1] && e[2] == ',' && e[3] != ',' ?
			       strtod(e + 3, NULL) : NAN;
		(*n)++;
	}
	free(line);
	fclose(f);
	return p;
}

static struct point *curve(const struct kp_saved *r, int *n, const char **from)
{
	struct point *p = curve_csv(r, n);
	double best = NAN;
	int i;

	*from = "history.csv";
	if (!p) {
		*from = "results.json";
		*n = r->nhist;
		p = calloc(r->nhist + 1, sizeof(*p));
		for (i = 0; p && i < r->nhist; i++) {
			p[i].trial = r->hist[i].n;
			p[i].ok = r->hist[i].ok;
			p[i].metric = r->hist[i].metric;
		}
	}
	for (i = 0; p && i < *n; i++) {
		if (p[i].ok && !isnan(p[i].metric) && better(r, p[i].metric, best))
			best = p[i].metric;
		p[i].best = best;
	}
	return p;
}

/* The values a knob took over the trials: "lo .. hi" for integers, else how many distinct. */
static void tried(const struct kp_saved *r, int k, char *buf, size_t len)
{
	long long lo = 0, hi = 0, v;
	int i, seen = 0, distinct = 0, j;
	char *e;

	snprintf(buf, len, "-");
	for (i = 0; i < r->nhist; i++) {
		const char *s = r->hist[i].values[k];

		for (j = 0; j < i && strcmp(r->hist[j].values[k], s); j++)
			;
		distinct += j == i && s[0];
		v = strtoll(s, &e, 10);
		if (!s[0] || *e) {
			seen = -1;
			continue;
		}
		if (seen >= 0) {
			lo = seen && lo < v ? lo : v;
			hi = seen && hi > v ? hi : v;
			seen = 1;
		}
	}
	if (seen > 0)
		snprintf(buf, len, "%lld .. %lld", lo, hi);
	else if (distinct)
		snprintf(buf, len, "%d distinct value%s", distinct, distinct == 1 ? "" : "s");
}

/* KNOB=VALUE as a shell word: quoted when the value has a space. */
static void set_word(const char *knob, const char *value, char *buf, size_t len)
{
	snprintf(buf, len, strchr(value, ' ') ? "%s='%s'" : "%s=%s", knob, value);
}

static void text_tried(const struct kp_saved *r)
{
	char buf[128];
	int i, shown = 0;

	printf("\nWhat was tried: %d trial%s, %d failed%s%s\n", r->ntrials, r->ntrials == 1 ? "" : "s",
	       r->failures, r->interrupted ? ", interrupted (Ctrl-C)" : "",
	       r->aborted ? ", aborted by the guardrails" : "");
	printf("  %-34s %-24s %s\n", "knob", "values tried", "baseline");
	for (i = 0; i < r->nknobs; i++) {
		tried(r, i, buf, sizeof(buf));
		printf("  %-34s %-24s %s\n", r->knob[i], buf, r->base[i][0] ? r->base[i] : "?");
	}
	for (i = 0; i < r->nhist && shown < 5; i++)
		if (!r->hist[i].ok) {
			printf("  trial %d failed: %s\n", r->hist[i].n,
			       r->hist[i].error[0] ? r->hist[i].error : "?");
			shown++;
		}
	if (r->failures > shown && shown)
		printf("  (%d more failures in results.json)\n", r->failures - shown);
}

static void text_curve(const struct kp_saved *r, const struct point *p, int n, const char *from)
{
	double lo = NAN, hi = NAN;
	int i, w;

	printf("\nLearning curve (best so far per trial, from %s; %s is better):\n", from,
	       r->minimize ? "lower" : "higher");
	for (i = 0; i < n; i++)
		if (!isnan(p[i].best)) {
			lo = isnan(lo) || p[i].best < lo ? p[i].best : lo;
			hi = isnan(hi) || p[i].best > hi ? p[i].best : hi;
		}
	printf("  %5s  %12s  %12s\n", "trial", r->metric[0] ? r->metric : "metric", "best so far");
	if (!isnan(r->baseline))
		printf("  %5s  %12.6g\n", "base", r->baseline);
	for (i = 0; i < n; i++) {
		w = isnan(p[i].best) ? 0 : hi > lo ? 1 + (int)(29 * (p[i].best - lo) / (hi - lo)) : 30;
		printf("  %5d  ", p[i].trial);
		if (p[i].ok && !isnan(p[i].metric))
			printf("%12.6g  ", p[i].metric);
		else
			printf("%12s  ", "failed");
		if (isnan(p[i].best))
			printf("%12s\n", "-");
		else
			printf("%12.6g  %.*s%s\n", p[i].best, w, "##############################",
			       !i || p[i].best != p[i - 1].best ? " new best" : "");
	}
}

static void text_best(const struct kp_saved *r)
{
	const struct kp_confirm *c = &r->conf;
	int i;

	if (!r->best_trial) {
		printf("\nBest configuration: none; no trial beat the baseline %.6g\n", r->baseline);
		return;
	}
	printf("\nBest configuration: trial %d, %s %.6g against the baseline %.6g (%+.1f%%)\n",
	       r->best_trial, r->metric, r->best_metric, r->baseline, r->improvement_pct);
	for (i = 0; i < r->nknobs; i++)
		printf("  %-34s %-24s (baseline %s)\n", r->knob[i], r->best[i],
		       r->base[i][0] ? r->base[i] : "?");
	if (!r->has_conf)
		printf("  not confirmed: the run had --confirm 0\n");
	else if (!c->n)
		printf("  not confirmed: %s\n", c->skipped ? c->skipped : "?");
	else
		printf("  confirmed over %d runs each: baseline %.6g (sd %.3g), best %.6g (sd %.3g): "
		       "%+.1f%% (95%% CI %+.1f%% to %+.1f%%), %s\n", c->n, c->base_mean, c->base_sd,
		       c->best_mean, c->best_sd, c->pct, c->pct_lo, c->pct_hi,
		       c->significant ? "significant" : "not significant");
}

static void text_docs(const struct kp_saved *r)
{
	const char *d;
	int i;

	printf("\nWhat each knob does:\n");
	for (i = 0; i < r->nknobs; i++) {
		d = kp_knob_doc(r->knob[i]);
		printf("  %s: %s\n", r->knob[i], d ? d : "(not in kpilot's knob table)");
	}
}

static void text_commands(const struct kp_saved *r)
{
	bool ok = r->best_trial && r->has_conf && r->conf.n && r->conf.significant;
	char w[400];
	int i;

	printf("\nApply:\n");
	if (!r->best_trial) {
		printf("  nothing to apply\n");
	} else {
		if (ok)
			printf("  kpilot persist %s   # apply and keep across reboots\n", r->given);
		else
			printf("  (kpilot persist %s refuses: the gain is not confirmed as "
			       "significant)\n", r->given);
		printf("  kpilot set");
		for (i = 0; i < r->nknobs; i++) {
			set_word(r->knob[i], r->best[i], w, sizeof(w));
			printf(" %s", w);
		}
		printf("   # this boot only\n");
	}
	printf("\nUndo:\n  kpilot rollback   # every knob kpilot changed back, persisted files removed\n");
}

static void report_text(const struct kp_saved *r, const struct point *p, int n, const char *from)
{
	printf("kpilot report: %s\n\nWorkload: %s, metric %s (%s), algo %s, %.0f s\n", r->given,
	       r->workload, r->metric, r->minimize ? "lower is better" : "higher is better",
	       r->algo[0] ? r->algo : "?", isnan(r->elapsed_s) ? 0.0 : r->elapsed_s);
	text_tried(r);
	text_curve(r, p, n, from);
	text_best(r);
	text_docs(r);
	text_commands(r);
}

static json_t *num_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *json_knobs(const struct kp_saved *r)
{
	json_t *a = json_array();
	char buf[128];
	const char *d;
	int i;

	for (i = 0; i < r->nknobs; i++) {
		tried(r, i, buf, sizeof(buf));
		d = kp_knob_doc(r->knob[i]);
		json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s,s:s?}", "knob", r->knob[i],
						   "tried", buf, "baseline", r->base[i],
						   "best", r->best[i], "doc", d));
	}
	return a;
}

static json_t *json_curve(const struct point *p, int n)
{
	json_t *a = json_array();
	int i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:i,s:b,s:o,s:o}", "trial", p[i].trial,
						   "ok", p[i].ok, "metric", num_or_null(p[i].metric),
						   "best_so_far", num_or_null(p[i].best)));
	return a;
}

static json_t *json_commands(const struct kp_saved *r, bool apply)
{
	char line[8192], w[400];
	json_t *a = json_array();
	int i;

	if (!apply) {
		json_array_append_new(a, json_string("kpilot rollback"));
		return a;
	}
	if (!r->best_trial)
		return a;
	if (r->has_conf && r->conf.n && r->conf.significant) {
		snprintf(line, sizeof(line), "kpilot persist %s", r->given);
		json_array_append_new(a, json_string(line));
	}
	snprintf(line, sizeof(line), "kpilot set");
	for (i = 0; i < r->nknobs; i++) {
		set_word(r->knob[i], r->best[i], w, sizeof(w));
		snprintf(line + strlen(line), sizeof(line) - strlen(line), " %s", w);
	}
	json_array_append_new(a, json_string(line));
	return a;
}

static void report_json(const struct kp_saved *r, const struct point *p, int n, const char *from)
{
	const struct kp_confirm *c = &r->conf;
	json_t *o, *conf = json_null();

	if (r->has_conf)
		conf = json_pack("{s:i,s:s?,s:o,s:o,s:o,s:b}", "runs", c->n, "skipped", c->skipped,
				 "improvement_pct", num_or_null(c->pct),
				 "ci95_pct_low", num_or_null(c->pct_lo),
				 "ci95_pct_high", num_or_null(c->pct_hi), "significant", c->significant);
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:o,s:o,s:o,s:o,s:s,s:o,s:o,s:o,s:o}",
		      "results", r->path, "workload", r->workload, "algo", r->algo,
		      "metric", r->metric, "goal", r->minimize ? "minimize" : "maximize",
		      "trials", r->ntrials, "failures", r->failures,
		      "baseline", num_or_null(r->baseline),
		      "best_trial", r->best_trial ? json_integer(r->best_trial) : json_null(),
		      "best_metric", num_or_null(r->best_metric), "knobs", json_knobs(r),
		      "curve_from", from, "curve", json_curve(p, n), "confirmation", conf,
		      "apply", json_commands(r, true), "undo", json_commands(r, false));
	json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(o);
}

int cmd_report(int argc, char **argv)
{
	static const struct argp argp = { options, parse_arg, "RESULTS.json", doc };
	struct report_args a = { 0 };
	struct kp_saved r;
	struct point *p;
	const char *from;
	char why[1024];
	int n;

	if (argp_parse(&argp, argc, argv, 0, NULL, &a))
		return KP_EXIT_USAGE;
	if (kp_saved_load(a.results, &r, why, sizeof(why))) {
		fprintf(stderr, "kpilot report: %s\n", why);
		return KP_EXIT_USAGE;
	}
	p = curve(&r, &n, &from);
	if (a.json)
		report_json(&r, p, n, from);
	else
		report_text(&r, p, n, from);
	free(p);
	kp_saved_free(&r);
	return KP_EXIT_OK;
}
