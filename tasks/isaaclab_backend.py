"""Isaac Lab's vectorised envs (direct and manager-based, e.g. ``Isaac-Cartpole-Direct-v0``) behind the tensor
contract.

Isaac Lab steps all envs as one batch on the GPU and resets ended envs inside the same ``step``; with
``compute_final_obs=True`` in the env config (set here) it publishes the pre-reset observation as
``extras["final_obs"]``, which is exactly this trainer's ``StepOut.final_obs``: a truncated episode bootstraps from its
true last observation, not from the next episode's first. Its ``time_outs`` become ``truncated`` (minus the envs that
also terminated). Observations are the ``"policy"`` group, flattened to ``[N, obs_dim]``; actions are passed through as
``[N, act_dim]`` (the env scales them by its own ``action_scale``).

Isaac Lab must be started before torch-heavy imports, with its ``AppLauncher`` (headless by default):
``scripts/train.py sim=isaaclab`` calls :func:`isaac_rl.tasks.isaaclab_app.launch` first; ``isaaclab`` is imported
only here.
"""

from __future__ import annotations

from typing import Any, Optional

import torch

from isaac_rl.core.checks import check_actions, check_num_envs
from isaac_rl.core.contract import ActionSpec, StepOut, canonical_device
from isaac_rl.tasks.isaaclab_app import launch


def _flat(obs: Any) -> torch.Tensor:
    """The ``"policy"`` group of an Isaac Lab observation (a dict of groups, or a tensor) as float ``[N, D]``."""
    if isinstance(obs, dict):
        obs = obs["policy"]
    return obs.reshape(obs.shape[0], -1).float()


class IsaacLabTask:
    """An Isaac Lab env of ``num_envs`` registered as ``task_id`` in gymnasium (by ``isaaclab_tasks``).

    Args:
        task_id: The Isaac Lab task name, e.g. ``Isaac-Cartpole-Direct-v0`` (the run's ``task.name``).
        num_envs: Envs ``N`` (written into the env config).
        device: ``cuda:K`` (Isaac Lab's simulation device).
        seed: Seed of the env config.
        max_episode_steps: Accepted for the contract; Isaac Lab's own episode length rules (read back from it).
        headless: Start Isaac Sim without a viewer.
        debug_checks: Also reject NaN/inf actions (a host sync per step on CUDA).
    """

    def __init__(self, task_id: str, num_envs: int, device: str = "cuda:0", seed: int = 0,
                 max_episode_steps: Optional[int] = None, headless: bool = True, debug_checks: bool = False) -> None:
        self.num_envs = check_num_envs(num_envs)
        self.device = canonical_device(device)
        launch(headless)
        import gymnasium as gym
        import isaaclab_tasks  # noqa: F401  (registers the Isaac Lab tasks with gymnasium)
        from isaaclab_tasks.utils import parse_env_cfg

        env_cfg = parse_env_cfg(task_id, device=str(self.device), num_envs=num_envs)
        env_cfg.seed = int(seed)
        env_cfg.compute_final_obs = True  # extras["final_obs"]: the pre-reset observation of same-step resets
        self.gym_env = gym.make(task_id, cfg=env_cfg)
        self.env = self.gym_env.unwrapped
        self.max_episode_steps = int(self.env.max_episode_length)
        obs, _ = self.env.reset(seed=int(seed))
        self.obs_dim = int(_flat(obs).shape[-1])
        act_dim = int(self.env.single_action_space.shape[-1]) if hasattr(self.env, "single_action_space") else int(
            self.env.action_space.shape[-1])
        self.action_spec = ActionSpec(dim=act_dim, max_effort=float(getattr(env_cfg, "action_scale", 1.0)))
        self._check_values = debug_checks
        self._seed = int(seed)

    def reset(self, seed: Optional[int] = None) -> torch.Tensor:
        """Reset every env (Isaac Lab reseeds with ``seed``); float ``[N, obs_dim]``."""
        obs, _ = self.env.reset(seed=self._seed if seed is None else int(seed))
        return _flat(obs)

    def step(self, actions: torch.Tensor) -> StepOut:
        """One batched step; ended envs are already reset, ``final_obs`` is their pre-reset observation."""
        actions = check_actions(actions, self.num_envs, self.action_spec, self.device, self._check_values)
        obs, reward, terminated, time_outs, extras = self.env.step(actions)
        obs = _flat(obs)
        terminated, time_outs = terminated.bool(), time_outs.bool()
        done = terminated | time_outs
        final = extras.get("final_obs") if isinstance(extras, dict) else None
        final_obs = obs if final is None else torch.where(done.unsqueeze(-1), _flat(final), obs)
        return StepOut(obs, reward.float().reshape(-1), terminated, time_outs & ~terminated, final_obs)

    def close(self) -> None:
        """Close the env (the simulation app stays up for the rest of the process)."""
        self.gym_env.close()
