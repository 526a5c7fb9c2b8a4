"""One training or test run from a resolved config dict (what ``scripts/train.py`` calls after Hydra)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import sys
import uuid
from typing import Any, Dict, Optional, Tuple

import torch
import yaml

from isaac_rl.app import checkpoint, memory_plan, population
from isaac_rl.app import run_dir as folders
from isaac_rl.app.build import make_env, make_trained_algorithm, make_trainer, population_of, resolve_device
from isaac_rl.app.config import resolve, resolve_cuda_graph
from isaac_rl.app.logger import RunLogger
from isaac_rl.app.run_dir import run_dir_of
from isaac_rl.core.errors import CheckpointError, ConfigError, RunDirError, UserError
from isaac_rl.runtime import distributed
from isaac_rl.runtime.evaluate import evaluate
from isaac_rl.runtime.host_memory import keep_freed_memory
from isaac_rl.runtime.runner import RunHooks, Runner
from isaac_rl.runtime.signals import StopFlag
from isaac_rl.tools.render import rollout_frames, write_video

__all__ = ["main", "run_dir_of"]


WANDB_MODES = ("online", "offline", "shared", "disabled", "dryrun", "run")  # what wandb.Settings(mode=) takes
WANDB_INIT_TIMEOUT_S = 30  # wandb.init gives up after this many seconds (wandb's own default waits 90 s)


def check_wandb(cfg: Dict[str, Any]) -> None:
    """``wandb_activate=True``: the wandb package is installed and ``WANDB_MODE`` (when set) is a mode wandb knows;
    :class:`ConfigError` before any work otherwise."""
    if not cfg.get("wandb_activate"):
        return
    if importlib.util.find_spec("wandb") is None:
        raise ConfigError("invalid config: wandb_activate=True; allowed: False without the wandb package (install "
                          "it: pip install wandb, or the [wandb] extra)")
    mode = os.environ.get("WANDB_MODE")
    if mode is not None and mode not in WANDB_MODES:
        raise ConfigError(f"invalid environment variable: WANDB_MODE={mode!r}; allowed: {', '.join(WANDB_MODES)} "
                          "(offline logs without network; `wandb sync` uploads later)")


def _wandb_id(run_dir: str, resuming: bool) -> Tuple[str, bool]:
    """The wandb run id of this run and whether it is new (to be written to ``wandb_id.txt``): the sweep agent's
    ``WANDB_RUN_ID``, the folder's id when ``resuming`` (a damaged ``wandb_id.txt`` is a :class:`RunDirError`), or
    a fresh one. Reads only."""
    if os.environ.get("WANDB_RUN_ID"):  # a sweep agent (or the user) chose the run id
        return os.environ["WANDB_RUN_ID"], False
    id_file = os.path.join(run_dir, "wandb_id.txt")
    if resuming and os.path.exists(id_file):
        try:
            with open(id_file, "rb") as f:
                text = f.read(200).decode("utf-8", "replace").strip()
        except OSError as err:
            raise RunDirError(f"cannot read {id_file}: {err.strerror or err}") from None
        if not re.fullmatch(r"[a-z0-9]{1,64}", text):
            raise RunDirError(f"{id_file} is damaged: {text[:40]!r} is not a wandb run id (1-64 lowercase letters "
                              "and digits); write the run's id back into it, or delete the file to log the resumed "
                              "run as a new wandb run")
        return text, False
    return uuid.uuid4().hex[:12], True


def _init_wandb(cfg: Dict[str, Any], run_dir: str, run_id: str, new_id: bool) -> Any:
    """Start (``new_id``: and record in ``wandb_id.txt``) or continue the wandb run ``run_id``; ``WANDB_MODE=offline``
    works with no network. ``wandb.init`` waits at most :data:`WANDB_INIT_TIMEOUT_S` (``WANDB_INIT_TIMEOUT`` sets
    another bound); any failure of it is one :class:`UserError` line naming the cause."""
    import wandb

    if new_id:
        with open(os.path.join(run_dir, "wandb_id.txt"), "w") as f:
            f.write(run_id)
    settings = None
    if "WANDB_INIT_TIMEOUT" not in os.environ:
        try:
            settings = wandb.Settings(init_timeout=WANDB_INIT_TIMEOUT_S)
        except Exception:  # a wandb without this setting: its own default bound
            settings = None
    if os.environ.get("WANDB_MODE", "online") in ("online", "run"):
        timeout = os.environ.get("WANDB_INIT_TIMEOUT", WANDB_INIT_TIMEOUT_S)
        print(f"[isaac_rl] wandb: connecting (at most {timeout} s; WANDB_MODE=offline logs without network)",
              flush=True)
    try:
        return wandb.init(project=cfg["wandb_project"], entity=cfg["wandb_entity"] or None,
                          group=cfg["wandb_group"] or None, name=cfg["wandb_name"], tags=list(cfg["wandb_tags"]),
                          config=cfg, dir=run_dir, id=run_id, resume="allow", settings=settings)
    except Exception as err:  # wandb raises many types (CommError, UsageError, ValueError, timeouts)
        cause = " ".join(str(err).split())[:300] or "no message"
        raise UserError(f"wandb.init failed ({type(err).__name__}: {cause}); log offline with WANDB_MODE=offline "
                        "(no network or account needed; `wandb sync` uploads later), or set wandb_activate=False"
                        ) from None


def _test(cfg: Dict[str, Any], device: str) -> int:
    """``test=True``: load ``checkpoint``, run one deterministic episode per eval env (per env of ``num_envs`` when
    given, or with Isaac Gym's one sim), print the statistics."""
    if not cfg["checkpoint"]:
        raise ConfigError("invalid config: test=True needs checkpoint=<path of a .pt file>")
    # Only the policy and an evaluation env are needed: no training env, no replay buffer. Isaac Gym allows one sim
    # per process, which then serves num_envs episodes as during training.
    given = cfg.get("num_envs_given", False) or cfg["sim"] in ("isaacgym", "isaaclab")
    n = cfg["num_envs"] if given else cfg["train"]["eval_envs"]
    state = checkpoint.read(cfg["checkpoint"], device, "test", cfg)
    trained = dict(cfg, population=state["config"]["population"], population_vary=state["config"]["population_vary"])
    env, algo = make_trained_algorithm(trained, state["trainer"]["agent"], cfg["sim"], int(n), device,
                                       int(cfg["seed"]), agent=int(cfg["agent"]))
    result = evaluate(env, algo.act, seed=cfg["seed"])
    result["eval/episodes"] = float(env.num_envs)
    env.close()
    print(json.dumps(result))
    return 0


def cpu_threads(cfg: Dict[str, Any]) -> int:
    """``torch_threads`` as a count (0: leave torch's default, every core); ``auto`` is 1 for one agent, whose small
    ops do not gain from splitting, and 0 for a population, whose ops are ``population`` times larger."""
    threads = cfg["torch_threads"]
    if threads == "auto":
        return 1 if population_of(cfg)[0] == 1 else 0
    return int(threads)


def main(raw_cfg: Dict[str, Any], summary_out: Optional[Dict[str, Any]] = None) -> int:
    """Validate, set up devices/ranks/outputs, then train or test. Returns the process exit code; ``summary_out``
    (the Python API's) receives the summary line's values."""
    cfg = resolve(raw_cfg)
    device = resolve_device(str(cfg["sim_device"]))
    cfg["cuda_graph"] = resolve_cuda_graph(cfg, device)
    if cfg["cuda_graph"] and not device.startswith("cuda"):
        raise ConfigError(f"cuda_graph=True needs a CUDA device, but sim_device={cfg['sim_device']} resolved to "
                          f"{device} (no CUDA device visible); use cuda_graph=False on the CPU")
    dist_info = distributed.setup(bool(cfg["multi_gpu"]), device)
    if cfg["multi_gpu"] and device.startswith("cuda"):
        device = f"cuda:{dist_info.local_rank}"
        torch.cuda.set_device(device)
    memory_plan.check(cfg, device)  # every large allocation against free memory, before anything is built
    threads = cpu_threads(cfg)
    if threads:
        torch.set_num_threads(threads)
    if cfg["keep_host_memory"]:
        keep_freed_memory()
    if cfg["torch_deterministic"]:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    if cfg["test"]:
        return _test(cfg, device)

    run_dir = run_dir_of(cfg)
    check_wandb(cfg)
    lock = folders.RunLock(run_dir) if dist_info.is_main else None
    stop = StopFlag()
    try:
        if lock is not None:
            lock.acquire()  # this run owns the folder from here (a second run into it is refused)
        ckpt_path = folders.plan(cfg, run_dir)  # refuses to mix with an earlier run's results; writes nothing
        resume_state = checkpoint.read(ckpt_path, device, "resume", cfg) if ckpt_path else None
        return _train(cfg, device, dist_info, run_dir, ckpt_path, resume_state, stop, lock, summary_out)
    finally:
        stop.restore()
        if lock is not None:
            lock.release()


def _population_outputs(cfg: Dict[str, Any], trainer: Runner, summary: Dict[str, Any],
                        run_dir: str) -> None:
    """A population's summary statistics, ``population.json``, ``nn/agent<k>.pt`` and ``population.png``."""
    population.summarize(summary, cfg)
    try:
        population.save_agents(trainer.algo.state_dict(), trainer.iteration, cfg, os.path.join(run_dir, "nn"),
                               summary["agents"])
        with open(os.path.join(run_dir, "population.json"), "w") as f:
            json.dump(summary, f, indent=1)
    except OSError as err:
        raise RunDirError(f"could not write the population results in {run_dir}: {err.strerror or err}") from None
    population.plot_population(os.path.join(run_dir, "metrics.jsonl"), os.path.join(run_dir, "population.png"),
                               trainer.agents, trainer.cfg.eval_target)


class VideoRecorder:
    """``capture_video=True``: one episode of the deterministic policy in a 1-env torch twin of the task, headless,
    written to ``<run>/videos/step_<env step>.mp4`` (a GIF where no MP4 encoder is installed, said once) and logged
    to wandb when active. The run calls it at its first iteration (step 0: the untrained policy), every
    ``capture_video_freq`` iterations, and on the policy it ends with.

    Recording never changes the run: the recording env draws from its own generator only (an ended episode restarts
    from its reset state, ``random_auto_reset = False``, as the evaluation envs do), and the rollout runs inside
    ``torch.random.fork_rng`` so the CPU generator training explores with is left where it was. A step already
    recorded (a file of that step exists, e.g. a resume of a recorded run) is not recorded again."""

    def __init__(self, cfg: Dict[str, Any], run_dir: str, device: str) -> None:
        self.env = make_env(cfg["task"], "torch", 1, device, int(cfg["seed"]) + 3)
        self.env.random_auto_reset = False  # type: ignore[attr-defined]
        self.task, self.steps, self.folder = cfg["task"]["name"], int(cfg["capture_video_len"]), run_dir
        self.wandb_run: Any = None
        self._said_gif = False

    def __call__(self, trainer: Runner) -> None:
        folder = os.path.join(self.folder, "videos")
        stem = os.path.join(folder, f"step_{trainer.env_steps:012d}")
        if os.path.exists(stem + ".mp4") or os.path.exists(stem + ".gif"):
            return
        os.makedirs(folder, exist_ok=True)
        policy = trainer.algo.policy_module(0) if trainer.agents > 1 else trainer.algo.act  # agent 0 of a population
        with torch.random.fork_rng(devices=[]):  # the CPU generator; the CUDA one is never drawn from (see above)
            frames = rollout_frames(self.env, self.task, policy, max_steps=self.steps, seed=trainer.iteration)
        try:
            path = write_video(frames, stem + ".mp4")
        except OSError as err:
            raise RunDirError(f"could not write the video {stem}.mp4: {err.strerror or err} (free some space, or "
                              "set capture_video=False)") from None
        if path.endswith(".gif") and not self._said_gif:
            self._said_gif = True
            print(f"[isaac_rl] capture_video: no MP4 encoder installed (pip install imageio-ffmpeg, the [viz] extra); "
                  f"writing GIFs instead ({path})", flush=True)
        if self.wandb_run is not None:
            import wandb
            self.wandb_run.log({"videos/eval": wandb.Video(path, format=path.rsplit(".", 1)[1])},
                               step=trainer.env_steps)


def _checkpoint_bytes(trainer: Runner) -> int:
    """Upper bound of one full checkpoint's size: the learning's whole storage (replay buffer) plus every learner
    tensor, doubled for the temporary file written beside the previous checkpoint."""
    learner = sum(t.numel() * t.element_size() for t in checkpoint.tensors(trainer.algo.state_dict()))
    return 2 * (trainer.learning.nbytes + learner) + (1 << 20)


def _best_mean(best_path: str) -> float:
    """The evaluation mean that ``best_path`` (this run folder's ``nn/best.pt``) holds; -inf where there is none
    (a new folder, e.g. ``checkpoint=`` of another run) or it cannot be read (the next complete evaluation replaces
    it)."""
    if not os.path.exists(best_path):
        return -math.inf
    try:
        return float(checkpoint.read(best_path, "cpu", "play").get("eval", {}).get("eval/mean_return", -math.inf))
    except CheckpointError:
        return -math.inf


def _train(cfg: Dict[str, Any], device: str, dist_info: distributed.DistInfo, run_dir: str,
           ckpt_path: Optional[str], resume_state: Optional[Dict[str, Any]], stop: StopFlag,
           lock: Optional[folders.RunLock], summary_out: Optional[Dict[str, Any]] = None) -> int:
    """Build, check the run folder, start wandb and the logs, then train. ``config.yaml`` and ``history.jsonl`` are
    written only once everything that can fail at start-up (wandb, TensorBoard) has succeeded; a run into a folder
    of its own that fails before it wrote a checkpoint (``nn/last.pt`` or ``nn/best.pt``) removes what it wrote, so
    the same command can simply be run again. The folder's removal mid-run stops the run (:class:`RunDirError`)."""
    logger: Optional[RunLogger] = None
    nn_dir = os.path.join(run_dir, "nn")
    last_path, best_path = os.path.join(nn_dir, "last.pt"), os.path.join(nn_dir, "best.pt")

    def still_there() -> None:
        if lock is not None:
            lock.check()

    def save(trainer: Runner) -> None:
        if dist_info.is_main:
            still_there()
            try:
                checkpoint.save_checked({"trainer": trainer.state_dict(), "config": cfg, "kind": "full"}, last_path)
            except OSError as err:
                still_there()  # a folder removed between the check and the write is said as such
                raise RunDirError(f"could not write the checkpoint {last_path}: {err.strerror or err}; the previous "
                                  "checkpoint there (if any) is intact") from None

    def save_best(trainer: Runner, result: Dict[str, float]) -> None:
        still_there()
        state = {"iteration": trainer.iteration, "agent": trainer.algo.state_dict()}
        try:
            checkpoint.save_checked({"trainer": state, "config": cfg, "kind": "policy", "eval": dict(result)},
                                    best_path)
        except OSError as err:
            still_there()
            raise RunDirError(f"could not write the checkpoint {best_path}: {err.strerror or err}") from None

    agree = (lambda wish: distributed.any_rank(wish, device)) if dist_info.world_size > 1 else None
    recorder = VideoRecorder(cfg, run_dir, device) if cfg.get("capture_video") and dist_info.is_main else None
    hooks = [(int(cfg["capture_video_freq"]), recorder)] if recorder is not None else []
    def log(metrics: Dict[str, float], step: int) -> None:
        still_there()
        if logger is not None:  # started (rank 0) once everything that can fail at start-up has succeeded
            logger.log(metrics, step)

    run_hooks = RunHooks(log=log if dist_info.is_main else None, save=save,
                         save_best=save_best if dist_info.is_main else None, should_stop=stop, agree=agree,
                         every=hooks)
    trainer, env, _ = make_trainer(cfg, device, rank=dist_info.rank, verbose=dist_info.is_main, hooks=run_hooks)
    nets = list(trainer.algo.modules().values())
    if dist_info.world_size > 1:
        distributed.broadcast_modules(nets)
        distributed.install_gradient_averaging(trainer.algo.optimizers().values(), dist_info.world_size)
        if getattr(trainer.algo, "rank_mean", None) is not None:  # statistics kept outside the optimizer (PPO)
            trainer.algo.rank_mean = distributed.mean_across_ranks(dist_info.world_size)
    changed = []
    if resume_state is not None:
        trainer.load_state_dict(resume_state["trainer"])
        trainer.best_return = _best_mean(best_path)  # best.pt is replaced only by a better policy, across resumes
        quiet = ("resume", "checkpoint", "overwrite", "debug")
        changed = [d for d in checkpoint.differences(resume_state["config"], cfg) if d[0] not in quiet]
        print(f"[isaac_rl] resumed from {ckpt_path} at iteration {trainer.iteration}")
        for key, old, new in changed:
            print(f"[isaac_rl]   changed on resume: {key}: {old!r} -> {new!r}")
    own_folder = False  # this run's results are the folder's only ones (a new run, or one continued into it)
    if dist_info.is_main:
        wandb_id = _wandb_id(run_dir, resume_state is not None) if cfg["wandb_activate"] else ("", False)
        if folders.results_in(run_dir) and resume_state is None:  # overwrite=True (plan refused otherwise)
            print(f"[isaac_rl] overwrite=True: deleted {', '.join(folders.clear(run_dir))} of the earlier run in "
                  f"{run_dir}")
        own_folder = not folders.results_in(run_dir)
        folders.check_writable(run_dir, _checkpoint_bytes(trainer))
        if checkpoint.remove_stale_temporaries(run_dir):
            print(f"[isaac_rl] removed partial checkpoint files of an interrupted save in {run_dir}/nn")
        if resume_state is not None:
            late, damaged = folders.truncate_metrics(run_dir, trainer.env_steps)
            if late or damaged:
                print(f"[isaac_rl] metrics.jsonl: dropped {late} rows logged after the checkpoint (env step "
                      f"{trainer.env_steps:,}) and {damaged} damaged lines (not a JSON object with a numeric step)")
    clean = False
    try:
        if dist_info.is_main:
            wandb_run = _init_wandb(cfg, run_dir, *wandb_id) if cfg["wandb_activate"] else None
            if recorder is not None:
                recorder.wandb_run = wandb_run
            total = trainer.cfg.max_iterations * env.num_envs * trainer.learning.steps_per_iteration
            logger = RunLogger(run_dir, total, wandb_run=wandb_run, start_step=trainer.env_steps)
            with open(os.path.join(run_dir, "config.yaml"), "w") as f:
                yaml.safe_dump(cfg, f, sort_keys=False)
            event = {"event": "resume", "from": ckpt_path, "iteration": trainer.iteration,
                     "changed": {k: [a, b] for k, a, b in changed}} if resume_state is not None else {"event": "start"}
            folders.record(run_dir, {**event, "argv": sys.argv[1:]})
        if recorder is not None:
            recorder(trainer)  # the policy the run starts with (step 0: the untrained one)
        summary = trainer.train()
        if recorder is not None and not summary["stopped_by_signal"]:
            recorder(trainer)  # the policy the run ends with
        clean = True
    except BaseException:
        if own_folder and not (os.path.isfile(last_path) or os.path.isfile(best_path)):
            if logger is not None:  # closed before its files go
                logger, closing = None, logger
                closing.close()
            folders.clear(run_dir)  # nothing worth keeping, and nothing left to block the retry
        raise
    finally:
        if logger is not None:
            logger.close()
        env.close()
        distributed.teardown(clean)
    summary.update(run_dir=run_dir, rank=dist_info.rank, param_checksum=distributed.parameter_checksum(nets))
    if trainer.agents > 1 and dist_info.is_main:
        _population_outputs(cfg, trainer, summary, run_dir)
    # The summary line as one write of its own: under torchrun the ranks share one stdout pipe, and print() writes
    # the text and the newline separately when stdout is unbuffered (PYTHONUNBUFFERED=1), so two ranks' summaries
    # interleaved on one line; a pipe write of <= 4 KiB is atomic.
    sys.stdout.flush()
    sys.stdout.write("[isaac_rl] summary " + json.dumps(summary) + "\n")
    if summary_out is not None:
        summary_out.update(summary)
    sys.stdout.flush()
    return 0
