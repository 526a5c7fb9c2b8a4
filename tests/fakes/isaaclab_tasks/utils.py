"""Fake ``isaaclab_tasks.utils.parse_env_cfg``."""

from isaaclab_tasks import CartpoleEnvCfg


def parse_env_cfg(task_name, device="cuda:0", num_envs=None, **kwargs):
    if task_name != "Isaac-Cartpole-Direct-v0":
        raise ValueError(f"fake Isaac Lab knows only Isaac-Cartpole-Direct-v0, not {task_name}")
    return CartpoleEnvCfg(device=device, num_envs=num_envs or 4096)
