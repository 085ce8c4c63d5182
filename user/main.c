// SPDX-License-Identifier: GPL-2.0
/* kpilot: the one binary; dispatches to a subcommand. */
#include <argp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "cli/commands.h"

#define KPILOT_VERSION "0.1.0"

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "observe", cmd_observe, "stream per-process and per-operator metrics from eBPF" },
	{ "tune", cmd_tune, "find better knob values for a benchmark, safely" },
	{ "set", cmd_set, "apply knob values through the validator and the journal" },
	{ "persist", cmd_persist, "keep a confirmed best configuration across reboots (undo: rollback)" },
	{ "report", cmd_report, "a tuning run's results.json as a person reads it" },
	{ "rollback", cmd_rollback, "restore every knob kpilot changed to its original" },
	{ "run", cmd_run, "the daemon: observe-only for now, metrics on HTTP (Prometheus)" },
	{ "ctl", cmd_ctl, "ask the running daemon: status" },
	{ "probe", cmd_probe, "what this kernel supports and which observer mode kpilot uses" },
	/* Internal: the tcp-churn profile's client and server. */
	{ "tcpchurn", cmd_tcpchurn, NULL },
	/* Documentation/pipeline.md: the pipeline simulator, for the pipeline policy's use. */
	{ "sim", cmd_sim, NULL },
};

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: kpilot COMMAND [OPTION...]\n\n"
		   "A Linux autopilot: eBPF metrics, a learning agent, safe and reversible knobs.\n\n"
		   "Commands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].help)
			fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n'kpilot COMMAND --help' shows a command's options and examples.\n");
}

int main(int argc, char **argv)
{
	static char name[64];
	size_t i;

	/*
	 * A reader that goes away (`kpilot observe | head`, a closed terminal)
	 * must not kill a session halfway through restoring its knobs: writes
	 * fail with EPIPE instead, and children get the default back.
	 */
	signal(SIGPIPE, SIG_IGN);
	/* argp reports errors with this status, like every other usage error. */
	argp_err_exit_status = KP_EXIT_USAGE;
	if (argc < 2) {
		usage(stderr);
		return KP_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return KP_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("kpilot %s\n", KPILOT_VERSION);
		return KP_EXIT_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name)) {
			/* So argp's messages say "kpilot observe: ...". */
			snprintf(name, sizeof(name), "kpilot %s", commands[i].name);
			argv[1] = name;
			return commands[i].fn(argc - 1, argv + 1);
		}
	fprintf(stderr, "kpilot: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return KP_EXIT_USAGE;
}
