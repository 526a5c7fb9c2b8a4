"""DQN (Mnih et al., 2015) with the Double-DQN target option (van Hasselt et al., 2016), batched on the device.

    y = r + gamma^m (1 - terminated) Q'(s', a'),   a' = argmax_a Q(s', a) (double) or argmax_a Q'(s', a)
    L = huber(Q(s, a) - y)  (or MSE);   theta' <- theta' + tau (theta - theta') every target_update_interval steps

Exploration is epsilon-greedy over the discrete efforts (:class:`isaac_rl.algorithms.efforts.DiscreteEfforts`),
epsilon annealed linearly over iterations from a device clock. Everything is stacked over the ``K`` agents of a
population (:mod:`isaac_rl.algorithms.population`; ``K = 1`` for one run): batches are ``[K, B, ...]``, each
agent's loss is its batch mean, and the sum over agents is what one backward differentiates.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from isaac_rl.algorithms.base import every, module_tensors
from isaac_rl.algorithms.common import EpsilonGreedy, GreedyEffortPolicy, PerAgent, agent_tensor
from isaac_rl.algorithms.efforts import DiscreteEfforts
from isaac_rl.algorithms.networks import (
    agent_generators,
    clip_grad_norm_per_agent,
    mlp,
    per_tensor,
    polyak_update,
    select_agent,
)
from isaac_rl.algorithms.optim import Adam
from isaac_rl.algorithms.population import values
from isaac_rl.algorithms.settings import AlgoSettings, check_at_least_one, check_epsilon_greedy, check_positive
from isaac_rl.core.contract import VecEnv, canonical_device
from isaac_rl.core.settings import need
from isaac_rl.core.types import Batch


@dataclass
class DQNSettings(AlgoSettings):
    """``train.algo`` of ``name: DQN`` (see :class:`DQN` for each key's meaning)."""

    PER_AGENT = AlgoSettings.PER_AGENT + ("lr", "eps_start", "eps_end", "eps_decay_iterations")

    name: str = "DQN"
    lr: float = 1e-3
    tau: float = 1.0
    target_update_interval: int = 100
    double_dqn: bool = True
    loss: str = "huber"
    eps_start: float = 1.0
    eps_end: float = 0.05
    eps_decay_iterations: int = 100
    efforts: List[float] = field(default_factory=lambda: [-1.0, 0.0, 1.0])

    def check(self, prefix: str) -> None:
        super().check(prefix)
        check_positive(prefix, lr=self.lr)
        check_at_least_one(prefix, target_update_interval=self.target_update_interval,
                           eps_decay_iterations=self.eps_decay_iterations)
        need(isinstance(self.double_dqn, bool), f"{prefix}.double_dqn", self.double_dqn, "True or False")
        need(self.loss in ("huber", "mse"), f"{prefix}.loss", self.loss, "huber or mse")
        check_epsilon_greedy(prefix, self.eps_start, self.eps_end, self.efforts)


class DQN(EpsilonGreedy):
    """Q-learning with a target network and epsilon-greedy exploration over ``efforts`` (``A`` discrete actions),
    for ``K = len(seeds)`` independent agents.

    Args:
        obs_dim: Observation width.
        efforts: The discrete action set (index -> normalised effort) on ``device``.
        device: Where the networks live.
        seeds: Agent ``k``'s initial weights come from a generator seeded ``seeds[k]``.
        hidden: Hidden layer widths of the Q-network.
        lr: Adam learning rate (per agent).
        gamma: Discount factor (per agent).
        tau: Polyak factor of the target update; 1.0 means a hard copy (per agent).
        target_update_interval: Gradient steps between target updates (a host-side phase, see :meth:`phase`).
        double_dqn: Use the Double-DQN target ``Q'(s', argmax_a Q(s', a))``.
        loss: ``"huber"`` (smooth L1) or ``"mse"``.
        max_grad_norm: Gradient clipping norm of each agent (0 disables).
        eps_start, eps_end, eps_decay_iterations: Linear epsilon schedule over iterations (vectorised env steps),
            the same for any ``num_envs`` (per agent).
        layer_norm: LayerNorm in the Q-network's hidden layers.
    """

    action_dim = 0  # the replay buffer stores long indices

    def __init__(self, obs_dim: int, efforts: DiscreteEfforts, device: torch.device, seeds: Sequence[int] = (0,),
                 hidden: Sequence[int] = (64, 64), lr: PerAgent = 1e-3, gamma: PerAgent = 0.99, tau: PerAgent = 1.0,
                 target_update_interval: int = 100, double_dqn: bool = True, loss: str = "huber",
                 max_grad_norm: float = 0.0, eps_start: PerAgent = 1.0, eps_end: PerAgent = 0.05,
                 eps_decay_iterations: PerAgent = 100, layer_norm: bool = False) -> None:
        self.device, self.efforts, self.agents = canonical_device(device), efforts, len(seeds)
        self.num_actions = efforts.num_actions
        self.q = mlp(obs_dim, hidden, self.num_actions, self.device, agent_generators(seeds), layer_norm=layer_norm)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self._targets, self._onlines = list(self.q_target.parameters()), list(self.q.parameters())
        self.optimizer = Adam(self.q.parameters(), lr if isinstance(lr, (list, tuple)) else float(lr))
        k, dev = self.agents, self.device
        self.gamma, self.tau = agent_tensor(gamma, k, dev), agent_tensor(tau, k, dev).view(-1)
        self._tau_weights = per_tensor(self.tau, self._targets)
        self.target_update_interval, self.double_dqn, self.max_grad_norm = target_update_interval, double_dqn, \
            max_grad_norm
        self.loss_fn = {"huber": F.smooth_l1_loss, "mse": F.mse_loss}[loss]
        self.eps_start, self.eps_end = agent_tensor(eps_start, k, dev), agent_tensor(eps_end, k, dev)
        self.eps_decay = agent_tensor(eps_decay_iterations, k, dev).clamp(min=1.0)

    @classmethod
    def from_config(cls, s: Sequence[DQNSettings], env: VecEnv, seeds: Sequence[int]) -> "DQN":
        """From each agent's checked settings (shared keys from the first) for ``env``."""
        one = s[0]
        efforts = DiscreteEfforts(one.efforts, env.device)
        efforts.check_supported_by(env.action_spec)
        return cls(env.obs_dim, efforts, env.device, seeds, hidden=tuple(one.hidden), lr=values(s, "lr"),
                   gamma=values(s, "gamma"), tau=values(s, "tau"), target_update_interval=one.target_update_interval,
                   double_dqn=one.double_dqn, loss=one.loss, max_grad_norm=one.max_grad_norm,
                   eps_start=values(s, "eps_start"), eps_end=values(s, "eps_end"),
                   eps_decay_iterations=values(s, "eps_decay_iterations"), layer_norm=one.layer_norm)

    # ------------------------------------------------------------------ acting
    def on_episode_end(self, done: torch.Tensor) -> None:
        """Nothing per episode: epsilon depends on the iteration only."""

    # ------------------------------------------------------------------ learning
    def phase(self, update_index: int) -> int:
        """1 when this update also updates the target network (every ``target_update_interval``-th), else 0."""
        return every(self.target_update_interval, update_index)

    @torch.no_grad()
    def td_target(self, batch: Batch) -> torch.Tensor:
        """``y = r + gamma_k^m (1 - terminated) Q'(s', a')`` float ``[K, B]``; ``m`` is the n-step horizon."""
        next_q_all = self.q_target(batch.next_obs)
        if self.double_dqn:
            next_action = self.q(batch.next_obs).argmax(dim=-1, keepdim=True)
            next_q = next_q_all.gather(-1, next_action).squeeze(-1)
        else:
            next_q = next_q_all.max(dim=-1).values
        return batch.reward + batch.discount(self.gamma) * next_q

    def update(self, batch: Batch, phase: int) -> Dict[str, torch.Tensor]:
        """One gradient step of every agent on its TD loss, then (``phase`` 1) the target updates; detached
        per-agent metrics float ``[K]``."""
        td_target = self.td_target(batch)
        q_sa = self.q(batch.obs).gather(-1, batch.action.unsqueeze(-1)).squeeze(-1)
        td_loss = self.loss_fn(q_sa, td_target, reduction="none").mean(-1)  # [K]
        self.optimizer.zero_grad(set_to_none=True)
        td_loss.sum().backward()
        if self.max_grad_norm > 0:
            clip_grad_norm_per_agent(self._onlines, self.max_grad_norm)
        self.optimizer.step()
        if phase:
            polyak_update(self._targets, self._onlines, self._tau_weights)
        return {"losses/td_loss": td_loss.detach(), "losses/q_values": q_sa.detach().mean(-1)}

    def freeze(self, stopped: torch.Tensor) -> None:
        """Agents where bool ``stopped [K]`` is set stop learning: learning rate and Polyak factor 0."""
        self.optimizer.freeze(stopped)
        self.tau.mul_((~stopped).float())

    # ------------------------------------------------------------------ parts and state
    def modules(self) -> Dict[str, nn.Module]:
        """Online and target Q-networks."""
        return {"q": self.q, "q_target": self.q_target}

    def optimizers(self) -> Dict[str, Adam]:
        """The Q-network's Adam."""
        return {"optimizer": self.optimizer}

    def persistent_tensors(self) -> Iterator[torch.Tensor]:
        """Networks, optimizer state and the Polyak factors."""
        yield from module_tensors(self.q, self.q_target)
        yield from self.optimizer.persistent_tensors()
        yield self.tau

    def policy_module(self, agent: int = 0) -> nn.Module:
        """Stand-alone greedy policy of agent ``agent`` (obs -> effort)."""
        return GreedyEffortPolicy(select_agent(self.q, agent), self.efforts.table)

    def state_dict(self) -> Dict[str, Any]:
        """Networks and optimizer."""
        return {"q": self.q.state_dict(), "q_target": self.q_target.state_dict(),
                "optimizer": self.optimizer.state_dict(), "tau": self.tau.clone()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict` (also of checkpoints that carried an update counter here)."""
        self.q.load_state_dict(state["q"])
        self.q_target.load_state_dict(state["q_target"])
        self.optimizer.load_state_dict(state["optimizer"])
        if "tau" in state:
            self.tau.copy_(state["tau"])
