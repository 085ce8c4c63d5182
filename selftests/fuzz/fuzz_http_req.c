// SPDX-License-Identifier: GPL-2.0
/*
 * The daemon's HTTP request parsing (http_req.c): the input is
 * "METHOD\nTARGET\nAUTHORIZATION\nTOKEN". Every answer is a known status
 * with a reason; a parsed request names a known route with bounded
 * parameters and a valid policy name; a token check matches only equal text.
 */
#include "fuzz.h"
#include "daemon/commands.h"
#include "daemon/http_req.h"
#include "lib/text.h"

static char *field(char **s)
{
	char *f = *s, *nl = f ? strchr(f, '\n') : NULL;

	if (nl)
		*nl = '\0';
	*s = nl ? nl + 1 : NULL;
	return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_str(data, size), *s = text, why[640] = "";
	const char *method = field(&s), *target = field(&s), *authz = field(&s), *tok = field(&s);
	struct kp_http_req r;
	int code;

	code = kp_http_parse(method, target ? target : "", &r, why, sizeof(why));
	fuzz_assert(code == 200 || code == 400 || code == 404 || code == 405 || code == 414,
		    "status %d", code);
	if (code != 200)
		fuzz_assert(why[0], "status %d without a reason", code);
	if (code == 405)
		fuzz_assert(r.allow, "405 without Allow");
	if (code == 200) {
		fuzz_assert(r.route <= KP_HTTP_SAVE, "route %d", r.route);
		fuzz_assert(r.mutating == (r.route == KP_HTTP_TRAIN || r.route == KP_HTTP_SAVE),
			    "mutating %d for route %d", r.mutating, r.route);
		fuzz_assert(!r.policy[0] || kp_name_ok(r.policy, strlen(r.policy), KP_POL_NAME_LEN),
			    "policy '%s'", r.policy);
		fuzz_assert(r.batch >= 0 && r.batch <= KP_TRAIN_BATCH_MAX, "batch %d", r.batch);
		fuzz_assert(r.iterations >= 0 && r.iterations <= KP_TRAIN_ITER_MAX, "iter %d",
			    r.iterations);
		fuzz_assert(r.route >= KP_HTTP_TRAIN || (!r.policy[0] && !r.batch && !r.iterations),
			    "a GET with parameters");
	}
	if (kp_http_token_ok(authz, tok))
		fuzz_assert(tok && *tok && !strncmp(authz, "Bearer ", 7) && !strcmp(authz + 7, tok),
			    "token '%s' matched by '%s'", tok, authz);
	free(text);
	return 0;
}
