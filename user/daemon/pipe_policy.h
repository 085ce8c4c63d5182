/* SPDX-License-Identifier: GPL-2.0 */
/* Inside the pipeline policy kind: shared by policy_pipeline.c (run) and pipe_parse.c (config). */
#ifndef KPILOT_DAEMON_PIPE_POLICY_H
#define KPILOT_DAEMON_PIPE_POLICY_H

#include <linux/types.h>
#include "daemon/pipe_agent.h"
#include "daemon/pipe_src.h"
#include "daemon/policy.h"
#include "env/pipeline/pipeline_desc.h"
#include "safety/knob.h"

#define PP_PERIOD_US	100000

/* What an operator's share of the budget is written as (pipe_res.c). */
enum pp_res { PP_RES_QUOTA, PP_RES_WEIGHT, PP_RES_CPUSET };

struct pp {
	struct kp_pipe_desc d;			/* DAG, budget (budget_cores), reward, report names */
	char desc_from[4200];			/* the description's file, or "inline" */
	int cfg_op[KP_PIPE_MAX_OPS];		/* the daemon operator of each description operator */
	char knob[KP_PIPE_MAX_OPS][KP_NAME_MAX];	/* cgroup:<rel>:cpu.max (or the resource's) */
	char stat[KP_PIPE_MAX_OPS][4200];	/* the cgroup's cpu.stat */
	double target_rate;			/* records/s; 0: the rate source's target */
	double utilisation, deadband;
	enum pp_res res;
	unsigned long long cpus[KP_CPUS_MAX / 64];	/* cpuset: the CPUs handed out */
	int ncpus;
	unsigned long long seed;
	struct pp_src src;
	struct pp_agent ag;
	char ckpt_state[160];			/* "loaded", "fresh", "refused: ..." */
	/* between steps */
	double t_prev;
	__u64 cpu_prev[KP_PIPE_MAX_OPS];
	unsigned long long periods[KP_PIPE_MAX_OPS], throttled[KP_PIPE_MAX_OPS];
	double cur[KP_PIPE_MAX_OPS];		/* quotas in force, cores */
	int errors;				/* refused applies since the last reward */
	/* the last interval, for status */
	struct pp_meas m;
	double cpu[KP_PIPE_MAX_OPS], thr_frac[KP_PIPE_MAX_OPS];
	double target, throughput, attainment;
	unsigned long long reconfigurations, reports;
	char src_error[256];
};

/* pipe_parse.c: the kind's members of a policy object (policy.h's parse). */
int pp_parse(struct kp_policy *p, struct kp_json *x, json_t *obj, const char *path,
	     const struct kp_dm_config *cfg);
extern const char *const pp_keys[];

/*
 * pipe_res.c: the resource a split in cores is written as. parse: "resource"
 * and "cpus" (after the budget is known); attr: the knob's attribute; knob:
 * its type and range; where: whether the operator's cgroup has the file (0
 * or -ENOENT with why); values: the split as knob texts; cores: a knob text
 * as cores, for the quotas in force.
 */
int pp_res_parse(struct pp *pp, struct kp_json *x, json_t *obj, const char *path);
const char *pp_res_name(const struct pp *pp);
const char *pp_res_attr(const struct pp *pp);
void pp_res_knob(const struct pp *pp, struct kp_knob *k);
int pp_res_where(const struct pp *pp, const char *rel, int cgv, char *why, size_t len);
void pp_res_values(const struct pp *pp, const double *q, char (*vals)[KP_VALUE_MAX]);
double pp_res_cores(const struct pp *pp, const char *v);

#endif
