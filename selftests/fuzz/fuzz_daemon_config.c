// SPDX-License-Identifier: GPL-2.0
/* The daemon's config (kpilot run --config): refusals carry a reason, accepted configs are sane. */
#include "fuzz.h"
#include "daemon/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct kp_dm_config c;
	char why[512] = "", *text = fuzz_str(data, size);
	int err, i;

	err = kp_dm_config_parse(text, "fuzz.json", &c, why, sizeof(why));
	if (err) {
		fuzz_assert(!strncmp(why, "fuzz.json: ", 11), "refused (%d) without a reason: %s",
			    err, why);
	} else {
		fuzz_assert(c.socket[0] == '/' && c.state_dir[0] == '/', "relative path accepted");
		fuzz_assert(c.interval_ms >= 10 && c.interval_ms <= 60000, "%u ms", c.interval_ms);
		fuzz_assert(c.top_processes <= KP_DM_TOP_MAX, "top %u", c.top_processes);
		fuzz_assert(!c.http || c.http_port <= 65535, "port %u", c.http_port);
		fuzz_assert(c.nops >= 0 && c.nops <= KP_MAX_OPERATORS, "%d operators", c.nops);
		for (i = 0; i < c.nops; i++)
			fuzz_assert(c.ops[i].name[0] && (c.ops[i].type == KP_OP_CGROUP ||
				    c.ops[i].npids > 0), "operator %d", i);
		kp_dm_config_free(&c);	/* an accepted "policies": [] holds an array */
	}
	free(text);
	return 0;
}
