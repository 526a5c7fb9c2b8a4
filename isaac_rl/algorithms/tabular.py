"""Tabular Q-learning (Watkins, 1989; Watkins & Dayan, 1992), batched over every env on the device: where the seeds of
deep Q-learning start.

The observation is discretised into a grid of cells: dimension ``d`` is cut into ``bins[d]`` equal intervals of
``[low[d], high[d]]`` (values outside fall into the first or last interval; a dimension with one bin is ignored), and
the cell index is the mixed-radix number of the per-dimension intervals, so the table holds ``prod(bins)`` rows of
``A`` action values. Every iteration steps every env once (epsilon-greedy, epsilon annealed linearly over iterations)
and applies one Q-learning update per env and step:

    Q(s, a) <- Q(s, a) + alpha * mean_{envs in (s, a)} [r + gamma (1 - terminated) max_a' Q(s', a') - Q(s, a)]

(the mean: thousands of envs may visit one cell in the same step; with one visit it is the classic update). ``s'`` is
the true next observation (``StepOut.final_obs``): a time-out bootstraps from the state the episode reached.
Populations stack ``K`` tables ``[K, cells, A]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, Iterator, List, Mapping, Sequence

import torch
from torch import nn

from isaac_rl.algorithms.common import EpsilonGreedy, OnPolicy, agent_tensor
from isaac_rl.algorithms.efforts import DiscreteEfforts
from isaac_rl.algorithms.optim import Adam
from isaac_rl.algorithms.population import by_agent, values
from isaac_rl.algorithms.settings import AlgoSettings, check_at_least_one, check_epsilon_greedy
from isaac_rl.core.contract import VecEnv, canonical_device
from isaac_rl.core.errors import ConfigError
from isaac_rl.core.settings import is_int, is_num, need
from isaac_rl.storage.rollout import RolloutStorage

MAX_CELLS = 1 << 24  # table rows per agent (x A x 4 bytes): a grid that large would never be visited anyway


@dataclass
class TabularSettings(AlgoSettings):
    """``train.algo`` of ``name: Tabular`` (see the module docstring). ``hidden``, ``tau`` and ``layer_norm`` have
    no meaning here (no network).

    Attributes:
        bins: Intervals per observation dimension (1: the dimension is ignored).
        low, high: The discretised range of each dimension.
        alpha: Step size of the update.
    """

    PER_AGENT = ("gamma", "alpha", "eps_start", "eps_end", "eps_decay_iterations")
    epochs: ClassVar[int] = 1  # one update per env and step
    minibatches: ClassVar[int] = 1

    name: str = "Tabular"
    bins: List[int] = field(default_factory=lambda: [1, 1, 6, 12])
    low: List[float] = field(default_factory=lambda: [-2.4, -3.0, -0.21, -3.5])
    high: List[float] = field(default_factory=lambda: [2.4, 3.0, 0.21, 3.5])
    alpha: float = 0.1
    rollout_steps: int = 1
    eps_start: float = 1.0
    eps_end: float = 0.01
    eps_decay_iterations: int = 100
    efforts: List[float] = field(default_factory=lambda: [-1.0, 1.0])

    def check(self, prefix: str) -> None:
        super().check(prefix)
        need(isinstance(self.bins, (list, tuple)) and len(self.bins) >= 1 and all(is_int(b) and b >= 1
             for b in self.bins), f"{prefix}.bins", self.bins, "a list of integers >= 1, one per observation "
             "dimension")
        cells = 1
        for b in self.bins:
            cells *= b
        need(cells <= MAX_CELLS, f"{prefix}.bins", self.bins, f"at most {MAX_CELLS:,} cells in all (their product)")
        for key in ("low", "high"):
            value = getattr(self, key)
            need(isinstance(value, (list, tuple)) and len(value) == len(self.bins) and all(is_num(v) for v in value),
                 f"{prefix}.{key}", value, f"a list of {len(self.bins)} finite numbers (one per entry of bins)")
        need(all(lo < hi for lo, hi in zip(self.low, self.high)), f"{prefix}.high", self.high,
             f"numbers above train.algo.low={self.low}, one per dimension")
        need(is_num(self.alpha) and 0 < self.alpha <= 1, f"{prefix}.alpha", self.alpha, "a number in (0, 1]")
        check_at_least_one(prefix, rollout_steps=self.rollout_steps, eps_decay_iterations=self.eps_decay_iterations)
        need(self.n_step == 1, f"{prefix}.n_step", self.n_step, "1 for Tabular (one-step Q-learning)")
        check_epsilon_greedy(prefix, self.eps_start, self.eps_end, self.efforts)


class Grid(nn.Module):
    """Observation -> cell index: float ``[..., obs_dim]`` -> long ``[...]`` (see the module docstring)."""

    def __init__(self, bins: Sequence[int], low: Sequence[float], high: Sequence[float],
                 device: torch.device) -> None:
        super().__init__()
        strides, stride = [], 1
        for b in reversed(bins):
            strides.append(stride)
            stride *= b
        self.cells = stride
        self.register_buffer("bins", torch.tensor(list(bins), dtype=torch.long, device=device),
                             persistent=False)  # the grid comes from the settings, not the checkpoint
        self.register_buffer("low", torch.tensor(list(low), dtype=torch.float32, device=device),
                             persistent=False)
        self.register_buffer("width", torch.tensor([(h - lo) / b for lo, h, b in zip(low, high, bins)],
                                                   dtype=torch.float32, device=device), persistent=False)
        self.register_buffer("strides", torch.tensor(strides[::-1], dtype=torch.long, device=device),
                             persistent=False)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        idx = torch.floor((obs.float() - self.low) / self.width).long()
        idx = torch.minimum(idx.clamp(min=0), self.bins - 1)
        return (idx * self.strides).sum(-1)


class QTable(nn.Module):
    """``K`` Q-tables float ``[K, cells, A]`` (a non-trainable parameter: saved, sliced per agent and broadcast like
    the networks' weights) behind their grid: float ``[K, B, obs_dim]`` -> Q-values ``[K, B, A]``."""

    def __init__(self, grid: Grid, agents: int, actions: int, device: torch.device) -> None:
        super().__init__()
        self.grid = grid
        self.table = nn.Parameter(torch.zeros((agents, grid.cells, actions), device=device), requires_grad=False)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        cells = self.grid(obs)  # [K, B]
        return self.table.gather(1, cells.unsqueeze(-1).expand(-1, -1, self.table.shape[2]))


class TabularPolicy(nn.Module):
    """One agent's greedy policy: float ``[N, obs_dim]`` -> float32 ``[N, 1]`` effort ``efforts[argmax Q(cell)]``."""

    def __init__(self, q: QTable, efforts: torch.Tensor) -> None:
        super().__init__()
        self.q = q
        self.register_buffer("efforts", efforts.detach().clone().reshape(-1, 1).float())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.efforts[self.q(obs.unsqueeze(0))[0].argmax(dim=-1)]


class Tabular(EpsilonGreedy, OnPolicy):
    """Batched tabular Q-learning over ``efforts`` for ``K = len(seeds)`` agents (see the module docstring)."""

    multi_gpu = False  # no gradient to average across ranks
    action_dim = 0

    def __init__(self, settings: Sequence[TabularSettings], obs_dim: int, efforts: DiscreteEfforts,
                 device: torch.device, seeds: Sequence[int] = (0,)) -> None:
        s = settings[0]
        if len(s.bins) != obs_dim:
            raise ValueError(f"train.algo.bins has {len(s.bins)} entries; this task's observations have {obs_dim}")
        self.device, self.agents, self.settings, self.efforts = canonical_device(device), len(seeds), s, efforts
        self.num_actions = efforts.num_actions
        k, dev = self.agents, self.device
        self.q = QTable(Grid(s.bins, s.low, s.high, dev), k, self.num_actions, dev)
        self.gamma = agent_tensor(values(settings, "gamma"), k, dev)  # [K, 1]
        self.alpha = agent_tensor(values(settings, "alpha"), k, dev)
        self.eps_start, self.eps_end = agent_tensor(values(settings, "eps_start"), k, dev), \
            agent_tensor(values(settings, "eps_end"), k, dev)
        self.eps_decay = agent_tensor(values(settings, "eps_decay_iterations"), k, dev).clamp(min=1.0)
        self.rollout_steps = s.rollout_steps
        self.updates_per_iteration = s.rollout_steps

    @classmethod
    def from_config(cls, s: Sequence[TabularSettings], env: VecEnv, seeds: Sequence[int]) -> "Tabular":
        """From each agent's checked settings for ``env``."""
        if len(s[0].bins) != env.obs_dim:
            raise ConfigError(f"invalid config: train.algo.bins={list(s[0].bins)}; allowed: a list of {env.obs_dim} "
                              "integers >= 1, one per observation dimension of this task (with low and high of the "
                              "same length)")
        efforts = DiscreteEfforts(s[0].efforts, env.device)
        efforts.check_supported_by(env.action_spec)
        return cls(s, env.obs_dim, efforts, env.device, seeds)

    @torch.no_grad()
    def learn(self, storage: RolloutStorage, clock: torch.Tensor) -> Dict[str, torch.Tensor]:
        """One Q-learning update per env for each stored step, in order; per-agent float ``[K]`` metrics."""
        k, a = self.agents, self.num_actions
        table = self.q.table  # [K, C, A]
        metrics: Dict[str, torch.Tensor] = {}
        for t in range(storage.rewards.shape[0]):
            obs, nxt = by_agent(storage.obs[t], k), by_agent(storage.final_obs[t], k)  # [K, N, d]
            action = by_agent(storage.actions[t], k)  # [K, N]
            reward, terminated = by_agent(storage.rewards[t], k), by_agent(storage.terminated[t], k)
            target = reward + self.gamma * (1.0 - terminated) * self.q(nxt).max(dim=-1).values
            slot = self.q.grid(obs) * a + action  # [K, N]: flat (cell, action)
            q_sa = table.view(k, -1).gather(1, slot)
            delta = target - q_sa
            sums = torch.zeros_like(table.view(k, -1)).scatter_add_(1, slot, delta)
            counts = torch.zeros_like(sums).scatter_add_(1, slot, torch.ones_like(delta))
            table.view(k, -1).add_(self.alpha * sums / counts.clamp(min=1.0))
            metrics = {"losses/td_error": delta.abs().mean(-1), "losses/q_values": q_sa.mean(-1),
                       "charts/cells_visited": (table.abs().sum(-1) > 0).float().sum(-1)}
        return metrics

    def freeze(self, stopped: torch.Tensor) -> None:
        """Agents where bool ``stopped [K]`` is set stop learning: step size 0."""
        self.alpha.mul_((~stopped).float().view(-1, 1))

    def modules(self) -> Dict[str, nn.Module]:
        """The Q-tables (with their grid)."""
        return {"q": self.q}

    def optimizers(self) -> Dict[str, Adam]:
        """None: the update is the Q-learning rule itself."""
        return {}

    def persistent_tensors(self) -> Iterator[torch.Tensor]:
        yield self.q.table
        yield self.alpha

    def policy_module(self, agent: int = 0) -> nn.Module:
        """Stand-alone greedy policy of agent ``agent`` (obs -> effort)."""
        one = QTable(self.q.grid, 1, self.num_actions, self.device)
        one.table.data.copy_(self.q.table[agent:agent + 1])
        return TabularPolicy(one, self.efforts.table)

    def state_dict(self) -> Dict[str, Any]:
        """The tables and the step sizes."""
        return {"q": self.q.state_dict(), "alpha": self.alpha.clone()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.q.load_state_dict(state["q"])
        if "alpha" in state:
            self.alpha.copy_(state["alpha"])

