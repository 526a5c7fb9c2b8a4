"""Train (or test) a DQN, DDPG, TD3 or SAC agent: ``python scripts/train.py task=Cartpole train=CartpoleDQN ...``
(the same as the ``isaac-rl-train`` console command; see :mod:`isaac_rl.app.cli`).

IsaacGymEnvs-style Hydra overrides; see ``cfg/config.yaml`` for every key. Outputs go to ``runs/<experiment>/``:
``config.yaml`` (resolved), ``nn/last.pt`` and ``nn/best.pt`` (atomic checkpoints), ``summaries/`` (TensorBoard),
``metrics.jsonl``, ``history.jsonl``. SIGINT, SIGTERM, SIGUSR1 and SIGHUP save a checkpoint and exit cleanly;
``resume=auto`` continues from ``nn/last.pt``. A bad input is reported as one line (exit code 2; 3 for a diverged
run); ``debug=True`` shows the traceback.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from isaac_rl.app.cli import train  # noqa: E402  (imports nothing heavy: Isaac Gym/Lab first, then torch)

if __name__ == "__main__":
    train()
