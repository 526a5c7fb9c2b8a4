"""Train (or test) a DQN/DDPG agent: ``python scripts/train.py task=Cartpole train=CartpoleDQN num_envs=4096 ...``.

IsaacGymEnvs-style Hydra overrides; see ``cfg/config.yaml`` for every key. Outputs go to ``runs/<experiment>/``:
``config.yaml`` (resolved), ``nn/last.pt`` (atomic checkpoints), ``summaries/`` (TensorBoard), ``metrics.jsonl``.
SIGTERM/SIGUSR1 save a checkpoint and exit cleanly; ``resume=auto`` continues from the newest checkpoint.
"""

import os
import sys

# Isaac Gym refuses to load after torch, so import it before anything imports torch.
if any(arg.replace(" ", "") == "sim=isaacgym" for arg in sys.argv[1:]):
    import isaacgym  # noqa: F401

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import hydra  # noqa: E402
from omegaconf import DictConfig, OmegaConf  # noqa: E402

from isaac_rl.run import main as run_main  # noqa: E402


@hydra.main(version_base=None, config_path="../cfg", config_name="config")
def main(cfg: DictConfig) -> None:
    """Resolve the config and hand it to :func:`isaac_rl.run.main`."""
    sys.exit(run_main(OmegaConf.to_container(cfg, resolve=True)))


if __name__ == "__main__":
    main()
