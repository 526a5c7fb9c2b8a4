"""Task definitions: one constructor, several backends, one tensor contract (:class:`isaac_rl.core.contract.VecEnv`).

=====================  =====================================  ==========================  =====================
task                   torch (default, CPU or CUDA)            gymnasium / dmc (CPU)       isaacgym (PhysX)
=====================  =====================================  ==========================  =====================
Cartpole               Isaac Gym preset, Lagrangian + RK4      --                          IsaacGymEnvs' task
CartPole-v1            gymnasium's classic dynamics            CartPole-v1                 --
Pendulum               gymnasium's Pendulum-v1 dynamics        Pendulum-v1                 --
CartpoleBalance        dm_control cartpole.balance (MuJoCo     sim=dmc: dm_control's own   --
                       model and RK4 in closed form)          task (``pip install
                                                              dm_control``)
CartpoleBalanceSparse  dm_control cartpole.balance_sparse      sim=dmc                     --
CartpoleSwingup        dm_control cartpole.swingup             sim=dmc                     --
CartpoleSwingupSparse  dm_control cartpole.swingup_sparse      sim=dmc                     --
CartpoleTwoPoles       dm_control cartpole.two_poles           sim=dmc                     --
CartpoleThreePoles     dm_control cartpole.three_poles         sim=dmc                     --
=====================  =====================================  ==========================  =====================

Open backends run their own registries' tasks under any id as ``task.name``: ``sim=isaaclab`` (Isaac Lab,
:mod:`isaac_rl.tasks.isaaclab_backend`) and ``sim=mjlab`` (mjlab, :mod:`isaac_rl.tasks.mjlab_backend`).

The six ``Cartpole<...>`` tasks of DeepMind Control Suite's cart-pole family are one class
(:class:`isaac_rl.tasks.dmc_cartpole.DMCCartpole`, settings ``n_poles``, ``swing_up``, ``sparse``); their float64
trajectories equal dm_control's (tests/tasks/test_dmc_parity.py).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Dict, Optional, Tuple

from isaac_rl.core.contract import VecEnv

TASKS: Dict[str, Tuple[str, ...]] = {
    "Cartpole": ("torch", "isaacgym"),
    "CartPole-v1": ("torch", "gymnasium"),
    "Pendulum": ("torch", "gymnasium"),
    "CartpoleBalance": ("torch", "dmc"),
    "CartpoleBalanceSparse": ("torch", "dmc"),
    "CartpoleSwingup": ("torch", "dmc"),
    "CartpoleSwingupSparse": ("torch", "dmc"),
    "CartpoleTwoPoles": ("torch", "dmc"),
    "CartpoleThreePoles": ("torch", "dmc"),
}
SIMS = ("torch", "gymnasium", "isaacgym", "isaaclab", "dmc", "mjlab")
OPEN_SIMS = ("isaaclab", "mjlab")  # backends with their own task registry: any task name they know


def make_task(name: str, sim: str = "torch", num_envs: int = 512, device: str = "cpu", seed: int = 0,
              **kwargs: Any) -> VecEnv:
    """Build task ``name`` on backend ``sim`` with ``num_envs`` envs whose tensors live on ``device``.

    Extra keyword arguments go to the backend's constructor (e.g. ``dtype`` or ``max_episode_steps``).
    Raises ``ValueError`` naming the bad value and the allowed ones for an unknown task or backend.
    """
    if sim not in SIMS:
        raise ValueError(f"unknown sim {sim!r}; allowed: {list(SIMS)}")
    if sim not in OPEN_SIMS and name not in TASKS:
        raise ValueError(f"unknown task {name!r}; allowed: {sorted(TASKS)}")
    if sim not in OPEN_SIMS and sim not in TASKS[name]:
        raise ValueError(f"task {name!r} is not available on sim={sim!r}; it runs on sim in {list(TASKS[name])}")
    cls = task_class(name, sim)
    if sim in ("gymnasium", "isaaclab", "dmc", "mjlab"):
        return cls(name, num_envs, device=device, seed=seed, **kwargs)
    return cls(num_envs, device=device, seed=seed, **kwargs)


def load_class(class_path: str) -> type:
    """The class ``module.path:ClassName`` names (a user's own task: ``task.class_path``); ``ValueError`` naming the
    path and what went wrong when it cannot be imported or is not a class."""
    module_name, sep, attr = str(class_path).partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"task.class_path={class_path!r} is not of the form package.module:ClassName")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"task.class_path={class_path!r}: cannot import {module_name!r} ({err}); is its package "
                         "installed or on PYTHONPATH?") from None
    cls = getattr(module, attr, None)
    if not isinstance(cls, type):
        raise ValueError(f"task.class_path={class_path!r}: {module_name} has no class {attr!r}")
    return cls


def task_class(name: str, sim: str, class_path: Optional[str] = None) -> type:
    """The class that implements task ``name`` on backend ``sim`` (imported on first use: Isaac Gym lazily), or the
    user's class at ``class_path``."""
    if class_path:
        return load_class(class_path)
    if sim == "gymnasium":
        from isaac_rl.tasks.gymnasium_backend import GymnasiumTask
        return GymnasiumTask
    if sim == "isaacgym":
        from isaac_rl.tasks.isaacgym_cartpole import IsaacGymCartpole
        return IsaacGymCartpole
    if sim == "isaaclab":
        from isaac_rl.tasks.isaaclab_backend import IsaacLabTask
        return IsaacLabTask
    if sim == "dmc":
        from isaac_rl.tasks.dmc_backend import DMCSuiteTask
        return DMCSuiteTask
    if sim == "mjlab":
        from isaac_rl.tasks.mjlab_backend import MjlabTask
        return MjlabTask
    from isaac_rl.tasks.cartpole import ClassicCartPole, IsaacCartpole
    from isaac_rl.tasks.dmc_cartpole import DMC_TASKS
    from isaac_rl.tasks.pendulum import Pendulum
    return {"Cartpole": IsaacCartpole, "CartPole-v1": ClassicCartPole, "Pendulum": Pendulum, **DMC_TASKS}[name]


def task_keywords(name: str, sim: str, class_path: Optional[str] = None) -> Tuple[str, ...]:
    """The config settings (keyword arguments) task ``name`` takes on backend ``sim``: all but num_envs, device, seed
    and the torch tasks' ``dtype`` (a Python-API setting)."""
    params = inspect.signature(task_class(name, sim, class_path).__init__).parameters
    return tuple(p for p in params if p not in ("self", "name", "num_envs", "device", "seed", "dtype"))
