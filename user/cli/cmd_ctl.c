// SPDX-License-Identifier: GPL-2.0
/* kpilot ctl: ask the running daemon over its control socket. */
#include <argp.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "daemon/config.h"
#include "daemon/ctl.h"

static struct {
	const char *socket;
	const char *cmd;
	bool json;
} ctl_args;

static const char doc[] =
"Ask the running kpilot daemon (kpilot run) over its control socket.\n"
"\n"
"USAGE: kpilot ctl [--socket PATH] status [--json]\n"
"\n"
"Commands:\n"
"    status    what runs: pid, config, listeners, operators, the observer's\n"
"              counters; exit 0 while the daemon runs, 2 when none answers\n"
"\n"
"EXAMPLES:\n"
"    kpilot ctl status\n"
"    kpilot ctl status --json\n"
"\n"
"The socket is root-only. Default: " KP_DM_SOCKET ".\n";

static const struct argp_option options[] = {
	{ "socket", 's', "PATH", 0, "The daemon's control socket (default " KP_DM_SOCKET ")" },
	{ "json", 'j', NULL, 0, "Print the daemon's answer as JSON" },
	{ "verbose", 'v', NULL, 0, "Debug output" },
	{},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case 's':
		ctl_args.socket = arg;
		break;
	case 'j':
		ctl_args.json = true;
		break;
	case ARGP_KEY_ARG:
		if (ctl_args.cmd) {
			argp_error(state, "unexpected argument '%s'", arg);
			return EINVAL;
		}
		if (strcmp(arg, "status")) {
			argp_error(state, "unknown command '%s' (this kpilot knows: status)", arg);
			return EINVAL;
		}
		ctl_args.cmd = arg;
		break;
	case ARGP_KEY_END:
		if (!ctl_args.cmd) {
			argp_error(state, "a command is needed: status");
			return EINVAL;
		}
		break;
	default:
		return cli_common_arg(key, arg, state);
	}
	return 0;
}

static double num(json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

static void print_status(json_t *s)
{
	json_t *fig = json_object_get(s, "figures"), *ops = json_object_get(fig, "operators"), *o;
	const char *http = json_string_value(json_object_get(s, "http"));
	const char *err = json_string_value(json_object_get(s, "last_reload_error"));
	size_t i;

	printf("kpilot run: pid %d, up %.0f s, %s\n", (int)num(s, "pid"), num(fig, "uptime_s"),
	       json_string_value(json_object_get(s, "mode")));
	printf("config:     %s (reloads %d, refused %d)\n",
	       json_string_value(json_object_get(s, "config")), (int)num(s, "reloads"),
	       (int)num(s, "reloads_refused"));
	if (err)
		printf("last reload refused: %s\n", err);
	printf("socket:     %s\n", json_string_value(json_object_get(s, "socket")));
	printf("http:       %s\n", http ? http : "(none)");
	printf("observer:   %s programs, %.0f windows of %.0f ms, %.0f events, %.0f drops\n",
	       json_string_value(json_object_get(fig, "observer_mode")), num(fig, "windows"),
	       num(fig, "window_ms"), num(fig, "events_total"), num(fig, "ringbuf_drops_total"));
	json_array_foreach(ops, i, o) {
		printf("operator:   %s: cpu %.3f s, run-queue wait %.3f s\n",
		       json_string_value(json_object_get(o, "name")), num(o, "cpu_seconds_total"),
		       num(o, "runqueue_wait_seconds_total"));
	}
	printf("managed:    nothing (observe-only: no policies yet)\n");
}

int cmd_ctl(int argc, char **argv)
{
	static const struct argp argp = { options, parse_arg, NULL, doc };
	json_t *req, *resp = NULL;
	char why[512];
	int ret;

	memset(&ctl_args, 0, sizeof(ctl_args));
	ctl_args.socket = KP_DM_SOCKET;
	if (argp_parse(&argp, argc, argv, 0, NULL, NULL))
		return KP_EXIT_USAGE;
	req = json_pack("{s:s}", "cmd", ctl_args.cmd);
	ret = kp_ctl_request(ctl_args.socket, req, &resp, why, sizeof(why));
	json_decref(req);
	if (ret) {
		fprintf(stderr, "kpilot ctl: %s\n", why);
		return KP_EXIT_USAGE;
	}
	if (!json_is_true(json_object_get(resp, "ok"))) {
		fprintf(stderr, "kpilot ctl: the daemon refused: %s\n",
			json_string_value(json_object_get(resp, "error")));
		json_decref(resp);
		return KP_EXIT_REJECT;
	}
	if (ctl_args.json) {
		json_dumpf(json_object_get(resp, "status"), stdout, JSON_COMPACT);
		putchar('\n');
	} else {
		print_status(json_object_get(resp, "status"));
	}
	json_decref(resp);
	return KP_EXIT_OK;
}
