"""Action adapters and input checks shared by every backend."""

from __future__ import annotations

import math
from typing import Sequence

import torch

from isaac_rl.contract import ActionSpec


class DiscreteEfforts:
    """Maps DQN action indices to normalised efforts: index ``i`` -> ``efforts[i]``.

    With the default ``efforts=(-1, 0, 1)`` and the Isaac Gym Cartpole's 400 N maximum, index 0/1/2 pushes the cart
    with -400/0/+400 N.

    Args:
        efforts: Normalised effort per index, each in ``[-1, 1]``.
        device: Where the lookup table lives (the env's device).
    """

    def __init__(self, efforts: Sequence[float], device: torch.device) -> None:
        efforts = tuple(float(e) for e in efforts)
        if len(efforts) < 2 or any(not -1.0 <= e <= 1.0 for e in efforts):
            raise ValueError(f"discrete efforts must be >= 2 values in [-1, 1], got {list(efforts)}")
        self.efforts = efforts
        self.table = torch.tensor(efforts, dtype=torch.float32, device=device).unsqueeze(-1)  # [A, 1]

    @property
    def num_actions(self) -> int:
        """Number of discrete choices ``A``."""
        return len(self.efforts)

    def __call__(self, index: torch.Tensor) -> torch.Tensor:
        """long ``[N]`` indices in ``[0, A)`` -> float32 ``[N, 1]`` efforts, on the table's device, no host sync."""
        return self.table[index]

    def check_supported_by(self, spec: ActionSpec) -> None:
        """Raise if the task only accepts some efforts and these are not among them."""
        if spec.dim != 1:
            raise ValueError(f"discrete efforts need a task with 1 action dimension, this task has {spec.dim}")
        if spec.efforts and not set(self.efforts) <= set(spec.efforts):
            raise ValueError(f"discrete efforts {list(self.efforts)} are not all accepted by this task, "
                             f"which allows only {list(spec.efforts)}")


def check_actions(actions: object, num_envs: int, spec: ActionSpec, device: torch.device,
                  check_values: bool) -> torch.Tensor:
    """Validate a batch of normalised efforts before any simulation work.

    Shape, dtype and device checks read only metadata. ``check_values`` also rejects NaN/inf, which reads the tensor:
    free on the CPU, a host sync on CUDA, so GPU backends enable it only when asked (``debug_checks=True``).

    Args:
        actions: Expected float ``[N, dim]`` (``[N]`` is accepted for ``dim == 1``) on ``device``.
        num_envs: ``N``.
        spec: The task's action spec.
        device: The env's device.
        check_values: Whether to reject non-finite values.

    Returns:
        The actions as ``[N, dim]``.
    """
    if not isinstance(actions, torch.Tensor):
        raise TypeError(f"actions must be a torch.Tensor of shape [{num_envs}, {spec.dim}], "
                        f"got {type(actions).__name__}")
    if actions.dim() == 1 and spec.dim == 1:
        actions = actions.unsqueeze(-1)
    if tuple(actions.shape) != (num_envs, spec.dim):
        raise ValueError(f"actions have shape {tuple(actions.shape)}; expected ({num_envs}, {spec.dim}) "
                         f"(num_envs, action dim) of normalised efforts")
    if not actions.is_floating_point():
        raise TypeError(f"actions have dtype {actions.dtype}; expected a floating dtype of normalised efforts in "
                        "[-1, 1] (map DQN indices with isaac_rl.actions.DiscreteEfforts)")
    if actions.device != device:
        raise ValueError(f"actions are on {actions.device}; this env runs on {device}")
    # The sum of finite values is finite unless it overflows, so the exact element-wise test (14x slower on the CPU)
    # runs only when the sum is not finite.
    if check_values and not math.isfinite(float(actions.sum())) and not bool(torch.isfinite(actions).all()):
        bad = actions[~torch.isfinite(actions)].flatten()[:4].tolist()
        raise ValueError(f"actions contain non-finite values {bad}; expected finite efforts in [-1, 1]")
    return actions


def check_num_envs(num_envs: object, limit: int = 1 << 30) -> int:
    """Return ``num_envs`` as an int, or raise naming the bad value and the allowed range."""
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or not 1 <= num_envs <= limit:
        raise ValueError(f"num_envs must be an integer in [1, {limit}], got {num_envs!r}")
    return num_envs
