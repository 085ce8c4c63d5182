// SPDX-License-Identifier: GPL-2.0
/* kpilot run: the daemon, in the foreground (systemd runs it so). */
#include <argp.h>
#include <stdio.h>
#include <string.h>
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "daemon/config.h"
#include "daemon/daemon.h"

#define DEFAULT_CONFIG "/etc/kpilot/kpilot.json"

static struct {
	const char *config;
	const char *socket;
} run_args;

static const char doc[] =
"Run kpilot as a daemon, in the foreground, until SIGTERM or SIGINT.\n"
"\n"
"USAGE: kpilot run [--config FILE] [--socket PATH]\n"
"\n"
"This kpilot runs observe-only: the observer's per-operator and top-process\n"
"figures on /metrics (Prometheus) and /stats, and `kpilot ctl status`; no\n"
"policy changes anything yet. SIGHUP reloads FILE (a bad one is refused and\n"
"the running config kept). FILE must be root-owned and not group- or\n"
"world-writable; its schema is in Documentation/daemon.md.\n"
"\n"
"EXAMPLES:\n"
"    kpilot run --config kpilot.json   # then: kpilot ctl status\n"
"\n"
"Default FILE: " DEFAULT_CONFIG "; default socket: " KP_DM_SOCKET ".\n";

static const struct argp_option options[] = {
	{ "config", 'c', "FILE", 0, "The daemon's JSON config (default " DEFAULT_CONFIG ")" },
	{ "socket", 's', "PATH", 0, "Control socket, instead of the config's" },
	{ "verbose", 'v', NULL, 0, "Debug output" },
	{},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case 'c':
		run_args.config = arg;
		break;
	case 's':
		if (arg[0] != '/') {
			argp_error(state, "--socket: '%s' is not an absolute path", arg);
			return EINVAL;
		}
		run_args.socket = arg;
		break;
	default:
		return cli_common_arg(key, arg, state);
	}
	return 0;
}

int cmd_run(int argc, char **argv)
{
	static const struct argp argp = { options, parse_arg, NULL, doc };
	char why[1024];

	memset(&run_args, 0, sizeof(run_args));
	run_args.config = DEFAULT_CONFIG;
	if (argp_parse(&argp, argc, argv, 0, NULL, NULL))
		return KP_EXIT_USAGE;
	if (kp_daemon_run(run_args.config, run_args.socket, why, sizeof(why))) {
		fprintf(stderr, "kpilot run: %s\n", why);
		return KP_EXIT_USAGE;
	}
	return KP_EXIT_OK;
}
