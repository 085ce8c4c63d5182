// SPDX-License-Identifier: GPL-2.0
/* kpilot tune on a stream pipeline: size its operators' CPU quotas. */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli_util.h"
#include "cli/cmd_tune.h"
#include "cli/commands.h"
#include "env/benchmark/tune_config.h"
#include "env/pipeline/pipectl.h"
#include "env/pipeline/pipetune.h"
#include "env/pipeline/rate_trace.h"
#include "env/pipeline/sim.h"
#include "lib/log.h"
#include "safety/session.h"

error_t tune_pipeline_arg(int key, char *arg, struct argp_state *state)
{
	long long v;
	char *end;

	switch (key) {
	case OPT_PIPELINE:
		tune_args.pipeline = arg;
		break;
	case OPT_PROFILE_DIR:	/* the descriptions' directory too (tune_profile_path) */
		tune_args.profile_dir = arg;
		break;
	case OPT_RATE:
	case OPT_STEP_RATE:
		errno = 0;
		*(key == OPT_RATE ? &tune_args.rate : &tune_args.step_rate) = strtod(arg, &end);
		if (errno || *end || end == arg || strtod(arg, NULL) <= 0 || strtod(arg, NULL) > 1e7)
			argp_error(state, "%s: '%s' is not a rate in (0, 1e7]",
				   key == OPT_RATE ? "--rate" : "--step-rate", arg);
		break;
	case OPT_STEP_AT:
		if (!cli_parse_ll(arg, 1, LONG_MAX, &v))
			argp_error(state, "--step-at: '%s' is not an interval number >= 1", arg);
		tune_args.step_at = v;
		break;
	case OPT_RATE_TRACE:
		tune_args.rate_trace = arg;
		break;
	case OPT_RATE_SPEED:
		tune_args.rate_speed = strtod(arg, &end);
		if (*end || end == arg || !(tune_args.rate_speed > 0) || tune_args.rate_speed > 1e6)
			argp_error(state, "--rate-speed: '%s' is not a factor in (0, 1e6]", arg);
		break;
	case OPT_QUOTAS:
		tune_args.quotas = arg;
		break;
	case OPT_UTIL:
		tune_args.utilisation = strtod(arg, &end);
		if (*end || end == arg || tune_args.utilisation <= 0 || tune_args.utilisation > 1)
			argp_error(state, "--utilisation: '%s' is not in (0, 1]", arg);
		break;
	case OPT_DEADBAND:
		tune_args.deadband = strtod(arg, &end);
		if (*end || end == arg || tune_args.deadband < 0 || tune_args.deadband > 64)
			argp_error(state, "--deadband: '%s' is not cores in [0, 64]", arg);
		break;
	case OPT_VERIFY:
	case OPT_RB_AFTER:
	case OPT_FORCE_REGRESSION:
	case OPT_SIM_STEPS:
		if (!cli_parse_ll(arg, key == OPT_VERIFY ? 0 : 1, 1000000, &v))
			argp_error(state, "%s: '%s' is not a number of intervals %s",
				   key == OPT_VERIFY ? "--verify-intervals" : key == OPT_RB_AFTER ?
				   "--rollback-after" : key == OPT_SIM_STEPS ? "--sim-steps" :
				   "--force-regression", arg, key == OPT_VERIFY ? ">= 0" : ">= 1");
		*(key == OPT_VERIFY ? &tune_args.verify : key == OPT_RB_AFTER ?
		  &tune_args.rollback_after : key == OPT_SIM_STEPS ? &tune_args.sim_steps :
		  &tune_args.force_regression) = v;
		break;
	case OPT_RB_ATT:
	case OPT_RB_P99:
		*(key == OPT_RB_ATT ? &tune_args.rollback_att : &tune_args.rollback_p99) =
			strtod(arg, &end);
		if (*end || end == arg || !(strtod(arg, NULL) > 0))
			argp_error(state, "%s: '%s' is not a positive number",
				   key == OPT_RB_ATT ? "--rollback-attainment" : "--rollback-p99", arg);
		break;
	case OPT_PRETRAIN_SIM:
		tune_args.pretrain_sim = arg;
		break;
	case OPT_LAUNCHER_ARG:
		if (tune_args.nlauncher_args == 16)
			argp_error(state, "--launcher-arg: at most 16");
		tune_args.launcher_args[tune_args.nlauncher_args++] = arg;
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* The pipeline descriptions sit with the profiles (cli_profiles.c). */
int tune_profile_path(const char *name, const char *suffix, char *path, size_t len)
{
	return cli_profile_path(tune_args.profile_dir, name, suffix, path, len);
}

/* --quotas source=0.05,split=0.6,...: every operator, in cores. */
int tune_parse_quotas(const struct kp_pipe_desc *d, const char *s, double *q,
			char *why, size_t len)
{
	char buf[512], *tok, *save = NULL, *eq, *end;
	int i, seen = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		eq = strchr(tok, '=');
		if (!eq)
			goto bad;
		*eq = '\0';
		i = kp_pipe_op_index(d, tok);
		if (i < 0) {
			snprintf(why, len, "--quotas: no operator '%s' in %s", tok, d->name);
			return -EINVAL;
		}
		q[i] = strtod(eq + 1, &end);
		if (*end || end == eq + 1 || q[i] < KP_QUOTA_STEP || q[i] > d->cpu_budget)
			goto bad;
		seen |= 1 << i;
	}
	if (seen != (1 << d->nops) - 1) {
		snprintf(why, len, "--quotas: give every operator of %s a quota", d->name);
		return -EINVAL;
	}
	return 0;
bad:
	snprintf(why, len, "--quotas: '%s' is not OP=CORES,... with cores in [0.05, budget]", s);
	return -EINVAL;
}

/* --rate-trace FILE into o and rt: 0, or -EINVAL with the message printed. */
static int rate_trace(struct kp_pipe_tune_opts *o, struct kp_rate_trace *rt)
{
	char err[1024];

	if (tune_args.step_at || tune_args.rate) {
		fprintf(stderr, "kpilot tune: --rate-trace sets the rate: no --rate or --step-at\n");
		return -EINVAL;
	}
	if (kp_rate_trace_load(tune_args.rate_trace, rt, err, sizeof(err))) {
		fprintf(stderr, "kpilot tune: --rate-trace: %s\n", err);
		return -EINVAL;
	}
	o->rate_trace = rt;
	o->rate_speed = tune_args.rate_speed ?: 1;
	/* without --trials: the whole trace at one interval a second */
	if (tune_args.trials < 0)
		o->trials = ceil(kp_rate_trace_duration(rt) / o->rate_speed);
	return 0;
}

/*
 * The staged deployment's options, and --pretrain-sim's model into m:
 * 0, or -EINVAL with the message printed.
 */
static int deploy_opts(struct kp_pipe_tune_opts *o, struct kp_sim_model *m)
{
	struct kp_deploy_opts *dp = &o->deploy;
	char err[1024];

	kp_deploy_opts_default(dp);
	/*
	 * Staged by default only where the actions come from elsewhere (a
	 * simulator) or a regression is forced to test it: live ds2 and ppo
	 * keep their behaviour, and the figures measured on it, unless asked.
	 */
	if (tune_args.verify >= 0)
		dp->verify = tune_args.verify;
	else if (!tune_args.pretrain_sim && !tune_args.force_regression)
		dp->verify = 0;
	if (tune_args.rollback_after > 0)
		dp->after = tune_args.rollback_after;
	else if (dp->after > dp->verify)
		dp->after = dp->verify ?: 1;	/* --verify-intervals 1: the one interval decides */
	if (tune_args.rollback_att > 0)
		dp->att_points = tune_args.rollback_att / 100;
	if (tune_args.rollback_p99 > 0)
		dp->p99_factor = tune_args.rollback_p99;
	o->force_regression = tune_args.force_regression;
	if (kp_deploy_opts_check(dp, err, sizeof(err))) {
		fprintf(stderr, "kpilot tune: %s\n", err);
		return -EINVAL;
	}
	if ((tune_args.pretrain_sim || tune_args.sim_steps > 0) && o->algo != KP_PIPE_PPO) {
		fprintf(stderr, "kpilot tune: --pretrain-sim and --sim-steps: only with --algo ppo\n");
		return -EINVAL;
	}
	if (tune_args.sim_steps > 0 && !tune_args.pretrain_sim) {
		fprintf(stderr, "kpilot tune: --sim-steps: with --pretrain-sim MODEL\n");
		return -EINVAL;
	}
	if (!tune_args.pretrain_sim)
		return 0;
	if (kp_sim_model_load(tune_args.pretrain_sim, m, err, sizeof(err))) {
		fprintf(stderr, "kpilot tune: --pretrain-sim: %s\n", err);
		return -EINVAL;
	}
	o->pretrain = m;
	o->sim_steps = tune_args.sim_steps > 0 ? tune_args.sim_steps : KP_PRETRAIN_STEPS_DEFAULT;
	return 0;
}

int tune_pipeline(const char *path)
{
	struct kp_pipe_tune_opts o = {};
	struct kp_rate_trace rt = {};
	struct kp_sim_model m;
	struct kp_pipe_desc d;
	char err[1024], out[4096] = "", top[PATH_MAX];
	int ret;

	if (kp_safety_trusted_file(path, err, sizeof(err)) ||
	    kp_pipe_desc_load(path, &d, err, sizeof(err))) {
		fprintf(stderr, "kpilot tune: %s\n", err);
		return KP_EXIT_USAGE;
	}
	ret = KP_EXIT_USAGE;
	if (tune_args.apply_best || tune_args.dry_run) {
		fprintf(stderr, "kpilot tune: --apply-best and --dry-run are for benchmark runs, not pipelines\n");
		goto out;
	}
	if (tune_args.algo == KP_ALGO_RANDOM) {
		fprintf(stderr, "kpilot tune: pipelines take --algo ppo, ds2 or static\n");
		goto out;
	}
	o.algo = !tune_args.pipe_algo || !strcmp(tune_args.pipe_algo, "ppo") ? KP_PIPE_PPO :
		 !strcmp(tune_args.pipe_algo, "ds2") ? KP_PIPE_DS2 : KP_PIPE_STATIC;
	if (tune_args.quotas && (o.algo != KP_PIPE_STATIC ||
			   tune_parse_quotas(&d, tune_args.quotas, o.quotas, err, sizeof(err)))) {
		fprintf(stderr, "kpilot tune: %s\n", o.algo != KP_PIPE_STATIC ?
			"--quotas: only with --algo static" : err);
		goto out;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "kpilot tune: needs root: it creates cgroups and loads eBPF programs\n");
		goto out;
	}
	o.have_quotas = !!tune_args.quotas;
	o.d = &d;
	/* -1: not given; 0 would be no control interval at all */
	o.trials = tune_args.trials < 0 ? KP_PIPE_TRIALS_DEFAULT : tune_args.trials;
	if (o.trials < 1) {
		fprintf(stderr, "kpilot tune: --trials %d: a pipeline run needs at least 1 control interval\n",
			o.trials);
		goto out;
	}
	o.seed = tune_args.seed >= 0 ? tune_args.seed : 1;
	o.out_dir = tune_args.out;
	o.env.state_dir = tune_args.state_dir;
	o.env.rate = tune_args.rate;
	tune_args.launcher_args[tune_args.nlauncher_args] = NULL;
	o.env.extra_args = tune_args.launcher_args;
	/* relative launcher paths are from the top of the tree, where kpilot is built */
	if (!cli_exe_dir(top, sizeof(top)))
		o.env.topdir = top;
	o.step_at = tune_args.step_at;
	o.step_rate = tune_args.step_rate;
	if (tune_args.rate_trace && rate_trace(&o, &rt))
		goto out;
	if (deploy_opts(&o, &m))
		goto out;
	o.utilisation = tune_args.utilisation ? tune_args.utilisation : 0.9;
	o.deadband = tune_args.deadband ? tune_args.deadband : 0.1;
	o.json = tune_args.json;
	o.quiet = tune_args.quiet;
	o.progress = !tune_args.quiet && !tune_args.json && isatty(STDERR_FILENO);
	if (kp_verbosity < KP_DEBUG)
		kp_verbosity = KP_WARN;
	ret = cli_run_status(kp_pipe_tune_run(&o, out, sizeof(out), err, sizeof(err)));
	if (ret == KP_EXIT_USAGE)
		fprintf(stderr, "kpilot tune: %s\n", err);
out:
	kp_rate_trace_free(&rt);
	kp_pipe_desc_free(&d);
	return ret;
}
