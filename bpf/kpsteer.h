/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The connection-steering program's map layouts (bpf/steer.bpf.c), shared
 * with user space (user/actuate/steer.c). Plain fixed-size types only.
 */
#ifndef KPILOT_STEER_H
#define KPILOT_STEER_H

#define KP_STEER_MAX	16	/* replicas one service may have */

enum kp_steer_mode {
	KP_STEER_HASH = 0,	/* select nothing: the kernel's own reuseport hash */
	KP_STEER_WEIGHTS = 1,	/* weighted random over the weights map */
	KP_STEER_RR = 2,	/* round-robin */
	KP_STEER_LEASTCONN = 3,	/* fewest active connections (needs track) */
};

struct kp_steer_cfg {
	__u32 mode;
	__u32 n;		/* replicas in the sockarray, slots 0..n-1 */
	__u32 track;		/* count active connections per replica (IPv4) */
	__u32 port;		/* the service's port (host order), for detaching later */
};

/* Per replica; updated with atomic adds only (the program runs in softirq). */
struct kp_steer_slot {
	__u64 selected;		/* new connections sent to this replica */
	__u64 ended;		/* tracked connections that left ESTABLISHED */
	__u64 failed;		/* selections the kernel refused (slot empty) */
	__u64 migrated;		/* pending connections moved here from a closed listener */
};

/* A tracked connection: the client's address and port (network order). */
struct kp_steer_flow {
	__u32 addr;
	__u16 port;
	__u16 pad;
};

#endif
