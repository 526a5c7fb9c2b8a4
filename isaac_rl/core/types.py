"""Data that passes between storage and algorithms."""

from __future__ import annotations

from typing import NamedTuple, Optional, Union

import torch


class Batch(NamedTuple):
    """A sampled batch for ``K`` agents; every tensor has leading sizes ``[K, B]`` (agent ``k``'s own transitions
    in row ``k``) and lives on the buffer's device.

    Attributes:
        obs: float32 ``[K, B, obs_dim]``.
        action: long ``[K, B]`` (discrete) or float32 ``[K, B, act_dim]`` (continuous).
        reward: float32 ``[K, B]``.
        next_obs: float32 ``[K, B, obs_dim]``; the true final observation where the episode ended.
        terminated: float32 ``[K, B]``; 1.0 where the episode terminated (no bootstrap), else 0.0 (truncation
            bootstraps).
        horizon: float32 ``[K, B]``: steps ``m`` between ``obs`` and ``next_obs`` (n-step returns, see
            :mod:`isaac_rl.storage.nstep`), so the bootstrap discount is ``gamma^m``; ``None`` means 1 everywhere.
    """

    obs: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor
    horizon: Optional[torch.Tensor] = None

    def discount(self, gamma: Union[float, torch.Tensor]) -> torch.Tensor:
        """Bootstrap weight float32 ``[K, B]``: ``gamma_k^horizon * (1 - terminated)`` (``gamma``: a float or each
        agent's, float ``[K, 1]``)."""
        gamma_m = gamma if self.horizon is None else torch.pow(gamma, self.horizon)
        return gamma_m * (1.0 - self.terminated)
