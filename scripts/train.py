"""Train (or test) a DQN, DDPG, TD3 or SAC agent: ``python scripts/train.py task=Cartpole train=CartpoleDQN ...``.

IsaacGymEnvs-style Hydra overrides; see ``cfg/config.yaml`` for every key. Outputs go to ``runs/<experiment>/``:
``config.yaml`` (resolved), ``nn/last.pt`` and ``nn/best.pt`` (atomic checkpoints), ``summaries/`` (TensorBoard),
``metrics.jsonl``, ``history.jsonl``. SIGINT, SIGTERM, SIGUSR1 and SIGHUP save a checkpoint and exit cleanly;
``resume=auto`` continues from ``nn/last.pt``. A bad input is reported as one line (exit code 2; 3 for a diverged
run); ``debug=True`` shows the traceback.
"""

import os
import sys

ISAACGYM_HELP = ("sim=isaacgym needs NVIDIA Isaac Gym Preview 4, which is not on PyPI and runs on Python 3.6-3.8: "
                 "download it from https://developer.nvidia.com/isaac-gym, then `pip install -e isaacgym/python` in "
                 "this environment (or use sim=torch, the built-in batched physics)")

# Isaac Gym refuses to load after torch, so import it before anything imports torch.
if any(arg.replace(" ", "") == "sim=isaacgym" for arg in sys.argv[1:]):
    try:
        import isaacgym  # noqa: F401
    except ImportError as err:
        sys.stderr.write(f"[isaac_rl] error: {ISAACGYM_HELP} ({err})\n")
        sys.exit(2)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# Isaac Lab starts Isaac Sim with its AppLauncher before torch-heavy imports (headless: no viewer).
if any(arg.replace(" ", "") == "sim=isaaclab" for arg in sys.argv[1:]):
    from tasks.isaaclab_app import launch
    try:
        launch(headless=True)
    except ImportError as err:  # launch's message already says how to install Isaac Lab
        sys.stderr.write(f"[isaac_rl] error: {err}\n")
        sys.exit(2)

import hydra  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from isaac_rl.app.run import main as run_main  # noqa: E402
from isaac_rl.core.errors import UserError  # noqa: E402


def missing_train_config(argv):  # type: ignore[no-untyped-def]
    """``task=X`` without ``train=``: the default ``train=${task}DQN`` may not exist (``task=Pendulum``); say which
    train configs the task has instead of Hydra's "Could not find 'train/PendulumDQN'"."""
    tasks = [a.split("=", 1)[1] for a in argv if a.startswith("task=")]
    if not tasks or any(a.startswith(("train=", "+train=")) for a in argv):
        return None
    folder = os.path.join(ROOT, "cfg", "train")
    if os.path.isfile(os.path.join(folder, f"{tasks[-1]}DQN.yaml")):
        return None
    options = sorted(f[:-5] for f in os.listdir(folder) if f.startswith(tasks[-1]) and f.endswith(".yaml"))
    return (f"task={tasks[-1]} has no DQN train config (the default is train=<task>DQN); add "
            f"{' or '.join('train=' + o for o in options) if options else 'a train= config for it'}")


MISSING_TRAIN = missing_train_config(sys.argv[1:]) if __name__ == "__main__" else None
if MISSING_TRAIN:
    sys.stderr.write(f"[isaac_rl] error: {MISSING_TRAIN}\n")
    sys.exit(2)


@hydra.main(version_base=None, config_path="../cfg", config_name="config")
def main(cfg: DictConfig) -> None:
    """Resolve the config and hand it to :func:`isaac_rl.app.run.main`; user errors become one line on stderr."""
    raw = OmegaConf.to_container(cfg, resolve=True)
    try:
        code = run_main(raw)
    except UserError as err:
        if raw.get("debug") is True:
            raise
        sys.stderr.write(f"[isaac_rl] error: {err}\n")
        sys.stderr.flush()
        code = err.exit_code
    sys.exit(code)


if __name__ == "__main__":
    main()
