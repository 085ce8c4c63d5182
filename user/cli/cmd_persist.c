// SPDX-License-Identifier: GPL-2.0
/* kpilot persist: keep a confirmed best configuration across reboots, reversibly. */
#include <argp.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli_util.h"
#include "cli/cmd_persist.h"
#include "cli/commands.h"
#include "env/benchmark/persist.h"
#include "lib/log.h"

#define RISKY_MAX 16

struct persist_args {
	const char *results, *root, *state_dir;
	const char *risky[RISKY_MAX + 1];
	int nrisky;
	bool dry_run, quiet;
};

static const char doc[] =
"Apply the best configuration of a tuning run and keep it across reboots:\n"
"sysctls in /etc/sysctl.d/90-kpilot-<workload>.conf, a systemd unit's cgroup\n"
"limits in /etc/systemd/system/<unit>.d/90-kpilot-<workload>.conf. Only a\n"
"gain the run's confirmation found significant is kept. Values go through\n"
"the safety validator and the journal; every file is written whole (temp\n"
"file, fsync, rename) and journaled, so `kpilot rollback` removes the files,\n"
"puts back any file they replaced and restores the values.\n"
"\n"
"USAGE: kpilot persist RESULTS.json [--dry-run] [--root DIR] [--state-dir DIR]\n"
"\n"
"EXAMPLES:\n"
"    kpilot persist RESULTS.json --dry-run    # show the files; change nothing\n"
"    kpilot persist RESULTS.json              # apply and keep the best\n"
"    kpilot rollback                          # undo it: files and values\n"
"\n"
"RESULTS.json is a run's results.json (kpilot tune --out DIR, default\n"
"./kpilot-results/<workload>-<time>/). A cgroup knob is kept only when its\n"
"cgroup is a systemd .service or .slice (the drop-in sets CPUQuota=,\n"
"CPUWeight=, AllowedCPUs=); any other is refused with the reason and the rest\n"
"goes on. Exit status: 0 kept, 1 refused (nothing written), 2 bad file or\n"
"environment, 4 the gain is not confirmed as significant (nothing written).\n";

enum { OPT_ROOT = 256, OPT_STATE_DIR, OPT_RISKY };

static const struct argp_option options[] = {
	{ "dry-run", 'n', NULL, 0, "Validate and print the files; change nothing" },
	{ "root", OPT_ROOT, "DIR", 0, "Testing: a fake root for /proc/sys, /sys/fs/cgroup and /etc" },
	{ "state-dir", OPT_STATE_DIR, "DIR", 0, "Journal location (default /var/lib/kpilot)" },
	{ "allow-risky", OPT_RISKY, "KNOB", 0, "KNOB may cross its safe floor or ceiling (repeatable)" },
	{ "quiet", 'q', NULL, 0, "Only errors" },
	{ "verbose", 'v', NULL, 0, "Log every change" },
	{},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	struct persist_args *a = state->input;

	switch (key) {
	case 'n': a->dry_run = true; break;
	case 'q': a->quiet = true; break;
	case OPT_ROOT: a->root = arg; break;
	case OPT_STATE_DIR: a->state_dir = arg; break;
	case OPT_RISKY:
		if (a->nrisky == RISKY_MAX)
			argp_error(state, "--allow-risky: at most %d knobs", RISKY_MAX);
		a->risky[a->nrisky++] = arg;
		break;
	default:
		return cli_results_arg(key, arg, state, &a->results);
	}
	return 0;
}

static int status_of(int err)
{
	return !err ? KP_EXIT_OK : err == -EDOM ? KP_EXIT_NOT_SIGNIFICANT :
	       err == -EINVAL ? KP_EXIT_REJECT : KP_EXIT_USAGE;
}

static void report(const char *prog, const struct kp_persist_out *out, bool dry_run, bool quiet)
{
	int i;

	for (i = 0; i < out->nrefused; i++)
		fprintf(stderr, "%s: %s\n", prog, out->refused[i]);
	if (quiet)
		return;
	for (i = 0; i < out->nfiles; i++) {
		if (dry_run)
			printf("would write %s:\n%s\n", out->files[i].path, out->files[i].text);
		else
			printf("wrote %s\n", out->files[i].path);
	}
	if (dry_run)
		printf("dry run: %d knob%s would change; nothing written\n", out->napplied,
		       out->napplied == 1 ? "" : "s");
	else
		printf("%d knob%s changed and kept; `kpilot rollback` removes the file%s and "
		       "restores the values\n", out->napplied, out->napplied == 1 ? "" : "s",
		       out->nfiles == 1 ? "" : "s");
}

int cli_persist(const char *prog, const char *results, const char *root, const char *state_dir,
		const char *const *allow_risky, bool dry_run, bool quiet)
{
	struct kp_persist_opts o = { .results = results, .root = root, .state_dir = state_dir,
				     .allow_risky = allow_risky, .dry_run = dry_run };
	struct kp_persist_out out;
	char why[1024] = "";
	int err;

	if (geteuid() && !dry_run && (!root || !strcmp(root, "/"))) {
		fprintf(stderr, "%s: needs root: it writes kernel knobs and /etc\n", prog);
		return KP_EXIT_USAGE;
	}
	err = kp_persist(&o, &out, why, sizeof(why));
	if (err)
		fprintf(stderr, "%s: %s\n", prog, why[0] ? why : strerror(-err));
	else
		report(prog, &out, dry_run, quiet);
	if (err && out.nrefused)
		report(prog, &out, dry_run, true);
	kp_persist_out_free(&out);
	return status_of(err);
}

int cmd_persist(int argc, char **argv)
{
	static const struct argp argp = { options, parse_arg, "RESULTS.json", doc };
	struct persist_args a = { 0 };

	if (argp_parse(&argp, argc, argv, 0, NULL, &a))
		return KP_EXIT_USAGE;
	return cli_persist("kpilot persist", a.results, a.root, a.state_dir, a.risky, a.dry_run,
			   a.quiet);
}
