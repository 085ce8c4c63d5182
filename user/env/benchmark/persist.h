/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kpilot persist (and tune --apply-best --persist): a confirmed best
 * configuration applied through a keep-mode safety session and written
 * where the system reads it at boot: sysctls to
 * /etc/sysctl.d/90-kpilot-<workload>.conf, a unit's cgroup limits to
 * /etc/systemd/system/<unit>.d/90-kpilot-<workload>.conf. Every file write
 * is journaled, so `kpilot rollback` removes or restores it.
 */
#ifndef KPILOT_PERSIST_H
#define KPILOT_PERSIST_H

#include <stdbool.h>
#include "env/benchmark/results.h"
#include "safety/knob.h"

struct kp_persist_opts {
	const char *results;		/* results.json */
	const char *root;		/* prefix of /proc, /sys and /etc; NULL: "/" */
	const char *state_dir;		/* the journal; NULL: /var/lib/kpilot */
	const char *const *allow_risky;	/* NULL-terminated knob names */
	bool dry_run;			/* validate and show the files; change nothing */
};

struct kp_persist_file {
	char name[KP_NAME_MAX];		/* the pseudo-knob, "file:etc/..." */
	char path[4096];		/* where, under the root */
	char *text;
};

struct kp_persist_out {
	struct kp_persist_file files[KP_RESULTS_MAX_KNOBS + 1];
	int nfiles;
	char refused[KP_RESULTS_MAX_KNOBS][400];	/* "KNOB: not persisted: why" */
	int nrefused;
	int napplied;			/* knobs the session changed (or would) */
};

/*
 * 0 done (out says what), -EDOM the gain is not confirmed (nothing written;
 * why in --apply-best's words), -EINVAL refused (nothing to persist, or the
 * validator: nothing kept), -EBADMSG results.json is not what kpilot tune
 * writes, other -errno (environment). why names the cause.
 */
int kp_persist(const struct kp_persist_opts *o, struct kp_persist_out *out, char *why,
	       size_t len);
void kp_persist_out_free(struct kp_persist_out *out);

#endif
