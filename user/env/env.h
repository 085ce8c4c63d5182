/* SPDX-License-Identifier: GPL-2.0 */
/*
 * An environment: what an agent or a baseline acts on, behind one small
 * interface (Documentation/design.md): reset, then step an action to the next
 * observation, its reward and whether the episode is done. The benchmark
 * tuning run (env/benchmark/tune.h), the stream pipeline
 * (env/pipeline/pipetune.h) and the proof-of-learning tasks (cartpole.h,
 * toytune.h) implement it, so any agent or baseline runs on any of them.
 */
#ifndef KPILOT_ENV_H
#define KPILOT_ENV_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

struct kp_env;

struct kp_env_ops {
	/* Start an episode; obs receives obs_dim floats. 0 or -errno with why. */
	int (*reset)(struct kp_env *e, float *obs, char *why, size_t len);
	/*
	 * One step of action: act_dim numbers in the environment's units
	 * ([-1, 1] per knob for a benchmark, cores per operator for a
	 * pipeline), or for a discrete environment the action's number in
	 * action[0]. 0 with the next
	 * observation, the reward and done (the episode ended: terminated,
	 * truncated, or the run cannot go on); -errno with why when the
	 * environment failed.
	 */
	int (*step)(struct kp_env *e, const double *action, float *obs, double *reward, bool *done,
		    char *why, size_t len);
};

struct kp_env {
	const char *name;
	const struct kp_env_ops *ops;
	void *priv;			/* the implementation's state */
	int obs_dim;
	int act_dim;			/* continuous actions: numbers per action */
	int n_actions;			/* discrete actions: how many (0: continuous) */
};

static inline int kp_env_reset(struct kp_env *e, float *obs, char *why, size_t len)
{
	return e->ops->reset(e, obs, why, len);
}

static inline int kp_env_step(struct kp_env *e, const double *action, float *obs, double *reward,
			      bool *done, char *why, size_t len)
{
	return e->ops->step(e, action, obs, reward, done, why, len);
}

/*
 * A run (kp_tune_run, kp_pipe_tune_run) ends in 0, -EINTR (Ctrl-C),
 * -ECANCELED (the guardrails aborted it) or another -errno: it failed, and
 * why says it. kp_run_err(err) makes err one of the last kind.
 */
static inline int kp_run_err(int err)
{
	return err == -EINTR || err == -ECANCELED || err >= 0 ? -EINVAL : err;
}

static inline bool kp_run_failed(int err)
{
	return err < 0 && err != -EINTR && err != -ECANCELED;
}

#endif
