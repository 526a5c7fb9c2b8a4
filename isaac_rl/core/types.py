"""Data that passes between storage and algorithms."""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch


class Batch(NamedTuple):
    """A sampled batch; every tensor has leading size ``B`` and lives on the buffer's device.

    Attributes:
        obs: float32 ``[B, obs_dim]``.
        action: long ``[B]`` (discrete) or float32 ``[B, act_dim]`` (continuous).
        reward: float32 ``[B]``.
        next_obs: float32 ``[B, obs_dim]``; the true final observation where the episode ended.
        terminated: float32 ``[B]``; 1.0 where the episode terminated (no bootstrap), else 0.0 (truncation bootstraps).
        horizon: float32 ``[B]``: steps ``m`` between ``obs`` and ``next_obs`` (n-step returns, see
            :mod:`isaac_rl.storage.nstep`), so the bootstrap discount is ``gamma^m``; ``None`` means 1 everywhere.
    """

    obs: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor
    horizon: Optional[torch.Tensor] = None

    def discount(self, gamma: float) -> torch.Tensor:
        """Bootstrap weight float32 ``[B]``: ``gamma^horizon * (1 - terminated)``."""
        gamma_m = gamma if self.horizon is None else torch.pow(gamma, self.horizon)
        return gamma_m * (1.0 - self.terminated)
