"""Glue between a learner and the env: exploration, warm-up actions, and learner actions -> normalised efforts."""

from __future__ import annotations

from typing import Union

import torch

from isaac_rl.algorithms.ddpg import DDPG
from isaac_rl.algorithms.dqn import DQN
from isaac_rl.algorithms.efforts import DiscreteEfforts
from isaac_rl.algorithms.noise import GaussianNoise, OUNoise


class DiscreteAgent:
    """DQN + epsilon-greedy; actions are long ``[N]`` indices mapped to efforts by ``DiscreteEfforts``."""

    action_dim = 0  # the replay buffer stores long indices

    def __init__(self, learner: DQN, efforts: DiscreteEfforts) -> None:
        self.learner, self.efforts = learner, efforts

    def explore(self, obs: torch.Tensor, iteration: int) -> torch.Tensor:
        """Epsilon-greedy indices ``[N]``; epsilon from the linear schedule at ``iteration`` (int or 0-d tensor)."""
        return self.learner.act(obs, self.learner.epsilon(iteration))

    def random(self, n: int) -> torch.Tensor:
        """Uniform random indices ``[n]``."""
        return self.learner.random_action(n)

    def to_env(self, action: torch.Tensor) -> torch.Tensor:
        """Indices ``[N]`` -> efforts float32 ``[N, 1]``."""
        return self.efforts(action)

    def policy(self, obs: torch.Tensor) -> torch.Tensor:
        """Greedy efforts ``[N, 1]`` for evaluation."""
        return self.efforts(self.learner.policy(obs))

    def on_done(self, done: torch.Tensor) -> None:
        """Nothing per-episode to reset."""


class ContinuousAgent:
    """DDPG + per-env Gaussian or Ornstein-Uhlenbeck noise; actions are efforts ``[N, act_dim]`` in ``[-1, 1]``."""

    def __init__(self, learner: DDPG, noise: Union[GaussianNoise, OUNoise]) -> None:
        self.learner, self.noise = learner, noise
        self.action_dim = learner.act_dim

    def explore(self, obs: torch.Tensor, iteration: int) -> torch.Tensor:
        """``clamp(mu(s) + noise, -1, 1)``."""
        return self.learner.act(obs, self.noise.sample())

    def random(self, n: int) -> torch.Tensor:
        """Uniform random efforts ``[n, act_dim]``."""
        return self.learner.random_action(n)

    def to_env(self, action: torch.Tensor) -> torch.Tensor:
        """Efforts pass through unchanged."""
        return action

    def policy(self, obs: torch.Tensor) -> torch.Tensor:
        """Deterministic efforts ``mu(s)``."""
        return self.learner.policy(obs)

    def on_done(self, done: torch.Tensor) -> None:
        """Reset the noise state of the envs whose episode ended (bool ``[N]``)."""
        self.noise.reset(done)


Agent = Union[DiscreteAgent, ContinuousAgent]
