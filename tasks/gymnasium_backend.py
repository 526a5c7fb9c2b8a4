"""gymnasium's CartPole-v1 and Pendulum-v1, vectorised by gymnasium and wrapped to the tensor contract (CPU fallback).

gymnasium >= 1.1 lets a vector env reset an ended sub-env inside the same ``step`` (``AutoresetMode.SAME_STEP``) and
report its true last observation in ``infos["final_obs"]`` (masked by ``infos["_final_obs"]``); that is exactly our
contract, so the adapter asks for it and checks ``metadata["autoreset_mode"]``. gymnasium's native
``CartPoleVectorEnv`` only supports next-step auto-reset, so we vectorise with ``SyncVectorEnv``.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from isaac_rl.core.checks import check_actions, check_num_envs
from isaac_rl.core.contract import ActionSpec, StepOut, canonical_device

_GYM_TASKS = {
    # name: (gymnasium id, action spec); CartPole-v1 has two actions, push left (0) and push right (1).
    "CartPole-v1": ("CartPole-v1", ActionSpec(dim=1, max_effort=10.0, efforts=(-1.0, 1.0))),
    "Pendulum": ("Pendulum-v1", ActionSpec(dim=1, max_effort=2.0)),
}


class GymnasiumTask:
    """A gymnasium vector env behind :class:`isaac_rl.core.contract.VecEnv`. Tensors are returned on ``device``.

    Args:
        name: ``"CartPole-v1"`` or ``"Pendulum"``.
        num_envs: Number of sub-environments.
        device: Where returned tensors live (the simulation itself runs on the CPU in NumPy).
        seed: Seed of the first ``reset`` (sub-env ``i`` gets ``seed + i``, gymnasium's convention).
        max_episode_steps: Optional override of gymnasium's time limit.
    """

    def __init__(self, name: str, num_envs: int, device: str = "cpu", seed: int = 0,
                 max_episode_steps: Optional[int] = None) -> None:
        import gymnasium as gym
        from gymnasium.vector import AutoresetMode

        if name not in _GYM_TASKS:
            raise ValueError(f"unknown gymnasium task {name!r}; allowed: {sorted(_GYM_TASKS)}")
        self.num_envs = check_num_envs(num_envs)
        gym_id, self.action_spec = _GYM_TASKS[name]
        kwargs = {} if max_episode_steps is None else {"max_episode_steps": max_episode_steps}
        self._env = gym.make_vec(gym_id, num_envs=num_envs, vectorization_mode="sync",
                                 vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP}, **kwargs)
        if self._env.metadata.get("autoreset_mode") != AutoresetMode.SAME_STEP:
            raise RuntimeError("gymnasium did not honour AutoresetMode.SAME_STEP; gymnasium >= 1.1 is required")
        self._discrete = name == "CartPole-v1"
        self.reward_max = 1.0 if self._discrete else 0.0  # per step, for early-out evaluation
        self.obs_dim = int(np.prod(self._env.single_observation_space.shape))
        self.max_episode_steps = int(self._env.envs[0].spec.max_episode_steps)  # type: ignore[union-attr]
        self.device = canonical_device(device)
        self._seed = seed

    def _tensor(self, array: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array), dtype=dtype).to(self.device)

    def reset(self, seed: Optional[int] = None) -> torch.Tensor:
        """Reset all sub-envs; returns float32 ``[N, obs_dim]``."""
        obs, _ = self._env.reset(seed=self._seed if seed is None else seed)
        return self._tensor(obs)

    def step(self, actions: torch.Tensor) -> StepOut:
        """Step with normalised efforts float ``[N, 1]`` (CartPole-v1 accepts only -1 and +1)."""
        actions = check_actions(actions, self.num_envs, self.action_spec, self.device, check_values=True)
        effort = actions.detach().cpu().numpy().astype(np.float64).clip(-1.0, 1.0)
        if self._discrete:
            if not np.isin(effort, self.action_spec.efforts).all():
                bad = effort[~np.isin(effort, self.action_spec.efforts)][:4].tolist()
                raise ValueError(f"gymnasium CartPole-v1 accepts efforts -1.0 and 1.0 only, got {bad}")
            env_actions = (effort[:, 0] > 0).astype(np.int64)
        else:
            env_actions = (effort * self.action_spec.max_effort).astype(np.float32)
        obs, reward, terminated, truncated, infos = self._env.step(env_actions)
        final_obs = np.array(obs, copy=True)
        if "_final_obs" in infos:
            mask = infos["_final_obs"]
            final_obs[mask] = np.stack(infos["final_obs"][mask])
        terminated_t = self._tensor(terminated, torch.bool)
        return StepOut(self._tensor(obs), self._tensor(reward), terminated_t,
                       self._tensor(truncated, torch.bool) & ~terminated_t, self._tensor(final_obs))

    def close(self) -> None:
        """Close the gymnasium vector env."""
        self._env.close()
