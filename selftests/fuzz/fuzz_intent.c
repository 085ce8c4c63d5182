// SPDX-License-Identifier: GPL-2.0
/*
 * The intent matcher over arbitrary sentences (kpilot tune --intent TEXT):
 * a class in range with the keywords it matched, or a refusal; the same
 * sentence twice, the same answer.
 */
#include "fuzz.h"
#include "intent/intent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[512], m1[256], m2[256], *s = fuzz_str(data, size);
	int c1 = -1, c2 = -1, r1, r2;

	r1 = kp_intent_classify(s, &c1, m1, sizeof(m1), why, sizeof(why));
	r2 = kp_intent_classify(s, &c2, m2, sizeof(m2), why, sizeof(why));
	fuzz_assert(r1 == r2, "scores %d then %d", r1, r2);
	fuzz_assert(r1 > 0 || r1 == -ENOENT || r1 == -EINVAL, "error %d", r1);
	if (r1 > 0) {
		fuzz_assert(c1 >= 0 && c1 < KP_CLASS_N && c1 == c2, "classes %d, %d", c1, c2);
		fuzz_assert(m1[0] && !strcmp(m1, m2), "matched '%s' then '%s'", m1, m2);
	}
	free(s);
	return 0;
}
