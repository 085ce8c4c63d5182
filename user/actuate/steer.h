/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Connection steering for a service of N replica processes that listen on
 * one TCP port with SO_REUSEPORT (bpf/steer.bpf.c, Documentation/steering.md).
 * kpilot takes the replicas' listening sockets without their cooperation
 * (pidfd_open + pidfd_getfd, 5.6+), puts them in a REUSEPORT_SOCKARRAY in
 * the order given and attaches the program to their reuseport group
 * (SO_ATTACH_REUSEPORT_EBPF). The maps are pinned under
 * /sys/fs/bpf/kpilot-steer/<service>/, so another process (kpilot rollback)
 * can put the default back after the one that attached is gone: mode "hash"
 * in the pinned cfg, then SO_DETACH_REUSEPORT_BPF on a socket it takes again.
 * Connections already accepted are never touched.
 */
#ifndef KPILOT_ACTUATE_STEER_H
#define KPILOT_ACTUATE_STEER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>
#include "kpsteer.h"

#define KP_STEER_PIN_ROOT	"/sys/fs/bpf/kpilot-steer"
#define KP_STEER_DEFAULT	"default"

struct steer_bpf;

/* An attached service, for the process that attached it. */
struct kp_steer {
	char service[64];
	int n;
	bool migrate;		/* the sk_reuseport/migrate program is the one loaded */
	bool tracking;		/* the inet_sock_set_state raw tracepoint is attached */
	struct steer_bpf *skel;
};

/* The replica slot's counters, read from the pinned maps. */
struct kp_steer_stats {
	struct kp_steer_slot slot[KP_STEER_MAX];
	long long active[KP_STEER_MAX];
	__u32 weights[KP_STEER_MAX];
	struct kp_steer_cfg cfg;
};

/* A service name: [A-Za-z0-9_-], 1..63 characters. */
bool kp_steer_name_ok(const char *service);

/*
 * Attach steering to the replicas' reuseport group on TCP port `port`:
 * slot i is pids[i]'s listener. mode and weights (n entries, may be NULL
 * for other modes) are the first setting; track counts active connections
 * per replica (needed by leastconn; the counter lives as long as st).
 * 0, or -errno with the reason (what the kernel lacks, which pid has no
 * listener on the port).
 */
int kp_steer_attach(struct kp_steer *st, const char *service, const pid_t *pids, int n,
		    int port, enum kp_steer_mode mode, const __u32 *weights, bool track,
		    char *why, size_t len);

/* Let go of st without detaching: the program stays with the sockets. */
void kp_steer_release(struct kp_steer *st);

/*
 * The default back: mode hash in the pinned cfg (at once, no socket
 * needed), then SO_DETACH_REUSEPORT_BPF through a replica still alive, then
 * unpin. 0 also when the service was not attached. -errno when the default
 * could not be put back.
 */
int kp_steer_detach(const char *service, char *why, size_t len);

/* "default", "rr", "leastconn" or the weights "w0 w1 ...". 0 or -errno. */
int kp_steer_read(const char *service, char *text, size_t len);

/*
 * Set the mode and weights of an attached service (n must be its replica
 * count); text "default" detaches. -ENOENT when the service is not attached.
 */
int kp_steer_write(const char *service, const char *text, char *why, size_t len);
int kp_steer_set(const char *service, enum kp_steer_mode mode, const __u32 *weights, int n,
		 char *why, size_t len);

int kp_steer_stats_read(const char *service, struct kp_steer_stats *out);

/* The listening socket of pid on TCP port (its fd number in pid). -errno. */
int kp_steer_find_listener(pid_t pid, int port, int *fd, char *why, size_t len);

#endif
