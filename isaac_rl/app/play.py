"""Load a checkpoint, run N deterministic episodes, and optionally draw a GIF or MP4, plot the learning curve and
export the policy.

    isaac-rl-play runs/CartPole-v1DQN_seed42/nn/last.pt --episodes 20     # or python scripts/play.py ...
    python scripts/play.py runs/.../nn/last.pt --sim gymnasium          # the same policy in real gymnasium
    python scripts/play.py runs/CartpoleDQN_seed1/nn/last.pt --variations   # robustness: 1,000 episodes per model
    python scripts/play.py runs/.../nn/last.pt --gif rollout.gif --curve curve.png \\
        --export policy.pt --onnx policy.onnx

Prints one JSON line: mean/std/min return and mean length over the episodes (one per env, each env's first episode),
plus the paths written; with ``--variations`` a table of each model variation's mean and worst return goes to stderr
and the line carries them under ``variations`` (:mod:`isaac_rl.app.robustness`). The exported TorchScript/ONNX
policy maps float ``[N, obs_dim]`` observations to normalised efforts ``[N, act_dim]`` in ``[-1, 1]`` (multiply by
the task's max effort for newtons); the ONNX file is self-contained (no ``.data`` file beside it).

Every output is checked before the evaluation runs and before anything is written: its extension, its folder
(exists, writable), the optional package it needs (the ``viz`` or ``export`` extra), that no two outputs share a path,
and that it does not exist (``--force`` replaces existing files, but never the checkpoint played nor a run folder's
checkpoints or result files). Each file is written atomically, so Ctrl-C or SIGTERM leaves no partial file.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from isaac_rl.core.errors import UserError


class Output(NamedTuple):
    """One output flag: its ``args`` attribute, the file extensions it takes (None: any), the modules it imports,
    the pip extra that installs them, and whether a ``<file>.json`` sidecar is written beside it."""

    attr: str
    exts: Optional[Tuple[str, ...]]
    modules: Tuple[str, ...]
    extra: str
    sidecar: bool

    @property
    def flag(self) -> str:
        return "--" + self.attr.replace("_", "-")


PIP_NAMES = {"PIL": "pillow", "imageio_ffmpeg": "imageio-ffmpeg"}


def _outputs() -> Tuple[Output, ...]:
    from isaac_rl.tools.export import ONNX_MODULES
    return (Output("export", None, (), "", True), Output("export_program", None, (), "", True),
            Output("onnx", None, ONNX_MODULES, "export", True),
            Output("gif", (".gif",), ("PIL",), "viz", False),
            Output("video", (".mp4",), ("PIL", "imageio_ffmpeg"), "viz", False),
            Output("curve", (".png", ".pdf", ".svg"), ("matplotlib",), "viz", False))


class Interrupted(UserError):
    """Ctrl-C, SIGTERM or SIGHUP during play: the files finished before it are whole, no other file was written."""

    exit_code = 130


class _Parser(argparse.ArgumentParser):
    """Argument errors as one ``[isaac_rl] error:`` line (exit code 2), like every other bad input."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise UserError(f"{message} (see --help)")


def parse(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    from isaac_rl.app.config import SEED_MAX

    p = _Parser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="a .pt file written by scripts/train.py (runs/<experiment>/nn/last.pt "
                   "or best.pt)")
    p.add_argument("--episodes", type=int, default=None, help="deterministic episodes (one per env); default 10, "
                   "1000 per variation with --variations")
    p.add_argument("--variations", nargs="?", const="all", default=None, help="also evaluate under named model "
                   "variations (all, or a comma-separated list of nominal, solid_box_inertia, mass+20%%) and print a "
                   "table of mean and worst returns (isaac_rl/app/robustness.py)")
    p.add_argument("--sim", choices=("torch", "gymnasium", "dmc", "isaacgym"), default=None,
                   help="backend to play on; default: the one it was trained on")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda or cuda:N; default cpu")
    p.add_argument("--seed", type=int, default=0, help="seed of the episodes' initial states")
    p.add_argument("--agent", type=int, default=0, help="which agent of a population checkpoint (nn/last.pt of a "
                   "population=K run); default 0")
    p.add_argument("--gif", default="", help="write a GIF of one episode here (.gif; torch backend tasks)")
    p.add_argument("--gif-steps", type=int, default=500, help="at most this many GIF or video steps; default 500")
    p.add_argument("--video", default="", help="write an MP4 of one episode here (.mp4; needs the viz extra; "
                   "torch backend tasks)")
    p.add_argument("--curve", default="", help="write the run's learning curve (metrics.jsonl) here (.png, .pdf or "
                   ".svg; needs the viz extra)")
    p.add_argument("--export", default="", help="write the policy as TorchScript here (.pt), with <file>.json beside")
    p.add_argument("--export-program", default="", help="write the policy as a torch.export program here (.pt2; "
                   "torch >= 2.1), with <file>.json beside")
    p.add_argument("--onnx", default="", help="write the policy as one self-contained ONNX file here, with "
                   "<file>.json beside (needs the export extra: pip install \"isaac_rl[export]\")")
    p.add_argument("--force", action="store_true", help="replace output files that exist (never the checkpoint "
                   "played nor a run folder's checkpoints and results)")
    args = p.parse_args(argv)
    if args.episodes is None:
        args.episodes = 10 if args.variations is None else 1000
    if args.episodes < 1:
        p.error(f"--episodes must be >= 1, got {args.episodes}")
    if args.agent < 0:
        p.error(f"--agent must be >= 0, got {args.agent}")
    if args.gif_steps < 1:
        p.error(f"--gif-steps must be >= 1, got {args.gif_steps}")
    if not 0 <= args.seed < SEED_MAX:
        p.error(f"--seed must be in 0 to {SEED_MAX - 1}, got {args.seed}")
    if not os.path.exists(args.checkpoint):  # a folder or a bad file: checkpoint.read says what is wrong
        p.error(f"checkpoint {args.checkpoint!r} does not exist")
    return args


def check_device(name: str) -> None:
    """``cpu``, ``cuda`` or ``cuda:N`` naming a device torch sees; :class:`UserError` naming ``--device`` otherwise."""
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise UserError(f"--device {name!r} is not a valid device; allowed: cpu, cuda or cuda:N")
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            why = "this torch has no CUDA support" if torch.version.cuda is None else "torch sees no CUDA device"
            raise UserError(f"--device {name!r} is not available: {why}; use --device cpu")
        if device.index is not None and device.index >= count:
            raise UserError(f"--device {name!r} is not available: torch sees {count} CUDA device(s); allowed: cpu, "
                            f"cuda or cuda:0 to cuda:{count - 1}")


def _files(args: argparse.Namespace) -> List[Tuple[str, str]]:
    """``(path, what)`` of every file the given outputs write, sidecars included."""
    files = []
    for out in _outputs():
        path = getattr(args, out.attr)
        if path:
            files.append((path, out.flag))
            if out.sidecar:
                files.append((path + ".json", f"the sidecar of {out.flag}"))
    return files


def _run_file(path: str) -> Optional[str]:
    """Why ``path`` (a real path) belongs to a run folder (its ``nn/``, ``summaries/`` or ``wandb/``, or one of its
    result files such as ``metrics.jsonl``), or None."""
    from isaac_rl.app.run_dir import RESULT_FILES, results_in

    folder = os.path.dirname(path)
    if os.path.basename(folder) in ("nn", "summaries", "wandb") and results_in(os.path.dirname(folder)):
        return f"it is inside the {os.path.basename(folder)}/ folder of the run folder {os.path.dirname(folder)}"
    name = os.path.basename(path)
    if name in RESULT_FILES and [f for f in results_in(folder) if f != name]:
        return f"it is the {name} of the run folder {folder}"
    return None


def check_outputs(args: argparse.Namespace) -> None:
    """Refuse, before any work, an output with an extension its writer does not take, a missing or read-only
    folder, two outputs (or an output and a sidecar) on one path, the checkpoint played or a run folder's files
    (even with ``--force``), and an existing file without ``--force``; :class:`UserError` naming the path."""
    for out in _outputs():
        path = getattr(args, out.attr)
        if path and out.exts and os.path.splitext(path)[1].lower() not in out.exts:
            raise UserError(f"{out.flag} {path!r}: unknown file extension {os.path.splitext(path)[1] or '(none)'!r}; "
                            f"allowed: {', '.join(out.exts)}")
    source = os.path.realpath(args.checkpoint)
    seen: Dict[str, str] = {}
    for path, what in _files(args):
        real = os.path.realpath(path)
        if real in seen:
            raise UserError(f"{seen[real]} and {what} both write {path!r}; give each its own path")
        seen[real] = what
        if real == source or (os.path.exists(path) and os.path.samefile(path, args.checkpoint)):
            raise UserError(f"{what} {path!r} is the checkpoint being played; write the output elsewhere "
                            "(--force never replaces it)")
        why = _run_file(real)
        if why:
            raise UserError(f"{what} {path!r}: {why}; write it outside the run's folders (--force never replaces a "
                            "run's checkpoints or results)")
        if os.path.isdir(path):
            raise UserError(f"{what} {path!r} is a folder; give a file path")
        if os.path.lexists(path) and not os.path.isfile(path):  # a device, a pipe, a dangling link: never replaced
            raise UserError(f"{what} {path!r} exists and is not a regular file; give a file path")
        if os.path.lexists(path) and not args.force:
            raise UserError(f"{what} {path!r} already exists; pass --force to replace it, or choose another path")
        _check_folder(os.path.dirname(os.path.abspath(path)), what, path)


def _check_folder(folder: str, what: str, path: str) -> None:
    """The folder exists and takes a new file (a probe file is created and deleted: permission bits do not tell
    for root, read-only mounts or full quotas)."""
    import tempfile

    from isaac_rl.tools.files import TEMP_PREFIX

    if not os.path.isdir(folder):
        raise UserError(f"{what} {path!r}: the folder {folder} does not exist" + (
            "" if not os.path.exists(folder) else " (it is a file)") + "; create it first")
    try:
        fd, probe = tempfile.mkstemp(prefix=TEMP_PREFIX + "probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise UserError(f"{what} {path!r}: the folder {folder} is not writable ({err.strerror or err})") from None


def check_extras(args: argparse.Namespace) -> None:
    """Import what each asked output needs, before any work; a missing package is one line naming the extra."""
    from isaac_rl.tools.export import has_torch_export

    if args.export_program and not has_torch_export():
        import torch
        raise UserError(f"--export-program needs torch >= 2.1 (torch.export); this is torch {torch.__version__}")
    for out in _outputs():
        if getattr(args, out.attr):
            for module in out.modules:
                try:
                    importlib.import_module(module)
                except ImportError:
                    raise UserError(f"{out.flag} needs the {PIP_NAMES.get(module, module)} package, which is not "
                                    f"installed: pip install \"isaac_rl[{out.extra}]\"") from None


def _metrics_of(checkpoint_path: str) -> str:
    """The ``metrics.jsonl`` of the run folder a ``<run>/nn/<file>.pt`` checkpoint is in."""
    nn_folder = os.path.dirname(os.path.abspath(checkpoint_path))
    if os.path.basename(nn_folder) != "nn":
        raise UserError(f"--curve reads the run's metrics.jsonl, but the checkpoint {checkpoint_path!r} is not in a "
                        "run folder's nn/ (give runs/<experiment>/nn/last.pt or best.pt)")
    return os.path.join(os.path.dirname(nn_folder), "metrics.jsonl")


def _done(written: List[str]) -> str:
    return (f"wrote only {', '.join(written)}" if written else "nothing was written") + "; no partial file was left"


def _write(written: List[str], path: str, write: Callable[..., Any], *args: Any) -> Any:
    """``write(*args)``, which writes ``path`` atomically; then ``path`` joins ``written``. An OS error (a full disk,
    a file-size limit, a folder removed meanwhile) is one line naming the path and what was written before."""
    try:
        out = write(*args)
    except OSError as err:
        why = err.strerror or (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise UserError(f"cannot write {path!r}: {why}; {_done(written)}") from None
    written.append(path)
    return out


def _stop(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Check every flag and output, then play, write and print the JSON line; returns the exit code."""
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):  # end like Ctrl-C: temporaries are removed
        if sig is not None:
            signal.signal(sig, _stop)
    written: List[str] = []
    try:
        args = parse(argv)
        check_device(args.device)
        check_outputs(args)
        check_extras(args)
        return _play(args, written)
    except KeyboardInterrupt as err:
        name = err.args[0] if err.args else "SIGINT"
        raise Interrupted(f"interrupted by {name}: {_done(written)}") from None


def _play(args: argparse.Namespace, written: List[str]) -> int:
    from isaac_rl.algorithms.population import agent_state
    from isaac_rl.app import checkpoint, robustness
    from isaac_rl.app.build import make_trained_algorithm
    from isaac_rl.app.population import agent_config
    from isaac_rl.runtime.evaluate import evaluate
    from isaac_rl.tools.export import deploy_sidecar, export_onnx, export_program, export_torchscript, policy_module
    from isaac_rl.tools.render import curve_points, frame_drawer

    exporting = args.export or args.export_program or args.onnx
    state = checkpoint.read(args.checkpoint, args.device, "export" if exporting else "play")
    cfg = state["config"]
    sim = args.sim or cfg["sim"]
    task = cfg["task"]["name"]
    if not args.agent < cfg["population"]:
        raise UserError(f"invalid --agent={args.agent}; allowed: 0 to {cfg['population'] - 1} (the checkpoint holds a "
                        f"population of {cfg['population']})")
    if args.gif or args.video:
        flag = "--gif" if args.gif else "--video"
        if sim != "torch":
            raise UserError(f"{flag} draws the torch backend's state; this run uses --sim {sim} (use --sim torch)")
        try:
            frame_drawer(task, None)
        except ValueError as err:
            raise UserError(f"{flag}: {err}") from None
    if args.curve:
        curve_points(_metrics_of(args.checkpoint))
    variations = robustness.parse(args.variations) if args.variations is not None else []
    if variations:
        if sim != "torch":
            raise UserError(f"--variations changes the torch backend's model; this run uses --sim {sim} (use --sim "
                            "torch)")
        varied = {name: dict(cfg, task=robustness.varied_task(cfg["task"], name)) for name in variations}
        weights = state["trainer"]["agent"]  # the whole population's: make_trained_algorithm takes agent's slice

    sys.stderr.write(f"[isaac_rl] playing {args.episodes} episode(s) of {task} (sim={sim}, {args.device}) from "
                     f"{args.checkpoint}\n")
    sys.stderr.flush()
    env, algo = make_trained_algorithm(cfg, state["trainer"]["agent"], sim, args.episodes, args.device, args.seed,
                                       agent=args.agent)
    if cfg["population"] > 1:  # the sidecar records the agent's own settings and seed
        cfg = agent_config(cfg, args.agent)
        state["trainer"]["agent"] = agent_state(state["trainer"]["agent"], args.agent, state["config"]["population"])
    result: Dict[str, Any] = evaluate(env, algo.act, seed=args.seed)
    result.update(episodes=args.episodes, sim=sim, task=task, agent=args.agent)
    if variations:
        runs = {}
        for name in variations:
            venv, valgo = make_trained_algorithm(varied[name], weights, sim, args.episodes,
                                                 args.device, args.seed, agent=args.agent)
            runs[name] = evaluate(venv, valgo.act, seed=args.seed)
            venv.close()
        sys.stderr.write(robustness.table(runs, args.episodes) + "\n")
        result["variations"] = {name: {k.split("/", 1)[1]: v for k, v in r.items()} for name, r in runs.items()}
    example = env.reset(args.seed)
    if exporting:
        module = policy_module(algo).to(args.device)
        targets = ((args.export, export_torchscript, "torchscript", "export"),
                   (args.export_program, export_program, "torch.export", "export_program"),
                   (args.onnx, export_onnx, "onnx", "onnx"))
        for path, write, fmt, key in targets:
            if path:
                _write(written, path, write, module, example, path)
                _write(written, path + ".json", deploy_sidecar, cfg, env, algo, path, fmt)
                result[key] = path
    env.close()
    if args.gif or args.video:
        from isaac_rl.tools.render import rollout_frames, write_gif, write_video
        gif_env, gif_algo = make_trained_algorithm(cfg, state["trainer"]["agent"], "torch", 1, args.device, args.seed)
        frames = rollout_frames(gif_env, task, gif_algo.act, max_steps=args.gif_steps, seed=args.seed)
        if args.gif:
            result["gif"], result["gif_frames"] = _write(written, args.gif, write_gif, frames, args.gif), len(frames)
        if args.video:
            result["video"] = _write(written, args.video, write_video, frames, args.video)
            result["video_frames"] = len(frames)
    if args.curve:
        from isaac_rl.tools.render import plot_learning_curve
        result["curve_points"] = _write(written, args.curve, plot_learning_curve, _metrics_of(args.checkpoint),
                                        args.curve)
        result["curve"] = args.curve
    print(json.dumps(result), flush=True)
    return 0


def cli() -> int:
    """:func:`main` with user errors (a bad checkpoint, output or flag) as one line on stderr and exit code 2
    (130 when interrupted) (Isaac Gym, when asked for, is imported first by :func:`isaac_rl.app.cli.play`)."""
    try:
        return main()
    except UserError as err:
        sys.stderr.write(f"[isaac_rl] error: {err}\n")
        return err.exit_code
