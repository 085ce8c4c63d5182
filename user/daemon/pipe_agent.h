/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The pipeline policy's agents, as pure functions of the measurements:
 * ds2 (the DS2 model of env/pipeline/pipectl.h over the last intervals) and
 * random (random allocations of the budget while exploring; the best one
 * seen when not). Their state is what a checkpoint keeps.
 */
#ifndef KPILOT_DAEMON_PIPE_AGENT_H
#define KPILOT_DAEMON_PIPE_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "agent/rng.h"
#include "env/pipeline/pipectl.h"

#define PP_DS2_WINDOW	3	/* intervals DS2's rates are averaged over, as kpilot tune's */

enum pp_agent_kind { PP_AGENT_DS2, PP_AGENT_RANDOM };

struct pp_agent {
	enum pp_agent_kind kind;
	int nops;
	uint64_t ops_hash;		/* the operators' names: a checkpoint of others is refused */
	uint64_t updates;
	/* ds2: the last intervals' per-operator rates, and the need at utilisation 1 */
	struct kp_ds2_op win[PP_DS2_WINDOW][KP_PIPE_MAX_OPS];
	int nwin;
	double need[KP_PIPE_MAX_OPS];
	/* random */
	struct kp_rng rng;
	bool have_best;
	double best[KP_PIPE_MAX_OPS], best_reward;
};

void pp_agent_init(struct pp_agent *a, enum pp_agent_kind kind, const struct kp_pipe_desc *d,
		   uint64_t seed);

/* Fold one interval's rates (ds2) or the reward of the quotas in force then (random). */
void pp_agent_update(struct pp_agent *a, const struct kp_ds2_op *op, const double *in_force,
		     double reward);

/*
 * Quotas for the next interval (fitted to the grid and d's budget). target:
 * the sources' target rate; cur: the quotas in force. explore false: the
 * greedy policy only.
 */
void pp_agent_decide(struct pp_agent *a, const struct kp_pipe_desc *d, double target,
		     double utilisation, const double *cur, bool explore, double *q);

/* Checkpoint: 0 or -errno; load refuses another agent or pipeline with why. */
int pp_agent_save(const struct pp_agent *a, const char *path);
int pp_agent_load(struct pp_agent *a, const char *path, char *why, size_t len);

uint64_t pp_ops_hash(const struct kp_pipe_desc *d);

#endif
