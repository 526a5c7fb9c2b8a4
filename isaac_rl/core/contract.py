"""The batched tensor contract every task backend implements.

All tensors live on ``env.device``. ``N`` is ``env.num_envs``.

Actions are *normalised efforts*: a float tensor ``[N, act_dim]`` in ``[-1, 1]`` that the task scales by its maximum
effort (400 N for the Isaac Gym Cartpole, 2 N*m for Pendulum). Discrete learners (DQN) pick indices and map them
to efforts with :class:`isaac_rl.algorithms.efforts.DiscreteEfforts`, so every backend only ever sees efforts. A task
that only accepts some efforts (gymnasium's CartPole-v1 knows only "push left" and "push right") lists them in
``ActionSpec.efforts``.

Auto-reset happens inside ``step``: the returned ``obs`` of an env whose episode ended is already the first observation
of its next episode, and ``final_obs`` holds the observation the ended episode really finished in (for the other envs it
equals ``obs``). An off-policy learner stores ``final_obs`` as ``next_obs``; ``terminated`` stops bootstrapping,
``truncated`` (time limit) does not.

Optional: ``reward_max``, an upper bound of the per-step reward (1.0 for the cart-poles, 0.0 for Pendulum), lets an
evaluation stop as soon as its target mean return is out of reach (:func:`isaac_rl.runtime.evaluate.evaluate`);
``obs_names`` (one name per observation column), ``obs_clip`` and ``control_dt`` (seconds per step) go into the
deployment sidecar of an exported policy (:mod:`isaac_rl.tools.export`).
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Tuple, Union

import torch

try:  # Python >= 3.8 has Protocol in typing.
    from typing import Protocol, runtime_checkable
except ImportError:  # pragma: no cover
    from typing_extensions import Protocol, runtime_checkable  # type: ignore[assignment]


def canonical_device(device: Union[str, torch.device]) -> torch.device:
    """``torch.device(device)`` with a CUDA device's index filled in (``"cuda"`` -> ``cuda:K``, K the current device).

    Tensors created on ``"cuda"`` report ``cuda:K``, and ``torch.device("cuda") != torch.device("cuda:0")``; every
    component stores its device in this form so that device checks compare equal.
    """
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


class ActionSpec(NamedTuple):
    """What ``step`` accepts: float ``[N, dim]`` normalised efforts in ``[-1, 1]``.

    Attributes:
        dim: Action width.
        max_effort: Physical effort at ``|action| == 1`` (N or N*m).
        efforts: If not empty, the only effort values the task accepts (e.g. ``(-1.0, 1.0)``).
    """

    dim: int
    max_effort: float = 1.0
    efforts: Tuple[float, ...] = ()


class StepOut(NamedTuple):
    """What ``step`` returns; every tensor is on the env's device.

    Attributes:
        obs: float ``[N, obs_dim]``; observation to act on next (post-reset where an episode ended).
        reward: float ``[N]``.
        terminated: bool ``[N]``; the episode hit a terminal state (no bootstrap).
        truncated: bool ``[N]``; the episode hit the time limit and was not terminated (bootstrap).
        final_obs: float ``[N, obs_dim]``; the true last observation where ``terminated | truncated``, else ``obs``.
    """

    obs: torch.Tensor
    reward: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    final_obs: torch.Tensor


@runtime_checkable
class VecEnv(Protocol):
    """A batch of ``num_envs`` environments stepped as one, with same-step auto-reset."""

    num_envs: int
    obs_dim: int
    action_spec: ActionSpec
    device: torch.device
    max_episode_steps: int

    def reset(self, seed: Optional[int] = None) -> torch.Tensor:
        """Reset every env; returns float ``[N, obs_dim]`` on ``device``. ``seed`` reseeds the env's RNG."""
        ...

    def step(self, actions: torch.Tensor) -> StepOut:
        """Advance every env one control step with normalised efforts float ``[N, dim]`` (see module docstring)."""
        ...

    def close(self) -> None:
        """Release simulator resources."""
        ...
