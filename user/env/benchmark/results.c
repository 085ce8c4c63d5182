// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <sys/stat.h>
#include "env/benchmark/results.h"
#include "lib/fs.h"
#include "lib/log.h"

bool kp_results_better(const struct kp_results_desc *d, double a, double b)
{
	return d->minimize ? a < b : a > b;
}

double kp_results_improvement(const struct kp_results *r)
{
	double best;

	if (r->best < 0 || !r->baseline)
		return 0;
	best = r->trials[r->best].metric;
	if (!kp_results_better(r->d, best, r->baseline))
		return 0;
	return (r->d->minimize ? r->baseline - best : best - r->baseline) /
	       fabs(r->baseline) * 100.0;
}

static json_t *num_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

double kp_t975(double df)
{
	/* df 1..30, then 40, 60, 120 */
	static const double t[] = { 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306,
				    2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
				    2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
				    2.060, 2.056, 2.052, 2.048, 2.045, 2.042 };

	if (!(df >= 1))
		return t[0];
	if (df < 31)
		return t[(int)df - 1];
	return df < 40 ? 2.042 : df < 60 ? 2.021 : df < 120 ? 2.000 : df < INFINITY ? 1.980 : 1.960;
}

static void mean_sd(const double *x, int n, double *mean, double *sd)
{
	double m = 0, v = 0;
	int i;

	for (i = 0; i < n; i++)
		m += x[i] / n;
	for (i = 0; i < n; i++)
		v += (x[i] - m) * (x[i] - m) / (n - 1);
	*mean = m;
	*sd = sqrt(v);
}

void kp_confirm_stats(struct kp_confirm *c, bool minimize)
{
	double va, vb, se, h;
	int n = c->n;

	mean_sd(c->base, n, &c->base_mean, &c->base_sd);
	mean_sd(c->best, n, &c->best_mean, &c->best_sd);
	c->diff = minimize ? c->base_mean - c->best_mean : c->best_mean - c->base_mean;
	va = c->base_sd * c->base_sd / n;
	vb = c->best_sd * c->best_sd / n;
	se = sqrt(va + vb);
	c->df = se > 0 ? (va + vb) * (va + vb) / (va * va / (n - 1) + vb * vb / (n - 1)) : INFINITY;
	h = se > 0 ? kp_t975(c->df) * se : 0;
	c->lo = c->diff - h;
	c->hi = c->diff + h;
	c->significant = c->lo > 0;
	if (c->base_mean) {
		c->pct = c->diff / fabs(c->base_mean) * 100;
		c->pct_lo = c->lo / fabs(c->base_mean) * 100;
		c->pct_hi = c->hi / fabs(c->base_mean) * 100;
	} else {
		c->pct = c->pct_lo = c->pct_hi = NAN;
	}
}

static json_t *samples(const double *x, int n)
{
	json_t *a = json_array();
	int i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, num_or_null(x[i]));
	return a;
}

/* null when no confirmation was asked for */
static json_t *confirm_json(const struct kp_results *r)
{
	const struct kp_confirm *c = &r->conf;
	json_t *o;

	if (!r->confirm_on)
		return json_null();
	o = json_object();
	json_object_set_new(o, "runs", json_integer(c->n));
	if (!c->n) {
		json_object_set_new(o, "skipped", json_string(c->skipped ? c->skipped : ""));
		json_object_set_new(o, "significant", json_false());
		return o;
	}
	json_object_set_new(o, "baseline", samples(c->base, c->n));
	json_object_set_new(o, "best", samples(c->best, c->n));
	json_object_set_new(o, "baseline_mean", num_or_null(c->base_mean));
	json_object_set_new(o, "baseline_sd", num_or_null(c->base_sd));
	json_object_set_new(o, "best_mean", num_or_null(c->best_mean));
	json_object_set_new(o, "best_sd", num_or_null(c->best_sd));
	json_object_set_new(o, "difference", num_or_null(c->diff));
	json_object_set_new(o, "ci95", json_pack("[oo]", num_or_null(c->lo), num_or_null(c->hi)));
	json_object_set_new(o, "improvement_pct", num_or_null(c->pct));
	json_object_set_new(o, "ci95_pct", json_pack("[oo]", num_or_null(c->pct_lo),
						     num_or_null(c->pct_hi)));
	json_object_set_new(o, "df", num_or_null(c->df));
	json_object_set_new(o, "significant", json_boolean(c->significant));
	return o;
}

static json_t *config_obj(const struct kp_results *r, char vals[][64])
{
	json_t *o = json_object();
	int i;

	for (i = 0; i < r->d->nknobs; i++)
		json_object_set_new(o, r->d->knob[i], json_string(vals[i]));
	return o;
}

json_t *kp_results_json(const struct kp_results *r)
{
	const struct kp_results_desc *c = r->d;
	json_t *o = json_object(), *h = json_array();
	int i, k;

	json_object_set_new(o, "workload_name", json_string(c->workload_name));
	json_object_set_new(o, "algo", json_string(r->algo));
	json_object_set_new(o, "seed", json_integer((json_int_t)r->seed));
	json_object_set_new(o, "metric", json_string(c->metric_name));
	json_object_set_new(o, "goal", json_string(c->minimize ? "minimize" : "maximize"));
	json_object_set_new(o, "baseline_metric", num_or_null(r->baseline));
	json_object_set_new(o, "baseline_config", config_obj(r, (char (*)[64])r->baseline_values));
	json_object_set_new(o, "best_metric",
			    r->best >= 0 ? num_or_null(r->trials[r->best].metric) : json_null());
	json_object_set_new(o, "best_trial", r->best >= 0 ? json_integer(r->trials[r->best].n) : json_null());
	json_object_set_new(o, "best_config", r->best >= 0 ?
			    config_obj(r, r->trials[r->best].values) : json_object());
	json_object_set_new(o, "improvement_pct", json_real(kp_results_improvement(r)));
	json_object_set_new(o, "trials", json_integer(r->ntrials));
	json_object_set_new(o, "failures", json_integer(r->failures));
	json_object_set_new(o, "interrupted", json_boolean(r->interrupted));
	json_object_set_new(o, "aborted", json_boolean(r->aborted));
	json_object_set_new(o, "applied_best", json_boolean(r->applied_best));
	json_object_set_new(o, "elapsed_s", json_real(r->elapsed_s));
	json_object_set_new(o, "confirmation", confirm_json(r));
	if (r->model_rows)
		json_object_set_new(o, "model", json_pack("{s:i,s:o,s:o}", "trials", r->model_rows,
							  "oob_r2", num_or_null(r->model_r2),
							  "oob_nmae", num_or_null(r->model_nmae)));
	if (r->extra)
		json_object_update(o, r->extra);
	for (i = 0; i < r->ntrials; i++) {
		const struct kp_trial *t = &r->trials[i];
		json_t *e = json_object(), *st = json_object();

		json_object_set_new(e, "trial", json_integer(t->n));
		json_object_set_new(e, "config", config_obj(r, (char (*)[64])t->values));
		json_object_set_new(e, "metric", num_or_null(t->metric));
		json_object_set_new(e, "reward", num_or_null(t->reward));
		json_object_set_new(e, "ok", json_boolean(t->ok));
		json_object_set_new(e, "seconds", json_real(t->seconds));
		for (k = 0; k < c->nstate; k++)
			json_object_set_new(st, c->state[k], num_or_null(t->state[k]));
		json_object_set_new(e, "state", st);
		if (!t->ok)
			json_object_set_new(e, "error", json_string(t->error));
		json_array_append_new(h, e);
	}
	json_object_set_new(o, "history", h);
	return o;
}

/* CSV fields: quote when needed, as RFC 4180 says. */
static void csv_field(FILE *f, const char *s)
{
	if (!strpbrk(s, ",\"\n")) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static int write_csv(const struct kp_results *r, FILE *f)
{
	const struct kp_results_desc *c = r->d;
	int i, k;

	fprintf(f, "trial,ok,%s,reward", c->metric_name);
	for (k = 0; k < c->nknobs; k++) {
		fputc(',', f);
		csv_field(f, c->knob[k]);
	}
	for (k = 0; k < c->nstate; k++)
		fprintf(f, ",%s", c->state[k]);
	fprintf(f, ",error\n");
	for (i = 0; i < r->ntrials; i++) {
		const struct kp_trial *t = &r->trials[i];

		fprintf(f, "%d,%d,", t->n, t->ok);
		if (isfinite(t->metric))
			fprintf(f, "%.6g", t->metric);
		fprintf(f, ",%.6g", t->reward);
		for (k = 0; k < c->nknobs; k++) {
			fputc(',', f);
			csv_field(f, t->values[k]);
		}
		for (k = 0; k < c->nstate; k++)
			fprintf(f, ",%.6g", t->state[k]);
		fputc(',', f);
		csv_field(f, t->ok ? "" : t->error);
		fputc('\n', f);
	}
	return ferror(f) ? -EIO : 0;
}

/* A round step for axis ticks: 1, 2 or 5 times a power of ten. */
static double nice_step(double range, int ticks)
{
	double raw = range / ticks, p = pow(10, floor(log10(raw))), m = raw / p;

	return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

/* The plot's frame and its y range (lo, hi: multiples of step). */
struct svg {
	double W, H, L, R, T, B;
	double lo, hi, step;
	int n;			/* trials on the x axis */
};

static double svg_x(const struct svg *g, double t)
{
	return g->L + (t - 0.5) * (g->W - g->L - g->R) / g->n;
}

static double svg_y(const struct svg *g, double v)
{
	return g->T + (g->H - g->T - g->B) * (1 - (v - g->lo) / (g->hi - g->lo));
}

/* The baseline and every successful trial fit, on round ticks. */
static void svg_range(const struct kp_results *r, struct svg *g)
{
	double lo = r->baseline, hi = lo;
	int i;

	for (i = 0; i < r->ntrials; i++) {
		if (!r->trials[i].ok)
			continue;
		if (!isfinite(lo) || r->trials[i].metric < lo)
			lo = r->trials[i].metric;
		if (!isfinite(hi) || r->trials[i].metric > hi)
			hi = r->trials[i].metric;
	}
	if (!isfinite(lo) || !isfinite(hi)) {
		lo = 0;
		hi = 1;
	}
	if (hi - lo < 1e-9 * (fabs(hi) + 1)) {
		hi += fabs(hi) * 0.05 + 1;
		lo -= fabs(lo) * 0.05 + 1;
	}
	g->step = nice_step(hi - lo, 5);
	g->lo = floor(lo / g->step) * g->step;
	g->hi = ceil(hi / g->step) * g->step;
}

/* Title, grid, ticks, axes and the baseline (dashed). */
static void svg_frame(const struct kp_results *r, const struct svg *g, FILE *f)
{
	const double W = g->W, H = g->H, L = g->L, R = g->R, T = g->T, B = g->B;
	double y;
	int i;

	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
		   "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
		W, H, W, H);
	fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
	fprintf(f, "<text x=\"%.0f\" y=\"24\" font-size=\"16\">kpilot tune: %s (%s, seed %llu)</text>\n",
		L, r->d->workload_name, r->algo, r->seed);
	fprintf(f, "<text x=\"%.0f\" y=\"40\" fill=\"#555\">%s per trial, %s is better; "
		   "improvement %.1f%%</text>\n", L, r->d->metric_name,
		r->d->minimize ? "lower" : "higher", kp_results_improvement(r));
	for (y = g->lo; y <= g->hi + g->step / 2; y += g->step) {
		fprintf(f, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
			L, W - R, svg_y(g, y), svg_y(g, y));
		fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", L - 6,
			svg_y(g, y) + 4, y);
	}
	for (i = 1; i <= g->n; i += g->n > 20 ? 5 : 1)
		fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%d</text>\n",
			svg_x(g, i), H - B + 18, i);
	fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">trial</text>\n",
		(L + W - R) / 2, H - B + 38);
	fprintf(f, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n",
		L, W - R, H - B, H - B);
	fprintf(f, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n",
		L, L, T, H - B);
	if (isfinite(r->baseline))
		fprintf(f, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#888\" "
			   "stroke-dasharray=\"6 4\"/>\n<text x=\"%.0f\" y=\"%.1f\" fill=\"#888\" "
			   "text-anchor=\"end\">baseline %g</text>\n", L, W - R, svg_y(g, r->baseline),
			svg_y(g, r->baseline), W - R, svg_y(g, r->baseline) - 5, r->baseline);
}

/* The best so far (a step line from the first successful trial on), the trials, the legend. */
static void svg_trials(const struct kp_results *r, const struct svg *g, FILE *f)
{
	double best = NAN, py = 0;
	int i;

	fprintf(f, "<polyline fill=\"none\" stroke=\"#2a9d3a\" stroke-width=\"2\" points=\"");
	for (i = 0; i < r->ntrials; i++) {
		const struct kp_trial *t = &r->trials[i];

		if (t->ok && (!isfinite(best) || kp_results_better(r->d, t->metric, best)))
			best = t->metric;
		if (!isfinite(best))
			continue;
		if (py)
			fprintf(f, "%.1f,%.1f ", svg_x(g, t->n), py);
		py = svg_y(g, best);
		fprintf(f, "%.1f,%.1f ", svg_x(g, t->n), py);
	}
	fprintf(f, "\"/>\n");
	for (i = 0; i < r->ntrials; i++) {
		const struct kp_trial *t = &r->trials[i];

		if (t->ok)
			fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#1f6fd1\">"
				   "<title>trial %d: %g</title></circle>\n", svg_x(g, t->n),
				svg_y(g, t->metric), t->n, t->metric);
		else
			fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" fill=\"#d11f1f\" text-anchor=\"middle\">"
				   "x<title>trial %d failed</title></text>\n", svg_x(g, t->n),
				g->H - g->B - 4, t->n);
	}
	fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" fill=\"#1f6fd1\">&#9679; trial</text>\n",
		g->W - 260, g->H - 12.0);
	fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" fill=\"#2a9d3a\">&#9472; best so far</text>\n",
		g->W - 190, g->H - 12.0);
	fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" fill=\"#d11f1f\">x failed</text>\n", g->W - 90,
		g->H - 12.0);
}

/*
 * Metric per trial (dots; failures as red crosses on the x axis), the
 * baseline (dashed) and the best so far (a step line), in plain SVG.
 */
int kp_results_svg(const struct kp_results *r, FILE *f)
{
	struct svg g = { .W = 800, .H = 420, .L = 80, .R = 20, .T = 50, .B = 60,
			 .n = r->ntrials > 0 ? r->ntrials : 1 };

	svg_range(r, &g);
	svg_frame(r, &g, f);
	svg_trials(r, &g, f);
	fprintf(f, "</svg>\n");
	return ferror(f) ? -EIO : 0;
}

static int write_file(const char *dir, const char *name, const struct kp_results *r,
		      int (*fn)(const struct kp_results *, FILE *), char *why, size_t len)
{
	char path[4096];
	FILE *f;
	int err, e;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "we");
	if (!f) {
		snprintf(why, len, "cannot write %s: %s", path, strerror(errno));
		return -errno;
	}
	err = fn(r, f);
	e = err ? errno : 0;	/* the failed write's (ENOSPC, EIO ...) */
	if (fclose(f) && !e)
		e = errno;
	if (err || e) {
		e = e ? e : EIO;
		snprintf(why, len, "cannot write %s: %s", path, strerror(e));
		unlink(path);	/* a torn results file would mislead */
		return -e;
	}
	return 0;
}

static int write_json(const struct kp_results *r, FILE *f)
{
	json_t *o = kp_results_json(r);
	int err = json_dumpf(o, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));

	json_decref(o);
	fputc('\n', f);
	return err ? -EIO : 0;
}

void kp_results_dir(const char *dir, const char *workload, char *out, size_t len)
{
	char ts[32];
	time_t now = time(NULL);

	if (dir) {
		snprintf(out, len, "%s", dir);
		return;
	}
	strftime(ts, sizeof(ts), "%Y%m%d-%H%M%S", localtime(&now));
	snprintf(out, len, "kpilot-results/%s-%s", workload, ts);
}

int kp_results_write(const struct kp_results *r, const char *dir, char *why, size_t len)
{
	int err = kp_mkdir_p(dir, 0755);

	if (err) {
		snprintf(why, len, "cannot create %s: %s", dir, strerror(-err));
		return err;
	}
	err = write_file(dir, "results.json", r, write_json, why, len);
	err = err ?: write_file(dir, "history.csv", r, write_csv, why, len);
	err = err ?: write_file(dir, "plot.svg", r, kp_results_svg, why, len);
	return err;
}

int kp_results_publish(const struct kp_results *r, const char *dir, bool json, char *out_dir,
		       size_t out_len, int ret, char *why, size_t len)
{
	char wwhy[4200];
	int err;

	kp_results_dir(dir, r->d->workload_name, out_dir, out_len);
	err = kp_results_write(r, out_dir, wwhy, sizeof(wwhy));
	if (err) {
		out_dir[0] = '\0';
		if (ret)	/* the run's own failure stays the answer */
			kp_err("%s", wwhy);
		else
			snprintf(why, len, "%s", wwhy);
	}
	if (json) {
		json_t *j = kp_results_json(r);

		json_dumpf(j, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
		putchar('\n');
		json_decref(j);
	}
	return ret ?: err;
}
