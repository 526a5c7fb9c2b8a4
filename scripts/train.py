"""Train (or test) a DQN/DDPG agent: ``python scripts/train.py task=Cartpole train=CartpoleDQN num_envs=4096 ...``.

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

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import hydra  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from isaac_rl.errors import UserError  # noqa: E402
from isaac_rl.run import main as run_main  # noqa: E402


@hydra.main(version_base=None, config_path="../cfg", config_name="config")
def main(cfg: DictConfig) -> None:
    """Resolve the config and hand it to :func:`isaac_rl.run.main`; user errors become one line on stderr."""
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
