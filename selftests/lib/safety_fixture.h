/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The fixture of the journal tests: a fake root (cgroup v1 or v2) and a state
 * dir per test, removed after it, and the path of the kpilot binary built
 * next to the selftests.
 */
#ifndef KPILOT_SAFETY_FIXTURE_H
#define KPILOT_SAFETY_FIXTURE_H

#include "safety_fake.h"

static char root[256], state[256];

static inline void setup1(void)
{
	fake_root_make(root, sizeof(root), 1);
	fake_state_dir(state, sizeof(state));
	/* a shares value no weight maps to: restoring it needs the raw form */
	fake_put(root, "/sys/fs/cgroup/cpu/kp/op1/cpu.shares", "1000\n");
}

static inline void setup2(void)
{
	fake_root_make(root, sizeof(root), 2);
	fake_state_dir(state, sizeof(state));
}

static inline void teardown(void)
{
	fake_rm(root);
	fake_rm(state);
}

static inline void kpilot_bin(char *buf, size_t len)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	cr_assert_gt(n, 0);
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(buf, len, "%s/../../kpilot", self);	/* build/selftests/.. /.. */
}

#endif
