"""Populations: ``K`` independent agents (seeds and, per key, hyper-parameters) trained as one stacked learner.

Agent ``k`` has seed ``seed + k`` (its initial weights are those of a one-agent run of that seed), its own slice of
every network, optimizer moment, replay row and env, and its own value of each key in ``population_vary``. The keys
that can vary are those each settings dataclass lists in ``PER_AGENT``: they become per-agent device tensors inside
the learner (a learning rate, a discount, a Polyak factor, an exploration scale, an n-step horizon); every other key
shapes the kernels themselves (network widths, intervals) and is shared.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

import torch

from isaac_rl.core.errors import ConfigError
from isaac_rl.core.settings import is_int, need


def per_agent_keys(settings_class: type) -> Sequence[str]:
    """The ``train.algo`` keys of this algorithm that can differ between agents."""
    return getattr(settings_class, "PER_AGENT", ())


def check_population(population: Any, vary: Optional[Mapping[str, Any]], settings_class: type) -> Dict[str, list]:
    """Validate ``population`` (``K >= 1``) and ``population_vary`` (``key: [K values]``; ``null`` entries are
    unset keys) against the algorithm's ``PER_AGENT`` keys; returns the set keys. ``ConfigError`` names the key."""
    need(is_int(population) and 1 <= population <= 4096, "population", population, "an integer in [1, 4096]")
    allowed = per_agent_keys(settings_class)
    given: Dict[str, list] = {}
    for key, values in (vary or {}).items():
        if values is None:
            continue
        need(key in allowed, f"population_vary.{key}", values,
             f"a key that can vary per agent for {settings_class.__name__[:-8]}: {', '.join(allowed)}")
        need(isinstance(values, (list, tuple)) and len(values) == population, f"population_vary.{key}", values,
             f"a list of population={population} values, one per agent")
        given[key] = list(values)
    return given


def agent_dicts(algo: Mapping[str, Any], vary: Mapping[str, list], population: int) -> List[Dict[str, Any]]:
    """``train.algo`` of each of the ``population`` agents: the shared section with agent ``k``'s varied values."""
    return [dict(algo, **{key: values[k] for key, values in vary.items()}) for k in range(population)]


def build_agents(build_one: Any, algo: Mapping[str, Any], vary: Mapping[str, list], population: int) -> List[Any]:
    """The checked settings of every agent; a bad varied value raises ``ConfigError`` naming
    ``population_vary.<key>[k]``."""
    out = []
    for k, section in enumerate(agent_dicts(algo, vary, population)):
        try:
            out.append(build_one(section))
        except ConfigError as err:
            if not vary:
                raise
            raise ConfigError(f"{err} (agent {k}: population_vary "
                              f"{', '.join(f'{key}[{k}]={v[k]!r}' for key, v in vary.items())})") from None
    return out


def values(settings: Sequence[Any], key: str) -> List[Any]:
    """Agent ``k``'s value of ``key`` at index ``k``."""
    return [getattr(s, key) for s in settings]


def by_agent(x: torch.Tensor, agents: int) -> torch.Tensor:
    """Env-major ``[K * N, ...]`` (agent ``k``'s envs are rows ``k N .. (k + 1) N - 1``) -> ``[K, N, ...]`` (a view)."""
    return x.view((agents, x.shape[0] // agents) + tuple(x.shape[1:]))


def agent_state(state: Mapping[str, Any], k: int, agents: int) -> Dict[str, Any]:
    """Agent ``k``'s slice of a stacked learner's ``state_dict`` (networks and optimizers; per-env exploration state
    is dropped): what a one-agent learner loads (play, export, ``nn/agent<k>.pt``)."""
    out: Dict[str, Any] = {}
    for name, part in state.items():
        if not isinstance(part, Mapping):
            continue  # per-env exploration state (noise)
        if "exp_avg" in part:  # an Adam state
            rates = part["lr"] if isinstance(part["lr"], (list, tuple)) else [part["lr"]] * agents
            out[name] = {"steps": part["steps"], "lr": rates[k],
                         "exp_avg": [t[k:k + 1].clone() for t in part["exp_avg"]],
                         "exp_avg_sq": [t[k:k + 1].clone() for t in part["exp_avg_sq"]]}
        else:  # a module's state dict: every tensor stacked [K, ...]
            out[name] = {key: t[k:k + 1].clone() for key, t in part.items()}
    return out
