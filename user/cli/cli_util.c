// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli/cli_util.h"
#include "cli/commands.h"
#include "lib/log.h"

error_t cli_common_arg(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case 'v':
		kp_verbosity = KP_DEBUG;
		return 0;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		return 0;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

bool cli_parse_ll(const char *s, long long lo, long long hi, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return !errno && !*end && end != s && *out >= lo && *out <= hi;
}

int cli_exe_dir(char *dir, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", dir, len - 1);
	char *slash;

	if (n <= 0)
		return n ? -errno : -ENOENT;
	dir[n] = '\0';
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	return 0;
}

int cli_run_status(int err)
{
	if (!err)
		return KP_EXIT_OK;
	return err == -EINTR ? KP_EXIT_INTERRUPTED : err == -ECANCELED ? KP_EXIT_ABORTED :
	       KP_EXIT_USAGE;
}

error_t cli_results_arg(int key, char *arg, struct argp_state *state, const char **results)
{
	if (key == ARGP_KEY_ARG) {
		if (*results)
			argp_error(state, "one RESULTS.json at a time");
		*results = arg;
		return 0;
	}
	if (key == ARGP_KEY_END && !*results)
		argp_error(state, "give the RESULTS.json of a tuning run");
	return key == ARGP_KEY_END ? 0 : cli_common_arg(key, arg, state);
}
