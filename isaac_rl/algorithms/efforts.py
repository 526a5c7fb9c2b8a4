"""DQN's discrete action set: index -> normalised effort, on the env's device."""

from __future__ import annotations

from typing import Sequence

import torch

from isaac_rl.core.contract import ActionSpec


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
