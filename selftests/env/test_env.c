// SPDX-License-Identifier: GPL-2.0
/*
 * The environment interface (env/env.h): cartpole and toytune through
 * kp_env_reset/kp_env_step give exactly what their own APIs give, and the
 * state tables name every metric once.
 */
#include <criterion/criterion.h>
#include <string.h>
#include "env/cartpole.h"
#include "env/env.h"
#include "env/toytune.h"
#include "state/state.h"

Test(env, cartpole_as_env)
{
	struct kp_cartpole a, b;
	struct kp_env e;
	float oa[KP_CARTPOLE_OBS], ob[KP_CARTPOLE_OBS];
	char why[128];
	int i, steps = 0;

	kp_cartpole_seed(&a, 7);
	kp_cartpole_seed(&b, 7);
	kp_cartpole_env(&b, &e);
	cr_assert_eq(e.obs_dim, KP_CARTPOLE_OBS);
	cr_assert_eq(e.n_actions, KP_CARTPOLE_ACTIONS);
	kp_cartpole_reset(&a, oa);
	cr_assert_eq(kp_env_reset(&e, ob, why, sizeof(why)), 0);
	cr_assert_eq(memcmp(oa, ob, sizeof(oa)), 0);
	for (i = 0; i < 1000; i++) {
		int act = i % 3 == 0;
		double action = act, r;
		bool term, trunc, done;
		float ra = kp_cartpole_step(&a, act, oa, &term, &trunc);

		cr_assert_eq(kp_env_step(&e, &action, ob, &r, &done, why, sizeof(why)), 0);
		cr_assert_eq(ra, r);
		cr_assert_eq(memcmp(oa, ob, sizeof(oa)), 0);
		cr_assert_eq(term || trunc, done);
		steps++;
		if (done)
			break;
	}
	cr_assert_gt(steps, 1);
}

Test(env, toytune_as_env)
{
	struct kp_toytune a, b;
	struct kp_env e;
	float oa[KP_TOYTUNE_OBS], ob[KP_TOYTUNE_OBS], fa[KP_TOYTUNE_DIM];
	double da[KP_TOYTUNE_DIM], r;
	char why[128];
	bool trunc, done;
	int i, k;

	kp_toytune_init(&a, 3, 0.1);
	kp_toytune_init(&b, 3, 0.1);
	kp_toytune_env(&b, &e);
	cr_assert_eq(e.act_dim, KP_TOYTUNE_DIM);
	kp_toytune_reset(&a, oa);
	cr_assert_eq(kp_env_reset(&e, ob, why, sizeof(why)), 0);
	for (i = 0; i < 2 * KP_TOYTUNE_EPISODE; i++) {
		float ra;

		for (k = 0; k < KP_TOYTUNE_DIM; k++)
			da[k] = fa[k] = (float)((i + k) % 5 - 2) / 2;
		ra = kp_toytune_step(&a, fa, oa, &trunc);
		cr_assert_eq(kp_env_step(&e, da, ob, &r, &done, why, sizeof(why)), 0);
		cr_assert_eq(ra, (float)r);
		cr_assert_eq(memcmp(oa, ob, sizeof(oa)), 0);
		cr_assert_eq(trunc, done);
	}
}

Test(env, state_tables)
{
	const struct kp_state_metric *m, *n;
	int i;

	for (m = kp_bench_state; m->name; m++) {
		cr_assert(m->unit && m->how && m->measure, "%s", m->name);
		cr_assert_eq(kp_bench_state_find(m->name), m);
		for (n = m + 1; n->name; n++)
			cr_assert_str_neq(m->name, n->name);
	}
	cr_assert_null(kp_bench_state_find("bogus"));
	for (i = 0; i < KP_PS_COUNT; i++)
		cr_assert(kp_pipe_state_metrics[i].name && kp_pipe_state_metrics[i].how, "%d", i);
}
