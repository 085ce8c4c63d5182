// SPDX-License-Identifier: GPL-2.0
/* kpilot ctl's human output: status, policies, and the one-line answers of the rest. */
#include <stdio.h>
#include <string.h>
#include "cli/ctl_print.h"

static double num(json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

static const char *str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

static void print_knobs(json_t *p, const char *indent)
{
	json_t *k;
	size_t i;

	json_array_foreach(json_object_get(p, "knobs"), i, k) {
		printf("%s%s = %s (changes %.0f, refusals %.0f, reverts %.0f)%s%s\n", indent,
		       str(k, "knob"), str(k, "value"), num(k, "changes"), num(k, "refusals"),
		       num(k, "reverts"), json_is_true(json_object_get(k, "overridden")) ?
		       ": overridden, " : "", json_is_true(json_object_get(k, "overridden")) ?
		       str(k, "override") : "");
	}
}

static void print_policy(json_t *p)
{
	json_t *r = json_object_get(p, "reward");
	char reward[32] = "none yet";

	if (json_is_number(r))
		snprintf(reward, sizeof(reward), "%.6g", json_number_value(r));
	printf("policy %s: %s, agent %s, %s, exploration %s\n", str(p, "name"), str(p, "kind"),
	       str(p, "agent"), json_is_true(json_object_get(p, "paused")) ? "paused" : "running",
	       json_is_true(json_object_get(p, "exploration")) ? "on" : "off");
	printf("  steps %.0f, updates %.0f, reward %s, changes %.0f, refusals %.0f, reverts %.0f, "
	       "overrides %.0f\n", num(p, "steps"), num(p, "updates"), reward, num(p, "changes"),
	       num(p, "refusals"), num(p, "reverts"), num(p, "overrides"));
	printf("  checkpoint %s\n", str(p, "checkpoint"));
	if (json_is_string(json_object_get(p, "last_error")))
		printf("  last error: %s\n", str(p, "last_error"));
	print_knobs(p, "  knob ");
}

/* A replicas policy's steering: which program, the weights, the agent, each replica. */
static void print_replicas(json_t *p)
{
	json_t *st = json_object_get(p, "state"), *w = json_object_get(st, "weights"), *x;
	char ws[160] = "", eps[32] = "-", avg[32] = "-";
	size_t i;

	if (!st || strcmp(str(p, "kind"), "replicas"))
		return;
	json_array_foreach(w, i, x) {
		snprintf(ws + strlen(ws), sizeof(ws) - strlen(ws), "%s%lld", i ? " " : "",
			 json_integer_value(x));
	}
	if (json_is_number(json_object_get(st, "epsilon")))
		snprintf(eps, sizeof(eps), "%.3f", num(st, "epsilon"));
	if (json_is_number(json_object_get(st, "avg_recent_reward")))
		snprintf(avg, sizeof(avg), "%.4f", num(st, "avg_recent_reward"));
	printf("steering:   %s %s:%.0f, %s program, weights %s\n", str(st, "steering"),
	       str(st, "service"), num(st, "port"), str(st, "program"), ws[0] ? ws : "-");
	printf("agent:      epsilon %s, steps %.0f, buffer %.0f, recent reward %s, model %s\n",
	       eps, num(st, "steps_done"), num(st, "buffer_size"), avg, str(st, "model_path"));
	json_array_foreach(json_object_get(st, "replicas"), i, x) {
		printf("replica:    %s (pid %.0f): weight %.0f, share %.2f, active %.0f, cpu %.2f, "
		       "run-queue wait %.3f\n", str(x, "operator"), num(x, "pid"), num(x, "weight"),
		       num(x, "share"), num(x, "active"), num(x, "cpu_cores"), num(x, "runq_wait"));
	}
}

static void print_status(json_t *s)
{
	json_t *fig = json_object_get(s, "figures"), *ops = json_object_get(fig, "operators"), *o;
	json_t *pols = json_object_get(s, "policies");
	const char *http = json_string_value(json_object_get(s, "http"));
	const char *err = json_string_value(json_object_get(s, "last_reload_error"));
	size_t i;

	printf("kpilot run: pid %d, up %.0f s, %s\n", (int)num(s, "pid"), num(fig, "uptime_s"),
	       str(s, "mode"));
	printf("config:     %s (reloads %d, refused %d)\n", str(s, "config"),
	       (int)num(s, "reloads"), (int)num(s, "reloads_refused"));
	if (err)
		printf("last reload refused: %s\n", err);
	printf("socket:     %s\n", str(s, "socket"));
	printf("http:       %s\n", http ? http : "(none)");
	printf("observer:   %s programs, %.0f windows of %.0f ms, %.0f events, %.0f drops\n",
	       str(fig, "observer_mode"), num(fig, "windows"), num(fig, "window_ms"),
	       num(fig, "events_total"), num(fig, "ringbuf_drops_total"));
	json_array_foreach(ops, i, o) {
		printf("operator:   %s: cpu %.3f s, run-queue wait %.3f s\n", str(o, "name"),
		       num(o, "cpu_seconds_total"), num(o, "runqueue_wait_seconds_total"));
	}
	if (!json_array_size(pols))
		printf("managed:    nothing (observe-only: no policies)\n");
	json_array_foreach(pols, i, o) {
		printf("policy:     %s (%s, agent %s), %s, %.0f steps, %.0f updates\n",
		       str(o, "name"), str(o, "kind"), str(o, "agent"),
		       json_is_true(json_object_get(o, "paused")) ? "paused" : "running",
		       num(o, "steps"), num(o, "updates"));
		print_knobs(o, "managed:    ");
		print_replicas(o);
	}
}

void ctl_print(const char *cmd, json_t *resp)
{
	json_t *p, *pols = json_object_get(resp, "policies");
	size_t i;

	if (!strcmp(cmd, "status")) {
		print_status(json_object_get(resp, "status"));
		return;
	}
	if (!strcmp(cmd, "policies")) {
		if (!json_array_size(pols))
			printf("no policies: this daemon runs observe-only\n");
		json_array_foreach(pols, i, p) {
			print_policy(p);
		}
		return;
	}
	json_array_foreach(json_object_get(resp, "saved"), i, p) {
		printf("%s: %s%s%s\n", str(p, "policy"), str(p, "checkpoint"),
		       json_is_true(json_object_get(p, "saved")) ? " saved" : ": ",
		       json_is_true(json_object_get(p, "saved")) ? "" : str(p, "error"));
	}
	printf("%s\n", str(resp, "message"));
}
