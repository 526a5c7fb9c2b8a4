"""Crash-safe checkpoints: write a temporary file in the same folder, fsync, then atomically rename over the target.

A crash, a signal (even SIGKILL) or a full disk during ``save`` leaves either the previous complete checkpoint or the
new complete one, never a torn file. Checkpoints hold only tensors, numbers, strings, lists and dicts, so they load
with ``torch.load(path, weights_only=True)``.
"""

from __future__ import annotations

import glob
import os
import tempfile
from typing import Any, Dict, Optional

import torch


def save_atomic(obj: Dict[str, Any], path: str) -> None:
    """``torch.save(obj)`` to ``path`` atomically (temporary file + fsync + ``os.replace`` + directory fsync)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pt", dir=folder)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # mkstemp creates 0600; checkpoints get the usual permissions
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load(path: str, device: Optional[str] = None) -> Dict[str, Any]:
    """Load a checkpoint with ``weights_only=True`` (no arbitrary code), mapping tensors to ``device``."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint={path!r} does not exist")
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except TypeError:  # torch < 1.13 has no weights_only
        return torch.load(path, map_location=device)


def latest(run_dir: str) -> Optional[str]:
    """The newest complete checkpoint under ``run_dir/nn`` (temporary files are ignored), or ``None``."""
    files = [f for f in glob.glob(os.path.join(run_dir, "nn", "*.pt")) if not os.path.basename(f).startswith(".tmp")]
    return max(files, key=os.path.getmtime) if files else None


def remove_stale_temporaries(run_dir: str) -> int:
    """Delete ``.tmp-*.pt`` files a killed save left in ``run_dir/nn`` (never a complete checkpoint); returns how many.

    Call it only while no process is saving into ``run_dir`` (at the start of a run, before training).
    """
    stale = glob.glob(os.path.join(run_dir, "nn", ".tmp-*.pt"))
    for path in stale:
        os.unlink(path)
    return len(stale)
