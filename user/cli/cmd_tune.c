// SPDX-License-Identifier: GPL-2.0
/* kpilot tune: find better knob values for a benchmark, safely. */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/commands.h"
#include "lib/log.h"
#include "env/pipeline/pipectl.h"
#include "env/pipeline/pipetune.h"
#include "safety/session.h"
#include "env/benchmark/tune.h"

static struct {
	const char *config, *profile, *out, *state_dir;
	long trials;		/* -1: the config's */
	long long seed;
	int algo;		/* -1: the config's */
	bool apply_best, dry_run, json, quiet;
	double churn_seconds;
	/* pipelines */
	const char *pipeline, *pipe_algo, *quotas;
	double rate, step_rate, utilisation, deadband;
	long step_at;
	char *launcher_args[17];
	int nlauncher_args;
} env;

static const char doc[] =
"Find better kernel settings for a benchmark: an agent proposes knob values,\n"
"the safety validator bounds them, the benchmark measures them; every\n"
"original is restored at the end (or kept with --apply-best).\n"
"\n"
"USAGE: kpilot tune (--config FILE | --profile NAME) [--trials N] [--seed N]\n"
"                   [--algo ppo|random] [--out DIR] [--apply-best] [--dry-run]\n"
"                   [--json]\n"
"       kpilot tune --profile wordcount [--algo ppo|ds2|static] [--trials N]\n"
"                   [--rate R] [--step-at N --step-rate R] [--pipeline FILE]\n"
"\n"
"EXAMPLES:\n"
"    kpilot tune --profile tcp-churn              # built in, needs nothing\n"
"    kpilot tune --profile tcp-churn --algo random --trials 20 --seed 3\n"
"    kpilot tune --config tools/profiles/pgbench.json --apply-best\n"
"    kpilot tune --config my.json --dry-run       # validate, change nothing\n"
"    kpilot tune --profile wordcount --algo ds2   # size a pipeline's operators\n"
"    kpilot tune --profile wordcount --rate 800 --step-at 21 --step-rate 1600\n"
"\n"
"Profiles: tcp-churn (built in); tools/profiles/*.json for pgbench, sysbench,\n"
"fio and wrk; tools/profiles/*.pipeline.json describe stream pipelines\n"
"(Documentation/pipeline.md): one trial per control interval, metric =\n"
"throughput attainment. Results go to --out (default ./kpilot-results/<workload>-<time>/):\n"
"results.json, history.csv, plot.svg. The config schema is in\n"
"Documentation/tuning.md. Exit status: 0 done, 2 bad config or environment,\n"
"3 aborted by the guardrails, 130 interrupted (restored; partial results).\n";

enum { OPT_APPLY_BEST = 1000, OPT_STATE_DIR, OPT_CHURN_SECONDS, OPT_PIPELINE, OPT_RATE,
       OPT_STEP_AT, OPT_STEP_RATE, OPT_QUOTAS, OPT_UTIL, OPT_DEADBAND, OPT_LAUNCHER_ARG };

static const struct argp_option options[] = {
	{ "config", 'c', "FILE", 0, "Session config (JSON; root-owned, not group/world-writable)" },
	{ "profile", 'p', "NAME", 0, "A built-in or tools/profiles profile" },
	{ "trials", 't', "N", 0, "Number of trials (overrides the config); 0: measure the baseline only" },
	{ "seed", 's', "N", 0, "Random seed (overrides the config)" },
	{ "algo", 'a', "ALGO", 0, "ppo or random (overrides the config); pipelines: ppo, ds2 or static" },
	{ "out", 'o', "DIR", 0, "Where results go" },
	{ "apply-best", OPT_APPLY_BEST, NULL, 0, "Keep the best configuration (kpilot rollback undoes it)" },
	{ "dry-run", 'n', NULL, 0, "Validate the config and its first proposal; change and run nothing" },
	{ "json", 'j', NULL, 0, "Print results.json on stdout at the end" },
	{ "quiet", 'q', NULL, 0, "No progress line or summary" },
	{ "state-dir", OPT_STATE_DIR, "DIR", 0, "Journal location (default /var/lib/kpilot)" },
	{ "churn-seconds", OPT_CHURN_SECONDS, "S", OPTION_HIDDEN, "tcp-churn client run time" },
	{ "verbose", 'v', NULL, 0, "Log every change" },
	{ NULL, 0, NULL, 0, "Pipelines:" },
	{ "pipeline", OPT_PIPELINE, "FILE", 0, "Pipeline description (JSON) to size operator by operator" },
	{ "rate", OPT_RATE, "R", 0, "Source rate to start with (default: the description's)" },
	{ "step-at", OPT_STEP_AT, "N", 0, "Change the source rate before interval N ..." },
	{ "step-rate", OPT_STEP_RATE, "R", 0, "... to R" },
	{ "quotas", OPT_QUOTAS, "OP=CORES,...", 0, "static: these quotas instead of the equal split" },
	{ "utilisation", OPT_UTIL, "U", 0, "ds2: target utilisation (default 0.9)" },
	{ "deadband", OPT_DEADBAND, "CORES", 0, "Smallest quota change worth a reconfiguration (0.1)" },
	{ "launcher-arg", OPT_LAUNCHER_ARG, "ARG", 0, "Append ARG to the launcher command (repeatable)" },
	{},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	char *end;

	switch (key) {
	case 'c':
		env.config = arg;
		break;
	case 'p':
		env.profile = arg;
		break;
	case 't':
		errno = 0;
		env.trials = strtol(arg, &end, 10);
		if (errno || *end || end == arg || env.trials < 0 || env.trials > 100000)
			argp_error(state, "--trials: '%s' is not a number of trials in 0-100000", arg);
		break;
	case 's':
		errno = 0;
		env.seed = strtoll(arg, &end, 10);
		if (errno || *end || end == arg || env.seed < 0)
			argp_error(state, "--seed: '%s' is not a non-negative integer", arg);
		break;
	case 'a':
		env.pipe_algo = arg;
		if (!strcmp(arg, "ppo"))
			env.algo = KP_ALGO_PPO;
		else if (!strcmp(arg, "random"))
			env.algo = KP_ALGO_RANDOM;
		else if (strcmp(arg, "ds2") && strcmp(arg, "static"))
			argp_error(state, "--algo: '%s' is not ppo, random, ds2 or static", arg);
		break;
	case OPT_PIPELINE:
		env.pipeline = arg;
		break;
	case OPT_RATE:
	case OPT_STEP_RATE:
		errno = 0;
		*(key == OPT_RATE ? &env.rate : &env.step_rate) = strtod(arg, &end);
		if (errno || *end || end == arg || strtod(arg, NULL) <= 0 || strtod(arg, NULL) > 1e7)
			argp_error(state, "%s: '%s' is not a rate in (0, 1e7]",
				   key == OPT_RATE ? "--rate" : "--step-rate", arg);
		break;
	case OPT_STEP_AT:
		errno = 0;
		env.step_at = strtol(arg, &end, 10);
		if (errno || *end || end == arg || env.step_at < 1)
			argp_error(state, "--step-at: '%s' is not an interval number >= 1", arg);
		break;
	case OPT_QUOTAS:
		env.quotas = arg;
		break;
	case OPT_UTIL:
		env.utilisation = strtod(arg, &end);
		if (*end || end == arg || env.utilisation <= 0 || env.utilisation > 1)
			argp_error(state, "--utilisation: '%s' is not in (0, 1]", arg);
		break;
	case OPT_DEADBAND:
		env.deadband = strtod(arg, &end);
		if (*end || end == arg || env.deadband < 0 || env.deadband > 64)
			argp_error(state, "--deadband: '%s' is not cores in [0, 64]", arg);
		break;
	case OPT_LAUNCHER_ARG:
		if (env.nlauncher_args == 16)
			argp_error(state, "--launcher-arg: at most 16");
		env.launcher_args[env.nlauncher_args++] = arg;
		break;
	case 'o':
		env.out = arg;
		break;
	case OPT_APPLY_BEST:
		env.apply_best = true;
		break;
	case 'n':
		env.dry_run = true;
		break;
	case 'j':
		env.json = true;
		break;
	case 'q':
		env.quiet = true;
		break;
	case OPT_STATE_DIR:
		env.state_dir = arg;
		break;
	case OPT_CHURN_SECONDS:
		env.churn_seconds = strtod(arg, &end);
		if (*end || env.churn_seconds <= 0 || env.churn_seconds > 600)
			argp_error(state, "--churn-seconds: '%s' is not in (0, 600]", arg);
		break;
	case 'v':
		kp_verbosity = KP_DEBUG;
		break;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		break;
	case ARGP_KEY_END:
		if (!!env.config + !!env.profile + !!env.pipeline != 1)
			argp_error(state, "give one of --config FILE, --profile NAME or --pipeline FILE");
		if (!!env.step_at != !!env.step_rate)
			argp_error(state, "--step-at and --step-rate go together");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

/* A profile: built in, or tools/profiles/NAME.json next to the binary or installed. */
static int load_profile(const char *name, struct kp_tune_config *c, char *err, size_t len)
{
	char exe[PATH_MAX], path[PATH_MAX + 64], *slash, origin[96];
	const char *text = kp_tune_profile(name);
	ssize_t n;
	int i;

	if (text) {
		snprintf(origin, sizeof(origin), "profile %s", name);
		return kp_tune_config_parse(text, origin, c, err, len);
	}
	for (i = 0; name[i]; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.", name[i]) ||
		    !strncmp(name + i, "..", 2)) {
			snprintf(err, len, "profile '%s': not a profile name", name);
			return -EINVAL;
		}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		snprintf(path, sizeof(path), "%s/tools/profiles/%s.json", exe, name);
		if (!access(path, R_OK))
			goto found;
	}
	snprintf(path, sizeof(path), "/usr/share/kpilot/profiles/%s.json", name);
	if (!access(path, R_OK))
		goto found;
	snprintf(err, len, "no profile '%s' (built in: tcp-churn; others in tools/profiles/)", name);
	return -ENOENT;
found:
	if (kp_safety_trusted_file(path, err, len))
		return -EPERM;
	return kp_tune_config_load(path, c, err, len);
}

/* The directory of tools/profiles: next to the binary (a build tree) or installed. */
static int profile_path(const char *name, const char *suffix, char *path, size_t len)
{
	char exe[2048], *slash;
	ssize_t n;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		snprintf(path, len, "%s/tools/profiles/%s%s", exe, name, suffix);
		if (!access(path, R_OK))
			return 0;
	}
	snprintf(path, len, "/usr/share/kpilot/profiles/%s%s", name, suffix);
	return access(path, R_OK) ? -ENOENT : 0;
}

/* --quotas source=0.05,split=0.6,...: every operator, in cores. */
static int parse_quotas(const struct kp_pipe_desc *d, const char *s, double *q,
			char *err, size_t len)
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
			snprintf(err, len, "--quotas: no operator '%s' in %s", tok, d->name);
			return -EINVAL;
		}
		q[i] = strtod(eq + 1, &end);
		if (*end || end == eq + 1 || q[i] < KP_QUOTA_STEP || q[i] > d->cpu_budget)
			goto bad;
		seen |= 1 << i;
	}
	if (seen != (1 << d->nops) - 1) {
		snprintf(err, len, "--quotas: give every operator of %s a quota", d->name);
		return -EINVAL;
	}
	return 0;
bad:
	snprintf(err, len, "--quotas: '%s' is not OP=CORES,... with cores in [0.05, budget]", s);
	return -EINVAL;
}

static int tune_pipeline(const char *path)
{
	struct kp_pipe_tune_opts o = {};
	struct kp_pipe_desc d;
	char err[1024], out[4096] = "", top[PATH_MAX], *slash;
	ssize_t n;
	int ret;

	if (kp_safety_trusted_file(path, err, sizeof(err)) ||
	    kp_pipe_desc_load(path, &d, err, sizeof(err))) {
		fprintf(stderr, "kpilot tune: %s\n", err);
		return KP_EXIT_USAGE;
	}
	ret = KP_EXIT_USAGE;
	if (env.apply_best || env.dry_run) {
		fprintf(stderr, "kpilot tune: --apply-best and --dry-run are for knob sessions, not pipelines\n");
		goto out;
	}
	if (env.algo == KP_ALGO_RANDOM) {
		fprintf(stderr, "kpilot tune: pipelines take --algo ppo, ds2 or static\n");
		goto out;
	}
	o.algo = !env.pipe_algo || !strcmp(env.pipe_algo, "ppo") ? KP_PIPE_PPO :
		 !strcmp(env.pipe_algo, "ds2") ? KP_PIPE_DS2 : KP_PIPE_STATIC;
	if (env.quotas && (o.algo != KP_PIPE_STATIC ||
			   parse_quotas(&d, env.quotas, o.quotas, err, sizeof(err)))) {
		fprintf(stderr, "kpilot tune: %s\n", o.algo != KP_PIPE_STATIC ?
			"--quotas: only with --algo static" : err);
		goto out;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "kpilot tune: needs root: it creates cgroups and loads eBPF programs\n");
		goto out;
	}
	o.have_quotas = !!env.quotas;
	o.d = &d;
	o.trials = env.trials ? env.trials : 30;
	o.seed = env.seed >= 0 ? env.seed : 1;
	o.out_dir = env.out;
	o.env.state_dir = env.state_dir;
	o.env.rate = env.rate;
	env.launcher_args[env.nlauncher_args] = NULL;
	o.env.extra_args = env.launcher_args;
	/* relative launcher paths are from the top of the tree, where kpilot is built */
	n = readlink("/proc/self/exe", top, sizeof(top) - 1);
	if (n > 0) {
		top[n] = '\0';
		slash = strrchr(top, '/');
		if (slash)
			*slash = '\0';
		o.env.topdir = top;
	}
	o.step_at = env.step_at;
	o.step_rate = env.step_rate;
	o.utilisation = env.utilisation ? env.utilisation : 0.9;
	o.deadband = env.deadband ? env.deadband : 0.1;
	o.json = env.json;
	o.quiet = env.quiet;
	o.progress = !env.quiet && !env.json && isatty(STDERR_FILENO);
	if (kp_verbosity < KP_DEBUG)
		kp_verbosity = KP_WARN;
	ret = kp_pipe_tune_run(&o, out, sizeof(out), err, sizeof(err));
	if (ret == KP_EXIT_USAGE)
		fprintf(stderr, "kpilot tune: %s\n", err);
out:
	kp_pipe_desc_free(&d);
	return ret;
}

int cmd_tune(int argc, char **argv)
{
	static const struct argp argp = { options, parse_arg, NULL, doc };
	struct kp_tune_config cfg;
	struct kp_tune_opts o = {};
	char err[1024], out[4096] = "";
	int ret, saved = kp_verbosity;

	memset(&env, 0, sizeof(env));
	env.algo = -1;
	env.seed = -1;
	env.trials = -1;
	if (argp_parse(&argp, argc, argv, 0, NULL, NULL))
		return KP_EXIT_USAGE;
	if (env.pipeline)
		return tune_pipeline(env.pipeline);
	if (env.profile && !kp_tune_profile(env.profile) && !strpbrk(env.profile, "/.") &&
	    !profile_path(env.profile, ".pipeline.json", out, sizeof(out)))
		return tune_pipeline(out);
	if (env.pipe_algo && (!strcmp(env.pipe_algo, "ds2") || !strcmp(env.pipe_algo, "static"))) {
		fprintf(stderr, "kpilot tune: --algo %s is for pipelines\n", env.pipe_algo);
		return KP_EXIT_USAGE;
	}
	if (env.config) {
		if (kp_safety_trusted_file(env.config, err, sizeof(err))) {
			fprintf(stderr, "kpilot tune: %s\n", err);
			return KP_EXIT_USAGE;
		}
		ret = kp_tune_config_load(env.config, &cfg, err, sizeof(err));
	} else {
		ret = load_profile(env.profile, &cfg, err, sizeof(err));
	}
	if (ret) {
		fprintf(stderr, "kpilot tune: %s\n", err);
		return KP_EXIT_USAGE;
	}
	if (env.trials >= 0)
		cfg.trials = env.trials;
	if (env.seed >= 0)
		cfg.seed = env.seed;
	if (env.algo >= 0)
		cfg.algo = env.algo;
	if (geteuid() != 0 && !env.dry_run) {
		fprintf(stderr, "kpilot tune: needs root: it writes kernel knobs and loads eBPF programs\n");
		kp_tune_config_free(&cfg);
		return KP_EXIT_USAGE;
	}
	o.cfg = &cfg;
	o.out_dir = env.out;
	o.state_dir = env.state_dir;
	o.apply_best = env.apply_best;
	o.dry_run = env.dry_run;
	o.json = env.json;
	o.quiet = env.quiet;
	o.progress = !env.quiet && isatty(STDERR_FILENO);
	o.churn_seconds = env.churn_seconds;
	/* One line per trial is the log; every knob write only with -v. */
	if (kp_verbosity < KP_DEBUG && !env.dry_run)
		kp_verbosity = KP_WARN;
	ret = kp_tune_run(&o, out, sizeof(out), err, sizeof(err));
	kp_verbosity = saved;
	if (ret == KP_EXIT_USAGE)
		fprintf(stderr, "kpilot tune: %s\n", err);
	else if (env.dry_run)
		fprintf(stderr, "kpilot tune: dry run: the config is valid and its first proposal passes the validator\n");
	kp_tune_config_free(&cfg);
	return ret;
}
