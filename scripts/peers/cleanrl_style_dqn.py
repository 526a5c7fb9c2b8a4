"""Peer for scripts/bench_train.py: a single-env DQN written the way CleanRL's ``dqn.py`` is (its published
CartPole-v1 hyper-parameters), written here for the comparison -- not CleanRL's code.

One gymnasium ``CartPole-v1`` env stepped from Python, a 120-84 Q-network, replay of 10,000 transitions, batch 128,
Adam 2.5e-4, gamma 0.99, hard target copy every 500 steps, epsilon 1 -> 0.05 over 250,000 steps, learning from step
10,000 with one gradient step every 10 env steps. Every ``--eval-every`` env steps it evaluates the greedy policy on
10 episodes (the same bar as ours: mean >= 475) and prints ``solved`` when it is met.

    python scripts/peers/cleanrl_style_dqn.py --seed 1
"""

from __future__ import annotations

import argparse
import json
import random
import time

import gymnasium as gym
import numpy as np
import torch
from torch import nn


def evaluate(q: nn.Module, seed: int, episodes: int = 10) -> float:
    env = gym.make("CartPole-v1")
    total = 0.0
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        done = False
        while not done:
            with torch.no_grad():
                action = int(q(torch.as_tensor(obs).unsqueeze(0)).argmax())
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
    return total / episodes


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--total-steps", type=int, default=500_000)
    p.add_argument("--eval-every", type=int, default=10_000)
    args = p.parse_args()
    start = time.perf_counter()
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    env = gym.make("CartPole-v1")
    q = nn.Sequential(nn.Linear(4, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 2))
    target = nn.Sequential(nn.Linear(4, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 2))
    target.load_state_dict(q.state_dict())
    opt = torch.optim.Adam(q.parameters(), lr=2.5e-4)
    size = 10_000
    obs_buf = np.zeros((size, 4), np.float32)
    next_buf = np.zeros((size, 4), np.float32)
    act_buf = np.zeros(size, np.int64)
    rew_buf = np.zeros(size, np.float32)
    term_buf = np.zeros(size, np.float32)
    obs, _ = env.reset(seed=args.seed)
    grad_steps, solved = 0, None
    for step in range(1, args.total_steps + 1):
        eps = max(0.05, 1.0 - step / 250_000 * 0.95)
        if random.random() < eps:
            action = env.action_space.sample()
        else:
            with torch.no_grad():
                action = int(q(torch.as_tensor(obs).unsqueeze(0)).argmax())
        next_obs, reward, terminated, truncated, _ = env.step(action)
        i = (step - 1) % size
        obs_buf[i], next_buf[i], act_buf[i], rew_buf[i], term_buf[i] = obs, next_obs, action, reward, terminated
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()
        if step > 10_000 and step % 10 == 0:
            idx = np.random.randint(0, min(step, size), 128)
            b_obs, b_next = torch.from_numpy(obs_buf[idx]), torch.from_numpy(next_buf[idx])
            with torch.no_grad():
                y = torch.from_numpy(rew_buf[idx]) + 0.99 * target(b_next).max(1).values * (
                    1 - torch.from_numpy(term_buf[idx]))
            q_sa = q(b_obs).gather(1, torch.from_numpy(act_buf[idx]).unsqueeze(1)).squeeze(1)
            loss = nn.functional.mse_loss(q_sa, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            grad_steps += 1
            if step % 500 == 0:
                target.load_state_dict(q.state_dict())
        if step % args.eval_every == 0 and evaluate(q, 10_000 + step) >= 475:
            solved = step
            print(f"solved at env step {step}", flush=True)
            break
    print(json.dumps({"solved_at": solved, "env_steps": step, "gradient_steps": grad_steps,
                      "wall_s": time.perf_counter() - start}), flush=True)


if __name__ == "__main__":
    main()
