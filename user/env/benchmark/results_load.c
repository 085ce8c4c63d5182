// SPDX-License-Identifier: GPL-2.0
/* results.json read back: what kp_results_json() wrote (Documentation/tuning.md, "Results"). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "env/benchmark/results_load.h"
#include "lib/json.h"

static double num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

static void str(json_t *o, const char *key, char *buf, size_t len)
{
	const char *v = json_string_value(json_object_get(o, key));

	snprintf(buf, len, "%s", v ? v : "");
}

static int knob_index(const struct kp_saved *r, const char *knob)
{
	int i;

	for (i = 0; i < r->nknobs; i++)
		if (!strcmp(r->knob[i], knob))
			return i;
	return -1;
}

/* best_config: the knobs and the best values, in the file's order */
static int load_best(struct kp_json *x, json_t *root, struct kp_saved *r)
{
	json_t *best = json_object_get(root, "best_config"), *base, *v;
	const char *k;

	if (!best)	/* a tuning config has a workload_name too */
		return kp_json_fail(x, "$.best_config", "missing: not a kpilot tune results.json");
	if (json_is_null(best))
		return 0;
	if (!json_is_object(best))
		return kp_json_want(x, "$.best_config", "an object or null", best);
	json_object_foreach(best, k, v) {
		if (!json_is_string(v))
			return kp_json_fail(x, "$.best_config", "%.64s: expected a string", k);
		if (r->nknobs == KP_RESULTS_MAX_KNOBS)
			return kp_json_fail(x, "$.best_config", "more than %d knobs",
					    KP_RESULTS_MAX_KNOBS);
		snprintf(r->knob[r->nknobs], sizeof(r->knob[0]), "%s", k);
		snprintf(r->best[r->nknobs++], sizeof(r->best[0]), "%s", json_string_value(v));
	}
	base = json_object_get(root, "baseline_config");
	json_object_foreach(base, k, v)
		if (knob_index(r, k) >= 0 && json_is_string(v))
			snprintf(r->base[knob_index(r, k)], sizeof(r->base[0]), "%s",
				 json_string_value(v));
	return 0;
}

static void load_samples(json_t *a, double *out, int n)
{
	int i;

	for (i = 0; i < n && i < KP_CONFIRM_MAX; i++)
		out[i] = json_is_number(json_array_get(a, i)) ?
			 json_number_value(json_array_get(a, i)) : NAN;
}

static int load_conf(struct kp_json *x, json_t *root, struct kp_saved *r)
{
	json_t *c = json_object_get(root, "confirmation");
	struct kp_confirm *f = &r->conf;

	if (!c || json_is_null(c))
		return 0;
	if (!json_is_object(c))
		return kp_json_want(x, "$.confirmation", "an object or null", c);
	r->has_conf = true;
	f->n = (int)json_integer_value(json_object_get(c, "runs"));
	if (f->n < 0 || f->n > KP_CONFIRM_MAX)
		return kp_json_fail(x, "$.confirmation.runs", "expected 0-%d", KP_CONFIRM_MAX);
	str(c, "skipped", r->skipped, sizeof(r->skipped));
	f->skipped = r->skipped[0] ? r->skipped : NULL;
	load_samples(json_object_get(c, "baseline"), f->base, f->n);
	load_samples(json_object_get(c, "best"), f->best, f->n);
	f->base_mean = num(c, "baseline_mean");
	f->base_sd = num(c, "baseline_sd");
	f->best_mean = num(c, "best_mean");
	f->best_sd = num(c, "best_sd");
	f->diff = num(c, "difference");
	f->lo = json_is_number(json_array_get(json_object_get(c, "ci95"), 0)) ?
		json_number_value(json_array_get(json_object_get(c, "ci95"), 0)) : NAN;
	f->hi = json_is_number(json_array_get(json_object_get(c, "ci95"), 1)) ?
		json_number_value(json_array_get(json_object_get(c, "ci95"), 1)) : NAN;
	f->pct = num(c, "improvement_pct");
	f->pct_lo = json_is_number(json_array_get(json_object_get(c, "ci95_pct"), 0)) ?
		    json_number_value(json_array_get(json_object_get(c, "ci95_pct"), 0)) : NAN;
	f->pct_hi = json_is_number(json_array_get(json_object_get(c, "ci95_pct"), 1)) ?
		    json_number_value(json_array_get(json_object_get(c, "ci95_pct"), 1)) : NAN;
	f->df = num(c, "df");
	f->significant = json_is_true(json_object_get(c, "significant"));
	return 0;
}

static void load_trial(struct kp_saved *r, json_t *e, struct kp_trial *t)
{
	json_t *cfg = json_object_get(e, "config"), *v;
	const char *k;
	int i;

	t->n = (int)json_integer_value(json_object_get(e, "trial"));
	t->ok = json_is_true(json_object_get(e, "ok"));
	t->metric = num(e, "metric");
	t->reward = num(e, "reward");
	t->seconds = num(e, "seconds");
	str(e, "error", t->error, sizeof(t->error));
	json_object_foreach(cfg, k, v) {
		i = knob_index(r, k);
		if (i < 0 && r->nknobs < KP_RESULTS_MAX_KNOBS && !r->best_trial) {
			/* no best: the knobs come from the history */
			i = r->nknobs++;
			snprintf(r->knob[i], sizeof(r->knob[0]), "%s", k);
		}
		if (i >= 0 && json_is_string(v))
			snprintf(t->values[i], sizeof(t->values[0]), "%s", json_string_value(v));
	}
}

static int load_history(struct kp_json *x, json_t *root, struct kp_saved *r)
{
	json_t *h = json_object_get(root, "history");
	size_t i, n;

	if (!h)
		return 0;
	if (!json_is_array(h))
		return kp_json_want(x, "$.history", "an array", h);
	n = json_array_size(h);
	if (n > 1000000)
		return kp_json_fail(x, "$.history", "%zu trials: too many", n);
	r->hist = calloc(n + 1, sizeof(*r->hist));
	if (!r->hist)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (!json_is_object(json_array_get(h, i)))
			return kp_json_fail(x, "$.history", "entry %zu: expected an object", i);
		load_trial(r, json_array_get(h, i), &r->hist[i]);
	}
	r->nhist = (int)n;
	return 0;
}

int kp_saved_load(const char *path, struct kp_saved *r, char *why, size_t len)
{
	struct kp_json x = { .origin = path, .why = why, .len = len };
	json_t *root = NULL;
	char *text = NULL;
	long long v;
	int err;

	memset(r, 0, sizeof(*r));
	snprintf(r->given, sizeof(r->given), "%s", path);
	if (!realpath(path, r->path))
		snprintf(r->path, sizeof(r->path), "%s", path);
	err = kp_json_read(path, 64L << 20, &text, why, len);
	err = err ?: kp_json_root(&x, text, &root);
	err = err ?: kp_json_str(&x, root, "$", "workload_name", true, r->workload,
				 sizeof(r->workload));
	if (err)
		goto out;
	str(root, "algo", r->algo, sizeof(r->algo));
	str(root, "metric", r->metric, sizeof(r->metric));
	r->minimize = json_string_value(json_object_get(root, "goal")) &&
		      !strcmp(json_string_value(json_object_get(root, "goal")), "minimize");
	r->baseline = num(root, "baseline_metric");
	r->best_metric = num(root, "best_metric");
	r->improvement_pct = num(root, "improvement_pct");
	r->elapsed_s = num(root, "elapsed_s");
	v = json_integer_value(json_object_get(root, "best_trial"));
	r->best_trial = v > 0 && v < INT_MAX ? (int)v : 0;
	r->ntrials = (int)json_integer_value(json_object_get(root, "trials"));
	r->failures = (int)json_integer_value(json_object_get(root, "failures"));
	r->interrupted = json_is_true(json_object_get(root, "interrupted"));
	r->aborted = json_is_true(json_object_get(root, "aborted"));
	r->applied_best = json_is_true(json_object_get(root, "applied_best"));
	err = load_best(&x, root, r);
	err = err ?: load_conf(&x, root, r);
	err = err ?: load_history(&x, root, r);
out:
	json_decref(root);
	free(text);
	if (err)
		kp_saved_free(r);
	return err;
}

void kp_saved_free(struct kp_saved *r)
{
	free(r->hist);
	r->hist = NULL;
	r->nhist = 0;
}
