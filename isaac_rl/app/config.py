"""Validation of the resolved run config: every bad value fails before any work, naming its key."""

from __future__ import annotations

import dataclasses
import importlib.util
import inspect
import os
import re
from typing import Any, Dict, Mapping, Optional, Tuple

from isaac_rl.algorithms import ALGORITHMS, agent_settings, on_policy, settings_dict, settings_for
from isaac_rl.core.errors import ConfigError
from isaac_rl.core.settings import build, is_int, is_num, need
from isaac_rl.runtime.off_policy import ReplaySettings
from isaac_rl.runtime.runner import RunnerConfig
from isaac_rl.tasks import SIMS, TASKS, load_class, randomize, task_class, task_keywords
from isaac_rl.tasks.isaaclab_app import INSTALL_HELP
from isaac_rl.tasks.mjlab_backend import INSTALL_HELP as MJLAB_INSTALL_HELP
from isaac_rl.tools.render import RENDERED  # tasks with a torch twin that tools/render.py can draw

__all__ = ["ConfigError", "resolve", "validate", "resolve_cuda_graph", "loop_settings", "loop_keys", "loop_dict"]


RUN_LEVEL = ("seed", "compile", "cuda_graph")  # RunnerConfig fields set from top-level keys, not train.loop
RUNNER_KEYS = tuple(f.name for f in dataclasses.fields(RunnerConfig) if f.name not in RUN_LEVEL)
REPLAY_KEYS = tuple(f.name for f in dataclasses.fields(ReplaySettings))
SEED_MAX = 2 ** 62  # eval and verification seeds are offsets of seed; all stay inside torch's 64-bit range
# Schedule keys whose unit changed so that no setting silently changes meaning with num_envs.
RENAMED = {"train.loop.learning_starts": "train.loop.warmup_iterations (iterations = random transitions per env)",
           "train.loop.buffer_size": "train.loop.buffer_per_env (transitions kept per env; x num_envs in all)",
           "train.algo.eps_decay_steps": "train.algo.eps_decay_iterations (iterations of the epsilon schedule)"}
BOOL_KEYS = ("test", "compile", "torch_deterministic", "multi_gpu", "wandb_activate", "headless", "overwrite", "debug",
             "capture_video")
# task.env keys of the torch backend with their meaning-preserving ranges (see tasks/cartpole.py, tasks/pendulum.py,
# tasks/dmc_cartpole.py).
POSITIVE_ENV = ("dt", "max_effort", "cart_mass", "pole_mass", "reset_dist", "pole_com", "pole_length")
NONNEGATIVE_ENV = ("pole_inertia", "slider_damping", "hinge_damping")
FINITE_ENV = ("gravity",)
POSITIVE_INT_ENV = ("max_episode_steps", "substeps")


def resolve(cfg: Mapping[str, Any]) -> Dict[str, Any]:
    """Fill the '' defaults (``num_envs``, ``max_iterations``, ``num_eval_envs``), draw a seed for ``seed=-1``
    (IsaacGymEnvs' "random seed") and validate; returns a new dict. ``num_envs_given`` records whether the user set
    ``num_envs`` (``test=True`` then evaluates that many episodes)."""
    cfg = dict(cfg)
    cfg["num_envs_given"] = cfg.get("num_envs", "") != ""
    if cfg.get("seed") == -1:
        need(not cfg.get("multi_gpu", False), "seed", -1, "an explicit seed with multi_gpu=True (every rank must "
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
    cfg["population"] = cfg.get("population", 1)
    _apply_isaacgymenvs_keys(cfg)
    cfg["population_vary"] = {k: v for k, v in (cfg.get("population_vary") or {}).items() if v is not None}
    validate(cfg)
    if not (cfg["task"].get("randomize") or {}).get("enabled", False):  # off: no effect, nothing recorded (so
        cfg["task"] = {k: v for k, v in cfg["task"].items() if k != "randomize"}  # older checkpoints compare equal)
    # Every default filled in from the settings dataclasses (the one source of defaults): what config.yaml records.
    train["algo"] = settings_dict(train["algo"])
    train["loop"] = loop_dict(loop, train["algo"])
    return cfg


def _apply_isaacgymenvs_keys(cfg: Dict[str, Any]) -> None:
    """IsaacGymEnvs' ``pipeline``, ``physics_engine`` and ``force_render``, accepted so that its commands run: checked,
    ``pipeline=cpu`` mapped onto ``sim_device``, then dropped (they select nothing else here, and a resumed run's
    config then compares as before)."""
    pipeline = cfg.pop("pipeline", "gpu")
    need(pipeline in ("gpu", "cpu"), "pipeline", pipeline, "gpu (tensors stay on sim_device) or cpu (everything on "
         "the CPU)")
    if pipeline == "cpu":
        need(str(cfg["sim_device"]) in ("auto", "cpu"), "sim_device", cfg["sim_device"], "cpu or auto with "
             "pipeline=cpu (this trainer never copies between devices: pipeline=gpu with a CUDA sim_device, or "
             "sim_device=cpu)")
        if cfg["sim_device"] == "auto":
            cfg["sim_device"] = "cpu"
        if cfg.get("rl_device") == "auto":
            cfg["rl_device"] = "cpu"
    engine = cfg.pop("physics_engine", "physx")
    need(engine == "physx", "physics_engine", engine, "physx (Isaac Gym's PhysX with sim=isaacgym; the torch and "
         "gymnasium backends have their own physics and ignore it)")
    render = cfg.pop("force_render", False)
    need(render is False, "force_render", render, "False (no backend opens a viewer; record episodes with "
         "capture_video=True or scripts/play.py --video)")


def loop_keys(algo: Mapping[str, Any]) -> Tuple[str, ...]:
    """The ``train.loop`` keys of ``train.algo``'s kind of learner: the runner's (every learner), and the replay
    keys for an off-policy algorithm (an on-policy one keeps no replay buffer: its storage is its rollout)."""
    return RUNNER_KEYS if on_policy(algo) else RUNNER_KEYS + REPLAY_KEYS


def loop_settings(loop: Mapping[str, Any], algo: Mapping[str, Any],
                  prefix: str = "train.loop") -> Tuple[RunnerConfig, Optional[ReplaySettings]]:
    """The checked runner settings of ``train.loop`` and, for an off-policy ``train.algo``, its replay settings
    (``None`` on-policy); :class:`ConfigError` naming the first bad, unknown or missing key."""
    keys = loop_keys(algo)
    for key, value in loop.items():
        if key in REPLAY_KEYS and key not in keys:
            need(False, f"{prefix}.{key}", value, f"nothing for {algo.get('name')}: an on-policy algorithm keeps no "
                 f"replay buffer (it learns from its own rollout of train.algo.rollout_steps per env); its loop keys "
                 f"are {', '.join(RUNNER_KEYS)}")
        need(key in keys or key in RUN_LEVEL, f"{prefix}.{key}", value,
             f"one of the keys of this section: {', '.join(keys)}")
    for key in RUN_LEVEL:  # run-level keys, not loop settings
        need(key not in loop, f"{prefix}.{key}", loop.get(key), f"nothing here: set the top-level key {key}")
    missing = [k for k in keys if k not in loop]
    need(not missing, prefix, f"<without {', '.join(missing)}>", "a section that sets every loop key (the "
         "shipped cfg/train/*.yaml are the one source of their values; copy one)")
    runner = build(RunnerConfig, {k: loop[k] for k in RUNNER_KEYS}, prefix)
    replay = None if on_policy(algo) else build(ReplaySettings, {k: loop[k] for k in REPLAY_KEYS}, prefix)
    return runner, replay


def loop_dict(loop: Mapping[str, Any], algo: Mapping[str, Any]) -> Dict[str, Any]:
    """``train.loop`` checked, without its run-level keys, in the order of the settings dataclasses."""
    runner, replay = loop_settings(loop, algo)
    settings = dataclasses.asdict(runner)
    if replay is not None:
        settings.update(dataclasses.asdict(replay))
    return {k: v for k, v in settings.items() if k not in RUN_LEVEL}


def validate(cfg: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` for the first invalid value."""
    task, sim, class_path = cfg["task"]["name"], cfg["sim"], cfg["task"].get("class_path")
    need(sim in SIMS, "sim", sim, str(list(SIMS)))
    if class_path:  # the user's own task class: the torch backend's place, checked against the contract at build
        need(sim == "torch", "sim", sim, "torch with task.class_path (the class is the backend)")
        try:
            load_class(class_path)
        except ValueError as err:
            raise ConfigError(f"invalid config: {err}") from None
    elif sim == "isaaclab":  # Isaac Lab's own registry names the tasks (Isaac-Cartpole-Direct-v0, ...)
        need(importlib.util.find_spec("isaaclab") is not None, "sim", sim, f"an installed backend: {INSTALL_HELP}")
    elif sim == "mjlab":  # mjlab's own registry names the tasks (Mjlab-Cartpole-Balance, ...)
        need(importlib.util.find_spec("mjlab") is not None, "sim", sim, f"an installed backend: {MJLAB_INSTALL_HELP}")
    else:
        need(task in TASKS, "task.name", task, f"{sorted(TASKS)}, or any name with task.class_path=module:Class")
        need(sim in TASKS[task], "sim", sim, f"{list(TASKS[task])} for task {task}")
    need(is_int(cfg["num_envs"]) and 1 <= cfg["num_envs"] <= 1 << 30, "num_envs", cfg["num_envs"],
          "an integer in [1, 2**30]")
    need(is_int(cfg["seed"]) and 0 <= cfg["seed"] < SEED_MAX, "seed", cfg["seed"],
          "an integer in [0, 2**62), or -1 for a random one")
    for key in BOOL_KEYS:
        if key in cfg:
            need(isinstance(cfg[key], bool), key, cfg[key], "True or False")
    need(cfg.get("headless", True) is True, "headless", cfg.get("headless"), "True (no backend opens a viewer; "
          "record episodes with scripts/play.py --gif)")
    _validate_task_env(cfg["task"].get("env") or {})
    _validate_randomize(cfg["task"], sim)
    if cfg.get("capture_video", False):
        need(task in RENDERED and not class_path, "capture_video", True, f"False for this task (videos are drawn for "
             f"{', '.join(RENDERED)})")
        for key in ("capture_video_freq", "capture_video_len"):
            need(is_int(cfg.get(key)) and cfg[key] >= 1, key, cfg.get(key), "an integer >= 1")
    if sim == "torch":  # the built-in tasks take these keys; other backends take what they can (app.build)
        takes = task_keywords(task, sim, class_path)
        for key, value in (cfg["task"].get("env") or {}).items():
            need(key in takes, f"task.env.{key}", value, f"a setting of the {class_path or 'torch ' + task} task: "
                 f"{', '.join(takes)}")
    device = str(cfg["sim_device"])
    need(re.fullmatch(r"auto|cpu|cuda(:[0-9]+)?", device) is not None, "sim_device", device,
          "auto, cpu, cuda or cuda:K")
    need(str(cfg["rl_device"]) == device, "rl_device", cfg["rl_device"],
          f"the same device as sim_device ({device}); data never leaves the simulation device")
    need(cfg["resume"] in ("", "auto"), "resume", cfg["resume"], "'' or auto")
    threads = cfg["torch_threads"]
    need(threads == "auto" or (is_int(threads) and threads >= 0), "torch_threads", threads, "auto or an integer >= 0")
    need(isinstance(cfg["keep_host_memory"], bool), "keep_host_memory", cfg["keep_host_memory"], "True or False")
    compiled, graphed = cfg.get("compile", False), cfg.get("cuda_graph", False)
    need(isinstance(compiled, bool), "compile", compiled, "True or False")
    need(isinstance(graphed, bool) or graphed == "auto", "cuda_graph", graphed, "auto, True or False")
    graphed = graphed is True  # auto: decided by resolve_cuda_graph once the device is known
    need(not (compiled and graphed), "cuda_graph", graphed,
          "False or auto with compile=True (compile already records CUDA graphs on CUDA); pick one")
    if graphed:
        need(device != "cpu", "sim_device", device, "cuda, cuda:K or auto with cuda_graph=True (CUDA graphs)")
    for key, on in (("compile", compiled), ("cuda_graph", graphed)):
        if not on:
            continue
        need(sim == "torch", "sim", sim, f"torch with {key}=True (only torch tasks run in a graph or trace)")
        need(not cfg["multi_gpu"], "multi_gpu", cfg["multi_gpu"], f"False with {key}=True (single-process only)")
    train = cfg["train"]
    need(is_int(train["eval_envs"]) and train["eval_envs"] >= 1, "train.eval_envs", train["eval_envs"],
          "an integer >= 1")
    loop = train["loop"]
    for old, new in RENAMED.items():
        section, key = old.rsplit(".", 1)
        holder = loop if section == "train.loop" else train["algo"]
        need(key not in holder, old, holder.get(key), f"nothing: it was replaced by {new}")
    runner, replay = loop_settings(loop, train["algo"])
    settings_dict(train["algo"])
    learner = ALGORITHMS[train["algo"]["name"]][1]
    if cfg.get("multi_gpu", False) and not getattr(learner, "multi_gpu", True):
        need(False, "multi_gpu", True, f"False with train.algo.name={train['algo']['name']} (its update takes no "
             "gradient that the ranks could average)")
    _validate_population(cfg)
    need(isinstance(cfg.get("train_dir", "runs"), str) and str(cfg.get("train_dir", "runs")).strip() != "",
         "train_dir", cfg.get("train_dir"), "a folder path (runs by default; . for the current folder)")
    if not cfg.get("test", False) and replay is not None:
        _validate_schedule(cfg, runner, replay)
    if replay is None:
        _validate_rollout(cfg)


def _validate_rollout(cfg: Mapping[str, Any]) -> None:
    """An on-policy rollout of ``rollout_steps x num_envs`` transitions per agent splits into equal minibatches."""
    algo = settings_for(cfg["train"]["algo"])
    steps, minibatches = algo.rollout_steps, algo.minibatches  # type: ignore[attr-defined]
    total = steps * int(cfg["num_envs"])
    need(total % minibatches == 0 and total >= minibatches, "train.algo.minibatches", minibatches,
         f"a divisor of train.algo.rollout_steps x num_envs = {steps} x {cfg['num_envs']} = {total} (each epoch "
         "splits the rollout into equal minibatches)")


def _validate_schedule(cfg: Mapping[str, Any], runner: RunnerConfig, loop: ReplaySettings) -> None:
    """Loop settings that are each valid but together leave the run without learning: a warm-up as long as the
    run (no gradient step), a replay buffer smaller than one batch, an n-step window longer than the buffer keeps
    per env."""
    need(loop.warmup_iterations < runner.max_iterations, "train.loop.warmup_iterations", loop.warmup_iterations,
         f"fewer than the run's train.loop.max_iterations ({runner.max_iterations}): a warm-up as long as the run "
         "takes no gradient step; lower it or raise max_iterations")
    held = loop.buffer_per_env * int(cfg["num_envs"])
    need(held >= loop.batch_size, "train.loop.batch_size", loop.batch_size,
         f"at most the replay buffer's train.loop.buffer_per_env x num_envs = {loop.buffer_per_env} x "
         f"{cfg['num_envs']} = {held} transitions; lower batch_size or raise buffer_per_env")
    n_step = max(int(a.n_step) for a in agent_settings(cfg["train"]["algo"], cfg.get("population_vary") or {},
                                                         cfg.get("population", 1)))
    need(n_step <= loop.buffer_per_env, "train.algo.n_step", n_step,
         f"at most train.loop.buffer_per_env ({loop.buffer_per_env}): an n-step transition spans n iterations of "
         "each env's history; lower n_step or raise buffer_per_env")


def _validate_population(cfg: Mapping[str, Any]) -> None:
    """``population``, ``population_vary`` (each agent's values checked like ``train.algo``'s) and ``agent``."""
    population = cfg.get("population", 1)
    agent_settings(cfg["train"]["algo"], cfg.get("population_vary") or {}, population)
    if population > 1:
        need(not cfg.get("multi_gpu", False), "multi_gpu", True, "False with population > 1 (a population runs "
             "in one process on one device)")
    agent = cfg.get("agent", 0)
    need(is_int(agent) and 0 <= agent, "agent", agent, "an integer >= 0 (an agent of a population checkpoint)")


def _validate_task_env(env: Mapping[str, Any]) -> None:
    """Physical constants that would make the simulation meaningless (non-finite, zero or negative) fail here."""
    for key, value in env.items():
        name = f"task.env.{key}"
        if key in POSITIVE_ENV:
            need(is_num(value) and value > 0, name, value, "a finite number > 0")
        elif key in NONNEGATIVE_ENV:
            need(is_num(value) and value >= 0, name, value, "a finite number >= 0")
        elif key in FINITE_ENV:
            need(is_num(value), name, value, "a finite number")
        elif key in POSITIVE_INT_ENV:
            need(is_int(value) and value >= 1, name, value, "an integer >= 1")


def _validate_randomize(task: Mapping[str, Any], sim: str) -> None:
    """``task.randomize`` (tasks/randomize.py), against the nominal parameters of the task as configured."""
    cls = task_class(task["name"], sim, task.get("class_path")) if sim == "torch" else None
    table = getattr(cls, "RANDOMIZABLE", None)
    nominal: Dict[str, Any] = {}
    if table is not None:
        params = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
        nominal = {k: (task.get("env") or {}).get(k, params[k].default) for k in table}
    randomize.check(task.get("randomize"), table, nominal, f"task {task['name']} on sim={sim}")


def resolve_cuda_graph(cfg: Mapping[str, Any], device: str) -> bool:
    """``cuda_graph``: True/False as given; ``auto`` = record the learning iteration as a CUDA graph wherever that is
    possible: a CUDA ``device``, the torch backend, one process, no ``compile``."""
    value = cfg.get("cuda_graph", False)
    if value != "auto":
        return bool(value)
    return (device.startswith("cuda") and cfg["sim"] == "torch" and not cfg["multi_gpu"]
            and not cfg.get("compile", False))
