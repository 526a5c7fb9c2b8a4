"""PQN (Gallici et al., 2024, "Simplifying Deep Temporal Difference Learning"): Q-learning made on-policy for thousands
of parallel envs, with no replay buffer and no target network. A LayerNorm Q-network keeps TD learning stable without
a target network; each iteration rolls out ``rollout_steps`` epsilon-greedy steps of every env, computes Q(lambda)
targets backwards over the rollout with the current network (:func:`isaac_rl.storage.rollout.q_lambda`; time-outs
bootstrap from the true final observation), then takes ``epochs x minibatches`` steps of

    L = (Q(s_t, a_t) - G_t)^2

over the discrete efforts (:class:`isaac_rl.algorithms.efforts.DiscreteEfforts`). Epsilon is annealed linearly over
iterations from the device clock, as DQN's. Everything is stacked over the ``K`` agents of a population.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Sequence

import torch
from torch import nn

from isaac_rl.algorithms.base import module_tensors
from isaac_rl.algorithms.common import EpsilonGreedy, GreedyEffortPolicy, OnPolicy, agent_tensor, gradient_step
from isaac_rl.algorithms.efforts import DiscreteEfforts
from isaac_rl.algorithms.networks import agent_generators, mlp, select_agent
from isaac_rl.algorithms.optim import Adam
from isaac_rl.algorithms.population import values
from isaac_rl.algorithms.settings import (
    AlgoSettings,
    check_at_least_one,
    check_epsilon_greedy,
    check_on_policy,
    check_positive,
)
from isaac_rl.core.contract import VecEnv, canonical_device
from isaac_rl.core.settings import is_num, need
from isaac_rl.storage.rollout import RolloutStorage, agent_major, q_lambda


@dataclass
class PQNSettings(AlgoSettings):
    """``train.algo`` of ``name: PQN`` (see :class:`PQN`)."""

    PER_AGENT = ("gamma", "lr", "q_lambda", "eps_start", "eps_end", "eps_decay_iterations")

    name: str = "PQN"
    layer_norm: bool = True
    lr: float = 1e-3
    rollout_steps: int = 16
    epochs: int = 2
    minibatches: int = 4
    q_lambda: float = 0.65
    eps_start: float = 1.0
    eps_end: float = 0.05
    eps_decay_iterations: int = 20
    efforts: List[float] = field(default_factory=lambda: [-1.0, 0.0, 1.0])
    max_grad_norm: float = 10.0

    def check(self, prefix: str) -> None:
        super().check(prefix)
        check_on_policy(self, prefix)
        check_positive(prefix, lr=self.lr)
        check_at_least_one(prefix, eps_decay_iterations=self.eps_decay_iterations)
        need(is_num(self.q_lambda) and 0 <= self.q_lambda <= 1, f"{prefix}.q_lambda", self.q_lambda,
             "a number in [0, 1]")
        check_epsilon_greedy(prefix, self.eps_start, self.eps_end, self.efforts)


class PQN(EpsilonGreedy, OnPolicy):
    """Parallel Q-learning over ``efforts`` for ``K = len(seeds)`` independent agents (see the module docstring).

    Args:
        settings: Each agent's checked settings (shared keys from the first; ``PER_AGENT`` keys per agent).
        obs_dim: Observation width.
        efforts: The discrete action set on ``device``.
        device: Where the network lives.
        seeds: Agent ``k``'s initial weights come from a generator seeded ``seeds[k]``.
    """

    action_dim = 0  # long indices

    def __init__(self, settings: Sequence[PQNSettings], obs_dim: int, efforts: DiscreteEfforts,
                 device: torch.device, seeds: Sequence[int] = (0,)) -> None:
        s = settings[0]
        self.device, self.agents, self.settings, self.efforts = canonical_device(device), len(seeds), s, efforts
        self.num_actions = efforts.num_actions
        k, dev = self.agents, self.device
        self.q = mlp(obs_dim, s.hidden, self.num_actions, dev, agent_generators(seeds), layer_norm=s.layer_norm)
        self.optimizer = Adam(self.q.parameters(), values(settings, "lr"))
        self.gamma = agent_tensor(values(settings, "gamma"), k, dev)  # [K, 1]
        self.lam = agent_tensor(values(settings, "q_lambda"), k, dev)
        self.eps_start, self.eps_end = agent_tensor(values(settings, "eps_start"), k, dev), \
            agent_tensor(values(settings, "eps_end"), k, dev)
        self.eps_decay = agent_tensor(values(settings, "eps_decay_iterations"), k, dev).clamp(min=1.0)
        self.rollout_steps = s.rollout_steps
        self.updates_per_iteration = s.epochs * s.minibatches

    @classmethod
    def from_config(cls, s: Sequence[PQNSettings], env: VecEnv, seeds: Sequence[int]) -> "PQN":
        """From each agent's checked settings for ``env``."""
        efforts = DiscreteEfforts(s[0].efforts, env.device)
        efforts.check_supported_by(env.action_spec)
        return cls(s, env.obs_dim, efforts, env.device, seeds)

    # ------------------------------------------------------------------ learning
    @torch.no_grad()
    def targets(self, storage: RolloutStorage) -> torch.Tensor:
        """Q(lambda) targets per agent float ``[K, T N]`` from the current network (no target network)."""
        t, k = storage.rewards.shape[0], self.agents
        next_max = self.q(agent_major(self.agents, storage.final_obs)).max(dim=-1).values.view(k, t, -1).transpose(0, 1)

        def split(x: torch.Tensor) -> torch.Tensor:
            return x.view(t, k, -1)

        g = q_lambda(split(storage.rewards), next_max, split(storage.terminated), split(storage.done), self.gamma,
                     self.lam)
        return g.transpose(0, 1).reshape(k, -1)

    def learn(self, storage: RolloutStorage, clock: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Q(lambda) targets, then ``epochs x minibatches`` squared-error steps; per-agent float ``[K]`` metrics of
        the last minibatch (device tensors)."""
        s = self.settings
        target = self.targets(storage)
        obs, actions = agent_major(self.agents, storage.obs), agent_major(self.agents, storage.actions)
        total = obs.shape[1]
        size = total // s.minibatches
        metrics: Dict[str, torch.Tensor] = {}
        for _ in range(s.epochs):
            order = torch.argsort(torch.rand(total, device=self.device))  # a random permutation, graph-safe
            for m in range(s.minibatches):
                idx = order[m * size:(m + 1) * size]
                q_sa = self.q(obs[:, idx]).gather(-1, actions[:, idx].unsqueeze(-1)).squeeze(-1)
                loss = (q_sa - target[:, idx]).pow(2).mean(-1)  # [K]
                gradient_step(self.optimizer, loss, s.max_grad_norm)
                metrics = {"losses/td_loss": loss.detach(), "losses/q_values": q_sa.detach().mean(-1)}
        return metrics

    def freeze(self, stopped: torch.Tensor) -> None:
        """Agents where bool ``stopped [K]`` is set stop learning: learning rate 0."""
        self.optimizer.freeze(stopped)

    # ------------------------------------------------------------------ parts and state
    def modules(self) -> Dict[str, nn.Module]:
        """The Q-network."""
        return {"q": self.q}

    def optimizers(self) -> Dict[str, Adam]:
        """The Q-network's Adam."""
        return {"optimizer": self.optimizer}

    def persistent_tensors(self) -> Iterator[torch.Tensor]:
        """Network and optimizer state."""
        yield from module_tensors(self.q)
        yield from self.optimizer.persistent_tensors()

    def policy_module(self, agent: int = 0) -> nn.Module:
        """Stand-alone greedy policy of agent ``agent`` (obs -> effort)."""
        return GreedyEffortPolicy(select_agent(self.q, agent), self.efforts.table)

    def state_dict(self) -> Dict[str, Any]:
        """Network and optimizer."""
        return {"q": self.q.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict`."""
        self.q.load_state_dict(state["q"])
        self.optimizer.load_state_dict(state["optimizer"])
