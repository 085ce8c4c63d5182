// SPDX-License-Identifier: GPL-2.0
/*
 * Where `kpilot tune --profile NAME` finds NAME.json and NAME.pipeline.json.
 * Never the working directory: a profile is trusted input (it names the knobs
 * to write and the commands to run), so it comes from a place the binary
 * knows. KPILOT_DATADIR is the installed share/kpilot, set by the Makefile
 * from PREFIX (Documentation/install.md).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli/cli_util.h"

#ifndef KPILOT_DATADIR
#define KPILOT_DATADIR "/usr/local/share/kpilot"
#endif

static bool is_dir(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

/*
 * The build tree first: a binary next to tools/profiles is a build's, and it
 * must run the tree's profiles (and through them the tree's wordcount), not
 * what an earlier `make install` left; an installed binary has no
 * tools/profiles beside it, so it gets the installed directory.
 */
void cli_profile_dir(const char *override, char *dir, size_t len)
{
	char exe[PATH_MAX];

	if (override) {
		snprintf(dir, len, "%s", override);
		return;
	}
	if (!cli_exe_dir(exe, sizeof(exe))) {
		snprintf(dir, len, "%s/tools/profiles", exe);
		if (is_dir(dir))
			return;
	}
	snprintf(dir, len, "%s/profiles", KPILOT_DATADIR);
}

int cli_profile_path(const char *override, const char *name, const char *suffix,
		     char *path, size_t len)
{
	char dir[PATH_MAX];

	cli_profile_dir(override, dir, sizeof(dir));
	if (snprintf(path, len, "%s/%s%s", dir, name, suffix) >= (int)len)
		return -ENAMETOOLONG;
	return access(path, R_OK) ? -ENOENT : 0;
}
