// SPDX-License-Identifier: GPL-2.0
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include "lib/log.h"

static void redirect(void) { cr_redirect_stderr(); }

Test(log, one_line_with_level, .init = redirect)
{
	kp_warn("knob %s changed\n\n", "net.core.somaxconn");
	fflush(stderr);
	cr_assert_stderr_eq_str("kpilot: warning: knob net.core.somaxconn changed\n");
}

Test(log, verbosity_filters, .init = redirect)
{
	kp_verbosity = KP_WARN;
	kp_info("hidden");
	kp_err("shown");
	fflush(stderr);
	cr_assert_stderr_eq_str("kpilot: error: shown\n");
}
