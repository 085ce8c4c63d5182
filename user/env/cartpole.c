// SPDX-License-Identifier: GPL-2.0
/* CartPole-v1 (gym classic_control/cartpole.py) and an episode tracker. */
#include <math.h>
#include <string.h>
#include "env/cartpole.h"

#define GRAVITY 9.8
#define MASSCART 1.0
#define MASSPOLE 0.1
#define TOTAL_MASS (MASSPOLE + MASSCART)
#define LENGTH 0.5		/* half the pole's length */
#define POLEMASS_LENGTH (MASSPOLE * LENGTH)
#define FORCE_MAG 10.0
#define TAU 0.02
#define THETA_THRESHOLD (12 * 2 * M_PI / 360)
#define X_THRESHOLD 2.4

void kp_cartpole_seed(struct kp_cartpole *c, uint64_t seed)
{
	memset(c, 0, sizeof(*c));
	kp_rng_seed(&c->rng, seed);
}

static void observe(const struct kp_cartpole *c, float *obs)
{
	int i;

	for (i = 0; i < 4; i++)
		obs[i] = (float)c->s[i];
}

void kp_cartpole_reset(struct kp_cartpole *c, float *obs)
{
	int i;

	for (i = 0; i < 4; i++)
		c->s[i] = -0.05 + 0.1 * kp_rng_uniform(&c->rng);
	c->steps = 0;
	observe(c, obs);
}

float kp_cartpole_step(struct kp_cartpole *c, int action, float *obs,
		       bool *terminated, bool *truncated)
{
	double x = c->s[0], x_dot = c->s[1], theta = c->s[2], theta_dot = c->s[3];
	double force = action == 1 ? FORCE_MAG : -FORCE_MAG;
	double costheta = cos(theta), sintheta = sin(theta);
	double temp = (force + POLEMASS_LENGTH * theta_dot * theta_dot * sintheta) / TOTAL_MASS;
	double thetaacc = (GRAVITY * sintheta - costheta * temp) /
		(LENGTH * (4.0 / 3.0 - MASSPOLE * costheta * costheta / TOTAL_MASS));
	double xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS;

	/* gym's default "euler" integrator: positions use the old velocities. */
	x = x + TAU * x_dot;
	x_dot = x_dot + TAU * xacc;
	theta = theta + TAU * theta_dot;
	theta_dot = theta_dot + TAU * thetaacc;
	c->s[0] = x;
	c->s[1] = x_dot;
	c->s[2] = theta;
	c->s[3] = theta_dot;
	c->steps++;
	*terminated = x < -X_THRESHOLD || x > X_THRESHOLD ||
		      theta < -THETA_THRESHOLD || theta > THETA_THRESHOLD;
	*truncated = !*terminated && c->steps >= KP_CARTPOLE_MAX_STEPS;
	observe(c, obs);
	return 1.0f;
}

void kp_episodes_init(struct kp_episodes *e, int window)
{
	memset(e, 0, sizeof(*e));
	if (window < 1)
		window = 1;
	if (window > (int)(sizeof(e->ret) / sizeof(e->ret[0])))
		window = sizeof(e->ret) / sizeof(e->ret[0]);
	e->window = window;
}

void kp_episodes_add(struct kp_episodes *e, double ret)
{
	if (e->n == e->window) {
		e->sum -= e->ret[e->head];
	} else {
		e->n++;
	}
	e->ret[e->head] = ret;
	e->sum += ret;
	e->head = (e->head + 1) % e->window;
	e->count++;
}

double kp_episodes_mean(const struct kp_episodes *e)
{
	return e->n ? e->sum / e->n : -INFINITY;
}

bool kp_episodes_reached(const struct kp_episodes *e, double threshold)
{
	return e->n == e->window && e->sum / e->n >= threshold;
}

static int cartpole_reset(struct kp_env *e, float *obs, char *why, size_t len)
{
	kp_cartpole_reset(e->priv, obs);
	return 0;
}

static int cartpole_step(struct kp_env *e, const double *action, float *obs, double *reward,
			 bool *done, char *why, size_t len)
{
	bool terminated, truncated;

	*reward = kp_cartpole_step(e->priv, action[0] >= 0.5, obs, &terminated, &truncated);
	*done = terminated || truncated;
	return 0;
}

static const struct kp_env_ops cartpole_ops = { .reset = cartpole_reset, .step = cartpole_step };

void kp_cartpole_env(struct kp_cartpole *c, struct kp_env *e)
{
	*e = (struct kp_env){ .name = "cartpole", .ops = &cartpole_ops, .priv = c,
			      .obs_dim = KP_CARTPOLE_OBS, .n_actions = KP_CARTPOLE_ACTIONS };
}
