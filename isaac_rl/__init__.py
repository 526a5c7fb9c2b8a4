"""isaac_rl: off-policy RL (DQN, DDPG, TD3, SAC) on GPU-vectorised tasks.

The Python API (:mod:`isaac_rl.app.api`), imported on first use so that ``import isaac_rl`` loads nothing heavy
(Isaac Gym must be imported before torch):

    isaac_rl.train(overrides) -> summary dict         # as scripts/train.py <overrides>, defaults from cfg/*.yaml
    isaac_rl.load_policy(path, agent=0, device="cpu") -> torch.nn.Module   # obs [N, obs_dim] -> efforts [N, act_dim]
"""

from typing import Any

__all__ = ["train", "load_policy", "compose"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from isaac_rl.app import api

        return getattr(api, name)
    raise AttributeError(f"module 'isaac_rl' has no attribute {name!r}")
