// SPDX-License-Identifier: GPL-2.0
/*
 * --pretrain-sim: before a PPO session acts on the real pipeline, the same
 * agent trains on the simulator (sim.h) replaying the session's rate trace,
 * one episode per pass over the trace, until sim_steps simulated intervals.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "lib/clock.h"
#include "env/pipeline/pipetune_impl.h"
#include "env/pipeline/rate_trace.h"
#include "env/pipeline/sim.h"

#define KP_PRETRAIN_EPISODE_MAX	3600	/* intervals of an episode without a rate trace */

/* Intervals one pass over the rate trace takes (the whole budget without one). */
static int episode_len(const struct kp_pipe_tune_opts *o, int left)
{
	double n;

	if (!o->rate_trace)
		return left < KP_PRETRAIN_EPISODE_MAX ? left : KP_PRETRAIN_EPISODE_MAX;
	n = ceil(kp_rate_trace_duration(o->rate_trace) / o->rate_speed /
		 o->pretrain->interval_s);
	return n < 1 ? 1 : n > left ? left : (int)n;
}

int kp_pt_pretrain(struct pt *t, char *why, size_t len)
{
	struct kp_pipe_backend be = kp_pipe_sim;
	struct kp_pipe_tune_opts so = *t->o;
	struct kp_sim_model m = *t->o->pretrain;
	char dir[4200], out[4200], msg[1024];
	double t1 = kp_mono_s();
	int left = t->o->sim_steps, err = 0;

	be.arg = &m;
	so.backend = &be;
	so.ppo = t->ppo;
	so.pretrain = NULL;
	so.force_regression = 0;
	so.deploy.verify = 0;	/* the simulator is where every action may be tried */
	so.quiet = true;
	so.json = so.progress = false;
	snprintf(dir, sizeof(dir), "%s/pretrain", t->dir);
	so.out_dir = dir;
	kp_pt_say(t, "pretraining on the simulator (%s): %d steps", t->d->name, left);
	while (left > 0 && !err) {
		so.trials = episode_len(t->o, left);
		m.seed = t->o->seed + t->pretrain_episodes;	/* each episode its own noise */
		err = kp_pipe_tune_run(&so, out, sizeof(out), msg, sizeof(msg));
		if (err) {
			snprintf(why, len, "pretraining on the simulator, episode %d: %s",
				 t->pretrain_episodes + 1, msg);
			break;
		}
		t->pretrain_episodes++;
		t->pretrain_steps += so.trials;
		left -= so.trials;
	}
	if (!err)
		kp_pt_say(t, "pretrained: %d steps in %d episodes, %.1f s; results of the last: %s",
			  t->pretrain_steps, t->pretrain_episodes, kp_mono_s() - t1, dir);
	return err;
}
