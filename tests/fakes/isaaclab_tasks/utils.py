"""Fake ``isaaclab_tasks.utils.parse_env_cfg`` of Isaac Lab 2.x (no ``overrides``: physics presets came with 3.0)."""

from isaaclab_tasks import CartpoleEnvCfg


def parse_env_cfg(task_name, device="cuda:0", num_envs=None, use_fabric=None):
    if task_name != "Isaac-Cartpole-Direct-v0":
        raise ValueError(f"fake Isaac Lab knows only Isaac-Cartpole-Direct-v0, not {task_name}")
    return CartpoleEnvCfg(device=device, num_envs=num_envs or 4096)
