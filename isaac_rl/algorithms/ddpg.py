"""DDPG (Lillicrap et al., 2016): deterministic actor, Q critic, Polyak-averaged targets, batched on the device."""

from __future__ import annotations

import copy
from typing import Any, Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from isaac_rl.algorithms.networks import mlp, polyak_update
from isaac_rl.algorithms.optim import Adam
from isaac_rl.core.contract import canonical_device
from isaac_rl.core.types import Batch


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


class DDPG:
    """Deep deterministic policy gradient over normalised efforts in ``[-1, 1]``.

    Args:
        obs_dim, act_dim: Observation and action widths.
        device: Where the networks live.
        hidden: Hidden widths of actor and critic.
        actor_lr, critic_lr: Adam learning rates.
        gamma: Discount factor.
        tau: Polyak factor of both target updates.
        policy_delay: Critic steps per actor (and target) step; 1 is plain DDPG.
        max_grad_norm: Gradient clipping norm (0 disables).
        layer_norm: LayerNorm in the critic's hidden layers (steadier TD learning at high learning rates).
        capturable: Device-side update counter and capturable Adam, so one traced or CUDA-graph-captured ``update``
            is valid for all updates (``compile=True``, ``cuda_graph=True``); needs ``policy_delay == 1`` (a delayed
            actor step is a host decision per update).
    """

    def __init__(self, obs_dim: int, act_dim: int, device: torch.device, hidden: Sequence[int] = (64, 64),
                 actor_lr: float = 1e-3, critic_lr: float = 1e-3, gamma: float = 0.99, tau: float = 0.005,
                 policy_delay: int = 1, max_grad_norm: float = 0.0, layer_norm: bool = False,
                 capturable: bool = False) -> None:
        if capturable and policy_delay != 1:
            raise ValueError(f"capturable DDPG (compile=True, cuda_graph=True) needs policy_delay=1, got "
                             f"policy_delay={policy_delay}")
        self.device, self.act_dim = canonical_device(device), act_dim
        self.actor = Actor(obs_dim, act_dim, hidden, self.device)
        self.critic = Critic(obs_dim, act_dim, hidden, self.device, layer_norm=layer_norm)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        # Target and online parameters in matching order, listed once: one multi-tensor Polyak update for both
        # networks (building these lists from .parameters() took ~35 us per update on a 2-core CPU).
        self._targets = list(self.actor_target.parameters()) + list(self.critic_target.parameters())
        self._onlines = list(self.actor.parameters()) + list(self.critic.parameters())
        self.actor_optimizer = Adam(self.actor.parameters(), actor_lr, capturable=capturable)
        self.critic_optimizer = Adam(self.critic.parameters(), critic_lr, capturable=capturable)
        self.gamma, self.tau, self.policy_delay, self.max_grad_norm = gamma, tau, policy_delay, max_grad_norm
        self.capturable = capturable
        self._num_updates = 0
        self._updates_t = torch.zeros((), dtype=torch.long, device=self.device)
        self._last_actor_loss = torch.zeros((), device=self.device)

    @property
    def num_updates(self) -> int:
        """Critic steps taken (with ``capturable``, a read of the device counter)."""
        return int(self._updates_t.item()) if self.capturable else self._num_updates

    @torch.no_grad()
    def act(self, obs: torch.Tensor, noise: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``clamp(mu(s) + noise, -1, 1)``: float ``[N, act_dim]``."""
        action = self.actor(obs)
        return action if noise is None else (action + noise).clamp(-1.0, 1.0)

    def random_action(self, n: int) -> torch.Tensor:
        """Uniform random efforts float ``[n, act_dim]`` in ``[-1, 1]`` (warm-up)."""
        return torch.rand((n, self.act_dim), device=self.device) * 2.0 - 1.0

    @torch.no_grad()
    def td_target(self, batch: Batch) -> torch.Tensor:
        """``y = r + gamma^m (1 - terminated) Q'(s', mu'(s'))`` (``m``: n-step horizon); truncations bootstrap."""
        next_q = self.critic_target(batch.next_obs, self.actor_target(batch.next_obs))
        return batch.reward + batch.discount(self.gamma) * next_q

    def _step(self, optimizer: Adam, loss: torch.Tensor, module: nn.Module) -> None:
        optimizer.zero_grad(set_to_none=True)
        # Gradients of this module's parameters only: the actor loss runs through the critic, whose weight
        # gradients autograd would otherwise compute and throw away (measured ~3% of a Pendulum update on CPU).
        loss.backward(inputs=optimizer.params)
        if self.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(module.parameters(), self.max_grad_norm)
        optimizer.step()

    def update(self, batch: Batch) -> Dict[str, torch.Tensor]:
        """One critic step, and every ``policy_delay`` steps one actor step plus Polyak target updates."""
        td_target = self.td_target(batch)
        q_sa = self.critic(batch.obs, batch.action)
        critic_loss = F.mse_loss(q_sa, td_target)
        self._step(self.critic_optimizer, critic_loss, self.critic)
        if self.capturable:
            self._updates_t += 1
        else:
            self._num_updates += 1
        if self.capturable or self._num_updates % self.policy_delay == 0:
            actor_loss = -self.critic(batch.obs, self.actor(batch.obs)).mean()
            self._step(self.actor_optimizer, actor_loss, self.actor)
            self._last_actor_loss = actor_loss.detach()
            polyak_update(self._targets, self._onlines, self.tau)
        return {"losses/critic_loss": critic_loss.detach(), "losses/actor_loss": self._last_actor_loss,
                "losses/q_values": q_sa.detach().mean()}

    def policy(self, obs: torch.Tensor) -> torch.Tensor:
        """Deterministic action ``mu(s)`` for evaluation."""
        return self.act(obs)

    def modules(self) -> Dict[str, nn.Module]:
        """The learner's networks by name (online and target)."""
        return {"actor": self.actor, "critic": self.critic, "actor_target": self.actor_target,
                "critic_target": self.critic_target}

    def state_dict(self) -> Dict[str, Any]:
        """Networks, targets, optimizers and update counter."""
        return {"actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
                "actor_target": self.actor_target.state_dict(), "critic_target": self.critic_target.state_dict(),
                "actor_optimizer": self.actor_optimizer.state_dict(),
                "critic_optimizer": self.critic_optimizer.state_dict(), "num_updates": self.num_updates}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`."""
        for name in ("actor", "critic", "actor_target", "critic_target", "actor_optimizer", "critic_optimizer"):
            getattr(self, name).load_state_dict(state[name])
        self._num_updates = int(state["num_updates"])
        self._updates_t.fill_(self._num_updates)
