"""Memory a run will allocate, estimated from its resolved config alone and refused before anything is built.

Every large allocation scales with a config key: the replay buffer with ``population x train.loop.buffer_per_env x
num_envs``, the training envs and their per-step tensors with ``population x num_envs``, the evaluation envs with
``population x num_eval_envs``, the verification envs with ``train.loop.verify_episodes``, a gradient step's batch
with ``population x train.loop.batch_size``, the n-step window with ``train.algo.n_step``; an on-policy
learner's rollout with ``population x train.algo.rollout_steps x num_envs``. :func:`plan` sums them
(bytes, per part); :func:`check` compares the sum with the device's free memory (``MemAvailable`` on the host,
``cudaMemGetInfo`` on CUDA) and refuses the run in one line that names the estimate, what is free and the key to
lower. The replay part is exactly what :class:`~isaac_rl.storage.replay.ReplayBuffer` allocates; the others are
upper estimates of the tensors each part holds at once (float32 throughout).
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

from isaac_rl.algorithms import agent_settings, on_policy
from isaac_rl.core.errors import ConfigError
from isaac_rl.storage.replay import ReplayBuffer, free_memory_bytes

__all__ = ["plan", "check", "task_dims", "MAX_FRACTION"]

MAX_FRACTION = 0.9  # refuse a run whose estimate exceeds this share of the free memory (the rest: torch, Python)
F32 = 4
# Tensors per env that scale with num_envs besides the observation: the env's state and last reset state
# (2 x state_dim), the step's reward/terminated/truncated/done and episode counters (~8 scalars).
ENV_SCALARS = 8
ACTIVATION_COPIES = 3  # a forward pass with gradients keeps pre-activation, activation and (LayerNorm) normalised
BATCH_COPIES = 4  # values per layer; a gradient step: forward and backward of the critic(s), targets and actor
DISCRETE = ("DQN", "PQN", "Tabular")  # actions stored as long indices (PPO: with policy=categorical)


def task_dims(cfg: Mapping[str, Any]) -> Tuple[int, int, int]:
    """``(state_dim, obs_dim, action_dim)`` of the config's task from its class attributes (a built-in task's torch
    class: every backend of a built-in task has its torch twin's sizes), without building it; 1 for each size a
    class does not declare (an Isaac Lab task, a user's class that sets them in ``__init__``): a lower bound."""
    from isaac_rl.tasks import TASKS, task_class

    task = cfg["task"]
    cls: Optional[type] = None
    try:
        if task.get("class_path"):
            cls = task_class(task["name"], "torch", task["class_path"])
        elif task["name"] in TASKS:
            cls = task_class(task["name"], "torch")
    except (ValueError, ImportError):
        cls = None

    def size(name: str) -> int:
        value = getattr(cls, name, None)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else 1

    spec = getattr(cls, "action_spec", None)
    action = getattr(spec, "dim", 1) if spec is not None else 1
    return size("state_dim"), size("obs_dim"), int(action) if isinstance(action, int) and action >= 1 else 1


def plan(cfg: Mapping[str, Any]) -> Dict[str, int]:
    """Bytes each part of the run allocates at once, from the resolved config: ``replay``, ``envs`` (training envs
    and one forward pass over them), ``eval_envs``, ``verify_envs``, ``batch``, ``nstep``; ``test=True`` runs only
    ``eval_envs`` (the test episodes)."""
    state_dim, obs_dim, act_dim = task_dims(cfg)
    algo, loop = cfg["train"]["algo"], cfg["train"]["loop"]
    agents = agent_settings(algo, cfg.get("population_vary") or {}, int(cfg.get("population", 1) or 1))
    population = len(agents)
    discrete = algo["name"] in DISCRETE or algo.get("policy") == "categorical"
    action_dim = 0 if discrete else act_dim
    per_transition = ReplayBuffer.bytes_per_transition(obs_dim, action_dim)
    width = sum(int(h) for h in agents[0].hidden)  # activations per sample of one network's forward pass
    # An env's tensors and the policy's forward pass over it (no gradient: one layer's input and output at a time)
    per_env = F32 * (2 * state_dim + 2 * obs_dim + ENV_SCALARS + 2 * max(int(h) for h in agents[0].hidden))
    num_envs = int(cfg["num_envs"])
    if cfg.get("test", False):
        given = cfg.get("num_envs_given", False) or cfg["sim"] in ("isaacgym", "isaaclab")
        return {"test_envs" if given else "eval_envs": (num_envs if given else int(cfg["train"]["eval_envs"]))
                * per_env}
    if on_policy(algo):  # the rollout: transitions (with the true next observation) and PPO's per-step extras
        steps, minibatches = int(agents[0].rollout_steps), int(agents[0].minibatches)  # type: ignore[attr-defined]
        per_step = per_transition + F32 * (2 + 2 * max(act_dim, 3))
        return {
            "rollout": population * steps * num_envs * per_step,
            "envs": population * num_envs * (per_env + per_transition),
            "eval_envs": population * int(cfg["train"]["eval_envs"]) * per_env,
            "verify_envs": int(loop["verify_episodes"]) * per_env,
            "batch": population * steps * num_envs // minibatches * BATCH_COPIES * (
                per_transition + ACTIVATION_COPIES * F32 * width),
        }
    n_step = max(int(a.n_step) for a in agents)
    return {
        "replay": population * int(loop["buffer_per_env"]) * num_envs * per_transition,
        "envs": population * num_envs * (per_env + per_transition),
        "eval_envs": population * int(cfg["train"]["eval_envs"]) * per_env,
        "verify_envs": int(loop["verify_episodes"]) * per_env,
        "batch": population * int(loop["batch_size"]) * BATCH_COPIES * (per_transition + ACTIVATION_COPIES * F32
                                                                         * width),
        "nstep": population * num_envs * n_step * per_transition if n_step > 1 else 0,
    }


# The key that sizes each part, as the refusal names it.
KEYS = {"replay": ("train.loop.buffer_per_env", " or num_envs"), "envs": ("num_envs", ""),
        "rollout": ("train.algo.rollout_steps", " or num_envs"),
        "test_envs": ("num_envs", ""), "eval_envs": ("num_eval_envs", ""),
        "verify_envs": ("train.loop.verify_episodes", ""), "batch": ("train.loop.batch_size", ""),
        "nstep": ("train.algo.n_step", " or num_envs")}


def check(cfg: Mapping[str, Any], device: str, free: Optional[int] = None) -> Dict[str, int]:
    """Refuse (:class:`ConfigError`) a run whose :func:`plan` exceeds ``MAX_FRACTION`` of the free memory of
    ``device`` (``free``: bytes, measured when None), naming the estimate, the free memory and the key of the
    largest part; returns the plan otherwise."""
    import torch

    parts = plan(cfg)
    total = sum(parts.values())
    if free is None:
        free = free_memory_bytes(torch.device(device))
    if total <= MAX_FRACTION * free:
        return parts
    largest = max(parts, key=lambda k: parts[k])
    key, other = KEYS[largest]
    value = _value(cfg, key)
    also = other + (" (or population)" if int(cfg.get("population", 1) or 1) > 1 else "")
    listed = ", ".join(f"{name} {_gib(b)}" for name, b in sorted(parts.items(), key=lambda kv: -kv[1]) if b)
    where = "host" if not str(device).startswith("cuda") else str(device)
    raise ConfigError(f"invalid config: {key}={value!r}: this run needs about {_gib(total)} of {where} memory "
                      f"({listed}) but {_gib(free)} is free; allowed: a smaller {key}{also}")


def _value(cfg: Mapping[str, Any], key: str) -> Any:
    if key == "num_eval_envs":
        return cfg["train"]["eval_envs"]
    node: Any = cfg
    for part in key.split("."):
        node = node.get(part) if isinstance(node, Mapping) else None
    if key == "train.algo.n_step" and cfg.get("population_vary", {}).get("n_step"):
        return cfg["population_vary"]["n_step"]
    return node


def _gib(n: int) -> str:
    return f"{n / 2 ** 30:,.2f} GiB" if n >= 2 ** 30 else f"{n / 2 ** 20:,.1f} MiB"
