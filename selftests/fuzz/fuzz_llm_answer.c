// SPDX-License-Identifier: GPL-2.0
/*
 * A chat-completions endpoint's answer (kpilot tune --intent --llm): any
 * body either becomes a config that passes kp_intent_vet, or is refused
 * with one line that names neither the key nor the endpoint.
 */
#include "fuzz.h"
#include "intent/llm.h"

#define KEY	"sk-fuzz-0123456789"
#define URL	"http://llm.fuzz.invalid:8080/v1"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kp_llm_opts o = { .url = URL, .model = "m", .api_key = KEY, .timeout_s = 1 };
	struct kp_tune_config c;
	char why[512] = "", *json = NULL, *text = fuzz_str(data, size);
	int err;

	err = kp_llm_answer(&o, text, &c, &json, why, sizeof(why));
	if (err) {
		fuzz_assert(why[0], "refused (%d) without a reason", err);
		fuzz_assert(!memchr(why, '\n', sizeof(why)), "reason is not one line");
		fuzz_assert(!json, "a config text with an error");
		fuzz_assert(!strstr(why, KEY) && !strstr(why, "llm.fuzz.invalid"),
			    "a secret in the reason: %s", why);
	} else {
		fuzz_assert(json && !strstr(json, KEY), "no config text, or the key in it");
		fuzz_assert(!kp_intent_vet(&c, why, sizeof(why)), "vetted, then refused: %s", why);
		fuzz_assert(!c.shell && !c.builtin[0] && c.argc > 0, "a shell or no argv");
		kp_tune_config_free(&c);
		free(json);
	}
	free(text);
	return 0;
}
