"""Input checks every backend runs before simulation work: action batches and env counts."""

from __future__ import annotations

import math

import torch

from isaac_rl.core.contract import ActionSpec


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
                        "[-1, 1] (map DQN indices with isaac_rl.core.checks.DiscreteEfforts)")
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
