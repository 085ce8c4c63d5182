/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The replicas policy kind's private state, shared by policy_replicas.c
 * (parse, start, status, free) and policy_replicas_run.c (one interval:
 * measure, reward, act, apply; the checkpoint). Documentation/daemon.md,
 * "The replicas policy"; the steering itself: Documentation/steering.md.
 */
#ifndef KPILOT_DAEMON_POLICY_REPLICAS_H
#define KPILOT_DAEMON_POLICY_REPLICAS_H

#include <stdbool.h>
#include <sys/types.h>
#include "actuate/steer.h"
#include "agent/dqn.h"
#include "agent/rng.h"
#include "daemon/policy.h"
#include "safety/knob.h"

#define RP_MAX		8	/* replicas: 1 + N(N-1) actions stays small (57) */
#define RP_FEAT		5	/* per replica: share, congestion, run-queue wait, CPU, weight */
#define RP_OBS(n)	((n) * RP_FEAT + 1)	/* and the connection rate */
#define RP_ACTIONS(n)	(1 + (n) * ((n) - 1))
#define RP_RECENT	100	/* rewards avg_recent_reward averages */

enum rp_agent { RP_DQN, RP_PREQUAL, RP_RANDOM };

struct rp_replica {
	char op[KP_OP_NAME_LEN];	/* its operator in $.operators */
	pid_t pid;			/* resolved at start */
	/* the last interval */
	double share, cpu, runq, congestion;
	long long active;
	unsigned long long selected, failed;	/* in the interval */
	__u32 weight;
	/* cumulative, from the previous step */
	unsigned long long sel_prev, fail_prev;
	unsigned long long cpu_prev, runq_prev;
};

struct rp_priv {
	char service[64];
	int port;
	int n;
	struct rp_replica r[RP_MAX];
	enum rp_agent agent;
	int delta;			/* weight one action moves */
	int init_weight;		/* every replica's at start */
	int batch, learning_starts, target_update, buffer_size;
	unsigned long long seed;
	char knob[KP_NAME_MAX];		/* steer:<service>:weights */
	/* running */
	struct kp_steer st;
	bool attached;
	bool unjournaled;		/* attached in mode hash; equal weights not applied yet */
	struct kp_dqn *q;
	struct kp_rng rng;
	char ckpt_state[200];		/* "loaded", "fresh", "refused: ..." */
	bool have_prev, have_obs;
	double t_prev, last_write, rate;
	float obs[RP_OBS(RP_MAX)];	/* the state the last action was taken in */
	int last_action;
	char last_why[160];
	double recent[RP_RECENT];
	int nrecent, recent_at;
	unsigned long long failed_total, refused_actions;
};

extern const char *const rp_keys[];
int rp_parse(struct kp_policy *p, struct kp_json *x, json_t *obj, const char *path,
	     const struct kp_dm_config *cfg);

/*
 * Attach in mode hash (the kernel's default; unjournaled until the next
 * step's rp_equal_weights). At start, and at a step that finds the steering
 * gone (`ctl rollback`, then `ctl resume`). 0 or -errno.
 */
int rp_steer_up(struct kp_policy *p, struct kp_pol_env *e, char *why, size_t len);
/* Equal weights through the session (journaled: "default" to restore). 0 or -errno. */
int rp_equal_weights(struct kp_policy *p, struct kp_pol_env *e, char *why, size_t len);

/* policy_replicas_run.c */
int rp_step(struct kp_policy *p, struct kp_pol_env *e);
int rp_save(struct kp_policy *p, char *why, size_t len);
/* The agent: the checkpoint's when it fits, else a fresh one (ckpt_state says which). */
int rp_agent_open(struct kp_policy *p, char *why, size_t len);
double rp_avg_recent(const struct rp_priv *r);
/* Action a as text: "no-op" or "move 50 r0 -> r2". */
void rp_action_text(const struct rp_priv *r, int a, char *buf, size_t len);

#endif
