// SPDX-License-Identifier: GPL-2.0
/* kpilot sim: calibrate the pipeline simulator from traces, and run controllers on it. */
#include <argp.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli_util.h"
#include "cli/cmd_tune.h"
#include "cli/commands.h"
#include "env/pipeline/pipetune.h"
#include "env/pipeline/rate_trace.h"
#include "env/pipeline/sim.h"
#include "env/pipeline/trace.h"
#include "lib/log.h"

#define SIM_MAX_TRACES 16

enum { SIM_PIPELINE = 1000, SIM_PROFILE, SIM_RATE_TRACE, SIM_RATE_SPEED, SIM_ALGO, SIM_TRIALS,
       SIM_OUT, SIM_QUOTAS, SIM_SEED, SIM_HOST_CORES, SIM_VERIFY, SIM_FORCE };

struct sim_args {
	const char *verb, *model, *out, *pipeline, *profile, *rate_trace, *algo, *quotas;
	const char *traces[SIM_MAX_TRACES];
	int ntraces;
	double rate_speed, host_cores;
	long trials, seed;
	long verify, force;	/* verify -1: the default */
};

static const char doc[] =
"The pipeline simulator (Documentation/pipeline.md, \"The simulator\").\n"
"\n"
"USAGE: kpilot sim calibrate TRACE.jsonl... -o MODEL.json [--profile NAME]\n"
"       kpilot sim run MODEL.json --rate-trace FILE [--rate-speed F]\n"
"                      [--algo ds2|static|ppo] [--trials N] [--out DIR]\n"
"                      [--verify-intervals V] [--force-regression N]\n"
"\n"
"calibrate fits each operator's service rate per core (records per on-CPU\n"
"second), its fixed CPU and selectivity from the traces kpilot tune writes\n"
"(trace.jsonl); run replays a rate trace on the simulated pipeline under a\n"
"controller and prints attainment, p99 and reconfigurations. The pipeline\n"
"is --profile NAME (wordcount) or --pipeline FILE.\n"
"\n"
"Exit status: 0 done, 2 bad usage or an unusable trace or model.\n";

static const struct argp_option options[] = {
	{ "output", 'o', "MODEL", 0, "calibrate: where the model goes" },
	{ "profile", SIM_PROFILE, "NAME", 0, "The pipeline profile (wordcount)" },
	{ "pipeline", SIM_PIPELINE, "FILE", 0, "The pipeline description instead" },
	{ "rate-trace", SIM_RATE_TRACE, "FILE", 0, "run: the source rate over time (time_s,rate)" },
	{ "rate-speed", SIM_RATE_SPEED, "F", 0, "run: trace seconds per simulated second (1)" },
	{ "algo", SIM_ALGO, "ALGO", 0, "run: ds2 (default), static or ppo" },
	{ "trials", SIM_TRIALS, "N", 0, "run: intervals (default: the whole trace)" },
	{ "quotas", SIM_QUOTAS, "OP=CORES,...", 0, "run --algo static: these quotas" },
	{ "seed", SIM_SEED, "N", 0, "run: the simulator's and PPO's seed (1)" },
	{ "out", SIM_OUT, "DIR", 0, "run: the results directory" },
	{ "host-cores", SIM_HOST_CORES, "C", 0, "run: cores the host leaves the pipeline (the model's ncpu)" },
	{ "verify-intervals", SIM_VERIFY, "V", 0, "run: staged deployment as kpilot tune's (3 with --force-regression, else 0: none)" },
	{ "force-regression", SIM_FORCE, "N", 0, "run: at interval N deploy the busiest operator at "
	  "0.05 cores (a rollback test)" },
	{},
};

static error_t parse(int key, char *arg, struct argp_state *state)
{
	struct sim_args *a = state->input;
	long long v;

	switch (key) {
	case 'o': a->out = arg; break;
	case SIM_PROFILE: a->profile = arg; break;
	case SIM_PIPELINE: a->pipeline = arg; break;
	case SIM_RATE_TRACE: a->rate_trace = arg; break;
	case SIM_ALGO: a->algo = arg; break;
	case SIM_QUOTAS: a->quotas = arg; break;
	case SIM_OUT: a->out = arg; break;
	case SIM_RATE_SPEED:
		a->rate_speed = strtod(arg, NULL);
		if (!(a->rate_speed > 0) || a->rate_speed > 1e6)
			argp_error(state, "--rate-speed: '%s' is not a factor in (0, 1e6]", arg);
		break;
	case SIM_HOST_CORES:
		a->host_cores = strtod(arg, NULL);
		if (!(a->host_cores > 0) || a->host_cores > 1024)
			argp_error(state, "--host-cores: '%s' is not cores in (0, 1024]", arg);
		break;
	case SIM_TRIALS:
	case SIM_SEED:
	case SIM_VERIFY:
	case SIM_FORCE:
		if (!cli_parse_ll(arg, key == SIM_SEED || key == SIM_VERIFY ? 0 : 1, 100000, &v))
			argp_error(state, "'%s' is not a number in range", arg);
		*(key == SIM_SEED ? &a->seed : key == SIM_TRIALS ? &a->trials :
		  key == SIM_VERIFY ? &a->verify : &a->force) = v;
		break;
	case ARGP_KEY_ARG:
		if (!a->verb)
			a->verb = arg;
		else if (!strcmp(a->verb, "run") && !a->model)
			a->model = arg;
		else if (!strcmp(a->verb, "calibrate") && a->ntraces < SIM_MAX_TRACES)
			a->traces[a->ntraces++] = arg;
		else
			argp_error(state, "too many arguments");
		break;
	case ARGP_KEY_END:
		if (!a->verb || (strcmp(a->verb, "run") && strcmp(a->verb, "calibrate"))) {
			argp_error(state, "give calibrate or run");
			break;
		}
		if (!strcmp(a->verb, "calibrate") && (!a->ntraces || !a->out))
			argp_error(state, "calibrate: give TRACE... and -o MODEL");
		if (!strcmp(a->verb, "run") && (!a->model || !a->rate_trace))
			argp_error(state, "run: give MODEL and --rate-trace FILE");
		break;
	default:
		return cli_common_arg(key, arg, state);
	}
	return 0;
}

static int load_desc(const struct sim_args *a, struct kp_pipe_desc *d)
{
	char path[PATH_MAX], why[1024];

	if (a->pipeline)
		snprintf(path, sizeof(path), "%s", a->pipeline);
	else if (cli_profile_path(NULL, a->profile ?: "wordcount", ".pipeline.json", path,
				  sizeof(path))) {
		fprintf(stderr, "kpilot sim: no profile %s\n", a->profile ?: "wordcount");
		return -ENOENT;
	}
	if (kp_pipe_desc_load(path, d, why, sizeof(why))) {
		fprintf(stderr, "kpilot sim: %s\n", why);
		return -EINVAL;
	}
	return 0;
}

static int calibrate(const struct sim_args *a, const struct kp_pipe_desc *d)
{
	struct kp_trace tr[SIM_MAX_TRACES];
	struct kp_sim_model m;
	char why[1024];
	int i, n = 0, err = 0, ret = KP_EXIT_USAGE;

	for (i = 0; i < a->ntraces && !err; i++) {
		err = kp_trace_load(a->traces[i], &tr[i], why, sizeof(why));
		n += !err;
	}
	err = err ?: kp_sim_calibrate(tr, n, d, &m, why, sizeof(why));
	err = err ?: kp_sim_model_save(&m, a->out, why, sizeof(why));
	if (err) {
		fprintf(stderr, "kpilot sim calibrate: %s\n", why);
		goto out;
	}
	printf("%s: %d traces -> %s\n", d->name, n, a->out);
	for (i = 0; i < m.nops; i++)
		printf("  %-10s %9.0f records per core-second  (%.1f us each)  cpu0 %.3f  sel %.2f\n",
		       m.op[i].name, m.op[i].mu, 1e6 / m.op[i].mu, m.op[i].cpu0, m.op[i].sel);
	printf("  base latency %.2f ms\n", m.base_ms);
	ret = KP_EXIT_OK;
out:
	for (i = 0; i < n; i++)
		kp_trace_free(&tr[i]);
	return ret;
}

/* What a simulated run did, from its trace: the figures the benchmark reports. */
static void run_summary(const char *dir, const struct kp_pipe_desc *d, const char *algo)
{
	double att = 0, p99 = 0, p99max = 0, core_s = 0, short_n = 0;
	char path[PATH_MAX + 16], why[512];
	struct kp_trace tr;
	int i, reconf = 0, n = 0;

	snprintf(path, sizeof(path), "%s/trace.jsonl", dir);
	if (kp_trace_load(path, &tr, why, sizeof(why))) {
		fprintf(stderr, "kpilot sim run: %s\n", why);
		return;
	}
	for (i = 1; i < tr.n; i++) {	/* the seed's interval (n 0) is no controller's */
		const struct kp_pipe_state *st = &tr.rec[i].st;

		n++;
		att += fmin(1, st->attainment);
		short_n += st->attainment < 0.98;
		if (isfinite(st->p99_ms)) {
			p99 += st->p99_ms;
			p99max = fmax(p99max, st->p99_ms);
		}
		core_s += st->alloc * st->dt;
		reconf += tr.rec[i].changed;
	}
	if (n)
		printf("%s on the simulator (%s): %d intervals, attainment %.4f (%.0f short of "
		       "0.98), p99 mean %.1f ms max %.1f ms, reconfigurations %d, %.4f core-hours\n",
		       d->name, algo, n, att / n, short_n, p99 / n, p99max, reconf, core_s / 3600);
	printf("RESULT attainment=%.4f p99_mean_ms=%.2f reconf=%d core_hours=%.5f\n",
	       n ? att / n : 0, n ? p99 / n : 0, reconf, core_s / 3600);
	kp_trace_free(&tr);
}

static int run(const struct sim_args *a, const struct kp_pipe_desc *d)
{
	struct kp_pipe_backend be = kp_pipe_sim;
	struct kp_pipe_tune_opts o = { .d = d };
	struct kp_rate_trace rt;
	struct kp_sim_model m;
	char why[1024], out[4096] = "";
	int err;

	if (kp_sim_model_load(a->model, &m, why, sizeof(why)) ||
	    kp_rate_trace_load(a->rate_trace, &rt, why, sizeof(why))) {
		fprintf(stderr, "kpilot sim run: %s\n", why);
		return KP_EXIT_USAGE;
	}
	m.seed = a->seed > 0 ? a->seed : 1;
	if (a->host_cores > 0)
		m.ncpu = a->host_cores;
	be.arg = &m;
	o.backend = &be;
	o.algo = !a->algo || !strcmp(a->algo, "ds2") ? KP_PIPE_DS2 :
		 !strcmp(a->algo, "static") ? KP_PIPE_STATIC : KP_PIPE_PPO;
	if (a->algo && o.algo == KP_PIPE_PPO && strcmp(a->algo, "ppo")) {
		fprintf(stderr, "kpilot sim run: --algo ds2, static or ppo\n");
		err = KP_EXIT_USAGE;
		goto out;
	}
	if (a->quotas && (o.algo != KP_PIPE_STATIC ||
			  tune_parse_quotas(d, a->quotas, o.quotas, why, sizeof(why)))) {
		fprintf(stderr, "kpilot sim run: %s\n", o.algo != KP_PIPE_STATIC ?
			"--quotas: only with --algo static" : why);
		err = KP_EXIT_USAGE;
		goto out;
	}
	o.have_quotas = !!a->quotas;
	o.rate_trace = &rt;
	o.rate_speed = a->rate_speed ?: 1;
	o.trials = a->trials ?: (int)fmin(100000, ceil(kp_rate_trace_duration(&rt) /
							 o.rate_speed / m.interval_s));
	o.seed = m.seed;
	o.out_dir = a->out;
	o.utilisation = 0.9;
	o.deadband = 0.1;
	kp_deploy_opts_default(&o.deploy);
	if (a->verify >= 0)
		o.deploy.verify = a->verify;
	else if (!a->force)
		o.deploy.verify = 0;	/* as kpilot tune's: staged when asked or tested */
	if (o.deploy.after > o.deploy.verify)
		o.deploy.after = o.deploy.verify ?: 1;
	o.force_regression = a->force;
	o.quiet = true;
	err = cli_run_status(kp_pipe_tune_run(&o, out, sizeof(out), why, sizeof(why)));
	if (err == KP_EXIT_USAGE)
		fprintf(stderr, "kpilot sim run: %s\n", why);
	else if (out[0])
		run_summary(out, d, kp_pipe_algo_name(o.algo));
	if (out[0])
		printf("results: %s/results.json, trace.jsonl\n", out);
out:
	kp_rate_trace_free(&rt);
	return err;
}

int cmd_sim(int argc, char **argv)
{
	struct argp argp = { options, parse, "calibrate TRACE... | run MODEL", doc };
	struct sim_args a = { .verify = -1 };
	struct kp_pipe_desc d;
	int ret;

	if (argp_parse(&argp, argc, argv, 0, NULL, &a))
		return KP_EXIT_USAGE;
	if (load_desc(&a, &d))
		return KP_EXIT_USAGE;
	ret = !strcmp(a.verb, "calibrate") ? calibrate(&a, &d) : run(&a, &d);
	kp_pipe_desc_free(&d);
	return ret;
}
