"""Learning algorithms behind one interface (:class:`isaac_rl.algorithms.base.Algorithm`), by ``train.algo.name``;
each with its settings dataclass (the one source of its defaults and checks)."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, Mapping, Tuple

from isaac_rl.algorithms.base import Algorithm
from isaac_rl.algorithms.ddpg import DDPG, DDPGSettings
from isaac_rl.algorithms.dqn import DQN, DQNSettings
from isaac_rl.algorithms.sac import SAC, SACSettings
from isaac_rl.algorithms.settings import AlgoSettings
from isaac_rl.algorithms.td3 import TD3, TD3Settings
from isaac_rl.core.contract import VecEnv
from isaac_rl.core.settings import build, need

ALGORITHMS: Dict[str, Tuple[type, Any]] = {
    "DQN": (DQNSettings, DQN), "DDPG": (DDPGSettings, DDPG), "TD3": (TD3Settings, TD3), "SAC": (SACSettings, SAC)}


def settings_for(algo: Mapping[str, Any], prefix: str = "train.algo") -> AlgoSettings:
    """The checked settings dataclass of a ``train.algo`` mapping (``ConfigError`` naming the first bad key)."""
    name = algo.get("name")
    need(name in ALGORITHMS, f"{prefix}.name", name, " or ".join(ALGORITHMS))
    return build(ALGORITHMS[name][0], algo, prefix)


def settings_dict(algo: Mapping[str, Any]) -> Dict[str, Any]:
    """``train.algo`` with every default filled in (what a run's config.yaml records)."""
    return dataclasses.asdict(settings_for(algo))


def make_algorithm(algo: Mapping[str, Any], env: VecEnv) -> Algorithm:
    """The algorithm of a ``train.algo`` mapping, built for ``env``."""
    settings = settings_for(algo)
    return ALGORITHMS[settings.name][1].from_config(settings, env)
