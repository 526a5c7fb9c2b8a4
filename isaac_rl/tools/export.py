"""Deployable policies: the deterministic policy as a plain ``nn.Module`` (obs -> normalised effort), exported to
TorchScript (always) and ONNX (when the ``onnx`` package is installed)."""

from __future__ import annotations

import torch
from torch import nn

from isaac_rl.algorithms.base import Algorithm


def policy_module(algo: Algorithm) -> nn.Module:
    """The algorithm's deterministic policy as a module with no reference to the training objects."""
    return algo.policy_module()


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
