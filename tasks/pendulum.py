"""gymnasium's Pendulum-v1 (continuous torque swing-up) as a batched torch task, for DDPG.

State rows ``[theta, theta_dot]``; observation ``[N, 3] = [cos(theta), sin(theta), theta_dot]``. The action is a
normalised torque in ``[-1, 1]`` scaled by ``max_torque = 2 N*m``. Dynamics, cost and operation order follow
``gymnasium.envs.classic_control.PendulumEnv.step`` (g = 10, m = l = 1, dt = 0.05, speed clipped to +-8), so with
``dtype=torch.float64`` the trajectories equal gymnasium's step for step. Reward
``-(angle_normalize(th)^2 + 0.1 th_dot^2 + 0.001 u^2)`` of the state *before* the step; never terminates; 200-step
time limit; resets from ``theta ~ U[-pi, pi]``, ``theta_dot ~ U[-1, 1]``.
"""

from __future__ import annotations

import math
from typing import Tuple

import torch

from isaac_rl.core.contract import ActionSpec
from isaac_rl.tasks.torch_base import TorchTask


class Pendulum(TorchTask):
    """gymnasium's Pendulum-v1 in pure torch. Args as :class:`isaac_rl.tasks.torch_base.TorchTask`."""

    state_dim = 2
    obs_names = ("cos_theta", "sin_theta", "theta_dot")
    obs_dim = 3
    reward_max = 0.0
    _reset_low = (-math.pi, -1.0)
    _reset_high = (math.pi, 1.0)
    max_speed, max_torque, dt, g, m, l = 8.0, 2.0, 0.05, 10.0, 1.0, 1.0
    control_dt = dt  # seconds per step (optional contract attribute: deployment metadata)

    def __init__(self, num_envs: int, device: str = "cpu", seed: int = 0, dtype: torch.dtype = torch.float32,
                 max_episode_steps: int = 200, debug_checks: bool = False) -> None:
        self.action_spec = ActionSpec(dim=1, max_effort=self.max_torque)
        super().__init__(num_envs, device, seed, dtype, max_episode_steps, debug_checks)

    def physics(self, state: torch.Tensor, effort: torch.Tensor) -> torch.Tensor:
        th, th_dot = state
        u = effort * self.max_torque
        g, m, l, dt = self.g, self.m, self.l, self.dt
        new_th_dot = th_dot + (3 * g / (2 * l) * torch.sin(th) + 3.0 / (m * l ** 2) * u) * dt
        new_th_dot = new_th_dot.clamp(-self.max_speed, self.max_speed)
        return torch.stack((th + new_th_dot * dt, new_th_dot))

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        th, th_dot = state
        return torch.stack((torch.cos(th), torch.sin(th), th_dot), dim=-1)

    def _reward_terminated(self, state: torch.Tensor, effort: torch.Tensor, next_state: torch.Tensor,
                           next_obs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        th, th_dot = state
        u = effort * self.max_torque
        normalised = torch.remainder(th + math.pi, 2 * math.pi) - math.pi
        costs = normalised ** 2 + 0.1 * th_dot ** 2 + 0.001 * (u ** 2)
        return -costs, torch.zeros_like(th, dtype=torch.bool)
