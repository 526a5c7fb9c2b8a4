"""TD3 (Fujimoto et al., 2018, "Addressing Function Approximation Error in Actor-Critic Methods"), batched on the
device: DDPG with clipped double Q-learning, target policy smoothing and a delayed actor.

    a' = clamp(mu'(s') + clamp(N(0, target_noise^2), -target_noise_clip, target_noise_clip), -1, 1)
    y  = r + gamma^m (1 - terminated) min(Q1'(s', a'), Q2'(s', a'))        L_critic = sum_i (Q_i(s, a) - y)^2
    every policy_delay critic steps: L_actor = -Q1(s, mu(s)) (+ DDPG's optional smoothness term),
    then theta' <- theta' + tau (theta - theta')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence

import torch

from isaac_rl.algorithms.common import PerAgent, TwinCritic, gradient_step
from isaac_rl.algorithms.ddpg import DDPG, DDPGSettings
from isaac_rl.algorithms.networks import polyak_update
from isaac_rl.algorithms.noise import Noise
from isaac_rl.algorithms.settings import check_non_negative
from isaac_rl.core.contract import VecEnv
from isaac_rl.core.types import Batch


@dataclass
class TD3Settings(DDPGSettings):
    """``train.algo`` of ``name: TD3``: DDPG's keys (delay 2 by default) plus target policy smoothing (:class:`TD3`)."""

    name: str = "TD3"
    policy_delay: int = 2
    target_noise: float = 0.2
    target_noise_clip: float = 0.5

    def check(self, prefix: str) -> None:
        super().check(prefix)
        check_non_negative(prefix, target_noise=self.target_noise, target_noise_clip=self.target_noise_clip)


class TD3(DDPG):
    """Twin delayed DDPG over normalised efforts in ``[-1, 1]``: DDPG's acting, parts and state, with twin critics
    (one Adam for both), a smoothed target action and ``policy_delay`` 2 by default.

    Args:
        obs_dim, act_dim, device, noise, hidden, actor_lr, critic_lr, gamma, tau, max_grad_norm, layer_norm,
            action_smoothness: As for
            :class:`~isaac_rl.algorithms.ddpg.DDPG`.
        policy_delay: Critic steps per actor and target step (a host-side phase).
        target_noise, target_noise_clip: Scale and clip of the target policy smoothing noise (effort units).
    """

    critic_class = TwinCritic

    def __init__(self, obs_dim: int, act_dim: int, device: torch.device, noise: Optional[Noise] = None,
                 seeds: Sequence[int] = (0,), hidden: Sequence[int] = (64, 64), actor_lr: PerAgent = 1e-3,
                 critic_lr: PerAgent = 1e-3, gamma: PerAgent = 0.99, tau: PerAgent = 0.005, policy_delay: int = 2,
                 target_noise: float = 0.2, target_noise_clip: float = 0.5, max_grad_norm: float = 0.0,
                 layer_norm: bool = False, action_smoothness: PerAgent = 0.0) -> None:
        super().__init__(obs_dim, act_dim, device, noise=noise, seeds=seeds, hidden=hidden, actor_lr=actor_lr,
                         critic_lr=critic_lr, gamma=gamma, tau=tau, policy_delay=policy_delay,
                         max_grad_norm=max_grad_norm, layer_norm=layer_norm, action_smoothness=action_smoothness)
        self.target_noise, self.target_noise_clip = target_noise, target_noise_clip

    @classmethod
    def keywords(cls, s: Sequence[TD3Settings], env: VecEnv, seeds: Sequence[int]) -> Dict[str, Any]:
        """DDPG's keywords plus target policy smoothing (shared by the agents)."""
        return dict(super().keywords(s, env, seeds), target_noise=s[0].target_noise,
                    target_noise_clip=s[0].target_noise_clip)

    @torch.no_grad()
    def td_target(self, batch: Batch) -> torch.Tensor:
        """``y = r + gamma_k^m (1 - terminated) min_i Q_i'(s', a')`` float ``[K, B]`` with the smoothed target action
        ``a'``."""
        next_action = self.actor_target(batch.next_obs)
        smoothing = (torch.randn_like(next_action) * self.target_noise).clamp(-self.target_noise_clip,
                                                                              self.target_noise_clip)
        next_action = (next_action + smoothing).clamp(-1.0, 1.0)
        q1, q2 = self.critic_target(batch.next_obs, next_action)
        return batch.reward + batch.discount(self.gamma) * torch.min(q1, q2)

    def update(self, batch: Batch, phase: int) -> Dict[str, torch.Tensor]:
        """One step of both critics; with ``phase`` 1 also one actor step (on ``Q1``) and the target updates."""
        q1, critic_loss = self.critic.td_loss(batch.obs, batch.action, self.td_target(batch))
        gradient_step(self.critic_optimizer, critic_loss, self.max_grad_norm)
        if phase:
            actor_loss = self.actor_loss(batch, self.critic.q1)
            gradient_step(self.actor_optimizer, actor_loss, self.max_grad_norm)
            self._last_actor_loss.copy_(actor_loss.detach())
            polyak_update(self._targets, self._onlines, self._tau_weights)
        return {"losses/critic_loss": critic_loss.detach(), "losses/actor_loss": self._last_actor_loss,
                "losses/q_values": q1.detach().mean(-1)}
