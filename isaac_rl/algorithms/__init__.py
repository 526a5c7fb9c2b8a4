"""Learning algorithms behind one interface (:class:`isaac_rl.algorithms.base.Algorithm`), by ``train.algo.name``;
each with its settings dataclass (the one source of its defaults and checks). Every learner is stacked over the
agents of a population (:mod:`isaac_rl.algorithms.population`; one agent for an ordinary run)."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from isaac_rl.algorithms import population as _population
from isaac_rl.algorithms.base import Algorithm
from isaac_rl.algorithms.ddpg import DDPG, DDPGSettings
from isaac_rl.algorithms.dqn import DQN, DQNSettings
from isaac_rl.algorithms.ppo import PPO, PPOSettings
from isaac_rl.algorithms.pqn import PQN, PQNSettings
from isaac_rl.algorithms.sac import SAC, SACSettings
from isaac_rl.algorithms.settings import AlgoSettings
from isaac_rl.algorithms.tabular import Tabular, TabularSettings
from isaac_rl.algorithms.td3 import TD3, TD3Settings
from isaac_rl.core.contract import VecEnv
from isaac_rl.core.settings import build, need

ALGORITHMS: Dict[str, Tuple[type, Any]] = {
    "DQN": (DQNSettings, DQN), "DDPG": (DDPGSettings, DDPG), "TD3": (TD3Settings, TD3), "SAC": (SACSettings, SAC),
    "PPO": (PPOSettings, PPO), "PQN": (PQNSettings, PQN),
    "Tabular": (TabularSettings, Tabular)}


def on_policy(algo: Mapping[str, Any]) -> bool:
    """Whether ``train.algo`` names an on-policy algorithm (it learns from its own rollout, keeps no replay buffer;
    its class says so with ``on_policy = True``)."""
    entry = ALGORITHMS.get(algo.get("name"))  # type: ignore[arg-type]
    return entry is not None and bool(getattr(entry[1], "on_policy", False))


def settings_for(algo: Mapping[str, Any], prefix: str = "train.algo") -> AlgoSettings:
    """The checked settings dataclass of a ``train.algo`` mapping (``ConfigError`` naming the first bad key)."""
    name = algo.get("name")
    need(name in ALGORITHMS, f"{prefix}.name", name, " or ".join(ALGORITHMS))
    return build(ALGORITHMS[name][0], algo, prefix)


def settings_dict(algo: Mapping[str, Any]) -> Dict[str, Any]:
    """``train.algo`` with every default filled in (what a run's config.yaml records)."""
    return dataclasses.asdict(settings_for(algo))


def settings_class(algo: Mapping[str, Any], prefix: str = "train.algo") -> type:
    """The settings dataclass of ``train.algo.name`` (``ConfigError`` for an unknown name)."""
    name = algo.get("name")
    need(name in ALGORITHMS, f"{prefix}.name", name, " or ".join(ALGORITHMS))
    return ALGORITHMS[name][0]


def agent_settings(algo: Mapping[str, Any], vary: Optional[Mapping[str, list]] = None,
                   population: int = 1) -> List[AlgoSettings]:
    """The checked settings of each of ``population`` agents: ``train.algo`` with agent ``k``'s ``vary`` values."""
    given = _population.check_population(population, vary, settings_class(algo))
    return _population.build_agents(settings_for, algo, given, population)


def make_algorithm(algo: Mapping[str, Any], env: VecEnv, seeds: Sequence[int] = (0,),
                   vary: Optional[Mapping[str, list]] = None) -> Algorithm:
    """The algorithm of a ``train.algo`` mapping for ``env``, stacked over ``len(seeds)`` agents (agent ``k``
    initialised from ``seeds[k]``, with its ``vary`` values; ``env`` holds ``num_envs`` divisible by the agents)."""
    settings = agent_settings(algo, vary, len(seeds))
    if env.num_envs % len(seeds):
        raise ValueError(f"{env.num_envs} envs cannot be split among {len(seeds)} agents")
    return ALGORITHMS[settings[0].name][1].from_config(settings, env, list(seeds))
