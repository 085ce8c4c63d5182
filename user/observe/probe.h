/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What this kernel supports, probed by doing it (load a tiny program, create
 * a map, attach, unshare a netns), and the mode the observer picks here:
 * the data behind `kpilot probe` (Documentation/probe.md).
 */
#ifndef KPILOT_PROBE_H
#define KPILOT_PROBE_H

#include <stdbool.h>

#define KP_PROBE_MAX 48

/* One answer: `key: yes|no (detail)`. Keys are stable (Documentation/probe.md). */
struct kp_probe_item {
	char key[48];
	bool yes;
	char detail[240];
};

struct kp_probe {
	char release[65];		/* uname -r */
	struct kp_probe_item items[KP_PROBE_MAX];
	int n;
	/* The observer's own choice, from opening it here. */
	char mode[32];			/* "tp_btf+task storage", "raw_tp legacy" or "none" */
	char mode_reason[400];
	char task_store[16];		/* "task storage", "hash" or "" (none) */
	char runq[16];			/* "run_delay", "timed" or "" */
	int block_rq_issue_args;	/* in BTF: 1 (5.11+), 2 (older), 0 unknown */
	int sched_switch_args;		/* in BTF: 4 with prev_state (5.18+), 3 older, 0 unknown */
	char cgroup_layout[8];		/* "v1", "v2", "hybrid" or "none" */
	char cgroup_v1[256];		/* comma-separated controllers on v1 hierarchies */
	char cgroup_v2[256];		/* controllers of the v2 root */
};

/*
 * Probe everything. A missing feature is an answer, not an error: returns 0,
 * or -EPERM (not root, bpf() not permitted) with the reason in why.
 */
int kp_probe_run(struct kp_probe *p, char *why, size_t len);

/* The item named key, or NULL. */
const struct kp_probe_item *kp_probe_find(const struct kp_probe *p, const char *key);

#endif
