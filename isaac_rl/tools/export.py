"""Deployable policies: the deterministic policy as a plain ``nn.Module`` (obs -> normalised effort), exported to
TorchScript, ``torch.export`` (torch >= 2.1) and ONNX (one self-contained file; the ``export`` extra), each with a
JSON sidecar of what a deployment needs (observation order and clip, action scale, efforts table, control period).
Every file is written atomically (:func:`isaac_rl.tools.files.atomic_output`): absent or whole, never torn."""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import io
import json
import os
import sys
import tempfile
from typing import Any, Callable, Dict, Mapping

import torch
from torch import nn

from isaac_rl.algorithms.base import Algorithm
from isaac_rl.tools.files import atomic_output

# What ``--onnx`` imports, and the extra that installs it (onnxscript: torch's ONNX exporter on Python >= 3.9).
ONNX_MODULES = ("onnx", "onnxscript") if sys.version_info >= (3, 9) else ("onnx",)


def policy_module(algo: Algorithm) -> nn.Module:
    """The algorithm's deterministic policy as a module with no reference to the training objects."""
    return algo.policy_module()


def export_torchscript(module: nn.Module, example_obs: torch.Tensor, path: str) -> torch.jit.ScriptModule:
    """Trace ``module`` on ``example_obs`` (float ``[N, obs_dim]``) and save it; load with ``torch.jit.load``."""
    with torch.no_grad():
        traced = torch.jit.trace(module, example_obs)
    _write_bytes(path, lambda f: torch.jit.save(traced, f))
    return traced


def _write_bytes(path: str, save: Callable[[io.BytesIO], Any]) -> None:
    """``save`` into memory, then the bytes to ``path`` atomically: a full disk is an ``OSError`` raised by Python's
    write (torch's own archive writer aborts the process on some write errors); policies are small."""
    buffer = io.BytesIO()
    save(buffer)
    with atomic_output(path) as tmp, open(tmp, "wb") as f:
        f.write(buffer.getvalue())


def export_onnx(module: nn.Module, example_obs: torch.Tensor, path: str) -> None:
    """Export to ONNX with a dynamic batch axis as ONE self-contained file (the weights inside, no ``.data`` beside:
    it can be copied alone). Needs the ``export`` extra (``pip install "isaac_rl[export]"``: onnx, onnxscript).

    torch >= 2.6 takes ``external_data=False``; on older torch (2.4: the TorchScript-based exporter) and as a
    guarantee on every version, the exported model is loaded with its external data and saved again inline."""
    try:
        import onnx
    except ImportError as err:
        raise ImportError('ONNX export needs the export extra: pip install "isaac_rl[export]"') from err
    kwargs: Dict[str, Any] = dict(input_names=["obs"], output_names=["effort"],
                                  dynamic_axes={"obs": {0: "batch"}, "effort": {0: "batch"}})
    params = inspect.signature(torch.onnx.export).parameters
    kwargs.update({k: False for k in ("external_data", "verbose") if k in params})
    with tempfile.TemporaryDirectory(prefix="isaac_rl-onnx-") as folder:  # any side files the exporter writes
        first = os.path.join(folder, "policy.onnx")
        with contextlib.redirect_stdout(sys.stderr):  # the exporter's progress lines; stdout is play's JSON line
            torch.onnx.export(module.eval(), (example_obs,), first, **kwargs)
        model = onnx.load(first)  # loads external data, if any, from ``folder``
        with atomic_output(path) as tmp, open(tmp, "wb") as f:
            f.write(model.SerializeToString())  # the weights inline: one self-contained file


def has_torch_export() -> bool:
    """Whether this torch has ``torch.export`` with ``save`` (torch >= 2.1)."""
    export = getattr(torch, "export", None)
    return export is not None and hasattr(export, "export") and hasattr(export, "save")


def export_program(module: nn.Module, example_obs: torch.Tensor, path: str) -> None:
    """``torch.export`` the policy (an ``ExportedProgram`` with a dynamic batch axis) and save it; load it with
    ``torch.export.load(path).module()``. Needs torch >= 2.1; the successor of TorchScript, which torch deprecates."""
    if not has_torch_export():
        raise RuntimeError(f"--export-program needs torch >= 2.1 (torch.export); this is torch {torch.__version__}")
    export = torch.export
    batch = export.Dim("batch", min=1, max=1 << 20)  # type: ignore[attr-defined]
    program = export.export(module.eval(), (example_obs,), dynamic_shapes=({0: batch},))
    _write_bytes(path, lambda f: export.save(program, f))


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
    with atomic_output(policy_path + ".json") as tmp, open(tmp, "w") as f:
        json.dump(sidecar, f, indent=2)
    return sidecar
