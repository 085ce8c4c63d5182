/* SPDX-License-Identifier: GPL-2.0 */
/* Small helpers shared by the selftests that run commands and read files. */
#ifndef KPILOT_TESTUTIL_H
#define KPILOT_TESTUTIL_H

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

/* How many paths match pattern (0 also when glob fails: no match leaves nothing to free). */
static inline int tu_glob_count(const char *pattern)
{
	glob_t g = { 0 };
	int n;

	if (glob(pattern, 0, NULL, &g))
		return 0;
	n = (int)g.gl_pathc;
	globfree(&g);
	return n;
}

/* A whole file as a string (caller frees), or NULL. */
static inline char *tu_slurp(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return NULL;
	if (getdelim(&buf, &len, '\0', f) < 0) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

/* A shell command line's exit status (128 + signal when killed). */
static inline int tu_system(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A test's scratch directory: rm -rf it and forget it (empty: nothing made). */
static inline void tu_rmtmp(char *tmp)
{
	char cmd[128];

	if (!tmp[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	tu_system(cmd);
	tmp[0] = '\0';
}

#endif
