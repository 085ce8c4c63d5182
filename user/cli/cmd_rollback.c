// SPDX-License-Identifier: GPL-2.0
/* kpilot rollback: put back every original value kpilot's journal holds. */
#include <argp.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/commands.h"
#include "lib/log.h"
#include "safety/session.h"

struct rb_args {
	const char *state_dir, *root, *forget;
	bool list, json;
};

static const char rb_doc[] =
"Restore every knob kpilot changed to its original value, newest change\n"
"first, then archive the journal.  A knob someone else changed since kpilot\n"
"wrote it keeps that value.  Also undoes what a crashed kpilot left behind.\n"
"\v"
"Examples:\n"
"  kpilot rollback --list          what would be restored\n"
"  kpilot rollback --list --json   the same, as JSON\n"
"  kpilot rollback                 restore everything\n"
"  kpilot rollback --state-dir /tmp/kp   use another journal\n"
"\n"
"A knob that cannot be restored (unreadable, write refused) stays in the\n"
"journal: the next kpilot start and every rollback retry it, --list shows\n"
"it, and only --forget KNOB (or its network namespace or cgroup going away)\n"
"drops it.\n"
"\n"
"Exit status: 0 restored (or nothing to do), 2 error (see the messages).\n"
"By hand: Documentation/safety.md explains the journal.";

enum { OPT_STATE_DIR = 256, OPT_ROOT, OPT_FORGET };

static const struct argp_option rb_options[] = {
	{ "list", 'l', NULL, 0, "Show what would be restored; change nothing", 0 },
	{ "json", 'j', NULL, 0, "With --list: print JSON", 0 },
	{ "state-dir", OPT_STATE_DIR, "DIR", 0, "Journal directory (default /var/lib/kpilot)", 0 },
	{ "forget", OPT_FORGET, "KNOB", 0, "Stop restoring KNOB (prints its original); nothing else", 0 },
	{ "root", OPT_ROOT, "DIR", 0, "Testing: the fake root `kpilot set --root DIR` wrote under; "
	  "only records of that root are used", 0 },
	{ "verbose", 'v', NULL, 0, "Log every step", 0 },
	{ 0 },
};

static error_t rb_parse(int key, char *arg, struct argp_state *st)
{
	struct rb_args *a = st->input;

	switch (key) {
	case 'l': a->list = true; break;
	case 'j': a->json = true; break;
	case OPT_STATE_DIR: a->state_dir = arg; break;
	case OPT_ROOT: a->root = arg; break;
	case OPT_FORGET: a->forget = arg; break;
	case 'v': kp_verbosity = KP_DEBUG; break;
	case ARGP_KEY_ARG: argp_error(st, "unexpected argument '%s'", arg); break;
	default: return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static void print_table(const struct kp_rollback_item *it, int n, FILE *out)
{
	int i;

	if (!n) {
		fprintf(out, "nothing to restore\n");
		return;
	}
	fprintf(out, "%-40s %-12s %-24s %-24s %s\n", "KNOB", "NETNS", "NOW", "ORIGINAL",
		"ACTION");
	for (i = 0; i < n; i++)
		fprintf(out, "%-40s %-12s %-24s %-24s %s\n", it[i].knob,
			it[i].netns[0] ? it[i].netns : "-", it[i].now, it[i].orig, it[i].action);
}

static void print_json(const struct kp_rollback_item *it, int n, FILE *out)
{
	json_t *arr = json_array();
	int i;

	for (i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}",
			"knob", it[i].knob, "netns", it[i].netns, "root", it[i].root,
			"now", it[i].now, "original", it[i].orig, "action", it[i].action));
	json_dumpf(arr, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', out);
	json_decref(arr);
}

static int list(const struct rb_args *a, char *why, size_t len)
{
	struct kp_rollback_item *it;
	int n, err;

	err = kp_safety_rollback_list_at(a->state_dir, a->root, &it, &n, why, len);
	if (err)
		return err;
	if (a->json)
		print_json(it, n, stdout);
	else
		print_table(it, n, stdout);
	free(it);
	return 0;
}

int cmd_rollback(int argc, char **argv)
{
	static const struct argp argp = { rb_options, rb_parse, NULL, rb_doc };
	struct rb_args a = { 0 };
	char why[1024] = "";
	int err;

	argv[0] = "kpilot rollback";
	argp_err_exit_status = KP_EXIT_USAGE;
	if (argp_parse(&argp, argc, argv, 0, NULL, &a))
		return KP_EXIT_USAGE;
	if (a.json && !a.list) {
		kp_err("--json goes with --list");
		return KP_EXIT_USAGE;
	}
	if (a.forget && a.list) {
		kp_err("--forget and --list: one at a time");
		return KP_EXIT_USAGE;
	}
	if (a.list)
		err = list(&a, why, sizeof(why));
	else if (a.forget)
		err = kp_safety_rollback_forget(a.state_dir, a.root, a.forget, why, sizeof(why));
	else
		err = kp_safety_rollback_at(a.state_dir, a.root, why, sizeof(why));
	if (err) {
		kp_err("rollback: %s", why[0] ? why : strerror(-err));
		return KP_EXIT_USAGE;
	}
	return KP_EXIT_OK;
}
