// SPDX-License-Identifier: GPL-2.0
/* The sysctl policy kind (policy.h): being built; until then a config that asks for one is refused. */
#include "daemon/policy.h"
#include "lib/json.h"

static const char *const agents[] = { "random", NULL };

static int parse(struct kp_policy *p, struct kp_json *x, json_t *obj, const char *path,
		 const struct kp_dm_config *cfg)
{
	(void)p; (void)obj; (void)cfg;
	return kp_json_fail(x, path, "the sysctl policy kind is not built yet");
}

const struct kp_policy_kind kp_policy_sysctl = {
	.name = "sysctl",
	.agents = agents,
	.parse = parse,
};
