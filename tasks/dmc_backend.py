"""dm_control's own cart-pole tasks behind the tensor contract (``sim=dmc``): the reference the torch tasks of
:mod:`isaac_rl.tasks.dmc_cartpole` are tested against, one MuJoCo simulation per env stepped in a Python loop on the
CPU (~10k env steps/s in all, against millions for the torch tasks).

``CartpoleBalance`` .. ``CartpoleThreePoles`` map to ``dm_control.suite.load("cartpole", ...)``: one pole to
``balance``, ``balance_sparse``, ``swingup`` or ``swingup_sparse``; two or more poles to ``three_poles(num_poles=n,
sparse=...)`` (dm_control's ``two_poles`` is ``three_poles`` with two). dm_control has no multi-pole balance task.

The time limit is counted here (``max_episode_steps``, 1000 = dm_control's 10 s; dm_control's own limit is switched
off): an env that reaches it is ``truncated`` and restarted from dm_control's initial-state distribution in the same
step, its last observation in ``final_obs``. Sub-env ``i`` draws its initial states from numpy's
``RandomState(MT19937(seed + i))``.
"""

from __future__ import annotations

import os
from typing import List, Optional

import numpy as np
import torch

from isaac_rl.core.checks import check_actions, check_num_envs
from isaac_rl.core.contract import ActionSpec, StepOut, canonical_device
from isaac_rl.core.errors import ConfigError
from isaac_rl.tasks.dmc_cartpole import DMC_TASKS, DT, GEAR, TIME_LIMIT_STEPS, check_settings


def dm_control_task(n_poles: int, swing_up: bool, sparse: bool) -> tuple:
    """The dm_control cart-pole task (name, extra task arguments) with these settings, or ``ConfigError``."""
    if n_poles == 1:
        return ("swingup" if swing_up else "balance") + ("_sparse" if sparse else ""), {}
    if not swing_up:
        raise ConfigError(f"invalid config: task.env.swing_up={swing_up!r}; allowed: True with n_poles={n_poles} on "
                          "sim=dmc (dm_control has no balance task with more than one pole; sim=torch has)")
    return "three_poles", {"num_poles": n_poles, "sparse": sparse}


def _random_state(seed: int) -> np.random.RandomState:
    """dm_control's kind of generator from any seed >= 0 (``RandomState(seed)`` itself takes only 32 bits)."""
    return np.random.RandomState(np.random.MT19937(seed))


class DMCSuiteTask:
    """``num_envs`` dm_control cart-pole envs behind :class:`isaac_rl.core.contract.VecEnv` (float32 tensors on
    ``device``).

    Args:
        name: One of :data:`isaac_rl.tasks.dmc_cartpole.DMC_TASKS` (``CartpoleSwingup``, ...).
        num_envs: Number of dm_control envs.
        device: Where returned tensors live (MuJoCo runs on the CPU).
        seed: Sub-env ``i`` draws its initial states from ``RandomState(MT19937(seed + i))`` (numpy).
        max_episode_steps: Time limit in steps (default 1000, dm_control's).
        n_poles, swing_up, sparse: As :class:`isaac_rl.tasks.dmc_cartpole.DMCCartpole` (``None``: the named task's).
    """

    reward_max = 1.0
    control_dt = DT

    def __init__(self, name: str, num_envs: int, device: str = "cpu", seed: int = 0,
                 max_episode_steps: int = TIME_LIMIT_STEPS, n_poles: Optional[int] = None,
                 swing_up: Optional[bool] = None, sparse: Optional[bool] = None) -> None:
        if name not in DMC_TASKS:
            raise ValueError(f"unknown dm_control task {name!r}; allowed: {sorted(DMC_TASKS)}")
        named = DMC_TASKS[name]
        n_poles, swing_up, sparse = check_settings(named.N_POLES if n_poles is None else n_poles,
                                                   named.SWING_UP if swing_up is None else swing_up,
                                                   named.SPARSE if sparse is None else sparse)
        if not isinstance(max_episode_steps, int) or isinstance(max_episode_steps, bool) or max_episode_steps < 1:
            raise ConfigError(f"invalid config: task.env.max_episode_steps={max_episode_steps!r}; allowed: an "
                              "integer >= 1")
        task, extra = dm_control_task(n_poles, swing_up, sparse)
        os.environ.setdefault("MUJOCO_GL", "disable")  # simulation only: no OpenGL context
        try:
            from dm_control import suite
        except ImportError as err:
            raise ConfigError(f"invalid config: sim='dmc'; allowed: torch, unless dm_control is installed "
                              f"(pip install dm_control; here: {err})") from None
        self.num_envs = check_num_envs(num_envs)
        self.n_poles, self.swing_up, self.sparse = n_poles, swing_up, sparse
        self.obs_dim = 3 * n_poles + 2
        self.action_spec = ActionSpec(dim=1, max_effort=GEAR)
        self.max_episode_steps = max_episode_steps
        self.device = canonical_device(device)
        self._envs = [suite.load("cartpole", task, task_kwargs=dict(random=_random_state(seed + i),
                                                                   time_limit=float("inf"), **extra))
                      for i in range(num_envs)]
        self._seed = seed
        self._steps = np.zeros(num_envs, dtype=np.int64)
        self._obs = np.stack([self._flat(env.reset()) for env in self._envs])

    @staticmethod
    def _flat(timestep) -> np.ndarray:
        return np.concatenate([timestep.observation["position"], timestep.observation["velocity"]])

    def _tensor(self, array: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array), dtype=dtype).to(self.device)

    def states(self) -> np.ndarray:
        """MuJoCo's ``[qpos, qvel]`` of every env, float64 ``[N, 2 (n_poles + 1)]``: the torch task's ``set_state``
        layout."""
        return np.stack([np.concatenate([env.physics.data.qpos, env.physics.data.qvel]) for env in self._envs])

    def reset(self, seed: Optional[int] = None) -> torch.Tensor:
        """Reset every env (sub-env ``i`` reseeded with ``seed + i`` when ``seed`` is given); returns float32
        ``[N, obs_dim]``."""
        if seed is not None:
            for i, env in enumerate(self._envs):
                env.task.random.set_state(_random_state(int(seed) + i).get_state())
        self._obs = np.stack([self._flat(env.reset()) for env in self._envs])
        self._steps[:] = 0
        return self._tensor(self._obs)

    def step(self, actions: torch.Tensor) -> StepOut:
        """Step every env with normalised efforts float ``[N, 1]`` (clamped to ``[-1, 1]``, as MuJoCo's ``ctrlrange``
        does)."""
        actions = check_actions(actions, self.num_envs, self.action_spec, self.device, check_values=True)
        efforts = actions.detach().cpu().numpy().astype(np.float64).clip(-1.0, 1.0)
        final: List[np.ndarray] = []
        rewards = np.zeros(self.num_envs)
        terminated = np.zeros(self.num_envs, dtype=bool)
        self._steps += 1
        truncated = self._steps >= self.max_episode_steps
        for i, env in enumerate(self._envs):
            timestep = env.step(efforts[i])
            final.append(self._flat(timestep))
            rewards[i] = timestep.reward
            terminated[i] = timestep.last() and timestep.discount == 0.0
            if terminated[i] or truncated[i]:
                self._obs[i] = self._flat(env.reset())
                self._steps[i] = 0
            else:
                self._obs[i] = final[-1]
        return StepOut(self._tensor(self._obs), self._tensor(rewards), self._tensor(terminated, torch.bool),
                       self._tensor(truncated & ~terminated, torch.bool), self._tensor(np.stack(final)))

    def close(self) -> None:
        """Close the dm_control envs."""
        for env in self._envs:
            env.close()
