"""Input checks every backend runs before simulation work: action batches and env counts."""

from __future__ import annotations

import math
import numbers

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
                        "[-1, 1] (map DQN indices with isaac_rl.algorithms.efforts.DiscreteEfforts)")
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


MAX_EPISODE_STEPS_CHECKED = 100_000  # check_task steps at most this many times to see every episode end


def check_task(env: object, num_envs: int, device: torch.device) -> None:
    """Check a task object against the contract (:class:`isaac_rl.core.contract.VecEnv`) before any training: its
    attributes (callables callable, a finite int ``max_episode_steps >= 1``), one ``reset`` and one ``step`` of zero
    efforts (or the first of ``action_spec.efforts``; shapes, float32 observations, devices), then such steps until
    every env has ended an episode,
    which must happen within ``max_episode_steps`` (the time limit evaluation relies on; skipped past
    ``MAX_EPISODE_STEPS_CHECKED``). Raises ``TypeError`` or ``ValueError`` naming what is wrong. The env is left
    mid-episode: the trainer resets it."""
    missing = [a for a in ("num_envs", "obs_dim", "action_spec", "device", "max_episode_steps", "reset", "step",
                           "close") if not hasattr(env, a)]
    if missing:
        raise TypeError(f"{type(env).__name__} lacks {', '.join(missing)} of the task contract (isaac_rl.core.contract"
                        ".VecEnv)")
    not_callable = [a for a in ("reset", "step", "close") if not callable(getattr(env, a))]
    if not_callable:
        raise TypeError(f"{', '.join(not_callable)} of {type(env).__name__} must be a method (callable), got "
                        f"{', '.join(repr(getattr(env, a)) for a in not_callable)}")
    got = env.num_envs
    if got != num_envs:
        raise ValueError(f"num_envs is {got!r}, but {num_envs} envs were asked for")
    obs_dim, spec, limit = env.obs_dim, env.action_spec, env.max_episode_steps
    if not isinstance(obs_dim, int) or obs_dim < 1:
        raise ValueError(f"obs_dim must be a positive int, got {obs_dim!r}")
    if not isinstance(getattr(spec, "dim", None), int) or spec.dim < 1:
        raise ValueError(f"action_spec must be an ActionSpec with an int dim >= 1, got {spec!r}")
    if isinstance(limit, bool) or not isinstance(limit, numbers.Integral) or limit < 1:
        raise ValueError(f"max_episode_steps must be an int >= 1 (the time limit: every episode ends within it), "
                         f"got {limit!r}")
    if torch.device(env.device) != device:
        raise ValueError(f"device is {env.device}, but the run's device is {device}")
    obs = env.reset(0)  # type: ignore[attr-defined]
    _check_tensor("reset() -> obs", obs, (num_envs, obs_dim), device, float32=True)
    effort = float(spec.efforts[0]) if getattr(spec, "efforts", ()) else 0.0  # one the task accepts
    zeros = torch.full((num_envs, spec.dim), effort, device=device)
    out = env.step(zeros)  # type: ignore[attr-defined]
    fields = ("obs", "reward", "terminated", "truncated", "final_obs")
    if not all(hasattr(out, f) for f in fields):
        raise TypeError(f"step() must return a StepOut ({', '.join(fields)}), got {type(out).__name__}")
    _check_tensor("step().obs", out.obs, (num_envs, obs_dim), device, float32=True)
    _check_tensor("step().final_obs", out.final_obs, (num_envs, obs_dim), device, float32=True)
    _check_tensor("step().reward", out.reward, (num_envs,), device)
    if not out.reward.is_floating_point():
        raise TypeError(f"step().reward has dtype {out.reward.dtype}; the contract needs a floating dtype")
    for name in ("terminated", "truncated"):
        value = getattr(out, name)
        _check_tensor(f"step().{name}", value, (num_envs,), device)
        if value.dtype != torch.bool:
            raise TypeError(f"step().{name} must be a bool tensor, got {value.dtype}")
    if limit > MAX_EPISODE_STEPS_CHECKED:
        return
    ended = out.terminated | out.truncated
    for _ in range(limit - 1):
        if bool(ended.all()):
            return
        out = env.step(zeros)  # type: ignore[attr-defined]
        ended = ended | out.terminated | out.truncated
    if not bool(ended.all()):
        raise ValueError(f"{int((~ended).sum())} of {num_envs} envs did not end an episode within max_episode_steps="
                         f"{limit} steps (constant efforts {effort} from reset); step() must set truncated (or "
                         "terminated) once an episode reaches max_episode_steps, or evaluation could never finish")


def _check_tensor(what: str, value: object, shape: tuple, device: torch.device, float32: bool = False) -> None:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{what} must be a torch.Tensor of shape {list(shape)}, got {type(value).__name__}")
    if tuple(value.shape) != shape:
        raise ValueError(f"{what} has shape {list(value.shape)}; the contract needs {list(shape)}")
    if value.device != device:
        raise ValueError(f"{what} is on {value.device}; the env's device is {device}")
    if float32 and value.dtype != torch.float32:
        raise TypeError(f"{what} has dtype {value.dtype}; the contract needs torch.float32 (the networks' dtype: "
                        "convert with .float())")
