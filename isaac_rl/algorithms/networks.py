"""Stacked small MLPs (one set of weights per agent of a population, evaluated with batched matrix products), the
per-agent Polyak target update and gradient clipping shared by the algorithms.

Every network here holds ``K`` independent copies of its weights (``K`` = agents of the population, 1 for an
ordinary run) and maps float ``[K, B, in]`` to ``[K, B, out]``: one ``baddbmm`` kernel serves all agents, and no
agent's numbers depend on another's (each agent's loss only reaches its own slice of the weights).
"""

from __future__ import annotations

import copy
import math
from typing import List, Sequence

import torch
import torch.nn.functional as F
from torch import nn


def agent_generators(seeds: Sequence[int]) -> list:
    """The CPU generator of each agent's initial weights: agent 0 draws from torch's default generator (which the
    run seeded with ``seeds[0]`` just before, as a one-agent run always did, so a one-agent run's random streams are
    those of earlier versions), agent ``k > 0`` from its own generator seeded ``seeds[k]``, which gives the weights
    that a one-agent run of seed ``seeds[k]`` starts from."""
    return [torch.default_generator] + [torch.Generator().manual_seed(int(s)) for s in seeds[1:]]


def _stacked_uniform(shape: Sequence[int], bound: float, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """``U(-bound, bound)`` of ``shape`` for each agent from its own generator: float32 ``[K, *shape]`` on the CPU."""
    return torch.stack([(torch.rand(tuple(shape), generator=g) * 2.0 - 1.0) * bound for g in generators])


class StackedModule(nn.Module):
    """A module whose own parameters are stacked ``[K, ...]``; it also loads a one-agent state of the earlier
    unstacked layout (:func:`as_stacked`)."""

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[no-untyped-def]
        for name, like in self.named_parameters(recurse=False):
            key = prefix + name
            if key in state_dict:
                state_dict[key] = as_stacked(state_dict[key], like)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class StackedLinear(StackedModule):
    """``K`` independent affine maps ``y_k = x_k W_k + b_k``: float ``[K, B, in]`` -> ``[K, B, out]``.

    ``weight`` is ``[K, in, out]`` and ``bias`` ``[K, 1, out]``, initialised per agent like ``nn.Linear``
    (``U(-1/sqrt(in), 1/sqrt(in))``). A one-agent ``nn.Linear`` state (weight ``[out, in]``, bias ``[out]``, as
    checkpoints of earlier versions hold) loads into ``K = 1``.
    """

    def __init__(self, in_dim: int, out_dim: int, generators: Sequence[torch.Generator],
                 device: torch.device) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_dim)
        self.weight = nn.Parameter(_stacked_uniform((out_dim, in_dim), bound, generators).transpose(1, 2)
                                   .contiguous().to(device))
        self.bias = nn.Parameter(_stacked_uniform((1, out_dim), bound, generators).to(device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, rows, out = x.shape[0], x.shape[1], self.weight.shape[2]
        if k == 1:  # one agent: the 2-D GEMM with its bias, as nn.Linear; views (not indexing), whose backward is free
            return torch.addmm(self.bias.view(out), x.reshape(rows, x.shape[2]),
                               self.weight.view(self.weight.shape[1], out)).view(1, rows, out)
        return torch.baddbmm(self.bias, x, self.weight)

class StackedLayerNorm(StackedModule):
    """LayerNorm over the last dimension with a per-agent affine ``[K, 1, width]`` (Ba et al., 2016)."""

    def __init__(self, width: int, agents: int, device: torch.device, eps: float = 1e-5) -> None:
        super().__init__()
        self.width, self.eps = width, eps
        self.weight = nn.Parameter(torch.ones((agents, 1, width), device=device))
        self.bias = nn.Parameter(torch.zeros((agents, 1, width), device=device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight.shape[0] == 1:  # one agent: the affine fused into the LayerNorm kernel
            return F.layer_norm(x, (self.width,), self.weight.view(-1), self.bias.view(-1), self.eps)
        return torch.addcmul(self.bias, F.layer_norm(x, (self.width,), eps=self.eps), self.weight)

def as_stacked(value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A one-agent tensor of the earlier unstacked layout (``nn.Linear`` weight ``[out, in]``, bias or LayerNorm
    ``[width]``) in the stacked layout of ``like`` (``[1, in, out]``, ``[1, 1, width]``); other tensors unchanged."""
    if value.shape == like.shape or like.shape[0] != 1:
        return value
    if value.dim() == 2 and like.dim() == 3 and value.shape == (like.shape[2], like.shape[1]):
        return value.t().unsqueeze(0)
    if value.dim() == 1 and like.dim() == 3 and value.numel() == like.numel():
        return value.view(like.shape)
    if value.dim() == 0 and like.dim() == 1 and like.numel() == 1:
        return value.view(1)
    return value


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
        generators: Sequence[torch.Generator], activation: type = nn.ReLU, layer_norm: bool = False) -> MLP:
    """``in_dim -> hidden[0] -> ... -> out_dim`` for ``K = len(generators)`` agents (float ``[K, B, in_dim]`` ->
    ``[K, B, out_dim]``), with ``activation`` between layers, born on ``device``.

    ``layer_norm`` puts a LayerNorm before each hidden activation (Ba et al., 2016), which keeps TD learning stable
    at high learning rates (Gallici et al., 2024, "Simplifying Deep Temporal Difference Learning").
    """
    layers: list = []
    for width in hidden:
        layers.append(StackedLinear(in_dim, width, generators, device))
        if layer_norm:
            layers.append(StackedLayerNorm(width, len(generators), device))
        layers.append(activation())
        in_dim = width
    layers.append(StackedLinear(in_dim, out_dim, generators, device))
    return MLP(*layers)


def select_agent(module: nn.Module, k: int) -> nn.Module:
    """A deep copy of stacked ``module`` holding only agent ``k``'s weights (a one-agent module)."""
    one = copy.deepcopy(module)
    with torch.no_grad():
        for sub in one.modules():
            for name, p in list(sub.named_parameters(recurse=False)):
                setattr(sub, name, nn.Parameter(p[k:k + 1].clone(), requires_grad=p.requires_grad))
    return one


def per_tensor(tau: torch.Tensor, tensors: Sequence[torch.Tensor]) -> List[torch.Tensor]:
    """Views of the per-agent factors float ``tau [K]`` expanded to each stacked tensor's shape (the weights of
    :func:`polyak_update`; made once, they follow ``tau`` as it changes in place)."""
    return [tau.view((-1,) + (1,) * (t.dim() - 1)).expand_as(t) for t in tensors]


@torch.no_grad()
def polyak_update(target: Sequence[torch.Tensor], online: Sequence[torch.Tensor],
                  weights: Sequence[torch.Tensor]) -> None:
    """``target <- target + tau_k * (online - target)`` for every stacked tensor pair, agent ``k``'s own factor in
    ``weights`` (:func:`per_tensor`; ``lerp``: exact copy at 1, frozen at 0); one multi-tensor kernel where this
    torch has ``torch._foreach_lerp_`` with tensor weights (>= 2.0), else one ``lerp_`` per tensor."""
    if hasattr(torch, "_foreach_lerp_"):
        torch._foreach_lerp_(list(target), list(online), weights)
        return
    for t, o, w in zip(target, online, weights):
        t.lerp_(o, w)


@torch.no_grad()
def clip_grad_norm_per_agent(params: Sequence[torch.Tensor], max_norm: float) -> None:
    """Scale each agent's gradients (slice ``k`` of every stacked parameter) so that their joint L2 norm is at most
    ``max_norm``: ``g_k <- g_k * min(1, max_norm / (||g_k|| + 1e-6))``, as ``clip_grad_norm_`` does for one agent."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    squares = torch.stack([g.pow(2).reshape(g.shape[0], -1).sum(-1) for g in grads]).sum(0)  # [K]
    coef = torch.clamp(max_norm / (squares.sqrt() + 1e-6), max=1.0)
    for g in grads:
        g.mul_(coef.view((-1,) + (1,) * (g.dim() - 1)))
