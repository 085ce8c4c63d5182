// SPDX-License-Identifier: GPL-2.0
/*
 * The steering weights knob "steer:<service>:weights" in the knob table and
 * the validator, without a kernel: names, values, bounds (a minimum weight
 * of 1 so no replica is starved), the step per replica, the replica count,
 * the minimum interval, and "default" (the kernel's hash) always allowed.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include "safety/knob.h"
#include "safety/validator.h"

#define NAME "steer:web:weights"

static int check(const char *old, const char *nv, enum kp_step_policy pol, double last,
		 char *got, char *why)
{
	const struct kp_knob *k = kp_knob_builtin(NAME);
	struct kp_value o, n;
	bool clamped;
	int err;

	cr_assert_not_null(k);
	cr_assert_eq(kp_value_parse(k, old, &o, why, 256), 0, "%s: %s", old, why);
	err = kp_value_parse(k, nv, &n, why, 256);
	if (err)
		return err;
	err = kp_validate_value(k, NAME, &o, &n, pol, 2, 100.0, last, &clamped, why, 256);
	if (!err)
		kp_value_format(&n, got, KP_VALUE_MAX);
	return err;
}

Test(steer_knob, names)
{
	char why[256], svc[KP_NAME_MAX];

	cr_expect_eq(kp_knob_name_check(NAME, why, sizeof(why)), 0, "%s", why);
	cr_expect_eq(kp_knob_steer_service(NAME, svc), 0);
	cr_expect_str_eq(svc, "web");
	cr_expect_neq(kp_knob_name_check("steer:web", why, sizeof(why)), 0);
	cr_expect_neq(kp_knob_name_check("steer:a/b:weights", why, sizeof(why)), 0);
	cr_expect_neq(kp_knob_name_check("steer::weights", why, sizeof(why)), 0);
	cr_expect_neq(kp_knob_name_check("steer:web:quota", why, sizeof(why)), 0);
	cr_expect_null(kp_knob_denied(NAME));
	cr_expect_eq(kp_knob_builtin(NAME)->kind, KP_KNOB_STEER);
}

Test(steer_knob, values)
{
	const struct kp_knob *k = kp_knob_builtin(NAME);
	struct kp_value v;
	char why[256], buf[KP_VALUE_MAX];

	cr_assert_eq(kp_value_parse(k, "default", &v, why, sizeof(why)), 0);
	cr_expect_eq(v.n, 0);
	kp_value_format(&v, buf, sizeof(buf));
	cr_expect_str_eq(buf, "default");
	cr_assert_eq(kp_value_parse(k, " 4  2 1 ", &v, why, sizeof(why)), 0);
	kp_value_format(&v, buf, sizeof(buf));
	cr_expect_str_eq(buf, "4 2 1");
	cr_expect_neq(kp_value_parse(k, "4 -2", &v, why, sizeof(why)), 0);
	cr_expect_neq(kp_value_parse(k, "4 x", &v, why, sizeof(why)), 0);
	cr_expect_neq(kp_value_parse(k, "1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", &v, why,
				     sizeof(why)), 0, "17 weights accepted");
}

Test(steer_knob, validator_bounds)
{
	char why[256], got[KP_VALUE_MAX];

	cr_expect_eq(check("default", "10 5 1", KP_STEP_REJECT, 0, got, why), 0, "%s", why);
	cr_expect_eq(check("default", "0 5 1", KP_STEP_REJECT, 0, got, why), -EINVAL);
	cr_expect(strstr(why, "outside the safe range"), "%s", why);
	cr_expect_eq(check("10 5 1", "10 5 1001", KP_STEP_REJECT, 0, got, why), -EINVAL);
	cr_expect_eq(check("10 5 1", "10 300 1", KP_STEP_REJECT, 0, got, why), -EINVAL);
	cr_expect(strstr(why, "maximum step"), "%s", why);
	cr_expect_eq(check("10 5 1", "10 300 1", KP_STEP_CLAMP, 0, got, why), 0, "%s", why);
	cr_expect_str_eq(got, "10 205 1");
	cr_expect_eq(check("10 5 1", "10 5", KP_STEP_REJECT, 0, got, why), -EINVAL);
	cr_expect(strstr(why, "replicas"), "%s", why);
	cr_expect_eq(check("10 5 1", "default", KP_STEP_REJECT, 0, got, why), 0, "%s", why);
	/* written 0.5 s ago (now is 100.0): the minimum interval is 1 s */
	cr_expect_eq(check("10 5 1", "11 5 1", KP_STEP_REJECT, 99.5, got, why), -EINVAL);
	cr_expect(strstr(why, "minimum interval"), "%s", why);
	cr_expect_eq(check("10 5 1", "11 5 1", KP_STEP_REJECT, 98.5, got, why), 0, "%s", why);
}
