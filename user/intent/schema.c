// SPDX-License-Identifier: GPL-2.0
/*
 * The session schema as a JSON Schema for strict structured outputs.
 *
 * Strict mode (OpenAI's, and the servers that copy it) wants every object
 * closed (additionalProperties false) and every property required.  The
 * tuning config has optional keys with defaults, so here each of them is
 * required and carries its value explicitly (max_step 0 = the knob's own,
 * element 0, shell false, ...): every answer is then a config
 * kp_tune_config_parse() takes as it is, with no null to strip.  The one
 * key left out is benchmark.builtin: a model writes a command, and the
 * built-in benchmark is the offline matcher's to choose.  Ranges and limits
 * are in "description" rather than minimum/maximum, which not every strict
 * implementation accepts; kp_intent_vet() enforces them anyway.  The knob
 * and state names are enums built from the tables, so a constrained decoder
 * cannot even spell a knob outside the knob table.
 */
#include <string.h>
#include "intent/llm.h"
#include "safety/knob.h"
#include "state/state.h"

/* {"type": "object", "additionalProperties": false, "properties": p, "required": [every key]} */
static json_t *closed(json_t *props, const char *desc)
{
	json_t *req = json_array(), *v;
	const char *k;

	json_object_foreach(props, k, v) {
		json_array_append_new(req, json_string(k));
	}
	return json_pack("{s:s, s:s, s:o, s:o, s:b}", "type", "object", "description", desc,
			 "properties", props, "required", req, "additionalProperties", 0);
}

static json_t *typed(const char *type, const char *desc)
{
	return json_pack("{s:s, s:s}", "type", type, "description", desc);
}

static json_t *one_of(const char *desc, json_t *words)
{
	return json_pack("{s:s, s:s, s:o}", "type", "string", "description", desc, "enum", words);
}

static json_t *knob_names(void)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < kp_builtin_nknobs; i++)
		if (kp_builtin_knobs[i].kind == KP_KNOB_SYSCTL)
			json_array_append_new(a, json_string(kp_builtin_knobs[i].name));
	return a;
}

static json_t *state_names(void)
{
	json_t *a = json_array();
	int i;

	for (i = 0; kp_bench_state[i].name; i++)
		json_array_append_new(a, json_string(kp_bench_state[i].name));
	return a;
}

static json_t *benchmark(void)
{
	return closed(json_pack("{s:o, s:o, s:o, s:o, s:o}",
		"command", json_pack("{s:s, s:s, s:o}", "type", "array", "description",
			"argv of an installed benchmark, run directly without a shell: "
			"[\"pgbench\", \"-n\", \"-S\", \"-T\", \"10\"]",
			"items", json_pack("{s:s}", "type", "string")),
		"shell", typed("boolean", "always false: commands run as argv, never through a shell"),
		"timeout_s", typed("number", "seconds one benchmark run may take, 1-3600"),
		"warmup_runs", typed("integer", "unmeasured runs per trial, 0-10"),
		"repeats", typed("integer", "measured runs per trial (the median counts), 1-20")),
		"what to run: one benchmark run per trial");
}

static json_t *metric(void)
{
	return closed(json_pack("{s:o, s:o, s:o}",
		"name", typed("string", "the metric's name, e.g. tps"),
		"pattern", typed("string", "POSIX extended regex with exactly one capture group, "
				 "applied to the benchmark's output; the last match counts"),
		"goal", one_of("whether more is better", json_pack("[s, s]", "maximize", "minimize"))),
		"the number the tuning improves");
}

static json_t *action(void)
{
	return closed(json_pack("{s:o, s:o, s:o, s:o, s:o, s:o}",
		"knob", one_of("a sysctl from kpilot's knob table", knob_names()),
		"min", typed("number", "lowest value tried, inside the knob table's range"),
		"max", typed("number", "highest value tried (> min), inside the knob table's range"),
		"scale", one_of("log for byte- and count-like knobs (needs min > 0)",
				json_pack("[s, s]", "linear", "log")),
		"max_step", typed("number", "largest change per trial; 0 keeps the knob table's step"),
		"element", typed("integer", "for tuple knobs (ip_local_port_range): the element "
				 "moved; otherwise 0")),
		"one knob the agent moves, and its range");
}

static json_t *reward(void)
{
	return closed(json_pack("{s:o, s:o, s:o}",
		"performance", typed("number", "weight of the relative improvement, usually 1.0"),
		"stability", typed("number", "weight of the repeats' spread, usually 0.1"),
		"failure", typed("number", "a failed trial's penalty, usually 1.0")),
		"the reward's weights");
}

static json_t *training(void)
{
	return closed(json_pack("{s:o, s:o, s:o, s:o}",
		"trials", typed("integer", "benchmark trials, 5-500 (30 is usual)"),
		"episode_steps", typed("integer", "trials per agent episode, 1-trials (10 is usual)"),
		"seed", typed("integer", "the agent's seed, e.g. 1"),
		"algo", one_of("the agent", json_pack("[s, s, s]", "ppo", "ppo-plain", "random"))),
		"the training budget");
}

json_t *kp_intent_schema(void)
{
	json_t *state = json_pack("{s:s, s:s, s:o}", "type", "array", "description",
				  "extra observations for the agent",
				  "items", json_pack("{s:s, s:o}", "type", "string",
						     "enum", state_names()));

	return closed(json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
		"workload_name", typed("string", "letters, digits, '_', '.', '-': names the results"),
		"benchmark", benchmark(),
		"reward_metric", metric(),
		"action_space", json_pack("{s:s, s:s, s:o}", "type", "array", "description",
					  "1-16 knobs, each at most once", "items", action()),
		"state_space", state,
		"reward", reward(),
		"training", training(),
		"netns", typed("boolean", "true only when every knob is per network namespace "
			       "(net.*) and the benchmark needs no host network")),
		"a kpilot tuning session (Documentation/tuning.md)");
}
