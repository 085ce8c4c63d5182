// SPDX-License-Identifier: GPL-2.0
/*
 * Run configs: every file in selftests/data/tune-corpus/NAME.json is parsed
 * and the result compared with NAME.expect ("ok" or the exact message).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "../lib/testutil.h"
#include "env/benchmark/tune_config.h"

#define CORPUS "selftests/data/tune-corpus"

Test(tune_config, corpus)
{
	struct kp_tune_config c;
	struct dirent *de;
	char err[1024], exp[512];
	int files = 0, bad = 0;
	DIR *d;

	if (chdir(CORPUS))
		cr_skip_test("run from the top of the tree (no %s)", CORPUS);
	d = opendir(".");
	cr_assert_not_null(d);
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		char *want;
		int ret;

		if (n < 6 || strcmp(de->d_name + n - 5, ".json"))
			continue;
		snprintf(exp, sizeof(exp), "%.*s.expect", (int)(n - 5), de->d_name);
		want = tu_slurp(exp);
		if (want)
			want[strcspn(want, "\n")] = '\0';
		cr_assert_not_null(want, "%s has no .expect", de->d_name);
		ret = kp_tune_config_load(de->d_name, &c, err, sizeof(err));
		if (!strcmp(want, "ok")) {
			cr_expect_eq(ret, 0, "%s: %s", de->d_name, err);
			if (!ret)
				kp_tune_config_free(&c);
		} else {
			cr_expect_eq(ret, -EINVAL, "%s accepted", de->d_name);
			cr_expect_str_eq(err, want, "%s", de->d_name);
			bad++;
		}
		free(want);
		files++;
	}
	closedir(d);
	cr_assert_geq(files, 30, "corpus found");
	cr_assert_geq(bad, 25);
}

Test(tune_config, defaults_and_values)
{
	struct kp_tune_config c;
	char err[512];

	cr_assert_eq(kp_tune_config_parse(
		"{\"workload_name\": \"w\", \"benchmark\": {\"command\": [\"pgbench\", \"-S\"]},"
		" \"reward_metric\": {\"name\": \"tps\", \"pattern\": \"tps = ([0-9.]+)\", \"goal\": \"minimize\"},"
		" \"action_space\": [{\"knob\": \"net.ipv4.ip_local_port_range\", \"element\": 1,"
		" \"min\": 40000, \"max\": 65535, \"max_step\": 1000}]}", "t", &c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.argc, 2);
	cr_assert_str_eq(c.argv[0], "pgbench");
	cr_assert_null(c.argv[2]);
	cr_assert_eq(c.goal, KP_GOAL_MINIMIZE);
	cr_assert_eq(c.actions[0].element, 1);
	cr_assert_float_eq(c.actions[0].max_step, 1000, 1e-9);
	cr_assert_eq(c.trials, 40, "default trials");
	cr_assert_eq(c.repeats, 1);
	cr_assert_float_eq(c.timeout_s, 300, 1e-9);
	cr_assert_eq(c.algo, KP_ALGO_PPO);
	cr_assert_not(c.netns);
	kp_tune_config_free(&c);
}

Test(tune_config, builtin_profile_is_valid)
{
	struct kp_tune_config c;
	char err[512];

	cr_assert_not_null(kp_tune_profile("tcp-churn"));
	cr_assert_null(kp_tune_profile("nope"));
	cr_assert_eq(kp_tune_config_parse(kp_tune_profile("tcp-churn"), "tcp-churn", &c, err,
					  sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(c.builtin, "tcp-churn");
	cr_assert(c.netns);
	cr_assert_eq(c.nactions, 5);
	for (int i = 0; i < c.nactions; i++)
		cr_assert_str_neq(c.actions[i].knob, "net.ipv4.tcp_max_tw_buckets",
				  "the risky knob stays out of the default profile");
	kp_tune_config_free(&c);
}
