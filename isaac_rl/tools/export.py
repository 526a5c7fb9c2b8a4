"""Deployable policies: the deterministic policy as a plain ``nn.Module`` (obs -> normalised effort), exported to
TorchScript (always) and ONNX (when the ``onnx`` package is installed)."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class GreedyEffortPolicy(nn.Module):
    """DQN's greedy policy: float ``[N, obs_dim]`` -> float32 ``[N, 1]`` effort ``efforts[argmax_a Q(s, a)]``."""

    def __init__(self, q: nn.Module, efforts: torch.Tensor) -> None:
        super().__init__()
        self.q = copy.deepcopy(q).eval()
        self.register_buffer("efforts", efforts.detach().clone().reshape(-1, 1).float())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.efforts[self.q(obs).argmax(dim=-1)]


class ActorPolicy(nn.Module):
    """DDPG's deterministic actor: float ``[N, obs_dim]`` -> float32 ``[N, act_dim]`` effort in ``[-1, 1]``."""

    def __init__(self, actor: nn.Module) -> None:
        super().__init__()
        self.actor = copy.deepcopy(actor).eval()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(obs)


def policy_module(agent: Any) -> nn.Module:
    """The agent's deterministic policy as a module with no reference to the training objects."""
    learner = agent.learner
    if hasattr(learner, "q"):
        return GreedyEffortPolicy(learner.q, agent.efforts.table)
    return ActorPolicy(learner.actor)


def export_torchscript(module: nn.Module, example_obs: torch.Tensor, path: str) -> torch.jit.ScriptModule:
    """Trace ``module`` on ``example_obs`` (float ``[N, obs_dim]``) and save it; load with ``torch.jit.load``."""
    with torch.no_grad():
        traced = torch.jit.trace(module, example_obs)
    traced.save(path)
    return traced


def export_onnx(module: nn.Module, example_obs: torch.Tensor, path: str) -> None:
    """Export to ONNX with a dynamic batch axis; needs ``pip install onnx`` (and ``onnxscript`` on torch >= 2.5)."""
    try:
        import onnx  # noqa: F401
    except ImportError as err:
        raise ImportError("ONNX export needs `pip install onnx onnxscript`") from err
    torch.onnx.export(module, (example_obs,), path, input_names=["obs"], output_names=["effort"],
                      dynamic_axes={"obs": {0: "batch"}, "effort": {0: "batch"}})
