/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Is this test running under CPU emulation? `make vmtest` boots its guest
 * under TCG when KVM is unusable, where CPU-bound code runs 20-40x slower
 * than natively and each exec of a dynamic binary costs ~0.1 s
 * (Documentation/testing.md has the figures). Timing-sensitive tests give
 * their bounds slack or skip when this says yes; bounds that only get safer
 * when the machine is slower need nothing.
 *
 * tools/vmtest/run.sh exports KPILOT_VMTEST=1 in the guest and
 * KPILOT_EMULATED=1 under TCG, 0 under KVM, 2 under vng (which may be
 * either: counted as emulated, the safe side); set KPILOT_EMULATED=1 by hand
 * to try a test's emulated path on the host.
 */
#ifndef KP_SELFTEST_EMULATION_H
#define KP_SELFTEST_EMULATION_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static inline bool kp_test_emulated(void)
{
	const char *e = getenv("KPILOT_EMULATED");

	return e && *e && strcmp(e, "0");
}

static inline bool kp_test_in_vm(void)
{
	const char *e = getenv("KPILOT_VMTEST");

	return e && *e && strcmp(e, "0");
}

#endif /* KP_SELFTEST_EMULATION_H */
