"""Parts every algorithm shares: per-agent values as device tensors, the gradient step of a stacked learner, the
Q critics of the actor-critic algorithms (DDPG, TD3, SAC), running observation statistics, the epsilon-greedy acting
of the Q-learners (DQN, PQN, Tabular) and the base of the on-policy learners (PPO, PQN, Tabular)."""

from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from isaac_rl.algorithms.networks import clip_grad_norm_per_agent, mlp
from isaac_rl.algorithms.optim import Adam
from isaac_rl.algorithms.population import by_agent
from isaac_rl.core.types import Batch

PerAgent = Union[float, Sequence[float]]  # one value for every agent, or one per agent


def agent_tensor(value: PerAgent, agents: int, device: torch.device) -> torch.Tensor:
    """float32 ``[K, 1]`` on ``device``: one value per agent (a shared value repeated)."""
    vals = list(value) if isinstance(value, (list, tuple)) else [value] * agents
    return torch.tensor([float(v) for v in vals], dtype=torch.float32, device=device).view(agents, 1)


def gradient_step(optimizer: Adam, losses: torch.Tensor, max_grad_norm: float) -> None:
    """Backward of the per-agent losses float ``[K]`` (their sum: agent ``k``'s weights get agent ``k``'s gradient)
    into this optimizer's parameters only, optional per-agent clipping, one Adam step. Only these gradients: an actor
    loss runs through the critic, whose weight gradients would otherwise be computed and thrown away."""
    optimizer.zero_grad(set_to_none=True)
    losses.sum().backward(inputs=optimizer.params)
    if max_grad_norm > 0:
        clip_grad_norm_per_agent(optimizer.params, max_grad_norm)
    optimizer.step()


class Critic(nn.Module):
    """``Q(s, a)`` per agent: float ``[K, B, obs_dim]`` and ``[K, B, act_dim]`` -> float ``[K, B]``."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int], device: torch.device,
                 generators: Sequence[torch.Generator], layer_norm: bool = False) -> None:
        super().__init__()
        self.net = mlp(obs_dim + act_dim, hidden, 1, device, generators, layer_norm=layer_norm)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat((obs, action), dim=-1)).squeeze(-1)


class TwinCritic(nn.Module):
    """Two independent ``Q(s, a)`` networks per agent: float ``[K, B, obs_dim]``, ``[K, B, act_dim]`` -> two float
    ``[K, B]``."""

    def __init__(self, obs_dim: int, act_dim: int, hidden: Sequence[int], device: torch.device,
                 generators: Sequence[torch.Generator], layer_norm: bool = False) -> None:
        super().__init__()
        self.q1 = Critic(obs_dim, act_dim, hidden, device, generators, layer_norm=layer_norm)
        self.q2 = Critic(obs_dim, act_dim, hidden, device, generators, layer_norm=layer_norm)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.q1(obs, action), self.q2(obs, action)

    def td_loss(self, obs: torch.Tensor, action: torch.Tensor,
                td_target: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """``sum_i (Q_i(s, a) - y)^2`` (batch means per agent) for float ``[K, B]`` targets ``y``; returns
        ``Q1(s, a)`` and the per-agent loss float ``[K]``."""
        q1, q2 = self(obs, action)
        return q1, (F.mse_loss(q1, td_target, reduction="none") + F.mse_loss(q2, td_target, reduction="none")).mean(-1)


class RunningNorm(nn.Module):
    """Running observation normalisation per agent: ``(x - mean_k) / sqrt(var_k + eps)``, the mean and variance of
    every observation seen so far (Chan et al.'s parallel update, one batch at a time); float ``[K, B, d]`` in and
    out. The statistics are non-trainable parameters ``[K, 1, d]`` (sliced per agent like the weights, saved and
    broadcast with them); ``count`` is float ``[K, 1, 1]``.
    """

    def __init__(self, width: int, agents: int, device: torch.device, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps
        self.mean = nn.Parameter(torch.zeros((agents, 1, width), device=device), requires_grad=False)
        self.var = nn.Parameter(torch.ones((agents, 1, width), device=device), requires_grad=False)
        self.count = nn.Parameter(torch.zeros((agents, 1, 1), device=device), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / torch.sqrt(self.var + self.eps)

    @torch.no_grad()
    def update(self, x: torch.Tensor, active: torch.Tensor,
               rank_mean: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> None:
        """Fold float ``[K, B, d]`` observations into each agent's statistics where float ``active [K]`` is 1 (a
        frozen agent's normalisation stays as it is), in place. ``rank_mean`` (a multi-GPU run: the mean of a tensor
        over the ranks, each with ``B`` observations) makes the batch every rank's observations."""
        n = float(x.shape[1])  # every rank folds in equally many: weighting by B or by ranks x B is the same
        mean, var = x.mean(dim=1, keepdim=True), x.var(dim=1, unbiased=False, keepdim=True)
        if rank_mean is not None:  # every rank's batch: the mean of the means and of the second moments
            both = rank_mean(torch.cat((mean, var + mean * mean), dim=-1))
            mean, square = both[..., :x.shape[-1]], both[..., x.shape[-1]:]
            var = (square - mean * mean).clamp(min=0.0)
        total = self.count + n
        delta = mean - self.mean
        new_mean = self.mean + delta * (n / total)
        new_var = (self.var * self.count + var * n + delta.pow(2) * self.count * (n / total)) / total
        keep = active.view(-1, 1, 1) > 0
        self.mean.copy_(torch.where(keep, new_mean, self.mean))
        self.var.copy_(torch.where(keep, new_var, self.var))
        self.count.copy_(torch.where(keep, total, self.count))


class GreedyEffortPolicy(nn.Module):
    """The deployable greedy policy of one agent of a Q-learner (DQN, PQN): float ``[N, obs_dim]`` -> float32
    ``[N, 1]`` effort ``efforts[argmax Q(s)]``."""

    def __init__(self, q: nn.Module, efforts: torch.Tensor) -> None:
        super().__init__()
        self.q = q.eval()
        self.register_buffer("efforts", efforts.detach().clone().reshape(-1, 1).float())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.efforts[self.q(obs.unsqueeze(0))[0].argmax(dim=-1)]


class EpsilonGreedy:
    """The acting of the Q-learners (DQN, PQN, Tabular), one code path for the three: epsilon-greedy over
    ``num_actions`` discrete efforts, epsilon linear in the iteration ``clock`` from ``eps_start`` to ``eps_end`` over
    ``eps_decay`` iterations, then constant. The learner provides ``q`` (float ``[K, N, obs_dim]`` -> ``[K, N,
    num_actions]``), ``agents``, ``num_actions``, ``efforts`` (indices -> float32 efforts), ``device`` and the
    per-agent ``eps_start``, ``eps_end``, ``eps_decay`` (float ``[K, 1]`` device tensors)."""

    q: Callable[[torch.Tensor], torch.Tensor]
    agents: int
    num_actions: int
    efforts: Callable[[torch.Tensor], torch.Tensor]
    device: torch.device
    eps_start: torch.Tensor
    eps_end: torch.Tensor
    eps_decay: torch.Tensor

    def epsilon(self, clock: torch.Tensor) -> torch.Tensor:
        """Each agent's exploration rate at iteration ``clock`` (0-d float device tensor) -> float ``[K, 1]``."""
        frac = torch.clamp(clock / self.eps_decay, max=1.0)
        return self.eps_start + frac * (self.eps_end - self.eps_start)

    @torch.no_grad()
    def greedy(self, obs: torch.Tensor) -> torch.Tensor:
        """``argmax_a Q_k(s, a)`` (ties: the first action): long ``[K N]`` for env-major float ``[K N, obs_dim]``."""
        return self.q(by_agent(obs, self.agents)).argmax(dim=-1).reshape(-1)

    @torch.no_grad()
    def explore(self, obs: torch.Tensor, clock: torch.Tensor) -> torch.Tensor:
        """Epsilon-greedy indices long ``[K N]``; each env explores independently, with its agent's epsilon."""
        n = obs.shape[0]
        random = torch.randint(0, self.num_actions, (n,), device=obs.device)
        explores = torch.rand((self.agents, n // self.agents), device=obs.device) < self.epsilon(clock)
        return torch.where(explores.reshape(-1), random, self.greedy(obs))

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """Greedy efforts float32 ``[K N, 1]``."""
        return self.efforts(self.greedy(obs))

    def random_action(self, n: int) -> torch.Tensor:
        """Uniform random indices long ``[n]``."""
        return torch.randint(0, self.num_actions, (n,), device=self.device)

    def to_env(self, action: torch.Tensor) -> torch.Tensor:
        """Indices long ``[N]`` -> efforts float32 ``[N, 1]``."""
        return self.efforts(action)


class OnPolicy:
    """What the on-policy learners (PPO, PQN, Tabular) share: they learn from their own rollout
    (``learn(storage, clock)``, driven by :class:`isaac_rl.runtime.on_policy.OnPolicyLearning`), keep no replay buffer
    and take no replay batch. By default a rollout step acts with ``explore`` and keeps nothing beside the
    transition; PPO overrides both (it keeps log-probabilities and distribution parameters)."""

    on_policy = True
    explore: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # each learner's: stored actions [K N(, A)]

    def rollout_act(self, obs: torch.Tensor, clock: torch.Tensor) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """The rollout's stored actions (:meth:`explore`) and nothing beside them."""
        return self.explore(obs, clock), {}

    def rollout_extras(self) -> Dict[str, Tuple[int, ...]]:
        """Per-step tensors the rollout keeps beside the transitions (shapes after ``[T, N]``): none."""
        return {}

    def on_episode_end(self, done: torch.Tensor) -> None:
        """Nothing per episode."""

    def phase(self, update_index: int) -> int:
        """One kind of update."""
        return 0

    def update(self, batch: Batch, phase: int) -> Dict[str, torch.Tensor]:
        """An on-policy learner learns from its rollout (``learn``), not from replay batches."""
        name = type(self).__name__
        raise NotImplementedError(f"{name} is on-policy: it learns from its rollout ({name}.learn), not a replay batch")
