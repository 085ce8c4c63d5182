// SPDX-License-Identifier: GPL-2.0
/* kpilot tune: find better knob values for a benchmark, safely. */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli_util.h"
#include "cli/cmd_persist.h"
#include "cli/cmd_tune.h"
#include "cli/commands.h"
#include "lib/log.h"
#include "safety/session.h"
#include "env/benchmark/tune.h"

struct tune_args tune_args;

/* --persist: kept here, not in tune_args, so the option stays one local edit */
enum { OPT_PERSIST = 1100 };
static bool persist;

static const char doc[] =
"Find better kernel settings for a benchmark: an agent proposes knob values,\n"
"the safety validator bounds them, the benchmark measures them; every\n"
"original is restored at the end (or kept with --apply-best).\n"
"\n"
"USAGE: kpilot tune (--config FILE | --profile NAME) [--trials N] [--seed N]\n"
"                   [--algo ppo|ppo-plain|random] [--out DIR] [--apply-best]\n"
"                   [--dry-run] [--confirm N] [--allow-risky KNOB]... [--json]\n"
"                   [--apply-best --persist]\n"
"       kpilot tune (--config FILE | --profile NAME) ... --algo external\n"
"                   [--optimizer-timeout S] --optimizer CMD [ARG...]\n"
"       kpilot tune --intent TEXT [--llm URL] [--print-config | --yes] [options as above]\n"
"       kpilot tune --profile wordcount [--algo ppo|ds2|static] [--trials N]\n"
"                   [--rate R] [--step-at N --step-rate R] [--pipeline FILE]\n"
"\n"
"EXAMPLES:\n"
"    kpilot tune --profile tcp-churn              # built in, needs nothing\n"
"    kpilot tune --intent \"short-lived TCP connections\" --yes  # a sentence\n"
"    kpilot tune --profile tcp-churn --algo random --trials 20 --seed 3\n"
"    kpilot tune --profile tcp-churn --algo external --trials 20 \\\n"
"        --optimizer tools/optimizers/optuna.py --sampler tpe\n"
"    kpilot tune --config tools/profiles/pgbench.json --apply-best\n"
"    kpilot tune --config my.json --apply-best --persist   # keep it across reboots\n"
"    kpilot tune --config my.json --dry-run       # validate, change nothing\n"
"    kpilot tune --profile tcp-churn --trials 10 --confirm 0  # quick look\n"
"    kpilot tune --config my.json --allow-risky net.ipv4.tcp_max_tw_buckets\n"
"    kpilot tune --profile wordcount --algo ds2   # size a pipeline's operators\n"
"    kpilot tune --profile wordcount --rate 800 --step-at 21 --step-rate 1600\n"
"\n"
"Profiles: tcp-churn (built in); *.json for pgbench, sysbench, fio and wrk,\n"
"*.pipeline.json describe stream pipelines, in tools/profiles (build tree) or\n"
"share/kpilot/profiles (installed; Documentation/install.md). A pipeline run\n"
"(Documentation/pipeline.md) has one trial per control interval, metric =\n"
"throughput attainment. Results go to --out (default ./kpilot-results/<workload>-<time>/):\n"
"results.json, history.csv, plot.svg. At the end the baseline and the best\n"
"are measured alternately --confirm times each (default 5) for a 95%\n"
"confidence interval of the improvement; --apply-best keeps the best only when\n"
"that interval is above 0. The config schema is in Documentation/tuning.md.\n"
"Exit status: 0 done, 1 --intent not confirmed, 2 bad config or environment,\n"
"3 aborted by the guardrails, 4 --apply-best refused: the improvement is not\n"
"significant ""(restored; results written), 130 interrupted (restored; partial results).\n";

static const struct argp_option options[] = {
	{ "config", 'c', "FILE", 0, "Run config (JSON; root-owned, not group/world-writable)" },
	{ "profile", 'p', "NAME", 0, "A built-in profile or NAME.json / NAME.pipeline.json in the profile directory" },
	{ "intent", OPT_INTENT, "TEXT", 0, "Build the session from a sentence and show it; runs after "
	  "a typed yes or --yes (Documentation/intent.md)" },
	{ "print-config", OPT_PRINT_CONFIG, NULL, 0, "--intent: print the session's JSON and exit" },
	{ "yes", OPT_YES, NULL, 0, "--intent: run the session shown without asking" },
	{ "llm", OPT_LLM, "URL", 0, "--intent: ask this OpenAI-compatible endpoint for the session; "
	  "the offline matcher's if its answer is refused (Documentation/llm.md)" },
	{ "profile-dir", OPT_PROFILE_DIR, "DIR", 0, "Where --profile looks (default: tools/profiles beside a "
	  "build tree's binary, else the installed share/kpilot/profiles)" },
	{ "trials", 't', "N", 0, "Number of trials (overrides the config); 0: measure the baseline only; pipelines: control intervals, 1 or more (default 30)" },
	{ "seed", 's', "N", 0, "Random seed (overrides the config)" },
	{ "algo", 'a', "ALGO", 0, "ppo (model + rollout over PPO), ppo-plain, random or external "
	  "(overrides the config); pipelines: ppo, ds2 or static" },
	{ "optimizer", 0, "CMD ARG...", OPTION_DOC, "--algo external: the optimizer to run "
	  "(JSON lines on its stdin/stdout); every later argument is its" },
	{ "optimizer-timeout", OPT_OPTIMIZER_TIMEOUT, "S", 0, "How long the optimizer may take per answer (60)" },
	{ "out", 'o', "DIR", 0, "Where results go" },
	{ "apply-best", OPT_APPLY_BEST, NULL, 0, "Keep the best configuration (kpilot rollback undoes it)" },
	{ "persist", OPT_PERSIST, NULL, 0, "With --apply-best: also keep it across reboots (kpilot persist "
	  "on the run's results.json)" },
	{ "confirm", OPT_CONFIRM, "N", 0, "Confirmation runs of the baseline and of the best, each (default 5; 0: none)" },
	{ "allow-risky", OPT_RISKY, "KNOB", 0, "KNOB may cross its safe floor or ceiling (repeatable; safety.md)" },
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
	{ "rate-trace", OPT_RATE_TRACE, "FILE", 0, "Drive the source rate from FILE (time_s,rate CSV)" },
	{ "rate-speed", OPT_RATE_SPEED, "F", 0, "Replay the rate trace F times faster (default 1)" },
	{ "quotas", OPT_QUOTAS, "OP=CORES,...", 0, "static: these quotas instead of the equal split" },
	{ "utilisation", OPT_UTIL, "U", 0, "ds2: target utilisation (default 0.9)" },
	{ "deadband", OPT_DEADBAND, "CORES", 0, "Smallest quota change worth a reconfiguration (0.1)" },
	{ "launcher-arg", OPT_LAUNCHER_ARG, "ARG", 0, "Append ARG to the launcher command (repeatable)" },
	{ "verify-intervals", OPT_VERIFY, "V", 0, "Watch each change V intervals before it is the "
	  "known-good one; 0: no staging (default 3 with --pretrain-sim or --force-regression, else 0)" },
	{ "rollback-after", OPT_RB_AFTER, "K", 0, "Roll back after K bad intervals in a row (default 2)" },
	{ "rollback-attainment", OPT_RB_ATT, "POINTS", 0, "Bad: attainment POINTS below the "
	  "known-good's (default 5)" },
	{ "rollback-p99", OPT_RB_P99, "F", 0, "Bad: p99 F times the known-good's and 5 ms more (default 1.5)" },
	{ "force-regression", OPT_FORCE_REGRESSION, "N", 0, "Test the rollback: at interval N "
	  "deploy the busiest operator at 0.05 cores" },
	{ "pretrain-sim", OPT_PRETRAIN_SIM, "MODEL", 0, "ppo: train on the simulator MODEL "
	  "(kpilot sim calibrate) replaying the rate trace first" },
	{ "sim-steps", OPT_SIM_STEPS, "N", 0, "--pretrain-sim: simulated intervals (default 2000)" },
	{},
};

/* A duration option in (0, max] seconds, or an argp error naming it. */
static double seconds_arg(struct argp_state *state, const char *opt, const char *arg, double max)
{
	char *end;
	double v = strtod(arg, &end);

	if (*end || end == arg || !(v > 0) || v > max)
		argp_error(state, "%s: '%s' is not in (0, %g]", opt, arg, max);
	return v;
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	long long v;

	switch (key) {
	case 'c':
		tune_args.config = arg;
		break;
	case 'p':
		tune_args.profile = arg;
		break;
	case 't':
		if (!cli_parse_ll(arg, 0, 100000, &v))
			argp_error(state, "--trials: '%s' is not a number of trials in 0-100000", arg);
		tune_args.trials = v;
		break;
	case 's':
		if (!cli_parse_ll(arg, 0, LLONG_MAX, &tune_args.seed))
			argp_error(state, "--seed: '%s' is not a non-negative integer", arg);
		break;
	case 'a':
		tune_args.pipe_algo = arg;
		tune_args.algo = kp_tune_algo(arg);
		if (tune_args.algo < 0 && strcmp(arg, "ds2") && strcmp(arg, "static"))
			argp_error(state, "--algo: '%s' is not ppo, ppo-plain, random, external, ds2 or static",
				   arg);
		break;
	case 'o':
		tune_args.out = arg;
		break;
	case OPT_APPLY_BEST:
		tune_args.apply_best = true;
		break;
	case 'n':
		tune_args.dry_run = true;
		break;
	case 'j':
		tune_args.json = true;
		break;
	case 'q':
		tune_args.quiet = true;
		break;
	case OPT_STATE_DIR:
		tune_args.state_dir = arg;
		break;
	case OPT_CONFIRM:
		/* one run per side has no spread, so no interval */
		if (!cli_parse_ll(arg, 0, KP_CONFIRM_MAX, &v) || v == 1)
			argp_error(state, "--confirm: '%s' is not 0 or a number of runs in 2-%d", arg,
				   KP_CONFIRM_MAX);
		tune_args.confirm = v;
		break;
	case OPT_RISKY:
		if (!kp_knob_builtin(arg) || kp_knob_builtin(arg)->risk == KP_RISK_NONE)
			argp_error(state, "--allow-risky: %s has no safe floor or ceiling to cross "
				   "(kpilot set --list-knobs shows them)", arg);
		if (tune_args.nrisky == KP_TUNE_RISKY_MAX)
			argp_error(state, "--allow-risky: at most %d knobs", KP_TUNE_RISKY_MAX);
		tune_args.risky[tune_args.nrisky++] = arg;
		break;
	case OPT_CHURN_SECONDS:
		tune_args.churn_seconds = seconds_arg(state, "--churn-seconds", arg, 600);
		break;
	case OPT_OPTIMIZER_TIMEOUT:
		tune_args.optimizer_timeout = seconds_arg(state, "--optimizer-timeout", arg, 86400);
		break;
	case ARGP_KEY_END:
		tune_intent_arg(key, arg, state);	/* one config source, --intent's options */
		if (!!tune_args.step_at != !!tune_args.step_rate)
			argp_error(state, "--step-at and --step-rate go together");
		break;
	default:
		return tune_intent_arg(key, arg, state) != ARGP_ERR_UNKNOWN ? 0 :
		       tune_pipeline_arg(key, arg, state) != ARGP_ERR_UNKNOWN ? 0 :
		       cli_common_arg(key, arg, state);
	}
	return 0;
}

/* --persist, apart from parse_arg so the option stays one local edit */
static error_t parse_persist(int key, char *arg, struct argp_state *state)
{
	if (key == OPT_PERSIST) {
		persist = true;
		return 0;
	}
	if (key == ARGP_KEY_END && persist && !tune_args.apply_best)
		argp_error(state, "--persist goes with --apply-best");
	return parse_arg(key, arg, state);
}

/* A profile: built in, or NAME.json in the profile directory (cli_profiles.c). */
static int load_profile(const char *name, struct kp_tune_config *c, char *why, size_t len)
{
	char dir[512], path[PATH_MAX + 64], origin[96];
	const char *text = kp_tune_profile(name);
	int i;

	if (text) {
		snprintf(origin, sizeof(origin), "profile %s", name);
		return kp_tune_config_parse(text, origin, c, why, len);
	}
	for (i = 0; name[i]; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.", name[i]) ||
		    !strncmp(name + i, "..", 2)) {
			snprintf(why, len, "profile '%s': not a profile name", name);
			return -EINVAL;
		}
	if (cli_profile_path(tune_args.profile_dir, name, ".json", path, sizeof(path))) {
		cli_profile_dir(tune_args.profile_dir, dir, sizeof(dir));
		snprintf(why, len, "no profile '%s' (built in: tcp-churn; others in %s/)", name, dir);
		return -ENOENT;
	}
	if (kp_safety_trusted_file(path, why, len))
		return -EPERM;
	return kp_tune_config_load(path, c, why, len);
}

/* The run's config: --config FILE (a trusted file) or --profile NAME. */
static int load_config(struct kp_tune_config *c, char *why, size_t len)
{
	int err;

	if (tune_args.config) {
		err = kp_safety_trusted_file(tune_args.config, why, len);
		return err ? err : kp_tune_config_load(tune_args.config, c, why, len);
	}
	if (!tune_args.profile) {	/* not reached: parse_arg's ARGP_KEY_END asks for one */
		snprintf(why, len, "give one of --config FILE, --profile NAME or --pipeline FILE");
		return -EINVAL;
	}
	return load_profile(tune_args.profile, c, why, len);
}

int cmd_tune(int argc, char **argv)
{
	static const struct argp argp = { options, parse_persist, NULL, doc };
	struct kp_tune_config cfg;
	char err[1024], out[4096] = "";
	int i, ret;

	memset(&tune_args, 0, sizeof(tune_args));
	persist = false;
	tune_args.algo = -1;
	tune_args.seed = -1;
	tune_args.trials = -1;
	tune_args.verify = tune_args.rollback_after = tune_args.sim_steps = -1;
	tune_args.confirm = 5;
	for (i = 1; i < argc; i++)	/* the optimizer's argv is not kpilot's */
		if (!strcmp(argv[i], "--optimizer")) {
			tune_args.optimizer = argv + i + 1;
			argc = i;
			break;
		}
	if (argp_parse(&argp, argc, argv, 0, NULL, NULL))
		return KP_EXIT_USAGE;
	if (tune_args.pipeline)
		return tune_pipeline(tune_args.pipeline);
	if (tune_args.intent)
		return tune_intent(tune_args.intent);
	if (tune_args.profile && !kp_tune_profile(tune_args.profile) && !strpbrk(tune_args.profile, "/.") &&
	    !tune_profile_path(tune_args.profile, ".pipeline.json", out, sizeof(out)))
		return tune_pipeline(out);
	if (tune_args.pipe_algo && (!strcmp(tune_args.pipe_algo, "ds2") || !strcmp(tune_args.pipe_algo, "static"))) {
		fprintf(stderr, "kpilot tune: --algo %s is for pipelines\n", tune_args.pipe_algo);
		return KP_EXIT_USAGE;
	}
	ret = load_config(&cfg, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "kpilot tune: %s\n", err);
		return KP_EXIT_USAGE;
	}
	return tune_run_config(&cfg);
}

void tune_overrides(struct kp_tune_config *cfg)
{
	if (tune_args.trials >= 0)
		cfg->trials = tune_args.trials;
	if (tune_args.seed >= 0)
		cfg->seed = tune_args.seed;
	if (tune_args.algo >= 0)
		cfg->algo = tune_args.algo;
}

int tune_run_config(struct kp_tune_config *cfg)
{
	struct kp_tune_opts o = {};
	char err[1024], out[4096] = "";
	int ret, saved = kp_verbosity;

	tune_overrides(cfg);
	if (geteuid() != 0 && !tune_args.dry_run) {
		fprintf(stderr, "kpilot tune: needs root: it writes kernel knobs and loads eBPF programs\n");
		kp_tune_config_free(cfg);
		return KP_EXIT_USAGE;
	}
	o.cfg = cfg;
	o.out_dir = tune_args.out;
	o.state_dir = tune_args.state_dir;
	o.apply_best = tune_args.apply_best;
	o.dry_run = tune_args.dry_run;
	o.json = tune_args.json;
	o.quiet = tune_args.quiet;
	o.progress = !tune_args.quiet && isatty(STDERR_FILENO);
	o.churn_seconds = tune_args.churn_seconds;
	o.confirm = tune_args.confirm;
	o.allow_risky = tune_args.risky;
	o.optimizer = tune_args.optimizer;
	o.optimizer_timeout_s = tune_args.optimizer_timeout > 0 ? tune_args.optimizer_timeout : 60;
	/* One line per trial is the log; every knob write only with -v. */
	if (kp_verbosity < KP_DEBUG && !tune_args.dry_run)
		kp_verbosity = KP_WARN;
	ret = kp_tune_run(&o, out, sizeof(out), err, sizeof(err));
	ret = ret == -EDOM ? KP_EXIT_NOT_SIGNIFICANT : cli_run_status(ret);
	kp_verbosity = saved;
	if (ret == KP_EXIT_USAGE || ret == KP_EXIT_NOT_SIGNIFICANT)
		fprintf(stderr, "kpilot tune: %s\n", err);
	else if (tune_args.dry_run)
		fprintf(stderr, "kpilot tune: dry run: the config is valid and its first proposal passes the validator\n");
	kp_tune_config_free(cfg);
	if (persist && ret == KP_EXIT_OK && !tune_args.dry_run && out[0]) {
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "/results.json");
		ret = cli_persist("kpilot tune --persist", out, NULL, tune_args.state_dir,
				  tune_args.risky, false, tune_args.quiet);
	}
	return ret;
}
