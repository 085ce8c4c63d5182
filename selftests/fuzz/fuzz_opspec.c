// SPDX-License-Identifier: GPL-2.0
/* Operator specs (kpilot observe --operator NAME=cgroup:PATH | NAME=pid:P,...). */
#include "fuzz.h"
#include "observe/opspec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kp_opspec op;
	char why[512] = "", *text = fuzz_str(data, size);
	int err, i;

	err = kp_opspec_parse(text, &op, why, sizeof(why));
	if (err) {
		fuzz_assert(why[0], "refused (%d) without a reason", err);
	} else {
		fuzz_assert(op.name[0] && memchr(op.name, '\0', sizeof(op.name)), "bad name");
		fuzz_assert(op.npids >= 0 && op.npids <= KP_OP_MAX_PIDS, "%d pids", op.npids);
		if (op.type == KP_OP_PIDS) {
			fuzz_assert(op.npids > 0, "a pid spec without pids");
			for (i = 0; i < op.npids; i++)
				fuzz_assert(op.pids[i] > 0, "pid %d", op.pids[i]);
		}
	}
	free(text);
	return 0;
}
