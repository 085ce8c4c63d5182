// SPDX-License-Identifier: GPL-2.0
/* kpilot set: a bounded, journaled, reversible sysctl -w for people. */
#include <argp.h>
#include <errno.h>
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/commands.h"
#include "lib/log.h"
#include "safety/session.h"

struct set_args {
	struct kp_session_opts o;
	const char **allow, **risky;
	int nallow, nrisky;
	struct kp_change *ch;
	int n;
	const char *why;
	bool json, list_knobs;
};

static const char set_doc[] =
"Apply knob values through the safety validator and the write-ahead journal.\n"
"Values stay until `kpilot rollback`; a refused batch writes nothing.\n"
"\v"
"Knobs: sysctls by dotted name, or cgroup CPU limits named the v2 way:\n"
"  cgroup:<path>:cpu.max  cgroup:<path>:cpu.weight  cgroup:<path>:cpuset.cpus\n"
"with <path> relative to the cgroup root; on cgroup v1 they map to\n"
"cpu.cfs_quota_us/cfs_period_us, cpu.shares and the cpuset hierarchy.\n"
"\n"
"Examples:\n"
"  kpilot set --dry-run net.core.somaxconn=8192     show what would change\n"
"  kpilot set net.core.somaxconn=8192 vm.swappiness=40\n"
"  kpilot set net.ipv4.tcp_rmem='4096 131072 6291456'\n"
"  kpilot set --netns blue net.ipv4.ip_local_port_range='28000 60000'\n"
"  kpilot set cgroup:kpilot/op1:cpu.max='50000 100000'   half a CPU\n"
"  kpilot set --allow 'net.ipv4.tcp_*' net.ipv4.tcp_fin_timeout=30\n"
"  kpilot set --netns blue --allow-risky net.ipv4.tcp_max_tw_buckets \\\n"
"             net.ipv4.tcp_max_tw_buckets=65536     below the safe floor\n"
"  kpilot set --list-knobs                          the knob table\n"
"  kpilot rollback                                  restore every original\n"
"\n"
"Exit status: 0 applied (or already set), 1 refused (nothing written),\n"
"2 usage or environment error.  Documentation/safety.md has the rules.";

enum { OPT_STATE_DIR = 256, OPT_ROOT, OPT_WHY, OPT_LIST, OPT_CLAMP, OPT_RISKY };

static const struct argp_option set_options[] = {
	{ "dry-run", 'n', NULL, 0, "Validate and show what would change; write nothing", 0 },
	{ "netns", 'N', "NS", 0, "Apply inside network namespace NS (ip netns name or path)", 0 },
	{ "allow", 'a', "PATTERN", 0,
	  "Only knobs matching PATTERN (fnmatch, repeatable) may change", 0 },
	{ "allow-risky", OPT_RISKY, "KNOB", 0,
	  "KNOB may cross its safe floor or ceiling (repeatable; safety.md)", 0 },
	{ "clamp", OPT_CLAMP, NULL, 0, "Cut too-large steps to the maximum instead of refusing", 0 },
	{ "why", OPT_WHY, "TEXT", 0, "Reason recorded in the journal", 0 },
	{ "state-dir", OPT_STATE_DIR, "DIR", 0, "Journal directory (default /var/lib/kpilot)", 0 },
	{ "root", OPT_ROOT, "DIR", 0, "Prefix for /proc/sys and /sys/fs/cgroup (testing)", 0 },
	{ "list-knobs", OPT_LIST, NULL, 0, "Print the knob table and exit", 0 },
	{ "json", 'j', NULL, 0, "Print results as JSON", 0 },
	{ "verbose", 'v', NULL, 0, "Log every step to stderr", 0 },
	{ 0 },
};

static error_t set_parse(int key, char *arg, struct argp_state *st)
{
	struct set_args *a = st->input;
	char *eq;

	switch (key) {
	case 'n': a->o.dry_run = true; break;
	case 'N': a->o.netns = arg; break;
	case 'a':
		a->allow = realloc(a->allow, (a->nallow + 2) * sizeof(*a->allow));
		/* argp_failure and argp_error exit (no ARGP_NO_EXIT); the returns say so. */
		if (!a->allow) {
			argp_failure(st, KP_EXIT_USAGE, ENOMEM, "allow");
			return ENOMEM;
		}
		a->allow[a->nallow++] = arg;
		a->allow[a->nallow] = NULL;
		a->o.allow = a->allow;
		break;
	case OPT_RISKY:
		if (!kp_knob_builtin(arg) || kp_knob_builtin(arg)->risk == KP_RISK_NONE) {
			argp_error(st, "--allow-risky: %s has no safe floor or ceiling to cross "
				   "(--list-knobs shows them)", arg);
			return EINVAL;
		}
		a->risky = realloc(a->risky, (a->nrisky + 2) * sizeof(*a->risky));
		if (!a->risky) {
			argp_failure(st, KP_EXIT_USAGE, ENOMEM, "allow-risky");
			return ENOMEM;
		}
		a->risky[a->nrisky++] = arg;
		a->risky[a->nrisky] = NULL;
		a->o.allow_risky = a->risky;
		break;
	case OPT_CLAMP: a->o.step_policy = KP_STEP_CLAMP; break;
	case OPT_WHY: a->why = arg; break;
	case OPT_STATE_DIR: a->o.state_dir = arg; break;
	case OPT_ROOT: a->o.root = arg; break;
	case OPT_LIST: a->list_knobs = true; break;
	case 'j': a->json = true; break;
	case 'v': kp_verbosity = KP_DEBUG; break;
	case ARGP_KEY_ARG:
		eq = strchr(arg, '=');
		if (!eq || eq == arg) {
			argp_error(st, "'%s': expected KNOB=VALUE", arg);
			return EINVAL;
		}
		a->ch = realloc(a->ch, (a->n + 1) * sizeof(*a->ch));
		if (!a->ch) {
			argp_failure(st, KP_EXIT_USAGE, ENOMEM, "args");
			return ENOMEM;
		}
		memset(&a->ch[a->n], 0, sizeof(a->ch[a->n]));
		*eq = '\0';
		a->ch[a->n].knob = arg;
		a->ch[a->n].value = eq + 1;
		a->n++;
		break;
	case ARGP_KEY_END:
		if (!a->n && !a->list_knobs)
			argp_error(st, "nothing to set: give KNOB=VALUE");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const char *const type_names[] = {
	[KP_VT_INT] = "int", [KP_VT_TUPLE] = "ints", [KP_VT_ENUM] = "word",
	[KP_VT_CPUMAX] = "cpu.max", [KP_VT_CPULIST] = "cpus",
	[KP_VT_WEIGHTS] = "weights",
};

/* The risky side: "<32768" (the floor; the system may say another), ">3000", or "-". */
static const char *risky_text(const struct kp_knob *k)
{
	static char buf[32];

	if (k->risk == KP_RISK_NONE)
		return "-";
	snprintf(buf, sizeof(buf), "%s%lld%s", k->risk == KP_RISK_BELOW ? "<" : ">", k->risk_at,
		 kp_knob_hooks(k->name) && kp_knob_hooks(k->name)->risk_at ? "*" : "");
	return buf;
}

static void list_knobs(bool json)
{
	json_t *arr = json_array();
	char range[96], step[64];
	size_t i;

	if (!json)
		printf("%-36s %-7s %-26s %-18s %-8s %-5s %s\n", "KNOB", "TYPE", "SAFE RANGE",
		       "MAX STEP", "INTERVAL", "NETNS", "RISKY");
	for (i = 0; i < kp_builtin_nknobs; i++) {
		const struct kp_knob *k = &kp_builtin_knobs[i];
		char name[KP_NAME_MAX + 16];

		snprintf(name, sizeof(name), "%s%s", k->kind == KP_KNOB_CGROUP ? "cgroup:*:" : "",
			 k->name);
		if (k->type == KP_VT_ENUM)
			snprintf(range, sizeof(range), "%s", k->enums);
		else if (k->type == KP_VT_CPULIST)
			snprintf(range, sizeof(range), "within the parent's");
		else if (k->type == KP_VT_CPUMAX)
			snprintf(range, sizeof(range), "%.2f-%.0f CPUs (or max)", k->min / 1000.0,
				 (double)kp_ncpus());
		else
			snprintf(range, sizeof(range), "%lld-%lld%s", k->min, k->max,
				 k->type == KP_VT_TUPLE ? " each" : "");
		if (!k->step_abs && !k->step_pct)
			snprintf(step, sizeof(step), "-");
		else if (k->type == KP_VT_CPUMAX)
			snprintf(step, sizeof(step), "%.2f CPUs|%d%%", k->step_abs / 1000.0,
				 k->step_pct);
		else if (k->step_pct && k->step_abs)
			snprintf(step, sizeof(step), "%lld|%d%%", k->step_abs, k->step_pct);
		else if (k->step_pct)
			snprintf(step, sizeof(step), "%d%%", k->step_pct);
		else
			snprintf(step, sizeof(step), "%lld", k->step_abs);
		if (json) {
			json_array_append_new(arr, json_pack(
				"{s:s,s:s,s:I,s:I,s:I,s:i,s:s,s:i,s:b}", "knob", name,
				"type", type_names[k->type], "min", (json_int_t)k->min,
				"max", (json_int_t)k->max, "step_abs", (json_int_t)k->step_abs,
				"step_pct", k->step_pct,
				"scale", k->scale == KP_SCALE_LOG ? "log" : "linear",
				"min_interval_ms", k->min_interval_ms, "per_netns", k->per_netns));
			if (k->risk != KP_RISK_NONE)
				json_object_set_new(json_array_get(arr, json_array_size(arr) - 1),
						    k->risk == KP_RISK_BELOW ? "safe_floor" : "safe_ceiling",
						    json_integer(k->risk_at));
			continue;
		}
		printf("%-36s %-7s %-26s %-18s %-8.1f %-5s %s\n", name, type_names[k->type], range,
		       step, k->min_interval_ms / 1000.0, k->per_netns ? "yes" : "-", risky_text(k));
	}
	if (json) {
		json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	} else {
		printf("\nStep: |new - old| <= max(absolute, percent of old).\n"
		       "Risky: values on that side need --allow-risky KNOB (* the kernel's default\n"
		       "where it says: tcp_max_tw_buckets = tcp_ehash_entries / 2).\nDenied always:");
		for (i = 0; kp_denylist[i]; i++)
			printf("%s%s", i % 6 ? " " : "\n  ", kp_denylist[i]);
		putchar('\n');
	}
	json_decref(arr);
}

static const char *status_name(enum kp_change_status st)
{
	switch (st) {
	case KP_CH_APPLIED: return "applied";
	case KP_CH_CLAMPED: return "clamped";
	case KP_CH_UNCHANGED: return "unchanged";
	case KP_CH_DRY_RUN: return "dry-run";
	default: return "not-done";
	}
}

static void report(const struct set_args *a, int err, const char *why)
{
	json_t *o, *arr;
	int i;

	if (a->json) {
		arr = json_array();
		for (i = 0; i < a->n; i++)
			json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s}",
				"knob", a->ch[i].knob, "old", a->ch[i].old,
				"new", err ? a->ch[i].value : a->ch[i].applied,
				"status", status_name(a->ch[i].status)));
		o = json_pack("{s:o,s:s,s:b}", "changes", arr, "result",
			      !err ? "ok" : err == -EINVAL ? "refused" : "error",
			      "dry_run", a->o.dry_run);
		if (err)
			json_object_set_new(o, "reason", json_string(why));
		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(o);
		return;
	}
	if (err)
		return;
	for (i = 0; i < a->n; i++) {
		const struct kp_change *c = &a->ch[i];

		switch (c->status) {
		case KP_CH_UNCHANGED:
			printf("%s: %s (unchanged)\n", c->knob, c->old);
			break;
		case KP_CH_DRY_RUN:
			printf("%s: %s -> %s (dry run: not written)\n", c->knob, c->old, c->applied);
			break;
		default:
			printf("%s: %s -> %s%s\n", c->knob, c->old, c->applied,
			       c->status == KP_CH_CLAMPED ? " (step clamped)" : "");
		}
	}
}

int cmd_set(int argc, char **argv)
{
	static const struct argp argp = { set_options, set_parse, "KNOB=VALUE...", set_doc };
	struct set_args a = { .o = { .cmd = "set", .keep = true } };
	struct kp_session *s = NULL;
	char why[1024] = "", dflt[128];
	struct passwd *pw;
	int err, ret;

	kp_verbosity = KP_WARN;
	argv[0] = "kpilot set";
	argp_err_exit_status = KP_EXIT_USAGE;
	if (argp_parse(&argp, argc, argv, 0, NULL, &a)) {
		ret = KP_EXIT_USAGE;
		goto out;
	}
	if (a.list_knobs) {
		list_knobs(a.json);
		ret = KP_EXIT_OK;
		goto out;
	}
	if (!a.why) {
		pw = getpwuid(getuid());
		snprintf(dflt, sizeof(dflt), "kpilot set by %s", pw ? pw->pw_name : "?");
		a.why = dflt;
	}
	kp_safety_catch_signals();
	err = kp_session_open(&a.o, &s, why, sizeof(why));
	if (err) {
		kp_err("%s%s", why, err == -EACCES ? " (run as root, or use --state-dir)" : "");
		ret = KP_EXIT_USAGE;
		goto out;
	}
	err = kp_session_apply(s, a.ch, a.n, a.why, why, sizeof(why));
	report(&a, err, why);
	if (!err) {
		ret = KP_EXIT_OK;
	} else if (err == -EINVAL) {
		kp_err("refused: %s", why);
		ret = KP_EXIT_REJECT;
	} else if (err == -EINTR) {
		kp_err("interrupted: nothing changed");
		ret = KP_EXIT_USAGE;
	} else {
		kp_err("%s%s", why, err == -EIO ? "; nothing changed" : "");
		ret = KP_EXIT_USAGE;
	}
	if (kp_session_close(s) && ret == KP_EXIT_OK)
		ret = KP_EXIT_USAGE;
out:
	free(a.allow);
	free(a.risky);
	free(a.ch);
	return ret;
}
