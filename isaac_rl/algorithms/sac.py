"""SAC (Haarnoja et al., 2018, "Soft Actor-Critic Algorithms and Applications") with automatic entropy tuning,
batched on the device. The policy is a tanh-squashed Gaussian over normalised efforts:

    u ~ N(mu(s), sigma(s)^2),  a = tanh(u),  log pi(a|s) = log N(u) - sum log(1 - tanh(u)^2)
    y = r + gamma^m (1 - terminated) (min_i Q_i'(s', a') - alpha log pi(a'|s')),  a' ~ pi(.|s')
    L_Q = sum_i (Q_i(s, a) - y)^2;   L_pi = alpha log pi(a|s) - min_i Q_i(s, a), a ~ pi(.|s)
    L_alpha = -log(alpha) (log pi(a|s) + target_entropy),  target_entropy = -act_dim by default

The critics' targets follow by Polyak averaging after every update; the actor and temperature step every
``policy_delay`` updates (a host-side phase; 1 by default). Everything is stacked over the ``K`` agents of a
population (``K = 1`` for one run; see :mod:`.dqn`).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Dict, Iterator, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from isaac_rl.algorithms.base import every, module_tensors
from isaac_rl.algorithms.common import PerAgent, TwinCritic, agent_tensor, gradient_step
from isaac_rl.algorithms.networks import StackedModule, agent_generators, mlp, per_tensor, polyak_update, select_agent
from isaac_rl.algorithms.optim import Adam
from isaac_rl.algorithms.population import by_agent, values
from isaac_rl.algorithms.settings import AlgoSettings, check_at_least_one, check_positive
from isaac_rl.core.contract import VecEnv, canonical_device
from isaac_rl.core.settings import is_num, need
from isaac_rl.core.types import Batch

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


@dataclass
class SACSettings(AlgoSettings):
    """``train.algo`` of ``name: SAC`` (see :class:`SAC`)."""

    PER_AGENT = AlgoSettings.PER_AGENT + ("actor_lr", "critic_lr", "alpha_lr", "init_alpha", "target_entropy")

    name: str = "SAC"
    actor_lr: float = 1e-3
    critic_lr: float = 1e-3
    alpha_lr: float = 1e-3
    init_alpha: float = 1.0
    autotune: bool = True
    target_entropy: Optional[float] = None
    policy_delay: int = 1

    def check(self, prefix: str) -> None:
        super().check(prefix)
        check_positive(prefix, actor_lr=self.actor_lr, critic_lr=self.critic_lr, alpha_lr=self.alpha_lr,
                       init_alpha=self.init_alpha)
        check_at_least_one(prefix, policy_delay=self.policy_delay)
        need(isinstance(self.autotune, bool), f"{prefix}.autotune", self.autotune, "True or False")
        need(self.target_entropy is None or is_num(self.target_entropy), f"{prefix}.target_entropy",
             self.target_entropy, "null (= -action dim) or a finite number")


class GaussianActor(nn.Module):
    """Tanh-squashed Gaussian policy per agent: float ``[K, N, obs_dim]`` -> mean and log-std float
    ``[K, N, act_dim]`` of ``u``."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int], device: torch.device,
                 generators: Sequence[torch.Generator]) -> None:
        super().__init__()
        self.net = mlp(obs_dim, hidden, 2 * act_dim, device, generators)

    def forward(self, obs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.net(obs).chunk(2, dim=-1)
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def sample(self, obs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised action ``tanh(u)`` float ``[K, N, act_dim]`` and its log-probability float ``[K, N]``."""
        mean, log_std = self(obs)
        eps = torch.randn_like(mean)
        u = mean + log_std.exp() * eps
        # log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u)), stable for large |u|
        log_prob = (-0.5 * eps.pow(2) - log_std - HALF_LOG_2PI - 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u)))
        return torch.tanh(u), log_prob.sum(-1)


class MeanPolicy(nn.Module):
    """SAC's deployable deterministic policy ``tanh(mean(s))`` of one agent: float ``[N, obs_dim]`` -> float32
    ``[N, act_dim]``."""

    def __init__(self, actor: GaussianActor) -> None:
        super().__init__()
        self.actor = actor.eval()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.actor(obs.unsqueeze(0))[0][0])


class Temperature(StackedModule):
    """Each agent's entropy temperature ``alpha_k = exp(log_alpha_k)`` (float ``[K]``), a module so that broadcast
    and checkpoints carry it (the earlier one-agent 0-d temperature loads into ``K = 1``)."""

    def __init__(self, init_alpha: Sequence[float], device: torch.device) -> None:
        super().__init__()
        self.log_alpha = nn.Parameter(torch.tensor([math.log(a) for a in init_alpha], device=device))

    def forward(self) -> torch.Tensor:
        return self.log_alpha.exp()



class SAC:
    """Soft actor-critic over normalised efforts in ``[-1, 1]``; exploration is the policy's own sampling.

    Args:
        obs_dim, act_dim: Observation and action widths.
        device: Where the networks live.
        seeds: Agent ``k``'s initial weights come from a generator seeded ``seeds[k]`` (``K = len(seeds)``).
        hidden: Hidden widths of actor and critics.
        actor_lr, critic_lr, alpha_lr: Adam learning rates (one Adam for both critics; per agent).
        gamma: Discount factor (per agent).
        tau: Polyak factor of the critic targets (every update; per agent).
        init_alpha: Initial temperature (per agent).
        autotune: Learn ``alpha`` so that the policy's entropy tracks ``target_entropy``; else ``alpha`` is fixed.
        target_entropy: Entropy target (``None``: ``-act_dim``; per agent).
        policy_delay: Critic steps per actor (and temperature) step.
        max_grad_norm: Gradient clipping norm (0 disables).
        layer_norm: LayerNorm in the critics' hidden layers.
    """

    def __init__(self, obs_dim: int, act_dim: int, device: torch.device, seeds: Sequence[int] = (0,),
                 hidden: Sequence[int] = (64, 64), actor_lr: PerAgent = 1e-3, critic_lr: PerAgent = 1e-3,
                 alpha_lr: PerAgent = 1e-3, gamma: PerAgent = 0.99, tau: PerAgent = 0.005,
                 init_alpha: PerAgent = 1.0, autotune: bool = True,
                 target_entropy: Union[None, float, Sequence[Optional[float]]] = None, policy_delay: int = 1,
                 max_grad_norm: float = 0.0, layer_norm: bool = False) -> None:
        self.device, self.act_dim, self.action_dim = canonical_device(device), act_dim, act_dim
        self.agents = k = len(seeds)
        generators = agent_generators(seeds)
        self.actor = GaussianActor(obs_dim, act_dim, hidden, self.device, generators)
        self.critic = TwinCritic(obs_dim, act_dim, hidden, self.device, generators, layer_norm=layer_norm)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        alphas = list(init_alpha) if isinstance(init_alpha, (list, tuple)) else [init_alpha] * k
        self.temperature = Temperature([float(a) for a in alphas], self.device)
        self._targets, self._onlines = list(self.critic_target.parameters()), list(self.critic.parameters())
        self.actor_optimizer = Adam(self.actor.parameters(), actor_lr)
        self.critic_optimizer = Adam(self.critic.parameters(), critic_lr)
        self.alpha_optimizer = Adam(self.temperature.parameters(), alpha_lr)
        self.gamma, self.tau = agent_tensor(gamma, k, self.device), agent_tensor(tau, k, self.device).view(-1)
        self._tau_weights = per_tensor(self.tau, self._targets)
        self.policy_delay, self.max_grad_norm, self.autotune = policy_delay, max_grad_norm, autotune
        targets = list(target_entropy) if isinstance(target_entropy, (list, tuple)) else [target_entropy] * k
        self.target_entropy = agent_tensor([-float(act_dim) if t is None else float(t) for t in targets], k,
                                           self.device)  # [K, 1]
        self._last_actor_loss = torch.zeros(k, device=self.device)
        self._last_alpha_loss = torch.zeros(k, device=self.device)

    @classmethod
    def from_config(cls, s: Sequence[SACSettings], env: VecEnv, seeds: Sequence[int]) -> "SAC":
        """From each agent's checked settings (shared keys from the first) for ``env``."""
        one = s[0]
        return cls(env.obs_dim, env.action_spec.dim, env.device, seeds, hidden=tuple(one.hidden),
                   actor_lr=values(s, "actor_lr"), critic_lr=values(s, "critic_lr"), alpha_lr=values(s, "alpha_lr"),
                   gamma=values(s, "gamma"), tau=values(s, "tau"), init_alpha=values(s, "init_alpha"),
                   autotune=one.autotune, target_entropy=values(s, "target_entropy"),
                   policy_delay=one.policy_delay, max_grad_norm=one.max_grad_norm, layer_norm=one.layer_norm)

    # ------------------------------------------------------------------ acting
    @torch.no_grad()
    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """Deterministic efforts ``tanh(mean_k(s))``: float ``[K N, act_dim]`` for env-major ``[K N, obs_dim]``."""
        return torch.tanh(self.actor(by_agent(obs, self.agents))[0]).reshape(obs.shape[0], -1)

    @torch.no_grad()
    def explore(self, obs: torch.Tensor, clock: torch.Tensor) -> torch.Tensor:
        """A sample of the agent's policy per env: float ``[K N, act_dim]`` in ``(-1, 1)``."""
        return self.actor.sample(by_agent(obs, self.agents))[0].reshape(obs.shape[0], -1)

    def random_action(self, n: int) -> torch.Tensor:
        """Uniform random efforts float ``[n, act_dim]`` in ``[-1, 1]`` (warm-up)."""
        return torch.rand((n, self.act_dim), device=self.device) * 2.0 - 1.0

    def to_env(self, action: torch.Tensor) -> torch.Tensor:
        """Efforts pass through unchanged."""
        return action

    def on_episode_end(self, done: torch.Tensor) -> None:
        """Nothing per episode: exploration is the policy's own sampling."""

    # ------------------------------------------------------------------ learning
    def phase(self, update_index: int) -> int:
        """1 when this update also steps the actor and the temperature (every ``policy_delay``-th)."""
        return every(self.policy_delay, update_index)

    @torch.no_grad()
    def td_target(self, batch: Batch) -> torch.Tensor:
        """``y = r + gamma_k^m (1 - terminated) (min_i Q_i'(s', a') - alpha_k log pi(a'|s'))`` float ``[K, B]``,
        ``a' ~ pi(.|s')``."""
        next_action, next_log_prob = self.actor.sample(batch.next_obs)
        q1, q2 = self.critic_target(batch.next_obs, next_action)
        soft_q = torch.min(q1, q2) - self.temperature().unsqueeze(-1) * next_log_prob
        return batch.reward + batch.discount(self.gamma) * soft_q

    def update(self, batch: Batch, phase: int) -> Dict[str, torch.Tensor]:
        """One step of both critics and their Polyak targets; with ``phase`` 1 also an actor and temperature step."""
        q1, critic_loss = self.critic.td_loss(batch.obs, batch.action, self.td_target(batch))
        gradient_step(self.critic_optimizer, critic_loss, self.max_grad_norm)
        if phase:
            action, log_prob = self.actor.sample(batch.obs)
            alpha = self.temperature().detach().unsqueeze(-1)  # [K, 1]
            actor_loss = (alpha * log_prob - torch.min(*self.critic(batch.obs, action))).mean(-1)
            gradient_step(self.actor_optimizer, actor_loss, self.max_grad_norm)
            self._last_actor_loss.copy_(actor_loss.detach())
            if self.autotune:
                log_alpha = self.temperature.log_alpha.unsqueeze(-1)
                alpha_loss = -(log_alpha * (log_prob.detach() + self.target_entropy)).mean(-1)
                gradient_step(self.alpha_optimizer, alpha_loss, 0.0)
                self._last_alpha_loss.copy_(alpha_loss.detach())
        polyak_update(self._targets, self._onlines, self._tau_weights)
        return {"losses/critic_loss": critic_loss.detach(), "losses/actor_loss": self._last_actor_loss,
                "losses/alpha_loss": self._last_alpha_loss, "losses/alpha": self.temperature().detach(),
                "losses/q_values": q1.detach().mean(-1)}

    def freeze(self, stopped: torch.Tensor) -> None:
        """Agents where bool ``stopped [K]`` is set stop learning: learning rates and Polyak factor 0."""
        for opt in self.optimizers().values():
            opt.freeze(stopped)
        self.tau.mul_((~stopped).float())

    # ------------------------------------------------------------------ parts and state
    def modules(self) -> Dict[str, nn.Module]:
        """Actor, critics, critic targets and the temperature."""
        return {"actor": self.actor, "critic": self.critic, "critic_target": self.critic_target,
                "temperature": self.temperature}

    def optimizers(self) -> Dict[str, Adam]:
        """Actor, critics' and temperature Adam."""
        return {"actor_optimizer": self.actor_optimizer, "critic_optimizer": self.critic_optimizer,
                "alpha_optimizer": self.alpha_optimizer}

    def persistent_tensors(self) -> Iterator[torch.Tensor]:
        """Networks, temperature, optimizer state, Polyak factors and the last losses."""
        yield from module_tensors(*self.modules().values())
        for opt in self.optimizers().values():
            yield from opt.persistent_tensors()
        yield self.tau
        yield self._last_actor_loss
        yield self._last_alpha_loss

    def policy_module(self, agent: int = 0) -> nn.Module:
        """Stand-alone deterministic policy ``tanh(mean(s))`` of agent ``agent``."""
        return MeanPolicy(select_agent(self.actor, agent))

    def state_dict(self) -> Dict[str, Any]:
        """Networks, temperature, optimizers and Polyak factors."""
        state: Dict[str, Any] = {name: part.state_dict() for name, part in {**self.modules(),
                                                                            **self.optimizers()}.items()}
        state["tau"] = self.tau.clone()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict`."""
        for name, part in {**self.modules(), **self.optimizers()}.items():
            part.load_state_dict(state[name])
        if "tau" in state:
            self.tau.copy_(state["tau"])
