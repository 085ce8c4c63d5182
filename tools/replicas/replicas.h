/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The replica service workload and its benchmark (tools/replicas/):
 * N single-threaded replica servers on one SO_REUSEPORT address in a
 * server netns, each in its own cgroup with its own CPU quota, and an
 * open-loop Poisson client in a client netns over a veth pair.
 */
#ifndef KPILOT_TOOLS_REPLICAS_H
#define KPILOT_TOOLS_REPLICAS_H

#include <stdbool.h>
#include <sys/types.h>

#define RP_MAX		8
#define RP_PORT		7500
#define RP_SRV_IP	"10.78.0.1"
#define RP_CLI_IP	"10.78.0.2"
#define RP_SAMPLES	(1 << 20)

/* Shared (MAP_SHARED) between the bench, its replicas and its client. */
struct rp_shared {
	double lat_ewma_ms[RP_MAX];	/* client-measured, per replica that answered */
	unsigned long served[RP_MAX];
};

struct rp_env {
	int n;
	double quota[RP_MAX];		/* cores */
	double work_ms;			/* CPU per request */
	long iters_per_ms;		/* calibrated busy loop */
	char ns_srv[32], ns_cli[32], veth[2][16];
	char cg[RP_MAX][128];		/* cgroup directory of each replica */
	int cg_version;
	pid_t pid[RP_MAX];
	struct rp_shared *sh;
	bool ns_up;
};

struct rp_result {
	double p50_ms, p99_ms, tput;
	unsigned long ok, errors;
	double adapt_s;			/* scenario b: -1 when never back */
};

/* env.c: namespaces, cgroups, replicas; rp_teardown removes all of it. */
int rp_setup(struct rp_env *e, char *why, size_t len);
int rp_set_quota(struct rp_env *e, int i, double cores, char *why, size_t len);
void rp_teardown(struct rp_env *e);

/*
 * client.c: Poisson arrivals at rate per second for secs seconds; lat gets
 * each answered request's latency (ms) with its finish time (s from the
 * start) in at; every 200 ms tick() runs (the arms' controllers).
 */
int rp_client(struct rp_env *e, double rate, double secs, unsigned int seed,
	      double *lat, double *at, unsigned long *nlat, unsigned long *errors,
	      void (*tick)(void *), void *arg, char *why, size_t len);

/* dqn_arm.c: the dqn arm, a real `kpilot run` with a replicas policy. */
struct rp_dqn {
	char kpilot[4096];
	char dir[32], sock[96];
	pid_t pid;
};

struct json_t;
int rp_dqn_init(struct rp_dqn *q, const char *kpilot, char *why, size_t len);
/* Start it (exploration on or off) and wait until it answers. 0 or -errno. */
int rp_dqn_start(struct rp_dqn *q, const struct rp_env *e, const char *svc, bool explore,
		 int train_steps, char *why, size_t len);
/* The policy's status state (caller's), or NULL. */
struct json_t *rp_dqn_state(const struct rp_dqn *q);
int rp_dqn_stop(struct rp_dqn *q);
void rp_dqn_cleanup(struct rp_dqn *q);

#endif
