/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The tuning agent: a learned model of the system plus rollout over a PPO
 * base policy. A random forest (agent/forest.h) is fit on every trial so
 * far, (configuration, state) -> reward; the PPO policy proposes candidates
 * around the incumbent, uniform candidates cover the box, the model scores
 * them (optimistic, with a one-step lookahead) and the best is tried. PPO
 * learns from the real trials and from imagined ones on the model, so the
 * base policy improves and can run alone. Pure computation, deterministic
 * for a seed. Documentation/agent.md, "Rollout".
 */
#ifndef KPILOT_ROLLOUT_H
#define KPILOT_ROLLOUT_H

#include <stdint.h>

#define KP_ROLLOUT_MAX_DIM	16
#define KP_ROLLOUT_MAX_STATE	16

struct kp_rollout_config {
	int dim;		/* configuration dimensions (knobs), in [-1, 1] each */
	int nstate;		/* state metrics the model and the policy see */
	int max_trials;		/* capacity of the history */
	int n_init;		/* Latin-hypercube trials before the model decides (5) */
	int n_local;		/* candidates from the policy around the incumbent (64) */
	int n_global;		/* uniform candidates over the box (64) */
	int n_look;		/* policy samples per candidate for the lookahead (4; 0: none) */
	double lookahead;	/* weight of the lookahead's best score (0.5, PPO's gamma) */
	double kappa;		/* optimism: score = mean + kappa * std (1) */
	int imagined;		/* imagined policy steps on the model per real trial (7) */
	int ntrees;		/* (100) */
	uint64_t seed;
};

/* Where the last proposal came from. */
enum kp_rollout_src { KP_ROLLOUT_INIT, KP_ROLLOUT_LOCAL, KP_ROLLOUT_GLOBAL };

struct kp_rollout_stats {
	int rows;		/* trials the model was fit on */
	double oob_r2, oob_nmae;	/* of the last fit (NaN: undefined yet) */
	double pred_mean, pred_std;	/* the model's view of the last proposal */
	enum kp_rollout_src src;
	int ppo_updates;
};

struct kp_rollout;
struct kp_ppo;

void kp_rollout_config_default(struct kp_rollout_config *cfg, int dim, int nstate, int max_trials);
int kp_rollout_create(struct kp_rollout **out, const struct kp_rollout_config *cfg);
void kp_rollout_destroy(struct kp_rollout *r);
/* The next configuration to try, u in [-1, 1]^dim. -EBUSY: tell first. */
int kp_rollout_propose(struct kp_rollout *r, double *u);
/*
 * The trial's outcome: the configuration as applied (the validator may have
 * moved it; NULL: as proposed), the state measured during the trial (NULL:
 * zeros) and its reward (a failed trial: the failure's). Refits the model,
 * lets PPO learn. 0 or -errno (-EDOM: a non-finite number).
 */
int kp_rollout_tell(struct kp_rollout *r, const double *u, const double *state, double reward);
void kp_rollout_stats(const struct kp_rollout *r, struct kp_rollout_stats *st);
/*
 * Train the base policy on the model alone: rounds of imagined trials from
 * the incumbent (the same as follow each real one); a proposal awaiting its
 * outcome stays pending. Returns the PPO updates made, -EAGAIN before the
 * model has its initial trials, or -errno.
 */
int kp_rollout_train(struct kp_rollout *r, int rounds);
/* The base policy (PPO): steps from the incumbent, observation as in tuning.md. */
struct kp_ppo *kp_rollout_policy(struct kp_rollout *r);

#endif
