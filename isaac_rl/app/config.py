"""Validation of the resolved run config: every bad value fails before any work, naming its key."""

from __future__ import annotations

import math
import os
import re
from typing import Any, Dict, Mapping

from isaac_rl.core.errors import ConfigError
from tasks import SIMS, TASKS

__all__ = ["ConfigError", "resolve", "validate", "resolve_cuda_graph"]


def _need(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"invalid config: {key}={value!r}; allowed: {allowed}")


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _num(value: Any) -> bool:
    """A finite int or float (NaN and infinities are never meaningful settings here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


SEED_MAX = 2 ** 62  # eval and verification seeds are offsets of seed; all stay inside torch's 64-bit range
# Schedule keys whose unit changed so that no setting silently changes meaning with num_envs.
RENAMED = {"train.loop.learning_starts": "train.loop.warmup_iterations (iterations = random transitions per env)",
           "train.loop.buffer_size": "train.loop.buffer_per_env (transitions kept per env; x num_envs in all)",
           "train.algo.eps_decay_steps": "train.algo.eps_decay_iterations (iterations of the epsilon schedule)"}
BOOL_KEYS = ("test", "compile", "torch_deterministic", "multi_gpu", "wandb_activate", "headless", "overwrite", "debug")
# task.env keys of the torch backend with their meaning-preserving ranges (see tasks/cartpole.py, tasks/pendulum.py).
POSITIVE_ENV = ("dt", "max_effort", "cart_mass", "pole_mass", "reset_dist", "pole_com")
NONNEGATIVE_ENV = ("pole_inertia",)
FINITE_ENV = ("gravity",)
POSITIVE_INT_ENV = ("max_episode_steps", "substeps")


def resolve(cfg: Mapping[str, Any]) -> Dict[str, Any]:
    """Fill the '' defaults (``num_envs``, ``max_iterations``, ``num_eval_envs``), draw a seed for ``seed=-1``
    (IsaacGymEnvs' "random seed") and validate; returns a new dict. ``num_envs_given`` records whether the user set
    ``num_envs`` (``test=True`` then evaluates that many episodes)."""
    cfg = dict(cfg)
    cfg["num_envs_given"] = cfg.get("num_envs", "") != ""
    if cfg.get("seed") == -1:
        _need(not cfg.get("multi_gpu", False), "seed", -1, "an explicit seed with multi_gpu=True (every rank must "
              "agree on it)")
        cfg["seed"] = int.from_bytes(os.urandom(4), "little") % 100_000
        print(f"[isaac_rl] seed=-1: drew seed={cfg['seed']}", flush=True)
    train = dict(cfg["train"])
    loop = dict(train["loop"])
    if cfg.get("num_envs", "") == "":
        cfg["num_envs"] = cfg["task"]["num_envs"]
    if cfg.get("max_iterations", "") != "":
        loop["max_iterations"] = cfg["max_iterations"]
    if cfg.get("num_eval_envs", "") != "":
        train["eval_envs"] = cfg["num_eval_envs"]
    train["loop"] = loop
    cfg["train"] = train
    validate(cfg)
    return cfg


def validate(cfg: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` for the first invalid value."""
    task, sim = cfg["task"]["name"], cfg["sim"]
    _need(task in TASKS, "task.name", task, str(sorted(TASKS)))
    _need(sim in SIMS, "sim", sim, str(list(SIMS)))
    _need(sim in TASKS[task], "sim", sim, f"{list(TASKS[task])} for task {task}")
    _need(_int(cfg["num_envs"]) and 1 <= cfg["num_envs"] <= 1 << 30, "num_envs", cfg["num_envs"],
          "an integer in [1, 2**30]")
    _need(_int(cfg["seed"]) and 0 <= cfg["seed"] < SEED_MAX, "seed", cfg["seed"],
          "an integer in [0, 2**62), or -1 for a random one")
    for key in BOOL_KEYS:
        if key in cfg:
            _need(isinstance(cfg[key], bool), key, cfg[key], "True or False")
    _need(cfg.get("headless", True) is True, "headless", cfg.get("headless"), "True (no backend opens a viewer; "
          "record episodes with scripts/play.py --gif)")
    _validate_task_env(cfg["task"].get("env") or {})
    device = str(cfg["sim_device"])
    _need(re.fullmatch(r"auto|cpu|cuda(:[0-9]+)?", device) is not None, "sim_device", device,
          "auto, cpu, cuda or cuda:K")
    _need(str(cfg["rl_device"]) == device, "rl_device", cfg["rl_device"],
          f"the same device as sim_device ({device}); data never leaves the simulation device")
    _need(cfg["resume"] in ("", "auto"), "resume", cfg["resume"], "'' or auto")
    _need(_int(cfg["torch_threads"]) and cfg["torch_threads"] >= 0, "torch_threads", cfg["torch_threads"],
          "an integer >= 0")
    compiled, graphed = cfg.get("compile", False), cfg.get("cuda_graph", False)
    _need(isinstance(compiled, bool), "compile", compiled, "True or False")
    _need(isinstance(graphed, bool) or graphed == "auto", "cuda_graph", graphed, "auto, True or False")
    graphed = graphed is True  # auto: decided by resolve_cuda_graph once the device is known
    _need(not (compiled and graphed), "cuda_graph", graphed,
          "False or auto with compile=True (compile already records CUDA graphs on CUDA); pick one")
    if graphed:
        _need(device != "cpu", "sim_device", device, "cuda, cuda:K or auto with cuda_graph=True (CUDA graphs)")
    for key, on in (("compile", compiled), ("cuda_graph", graphed)):
        if not on:
            continue
        _need(sim == "torch", "sim", sim, f"torch with {key}=True (only the torch tasks are capturable)")
        _need(not cfg["multi_gpu"], "multi_gpu", cfg["multi_gpu"], f"False with {key}=True (single-process only)")
    train = cfg["train"]
    _need(_int(train["eval_envs"]) and train["eval_envs"] >= 1, "train.eval_envs", train["eval_envs"],
          "an integer >= 1")
    _validate_algo(train["algo"])
    loop = train["loop"]
    for old, new in RENAMED.items():
        section, key = old.rsplit(".", 1)
        holder = loop if section == "train.loop" else train["algo"]
        _need(key not in holder, old, holder.get(key), f"nothing: it was replaced by {new}")
    for key in ("max_iterations", "batch_size", "updates_per_step", "log_interval", "buffer_per_env"):
        _need(_int(loop[key]) and loop[key] >= 1, f"train.loop.{key}", loop[key], "an integer >= 1")
    for key in ("warmup_iterations", "eval_interval", "checkpoint_interval", "verify_episodes"):
        _need(_int(loop.get(key, 0)) and loop.get(key, 0) >= 0, f"train.loop.{key}", loop.get(key), "an integer >= 0")
    _need(loop["eval_target"] is None or _num(loop["eval_target"]), "train.loop.eval_target", loop["eval_target"],
          "null or a finite number")
    _need(isinstance(loop.get("eval_early_out", True), bool), "train.loop.eval_early_out", loop.get("eval_early_out"),
          "True or False")


def _validate_task_env(env: Mapping[str, Any]) -> None:
    """Physical constants that would make the simulation meaningless (non-finite, zero or negative) fail here."""
    for key, value in env.items():
        name = f"task.env.{key}"
        if key in POSITIVE_ENV:
            _need(_num(value) and value > 0, name, value, "a finite number > 0")
        elif key in NONNEGATIVE_ENV:
            _need(_num(value) and value >= 0, name, value, "a finite number >= 0")
        elif key in FINITE_ENV:
            _need(_num(value), name, value, "a finite number")
        elif key in POSITIVE_INT_ENV:
            _need(_int(value) and value >= 1, name, value, "an integer >= 1")


def _validate_algo(algo: Mapping[str, Any]) -> None:
    name = algo["name"]
    _need(name in ("DQN", "DDPG"), "train.algo.name", name, "DQN or DDPG")
    _need(isinstance(algo["hidden"], (list, tuple)) and len(algo["hidden"]) >= 1
          and all(_int(h) and h >= 1 for h in algo["hidden"]), "train.algo.hidden", algo["hidden"],
          "a non-empty list of positive integers")
    double = algo.get("double_dqn", False)
    _need(isinstance(double, bool), "train.algo.double_dqn", double, "True or False")
    _need(_num(algo["gamma"]) and 0.0 <= algo["gamma"] <= 1.0, "train.algo.gamma", algo["gamma"], "a number in [0, 1]")
    _need(_num(algo["tau"]) and 0.0 < algo["tau"] <= 1.0, "train.algo.tau", algo["tau"], "a number in (0, 1]")
    _need(_num(algo["max_grad_norm"]) and algo["max_grad_norm"] >= 0, "train.algo.max_grad_norm",
          algo["max_grad_norm"], "a number >= 0 (0 disables clipping)")
    layer_norm = algo.get("layer_norm", False)
    _need(isinstance(layer_norm, bool), "train.algo.layer_norm", layer_norm, "True or False")
    n_step = algo.get("n_step", 1)
    _need(_int(n_step) and 1 <= n_step <= 100, "train.algo.n_step", n_step, "an integer in [1, 100]")
    lrs = ("lr",) if name == "DQN" else ("actor_lr", "critic_lr")
    for key in lrs:
        _need(_num(algo[key]) and algo[key] > 0, f"train.algo.{key}", algo[key], "a finite number > 0")
    if name == "DQN":
        _need(algo["loss"] in ("huber", "mse"), "train.algo.loss", algo["loss"], "huber or mse")
        efforts = algo["efforts"]
        _need(isinstance(efforts, (list, tuple)) and len(efforts) >= 2 and all(
            _num(e) and -1 <= e <= 1 for e in efforts), "train.algo.efforts", efforts,
            "a list of >= 2 normalised efforts in [-1, 1]")
        for key in ("eps_start", "eps_end"):
            _need(_num(algo[key]) and 0 <= algo[key] <= 1, f"train.algo.{key}", algo[key], "a number in [0, 1]")
        for key in ("eps_decay_iterations", "target_update_interval"):
            _need(_int(algo[key]) and algo[key] >= 1, f"train.algo.{key}", algo[key], "an integer >= 1")
    else:
        _need(algo["noise"] in ("gaussian", "ou"), "train.algo.noise", algo["noise"], "gaussian or ou")
        _need(_num(algo["noise_sigma"]) and algo["noise_sigma"] >= 0, "train.algo.noise_sigma", algo["noise_sigma"],
              "a finite number >= 0")
        low = algo.get("noise_sigma_min")
        _need(low is None or (_num(low) and 0 <= low <= algo["noise_sigma"]), "train.algo.noise_sigma_min", low,
              f"null (constant noise_sigma) or a finite number in [0, noise_sigma={algo['noise_sigma']}]")
        _need(_num(algo.get("ou_theta", 0.15)) and algo.get("ou_theta", 0.15) >= 0, "train.algo.ou_theta",
              algo.get("ou_theta"), "a finite number >= 0")
        _need(_int(algo["policy_delay"]) and algo["policy_delay"] >= 1, "train.algo.policy_delay",
              algo["policy_delay"], "an integer >= 1")


def resolve_cuda_graph(cfg: Mapping[str, Any], device: str) -> bool:
    """``cuda_graph``: True/False as given; ``auto`` = record the learning iteration as a CUDA graph wherever that is
    possible: a CUDA ``device``, the torch backend, one process, no ``compile``."""
    value = cfg.get("cuda_graph", False)
    if value != "auto":
        return bool(value)
    return (device.startswith("cuda") and cfg["sim"] == "torch" and not cfg["multi_gpu"]
            and not cfg.get("compile", False))
