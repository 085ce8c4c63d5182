// SPDX-License-Identifier: GPL-2.0
/* kpilot probe: what this kernel supports and which mode the observer uses. */
#include <argp.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <jansson.h>
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "observe/probe.h"

static bool json;

static const char doc[] =
"Show what this kernel supports (BTF, program and map types, tracepoints,\n"
"cgroups, network namespaces, the steering program types) and which mode the\n"
"observer uses here, and why. Every answer is tried for real: a tiny program\n"
"loaded and attached, a map created, a network namespace unshared; the\n"
"observer itself is opened for a moment. Nothing is left behind.\n"
"\n"
"USAGE: kpilot probe [--json]\n"
"\n"
"EXAMPLES:\n"
"    kpilot probe            # one line per feature: name: yes|no (detail)\n"
"    kpilot probe --json     # one JSON object (keys: Documentation/probe.md)\n"
"\n"
"Exit status: 0 (a missing feature is an answer), 2 on bad usage or when\n"
"bpf() is not permitted (not root).\n";

static const struct argp_option options[] = {
	{ "json", 'j', NULL, 0, "One JSON object instead of lines" },
	{ "verbose", 'v', NULL, 0, "Debug output, including libbpf's" },
	{},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	if (key == 'j') {
		json = true;
		return 0;
	}
	return cli_common_arg(key, arg, state);
}

static const struct argp argp = { options, parse_arg, NULL, doc };

static json_t *csv_array(const char *csv)
{
	json_t *a = json_array();
	char buf[256], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", csv);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		json_array_append_new(a, json_string(tok));
	return a;
}

static int print_json(const struct kp_probe *p)
{
	json_t *o = json_object(), *f = json_object(), *tps = json_object();
	int i;

	for (i = 0; i < p->n; i++) {
		const struct kp_probe_item *it = &p->items[i];
		bool tp = !strncmp(it->key, "tracepoint/", 11);

		json_object_set_new(tp ? tps : f, tp ? it->key + 11 : it->key,
				    json_pack("{s:b, s:s}", "yes", it->yes, "detail", it->detail));
	}
	json_object_set_new(o, "kernel", json_string(p->release));
	json_object_set_new(o, "features", f);
	json_object_set_new(o, "tracepoints", tps);
	json_object_set_new(o, "block_rq_issue_args", json_integer(p->block_rq_issue_args));
	json_object_set_new(o, "sched_switch_args", json_integer(p->sched_switch_args));
	json_object_set_new(o, "cgroup", json_pack("{s:s, s:o, s:o}", "layout", p->cgroup_layout,
						   "v1", csv_array(p->cgroup_v1),
						   "v2", csv_array(p->cgroup_v2)));
	json_object_set_new(o, "mode", json_string(p->mode));
	json_object_set_new(o, "mode_reason", json_string(p->mode_reason));
	json_object_set_new(o, "task_store", json_string(p->task_store));
	json_object_set_new(o, "runq", json_string(p->runq));
	if (json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) || putchar('\n') == EOF) {
		json_decref(o);
		return KP_EXIT_USAGE;
	}
	json_decref(o);
	return KP_EXIT_OK;
}

static void print_lines(const struct kp_probe *p)
{
	int i;

	printf("kernel: %s\n", p->release);
	for (i = 0; i < p->n; i++)
		printf("%s: %s (%s)\n", p->items[i].key, p->items[i].yes ? "yes" : "no",
		       p->items[i].detail);
	printf("mode: %s (%s)\n", p->mode, p->mode_reason);
}

int cmd_probe(int argc, char **argv)
{
	static struct kp_probe p;
	char why[256];
	int ret;

	json = false;
	if (argp_parse(&argp, argc, argv, 0, NULL, NULL))
		return KP_EXIT_USAGE;
	ret = kp_probe_run(&p, why, sizeof(why));
	if (ret) {
		fprintf(stderr, "kpilot probe: %s\n", why);
		return KP_EXIT_USAGE;
	}
	if (json)
		return print_json(&p);
	print_lines(&p);
	return KP_EXIT_OK;
}
