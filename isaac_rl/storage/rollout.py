"""On-policy rollout storage: ``T`` steps of every env, then returns computed backwards over them.

    GAE(lambda) (Schulman et al., 2016, "High-Dimensional Continuous Control Using Generalized Advantage Estimation"):
        delta_t = r_t + gamma (1 - terminated_t) V(s'_t) - V(s_t)
        A_t     = delta_t + gamma lambda (1 - done_t) A_{t+1},        A_T = 0,      R_t = A_t + V(s_t)

    Q(lambda) (Watkins; as PQN uses it, Gallici et al., 2024), with m_t = max_a Q(s'_t, a):
        G_t = r_t + gamma (1 - terminated_t) (m_t + lambda (1 - done_t) (G_{t+1} - m_t)),      G_T = m_{T-1}

``s'_t`` is the true next observation of step ``t`` (:attr:`StepOut.final_obs`): the next step's observation while
the episode goes on, and the episode's last observation where it ended. So a time-out (``truncated``) bootstraps from
the value of the state the episode really reached, never from the next episode's first observation (rsl_rl
approximates it with the value of the pre-step observation), and a termination does not bootstrap at all; ``done =
terminated | truncated`` cuts the lambda recursion at every episode boundary.
"""

from __future__ import annotations

from typing import Dict, Iterator, Tuple, Union

import torch

Scalar = Union[float, torch.Tensor]  # a number, or float [N] per env (a population's per-agent values)


class RolloutStorage:
    """``T`` steps of ``N`` envs on the device, overwritten every iteration (``insert(t, ...)`` for ``t < T``).

    Attributes:
        obs: float ``[T, N, obs_dim]`` observation before each step.
        actions: stored actions, long ``[T, N]`` (discrete) or float ``[T, N, A]``.
        rewards: float ``[T, N]``.
        terminated, done: float ``[T, N]`` (1.0 where the step ended its episode by termination / at all).
        final_obs: float ``[T, N, obs_dim]``: the true next observation of each step (``StepOut.final_obs``).
        extras: per-step tensors an algorithm keeps beside (PPO: log-probabilities ``[T, N]`` and its policy's
            distribution parameters ``[T, N, D]``), by name.
    """

    def __init__(self, steps: int, num_envs: int, obs_dim: int, action_shape: Tuple[int, ...],
                 action_dtype: torch.dtype, device: torch.device, extras: Dict[str, Tuple[int, ...]]) -> None:
        t, n = steps, num_envs
        self.steps, self.num_envs = steps, num_envs
        self.obs = torch.zeros((t, n, obs_dim), device=device)
        self.actions = torch.zeros((t, n) + tuple(action_shape), dtype=action_dtype, device=device)
        self.rewards = torch.zeros((t, n), device=device)
        self.terminated = torch.zeros((t, n), device=device)
        self.done = torch.zeros((t, n), device=device)
        self.final_obs = torch.zeros((t, n, obs_dim), device=device)
        self.extras = {name: torch.zeros((t, n) + tuple(shape), device=device) for name, shape in extras.items()}

    def insert(self, t: int, obs: torch.Tensor, action: torch.Tensor, reward: torch.Tensor,
               final_obs: torch.Tensor, terminated: torch.Tensor, done: torch.Tensor,
               extras: Dict[str, torch.Tensor]) -> None:
        """Step ``t``'s transitions of every env (bool ``terminated``/``done [N]``), in place."""
        self.obs[t].copy_(obs)
        self.actions[t].copy_(action)
        self.rewards[t].copy_(reward)
        self.final_obs[t].copy_(final_obs)
        self.terminated[t].copy_(terminated)
        self.done[t].copy_(done)
        for name, value in extras.items():
            self.extras[name][t].copy_(value)

    @property
    def nbytes(self) -> int:
        """Bytes held."""
        return sum(x.numel() * x.element_size() for x in self.persistent_tensors())

    def persistent_tensors(self) -> Iterator[torch.Tensor]:
        """Every tensor ``insert`` writes in place."""
        yield from (self.obs, self.actions, self.rewards, self.terminated, self.done, self.final_obs)
        yield from self.extras.values()


def agent_major(agents: int, x: torch.Tensor) -> torch.Tensor:
    """Rollout layout ``[T, K N, ...]`` -> per-agent batches ``[K, T N, ...]`` (agent ``k``'s envs are rows
    ``k N .. (k + 1) N - 1``), for the on-policy learners' minibatches."""
    t = x.shape[0]
    rest = tuple(x.shape[2:])
    return x.view((t, agents, -1) + rest).transpose(0, 1).reshape((agents, -1) + rest)


def gae(rewards: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor, terminated: torch.Tensor,
        done: torch.Tensor, gamma: Scalar, lam: Scalar) -> Tuple[torch.Tensor, torch.Tensor]:
    """GAE(lambda) advantages and returns float ``[T, N]`` (see the module docstring) from float ``[T, N]`` rewards,
    values ``V(s_t)``, next values ``V(s'_t)`` (of the true next observation), terminated and done flags (1.0/0.0)."""
    advantages = []
    last = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        delta = rewards[t] + gamma * (1.0 - terminated[t]) * next_values[t] - values[t]
        last = delta + gamma * lam * (1.0 - done[t]) * last
        advantages.append(last)
    adv = torch.stack(advantages[::-1])
    return adv, adv + values


def q_lambda(rewards: torch.Tensor, next_max_q: torch.Tensor, terminated: torch.Tensor, done: torch.Tensor,
             gamma: Scalar, lam: Scalar) -> torch.Tensor:
    """Q(lambda) targets float ``[T, N]`` (see the module docstring) from float ``[T, N]`` rewards, ``m_t = max_a
    Q(s'_t, a)`` of the true next observations, terminated and done flags (1.0/0.0)."""
    targets = []
    following = next_max_q[-1]
    for t in reversed(range(rewards.shape[0])):
        m = next_max_q[t]
        following = rewards[t] + gamma * (1.0 - terminated[t]) * (m + lam * (1.0 - done[t]) * (following - m))
        targets.append(following)
    return torch.stack(targets[::-1])
