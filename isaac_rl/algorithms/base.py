"""The Algorithm interface: everything the trainer, capture, multi-GPU training, checkpoints and export use of a
learner, and nothing else (no attribute probing). DQN, DDPG, TD3 and SAC implement it."""

from __future__ import annotations

from typing import Any, Dict, Iterator, Mapping

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
    """An off-policy learner together with its exploration; all tensors live on the env's device.

    Attributes:
        action_dim: Width of a stored action: 0 for discrete actions (long indices ``[N]`` in the replay buffer),
            else the float action width ``A`` (``[N, A]`` efforts in ``[-1, 1]``).
    """

    action_dim: int

    @classmethod
    def from_config(cls, algo: Mapping[str, Any], env: VecEnv) -> "Algorithm":
        """Build from the validated ``train.algo`` section for ``env`` (its obs width, action spec, device, N)."""

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
        """One gradient step of kind ``phase``; returns detached 0-d device tensors by metric name (no host read)."""

    def modules(self) -> Dict[str, nn.Module]:
        """Every network (online and target) by name: broadcast at start, weight checksums, divergence checks."""

    def optimizers(self) -> Dict[str, Adam]:
        """Every optimizer by name (multi-GPU gradient averaging)."""

    def persistent_tensors(self) -> Iterator[torch.Tensor]:
        """Every tensor an update or an exploring step changes in place (static addresses for capture)."""

    def policy_module(self) -> nn.Module:
        """A stand-alone copy of the deterministic policy, float ``[N, obs_dim]`` -> float32 efforts ``[N, act_dim]``
        (export)."""

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
