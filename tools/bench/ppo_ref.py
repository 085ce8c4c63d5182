#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""PyTorch PPO reference for tools/bench/ppo.

The algorithm and hyperparameters of CleanRL's ppo.py (4 envs x 128 steps,
4 minibatches, 4 epochs, lr 2.5e-4 annealed over 500k steps, gamma 0.99,
lambda 0.95, clip 0.2 with value clipping, ent 0.01, vf 0.5, grad norm 0.5,
Adam eps 1e-5, 64-64 tanh actor and critic with orthogonal init), written
from the paper and the published hyperparameters. CartPole-v1 is gym's
dynamics in numpy (gym is not a dependency). One deliberate difference from
ppo.py, shared with the C agent: a truncated episode (500 steps) bootstraps
the value of its final observation instead of counting as a terminal state.

Prints one line per seed:
  REF seed=N steps_to_475=S wall_to_475=W env_sps=X update_ms=U
and one line for inference latency:
  REF infer_us=L
Run with OMP_NUM_THREADS=1 under taskset -c 0; the script also sets
torch.set_num_threads(1).
"""
import argparse
import math
import time

import numpy as np
import torch
import torch.nn as nn
from torch.distributions.categorical import Categorical


class CartPoleVec:
    """N CartPole-v1 environments with gym's constants, auto-reset."""

    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    total_mass = masspole + masscart
    polemass_length = masspole * length
    theta_threshold = 12 * 2 * math.pi / 360
    x_threshold = 2.4

    def __init__(self, n, seed):
        self.n = n
        self.rng = np.random.default_rng(seed)
        self.state = self.rng.uniform(-0.05, 0.05, size=(n, 4))
        self.steps = np.zeros(n, dtype=np.int64)

    def obs(self):
        return self.state.astype(np.float32)

    def step(self, action):
        x, x_dot, theta, theta_dot = self.state.T
        force = np.where(action == 1, self.force_mag, -self.force_mag)
        costheta, sintheta = np.cos(theta), np.sin(theta)
        temp = (force + self.polemass_length * theta_dot ** 2 * sintheta) / self.total_mass
        thetaacc = (9.8 * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * costheta ** 2 / self.total_mass))
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        x = x + self.tau * x_dot
        x_dot = x_dot + self.tau * xacc
        theta = theta + self.tau * theta_dot
        theta_dot = theta_dot + self.tau * thetaacc
        self.state = np.stack([x, x_dot, theta, theta_dot], axis=1)
        self.steps += 1
        term = (x < -self.x_threshold) | (x > self.x_threshold) | \
               (theta < -self.theta_threshold) | (theta > self.theta_threshold)
        trunc = ~term & (self.steps >= 500)
        final = self.obs()
        done = term | trunc
        if done.any():
            k = int(done.sum())
            self.state[done] = self.rng.uniform(-0.05, 0.05, size=(k, 4))
            self.steps[done] = 0
        return self.obs(), np.ones(self.n, dtype=np.float32), term, trunc, final


def layer_init(layer, std=np.sqrt(2), bias_const=0.0):
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


class Agent(nn.Module):
    def __init__(self, obs_dim, n_actions):
        super().__init__()
        self.critic = nn.Sequential(
            layer_init(nn.Linear(obs_dim, 64)), nn.Tanh(),
            layer_init(nn.Linear(64, 64)), nn.Tanh(),
            layer_init(nn.Linear(64, 1), std=1.0))
        self.actor = nn.Sequential(
            layer_init(nn.Linear(obs_dim, 64)), nn.Tanh(),
            layer_init(nn.Linear(64, 64)), nn.Tanh(),
            layer_init(nn.Linear(64, n_actions), std=0.01))

    def get_value(self, x):
        return self.critic(x)

    def get_action_and_value(self, x, action=None):
        logits = self.actor(x)
        probs = Categorical(logits=logits)
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action), probs.entropy(), self.critic(x)


def run(seed, args):
    torch.manual_seed(seed)
    np.random.seed(seed)
    num_envs, num_steps = 4, 128
    batch = num_envs * num_steps
    minibatch = batch // 4
    iterations = args.total_steps // batch
    gamma, lam, clip, ent_coef, vf_coef, max_norm = 0.99, 0.95, 0.2, 0.01, 0.5, 0.5
    lr0 = 2.5e-4

    envs = CartPoleVec(num_envs, seed)
    agent = Agent(4, 2)
    opt = torch.optim.Adam(agent.parameters(), lr=lr0, eps=1e-5)
    obs = torch.zeros((num_steps, num_envs, 4))
    actions = torch.zeros((num_steps, num_envs))
    logprobs = torch.zeros((num_steps, num_envs))
    rewards = torch.zeros((num_steps, num_envs))
    dones = torch.zeros((num_steps, num_envs))
    values = torch.zeros((num_steps, num_envs))

    next_obs = torch.tensor(envs.obs())
    ep_ret = np.zeros(num_envs)
    window = []
    global_step = 0
    rollout_s = update_s = 0.0
    start = time.perf_counter()
    reached = None
    for it in range(1, iterations + 1):
        frac = 1.0 - (it - 1.0) / iterations
        opt.param_groups[0]["lr"] = frac * lr0
        t0 = time.perf_counter()
        for step in range(num_steps):
            global_step += num_envs
            obs[step] = next_obs
            with torch.no_grad():
                action, logprob, _, value = agent.get_action_and_value(next_obs)
                values[step] = value.flatten()
            actions[step] = action
            logprobs[step] = logprob
            o, r, term, trunc, final = envs.step(action.numpy())
            r = r.astype(np.float32)
            if trunc.any():
                with torch.no_grad():
                    fv = agent.get_value(torch.tensor(final[trunc])).flatten().numpy()
                r[trunc] += gamma * fv
            rewards[step] = torch.tensor(r)
            dones[step] = torch.tensor((term | trunc).astype(np.float32))
            next_obs = torch.tensor(o)
            ep_ret += 1
            for e in np.nonzero(term | trunc)[0]:
                window.append(ep_ret[e])
                ep_ret[e] = 0
                if len(window) > 100:
                    window.pop(0)
            if reached is None and len(window) == 100 and np.mean(window) >= 475:
                reached = (global_step, time.perf_counter() - start)
        rollout_s += time.perf_counter() - t0
        if reached:
            break

        t0 = time.perf_counter()
        with torch.no_grad():
            next_value = agent.get_value(next_obs).reshape(1, -1)
            advantages = torch.zeros_like(rewards)
            lastgaelam = 0
            for t in reversed(range(num_steps)):
                # dones[t]: the episode ended at step t (the sample above
                # already folded a truncation's bootstrap into its reward).
                nonterminal = 1.0 - dones[t]
                nextvalues = next_value if t == num_steps - 1 else values[t + 1]
                delta = rewards[t] + gamma * nextvalues * nonterminal - values[t]
                advantages[t] = lastgaelam = delta + gamma * lam * nonterminal * lastgaelam
            returns = advantages + values

        b_obs = obs.reshape((-1, 4))
        b_logprobs = logprobs.reshape(-1)
        b_actions = actions.reshape(-1)
        b_advantages = advantages.reshape(-1)
        b_returns = returns.reshape(-1)
        b_values = values.reshape(-1)
        b_inds = np.arange(batch)
        for epoch in range(4):
            np.random.shuffle(b_inds)
            for s in range(0, batch, minibatch):
                mb = b_inds[s:s + minibatch]
                _, newlogprob, entropy, newvalue = agent.get_action_and_value(
                    b_obs[mb], b_actions.long()[mb])
                logratio = newlogprob - b_logprobs[mb]
                ratio = logratio.exp()
                mb_adv = b_advantages[mb]
                mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                pg_loss1 = -mb_adv * ratio
                pg_loss2 = -mb_adv * torch.clamp(ratio, 1 - clip, 1 + clip)
                pg_loss = torch.max(pg_loss1, pg_loss2).mean()
                newvalue = newvalue.view(-1)
                v_loss_unclipped = (newvalue - b_returns[mb]) ** 2
                v_clipped = b_values[mb] + torch.clamp(newvalue - b_values[mb], -clip, clip)
                v_loss_clipped = (v_clipped - b_returns[mb]) ** 2
                v_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
                loss = pg_loss - ent_coef * entropy.mean() + v_loss * vf_coef
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), max_norm)
                opt.step()
        update_s += time.perf_counter() - t0
    wall = time.perf_counter() - start
    nupd = max(1, it - (1 if reached else 0))
    steps_to = reached[0] if reached else -1
    wall_to = reached[1] if reached else -1
    print(f"REF seed={seed} steps_to_475={steps_to} wall_to_475={wall_to:.3f} "
          f"env_sps={global_step / rollout_s:.0f} update_ms={1000 * update_s / nupd:.3f} "
          f"wall={wall:.3f}", flush=True)
    return agent


def infer_latency(agent, n=3000):
    x = torch.zeros((1, 4))
    with torch.no_grad():
        for _ in range(200):
            agent.get_action_and_value(x)
        t0 = time.perf_counter()
        for _ in range(n):
            agent.get_action_and_value(x)
        return (time.perf_counter() - t0) / n * 1e6


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default="1,2,3,4,5", help="comma-separated seeds")
    p.add_argument("--total-steps", type=int, default=500000,
                   help="annealing horizon and step budget (CleanRL: 500000)")
    args = p.parse_args()
    torch.set_num_threads(1)
    agent = None
    for s in args.seeds.split(","):
        agent = run(int(s), args)
    print(f"REF infer_us={infer_latency(agent):.2f}", flush=True)


if __name__ == "__main__":
    main()
