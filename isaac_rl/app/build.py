"""Builds env, algorithm, its learning step (with the storage it owns) and the runner from a plain (resolved) config
dict; the one place that reads it."""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

import torch

from isaac_rl.algorithms import agent_settings, make_algorithm
from isaac_rl.algorithms.base import Algorithm
from isaac_rl.algorithms.population import agent_dicts
from isaac_rl.algorithms.population import agent_state as agent_state_of
from isaac_rl.app.config import loop_settings, resolve_cuda_graph
from isaac_rl.core.checks import check_task
from isaac_rl.core.contract import VecEnv, canonical_device
from isaac_rl.core.errors import ConfigError
from isaac_rl.runtime.collect import Collector
from isaac_rl.runtime.off_policy import OffPolicyLearning
from isaac_rl.runtime.runner import RunHooks, Runner
from isaac_rl.storage.nstep import NStepWindow
from isaac_rl.storage.replay import ReplayBuffer
from isaac_rl.tasks import load_class, make_task, randomize, task_keywords


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda:0"`` when CUDA is available, else ``"cpu"``; ``cuda``/``cuda:K`` must name a visible
    device (:class:`ConfigError` otherwise, before any work)."""
    if device in ("auto", "", None):
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"invalid config: sim_device={device!r}; allowed: cpu or auto (no CUDA device is "
                              "visible to torch here: torch.cuda.is_available() is False)")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= count:
            raise ConfigError(f"invalid config: sim_device={device!r}; allowed: cpu, auto or cuda:0 to "
                              f"cuda:{count - 1} ({count} CUDA device(s) visible)")
    return device


def task_settings(task: Mapping[str, Any], sim: str,
                  offered: Optional[Mapping[str, Any]] = None) -> Tuple[Dict[str, Any], List[str]]:
    """The ``task.env`` settings (and run-level ``offered`` ones, e.g. ``graphics_device_id``) that backend ``sim``
    takes for this task, and the ``task.env`` keys it has no use for (a PhysX task reads its masses from the URDF)."""
    accepted = task_keywords(task["name"], sim, task.get("class_path"))
    env = dict(task.get("env", {}) or {})
    kwargs = {k: v for k, v in env.items() if k in accepted}
    kwargs.update({k: v for k, v in (offered or {}).items() if k in accepted})
    return kwargs, sorted(k for k in env if k not in accepted)


def make_env(task: Mapping[str, Any], sim: str, num_envs: int, device: str, seed: int,
             offered: Optional[Mapping[str, Any]] = None) -> VecEnv:
    """The task's env on backend ``sim`` with every ``task.env`` setting that backend takes."""
    kwargs, _ = task_settings(task, sim, offered)
    if not task.get("class_path"):
        return make_task(task["name"], sim=sim, num_envs=num_envs, device=device, seed=seed, **kwargs)
    env = load_class(task["class_path"])(num_envs=num_envs, device=device, seed=seed, **kwargs)
    try:
        check_task(env, num_envs, canonical_device(device))
    except (TypeError, ValueError) as err:
        raise ConfigError(f"invalid config: task.class_path={task['class_path']!r}: {err}") from None
    return env


def population_of(cfg: Mapping[str, Any]) -> Tuple[int, Dict[str, list]]:
    """``population`` (agents) and the set ``population_vary`` lists of a resolved config (1 and none for configs
    and checkpoints without them)."""
    vary = {k: v for k, v in (cfg.get("population_vary") or {}).items() if v is not None}
    return int(cfg.get("population", 1) or 1), vary


def make_trained_algorithm(cfg: Mapping[str, Any], agent_state: Mapping[str, Any], sim: str, num_envs: int,
                           device: str, seed: int, agent: int = 0) -> Tuple[VecEnv, Algorithm]:
    """An env of ``num_envs`` on ``sim`` and agent ``agent`` of the config's algorithm, loaded with its slice of a
    checkpoint's ``trainer.agent`` state (evaluation, play, export: no training env, no replay buffer)."""
    population, vary = population_of(cfg)
    if not 0 <= agent < population:
        raise ConfigError(f"invalid config: agent={agent}; allowed: 0 to {population - 1} (the checkpoint holds a "
                          f"population of {population})")
    env = make_env(cfg["task"], sim, num_envs, device, seed)
    one = agent_dicts(cfg["train"]["algo"], vary, population)[agent]
    algo = make_algorithm(one, env)
    algo.load_state_dict(agent_state if population == 1 else agent_state_of(agent_state, agent, population))
    return env, algo


def make_trainer(cfg: Mapping[str, Any], device: str, rank: int = 0, eval_env: bool = True, verbose: bool = True,
                 hooks: Optional[RunHooks] = None) -> Tuple[Runner, VecEnv, Optional[VecEnv]]:
    """Everything for one run from the resolved config (``task``, ``train``, ``num_envs``, ``seed``, ``sim``,
    ``compile``, ``cuda_graph``; how they capture: :mod:`isaac_rl.runtime.capture`): the runner with its learning
    step (an off-policy learning owns the replay buffer and n-step window), training, evaluation and verification
    envs."""
    seed = int(cfg["seed"]) + rank
    population, vary = population_of(cfg)
    seeds = [seed + k for k in range(population)]
    graphed = resolve_cuda_graph(cfg, device)
    compiled = bool(cfg.get("compile", False))
    torch.manual_seed(seed)
    offered = {"graphics_device_id": cfg.get("graphics_device_id", -1)}
    _, unused = task_settings(cfg["task"], cfg["sim"])
    if unused and verbose:
        print(f"[isaac_rl] sim={cfg['sim']} takes no {', '.join('task.env.' + k for k in unused)} for task "
              f"{cfg['task']['name']}: ignored", flush=True)
    env = make_env(cfg["task"], cfg["sim"], population * int(cfg["num_envs"]), device, seed, offered)
    if (cfg["task"].get("randomize") or {}).get("enabled"):  # the training env only (tasks/randomize.py)
        line = randomize.attach(env, cfg["task"]["randomize"])
        if verbose:
            print(f"[isaac_rl] {line}", flush=True)
    evaluation = verification = None
    runner_cfg, replay = loop_settings(cfg["train"]["loop"], cfg["train"]["algo"])
    runner_cfg.seed, runner_cfg.compile, runner_cfg.cuda_graph = seed, compiled, graphed
    verify_episodes = runner_cfg.verify_episodes
    if eval_env and cfg["sim"] not in ("isaacgym", "isaaclab"):  # one simulation per process there
        evaluation = make_env(cfg["task"], cfg["sim"], population * int(cfg["train"]["eval_envs"]), device,
                              seed + 1)
        if verify_episodes and rank == 0:
            verification = make_env(cfg["task"], cfg["sim"], verify_episodes, device, seed + 2)  # one agent at a time
        for judge in (evaluation, verification):  # torch tasks: evaluating draws nothing from training's generator
            if hasattr(judge, "random_auto_reset"):
                judge.random_auto_reset = False  # type: ignore[union-attr]
    algo = make_algorithm(cfg["train"]["algo"], env, seeds, vary)
    if replay is None:  # on-policy: the algorithm's rollout storage, no replay
        from isaac_rl.runtime.on_policy import OnPolicyLearning

        learning: Any = OnPolicyLearning(Collector(env, algo, seed), algo, compile=compiled, cuda_graph=graphed)
    else:
        buffer = ReplayBuffer(replay.buffer_per_env * int(cfg["num_envs"]), env.obs_dim, algo.action_dim,
                              env.device, verbose=verbose, agents=population)
        agents = agent_settings(cfg["train"]["algo"], vary, population)
        n_steps, gammas = [int(a.n_step) for a in agents], [float(a.gamma) for a in agents]
        nstep = None
        if max(n_steps) > 1:
            action_shape = () if algo.action_dim == 0 else (algo.action_dim,)
            nstep = NStepWindow(n_steps, gammas, env.num_envs, env.obs_dim, action_shape, env.device)
        learning = OffPolicyLearning(Collector(env, algo, seed), algo, buffer, replay, nstep, compile=compiled,
                                     cuda_graph=graphed)
    runner = Runner(learning, runner_cfg, hooks, eval_env=evaluation, verify_env=verification, is_main=rank == 0)
    return runner, env, evaluation
