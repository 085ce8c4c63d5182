// SPDX-License-Identifier: GPL-2.0
/* The pipeline policy's config members: every error names its JSON path. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli_util.h"
#include "daemon/config.h"
#include "daemon/pipe_policy.h"
#include "lib/json.h"
#include "safety/session.h"

const char *const pp_keys[] = { "operators", "pipeline", "edges", "rates", "target_rate",
				"budget_cores", "utilisation", "deadband", "seed", "resource",
				"cpus", NULL };

/* A description by profile name (as `kpilot tune --profile`) or absolute path. */
static int load_desc(struct pp *pp, struct kp_json *x, const char *path, const char *name)
{
	char why[768], file[4096];
	int ret;

	if (name[0] == '/')
		snprintf(file, sizeof(file), "%s", name);
	else if (strchr(name, '/') || cli_profile_path(NULL, name, ".pipeline.json", file,
						      sizeof(file)))
		return kp_json_fail(x, path, "'%s' is neither an absolute path nor a profile "
				    "(NAME.pipeline.json in the profile directory)", name);
	ret = kp_safety_trusted_file(file, why, sizeof(why));
	if (!ret)
		ret = kp_pipe_desc_load(file, &pp->d, why, sizeof(why));
	if (ret)
		return kp_json_fail(x, path, "%s", why);
	snprintf(pp->desc_from, sizeof(pp->desc_from), "%s", file);
	return 0;
}

/*
 * An inline DAG: the policy's operators and "edges", made into a description
 * (so the DAG is checked and sorted as every description's is).
 */
static int inline_desc(struct pp *pp, struct kp_json *x, const char *path, json_t *obj,
		       double budget)
{
	json_t *ops = json_array(), *o = NULL, *v;
	char why[768], *text = NULL;
	size_t i;
	int ret;

	json_array_foreach(json_object_get(obj, "operators"), i, v) {
		json_array_append_new(ops, json_pack("{s:O, s:s}", "name", v, "cgroup", "unused"));
	}
	o = json_pack("{s:s, s:f, s:{s:[s], s:s, s:s}, s:o, s:O}", "pipeline", "inline",
		      "cpu_budget", budget > 0 ? budget : 1.0, "launcher", "command", "none",
		      "pids", "start_line", "report", "interval_lines", "operators", ops,
		      "edges", json_object_get(obj, "edges"));
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	ret = text ? kp_pipe_desc_parse(text, "the inline pipeline", &pp->d, why, sizeof(why)) :
		     -ENOMEM;
	if (ret)
		ret = kp_json_fail(x, path, "%s", ret == -ENOMEM ? "out of memory" : why);
	else
		snprintf(pp->desc_from, sizeof(pp->desc_from), "inline");
	free(text);
	json_decref(o);
	return ret;
}

static int parse_desc(struct pp *pp, struct kp_json *x, json_t *obj, const char *path)
{
	json_t *name = json_object_get(obj, "pipeline"), *edges = json_object_get(obj, "edges");
	json_t *b = json_object_get(obj, "budget_cores");
	char p[96];

	if (!name == !edges)
		return kp_json_fail(x, path, "give exactly one of \"pipeline\" (a description) and "
				    "\"edges\" (an inline DAG)");
	if (edges && !json_is_number(b))
		return kp_json_fail(x, path, "an inline DAG needs \"budget_cores\"");
	if (edges) {
		snprintf(p, sizeof(p), "%s.edges", path);
		return inline_desc(pp, x, p, obj, json_number_value(b));
	}
	snprintf(p, sizeof(p), "%s.pipeline", path);
	if (!json_is_string(name))
		return kp_json_want(x, p, "a profile name or an absolute path", name);
	return load_desc(pp, x, p, json_string_value(name));
}

/* One name of "operators": a cgroup operator of the daemon's and of the pipeline's. */
static int parse_op(struct pp *pp, struct kp_json *x, const char *p, json_t *v,
		    const struct kp_dm_config *cfg, bool *seen)
{
	const char *name = json_string_value(v);
	int c, k;

	if (!name)
		return kp_json_want(x, p, "an operator name", v);
	for (c = 0; c < cfg->nops && strcmp(cfg->ops[c].name, name); c++)
		;
	if (c == cfg->nops)
		return kp_json_fail(x, p, "'%s' is not an operator of $.operators", name);
	if (cfg->ops[c].type != KP_OP_CGROUP)
		return kp_json_fail(x, p, "operator '%s' is given by pids: a pipeline operator needs "
				    "a cgroup (its CPU quota lives there)", name);
	k = kp_pipe_op_index(&pp->d, name);
	if (k < 0)
		return kp_json_fail(x, p, "'%s' is not an operator of the pipeline (%s)", name,
				    pp->desc_from);
	if (seen[k])
		return kp_json_fail(x, p, "'%s' is listed twice", name);
	seen[k] = true;
	pp->cfg_op[k] = c;
	return 0;
}

static int parse_ops(struct pp *pp, struct kp_json *x, json_t *obj, const char *path,
		     const struct kp_dm_config *cfg)
{
	json_t *arr = json_object_get(obj, "operators"), *v;
	bool seen[KP_PIPE_MAX_OPS] = { false };
	char p[128];
	size_t i;
	int ret;

	snprintf(p, sizeof(p), "%s.operators", path);
	json_array_foreach(arr, i, v) {
		snprintf(p, sizeof(p), "%s.operators[%zu]", path, i);
		ret = parse_op(pp, x, p, v, cfg, seen);
		if (ret)
			return ret;
	}
	snprintf(p, sizeof(p), "%s.operators", path);
	for (int k = 0; k < pp->d.nops; k++)
		if (!seen[k])
			return kp_json_fail(x, p, "the pipeline's operator '%s' is not listed: DS2 "
					    "sizes every operator of the DAG", pp->d.ops[k].name);
	return 0;
}

/* A Prometheus source's series names (the URL is pp_src_parse's). */
static int parse_prom(struct pp *pp, struct kp_json *x, json_t *r, const char *p)
{
	static const char *const keys[] = { "in", "out", "target", "throughput", "label", NULL };
	struct pp_src *s = &pp->src;
	char mp[160];
	json_t *m;
	int ret;

	ret = kp_json_obj(x, r, p, "metrics", true, &m);
	if (ret)
		return ret;
	snprintf(mp, sizeof(mp), "%s.metrics", p);
	snprintf(s->label, sizeof(s->label), "operator");
	ret = kp_json_keys(x, mp, m, keys);
	ret = ret ?: kp_json_str(x, m, mp, "in", true, s->m_in, sizeof(s->m_in));
	ret = ret ?: kp_json_str(x, m, mp, "out", false, s->m_out, sizeof(s->m_out));
	ret = ret ?: kp_json_str(x, m, mp, "target", false, s->m_target, sizeof(s->m_target));
	ret = ret ?: kp_json_str(x, m, mp, "throughput", false, s->m_throughput,
				 sizeof(s->m_throughput));
	ret = ret ?: kp_json_str(x, m, mp, "label", false, s->label, sizeof(s->label));
	return ret;
}

static int parse_rates(struct pp *pp, struct kp_json *x, json_t *obj, const char *path)
{
	static const char *const keys[] = { "file", "prometheus", "metrics", NULL };
	json_t *r;
	char p[96];
	int ret;

	snprintf(p, sizeof(p), "%s.rates", path);
	ret = kp_json_obj(x, obj, path, "rates", true, &r);
	ret = ret ?: kp_json_keys(x, p, r, keys);
	ret = ret ?: pp_src_parse(&pp->src, x, r, p);
	if (ret)
		return ret;
	if (pp->src.type == PP_SRC_PROM)
		return parse_prom(pp, x, r, p);
	if (json_object_get(r, "metrics"))
		return kp_json_fail(x, p, "\"metrics\" names Prometheus series; a file's report "
				    "fields are the description's \"metrics\"");
	return 0;
}

static int parse_numbers(struct pp *pp, struct kp_json *x, json_t *obj, const char *path)
{
	double budget = pp->d.cpu_budget, seed = 1;
	char p[96];
	int ret;

	snprintf(p, sizeof(p), "%s.budget_cores", path);
	ret = kp_json_num(x, obj, path, "budget_cores", false, -INFINITY, 1024, &budget);
	if (!ret && !(budget > 0))
		ret = kp_json_fail(x, p, "%g: the CPU budget must be > 0 cores", budget);
	if (!ret && budget < pp->d.nops * KP_QUOTA_STEP - 1e-9)
		ret = kp_json_fail(x, p, "%g cores cannot give %d operators %.2f core each", budget,
				   pp->d.nops, KP_QUOTA_STEP);
	pp->d.cpu_budget = budget;
	pp->utilisation = 0.9;
	pp->deadband = 0.1;
	ret = ret ?: kp_json_num(x, obj, path, "target_rate", false, 0, 1e12, &pp->target_rate);
	ret = ret ?: kp_json_num(x, obj, path, "utilisation", false, 0.05, 1, &pp->utilisation);
	ret = ret ?: kp_json_num(x, obj, path, "deadband", false, 0, 1024, &pp->deadband);
	ret = ret ?: kp_json_num(x, obj, path, "seed", false, 0, 9007199254740992.0, &seed);
	pp->seed = (unsigned long long)seed;
	return ret;
}

int pp_parse(struct kp_policy *p, struct kp_json *x, json_t *obj, const char *path,
	     const struct kp_dm_config *cfg)
{
	json_t *ops = json_object_get(obj, "operators");
	struct pp *pp = calloc(1, sizeof(*pp));
	char op[96];
	int ret;

	if (!pp)
		return kp_json_fail(x, path, "out of memory");
	p->priv = pp;
	pp->src.fd = -1;
	pp->src.last_target = pp->src.max_p99 = NAN;
	snprintf(op, sizeof(op), "%s.operators", path);
	if (!json_is_array(ops) || !json_array_size(ops) ||
	    json_array_size(ops) > KP_PIPE_MAX_OPS)
		return kp_json_want(x, op, "an array of 1-8 operator names", ops);
	ret = parse_desc(pp, x, obj, path);
	ret = ret ?: parse_ops(pp, x, obj, path, cfg);
	ret = ret ?: parse_rates(pp, x, obj, path);
	ret = ret ?: parse_numbers(pp, x, obj, path);
	ret = ret ?: pp_res_parse(pp, x, obj, path);
	pp_agent_init(&pp->ag, strcmp(p->agent, "random") ? PP_AGENT_DS2 : PP_AGENT_RANDOM, &pp->d,
		      pp->seed);
	return ret;
}
