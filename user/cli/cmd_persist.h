/* SPDX-License-Identifier: GPL-2.0 */
/* kpilot persist's work, shared with `kpilot tune --apply-best --persist`. */
#ifndef KPILOT_CMD_PERSIST_H
#define KPILOT_CMD_PERSIST_H

#include <stdbool.h>

/*
 * Persist results (a results.json) under root (NULL: "/") with the journal in
 * state_dir; messages start with prog. Returns the exit status: 0, 1 refused,
 * 2 environment, 4 the gain is not confirmed (commands.h).
 */
int cli_persist(const char *prog, const char *results, const char *root, const char *state_dir,
		const char *const *allow_risky, bool dry_run, bool quiet);

#endif
