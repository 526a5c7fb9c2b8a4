"""DDPG (Lillicrap et al., 2016): deterministic actor, Q critic, Polyak-averaged targets, batched on the device.

    y = r + gamma^m (1 - terminated) Q'(s', mu'(s'))          L_critic = (Q(s, a) - y)^2
    L_actor = -Q(s, mu(s)) + lambda_T ||mu(s) - mu(s')||^2  every policy_delay critic steps
    theta' <- theta' + tau (theta - theta')

``lambda_T`` (``action_smoothness``, 0 = plain DDPG) is the temporal smoothness term of CAPS (Mysore et al., 2021,
"Regularizing Action Policies for Smooth Control with Reinforcement Learning"): it penalises a deterministic actor
whose effort jumps between consecutive states, the high-gain chatter that otherwise holds the Isaac-preset Cartpole
just below its bar (cart and pole velocities, not the angle, cost the reward there).

Exploration adds per-env Gaussian or Ornstein-Uhlenbeck noise (:mod:`isaac_rl.algorithms.noise`), owned here.
Everything is stacked over the ``K`` agents of a population (``K = 1`` for one run; see :mod:`.dqn`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Dict, Iterator, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from isaac_rl.algorithms.base import every, module_tensors
from isaac_rl.algorithms.common import Critic, PerAgent, agent_tensor, gradient_step
from isaac_rl.algorithms.networks import (
    agent_generators,
    mlp,
    per_tensor,
    polyak_update,
    select_agent,
)
from isaac_rl.algorithms.noise import Noise, make_noise, noise_tensors
from isaac_rl.algorithms.optim import Adam
from isaac_rl.algorithms.population import by_agent, values
from isaac_rl.algorithms.settings import (
    AlgoSettings,
    NoiseSettings,
    check_at_least_one,
    check_non_negative,
    check_positive,
)
from isaac_rl.core.contract import VecEnv, canonical_device
from isaac_rl.core.types import Batch


@dataclass
class DDPGSettings(AlgoSettings, NoiseSettings):
    """``train.algo`` of ``name: DDPG`` (see :class:`DDPG` and :class:`~isaac_rl.algorithms.settings.NoiseSettings`)."""

    PER_AGENT = AlgoSettings.PER_AGENT + ("actor_lr", "critic_lr", "noise_sigma", "action_smoothness")

    name: str = "DDPG"
    actor_lr: float = 1e-3
    critic_lr: float = 1e-3
    policy_delay: int = 1
    action_smoothness: float = 0.0

    def check(self, prefix: str) -> None:
        super().check(prefix)
        self.check_noise(prefix)
        check_positive(prefix, actor_lr=self.actor_lr, critic_lr=self.critic_lr)
        check_at_least_one(prefix, policy_delay=self.policy_delay)
        check_non_negative(prefix, action_smoothness=self.action_smoothness)


class Actor(nn.Module):
    """``mu(s) = action_scale * tanh(MLP(s))`` per agent: float ``[K, N, obs_dim]`` -> ``[K, N, act_dim]``."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int], device: torch.device,
                 generators: Sequence[torch.Generator], action_scale: float = 1.0) -> None:
        super().__init__()
        self.net = mlp(obs_dim, hidden, act_dim, device, generators)
        self.action_scale = action_scale

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.action_scale * torch.tanh(self.net(obs))


class DDPG:
    """Deep deterministic policy gradient over normalised efforts in ``[-1, 1]``.

    Args:
        obs_dim, act_dim: Observation and action widths.
        device: Where the networks live.
        noise: Per-env exploration noise (``None``: none, pure exploitation).
        seeds: Agent ``k``'s initial weights come from a generator seeded ``seeds[k]`` (``K = len(seeds)``).
        hidden: Hidden widths of actor and critic.
        actor_lr, critic_lr: Adam learning rates (per agent).
        gamma: Discount factor (per agent).
        tau: Polyak factor of both target updates (per agent).
        policy_delay: Critic steps per actor (and target) step; 1 is plain DDPG (a host-side phase).
        max_grad_norm: Gradient clipping norm (0 disables).
        layer_norm: LayerNorm in the critic's hidden layers (steadier TD learning at high learning rates).
        action_smoothness: ``lambda_T`` of the actor's temporal smoothness penalty (per agent; 0 disables).
    """

    critic_class: Any = Critic  # TD3: twin critics

    def __init__(self, obs_dim: int, act_dim: int, device: torch.device, noise: Optional[Noise] = None,
                 seeds: Sequence[int] = (0,), hidden: Sequence[int] = (64, 64), actor_lr: PerAgent = 1e-3,
                 critic_lr: PerAgent = 1e-3, gamma: PerAgent = 0.99, tau: PerAgent = 0.005, policy_delay: int = 1,
                 max_grad_norm: float = 0.0, layer_norm: bool = False, action_smoothness: PerAgent = 0.0) -> None:
        self.device, self.act_dim, self.action_dim, self.noise = canonical_device(device), act_dim, act_dim, noise
        self.agents = len(seeds)
        generators = agent_generators(seeds)  # actor first, then critic: one stream per agent
        self.actor = Actor(obs_dim, act_dim, hidden, self.device, generators)
        self.critic = self.critic_class(obs_dim, act_dim, hidden, self.device, generators, layer_norm=layer_norm)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        # Target and online parameters in matching order, listed once: one multi-tensor Polyak update for both.
        self._targets = list(self.actor_target.parameters()) + list(self.critic_target.parameters())
        self._onlines = list(self.actor.parameters()) + list(self.critic.parameters())
        self.actor_optimizer = Adam(self.actor.parameters(), actor_lr)
        self.critic_optimizer = Adam(self.critic.parameters(), critic_lr)
        self.gamma = agent_tensor(gamma, self.agents, self.device)
        self.tau = agent_tensor(tau, self.agents, self.device).view(-1)
        self._tau_weights = per_tensor(self.tau, self._targets)
        self.policy_delay, self.max_grad_norm = policy_delay, max_grad_norm
        self._last_actor_loss = torch.zeros(self.agents, device=self.device)
        self.action_smoothness = agent_tensor(action_smoothness, self.agents, self.device).view(-1)  # [K]
        smoothness = action_smoothness if isinstance(action_smoothness, (list, tuple)) else [action_smoothness]
        self._smooth = any(float(v) > 0 for v in smoothness)  # host-side, from the settings: no tensor read

    @classmethod
    def from_config(cls, s: Sequence[DDPGSettings], env: VecEnv, seeds: Sequence[int]) -> "DDPG":
        """From each agent's checked settings (shared keys from the first) for ``env``."""
        return cls(env.obs_dim, env.action_spec.dim, env.device, **cls.keywords(s, env, seeds))

    @classmethod
    def keywords(cls, s: Sequence[DDPGSettings], env: VecEnv, seeds: Sequence[int]) -> Dict[str, Any]:
        """Constructor keywords from each agent's settings (TD3 adds its own)."""
        one = s[0]
        return dict(noise=make_noise(s, env.num_envs, env.action_spec.dim, env.device), seeds=seeds,
                    hidden=tuple(one.hidden), actor_lr=values(s, "actor_lr"), critic_lr=values(s, "critic_lr"),
                    gamma=values(s, "gamma"), tau=values(s, "tau"), policy_delay=one.policy_delay,
                    max_grad_norm=one.max_grad_norm, layer_norm=one.layer_norm,
                    action_smoothness=values(s, "action_smoothness"))

    # ------------------------------------------------------------------ acting
    @torch.no_grad()
    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """Deterministic efforts ``mu_k(s)``: float ``[K N, act_dim]`` for env-major ``[K N, obs_dim]``."""
        return self.actor(by_agent(obs, self.agents)).reshape(obs.shape[0], -1)

    @torch.no_grad()
    def explore(self, obs: torch.Tensor, clock: torch.Tensor) -> torch.Tensor:
        """``clamp(mu_k(s) + noise, -1, 1)``: float ``[K N, act_dim]``."""
        action = self.act(obs)
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
        """``y = r + gamma_k^m (1 - terminated) Q'(s', mu'(s'))`` float ``[K, B]`` (``m``: n-step horizon);
        truncations bootstrap."""
        next_q = self.critic_target(batch.next_obs, self.actor_target(batch.next_obs))
        return batch.reward + batch.discount(self.gamma) * next_q

    def update(self, batch: Batch, phase: int) -> Dict[str, torch.Tensor]:
        """One critic step of every agent; with ``phase`` 1 also one actor step and the Polyak target updates.
        Detached per-agent metrics float ``[K]``."""
        td_target = self.td_target(batch)
        q_sa = self.critic(batch.obs, batch.action)
        critic_loss = F.mse_loss(q_sa, td_target, reduction="none").mean(-1)  # [K]
        gradient_step(self.critic_optimizer, critic_loss, self.max_grad_norm)
        if phase:
            actor_loss = self.actor_loss(batch, self.critic)
            gradient_step(self.actor_optimizer, actor_loss, self.max_grad_norm)
            self._last_actor_loss.copy_(actor_loss.detach())
            polyak_update(self._targets, self._onlines, self._tau_weights)
        return {"losses/critic_loss": critic_loss.detach(), "losses/actor_loss": self._last_actor_loss,
                "losses/q_values": q_sa.detach().mean(-1)}

    def actor_loss(self, batch: Batch, q: Any) -> torch.Tensor:
        """``-Q(s, mu(s)) + lambda_T ||mu(s) - mu(s')||^2``, batch means per agent: float ``[K]``. ``q`` maps
        ``(obs, action)`` to float ``[K, B]`` (TD3: its first critic); ``s'`` is the batch's next observation (``m``
        steps on with n-step returns). The second actor pass runs only when some agent's ``lambda_T`` is set."""
        mu = self.actor(batch.obs)
        loss = -q(batch.obs, mu).mean(-1)
        if self._smooth:
            jump = (mu - self.actor(batch.next_obs)).pow(2).sum(-1).mean(-1)  # [K]
            loss = loss + self.action_smoothness * jump
        return loss

    def freeze(self, stopped: torch.Tensor) -> None:
        """Agents where bool ``stopped [K]`` is set stop learning: learning rates and Polyak factor 0."""
        for opt in self.optimizers().values():
            opt.freeze(stopped)
        self.tau.mul_((~stopped).float())

    # ------------------------------------------------------------------ parts and state
    def modules(self) -> Dict[str, nn.Module]:
        """Online and target networks."""
        return {"actor": self.actor, "critic": self.critic, "actor_target": self.actor_target,
                "critic_target": self.critic_target}

    def optimizers(self) -> Dict[str, Adam]:
        """Actor and critic Adam."""
        return {"actor_optimizer": self.actor_optimizer, "critic_optimizer": self.critic_optimizer}

    def persistent_tensors(self) -> Iterator[torch.Tensor]:
        """Networks, optimizer state, Polyak factors, the last actor loss and the noise state."""
        yield from module_tensors(*self.modules().values())
        for opt in self.optimizers().values():
            yield from opt.persistent_tensors()
        yield self.tau
        yield self._last_actor_loss
        if self.noise is not None:
            yield from noise_tensors(self.noise)

    def policy_module(self, agent: int = 0) -> nn.Module:
        """Stand-alone deterministic actor of agent ``agent`` (float ``[N, obs_dim]`` -> effort in ``[-1, 1]``)."""
        return OneAgent(select_agent(self.actor, agent))

    def state_dict(self) -> Dict[str, Any]:
        """Networks, targets, optimizers and the noise state."""
        parts = {**self.modules(), **self.optimizers()}
        state: Dict[str, Any] = {name: part.state_dict() for name, part in parts.items()}
        state["tau"] = self.tau.clone()
        if self.noise is not None and noise_tensors(self.noise):
            state["noise"] = [t.clone() for t in noise_tensors(self.noise)]
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict`."""
        for name, part in {**self.modules(), **self.optimizers()}.items():
            part.load_state_dict(state[name])
        if "tau" in state:
            self.tau.copy_(state["tau"])
        if "noise" in state and self.noise is not None:
            saved = state["noise"]
            saved = [saved] if isinstance(saved, torch.Tensor) else list(saved)  # one tensor: older checkpoints
            for mine, theirs in zip(noise_tensors(self.noise), saved):
                if mine.shape == theirs.shape:  # per env: only for the same envs
                    mine.copy_(theirs)


class OneAgent(nn.Module):
    """One agent's stacked network as a deployable module: float ``[N, obs_dim]`` -> float ``[N, act_dim]``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net.eval()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs.unsqueeze(0))[0]
