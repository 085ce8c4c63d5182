// SPDX-License-Identifier: GPL-2.0
/*
 * Knob values, every type of the built-in table: the first byte picks the
 * knob, the rest is the text. A value that parses formats, and what it
 * formats to parses back to the same value (the journal and the read-back
 * check depend on it). CPU lists go through kp_cpulist_parse too.
 */
#include "fuzz.h"
#include "safety/knob.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct kp_knob *k;
	struct kp_value v, w;
	unsigned long long bits[KP_CPUS_MAX / 64];
	char why[512] = "", buf[KP_VALUE_MAX], *text;
	int err;

	if (!size)
		return 0;
	k = &kp_builtin_knobs[data[0] % kp_builtin_nknobs];
	text = fuzz_str(data + 1, size - 1);
	err = kp_value_parse(k, text, &v, why, sizeof(why));
	if (err) {
		fuzz_assert(why[0], "%s: refused (%d) without a reason", k->name, err);
		goto out;
	}
	fuzz_assert(v.type == k->type, "%s: type changed", k->name);
	fuzz_assert(v.n >= 0 && v.n <= KP_TUPLE_MAX, "%s: %d elements", k->name, v.n);
	err = kp_value_format(&v, buf, sizeof(buf));
	fuzz_assert(!err, "%s: '%s' parsed but does not format", k->name, text);
	/* cpu.max without a period is completed from the current one before use */
	if (k->type == KP_VT_CPUMAX && !v.v[1])
		goto out;
	/* the empty cpuset is "the parent's": a state, it formats to nothing */
	if (k->type == KP_VT_CPULIST && !v.s[0])
		goto out;
	err = kp_value_parse(k, buf, &w, why, sizeof(why));
	fuzz_assert(!err, "%s: '%s' formats to '%s', which does not parse: %s",
		    k->name, text, buf, why);
	fuzz_assert(kp_value_eq(&v, &w), "%s: '%s' -> '%s' is another value", k->name, text, buf);
out:
	if (!kp_cpulist_parse(text, bits, why, sizeof(why)))
		kp_cpulist_format(bits, buf, sizeof(buf));
	free(text);
	return 0;
}
