"""Small MLPs and the target-network update shared by the learners."""

from __future__ import annotations

from typing import Iterable, Sequence

import torch
from torch import nn


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int, device: torch.device,
        activation: type = nn.ReLU) -> nn.Sequential:
    """``in_dim -> hidden[0] -> ... -> out_dim`` with ``activation`` between layers, born on ``device``."""
    layers = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), activation()]
        in_dim = width
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers).to(device)


def adam(params: Iterable[torch.nn.Parameter], lr: float) -> torch.optim.Adam:
    """Adam with the fastest kernel this torch offers: fused (CPU since torch 2.4, CUDA since 2.0), else foreach.

    On a 2-core CPU the fused step makes a small-MLP DQN update about 30% faster than the default for-loop kernel.
    """
    params = list(params)
    try:  # torch rejects fused=True at construction where it has no fused kernel for these params
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (TypeError, RuntimeError):
        return torch.optim.Adam(params, lr=lr, foreach=True)


@torch.no_grad()
def polyak_update(target: Iterable[torch.Tensor], online: Iterable[torch.Tensor], tau: float) -> None:
    """``target <- (1 - tau) * target + tau * online`` for every tensor pair (tau = 1 is a hard copy).

    Uses the multi-tensor ``torch._foreach_*`` kernels (present since torch 1.7).
    """
    target, online = list(target), list(online)
    if tau == 1.0:
        for t, o in zip(target, online):
            t.copy_(o)
        return
    torch._foreach_mul_(target, 1.0 - tau)
    torch._foreach_add_(target, online, alpha=tau)
