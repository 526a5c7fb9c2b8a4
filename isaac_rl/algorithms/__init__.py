"""Learning algorithms behind one interface (:class:`isaac_rl.algorithms.base.Algorithm`), by ``train.algo.name``."""

from __future__ import annotations

from typing import Any, Dict, Mapping

from isaac_rl.algorithms.base import Algorithm
from isaac_rl.algorithms.ddpg import DDPG
from isaac_rl.algorithms.dqn import DQN
from isaac_rl.core.contract import VecEnv

ALGORITHMS: Dict[str, Any] = {"DQN": DQN, "DDPG": DDPG}


def make_algorithm(algo: Mapping[str, Any], env: VecEnv) -> Algorithm:
    """The algorithm ``algo["name"]`` built from its validated ``train.algo`` section for ``env``."""
    name = algo["name"]
    if name not in ALGORITHMS:
        raise ValueError(f"unknown train.algo.name {name!r}; allowed: {sorted(ALGORITHMS)}")
    return ALGORITHMS[name].from_config(algo, env)
