"""One training or test run from a resolved config dict (what ``scripts/train.py`` calls after Hydra)."""

from __future__ import annotations

import json
import os
import signal
import sys
import uuid
from typing import Any, Dict, Optional

import torch
import yaml

from isaac_rl import checkpoint, distributed
from isaac_rl.build import make_trained_agent, make_trainer, resolve_device
from isaac_rl.config import ConfigError, resolve, resolve_cuda_graph
from isaac_rl.evaluate import evaluate
from isaac_rl.logger import RunLogger
from isaac_rl.optim import Adam
from isaac_rl.trainer import OffPolicyTrainer


class StopFlag:
    """Set by SIGTERM/SIGUSR1 (cluster preemption); the trainer polls it at log intervals, saves and exits."""

    def __init__(self) -> None:
        self.signal: Optional[int] = None
        for sig in (signal.SIGTERM, signal.SIGUSR1):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        self.signal = signum

    def __call__(self) -> bool:
        return self.signal is not None


def run_dir_of(cfg: Dict[str, Any]) -> str:
    """``<train_dir>/<experiment>``; the default experiment name is ``<train.name>_seed<seed>``, or
    ``<train.name>_sweep<sweep id>_<run id>`` inside a wandb sweep agent (so sweep runs never share a folder)."""
    name = cfg["experiment"] or f"{cfg['train']['name']}_seed{cfg['seed']}"
    if not cfg["experiment"] and os.environ.get("WANDB_SWEEP_ID") and os.environ.get("WANDB_RUN_ID"):
        name = f"{cfg['train']['name']}_sweep{os.environ['WANDB_SWEEP_ID']}_{os.environ['WANDB_RUN_ID']}"
    return os.path.join(cfg["train_dir"], name)


def _init_wandb(cfg: Dict[str, Any], run_dir: str) -> Any:
    """Start (or resume, same id) a wandb run; ``WANDB_MODE=offline`` works with no network."""
    try:
        import wandb
    except ImportError as err:
        raise ImportError("wandb_activate=True needs `pip install wandb`") from err
    id_file = os.path.join(run_dir, "wandb_id.txt")
    if os.environ.get("WANDB_RUN_ID"):  # a sweep agent (or the user) chose the run id
        run_id = os.environ["WANDB_RUN_ID"]
    elif os.path.exists(id_file):
        with open(id_file) as f:
            run_id = f.read().strip()
    else:
        run_id = uuid.uuid4().hex[:12]
        with open(id_file, "w") as f:
            f.write(run_id)
    return wandb.init(project=cfg["wandb_project"], entity=cfg["wandb_entity"] or None,
                      group=cfg["wandb_group"] or None, name=cfg["wandb_name"], tags=list(cfg["wandb_tags"]),
                      config=cfg, dir=run_dir, id=run_id, resume="allow")


def _test(cfg: Dict[str, Any], device: str) -> int:
    """``test=True``: load ``checkpoint``, run one deterministic episode per eval env, print the statistics."""
    if not cfg["checkpoint"]:
        raise ConfigError("invalid config: test=True needs checkpoint=<path of a .pt file>")
    # Only the policy and an evaluation env are needed: no training env, no replay buffer. Isaac Gym allows one sim
    # per process, which then serves num_envs episodes as during training.
    n = cfg["num_envs"] if cfg["sim"] == "isaacgym" else cfg["train"]["eval_envs"]
    agent_state = checkpoint.load(cfg["checkpoint"], device)["trainer"]["agent"]
    env, agent = make_trained_agent(cfg, agent_state, cfg["sim"], int(n), device, int(cfg["seed"]))
    result = evaluate(env, agent.policy, seed=cfg["seed"])
    env.close()
    print(json.dumps(result))
    return 0


def main(raw_cfg: Dict[str, Any]) -> int:
    """Validate, set up devices/ranks/outputs, then train or test. Returns the process exit code."""
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
    if cfg["torch_threads"]:
        torch.set_num_threads(int(cfg["torch_threads"]))
    if cfg["torch_deterministic"]:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    if cfg["test"]:
        return _test(cfg, device)

    run_dir = run_dir_of(cfg)
    ckpt_path = cfg["checkpoint"] or (checkpoint.latest(run_dir) if cfg["resume"] == "auto" else None)
    stop = StopFlag()
    logger: Optional[RunLogger] = None
    if dist_info.is_main:
        os.makedirs(run_dir, exist_ok=True)
        if checkpoint.remove_stale_temporaries(run_dir):
            print(f"[isaac_rl] removed partial checkpoint files of an interrupted save in {run_dir}/nn")
        with open(os.path.join(run_dir, "config.yaml"), "w") as f:
            yaml.safe_dump(cfg, f, sort_keys=False)
    last_path = os.path.join(run_dir, "nn", "last.pt")

    def save(trainer: OffPolicyTrainer) -> None:
        if dist_info.is_main:
            checkpoint.save_atomic({"trainer": trainer.state_dict(), "config": cfg}, last_path)

    agree = (lambda wish: distributed.any_rank(wish, device)) if dist_info.world_size > 1 else None
    trainer, env, _ = make_trainer(cfg, device, rank=dist_info.rank, save=save, should_stop=stop,
                                   verbose=dist_info.is_main, agree=agree)
    learner = trainer.agent.learner
    nets = [m for m in vars(learner).values() if isinstance(m, torch.nn.Module)]
    if dist_info.world_size > 1:
        distributed.broadcast_modules(nets)
        opts = [o for o in vars(learner).values() if isinstance(o, Adam)]
        distributed.install_gradient_averaging(opts, dist_info.world_size)
    if ckpt_path:
        trainer.load_state_dict(checkpoint.load(ckpt_path, device)["trainer"])
        print(f"[isaac_rl] resumed from {ckpt_path} at iteration {trainer.iteration}")
    if dist_info.is_main:
        wandb_run = _init_wandb(cfg, run_dir) if cfg["wandb_activate"] else None
        total = trainer.cfg.max_iterations * env.num_envs
        logger = RunLogger(run_dir, total, wandb_run=wandb_run, start_step=trainer.env_steps)
        trainer.log = logger.log
    try:
        summary = trainer.train()
    finally:
        if logger is not None:
            logger.close()
        env.close()
        distributed.teardown()
    summary.update(run_dir=run_dir, rank=dist_info.rank, param_checksum=distributed.parameter_checksum(nets))
    # The summary line as one write of its own: under torchrun the ranks share one stdout pipe, and print() writes
    # the text and the newline separately when stdout is unbuffered (PYTHONUNBUFFERED=1), so two ranks' summaries
    # interleaved on one line; a pipe write of <= 4 KiB is atomic.
    sys.stdout.flush()
    sys.stdout.write("[isaac_rl] summary " + json.dumps(summary) + "\n")
    sys.stdout.flush()
    return 0
