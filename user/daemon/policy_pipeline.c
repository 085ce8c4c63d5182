// SPDX-License-Identifier: GPL-2.0
/*
 * The pipeline policy kind (policy.h): the CPU quotas of the operators of a
 * pipeline kpilot did not start, sized each interval by an agent (ds2, or
 * random for comparison) from the pipeline's own reports (pipe_src.c) and the
 * observer's on-CPU time, within a CPU budget, through the daemon's session.
 * Documentation/daemon.md, "The pipeline policy".
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "actuate/cgroup.h"
#include "actuate/fsio.h"
#include "daemon/config.h"
#include "daemon/figures.h"
#include "daemon/pipe_policy.h"
#include "env/pipeline/pipetune.h"
#include "lib/log.h"
#include "safety/session.h"

static const char *const agents[] = { "ds2", "random", NULL };

/*
 * The operator's cgroup relative to the hierarchy root, as knob names take
 * it, from any form $.operators takes (the observer's kp_opspec_cgroup_dir):
 * "/sys/fs/cgroup/" and, on v1, the controller mount ("cpu",
 * "cpu,cpuacct") are dropped; any other absolute path counts from the
 * root, unless it is a cgroup directory itself (a hierarchy mounted
 * elsewhere), which no knob can name.
 */
static int rel_path(const char *cg, int cgv, char *out, size_t len)
{
	const char *p = cg, *slash;
	char mnt[4200];

	while (p[0] == '/' && p[1] == '/')
		p++;
	if (!strncmp(p, "/sys/fs/cgroup", 14) && (p[14] == '/' || !p[14])) {
		p += 14;
	} else if (p[0] == '/') {
		snprintf(mnt, sizeof(mnt), "%s/cgroup.procs", p);
		if (kp_fs_exists(mnt))
			return -EINVAL;
	}
	while (*p == '/')
		p++;
	if (!*p)
		return -EINVAL;
	slash = strchr(p, '/');
	if (cgv == 1 && slash) {
		snprintf(mnt, sizeof(mnt), "/sys/fs/cgroup/%.*s/cgroup.procs", (int)(slash - p), p);
		if (kp_fs_exists(mnt))
			p = slash + 1;
	}
	if (snprintf(out, len, "%s", p) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

/* One operator's knob: narrowed to [one grid step, the budget], any step within it. */
static int add_knob(struct kp_policy *p, struct pp *pp, struct kp_pol_env *e, int i,
		    char *why, size_t len)
{
	const struct kp_opspec *op = &e->cfg->ops[pp->cfg_op[i]];
	int cgv = kp_cg_detect("/");
	struct kp_knob k = {
		.kind = KP_KNOB_CGROUP, .type = KP_VT_CPUMAX, .arity = 1,
		.min = (long long)(KP_QUOTA_STEP * 1000 + 0.5),
		.max = (long long)(pp->d.cpu_budget * 1000 + 0.5),
		.step_abs = (long long)(pp->d.cpu_budget * 1000 + 0.5),
		.min_interval_ms = 200,
	};
	char rel[KP_NAME_MAX - 32], val[KP_VALUE_MAX], w[400];
	struct kp_pol_knob *pk;
	int ret;

	if (rel_path(op->cgroup, cgv, rel, sizeof(rel))) {
		snprintf(why, len, "policy %s: operator %s: cgroup '%s' is not under /sys/fs/cgroup",
			 p->name, op->name, op->cgroup);
		return -EINVAL;
	}
	if (pp_res_where(pp, rel, cgv, w, sizeof(w))) {
		snprintf(why, len, "policy %s: operator %s: %s", p->name, op->name, w);
		return -ENOENT;
	}
	snprintf(pp->knob[i], KP_NAME_MAX, "cgroup:%s:%s", rel, pp_res_attr(pp));
	pp_res_knob(pp, &k);
	snprintf(k.name, sizeof(k.name), "%s", pp->knob[i]);
	ret = kp_session_add_knob(e->s, &k, w, sizeof(w));
	if (!ret)
		ret = kp_session_read(e->s, pp->knob[i], val, sizeof(val));
	if (ret) {
		snprintf(why, len, "policy %s: operator %s: %s: %s", p->name, op->name, pp->knob[i],
			 ret == -EINVAL ? w : strerror(-ret));
		return ret;
	}
	pk = kp_pol_knob(p, pp->knob[i]);
	if (!pk) {
		snprintf(why, len, "policy %s: more than %d knobs", p->name, KP_POL_MAX_KNOBS);
		return -E2BIG;
	}
	snprintf(pk->value, sizeof(pk->value), "%s", val);
	pp->cur[i] = pp_res_cores(pp, val);
	snprintf(pp->stat[i], sizeof(pp->stat[i]), cgv == 2 ? "/sys/fs/cgroup/%s/cpu.stat" :
		 "/sys/fs/cgroup/cpu/%s/cpu.stat", rel);
	return 0;
}

static const struct kp_dm_acc *acc_of(const struct kp_pol_env *e, const char *name)
{
	for (int k = 0; k < e->fig->nops; k++)
		if (!strcmp(e->fig->ops[k].name, name))
			return &e->fig->ops[k];
	return NULL;
}

/* cpu.stat: periods and throttled periods (0 when unreadable). */
static void read_stat(const char *file, unsigned long long *periods, unsigned long long *thr)
{
	char buf[1024], key[64], *line, *save = NULL;
	unsigned long long v;

	*periods = *thr = 0;
	if (kp_fs_read(file, buf, sizeof(buf)) < 0)
		return;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (sscanf(line, "%63s %llu", key, &v) == 2 && !strcmp(key, "nr_periods"))
			*periods = v;
		else if (sscanf(line, "%63s %llu", key, &v) == 2 && !strcmp(key, "nr_throttled"))
			*thr = v;
}

static void load_ckpt(struct kp_policy *p, struct pp *pp)
{
	char why[256];

	if (access(p->ckpt, F_OK)) {
		snprintf(pp->ckpt_state, sizeof(pp->ckpt_state), "fresh");
		kp_info("policy %s: no checkpoint at %s: the %s agent starts fresh", p->name,
			p->ckpt, p->agent);
		return;
	}
	if (pp_agent_load(&pp->ag, p->ckpt, why, sizeof(why))) {
		snprintf(pp->ckpt_state, sizeof(pp->ckpt_state), "refused: %.140s", why);
		kp_warn("policy %s: checkpoint %s refused: %s; the %s agent starts fresh", p->name,
			p->ckpt, why, p->agent);
		pp_agent_init(&pp->ag, pp->ag.kind, &pp->d, pp->seed);
		return;
	}
	snprintf(pp->ckpt_state, sizeof(pp->ckpt_state), "loaded");
	kp_info("policy %s: %s agent state loaded from %s (%llu updates)", p->name, p->agent,
		p->ckpt, (unsigned long long)pp->ag.updates);
}

static int start(struct kp_policy *p, struct kp_pol_env *e, char *why, size_t len)
{
	struct pp *pp = p->priv;
	struct pp_meas m;

	for (int i = 0; i < pp->d.nops; i++) {
		const struct kp_dm_acc *a = acc_of(e, e->cfg->ops[pp->cfg_op[i]].name);
		int ret = add_knob(p, pp, e, i, why, len);

		if (ret)
			return ret;
		pp->cpu_prev[i] = a ? a->cpu_ns : 0;
		read_stat(pp->stat[i], &pp->periods[i], &pp->throttled[i]);
	}
	pp->t_prev = e->now;
	load_ckpt(p, pp);
	/* the first read skips what the source already holds: history, not this interval */
	pp_src_take(&pp->src, &pp->d, e->now, &m);
	kp_info("policy %s: %d operators of %s, %.2f cores, rates from %s", p->name, pp->d.nops,
		pp->desc_from, pp->d.cpu_budget,
		pp->src.type == PP_SRC_FILE ? pp->src.path : pp->src.url);
	return 0;
}

/* On-CPU cores and throttled fraction per operator since the last step. */
static void measure_cpu(struct pp *pp, struct kp_pol_env *e, double dt)
{
	for (int i = 0; i < pp->d.nops; i++) {
		const struct kp_dm_acc *a = acc_of(e, e->cfg->ops[pp->cfg_op[i]].name);
		unsigned long long per, thr;

		pp->cpu[i] = 0;
		if (a && a->cpu_ns >= pp->cpu_prev[i] && dt > 0)
			pp->cpu[i] = (a->cpu_ns - pp->cpu_prev[i]) / 1e9 / dt;
		pp->cpu_prev[i] = a ? a->cpu_ns : 0;
		read_stat(pp->stat[i], &per, &thr);
		pp->thr_frac[i] = per > pp->periods[i] && thr >= pp->throttled[i] ?
				  (double)(thr - pp->throttled[i]) / (per - pp->periods[i]) : 0;
		pp->periods[i] = per;
		pp->throttled[i] = thr;
	}
}

/* Target, throughput (the sinks' input when the source does not say) and attainment. */
static void pipeline_figures(struct pp *pp)
{
	const struct kp_pipe_desc *d = &pp->d;
	double thr = pp->m.throughput;

	if (!isfinite(thr)) {
		thr = 0;
		for (int i = 0; i < d->nops; i++) {
			bool sink = true;

			for (int k = 0; k < d->nedges; k++)
				sink &= d->edges[k][0] != i;
			thr += sink ? pp->m.in[i] : 0;
		}
	}
	pp->throughput = thr;
	pp->target = pp->target_rate > 0 ? pp->target_rate : pp->m.target;
	pp->attainment = isfinite(pp->target) && pp->target > 0 ? thr / pp->target : 1;
}

/*
 * kpilot tune's rule: the deadband, or more for a throttled operator while
 * the target is missed. Production mode (exploration off) holds a
 * configuration that meets the target unless the proposal frees a fifth of
 * it: DS2 re-estimates every interval, and on a shared machine the noise of
 * its estimate alone crosses the deadband now and then.
 */
static bool worth_it(const struct kp_policy *p, const struct pp *pp, const double *q)
{
	if (!p->exploration && pp->attainment >= 0.98 &&
	    kp_quota_sum(q, pp->d.nops) > 0.8 * kp_quota_sum(pp->cur, pp->d.nops))
		return false;
	for (int i = 0; i < pp->d.nops; i++) {
		double dq = q[i] - pp->cur[i];

		if (fabs(dq) >= pp->deadband - 1e-9 && fabs(dq) > 1e-9)
			return true;
		if (pp->attainment < 0.98 && dq > 1e-9 && pp->thr_frac[i] >= 0.2)
			return true;
	}
	return false;
}

/* The value status and the framework hold for a knob ("" before start). */
static const char *knob_value(const struct kp_policy *p, const char *name)
{
	for (int i = 0; i < p->nknobs; i++)
		if (!strcmp(p->knobs[i].name, name))
			return p->knobs[i].value;
	return "";
}

/*
 * A weight or a cpuset stands for many splits: one that writes what is
 * already there changes nothing, and becomes the split in force.
 */
static bool unchanged(const struct kp_policy *p, struct pp *pp, const double *q,
		      char (*vals)[KP_VALUE_MAX])
{
	if (pp->res == PP_RES_QUOTA)
		return false;
	for (int i = 0; i < pp->d.nops; i++)
		if (strcmp(knob_value(p, pp->knob[i]), vals[i]))
			return false;
	memcpy(pp->cur, q, pp->d.nops * sizeof(*q));
	return true;
}

static int apply(struct kp_policy *p, struct pp *pp, struct kp_pol_env *e, const double *q)
{
	struct kp_change ch[KP_PIPE_MAX_OPS];
	char vals[KP_PIPE_MAX_OPS][KP_VALUE_MAX], why[400];
	int n = pp->d.nops, k, ret;

	pp_res_values(pp, q, vals);
	if (unchanged(p, pp, q, vals))
		return 0;
	k = snprintf(why, sizeof(why), "%s reconfiguration %llu: target %.0f/s, attainment %.3f,",
		     p->agent, pp->reconfigurations + 1, pp->target, pp->attainment);
	for (int i = 0; i < n; i++) {
		memset(&ch[i], 0, sizeof(ch[i]));
		ch[i].knob = pp->knob[i];
		ch[i].value = vals[i];
		if (k < (int)sizeof(why) - 40)
			k += snprintf(why + k, sizeof(why) - k, " %s %.2f", pp->d.ops[i].name, q[i]);
	}
	ret = kp_pol_apply(p, e, ch, n, why);
	if (ret) {
		pp->errors++;
		return ret;
	}
	pp->reconfigurations++;
	for (int i = 0; i < n; i++) {
		char cur[KP_VALUE_MAX];

		/* a weight or a cpuset as written holds the agent's split, not its rounding */
		if (!kp_session_read(e->s, pp->knob[i], cur, sizeof(cur)))
			pp->cur[i] = pp->res != PP_RES_QUOTA && !strcmp(cur, vals[i]) ? q[i] :
				     pp_res_cores(pp, cur);
	}
	return 0;
}

/* One rate source read: 1 with pp->m filled, 0 when there is nothing to learn from. */
static int take(struct kp_policy *p, struct pp *pp, struct kp_pol_env *e, double dt)
{
	int ret = pp_src_take(&pp->src, &pp->d, e->now, &pp->m);

	if (!ret && !pp->m.lines)
		snprintf(pp->src.error, sizeof(pp->src.error), "no report from the rate source in "
			 "the last %.1f s", dt);
	if (!pp->src.error[0]) {
		pp->src_error[0] = '\0';
		pp->reports += pp->m.lines;
		return 1;
	}
	if (strcmp(pp->src_error, pp->src.error))
		kp_warn("policy %s: %s", p->name, pp->src.error);
	snprintf(pp->src_error, sizeof(pp->src_error), "%s", pp->src.error);
	snprintf(p->last_error, sizeof(p->last_error), "%s", pp->src.error);
	return 0;
}

static int step(struct kp_policy *p, struct kp_pol_env *e)
{
	struct pp *pp = p->priv;
	struct kp_ds2_op op[KP_PIPE_MAX_OPS];
	struct kp_pipe_state st = { 0 };
	double dt = e->now - pp->t_prev, q[KP_PIPE_MAX_OPS];

	pp->t_prev = e->now;
	measure_cpu(pp, e, dt);
	/* the admin's values count as the quotas in force */
	for (int i = 0; i < pp->d.nops; i++) {
		const struct kp_pol_knob *k = kp_pol_knob(p, pp->knob[i]);

		if (k && k->overridden)
			pp->cur[i] = pp_res_cores(pp, k->value);
	}
	if (!take(p, pp, e, dt))
		return 0;
	pipeline_figures(pp);
	st.attainment = pp->attainment;
	st.p99_ms = pp->m.p99_ms;
	st.alloc = kp_quota_sum(pp->cur, pp->d.nops);
	st.errors = pp->errors;
	pp->errors = 0;
	p->last_reward = kp_pipe_reward(&pp->d, &st);
	p->have_reward = true;
	for (int i = 0; i < pp->d.nops; i++)
		op[i] = (struct kp_ds2_op){ pp->m.in[i], pp->m.out[i], pp->cpu[i] };
	pp_agent_update(&pp->ag, op, pp->cur, p->last_reward);
	p->updates++;
	if (!isfinite(pp->target) || pp->target <= 0) {
		snprintf(p->last_error, sizeof(p->last_error), "no target rate: the reports give "
			 "none (\"%s\") and the policy has no target_rate", pp->d.m_target);
		return 0;
	}
	/* the hold-off; a quarter interval of slack, so the default (one interval) never skips */
	if (e->now + p->interval_ms / 4000.0 < p->holdoff_until)
		return 0;
	pp_agent_decide(&pp->ag, &pp->d, pp->target, pp->utilisation, pp->cur, p->exploration, q);
	if (!worth_it(p, pp, q))
		return 0;
	return apply(p, pp, e, q);
}

static int save(struct kp_policy *p, char *why, size_t len)
{
	struct pp *pp = p->priv;
	int ret = pp_agent_save(&pp->ag, p->ckpt);

	if (ret)
		snprintf(why, len, "%s", strerror(-ret));
	return ret;
}

static json_t *num_or_null(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *status(struct kp_policy *p)
{
	struct pp *pp = p->priv;
	json_t *ops = json_array(), *o;

	for (int i = 0; ops && i < pp->d.nops; i++)
		json_array_append_new(ops, json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, "
			"s:o}", "name", pp->d.ops[i].name, "knob", pp->knob[i],
			"value", knob_value(p, pp->knob[i]),
			"quota", num_or_null(pp->cur[i]), "cpu", num_or_null(pp->cpu[i]),
			"in", num_or_null(pp->m.in[i]), "out", num_or_null(pp->m.out[i]),
			"need", num_or_null(pp->ag.need[i]), "throttled", num_or_null(pp->thr_frac[i])));
	o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:f, s:f, s:f, s:I, s:I, s:I, s:I, s:s, s:o}",
		      "pipeline", pp->d.name, "description", pp->desc_from,
		      "target", num_or_null(pp->target), "throughput", num_or_null(pp->throughput),
		      "attainment", num_or_null(pp->attainment),
		      "alloc_cores", num_or_null(kp_quota_sum(pp->cur, pp->d.nops)),
		      "budget_cores", pp->d.cpu_budget, "utilisation", pp->utilisation,
		      "deadband", pp->deadband,
		      "reconfigurations", (json_int_t)pp->reconfigurations,
		      "reports", (json_int_t)pp->reports,
		      "bad_lines", (json_int_t)pp->src.bad_lines,
		      "agent_updates", (json_int_t)pp->ag.updates,
		      "checkpoint_at_start", pp->ckpt_state[0] ? pp->ckpt_state : "not started",
		      "operators", ops ? ops : json_array());
	if (o)
		json_object_set_new(o, "resource", json_string(pp_res_name(pp)));
	if (o)
		json_object_set_new(o, "rate_source", json_string(pp->src.type == PP_SRC_FILE ?
								  pp->src.path : pp->src.url));
	return o;
}

static void pp_free(struct kp_policy *p)
{
	struct pp *pp = p->priv;

	pp_src_close(&pp->src);
	kp_pipe_desc_free(&pp->d);
	free(pp);
	p->priv = NULL;
}

const struct kp_policy_kind kp_policy_pipeline = {
	.name = "pipeline",
	.keys = pp_keys,
	.agents = agents,
	.parse = pp_parse,
	.start = start,
	.step = step,
	.save = save,
	.status = status,
	.free = pp_free,
};
