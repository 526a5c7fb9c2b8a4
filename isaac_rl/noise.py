"""Per-env exploration noise for continuous actions, as tensor ops (no host sync)."""

from __future__ import annotations

import torch


class GaussianNoise:
    """Independent ``N(0, sigma^2)`` noise per env and action dimension."""

    def __init__(self, num_envs: int, action_dim: int, sigma: float, device: torch.device) -> None:
        self.shape, self.sigma, self.device = (num_envs, action_dim), sigma, device

    def sample(self) -> torch.Tensor:
        """float32 ``[N, act_dim]``."""
        return self.sigma * torch.randn(self.shape, device=self.device)

    def reset(self, done: torch.Tensor) -> None:
        """Gaussian noise has no state."""


class OUNoise:
    """Ornstein-Uhlenbeck noise (Uhlenbeck & Ornstein, 1930; used by Lillicrap et al., 2016), one state per env.

    ``x <- x + theta * (mu - x) * dt + sigma * sqrt(dt) * N(0, 1)``; ``reset(done)`` zeroes the state of the envs
    whose episode ended, so no env inherits another episode's noise.
    """

    def __init__(self, num_envs: int, action_dim: int, sigma: float, device: torch.device, theta: float = 0.15,
                 dt: float = 1e-2) -> None:
        self.state = torch.zeros((num_envs, action_dim), device=device)
        self.sigma, self.theta, self.dt = sigma, theta, dt

    def sample(self) -> torch.Tensor:
        """Advance every env's process one step; float32 ``[N, act_dim]``."""
        self.state += -self.theta * self.state * self.dt + self.sigma * self.dt ** 0.5 * torch.randn_like(self.state)
        return self.state

    def reset(self, done: torch.Tensor) -> None:
        """Zero the state where bool ``done [N]`` is set."""
        self.state.mul_((~done).unsqueeze(-1).to(self.state.dtype))
