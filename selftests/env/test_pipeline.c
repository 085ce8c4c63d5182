// SPDX-License-Identifier: GPL-2.0
/* Pure parts of the pipeline environment: the description, DS2, the quota grid, the reward. */
#include <errno.h>
#include <math.h>
#include <string.h>
#include <criterion/criterion.h>
#include "env/pipeline/pipectl.h"
#include "env/pipeline/pipeline_desc.h"
#include "env/pipeline/pipetune.h"
#include "../lib/testutil.h"

#define PROFILE "tools/profiles/wordcount.pipeline.json"

/* source -> split -> count -> sink, with a budget to fill in */
static const char *const base =
	"{\"pipeline\":\"p\",\"cpu_budget\":%s,"
	"\"launcher\":{\"command\":[\"x\"],\"pids\":\"start_line\",\"report\":\"interval_lines\","
	"\"control\":\"fifo\"},"
	"\"operators\":[{\"name\":\"src\",\"cgroup\":\"t/src\"},{\"name\":\"split\",\"cgroup\":\"t/split\"},"
	"{\"name\":\"count\",\"cgroup\":\"t/count\"},{\"name\":\"sink\",\"cgroup\":\"t/sink\"}],"
	"\"edges\":[[\"split\",\"count\"],[\"src\",\"split\"],[\"count\",\"sink\"]]}";

static void desc(struct kp_pipe_desc *d, const char *budget)
{
	char text[2048], err[512];

	snprintf(text, sizeof(text), base, budget);
	cr_assert_eq(kp_pipe_desc_parse(text, "t", d, err, sizeof(err)), 0, "%s", err);
}

Test(pipeline, the_profile_parses_in_topological_order)
{
	struct kp_pipe_desc d;
	char err[512];
	int ret = kp_pipe_desc_load(PROFILE, &d, err, sizeof(err));

	if (ret == -ENOENT)
		cr_skip_test("no " PROFILE ": run from the top of the tree");
	cr_assert_eq(ret, 0, "%s", err);
	cr_assert_str_eq(d.name, "wordcount");
	cr_assert_eq(d.nops, 4);
	cr_assert_float_eq(d.cpu_budget, 2.0, 1e-9);
	cr_assert_str_eq(d.ops[d.topo[0]].name, "source");
	cr_assert_str_eq(d.ops[d.topo[3]].name, "sink");
	cr_assert(d.fifo);
	cr_assert_float_eq(d.reward.w_attainment, 4, 1e-9);
	kp_pipe_desc_free(&d);
}

Test(pipeline, edges_declared_out_of_order_still_sort)
{
	struct kp_pipe_desc d;

	desc(&d, "2");
	cr_assert_eq(d.topo[0], 0);
	cr_assert_eq(d.topo[1], 1);
	cr_assert_eq(d.topo[2], 2);
	cr_assert_eq(d.topo[3], 3);
	kp_pipe_desc_free(&d);
}

struct bad { const char *from, *to, *path; };

/* Each error names the JSON path of what is wrong. */
Test(pipeline, description_errors_name_the_json_path)
{
	static const struct bad cases[] = {
		{ "\"cpu_budget\":%s,", "", "$.cpu_budget: missing" },
		{ "\"cpu_budget\":%s", "\"cpu_budget\":\"2\"", "$.cpu_budget: expected a number" },
		{ "\"cpu_budget\":%s", "\"cpu_budget\":0.1", "$.cpu_budget: 0.1 cores cannot give 4" },
		{ "\"t/src\"", "\"../src\"", "$.operators[0].cgroup" },
		{ "{\"name\":\"count\"", "{\"name\":\"split\"", "$.operators[2].name: 'split' appears twice" },
		{ "[\"count\",\"sink\"]", "[\"count\",\"nope\"]", "$.edges[2]: no operator named 'nope'" },
		{ "[\"count\",\"sink\"]", "[\"count\",\"src\"]", "$.edges: the edges form a cycle" },
		{ "\"pids\":\"start_line\"", "\"pids\":\"cgroup\"", "$.launcher.pids" },
		{ "\"command\":[\"x\"]", "\"command\":[]", "$.launcher.command" },
		{ "\"command\":[\"x\"]", "\"command\":[\"x\",3]", "$.launcher.command[1]" },
		{ "{\"name\":\"src\",", "{\"name\":\"src\",\"workers\":{\"min\":3,\"max\":2},",
		  "$.operators[0].workers: needs min <= initial <= max" },
		{ "\"pipeline\":\"p\"", "\"pipeline\":\"p q\"", "$.pipeline: 'p q'" },
		{ "]]}", "]],\"reward\":{\"w_cpu\":-1}}", "$.reward.w_cpu" },
		{ "]]}", "]],\"reward\":{\"w_typo\":1}}", "$.reward.w_typo: unknown key" },
		{ "\"report\":\"interval_lines\",", "", "$.launcher.report: missing" },
		{ "\"cpu_budget\":%s", "\"cpu_budget\":2,", "t: line 1" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char tmpl[2048], text[2048], err[512] = "", *p;
		struct kp_pipe_desc d;

		snprintf(tmpl, sizeof(tmpl), "%s", base);
		p = strstr(tmpl, cases[i].from);
		cr_assert(p, "case %zu: '%s' not in the template", i, cases[i].from);
		snprintf(text, sizeof(text), "%.*s%s%s", (int)(p - tmpl), tmpl, cases[i].to,
			 p + strlen(cases[i].from));
		if (strstr(text, "%s")) {
			snprintf(tmpl, sizeof(tmpl), "%s", text);
			snprintf(text, sizeof(text), tmpl, "2");
		}
		cr_expect_eq(kp_pipe_desc_parse(text, "t", &d, err, sizeof(err)), -EINVAL,
			     "case %zu accepted: %s", i, text);
		cr_expect(strstr(err, cases[i].path), "case %zu: '%s' lacks '%s'", i, err,
			  cases[i].path);
	}
}

/*
 * By hand, target 1000 records/s, utilisation 0.9:
 *   src   900 in,  900 out, 0.009 cores -> 100000 rec/core-s; needs 1000/1e5 = 0.010 -> 0.05
 *   split 900 in, 1800 out, 0.45 cores  ->   2000;  target in 1000: 0.500 / 0.9 = 0.556 -> 0.60
 *   count 1800 in,1800 out, 0.60 cores  ->   3000;  target in 1000 * 2 = 2000: 0.667 / 0.9 -> 0.75
 *   sink  1800 in,   0 out, 0.018 cores -> 100000;  target in 2000: 0.020 / 0.9 -> 0.05
 */
static const struct kp_ds2_op ex[4] = {
	{ 900, 900, 0.009 }, { 900, 1800, 0.45 }, { 1800, 1800, 0.60 }, { 1800, 0, 0.018 },
};

Test(pipeline, ds2_on_a_hand_computed_example)
{
	struct kp_pipe_desc d;
	double q[4], need[4];
	struct kp_ds2_in in = { .d = &d, .target = 1000, .op = ex, .utilisation = 0.9 };

	desc(&d, "2");
	kp_ds2_quotas(&in, q, need);
	cr_expect_float_eq(need[0], 0.010, 1e-9);
	cr_expect_float_eq(need[1], 0.500, 1e-9);
	cr_expect_float_eq(need[2], 2.0 / 3, 1e-9);
	cr_expect_float_eq(need[3], 0.020, 1e-9);
	cr_expect_float_eq(q[0], 0.05, 1e-9);
	cr_expect_float_eq(q[1], 0.60, 1e-9);
	cr_expect_float_eq(q[2], 0.75, 1e-9);
	cr_expect_float_eq(q[3], 0.05, 1e-9);
	kp_pipe_desc_free(&d);
}

/*
 * Budget 1.0 < 1.45: the part above the 0.05 floor (0.55 + 0.70 = 1.25) is
 * scaled to the 0.80 left: split 0.05 + floor(0.352) = 0.40, count 0.05 +
 * floor(0.448) = 0.45; sum 0.95.
 */
Test(pipeline, ds2_scales_down_to_the_budget)
{
	struct kp_pipe_desc d;
	double q[4];
	struct kp_ds2_in in = { .d = &d, .target = 1000, .op = ex, .utilisation = 0.9 };

	desc(&d, "1");
	kp_ds2_quotas(&in, q, NULL);
	cr_expect_float_eq(q[0], 0.05, 1e-9);
	cr_expect_float_eq(q[1], 0.40, 1e-9);
	cr_expect_float_eq(q[2], 0.45, 1e-9);
	cr_expect_float_eq(q[3], 0.05, 1e-9);
	cr_expect_leq(kp_quota_sum(q, 4), 1.0 + 1e-9);
	kp_pipe_desc_free(&d);
}

Test(pipeline, ds2_keeps_the_quota_of_an_operator_that_did_nothing)
{
	struct kp_pipe_desc d;
	struct kp_ds2_op op[4];
	double cur[4] = { 0.1, 0.3, 0.45, 0.15 }, q[4], need[4];
	struct kp_ds2_in in = { .d = &d, .target = 1000, .op = op, .current = cur,
				.utilisation = 1.0 };

	desc(&d, "2");
	memcpy(op, ex, sizeof(op));
	op[2].cpu = 0;		/* no observer figures for count */
	kp_ds2_quotas(&in, q, need);
	cr_expect_float_eq(q[2], 0.45, 1e-9);
	cr_expect(isnan(need[2]));
	/* downstream still gets the propagated target: 2000 / 100000 = 0.02 -> 0.05 */
	cr_expect_float_eq(q[3], 0.05, 1e-9);
	cr_expect_float_eq(q[1], 0.50, 1e-9);
	kp_pipe_desc_free(&d);
}

Test(pipeline, the_grid_rounds_up_and_never_under_one_step)
{
	double q[3] = { 0.5500000001, 0.0, 0.551 };

	kp_quota_fit(q, 3, 8);
	cr_expect_float_eq(q[0], 0.55, 1e-9);
	cr_expect_float_eq(q[1], 0.05, 1e-9);
	cr_expect_float_eq(q[2], 0.60, 1e-9);
}

Test(pipeline, static_splits_the_budget_equally_on_the_grid)
{
	struct kp_pipe_desc d;
	double q[4];

	desc(&d, "1.9");
	kp_static_quotas(&d, q);
	cr_expect_float_eq(q[0], 0.45, 1e-9);
	cr_expect_float_eq(q[3], 0.45, 1e-9);
	kp_pipe_desc_free(&d);
}

Test(pipeline, reward_defaults)
{
	struct kp_pipe_desc d;
	struct kp_pipe_state st = { .attainment = 1.2, .p99_ms = 50, .alloc = 1.0 };

	desc(&d, "2");
	/* 4 * min(1.2, 1) - 0.5 * 50/100 - 1 * 1/2 = 3.25 */
	cr_expect_float_eq(kp_pipe_reward(&d, &st), 3.25, 1e-9);
	st.errors = 1;
	st.p99_ms = NAN;	/* nothing arrived: the full latency penalty */
	cr_expect_float_eq(kp_pipe_reward(&d, &st), 4 - 0.5 - 0.5 - 1, 1e-9);
	kp_pipe_desc_free(&d);
}
