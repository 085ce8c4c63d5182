// SPDX-License-Identifier: GPL-2.0
/* kpilot tune: find better knob values for a benchmark, safely. */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "commands.h"
#include "log.h"
#include "safety.h"
#include "tune.h"

static struct {
	const char *config, *profile, *out, *state_dir;
	long trials;		/* -1: the config's */
	long long seed;
	int algo;		/* -1: the config's */
	bool apply_best, dry_run, json, quiet;
	double churn_seconds;
} env;

static const char doc[] =
"Find better kernel settings for a benchmark: an agent proposes knob values,\n"
"the safety validator bounds them, the benchmark measures them; every\n"
"original is restored at the end (or kept with --apply-best).\n"
"\n"
"USAGE: kpilot tune (--config FILE | --profile NAME) [--trials N] [--seed N]\n"
"                   [--algo ppo|random] [--out DIR] [--apply-best] [--dry-run] [--json]\n"
"\n"
"EXAMPLES:\n"
"    kpilot tune --profile tcp-churn              # built in: needs nothing installed\n"
"    kpilot tune --profile tcp-churn --algo random --trials 20 --seed 3\n"
"    kpilot tune --config tools/profiles/pgbench.json --apply-best\n"
"    kpilot tune --config my.json --dry-run       # validate the plan, change nothing\n"
"\n"
"Profiles: tcp-churn (built in); tools/profiles/*.json for pgbench, sysbench,\n"
"fio and wrk. Results go to --out (default ./kpilot-results/<workload>-<time>/):\n"
"results.json, history.csv, plot.svg. The config schema is in\n"
"Documentation/tuning.md. Exit status: 0 done, 2 bad config or environment,\n"
"3 aborted by the guardrails, 130 interrupted (restored; partial results).\n";

enum { OPT_APPLY_BEST = 1000, OPT_STATE_DIR, OPT_CHURN_SECONDS };

static const struct argp_option options[] = {
	{ "config", 'c', "FILE", 0, "Session config (JSON; root-owned, not group/world-writable)" },
	{ "profile", 'p', "NAME", 0, "A built-in or tools/profiles profile" },
	{ "trials", 't', "N", 0, "Number of trials (overrides the config); 0: measure the baseline only" },
	{ "seed", 's', "N", 0, "Random seed (overrides the config)" },
	{ "algo", 'a', "ALGO", 0, "ppo or random (overrides the config)" },
	{ "out", 'o', "DIR", 0, "Where results go" },
	{ "apply-best", OPT_APPLY_BEST, NULL, 0, "Keep the best configuration (kpilot rollback undoes it)" },
	{ "dry-run", 'n', NULL, 0, "Validate the config and its first proposal; change and run nothing" },
	{ "json", 'j', NULL, 0, "Print results.json on stdout at the end" },
	{ "quiet", 'q', NULL, 0, "No progress line or summary" },
	{ "state-dir", OPT_STATE_DIR, "DIR", 0, "Journal location (default /var/lib/kpilot)" },
	{ "churn-seconds", OPT_CHURN_SECONDS, "S", OPTION_HIDDEN, "tcp-churn client run time" },
	{ "verbose", 'v', NULL, 0, "Log every change" },
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
		if (!strcmp(arg, "ppo"))
			env.algo = KP_ALGO_PPO;
		else if (!strcmp(arg, "random"))
			env.algo = KP_ALGO_RANDOM;
		else
			argp_error(state, "--algo: '%s' is not ppo or random", arg);
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
		if (!env.config == !env.profile)
			argp_error(state, "give one of --config FILE or --profile NAME");
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
