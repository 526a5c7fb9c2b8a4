"""The run folder ``<train_dir>/<experiment>``: which run owns it, what a new run may do there, and whether checkpoints
can be written into it. One run's results are never overwritten or mixed with another's."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from typing import Any, Dict, List, Mapping, Optional

from isaac_rl.app import checkpoint
from isaac_rl.core.errors import ConfigError, RunDirError

RESULT_FILES = ("config.yaml", "metrics.jsonl", "wandb_id.txt", "history.jsonl", "population.json",
                "population.png")
RESULT_DIRS = ("nn", "summaries", "wandb", "videos")


def run_dir_of(cfg: Mapping[str, Any]) -> str:
    """``<train_dir>/<experiment>``; the default experiment name is ``<train.name>_seed<seed>``, or
    ``<train.name>_sweep<sweep id>_<run id>`` inside a wandb sweep agent (so sweep runs never share a folder).
    An experiment that would land outside ``train_dir`` (``../x``) is a :class:`ConfigError`."""
    name = str(cfg["experiment"] or "") or f"{cfg['train']['name']}_seed{cfg['seed']}"
    if not cfg["experiment"] and os.environ.get("WANDB_SWEEP_ID") and os.environ.get("WANDB_RUN_ID"):
        name = f"{cfg['train']['name']}_sweep{os.environ['WANDB_SWEEP_ID']}_{os.environ['WANDB_RUN_ID']}"
    root = os.path.abspath(cfg["train_dir"])
    path = os.path.abspath(os.path.join(root, name))
    if os.path.commonpath([root, path]) != root or path == root or name.startswith("~"):
        raise ConfigError(f"invalid config: experiment={cfg['experiment']!r}; allowed: a folder name inside "
                          f"train_dir ({cfg['train_dir']}), no '..' or absolute path (set train_dir to write "
                          "elsewhere)")
    return os.path.join(cfg["train_dir"], name)


def results_in(run_dir: str) -> List[str]:
    """The result files and folders an earlier run left in ``run_dir`` (empty folders do not count)."""
    found = [f for f in RESULT_FILES if os.path.isfile(os.path.join(run_dir, f))]
    found += [d + "/" for d in RESULT_DIRS if os.path.isdir(os.path.join(run_dir, d)) and os.listdir(
        os.path.join(run_dir, d))]
    return found


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.abspath(path), os.path.abspath(folder)
    return os.path.commonpath([path, folder]) == folder


def plan(cfg: Mapping[str, Any], run_dir: str) -> Optional[str]:
    """Decide, without writing anything, what this run does with ``run_dir``; returns the checkpoint to resume from.

    - ``checkpoint=PATH``: resume from it (into ``run_dir``: in place when PATH lies in ``run_dir``).
    - ``resume=auto``: resume from :func:`isaac_rl.app.checkpoint.latest`; with none, say so and start a new run.
    - A new run into a folder holding an earlier run's results is refused with :class:`RunDirError` naming
      ``resume=auto``, ``overwrite=True`` and ``experiment=``; with ``overwrite=True`` :func:`clear` removes them
      once the run really starts.
    """
    existing = results_in(run_dir)
    overwrite = bool(cfg.get("overwrite", False))
    ckpt: Optional[str] = cfg["checkpoint"] or None
    in_place = ckpt is not None and _inside(ckpt, run_dir)
    if ckpt is None and cfg["resume"] == "auto":
        ckpt = checkpoint.latest(run_dir)
        in_place = ckpt is not None
        if ckpt is None:
            print(f"[isaac_rl] resume=auto: no checkpoint in {os.path.join(run_dir, 'nn')} to resume from; "
                  "starting a new run", flush=True)
    if overwrite and in_place:
        raise ConfigError(f"invalid config: overwrite=True; allowed: False when resuming from {ckpt} inside the run "
                          "folder it would delete (pick resume or overwrite)")
    if existing and not in_place and not overwrite:
        what = ", ".join(existing)
        why = ("no checkpoint to resume from" if cfg["resume"] == "auto" else "the results of an earlier run")
        raise RunDirError(f"run folder {run_dir} already holds {why} ({what}); continue it with resume=auto, start "
                          f"over with overwrite=True (deletes them), or choose another experiment=NAME")
    return ckpt


def clear(run_dir: str) -> List[str]:
    """Delete an earlier run's results from ``run_dir`` (``overwrite=True``); returns what was removed."""
    removed = results_in(run_dir)
    for name in RESULT_FILES:
        path = os.path.join(run_dir, name)
        if os.path.isfile(path):
            os.unlink(path)
    for name in RESULT_DIRS:
        shutil.rmtree(os.path.join(run_dir, name), ignore_errors=True)
    return removed


def check_writable(run_dir: str, need_bytes: int) -> None:
    """Create ``run_dir/nn``, write and delete a probe file there, and require ``need_bytes`` of free disk space (a
    checkpoint is written beside the previous one before replacing it). :class:`RunDirError` otherwise."""
    folder = os.path.join(run_dir, "nn")
    try:
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".tmp-probe-", suffix=".pt", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise RunDirError(f"cannot write checkpoints to {folder}: {err.strerror or err} (fix its permissions, or "
                          "set train_dir= or experiment= to another folder)") from None
    free = shutil.disk_usage(folder).free
    if free < need_bytes:
        raise RunDirError(f"not enough free disk space for checkpoints in {folder}: a checkpoint needs about "
                          f"{need_bytes / 2**20:,.1f} MiB, {free / 2**20:,.1f} MiB is free (free some space, lower "
                          "train.loop.buffer_per_env, or set train_dir= to another disk)")


def record(run_dir: str, event: Dict[str, Any]) -> None:
    """Append one event (start, resume with its changed settings, overwrite) to ``run_dir/history.jsonl``."""
    event = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), **event}
    with open(os.path.join(run_dir, "history.jsonl"), "a") as f:
        f.write(json.dumps(event, default=str) + "\n")


def truncate_metrics(run_dir: str, step: int) -> int:
    """Drop ``metrics.jsonl`` rows past env step ``step`` (logged after the checkpoint a resume starts from), so the
    file holds one step series; atomic rewrite. Returns how many rows were dropped."""
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.isfile(path):
        return 0
    with open(path) as f:
        lines = f.readlines()
    keep = []
    for line in lines:
        try:
            row_step = json.loads(line).get("step", 0)
        except ValueError:  # a line torn by a kill: drop it
            continue
        if row_step <= step:
            keep.append(line if line.endswith("\n") else line + "\n")
    if len(keep) == len(lines):
        return 0
    fd, tmp = tempfile.mkstemp(prefix=".tmp-metrics-", dir=run_dir)
    with os.fdopen(fd, "w") as f:
        f.writelines(keep)
    os.replace(tmp, path)
    return len(lines) - len(keep)
