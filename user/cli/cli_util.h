/* SPDX-License-Identifier: GPL-2.0 */
/* What several subcommands parse or map the same way. */
#ifndef KPILOT_CLI_UTIL_H
#define KPILOT_CLI_UTIL_H

#include <argp.h>
#include <stdbool.h>
#include <stddef.h>

/* The argp keys every subcommand treats alike: -v, no positional arguments, the rest unknown. */
error_t cli_common_arg(int key, char *arg, struct argp_state *state);
/* persist and report: the one RESULTS.json argument, then cli_common_arg(). */
error_t cli_results_arg(int key, char *arg, struct argp_state *state, const char **results);

/* A whole decimal integer in [lo, hi]. */
bool cli_parse_ll(const char *s, long long lo, long long hi, long long *out);

/* The directory of the running binary: a build tree's top, where tools/ is. 0 or -errno. */
int cli_exe_dir(char *dir, size_t len);

/* The profile directory: override (--profile-dir), else tools/profiles beside a
 * build tree's binary, else the installed KPILOT_DATADIR/profiles (cli_profiles.c). */
void cli_profile_dir(const char *override, char *dir, size_t len);
/* DIR/NAME SUFFIX in that directory: 0, -ENOENT (path still set) or -ENAMETOOLONG. */
int cli_profile_path(const char *override, const char *name, const char *suffix,
		     char *path, size_t len);

/* A run's 0 / -EINTR / -ECANCELED / -errno (env/env.h) as the exit status. */
int cli_run_status(int err);

#endif
