// SPDX-License-Identifier: GPL-2.0
/*
 * The steering weights knob "steer:<service>:weights" (actuate/steer.h):
 * its one definition, its name and its values. "default" is the kernel's
 * own reuseport hash (no steering), the value a service has before kpilot
 * attaches and the one a rollback puts back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "safety/knob.h"

const struct kp_knob kp_steer_knob = {
	.name = "weights", .kind = KP_KNOB_STEER, .type = KP_VT_WEIGHTS, .arity = 0,
	.min = 1, .max = 1000, .step_abs = 200, .scale = KP_SCALE_LINEAR,
	.min_interval_ms = 1000,
};

int kp_knob_steer_service(const char *name, char *service)
{
	const char *p = name + 6, *q;
	size_t i, n;

	if (!kp_knob_is_steer(name))
		return -EINVAL;
	q = strchr(p, ':');
	if (!q || strcmp(q, ":weights"))
		return -EINVAL;
	n = (size_t)(q - p);
	if (!n || n >= 64)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (!(p[i] >= 'a' && p[i] <= 'z') && !(p[i] >= 'A' && p[i] <= 'Z') &&
		    !(p[i] >= '0' && p[i] <= '9') && p[i] != '_' && p[i] != '-')
			return -EINVAL;
	if (service) {
		memcpy(service, p, n);
		service[n] = '\0';
	}
	return 0;
}

int kp_parse_weights(char *buf, const char *show, struct kp_value *out, char *why, size_t len)
{
	char *save = NULL, *t, *end;
	long long v;

	out->n = 0;
	if (!strcmp(buf, "default"))
		return 0;
	for (t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (out->n == KP_TUPLE_MAX) {
			snprintf(why, len, "'%s': more than %d weights", show, KP_TUPLE_MAX);
			return -EINVAL;
		}
		errno = 0;
		v = strtoll(t, &end, 10);
		if (errno || *end || end == t || t[0] == '+' || t[0] == '-') {
			snprintf(why, len, "'%s': '%s' is not a weight (a non-negative integer)",
				 show, t);
			return -EINVAL;
		}
		out->v[out->n++] = v;
	}
	if (!out->n) {
		snprintf(why, len, "'%s': expected default or one weight per replica", show);
		return -EINVAL;
	}
	return 0;
}
