/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Persisted configuration files (`kpilot persist`): a sysctl.d file or a
 * systemd drop-in, as a pseudo-knob "file:<path under the root>" whose value
 * is "absent" or "sha256:<hex>" of its content. Contents live in the store
 * (<state dir>/files/<hex>), so the journal's one-line values can put back
 * a file of any size. Only the two places kpilot persists to can be named;
 * every write goes to a temp file, is fsynced and renamed over the target.
 */
#ifndef KPILOT_ACTUATE_FILE_H
#define KPILOT_ACTUATE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include "actuate/fsio.h"

#define KP_FILE_MAX	(64 * 1024)	/* largest file kept or replaced */
#define KP_FILE_ABSENT	"absent"

static inline bool kp_file_knob(const char *name)
{
	return !strncmp(name, "file:", 5);
}

/*
 * "file:etc/sysctl.d/90-kpilot-W.conf" or
 * "file:etc/systemd/system/UNIT.d/90-kpilot-W.conf" (W: [A-Za-z0-9_.-],
 * UNIT a .service or .slice name): the only files kpilot writes.
 */
bool kp_file_name_ok(const char *name);

/* The file's path under t->root. */
int kp_file_path(const struct kp_target *t, const char *name, char *buf, size_t len);

/* "absent" or "sha256:<hex>". 0 or -errno (-EFBIG over KP_FILE_MAX). */
int kp_file_read(const struct kp_target *t, const char *name, char *text, size_t len);

/* Put text (n bytes) in the store; *value gets its "sha256:<hex>". 0 or -errno. */
int kp_file_keep(const char *store, const char *text, size_t n, char *value, size_t len);

/* Put the file's current content in the store (nothing when it is absent). 0 or -errno. */
int kp_file_keep_current(const struct kp_target *t, const char *name);

/*
 * Make the file what value says: "absent" removes it (and its drop-in
 * directory when that is left empty); "sha256:<hex>" writes the stored
 * content of that digest (checked) atomically. 0 or -errno.
 */
int kp_file_write(const struct kp_target *t, const char *name, const char *value);

#endif
