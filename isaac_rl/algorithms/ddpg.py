"""DDPG (Lillicrap et al., 2016): deterministic actor, Q critic, Polyak-averaged targets, batched on the device.

    y = r + gamma^m (1 - terminated) Q'(s', mu'(s'))          L_critic = (Q(s, a) - y)^2
    L_actor = -Q(s, mu(s))  every policy_delay critic steps   theta' <- theta' + tau (theta - theta')

Exploration adds per-env Gaussian or Ornstein-Uhlenbeck noise (:mod:`isaac_rl.algorithms.noise`), owned here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Dict, Iterator, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from isaac_rl.algorithms.base import every, module_tensors
from isaac_rl.algorithms.networks import mlp, polyak_update
from isaac_rl.algorithms.noise import Noise, make_noise, noise_tensors
from isaac_rl.algorithms.optim import Adam
from isaac_rl.algorithms.settings import AlgoSettings, NoiseSettings, check_at_least_one, check_positive
from isaac_rl.core.contract import VecEnv, canonical_device
from isaac_rl.core.types import Batch


@dataclass
class DDPGSettings(AlgoSettings, NoiseSettings):
    """``train.algo`` of ``name: DDPG`` (see :class:`DDPG` and :class:`~isaac_rl.algorithms.settings.NoiseSettings`)."""

    name: str = "DDPG"
    actor_lr: float = 1e-3
    critic_lr: float = 1e-3
    policy_delay: int = 1

    def check(self, prefix: str) -> None:
        super().check(prefix)
        self.check_noise(prefix)
        check_positive(prefix, actor_lr=self.actor_lr, critic_lr=self.critic_lr)
        check_at_least_one(prefix, policy_delay=self.policy_delay)


class Actor(nn.Module):
    """``mu(s) = action_scale * tanh(MLP(s))``: float ``[N, obs_dim]`` -> float ``[N, act_dim]`` in +-action_scale."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int], device: torch.device,
                 action_scale: float = 1.0) -> None:
        super().__init__()
        self.net = mlp(obs_dim, hidden, act_dim, device)
        self.action_scale = action_scale

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.action_scale * torch.tanh(self.net(obs))


class Critic(nn.Module):
    """``Q(s, a)``: float ``[B, obs_dim]`` and ``[B, act_dim]`` -> float ``[B]``."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int], device: torch.device,
                 layer_norm: bool = False) -> None:
        super().__init__()
        self.net = mlp(obs_dim + act_dim, hidden, 1, device, layer_norm=layer_norm)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat((obs, action), dim=-1)).squeeze(-1)


def gradient_step(optimizer: Adam, loss: torch.Tensor, max_grad_norm: float) -> None:
    """``loss.backward()`` into this optimizer's parameters only, optional clipping, one Adam step. Only these
    gradients: an actor loss runs through the critic, whose weight gradients would otherwise be computed and thrown
    away."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward(inputs=optimizer.params)
    if max_grad_norm > 0:
        torch.nn.utils.clip_grad_norm_(optimizer.params, max_grad_norm)
    optimizer.step()


class DDPG:
    """Deep deterministic policy gradient over normalised efforts in ``[-1, 1]``.

    Args:
        obs_dim, act_dim: Observation and action widths.
        device: Where the networks live.
        noise: Per-env exploration noise (``None``: none, pure exploitation).
        hidden: Hidden widths of actor and critic.
        actor_lr, critic_lr: Adam learning rates.
        gamma: Discount factor.
        tau: Polyak factor of both target updates.
        policy_delay: Critic steps per actor (and target) step; 1 is plain DDPG (a host-side phase).
        max_grad_norm: Gradient clipping norm (0 disables).
        layer_norm: LayerNorm in the critic's hidden layers (steadier TD learning at high learning rates).
    """

    critic_class: Any = Critic  # TD3: twin critics

    def __init__(self, obs_dim: int, act_dim: int, device: torch.device, noise: Optional[Noise] = None,
                 hidden: Sequence[int] = (64, 64), actor_lr: float = 1e-3, critic_lr: float = 1e-3,
                 gamma: float = 0.99, tau: float = 0.005, policy_delay: int = 1, max_grad_norm: float = 0.0,
                 layer_norm: bool = False) -> None:
        self.device, self.act_dim, self.action_dim, self.noise = canonical_device(device), act_dim, act_dim, noise
        self.actor = Actor(obs_dim, act_dim, hidden, self.device)
        self.critic = self.critic_class(obs_dim, act_dim, hidden, self.device, layer_norm=layer_norm)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        # Target and online parameters in matching order, listed once: one multi-tensor Polyak update for both.
        self._targets = list(self.actor_target.parameters()) + list(self.critic_target.parameters())
        self._onlines = list(self.actor.parameters()) + list(self.critic.parameters())
        self.actor_optimizer = Adam(self.actor.parameters(), actor_lr)
        self.critic_optimizer = Adam(self.critic.parameters(), critic_lr)
        self.gamma, self.tau, self.policy_delay, self.max_grad_norm = gamma, tau, policy_delay, max_grad_norm
        self._last_actor_loss = torch.zeros((), device=self.device)

    @classmethod
    def from_config(cls, s: DDPGSettings, env: VecEnv) -> "DDPG":
        """From checked settings for ``env``."""
        act_dim = env.action_spec.dim
        return cls(env.obs_dim, act_dim, env.device, noise=make_noise(s, env.num_envs, act_dim, env.device),
                   hidden=tuple(s.hidden), actor_lr=s.actor_lr, critic_lr=s.critic_lr, gamma=s.gamma, tau=s.tau,
                   policy_delay=s.policy_delay, max_grad_norm=s.max_grad_norm, layer_norm=s.layer_norm)

    # ------------------------------------------------------------------ acting
    @torch.no_grad()
    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """Deterministic efforts ``mu(s)``: float ``[N, act_dim]``."""
        return self.actor(obs)

    @torch.no_grad()
    def explore(self, obs: torch.Tensor, clock: torch.Tensor) -> torch.Tensor:
        """``clamp(mu(s) + noise, -1, 1)``: float ``[N, act_dim]``."""
        action = self.actor(obs)
        return action if self.noise is None else (action + self.noise.sample()).clamp(-1.0, 1.0)

    def random_action(self, n: int) -> torch.Tensor:
        """Uniform random efforts float ``[n, act_dim]`` in ``[-1, 1]`` (warm-up)."""
        return torch.rand((n, self.act_dim), device=self.device) * 2.0 - 1.0

    def to_env(self, action: torch.Tensor) -> torch.Tensor:
        """Efforts pass through unchanged."""
        return action

    def on_episode_end(self, done: torch.Tensor) -> None:
        """Reset the noise state of the envs whose episode ended (bool ``[N]``)."""
        if self.noise is not None:
            self.noise.reset(done)

    # ------------------------------------------------------------------ learning
    def phase(self, update_index: int) -> int:
        """1 when this update also takes the actor step and the target updates (every ``policy_delay``-th)."""
        return every(self.policy_delay, update_index)

    @torch.no_grad()
    def td_target(self, batch: Batch) -> torch.Tensor:
        """``y = r + gamma^m (1 - terminated) Q'(s', mu'(s'))`` (``m``: n-step horizon); truncations bootstrap."""
        next_q = self.critic_target(batch.next_obs, self.actor_target(batch.next_obs))
        return batch.reward + batch.discount(self.gamma) * next_q

    def update(self, batch: Batch, phase: int) -> Dict[str, torch.Tensor]:
        """One critic step; with ``phase`` 1 also one actor step and the Polyak target updates."""
        td_target = self.td_target(batch)
        q_sa = self.critic(batch.obs, batch.action)
        critic_loss = F.mse_loss(q_sa, td_target)
        gradient_step(self.critic_optimizer, critic_loss, self.max_grad_norm)
        if phase:
            actor_loss = -self.critic(batch.obs, self.actor(batch.obs)).mean()
            gradient_step(self.actor_optimizer, actor_loss, self.max_grad_norm)
            self._last_actor_loss.copy_(actor_loss.detach())
            polyak_update(self._targets, self._onlines, self.tau)
        return {"losses/critic_loss": critic_loss.detach(), "losses/actor_loss": self._last_actor_loss,
                "losses/q_values": q_sa.detach().mean()}

    # ------------------------------------------------------------------ parts and state
    def modules(self) -> Dict[str, nn.Module]:
        """Online and target networks."""
        return {"actor": self.actor, "critic": self.critic, "actor_target": self.actor_target,
                "critic_target": self.critic_target}

    def optimizers(self) -> Dict[str, Adam]:
        """Actor and critic Adam."""
        return {"actor_optimizer": self.actor_optimizer, "critic_optimizer": self.critic_optimizer}

    def persistent_tensors(self) -> Iterator[torch.Tensor]:
        """Networks, optimizer state, the last actor loss and the noise state."""
        yield from module_tensors(*self.modules().values())
        for opt in self.optimizers().values():
            yield from opt.persistent_tensors()
        yield self._last_actor_loss
        if self.noise is not None:
            yield from noise_tensors(self.noise)

    def policy_module(self) -> nn.Module:
        """Stand-alone deterministic actor (obs -> effort in ``[-1, 1]``)."""
        return copy.deepcopy(self.actor).eval()

    def state_dict(self) -> Dict[str, Any]:
        """Networks, targets, optimizers and the noise state."""
        parts = {**self.modules(), **self.optimizers()}
        state: Dict[str, Any] = {name: part.state_dict() for name, part in parts.items()}
        if self.noise is not None and noise_tensors(self.noise):
            state["noise"] = noise_tensors(self.noise)[0].clone()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict`."""
        for name, part in {**self.modules(), **self.optimizers()}.items():
            part.load_state_dict(state[name])
        if "noise" in state and self.noise is not None and noise_tensors(self.noise):
            noise_tensors(self.noise)[0].copy_(state["noise"])
