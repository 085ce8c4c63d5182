// SPDX-License-Identifier: GPL-2.0
/*
 * The sysctl policy kind (policy.h): tune a netns's (or the host's) integer
 * sysctls online against an objective measured on an operator, one trial per
 * interval. Parse, start, status; the step is policy_sysctl_run.c, the
 * checkpoint policy_sysctl_ckpt.c. Documentation/daemon.md, "The sysctl policy".
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "daemon/config.h"
#include "daemon/policy_sysctl.h"
#include "lib/json.h"
#include "lib/log.h"
#include "safety/session.h"

static const char *const agents[] = { "ppo", "random", NULL };
static const char *const keys[] = { "netns", "knobs", "objective", "regress", NULL };

const struct sk_metric_def sk_metrics[SK_NMETRICS] = {
	[SK_CONNECT_P99] = { "tcp_connect_p99_us", 20 },
	[SK_CONNECT_P50] = { "tcp_connect_p50_us", 20 },
	[SK_CONN_RATE] = { "tcp_connections_per_s", 1 },
	[SK_RUNQ_P99] = { "runq_p99_us", 20 },
	[SK_IO_P99] = { "io_p99_us", 20 },
	[SK_CPU] = { "cpu_cores", 1 },
};

/* A knob the table has, a sysctl, an integer, not denylisted. */
static int knob_ok(struct kp_json *x, const char *path, const char *name)
{
	const struct kp_knob *b;
	char why[300];

	if (!strncmp(name, "cgroup:", 7))
		return kp_json_fail(x, path, "%s: a cgroup knob: a sysctl policy tunes sysctls "
				    "only", name);
	if (kp_knob_name_check(name, why, sizeof(why)))
		return kp_json_fail(x, path, "%s", why);
	if (kp_knob_denied(name))
		return kp_json_fail(x, path, "%s: denied: matches '%s' on the built-in denylist",
				    name, kp_knob_denied(name));
	b = kp_knob_builtin(name);
	if (!b)
		return kp_json_fail(x, path, "%s: not in kpilot's knob table (`kpilot knobs` lists "
				    "it)", name);
	if (b->kind != KP_KNOB_SYSCTL || b->type != KP_VT_INT)
		return kp_json_fail(x, path, "%s: not an integer sysctl: a sysctl policy tunes "
				    "integer sysctls only", name);
	return 0;
}

static int parse_knob(struct kp_json *x, const char *path, json_t *v, struct sk_knob *k)
{
	static const char *const kk[] = { "name", "min", "max", "min_interval_ms", NULL };
	const struct kp_knob *b;
	long long lo, hi, iv = 0;
	int ret;

	if (json_is_string(v)) {
		snprintf(k->name, sizeof(k->name), "%s", json_string_value(v));
	} else if (!json_is_object(v)) {
		return kp_json_want(x, path, "a knob name or {\"name\", \"min\", \"max\"}", v);
	} else {
		ret = kp_json_keys(x, path, v, kk);
		ret = ret ?: kp_json_str(x, v, path, "name", true, k->name, sizeof(k->name));
		if (ret)
			return ret;
	}
	ret = knob_ok(x, path, k->name);
	if (ret)
		return ret;
	b = kp_knob_builtin(k->name);
	lo = b->min;
	hi = b->max;
	if (json_is_object(v)) {
		ret = kp_json_int(x, v, path, "min", b->min, b->max, &lo);
		ret = ret ?: kp_json_int(x, v, path, "max", b->min, b->max, &hi);
		ret = ret ?: kp_json_int(x, v, path, "min_interval_ms", 0, 86400000, &iv);
		if (ret)
			return ret;
		if (lo > hi)
			return kp_json_fail(x, path, "%s: min %lld is above max %lld", k->name, lo, hi);
	}
	k->min = lo;
	k->max = hi;
	k->min_interval_ms = (int)iv;
	return 0;
}

static int parse_knobs(struct kp_json *x, const char *path, json_t *obj, struct sk_priv *k)
{
	json_t *arr = json_object_get(obj, "knobs"), *v;
	char p[128], q[160];
	size_t i;
	int ret;

	snprintf(p, sizeof(p), "%s.knobs", path);
	if (!arr)
		return kp_json_fail(x, path, "a sysctl policy needs \"knobs\"");
	if (!json_is_array(arr) || !json_array_size(arr))
		return kp_json_want(x, p, "a non-empty array of knobs", arr);
	if (json_array_size(arr) > SK_MAX_KNOBS)
		return kp_json_fail(x, p, "more than %d knobs", SK_MAX_KNOBS);
	json_array_foreach(arr, i, v) {
		snprintf(q, sizeof(q), "%s[%zu]", p, i);
		ret = parse_knob(x, q, v, &k->k[i]);
		for (int j = 0; !ret && j < (int)i; j++)
			if (!strcmp(k->k[j].name, k->k[i].name))
				ret = kp_json_fail(x, q, "%s is already %s[%d]", k->k[i].name, p, j);
		if (ret)
			return ret;
		k->nk++;
	}
	return 0;
}

const char *sk_metric_name(const struct sk_priv *k)
{
	return k->metric == SK_RATE ? k->rate_metric : sk_metrics[k->metric].name;
}

/* The operator, or the rate source's file or URL. */
static const char *sk_source(const struct sk_priv *k)
{
	if (k->metric != SK_RATE)
		return k->op;
	return k->src.type == PP_SRC_FILE ? k->src.path : k->src.url;
}

/* An operator's metric: one of sk_metrics. */
static int parse_op_metric(struct kp_json *x, const char *p, const char *metric,
			   const struct kp_dm_config *cfg, struct sk_priv *k)
{
	char list[160] = "";
	int i;

	for (i = 0; i < cfg->nops && strcmp(cfg->ops[i].name, k->op); i++)
		;
	if (i == cfg->nops)
		return kp_json_fail(x, p, "operator '%s' is not in $.operators", k->op);
	for (i = 0; i < SK_NMETRICS && strcmp(sk_metrics[i].name, metric); i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
			 sk_metrics[i].name);
	if (i == SK_NMETRICS)
		return kp_json_fail(x, p, "metric \"%s\" is not one of %s", metric, list);
	k->metric = (enum sk_metric)i;
	return 0;
}

/*
 * A rate source's metric: a member of its JSON lines, or a Prometheus
 * counter (whose rate is the objective); either way a Prometheus-style name.
 */
static int parse_rate(struct kp_json *x, json_t *o, const char *p, const char *metric,
		      struct sk_priv *k)
{
	static const char *const rk[] = { "file", "prometheus", NULL };
	size_t n = strlen(metric);
	char rp[160];
	json_t *r;
	int ret;

	snprintf(rp, sizeof(rp), "%s.rate", p);
	ret = kp_json_obj(x, o, p, "rate", true, &r);
	ret = ret ?: kp_json_keys(x, rp, r, rk);
	ret = ret ?: pp_src_parse(&k->src, x, r, rp);
	if (ret)
		return ret;
	if (!n || n >= sizeof(k->rate_metric) || strspn(metric, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:") != n || (metric[0] >= '0' && metric[0] <= '9'))
		return kp_json_fail(x, p, "metric \"%s\": a rate source's metric is 1-%zu letters, "
				    "digits, '_' or ':', not starting with a digit", metric,
				    sizeof(k->rate_metric) - 1);
	snprintf(k->rate_metric, sizeof(k->rate_metric), "%s", metric);
	snprintf(k->rdesc.m_throughput, sizeof(k->rdesc.m_throughput), "%s", metric);
	snprintf(k->src.m_throughput, sizeof(k->src.m_throughput), "%s", metric);
	k->metric = SK_RATE;
	return 0;
}

static int parse_objective(struct kp_json *x, const char *path, json_t *obj,
			   const struct kp_dm_config *cfg, struct sk_priv *k)
{
	static const char *const ok[] = { "operator", "rate", "metric", "goal", "min_samples",
					  NULL };
	char p[128], metric[64], goal[16] = "minimize";
	bool rate;
	long long ms;
	json_t *o;
	int ret;

	snprintf(p, sizeof(p), "%s.objective", path);
	ret = kp_json_obj(x, obj, path, "objective", true, &o);
	ret = ret ?: kp_json_keys(x, p, o, ok);
	if (ret)
		return ret;
	rate = json_object_get(o, "rate");
	if (rate == !!json_object_get(o, "operator"))
		return kp_json_fail(x, p, "give exactly one of \"operator\" (a metric the daemon "
				    "measures on it) and \"rate\" (a rate source's metric)");
	/* a rate is what one raises: its default goal says so */
	if (rate)
		snprintf(goal, sizeof(goal), "maximize");
	ret = rate ? 0 : kp_json_str(x, o, p, "operator", true, k->op, sizeof(k->op));
	ret = ret ?: kp_json_str(x, o, p, "metric", true, metric, sizeof(metric));
	ret = ret ?: kp_json_str(x, o, p, "goal", false, goal, sizeof(goal));
	if (ret)
		return ret;
	ret = rate ? parse_rate(x, o, p, metric, k) : parse_op_metric(x, p, metric, cfg, k);
	if (ret)
		return ret;
	if (strcmp(goal, "minimize") && strcmp(goal, "maximize"))
		return kp_json_fail(x, p, "goal \"%s\" is not \"minimize\" or \"maximize\"", goal);
	k->minimize = !strcmp(goal, "minimize");
	/* a rate source's: the reports (lines, scrapes) a measurement needs */
	ms = rate ? 1 : sk_metrics[k->metric].min_samples;
	ret = kp_json_int(x, o, p, "min_samples", 1, 1000000, &ms);
	k->min_samples = (int)ms;
	/* one scrape a step: more could never be met, and every interval would be skipped */
	if (!ret && rate && k->src.type == PP_SRC_PROM && ms > 1)
		ret = kp_json_fail(x, p, "min_samples %lld: a Prometheus rate source is scraped "
				   "once an interval, so 1 is the most", ms);
	return ret;
}

static int parse_regress(struct kp_json *x, const char *path, json_t *obj, struct sk_priv *k)
{
	static const char *const rk[] = { "threshold", "intervals", NULL };
	long long n = 3;
	char p[128];
	json_t *o;
	int ret;

	k->regress_thr = 0.10;
	k->regress_n = 3;
	snprintf(p, sizeof(p), "%s.regress", path);
	ret = kp_json_obj(x, obj, path, "regress", false, &o);
	if (ret || !o)
		return ret;
	ret = kp_json_keys(x, p, o, rk);
	ret = ret ?: kp_json_num(x, o, p, "threshold", false, 0, 10, &k->regress_thr);
	ret = ret ?: kp_json_int(x, o, p, "intervals", 1, 1000, &n);
	k->regress_n = (int)n;
	return ret;
}

static int parse(struct kp_policy *p, struct kp_json *x, json_t *obj, const char *path,
		 const struct kp_dm_config *cfg)
{
	struct sk_priv *k = calloc(1, sizeof(*k));
	int ret;

	if (!k)
		return kp_json_fail(x, path, "out of memory");
	p->priv = k;	/* freed by kp_policies_free, parsed or not */
	k->src.fd = -1;
	ret = kp_json_str(x, obj, path, "netns", false, p->netns, sizeof(p->netns));
	if (!ret && p->netns[0] && (strstr(p->netns, "..") ||
				    (p->netns[0] != '/' && strchr(p->netns, '/'))))
		ret = kp_json_fail(x, path, "netns '%s': a name under /run/netns or an absolute "
				   "path", p->netns);
	ret = ret ?: parse_knobs(x, path, obj, k);
	ret = ret ?: parse_objective(x, path, obj, cfg, k);
	ret = ret ?: parse_regress(x, path, obj, k);
	return ret;
}

/* The session's knob, narrowed by the config, kept to the safe side of its risk bound. */
static int add_knob(struct kp_policy *p, struct kp_pol_env *e, struct sk_knob *k, char *why,
		    size_t len)
{
	struct kp_knob def = *kp_knob_builtin(k->name);
	const struct kp_knob *d;
	enum kp_risk side;
	bool allowed;
	long long at;
	int ret;

	def.min = k->min;
	def.max = k->max;
	if (k->min_interval_ms)
		def.min_interval_ms = k->min_interval_ms;
	ret = kp_session_add_knob(e->s, &def, why, len);
	if (ret)
		return ret;
	d = kp_session_knob(e->s, k->name);
	if (!d) {
		snprintf(why, len, "%s: not allowed in this session", k->name);
		return -EINVAL;
	}
	k->span = *d;
	kp_session_risk(e->s, k->name, &side, &at, &allowed);
	if (side == KP_RISK_BELOW && !allowed && k->span.min < at)
		k->span.min = at < k->span.max ? at : k->span.max;
	if (side == KP_RISK_ABOVE && !allowed && k->span.max > at)
		k->span.max = at > k->span.min ? at : k->span.min;
	ret = kp_session_read(e->s, k->name, k->orig, sizeof(k->orig));
	if (ret) {
		snprintf(why, len, "policy %s: %s: cannot read it: %s", p->name, k->name,
			 strerror(-ret));
		return ret;
	}
	snprintf(k->cur, sizeof(k->cur), "%s", k->orig);
	snprintf(k->best, sizeof(k->best), "%s", k->orig);
	if (kp_pol_knob(p, k->name))
		snprintf(kp_pol_knob(p, k->name)->value, KP_VALUE_MAX, "%s", k->orig);
	return 0;
}

static int start(struct kp_policy *p, struct kp_pol_env *e, char *why, size_t len)
{
	struct sk_priv *k = p->priv;
	char lw[600];
	int ret;

	for (int i = 0; i < k->nk; i++) {
		ret = add_knob(p, e, &k->k[i], why, len);
		if (ret)
			return ret;
	}
	kp_rng_seed(&k->rng, 0x6b70696c6f74ull ^ (uint64_t)k->nk);
	ret = sk_load(p, lw, sizeof(lw));
	if (!ret)
		kp_info("policy %s: checkpoint %s loaded: %d trials, the agent continues from "
			"them", p->name, p->ckpt, k->nhist);
	else if (ret != -ENOENT)
		kp_warn("policy %s: checkpoint %s refused: %s; the policy starts fresh", p->name,
			p->ckpt, lw);
	if (k->metric == SK_RATE) {
		struct pp_meas m;

		/* the first read skips what the source already holds: history, not a trial */
		pp_src_take(&k->src, &k->rdesc, e->now, &m);
	}
	kp_info("policy %s: %s %s of %s %s, %d knob%s%s%s, agent %s, exploration %s",
		p->name, k->minimize ? "minimize" : "maximize", sk_metric_name(k),
		k->metric == SK_RATE ? "rate source" : "operator", sk_source(k), k->nk,
		k->nk == 1 ? "" : "s", p->netns[0] ? " in netns " : " on the host",
		p->netns[0] ? p->netns : "", p->agent, p->exploration ? "on" : "off");
	return 0;
}

static json_t *objective_json(const struct sk_priv *k)
{
	json_t *o = json_pack("{s:s, s:s, s:i}", "metric", sk_metric_name(k),
			      "goal", k->minimize ? "minimize" : "maximize",
			      "min_samples", k->min_samples);

	if (o && k->metric != SK_RATE) {
		json_object_set_new(o, "operator", json_string(k->op));
	} else if (o) {
		json_object_set_new(o, "rate", json_string(sk_source(k)));
		json_object_set_new(o, "reports", json_integer((json_int_t)k->reports));
		json_object_set_new(o, "bad_lines", json_integer((json_int_t)k->src.bad_lines));
		json_object_set_new(o, "source_error", k->src_error[0] ?
				    json_string(k->src_error) : json_null());
	}
	return o;
}

static json_t *values_json(const struct sk_priv *k, int which)
{
	json_t *o = json_object();

	for (int i = 0; o && i < k->nk; i++)
		json_object_set_new(o, k->k[i].name, json_string(which == 0 ? k->k[i].orig :
							  which == 1 ? k->k[i].cur : k->k[i].best));
	return o;
}

static json_t *num_or_null(bool have, double v)
{
	return have ? json_real(v) : json_null();
}

static json_t *status(struct kp_policy *p)
{
	struct sk_priv *k = p->priv;
	struct kp_rollout_stats st = { 0 };
	json_t *o;

	if (k->ro)
		kp_rollout_stats(k->ro, &st);
	/* buffer_size (/stats): the trials the agent learns from, its replay */
	o = json_pack("{s:o, s:o, s:o, s:{s:o, s:o}, s:o, s:o, s:I, s:I, s:i, s:b, s:s, s:i}",
		      "objective", objective_json(k),
		      "baseline", num_or_null(k->have_base, k->base),
		      "last", num_or_null(k->measured > 0, k->last),
		      "incumbent", "objective", num_or_null(k->best_n > 0, k->best),
		      "values", values_json(k, 2),
		      "original", values_json(k, 0), "current", values_json(k, 1),
		      "measured", (json_int_t)k->measured, "skipped", (json_int_t)k->skipped,
		      "regressions_in_a_row", k->bad, "loaded_checkpoint", k->loaded,
		      "last_action", k->last_why, "buffer_size", k->nhist);
	if (o)
		json_object_set_new(o, "agent", json_pack("{s:s, s:i, s:i, s:o}", "name", p->agent,
			"trials", k->nhist, "ppo_updates", st.ppo_updates,
			"model_oob_r2", k->ro && st.oob_r2 == st.oob_r2 ? json_real(st.oob_r2) :
			json_null()));
	return o;
}

/*
 * `ctl train P` / POST /train: PPO learns on the model only, from the trials
 * so far (iterations rounds of imagined trials; batch is PPO's own rollout
 * length, so it is not taken). Nothing is applied.
 */
static int sk_train(struct kp_policy *p, int batch, int iterations, char *why, size_t len)
{
	struct sk_priv *k = p->priv;
	int n;

	(void)batch;
	if (!k->ro) {
		snprintf(why, len, "agent %s has no model to train on", p->agent);
		return -EOPNOTSUPP;
	}
	n = kp_rollout_train(k->ro, iterations > 0 ? iterations : 1);
	if (n == -EAGAIN) {
		snprintf(why, len, "the model has too few trials yet (%d measured)", k->nhist);
		return n;
	}
	if (n < 0) {
		snprintf(why, len, "training: %s", strerror(-n));
		return n;
	}
	p->updates += (unsigned long long)n;
	return 0;
}

static void sk_free(struct kp_policy *p)
{
	struct sk_priv *k = p->priv;

	kp_rollout_destroy(k->ro);
	pp_src_close(&k->src);
	free(k);
	p->priv = NULL;
}

const struct kp_policy_kind kp_policy_sysctl = {
	.name = "sysctl",
	.keys = keys,
	.agents = agents,
	.parse = parse,
	.start = start,
	.step = sk_step,
	.save = sk_save,
	.train = sk_train,
	.status = status,
	.free = sk_free,
};
