"""Small MLPs and the Polyak target update shared by the algorithms."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class MLP(nn.Sequential):
    """``nn.Sequential`` whose forward calls each layer's ``forward`` directly instead of through ``Module.__call__``
    (which checks for hooks on every call): the same kernels and numbers with less per-call Python overhead, which
    bounds these small networks on a CPU. Forward hooks registered on the inner layers therefore do not run; hooks on
    the MLP do."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self._modules.values():
            x = layer.forward(x)  # type: ignore[union-attr]
        return x


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int, device: torch.device,
        activation: type = nn.ReLU, layer_norm: bool = False) -> MLP:
    """``in_dim -> hidden[0] -> ... -> out_dim`` with ``activation`` between layers, born on ``device``.

    ``layer_norm`` puts a LayerNorm before each hidden activation (Ba et al., 2016), which keeps TD learning stable
    at high learning rates (Gallici et al., 2024, "Simplifying Deep Temporal Difference Learning").
    """
    layers: list = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width)] + ([nn.LayerNorm(width)] if layer_norm else []) + [activation()]
        in_dim = width
    layers.append(nn.Linear(in_dim, out_dim))
    return MLP(*layers).to(device)


@torch.no_grad()
def polyak_update(target: Sequence[torch.Tensor], online: Sequence[torch.Tensor], tau: float) -> None:
    """``target <- target + tau * (online - target)`` for every tensor pair (``lerp``: exact copy at ``tau = 1``),
    one multi-tensor kernel where this torch has ``torch._foreach_lerp_`` (>= 2.0), else one ``lerp_`` per tensor."""
    if hasattr(torch, "_foreach_lerp_"):
        torch._foreach_lerp_(list(target), list(online), tau)
        return
    for t, o in zip(target, online):
        t.lerp_(o, tau)
