"""Crash-safe checkpoints: write a temporary file in the same folder, fsync, then atomically rename over the target.

A crash, a signal (even SIGKILL) or a full disk during ``save`` leaves either the previous complete checkpoint or the
new complete one, never a torn file. Checkpoints hold only tensors, numbers, strings, lists and dicts, so they load
with ``torch.load(path, weights_only=True)``.
"""

from __future__ import annotations

import glob
import os
import tempfile
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import torch

from isaac_rl.algorithms import settings_dict
from isaac_rl.app.config import loop_dict
from isaac_rl.core.errors import CheckpointError, ConfigError, DivergedError

# Settings a resumed run may change: how long and how it runs, where it logs. Any other difference (task, physics,
# algorithm, network, num_envs, buffer) cannot apply to a checkpoint's state and is refused.
RESUMABLE_CHANGES = (
    "experiment", "train_dir", "checkpoint", "resume", "overwrite", "debug", "test", "agent", "max_iterations",
    "train.loop.max_iterations", "train.loop.log_interval", "train.loop.eval_interval", "train.loop.eval_target",
    "train.loop.eval_early_out", "train.loop.checkpoint_interval", "train.loop.verify_episodes", "train.eval_envs",
    "num_envs_given",
    "num_eval_envs", "sim_device", "rl_device", "compile", "cuda_graph", "torch_threads", "keep_host_memory",
    "torch_deterministic",
    "headless", "graphics_device_id", "multi_gpu", "seed", "wandb_activate", "wandb_group", "wandb_name",
    "wandb_entity", "wandb_project", "wandb_tags", "capture_video", "capture_video_freq", "capture_video_len")
# What a policy needs to be rebuilt (play, test, export): the network's input, output and shape.
POLICY_KEYS = ("task.name", "train.algo.name", "train.algo.hidden", "train.algo.layer_norm", "train.algo.efforts")


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
    """Load a checkpoint with ``weights_only=True`` (no arbitrary code), mapping tensors to ``device``.

    A missing path, a folder, or a file torch cannot read as a checkpoint (empty, truncated, random bytes, pickled
    objects) raises :class:`CheckpointError` naming the path.
    """
    if os.path.isdir(path):
        raise CheckpointError(f"checkpoint={path!r} is a folder, not a checkpoint file; give a .pt file such as "
                              f"{os.path.join(path, 'nn', 'last.pt')}")
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint={path!r} does not exist")
    if os.path.getsize(path) == 0:
        raise CheckpointError(f"checkpoint={path!r} is not a checkpoint of this trainer (the file is empty)")
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # torch raises many types for bad files; the details are not the user's to fix
        kind = "truncated or corrupt" if "zip" in str(err).lower() or "archive" in str(err).lower() else "unreadable"
        raise CheckpointError(f"checkpoint={path!r} is not a checkpoint of this trainer (the file is {kind}: "
                              f"{type(err).__name__})") from None
    if not isinstance(state, dict) or not isinstance(state.get("trainer"), dict):
        raise CheckpointError(f"checkpoint={path!r} is not a checkpoint of this trainer (no trainer state in it)")
    return state


def tensors(obj: Any) -> Iterator[torch.Tensor]:
    """Every tensor inside nested dicts/lists/tuples."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, Mapping):
        for value in obj.values():
            yield from tensors(value)
    elif isinstance(obj, (list, tuple)):
        for value in obj:
            yield from tensors(value)


def all_finite(obj: Any) -> bool:
    """Every floating-point tensor inside ``obj`` (nested dicts/lists) is finite; one host read."""
    flags = [torch.isfinite(t).all() for t in tensors(obj) if t.is_floating_point() and t.numel()]
    return bool(torch.stack(flags).all()) if flags else True


def read(path: str, device: Optional[str], purpose: str, cfg: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Load a run checkpoint for ``purpose`` (``"resume"``, ``"test"``, ``"play"``, ``"export"``) and check it fits.

    Refused with :class:`CheckpointError`: files :func:`load` refuses; checkpoints without a stored config; a policy
    checkpoint (``nn/best.pt``) for ``resume``; non-finite weights; with ``cfg``, a stored config whose task,
    algorithm or network (any setting outside :data:`RESUMABLE_CHANGES` for ``resume``) differs from ``cfg``.
    """
    state = load(path, device)
    if not isinstance(state.get("config"), dict) or not isinstance(state["trainer"].get("agent"), dict):
        raise CheckpointError(f"checkpoint={path!r} is not a checkpoint of this trainer (no config or agent in it)")
    if purpose != "resume":
        _upgrade_schedule_keys(state["config"])
    _fill_defaults(state["config"])
    if purpose == "resume" and state.get("kind", "full") != "full":
        raise CheckpointError(f"checkpoint={path!r} holds a policy only (the best evaluation); it can be played, "
                              "tested and exported but not resumed: resume from nn/last.pt")
    if not all_finite(state["trainer"]["agent"]):
        raise CheckpointError(f"checkpoint={path!r} holds non-finite (NaN/inf) network weights: the run that wrote "
                              f"it diverged; refusing to {purpose} it")
    if cfg is not None:
        keys = None if purpose == "resume" else POLICY_KEYS
        diff = differences(state["config"], cfg, only=keys)
        if purpose == "resume":
            diff = [d for d in diff if d[0] not in RESUMABLE_CHANGES]
        if diff:
            shown = "; ".join(f"{k}: {a!r} in the checkpoint, {b!r} now" for k, a, b in diff[:6])
            more = f" (and {len(diff) - 6} more)" if len(diff) > 6 else ""
            advice = (" a resumed run can change only how long and how it runs (max_iterations, intervals, "
                      "eval settings, device, logging); start a new experiment= for other settings" if
                      purpose == "resume" else f" {purpose} it with the task and train config it was trained with")
            raise CheckpointError(f"checkpoint={path!r} was written by a run with other settings: {shown}{more};"
                                  f"{advice}")
    return state


def _upgrade_schedule_keys(cfg: Dict[str, Any]) -> None:
    """A checkpoint written before the schedules were counted in iterations still plays, tests and exports: its
    transition-counted keys are converted (they shape no network). A resume compares them and refuses instead."""
    train = cfg.get("train", {})
    loop, algo, n = train.get("loop", {}), train.get("algo", {}), max(1, int(cfg.get("num_envs", 1) or 1))
    if "learning_starts" in loop:
        loop.setdefault("warmup_iterations", -(-int(loop.pop("learning_starts")) // n))
    if "buffer_size" in loop:
        loop.setdefault("buffer_per_env", max(1, int(loop.pop("buffer_size")) // n))
    if "eps_decay_steps" in algo:
        algo.setdefault("eps_decay_iterations", max(1, int(algo.pop("eps_decay_steps")) // n))


def _fill_defaults(cfg: Dict[str, Any]) -> None:
    """A config stored before every default was recorded gets the defaults of today's settings dataclasses (keys it
    lacks mean their defaults), so that it compares equal to the same run's config now; the removed ``task_name``
    (a copy of ``task.name``) goes. A config these dataclasses refuse is left as it is (and then compared as is)."""
    cfg.pop("task_name", None)
    cfg.setdefault("population", 1)  # one agent before populations existed
    cfg["population_vary"] = {k: v for k, v in (cfg.get("population_vary") or {}).items() if v is not None}
    cfg.setdefault("agent", 0)
    train = cfg.get("train")
    if not isinstance(train, dict):
        return
    try:
        algo, loop = settings_dict(train.get("algo", {})), loop_dict(train.get("loop", {}), train.get("algo", {}))
    except (ConfigError, TypeError):
        return
    train["algo"], train["loop"] = algo, loop


def flatten(cfg: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    """Nested config -> ``{"train.algo.lr": ...}``."""
    out: Dict[str, Any] = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def differences(old: Mapping[str, Any], new: Mapping[str, Any],
                only: Optional[Tuple[str, ...]] = None) -> List[Tuple[str, Any, Any]]:
    """``(key, old value, new value)`` for every dotted key whose value differs (``only``: just those keys)."""
    a, b = flatten(old), flatten(new)
    keys = sorted(set(a) | set(b)) if only is None else list(only)
    # A key one side lacks compares as null (an unset population_vary entry, a default recorded as null).
    return [(key, a.get(key), b.get(key)) for key in keys if a.get(key) != b.get(key)]


def save_checked(obj: Dict[str, Any], path: str) -> None:
    """:func:`save_atomic` after checking the agent's weights are finite: a diverged run never replaces a good file."""
    if not all_finite(obj["trainer"]["agent"]):
        raise DivergedError(f"not saving {path}: the network weights are non-finite (NaN/inf); the previous "
                            "checkpoint there (if any) is kept")
    save_atomic(obj, path)


def latest(run_dir: str) -> Optional[str]:
    """The checkpoint to resume ``run_dir`` from: ``nn/last.pt``, else the newest other full checkpoint under
    ``run_dir/nn`` (temporary files and the policy-only ``best.pt`` are ignored), or ``None``."""
    last = os.path.join(run_dir, "nn", "last.pt")
    if os.path.isfile(last):
        return last
    files = [f for f in glob.glob(os.path.join(run_dir, "nn", "*.pt"))
             if not os.path.basename(f).startswith(".tmp") and os.path.basename(f) != "best.pt"]
    return max(files, key=os.path.getmtime) if files else None


def remove_stale_temporaries(run_dir: str) -> int:
    """Delete ``.tmp-*.pt`` files a killed save left in ``run_dir/nn`` (never a complete checkpoint); returns how many.

    Call it only while no process is saving into ``run_dir`` (at the start of a run, before training).
    """
    stale = glob.glob(os.path.join(run_dir, "nn", ".tmp-*.pt"))
    for path in stale:
        os.unlink(path)
    return len(stale)
