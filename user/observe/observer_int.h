/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The observer's state, shared by its files: observer.c (open, poll, sweep,
 * names), load.c (probe, load, attach), members.c (watched pids and
 * operators) and pin.c (pinned maps). Not for use outside observe/.
 */
#ifndef KPILOT_OBSERVER_INT_H
#define KPILOT_OBSERVER_INT_H

#include <limits.h>
#include "observe/observer.h"

struct kp_operator {
	struct kp_opspec spec;
	char cgdir[PATH_MAX];
};

struct kp_observer {
	struct kp_observer_opts opts;
	struct sched_bpf *sched;
	struct block_bpf *block;
	struct tcp_bpf *tcp;
	bool btf_mode;			/* tp_btf family loaded (else raw_tp) */
	bool runq_timed;		/* run-queue wait from wakeups, not run_delay */
	char fallback_why[256];		/* why tp_btf failed, when it did (kpilot probe) */
	struct ring_buffer *rb;
	struct bpf_link *links[64];	/* tracepoint attachments */
	int nlinks;
	int stats_fd;
	struct kp_operator ops[KP_MAX_OPERATORS];
	int nops;
	struct kp_interval iv;
	struct kp_table known;		/* tgid -> operator of every process reported */
	bool pinned;
	const char *pin_names[16];
	int npinned;
};

/*
 * Load and attach the tp_btf family, or raw_tp when `legacy` is set or
 * tp_btf fails (with a warning). 0 or -errno with a reason in why.
 */
int kp_obs_load(struct kp_observer *obs, bool legacy, char *why, size_t len);
/* Detach and free the BPF objects; safe on a partly loaded observer. */
void kp_obs_destroy(struct kp_observer *obs);

/* Rescan operator `op`'s cgroup into members under id. */
int kp_obs_scan_cgroup(struct kp_observer *obs, struct kp_operator *op, __u32 id);

/* The loader's tests, for kpilot probe: tracepoint in BTF (and its arg count), struct member. */
struct btf;
bool kp_obs_tp_in_btf(const struct btf *btf, const char *tp, int *nargs);
bool kp_obs_btf_has_member(const struct btf *btf, const char *type, const char *member);

int kp_obs_pin_maps(struct kp_observer *obs, char *why, size_t len);
void kp_obs_unpin_maps(struct kp_observer *obs);

#endif
