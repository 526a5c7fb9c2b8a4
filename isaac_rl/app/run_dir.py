"""The run folder ``<train_dir>/<experiment>``: which run owns it, what a new run may do there, and whether checkpoints
can be written into it. One run's results are never overwritten or mixed with another's."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import socket
import tempfile
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple

try:
    import fcntl
except ImportError:  # not POSIX: runs are not locked
    fcntl = None  # type: ignore[assignment]

from isaac_rl.app import checkpoint
from isaac_rl.core.errors import ConfigError, RunDirError
from isaac_rl.core.settings import need

RESULT_FILES = ("config.yaml", "metrics.jsonl", "wandb_id.txt", "history.jsonl", "population.json",
                "population.png")
RESULT_DIRS = ("nn", "summaries", "wandb", "videos")


def default_name(cfg: Mapping[str, Any]) -> str:
    """The run folder name when ``experiment`` is '': ``<train.name>[_<settings>]_seed<seed>``.

    ``<settings>`` lists, in this order, each identity setting that differs from what the train config implies, so
    that runs of different settings never share a folder and the same command (``resume=auto`` included) finds the
    same folder again:

    - ``<task.name>`` when the train config is not named after the task (``CartPole-v1DQN_Drift_seed42``);
    - ``<sim>`` when it is not the default torch backend (``CartPole-v1DQN_gymnasium_seed42``);
    - ``envs<N>`` when ``num_envs`` is not the task config's (``CartpoleDQN_envs256_seed42``);
    - ``pop<K>`` for a population of K > 1 agents (``CartPole-v1DQN_pop5_seed42``);
    - ``vary<hash>`` for ``population_vary`` lists (6 hex digits of their values).

    The shipped command ``task=CartPole-v1 train=CartPole-v1DQN`` keeps ``CartPole-v1DQN_seed42``. Any other setting
    (``train.algo.lr``, ...) does not change the name: a second run with it is refused, never overwrites, and
    ``experiment=NAME`` names the folder freely. Inside a wandb sweep agent the name is
    ``<train.name>_sweep<sweep id>_<run id>`` (sweep runs never share a folder).
    """
    train, task = str(cfg["train"]["name"]), cfg["task"]
    if os.environ.get("WANDB_SWEEP_ID") and os.environ.get("WANDB_RUN_ID"):
        return f"{train}_sweep{os.environ['WANDB_SWEEP_ID']}_{os.environ['WANDB_RUN_ID']}"
    parts = [train]
    if not train.startswith(str(task["name"])):
        parts.append(str(task["name"]))
    if cfg.get("sim", "torch") != "torch":
        parts.append(str(cfg["sim"]))
    if task.get("num_envs") not in (None, "") and cfg.get("num_envs") != task["num_envs"]:
        parts.append(f"envs{cfg['num_envs']}")
    if int(cfg.get("population", 1) or 1) > 1:
        parts.append(f"pop{cfg['population']}")
    vary = {k: v for k, v in (cfg.get("population_vary") or {}).items() if v is not None}
    if vary:
        parts.append("vary" + hashlib.sha256(json.dumps(vary, sort_keys=True).encode()).hexdigest()[:6])
    parts.append(f"seed{cfg['seed']}")
    return "_".join(p.replace(os.sep, "-") for p in parts)


def _printable(value: str) -> bool:
    """No control character (newline, tab, escape, DEL, ...): a name that prints on one line."""
    return not any(ord(c) < 32 or ord(c) == 127 for c in value)


def run_dir_of(cfg: Mapping[str, Any]) -> str:
    """``<train_dir>/<experiment>``, with the default name of :func:`default_name` when ``experiment`` is ''.

    Refused with :class:`ConfigError` before anything is written: ``train_dir=''`` (it would write into the current
    folder), a control character (a newline, ...) in ``experiment`` or ``train_dir``, and an experiment that would
    land outside ``train_dir`` (``../x``, an absolute path)."""
    train_dir, experiment = cfg["train_dir"], cfg["experiment"]
    need(isinstance(train_dir, str) and train_dir.strip() != "" and _printable(train_dir), "train_dir", train_dir,
         "a folder path for the run folders (default runs), without control characters")
    name = "" if experiment is None else str(experiment)
    need(name == "" or (name.strip() != "" and _printable(name)), "experiment", experiment,
         "a folder name without control characters (newline, tab, ...), or '' for the default name")
    name = name or default_name(cfg)
    root = os.path.abspath(train_dir)
    path = os.path.abspath(os.path.join(root, name))
    if os.path.commonpath([root, path]) != root or path == root or name.startswith("~"):
        raise ConfigError(f"invalid config: experiment={experiment!r}; allowed: a folder name inside "
                          f"train_dir ({train_dir}), no '..' or absolute path (set train_dir to write "
                          "elsewhere)")
    return os.path.join(train_dir, name)


class RunLock:
    """This process owns the run folder: an exclusive ``flock`` on ``<run>/.lock``, held while the run lives.

    A second run into the same folder (a new run, ``resume=auto``, ``overwrite=True``) is refused with
    :class:`RunDirError` naming the folder and the process holding it (pid, host, start time, written into the
    file). The kernel drops the lock when its process ends in any way (a crash, SIGKILL), so a killed run never
    blocks the next; its stale ``.lock`` file is simply taken over. :meth:`release` deletes the file and the
    folders :meth:`acquire` created, where they are empty (a run refused at start-up leaves nothing behind).
    :meth:`check` says whether the folder still exists (deleted mid-run: :class:`RunDirError`)."""

    def __init__(self, run_dir: str) -> None:
        self.run_dir, self.path = run_dir, os.path.join(run_dir, ".lock")
        self._fd: Optional[int] = None
        self._created: List[str] = []

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def _makedirs(self) -> None:
        missing, folder = [], os.path.abspath(self.run_dir)
        while not os.path.isdir(folder):
            missing.append(folder)
            folder = os.path.dirname(folder)
        for folder in reversed(missing):
            try:
                os.mkdir(folder)
                self._created.append(folder)
            except FileExistsError:
                pass
            except OSError as err:
                raise RunDirError(f"cannot create the run folder {self.run_dir}: {err.strerror or err} (fix its "
                                  "permissions, or set train_dir= or experiment= to another folder)") from None

    def _holder(self) -> str:
        """Who holds the lock, as its file says (it writes that just after locking: read again briefly)."""
        text = ""
        for _ in range(20):
            try:
                with open(self.path) as f:
                    text = f.read().strip()
            except OSError:
                text = ""
            if text:
                break
            time.sleep(0.05)
        try:
            info = json.loads(text)
            return f"pid {info['pid']} on host {info['host']}, started {info['started']}"
        except (ValueError, TypeError, KeyError):
            return "a process that has not said its pid yet"

    def acquire(self) -> None:
        """Create the folder if needed and lock it; :class:`RunDirError` when another process holds it."""
        if fcntl is None:
            return
        for _ in range(50):  # a releasing run may delete the file (or its empty folder) between open and lock
            self._makedirs()
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:
                continue
            except OSError as err:
                raise RunDirError(f"cannot create the lock file {self.path}: {err.strerror or err} (fix the "
                                  "folder's permissions, or set train_dir= or experiment= to another folder)") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise RunDirError(f"run folder {self.run_dir} is in use by another run ({self._holder()}); wait for "
                                  "it to end or stop it, or choose another experiment=NAME") from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
            os.write(fd, (json.dumps(info) + "\n").encode())
            self._fd = fd
            return
        raise RunDirError(f"could not lock the run folder {self.run_dir}: its lock file keeps being replaced")

    def check(self) -> None:
        """:class:`RunDirError` when the run folder (or its lock file) was deleted while this run holds it."""
        if self._fd is None:
            return
        try:
            same = os.stat(self.path).st_ino == os.fstat(self._fd).st_ino
        except OSError:
            same = False
        if not same:
            raise RunDirError(f"run folder {self.run_dir} was removed while the run was training; the run stops "
                              "(nothing more can be saved there)")

    def release(self) -> None:
        """Unlock, delete the lock file, and remove the folders :meth:`acquire` created where they are empty."""
        if self._fd is not None:
            try:
                if os.stat(self.path).st_ino == os.fstat(self._fd).st_ino:
                    os.unlink(self.path)
            except OSError:
                pass
            os.close(self._fd)  # drops the flock
            self._fd = None
        for folder in reversed(self._created):
            try:
                os.rmdir(folder)
            except OSError:  # not empty: the run's results
                break
        self._created = []


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
        if ckpt is None and existing and not overwrite:
            best = os.path.isfile(os.path.join(run_dir, "nn", "best.pt"))
            why = ("nn/last.pt is missing, and nn/best.pt holds only the policy of the best evaluation (it plays, "
                   "tests and exports, but does not resume)" if best else "there is no nn/last.pt")
            raise RunDirError(f"resume=auto: run folder {run_dir} holds an earlier run's results "
                              f"({', '.join(existing)}) but no checkpoint to resume from: {why}; start over there "
                              "with overwrite=True (deletes them), or choose another experiment=NAME")
        if ckpt is None:
            print(f"[isaac_rl] resume=auto: no checkpoint in {os.path.join(run_dir, 'nn')} to resume from; "
                  "starting a new run", flush=True)
    if overwrite and in_place:
        raise ConfigError(f"invalid config: overwrite=True; allowed: False when resuming from {ckpt} inside the run "
                          "folder it would delete (pick resume or overwrite)")
    if existing and not in_place and not overwrite:
        raise RunDirError(f"run folder {run_dir} already holds the results of an earlier run ({', '.join(existing)}); "
                          "continue it with resume=auto, start over with overwrite=True (deletes them), or choose "
                          "another experiment=NAME")
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


def _metrics_row_step(line: bytes) -> Optional[float]:
    """The env step of one ``metrics.jsonl`` line, or ``None`` for a damaged line: torn by a kill, not UTF-8, not a
    JSON object, or without a finite numeric ``step``."""
    try:
        row = json.loads(line.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError alike
        return None
    step = row.get("step") if isinstance(row, dict) else None
    if not isinstance(step, (int, float)) or isinstance(step, bool) or not math.isfinite(step):
        return None
    return step


def truncate_metrics(run_dir: str, step: int) -> Tuple[int, int]:
    """Keep only the ``metrics.jsonl`` rows a resume from env step ``step`` continues: JSON objects with a numeric
    ``step <= step``, so the file holds one step series. Rows logged after the checkpoint and damaged lines (torn,
    binary, a list, a non-numeric step) are dropped; atomic rewrite. Returns ``(rows after the checkpoint, damaged
    lines)`` dropped."""
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.isfile(path):
        return 0, 0
    with open(path, "rb") as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    keep: List[bytes] = []
    late = damaged = 0
    for line in lines:
        row_step = _metrics_row_step(line)
        if row_step is None:
            damaged += 1
        elif row_step > step:
            late += 1
        else:
            keep.append(line + b"\n")
    if not late and not damaged:
        return 0, 0
    fd, tmp = tempfile.mkstemp(prefix=".tmp-metrics-", dir=run_dir)
    with os.fdopen(fd, "wb") as f:
        f.writelines(keep)
    os.replace(tmp, path)
    return late, damaged
