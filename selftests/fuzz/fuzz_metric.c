// SPDX-License-Identifier: GPL-2.0
/*
 * The benchmark metric extraction: every built-in profile's pattern over
 * arbitrary benchmark output (the output is what a benchmark, not the user,
 * controls). The first byte picks the profile.
 */
#include <math.h>
#include "fuzz.h"
#include "env/benchmark/bench_run.h"
#include "env/benchmark/tune_config.h"

static char *patterns[32];
static int npatterns;

static void load_patterns(void)
{
	struct kp_tune_config c;
	char why[256];
	int i;

	for (i = 0; kp_tune_profile_names[i] && npatterns < 32; i++) {
		memset(&c, 0, sizeof(c));
		if (kp_tune_config_parse(kp_tune_profile(kp_tune_profile_names[i]), "profile",
					 &c, why, sizeof(why)))
			continue;
		patterns[npatterns++] = strdup(c.pattern);
		kp_tune_config_free(&c);
	}
	if (!npatterns)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	double v = 0;
	char *text;
	int err;

	if (!npatterns)
		load_patterns();
	if (!size)
		return 0;
	text = fuzz_str(data + 1, size - 1);
	err = kp_metric_parse(patterns[data[0] % npatterns], text, &v);
	fuzz_assert(!err || err == -ENOENT || err == -EINVAL, "error %d", err);
	if (!err)
		fuzz_assert(isfinite(v), "a metric of %g", v);
	free(text);
	return 0;
}
