"""Deployable policies: the deterministic policy as a plain ``nn.Module`` (obs -> normalised effort), exported to
TorchScript, ``torch.export`` (torch >= 2.1) and ONNX (when the ``onnx`` package is installed), each with a JSON
sidecar of what a deployment needs (observation order and clip, action scale, efforts table, control period)."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Dict, Mapping

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


def export_program(module: nn.Module, example_obs: torch.Tensor, path: str) -> None:
    """``torch.export`` the policy (an ``ExportedProgram`` with a dynamic batch axis) and save it; load it with
    ``torch.export.load(path).module()``. Needs torch >= 2.1; the successor of TorchScript, which torch deprecates."""
    export = getattr(torch, "export", None)
    if export is None or not hasattr(export, "export"):
        raise RuntimeError(f"--export-program needs torch >= 2.1 (torch.export); this is torch {torch.__version__}")
    batch = export.Dim("batch", min=1, max=1 << 20)  # type: ignore[attr-defined]
    program = export.export(module.eval(), (example_obs,), dynamic_shapes=({0: batch},))
    export.save(program, path)


def deploy_sidecar(cfg: Mapping[str, Any], env: Any, algo: Algorithm, policy_path: str, fmt: str) -> Dict[str, Any]:
    """What a deployment needs beside the policy file, written to ``<policy_path>.json``: the observation layout and
    clip, the action scale (physical effort at ``|action| = 1``) and, for DQN, the discrete efforts table, the
    control period, and a hash of the training config (which run the policy came from)."""
    algo_cfg = cfg["train"]["algo"]
    spec = env.action_spec
    config_json = json.dumps(cfg, sort_keys=True, default=str)
    sidecar = {
        "format": fmt, "policy": os.path.basename(policy_path), "task": cfg["task"]["name"],
        "algorithm": algo_cfg["name"],
        "input": {"name": "obs", "dtype": "float32", "shape": ["batch", env.obs_dim],
                  "order": list(getattr(env, "obs_names", [f"obs{i}" for i in range(env.obs_dim)])),
                  "clip": getattr(env, "obs_clip", None)},
        "output": {"name": "effort", "dtype": "float32", "shape": ["batch", spec.dim], "range": [-1.0, 1.0],
                   "action_scale": float(spec.max_effort),
                   "meaning": "normalised effort; multiply by action_scale for the physical force or torque"},
        "discrete_efforts": list(algo_cfg["efforts"]) if algo.action_dim == 0 else None,
        "control_dt": getattr(env, "control_dt", None),
        "max_episode_steps": env.max_episode_steps,
        "config_sha256": hashlib.sha256(config_json.encode()).hexdigest(),
        "torch_version": torch.__version__,
    }
    with open(policy_path + ".json", "w") as f:
        json.dump(sidecar, f, indent=2)
    return sidecar
