// SPDX-License-Identifier: GPL-2.0
/* kpilot ctl: ask the running daemon over its control socket. */
#include <argp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "cli/ctl_print.h"
#include "daemon/config.h"
#include "daemon/ctl.h"

#define MAX_WORDS 3

static struct {
	const char *socket;
	const char *word[MAX_WORDS];	/* the command and its arguments */
	int nwords;
	long batch, iterations;
	bool json;
} ctl_args;

/* A command, how many arguments it takes (min, max) and what they are. */
static const struct {
	const char *name;
	int min, max;
	const char *args;
} cmds[] = {
	{ "status", 0, 0, "" }, { "policies", 0, 0, "" }, { "pause", 1, 1, " POLICY" },
	{ "resume", 1, 1, " POLICY" }, { "explore", 2, 2, " POLICY on|off" },
	{ "save", 0, 1, " [POLICY]" }, { "train", 1, 1, " POLICY" }, { "rollback", 0, 0, "" },
	{ "reload", 0, 0, "" },
};

#define NCMDS (int)(sizeof(cmds) / sizeof(cmds[0]))

static const char doc[] =
"Ask the running kpilot daemon (kpilot run) over its control socket.\n"
"\n"
"USAGE: kpilot ctl [--socket PATH] [--json] COMMAND [ARGS]\n"
"\n"
"Commands:\n"
"    status               what runs: pid, config, listeners, operators, policies\n"
"    policies             each policy: agent, steps, updates, reward, knobs\n"
"    pause POLICY         no more steps; its knobs keep their values\n"
"    resume POLICY        steps again; knobs it lost to an override managed again\n"
"    explore POLICY on|off  exploration (off: the greedy policy only)\n"
"    save [POLICY]        write the checkpoints now (every policy's by default)\n"
"    train POLICY         extra updates from what the agent has seen\n"
"                         (--batch-size N, --iterations N)\n"
"    rollback             restore every knob the policies changed and pause them all\n"
"    reload               read the config again, as SIGHUP does; says if refused\n"
"\n"
"Exit status: 0 done, 1 refused by the daemon (it says why), 2 no daemon\n"
"answers or bad usage.\n"
"\n"
"EXAMPLES:\n"
"    kpilot ctl status\n"
"    kpilot ctl status --json\n"
"    kpilot ctl policies\n"
"    kpilot ctl save\n"
"    kpilot ctl reload\n"
"    kpilot ctl pause web      # exit 1: no such policy here\n"
"\n"
"The socket is root-only. Default: " KP_DM_SOCKET ".\n";

static const struct argp_option options[] = {
	{ "socket", 's', "PATH", 0, "The daemon's control socket (default " KP_DM_SOCKET ")" },
	{ "json", 'j', NULL, 0, "Print the daemon's answer as JSON" },
	{ "batch-size", 'b', "N", 0, "train: samples per update (default 32)" },
	{ "iterations", 'i', "N", 0, "train: updates (default 10)" },
	{ "verbose", 'v', NULL, 0, "Debug output" },
	{},
};

static int find_cmd(const char *name)
{
	for (int i = 0; i < NCMDS; i++)
		if (!strcmp(cmds[i].name, name))
			return i;
	return -1;
}

static error_t check_words(struct argp_state *state)
{
	int c, n = ctl_args.nwords - 1;

	if (!ctl_args.nwords) {
		argp_error(state, "a command is needed: status, policies, pause, resume, explore, "
			   "save, train, rollback, reload");
		return EINVAL;
	}
	c = find_cmd(ctl_args.word[0]);
	if (n < cmds[c].min || n > cmds[c].max) {
		argp_error(state, "usage: kpilot ctl %s%s", cmds[c].name, cmds[c].args);
		return EINVAL;
	}
	if (!strcmp(cmds[c].name, "explore") && strcmp(ctl_args.word[2], "on") &&
	    strcmp(ctl_args.word[2], "off")) {
		argp_error(state, "explore %s: on or off, not '%s'", ctl_args.word[1],
			   ctl_args.word[2]);
		return EINVAL;
	}
	if ((ctl_args.batch || ctl_args.iterations) && strcmp(cmds[c].name, "train")) {
		argp_error(state, "--batch-size and --iterations are train's");
		return EINVAL;
	}
	return 0;
}

static long count_arg(const char *arg, struct argp_state *state)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (*arg && !*end && v > 0 && v <= 1000000)
		return v;
	argp_error(state, "'%s' is not a count in 1-1000000", arg);
	return -1;
}

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case 's':
		ctl_args.socket = arg;
		break;
	case 'j':
		ctl_args.json = true;
		break;
	case 'b':
	case 'i':
		*(key == 'b' ? &ctl_args.batch : &ctl_args.iterations) = count_arg(arg, state);
		return *(key == 'b' ? &ctl_args.batch : &ctl_args.iterations) < 0 ? EINVAL : 0;
	case ARGP_KEY_ARG:
		if (!ctl_args.nwords && find_cmd(arg) < 0) {
			argp_error(state, "unknown command '%s' (this kpilot knows: status, policies, "
				   "pause, resume, explore, save, train, rollback, reload)", arg);
			return EINVAL;
		}
		if (ctl_args.nwords == MAX_WORDS) {
			argp_error(state, "unexpected argument '%s'", arg);
			return EINVAL;
		}
		ctl_args.word[ctl_args.nwords++] = arg;
		break;
	case ARGP_KEY_END:
		return check_words(state);
	default:
		return cli_common_arg(key, arg, state);
	}
	return 0;
}

static json_t *request(void)
{
	const char *cmd = ctl_args.word[0];
	json_t *req = json_pack("{s:s}", "cmd", cmd);

	if (ctl_args.nwords > 1)
		json_object_set_new(req, "policy", json_string(ctl_args.word[1]));
	if (!strcmp(cmd, "explore") && ctl_args.nwords > 2)
		json_object_set_new(req, "on", json_boolean(!strcmp(ctl_args.word[2], "on")));
	if (ctl_args.batch)
		json_object_set_new(req, "batch_size", json_integer(ctl_args.batch));
	if (ctl_args.iterations)
		json_object_set_new(req, "iterations", json_integer(ctl_args.iterations));
	return req;
}

int cmd_ctl(int argc, char **argv)
{
	static const struct argp argp = { options, parse_arg, NULL, doc };
	json_t *req, *resp = NULL;
	bool status;
	char why[512];
	int ret;

	memset(&ctl_args, 0, sizeof(ctl_args));
	ctl_args.socket = KP_DM_SOCKET;
	/* argp_error() exits: no command word is only the analyzer's path */
	if (argp_parse(&argp, argc, argv, 0, NULL, NULL) || !ctl_args.nwords)
		return KP_EXIT_USAGE;
	req = request();
	ret = kp_ctl_request(ctl_args.socket, req, &resp, why, sizeof(why));
	json_decref(req);
	if (ret) {
		fprintf(stderr, "kpilot ctl: %s\n", why);
		return KP_EXIT_USAGE;
	}
	status = !strcmp(ctl_args.word[0], "status");
	ret = json_is_true(json_object_get(resp, "ok")) ? KP_EXIT_OK : KP_EXIT_REJECT;
	if (ret)
		fprintf(stderr, "kpilot ctl: the daemon refused: %s\n",
			json_string_value(json_object_get(resp, "error")));
	/* status --json prints the status object (its contract since status came); the rest the answer */
	if (ctl_args.json && (ret || !status)) {
		json_dumpf(resp, stdout, JSON_COMPACT);
		putchar('\n');
	} else if (ctl_args.json) {
		json_dumpf(json_object_get(resp, "status"), stdout, JSON_COMPACT);
		putchar('\n');
	} else if (!ret) {
		ctl_print(ctl_args.word[0], resp);
	}
	json_decref(resp);
	return ret;
}
