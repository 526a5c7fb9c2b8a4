"""Task definitions: one constructor, three backends, one tensor contract (:class:`isaac_rl.core.contract.VecEnv`).

=============  =====================================  ==========================  =====================
task           torch (default, CPU or CUDA)            gymnasium (CPU fallback)    isaacgym (PhysX)
=============  =====================================  ==========================  =====================
Cartpole       Isaac Gym preset, Lagrangian + RK4      --                          IsaacGymEnvs' task
CartPole-v1    gymnasium's classic dynamics            CartPole-v1                 --
Pendulum       gymnasium's Pendulum-v1 dynamics        Pendulum-v1                 --
=============  =====================================  ==========================  =====================
"""

from __future__ import annotations

import inspect
from typing import Any, Dict, Tuple

from isaac_rl.core.contract import VecEnv

TASKS: Dict[str, Tuple[str, ...]] = {
    "Cartpole": ("torch", "isaacgym"),
    "CartPole-v1": ("torch", "gymnasium"),
    "Pendulum": ("torch", "gymnasium"),
}
SIMS = ("torch", "gymnasium", "isaacgym")


def make_task(name: str, sim: str = "torch", num_envs: int = 512, device: str = "cpu", seed: int = 0,
              **kwargs: Any) -> VecEnv:
    """Build task ``name`` on backend ``sim`` with ``num_envs`` envs whose tensors live on ``device``.

    Extra keyword arguments go to the backend's constructor (e.g. ``dtype`` or ``max_episode_steps``).
    Raises ``ValueError`` naming the bad value and the allowed ones for an unknown task or backend.
    """
    if sim not in SIMS:
        raise ValueError(f"unknown sim {sim!r}; allowed: {list(SIMS)}")
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; allowed: {sorted(TASKS)}")
    if sim not in TASKS[name]:
        raise ValueError(f"task {name!r} is not available on sim={sim!r}; it runs on sim in {list(TASKS[name])}")
    cls = task_class(name, sim)
    if sim == "gymnasium":
        return cls(name, num_envs, device=device, seed=seed, **kwargs)
    return cls(num_envs, device=device, seed=seed, **kwargs)


def task_class(name: str, sim: str) -> type:
    """The class that implements task ``name`` on backend ``sim`` (imported on first use: Isaac Gym lazily)."""
    if sim == "gymnasium":
        from tasks.gymnasium_backend import GymnasiumTask
        return GymnasiumTask
    if sim == "isaacgym":
        from tasks.isaacgym_cartpole import IsaacGymCartpole
        return IsaacGymCartpole
    from tasks.cartpole import ClassicCartPole, IsaacCartpole
    from tasks.pendulum import Pendulum
    return {"Cartpole": IsaacCartpole, "CartPole-v1": ClassicCartPole, "Pendulum": Pendulum}[name]


def task_keywords(name: str, sim: str) -> Tuple[str, ...]:
    """The config settings (keyword arguments) task ``name`` takes on backend ``sim``: all but num_envs, device, seed
    and the torch tasks' ``dtype`` (a Python-API setting)."""
    params = inspect.signature(task_class(name, sim).__init__).parameters
    return tuple(p for p in params if p not in ("self", "name", "num_envs", "device", "seed", "dtype"))
