// SPDX-License-Identifier: GPL-2.0
/*
 * The pipeline description parser (kpilot tune --pipeline FILE): any bytes
 * either parse or are refused with a one-line reason naming a JSON path.
 */
#include "fuzz.h"
#include "env/pipeline/pipeline_desc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kp_pipe_desc d;
	char why[512] = "", *text = fuzz_str(data, size);
	int err;

	memset(&d, 0, sizeof(d));
	err = kp_pipe_desc_parse(text, "fuzz.json", &d, why, sizeof(why));
	if (err) {
		fuzz_assert(why[0], "refused (%d) without a reason", err);
		fuzz_assert(memchr(why, '\n', sizeof(why)) == NULL, "reason is not one line");
	} else {
		kp_pipe_desc_free(&d);
	}
	free(text);
	return 0;
}
