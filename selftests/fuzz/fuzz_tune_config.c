// SPDX-License-Identifier: GPL-2.0
/*
 * The tuning config parser (kpilot tune --config FILE): any bytes either
 * parse into a config whose fields hold their documented limits, or are
 * refused with a one-line reason.
 */
#include "fuzz.h"
#include "env/benchmark/tune_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kp_tune_config c;
	char why[512] = "", *text = fuzz_str(data, size);
	int err, i;

	memset(&c, 0, sizeof(c));
	err = kp_tune_config_parse(text, "fuzz.json", &c, why, sizeof(why));
	if (err) {
		fuzz_assert(why[0], "refused (%d) without a reason", err);
		fuzz_assert(memchr(why, '\n', sizeof(why)) == NULL, "reason is not one line");
	} else {
		fuzz_assert(c.nactions > 0 && c.nactions <= KP_TUNE_MAX_ACTIONS,
			    "%d actions", c.nactions);
		fuzz_assert(c.argc <= KP_TUNE_MAX_ARGS && !c.argv[c.argc], "argv not terminated");
		fuzz_assert(c.builtin[0] || c.argc > 0, "neither a command nor a builtin");
		fuzz_assert(c.pattern, "no metric pattern");
		for (i = 0; i < c.nactions; i++)
			fuzz_assert(c.actions[i].min <= c.actions[i].max, "action %d: min > max", i);
		kp_tune_config_free(&c);
	}
	free(text);
	return 0;
}
