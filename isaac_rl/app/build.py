"""Builds env, learner, agent, buffer and trainer from a plain (resolved) config dict; the one place that reads it."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

import torch

from isaac_rl.algorithms.agents import Agent, ContinuousAgent, DiscreteAgent
from isaac_rl.algorithms.ddpg import DDPG
from isaac_rl.algorithms.dqn import DQN
from isaac_rl.algorithms.efforts import DiscreteEfforts
from isaac_rl.algorithms.noise import GaussianNoise, OUNoise
from isaac_rl.app.config import resolve_cuda_graph
from isaac_rl.core.contract import VecEnv
from isaac_rl.core.errors import ConfigError
from isaac_rl.runtime.trainer import OffPolicyTrainer, TrainerConfig
from isaac_rl.storage.nstep import NStepWindow
from isaac_rl.storage.replay import ReplayBuffer
from tasks import make_task


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


def make_env(task: Mapping[str, Any], sim: str, num_envs: int, device: str, seed: int) -> VecEnv:
    """The task's env on backend ``sim`` with the task section's ``env`` keyword arguments."""
    kwargs = dict(task.get("env", {}) or {})
    if sim != "torch":
        kwargs = {k: v for k, v in kwargs.items() if k in ("max_episode_steps",)}
    return make_task(task["name"], sim=sim, num_envs=num_envs, device=device, seed=seed, **kwargs)


def make_agent(algo: Mapping[str, Any], env: VecEnv, capturable: bool = False) -> Agent:
    """DQN + discrete efforts, or DDPG + exploration noise, from the ``train.algo`` section (``capturable``: the
    learners' ``compile=True`` form)."""
    name, device = algo["name"], env.device
    hidden = tuple(algo["hidden"])
    if name == "DQN":
        efforts = DiscreteEfforts(algo["efforts"], device)
        efforts.check_supported_by(env.action_spec)
        dqn = DQN(env.obs_dim, efforts.num_actions, device, hidden=hidden, lr=algo["lr"], gamma=algo["gamma"],
                  tau=algo["tau"], target_update_interval=algo["target_update_interval"],
                  double_dqn=algo["double_dqn"], loss=algo["loss"], max_grad_norm=algo["max_grad_norm"],
                  eps_start=algo["eps_start"], eps_end=algo["eps_end"],
                  eps_decay_iterations=algo["eps_decay_iterations"],
                  layer_norm=bool(algo.get("layer_norm", False)), capturable=capturable)
        return DiscreteAgent(dqn, efforts)
    act_dim = env.action_spec.dim
    ddpg = DDPG(env.obs_dim, act_dim, device, hidden=hidden, actor_lr=algo["actor_lr"],
                critic_lr=algo["critic_lr"], gamma=algo["gamma"], tau=algo["tau"],
                policy_delay=algo["policy_delay"], max_grad_norm=algo["max_grad_norm"],
                layer_norm=bool(algo.get("layer_norm", False)), capturable=capturable)
    noise = (OUNoise(env.num_envs, act_dim, algo["noise_sigma"], device, theta=algo["ou_theta"])
             if algo["noise"] == "ou" else GaussianNoise(env.num_envs, act_dim, algo["noise_sigma"], device,
                                                       sigma_min=algo.get("noise_sigma_min")))
    return ContinuousAgent(ddpg, noise)


def make_trained_agent(cfg: Mapping[str, Any], agent_state: Mapping[str, Any], sim: str, num_envs: int, device: str,
                       seed: int) -> Tuple[VecEnv, Agent]:
    """An env of ``num_envs`` on ``sim`` and the config's agent loaded with a checkpoint's ``trainer.agent`` state
    (evaluation, play, export: no training env, no replay buffer)."""
    env = make_env(cfg["task"], sim, num_envs, device, seed)
    agent = make_agent(cfg["train"]["algo"], env)
    agent.learner.load_state_dict(agent_state)
    return env, agent


def make_trainer(cfg: Mapping[str, Any], device: str, rank: int = 0, eval_env: bool = True, verbose: bool = True,
                 **callbacks: Any) -> Tuple[OffPolicyTrainer, VecEnv, Optional[VecEnv]]:
    """Everything for one run from the resolved config (``task``, ``train``, ``num_envs``, ``seed``, ``sim``,
    ``compile``, ``cuda_graph``). ``compile=True`` and ``cuda_graph=True`` build the env, learner and buffer in their
    capturable form (see :mod:`isaac_rl.runtime.capture`)."""
    seed = int(cfg["seed"]) + rank
    graphed = resolve_cuda_graph(cfg, device)
    compiled = bool(cfg.get("compile", False))
    capturable = compiled or graphed
    torch.manual_seed(seed)
    env = make_env(cfg["task"], cfg["sim"], int(cfg["num_envs"]), device, seed)
    if capturable:
        env.make_capturable()  # type: ignore[attr-defined]  # torch tasks only (checked by the config)
    evaluation = verification = None
    verify_episodes = int(cfg["train"]["loop"].get("verify_episodes", 0))
    if eval_env and cfg["sim"] != "isaacgym":  # Isaac Gym allows one sim per process
        evaluation = make_env(cfg["task"], cfg["sim"], int(cfg["train"]["eval_envs"]), device, seed + 1)
        if verify_episodes and rank == 0:
            verification = make_env(cfg["task"], cfg["sim"], verify_episodes, device, seed + 2)
        for e in (evaluation, verification):
            if graphed and e is not None:
                e.make_capturable()  # type: ignore[attr-defined]  # evaluation chunks replay as CUDA graphs
    agent = make_agent(cfg["train"]["algo"], env, capturable=capturable)
    loop: Dict[str, Any] = dict(cfg["train"]["loop"])
    capacity = int(loop.pop("buffer_per_env")) * env.num_envs
    buffer = ReplayBuffer(capacity, env.obs_dim, agent.action_dim, env.device, seed=seed, verbose=verbose,
                          capturable=capturable)
    n_step = int(cfg["train"]["algo"].get("n_step", 1))
    nstep = None
    if n_step > 1:
        action_shape = () if agent.action_dim == 0 else (agent.action_dim,)
        nstep = NStepWindow(n_step, float(cfg["train"]["algo"]["gamma"]), env.num_envs, env.obs_dim, action_shape,
                            env.device)
    tcfg = TrainerConfig(seed=seed, compile=compiled, cuda_graph=graphed, **loop)
    trainer = OffPolicyTrainer(env, agent, buffer, tcfg, eval_env=evaluation, is_main=rank == 0, nstep=nstep,
                               verify_env=verification, **callbacks)
    return trainer, env, evaluation
