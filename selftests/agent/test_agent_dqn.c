// SPDX-License-Identifier: GPL-2.0
/* DQN mechanics: exploration schedule, production mode, targets, guards. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include "agent/dqn.h"

static void quiet(void) { cr_redirect_stderr(); }

static struct kp_dqn *small(bool explore, bool huber, uint64_t seed)
{
	struct kp_dqn_config c;
	struct kp_dqn *d;

	kp_dqn_config_default(&c, 2, 3);
	c.buffer_size = 64;
	c.batch_size = 8;
	c.learning_starts = 16;
	c.train_freq = 1;
	c.target_update = 10;
	c.explore = explore;
	c.huber = huber;
	c.seed = seed;
	cr_assert_eq(kp_dqn_create(&d, &c), 0);
	return d;
}

Test(agent_dqn, epsilon_decays_per_gradient_step_to_its_floor)
{
	struct kp_dqn *d = small(true, false, 1);
	struct kp_dqn_stats st;
	float o[2] = { 0.1, 0.2 };
	int i, trained = 0;

	for (i = 0; i < 16; i++)
		cr_assert_eq(kp_dqn_record(d, o, i % 3, 1, o, false), 0);	/* warm-up */
	kp_dqn_stats(d, &st);
	cr_expect_eq(st.epsilon, 1.0);
	for (i = 0; i < 10; i++)
		trained += kp_dqn_record(d, o, i % 3, 1, o, false);
	cr_expect_eq(trained, 10);
	kp_dqn_stats(d, &st);
	cr_expect(fabs(st.epsilon - pow(0.995, 10)) < 1e-12, "eps %g", st.epsilon);
	for (i = 0; i < 2000; i++)
		kp_dqn_record(d, o, i % 3, 1, o, false);
	kp_dqn_stats(d, &st);
	cr_expect_eq(st.epsilon, 0.01);	/* max(0.01, eps * 0.995) */
	cr_expect_eq(st.updates, 2010);
	kp_dqn_destroy(d);
}

Test(agent_dqn, production_mode_only_exploits)
{
	struct kp_dqn *d = small(false, false, 2), *e = small(true, false, 2);
	float o[2] = { 0.5, -0.5 };
	int i, a, g, differ = 0;

	for (i = 0; i < 200; i++) {
		cr_assert_eq(kp_dqn_act(d, o, &a), 0);
		cr_assert_eq(kp_dqn_act_greedy(d, o, &g), 0);
		cr_expect_eq(a, g);
		/* With eps = 1 the explorer picks at random: some differ. */
		cr_assert_eq(kp_dqn_act(e, o, &a), 0);
		differ += a != g;
	}
	cr_expect_gt(differ, 50);
	kp_dqn_destroy(d);
	kp_dqn_destroy(e);
}

/* One state, reward 1 for action 2, terminal: Q(s, 2) must approach 1. */
static void learns_terminal_reward(bool huber)
{
	struct kp_dqn *d = small(true, huber, 3);
	float o[2] = { 0.3, 0.7 }, q[3];
	int i, a;

	for (i = 0; i < 3000; i++)
		cr_assert_geq(kp_dqn_record(d, o, i % 3, i % 3 == 2, o, true), 0);
	kp_mlp_infer(kp_dqn_qnet(d), o, q);
	cr_expect(fabsf(q[2] - 1) < 0.05 && fabsf(q[0]) < 0.05 && fabsf(q[1]) < 0.05,
		  "%s: Q = %g %g %g", huber ? "huber" : "mse", q[0], q[1], q[2]);
	cr_assert_eq(kp_dqn_act_greedy(d, o, &a), 0);
	cr_expect_eq(a, 2);
	kp_dqn_destroy(d);
}

Test(agent_dqn, learns_a_terminal_reward_mse) { learns_terminal_reward(false); }
Test(agent_dqn, learns_a_terminal_reward_huber) { learns_terminal_reward(true); }

Test(agent_dqn, bootstraps_unless_terminated)
{
	/* Self-loop with reward 1, never terminated: Q -> 1 / (1 - gamma) = 2. */
	struct kp_dqn_config c;
	struct kp_dqn *d;
	float o[2] = { 0.2, 0.1 }, q[2];
	int i;

	kp_dqn_config_default(&c, 2, 2);
	c.gamma = 0.5;
	c.buffer_size = 64;
	c.batch_size = 16;
	c.learning_starts = 16;
	c.train_freq = 1;
	c.target_update = 20;
	c.lr = 1e-3;
	cr_assert_eq(kp_dqn_create(&d, &c), 0);
	for (i = 0; i < 6000; i++)
		kp_dqn_record(d, o, i % 2, 1, o, false);
	kp_mlp_infer(kp_dqn_qnet(d), o, q);
	cr_expect(fabsf(q[0] - 2) < 0.1 && fabsf(q[1] - 2) < 0.1, "Q = %g %g", q[0], q[1]);
	kp_dqn_destroy(d);
}

Test(agent_dqn, same_seed_same_bits)
{
	struct kp_dqn *a = small(true, false, 9), *b = small(true, false, 9);
	float o[2];
	int i, x, y;

	for (i = 0; i < 300; i++) {
		o[0] = sinf(i);
		o[1] = cosf(i);
		cr_assert_eq(kp_dqn_act(a, o, &x), 0);
		cr_assert_eq(kp_dqn_act(b, o, &y), 0);
		cr_assert_eq(x, y);
		kp_dqn_record(a, o, x, x == 1, o, i % 7 == 0);
		kp_dqn_record(b, o, y, y == 1, o, i % 7 == 0);
	}
	cr_expect_eq(memcmp(kp_dqn_qnet(a)->params, kp_dqn_qnet(b)->params,
			    sizeof(float) * kp_dqn_qnet(a)->nparams), 0);
	kp_dqn_destroy(a);
	kp_dqn_destroy(b);
}

Test(agent_dqn, bad_input_is_refused, .init = quiet)
{
	struct kp_dqn *d = small(true, false, 4);
	struct kp_dqn_config c;
	float o[2] = { 0, 0 }, bad[2] = { INFINITY, 0 };
	int a, i;

	cr_expect_eq(kp_dqn_act(d, bad, &a), -EDOM);
	cr_expect_eq(kp_dqn_record(d, o, 3, 0, o, false), -EINVAL);
	cr_expect_eq(kp_dqn_record(d, o, 0, NAN, o, false), -EDOM);
	cr_expect_eq(kp_dqn_record(d, o, 0, 0, bad, false), -EDOM);
	for (i = 0; i < 16; i++)	/* learning_starts */
		cr_assert_eq(kp_dqn_record(d, o, 0, 0, o, false), 0);
	/* A poisoned network: the next gradient step reports it. */
	kp_dqn_qnet(d)->params[kp_dqn_qnet(d)->b_off[0]] = NAN;
	cr_expect_eq(kp_dqn_record(d, o, 0, 0, o, false), -EDOM);
	cr_expect_eq(kp_dqn_act(d, o, &a), -EDOM);
	kp_dqn_destroy(d);
	kp_dqn_config_default(&c, 2, 1);	/* one action is no choice */
	cr_expect_eq(kp_dqn_create(&d, &c), -EINVAL);
}
