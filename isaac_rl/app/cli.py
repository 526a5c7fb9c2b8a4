"""Console commands ``isaac-rl-train`` and ``isaac-rl-play`` (also what ``scripts/train.py`` and ``scripts/play.py``
run). Nothing heavy is imported at module level: Isaac Gym must be imported, and Isaac Lab launched, before torch."""

from __future__ import annotations

import os
import sys
from typing import List, Optional

ISAACGYM_HELP = ("sim=isaacgym needs NVIDIA Isaac Gym Preview 4, which is not on PyPI and runs on Python 3.6-3.8: "
                 "download it from https://developer.nvidia.com/isaac-gym, then `pip install -e isaacgym/python` in "
                 "this environment (or use sim=torch, the built-in batched physics)")
CFG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cfg")  # package data


def _prepare_simulator(argv: List[str]) -> None:
    """Import Isaac Gym, or launch Isaac Lab, before anything imports torch; a missing one exits with one line."""
    args = [a.replace(" ", "") for a in argv]
    if "sim=isaacgym" in args:
        try:
            import isaacgym  # noqa: F401
        except ImportError as err:
            sys.stderr.write(f"[isaac_rl] error: {ISAACGYM_HELP} ({err})\n")
            sys.exit(2)
    if "sim=isaaclab" in args:  # Isaac Lab starts Isaac Sim with its AppLauncher (headless: no viewer)
        from isaac_rl.tasks.isaaclab_app import launch
        try:
            launch(headless=True)
        except ImportError as err:  # launch's message already says how to install Isaac Lab
            sys.stderr.write(f"[isaac_rl] error: {err}\n")
            sys.exit(2)


def missing_train_config(argv: List[str], cfg_dir: str = CFG_DIR) -> Optional[str]:
    """``task=X`` without ``train=``: the default ``train=${task}DQN`` may not exist (``task=Pendulum``); say which
    train configs the task has instead of Hydra's "Could not find 'train/PendulumDQN'"."""
    tasks = [a.split("=", 1)[1] for a in argv if a.startswith("task=")]
    if not tasks or any(a.startswith(("train=", "+train=")) for a in argv):
        return None
    folder = os.path.join(cfg_dir, "train")
    if os.path.isfile(os.path.join(folder, f"{tasks[-1]}DQN.yaml")):
        return None
    options = sorted(f[:-5] for f in os.listdir(folder) if f.startswith(tasks[-1]) and f.endswith(".yaml"))
    return (f"task={tasks[-1]} has no DQN train config (the default is train=<task>DQN); add "
            f"{' or '.join('train=' + o for o in options) if options else 'a train= config for it'}")


def unknown_population_key(argv: List[str], cfg_dir: str = CFG_DIR) -> Optional[str]:
    """``population_vary.KEY=[...]`` with a KEY the root config does not list: one line naming it and the keys that
    can vary, instead of Hydra's "Key 'KEY' is not in struct" (``population_vary.train.algo.lr`` is written
    ``population_vary.lr``). ``+population_vary.KEY`` reaches the config check, which names the algorithm's keys."""
    given = [a.split("=", 1)[0] for a in argv if a.startswith("population_vary.")]
    if not given:
        return None
    import yaml  # Hydra's own dependency: loaded anyway just after this

    with open(os.path.join(cfg_dir, "config.yaml")) as f:
        keys = list(yaml.safe_load(f).get("population_vary") or {})
    for name in given:
        key = name[len("population_vary."):]
        if key not in keys:
            short = key.rsplit(".", 1)[-1]
            hint = f"; write population_vary.{short}=[...]" if short in keys else ""
            return (f"invalid config: {name}; allowed: population_vary.<key> with a train.algo key that can vary "
                    f"per agent ({', '.join(keys)}){hint}")
    return None


class _Finished(BaseException):
    """The run returned its exit code (everything written and closed): carries it out of Hydra's ``main``."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def exit_now(code: int) -> None:
    """End the process with ``code`` once a command has finished: flush the standard streams and the logging
    handlers, then ``os._exit``, skipping the interpreter's teardown of torch's modules (~0.5 s of a 2-core CPU,
    a tenth of a CartPole run from process start; BENCHMARKS.md). Only for a command whose outputs are all closed:
    checkpoints are written atomically and fsynced, the logger, TensorBoard, wandb and the process group are
    closed before ``main`` returns."""
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be written anyway
            pass
    os._exit(code)


def train() -> None:
    """``isaac-rl-train [Hydra overrides]``: train (or ``test=True``) with the shipped configs (``--config-dir DIR``
    adds a folder of your own); user errors are one line on stderr (exit 2; 3 for a diverged run)."""
    argv = sys.argv[1:]
    _prepare_simulator(argv)
    missing = missing_train_config(argv) or unknown_population_key(argv)
    if missing:
        sys.stderr.write(f"[isaac_rl] error: {missing}\n")
        sys.exit(2)
    import hydra
    from omegaconf import DictConfig, OmegaConf

    from isaac_rl.app.run import main as run_main
    from isaac_rl.core.errors import UserError

    @hydra.main(version_base=None, config_path=CFG_DIR, config_name="config")
    def main(cfg: DictConfig) -> None:
        raw = OmegaConf.to_container(cfg, resolve=True)
        try:
            code = run_main(raw)  # type: ignore[arg-type]
        except UserError as err:
            if raw.get("debug") is True:  # type: ignore[union-attr]
                raise
            sys.stderr.write(f"[isaac_rl] error: {err}\n")
            sys.stderr.flush()
            code = err.exit_code
        raise _Finished(code)

    try:
        main()
    except _Finished as done:
        exit_now(done.code)


def play() -> None:
    """``isaac-rl-play CHECKPOINT [--episodes N] [--video ep.mp4] [--export policy.pt] ...``."""
    if "--sim" in sys.argv and sys.argv[sys.argv.index("--sim") + 1:][:1] == ["isaacgym"]:
        _prepare_simulator(["sim=isaacgym"])
    from isaac_rl.app.play import cli

    sys.exit(cli())
