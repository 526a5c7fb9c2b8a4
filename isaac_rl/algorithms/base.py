"""The Algorithm interface: everything the trainer, capture, multi-GPU training, checkpoints and export use of a
learner, and nothing else (no attribute probing). DQN, DDPG, TD3 and SAC implement it."""

from __future__ import annotations

from typing import Any, Dict, Iterator, Mapping, Sequence

import torch
from torch import nn

from isaac_rl.algorithms.optim import Adam
from isaac_rl.core.contract import VecEnv
from isaac_rl.core.types import Batch

try:  # Python >= 3.8
    from typing import Protocol
except ImportError:  # pragma: no cover
    Protocol = object  # type: ignore[assignment,misc]


class Algorithm(Protocol):
    """An off-policy learner together with its exploration, stacked over ``K`` independent agents (a population;
    ``K = 1`` for one run); all tensors live on the env's device. Observations and actions are env-major
    ``[K N, ...]`` (agent ``k``'s envs are rows ``k N .. (k + 1) N - 1``); batches are ``[K, B, ...]``.

    Attributes:
        action_dim: Width of a stored action: 0 for discrete actions (long indices ``[N]`` in the replay buffer),
            else the float action width ``A`` (``[N, A]`` efforts in ``[-1, 1]``).
        agents: ``K``.
    """

    action_dim: int
    agents: int

    @classmethod
    def from_config(cls, settings: Sequence[Any], env: VecEnv, seeds: Sequence[int]) -> "Algorithm":
        """Build from each agent's checked ``train.algo`` settings for ``env`` (obs width, action spec, device,
        ``K N`` envs); agent ``k``'s initial weights from ``seeds[k]``."""

    def explore(self, obs: torch.Tensor, clock: torch.Tensor) -> torch.Tensor:
        """Exploring actions for float ``[N, obs_dim]`` observations; ``clock`` is the iteration as a 0-d float device
        tensor (schedules read it there, so one recorded CUDA graph serves every iteration)."""

    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """Deterministic efforts float32 ``[N, act_dim]`` in ``[-1, 1]`` (evaluation, play)."""

    def random_action(self, n: int) -> torch.Tensor:
        """Uniform random stored actions for ``n`` envs (warm-up)."""

    def to_env(self, action: torch.Tensor) -> torch.Tensor:
        """Stored actions -> the env's float32 ``[N, act_dim]`` efforts."""

    def on_episode_end(self, done: torch.Tensor) -> None:
        """Per-env exploration state reset where bool ``done [N]`` is set."""

    def phase(self, update_index: int) -> int:
        """Which kind of update the ``update_index``-th (0-based) gradient step is, decided on the host from a host
        count (e.g. 1 = also an actor and target step every ``policy_delay`` updates, 0 = a critic step only);
        a captured iteration is recorded once per distinct sequence of phases."""

    def update(self, batch: Batch, phase: int) -> Dict[str, torch.Tensor]:
        """One gradient step of kind ``phase`` for every agent on its ``[K, B]`` batch; returns detached per-agent
        float ``[K]`` device tensors by metric name (no host read)."""

    def freeze(self, stopped: torch.Tensor) -> None:
        """Agents where bool ``stopped [K]`` (device) is set stop learning (their weights no longer change)."""

    def modules(self) -> Dict[str, nn.Module]:
        """Every network (online and target) by name: broadcast at start, weight checksums, divergence checks."""

    def optimizers(self) -> Dict[str, Adam]:
        """Every optimizer by name (multi-GPU gradient averaging)."""

    def persistent_tensors(self) -> Iterator[torch.Tensor]:
        """Every tensor an update or an exploring step changes in place (static addresses for capture)."""

    def policy_module(self, agent: int = 0) -> nn.Module:
        """A stand-alone copy of agent ``agent``'s deterministic policy, float ``[N, obs_dim]`` -> float32 efforts
        ``[N, act_dim]`` (export)."""

    def state_dict(self) -> Dict[str, Any]:
        """Networks, optimizers and exploration state, tensors only."""

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore from :meth:`state_dict`."""


def module_tensors(*modules: nn.Module) -> Iterator[torch.Tensor]:
    """Parameters and buffers of ``modules``, in order."""
    for module in modules:
        yield from module.parameters()
        yield from module.buffers()


def every(interval: int, update_index: int) -> int:
    """1 on every ``interval``-th update (the last of each group of ``interval``), else 0."""
    return int((update_index + 1) % interval == 0)
