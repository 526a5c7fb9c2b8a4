"""Env-steps/s of the whole training loop (act + env step + replay add + updates): eager, ``compile=True`` and, on
CUDA, ``cuda_graph=True``.

Every timed iteration is a learning iteration of the shipped config (``warmup_iterations`` is set to 1),
with ``num_envs`` envs and the config's batch size and updates per step; no evaluation, logging or checkpoint. The
warm-up (tracing, compiling and, on CUDA, recording the graphs) is timed separately. The modes are timed in
alternating rounds and the medians printed, with the ratio of each mode to eager.

    python scripts/bench_loop.py                                  # CPU, CartPole-v1/DQN, 4096 and 65536 envs
    python scripts/bench_loop.py --device cuda --cases CartPole-v1/DQN,Cartpole/DDPG --num-envs 4096,65536
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any, Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from isaac_rl.app.build import make_trainer  # noqa: E402
from isaac_rl.app.config import resolve  # noqa: E402
from isaac_rl.runtime.host_memory import keep_freed_memory  # noqa: E402
from scripts.bench_train import CASES  # noqa: E402

CFG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cfg")


MODES = {"eager": ["cuda_graph=False"], "compile": ["compile=True", "cuda_graph=False"],
         "graph": ["cuda_graph=True"]}


def build(case: str, num_envs: int, device: str, mode: str, population: int = 1) -> Any:
    """A trainer of the shipped config in ``mode`` (a key of MODES) whose first iteration already learns
    (``population`` agents of ``num_envs`` envs each)."""
    task, train, _ = CASES[case]
    overrides = MODES[mode] + [f"task={task}", f"train={train}", f"num_envs={num_envs}", f"sim_device={device}",
                               "seed=1", "train.loop.warmup_iterations=1", f"population={population}",
                               f"train.loop.buffer_per_env={max(16, 100_000 // num_envs)}"]
    with initialize_config_dir(config_dir=CFG_DIR, version_base=None):
        cfg = resolve(OmegaConf.to_container(compose("config", overrides=overrides), resolve=True))
    trainer, _, _ = make_trainer(cfg, device, eval_env=False, verbose=False)
    return trainer


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(trainer: Any, iterations: int, device: str) -> float:
    """Seconds for ``iterations`` train steps (device work included)."""
    sync(device)
    start = time.perf_counter()
    for _ in range(iterations):
        trainer.train_step()
    sync(device)
    return time.perf_counter() - start


def bench(case: str, num_envs: int, device: str, iterations: int, rounds: int,
          modes: List[str], population: int = 1) -> Dict[str, Dict[str, float]]:
    """Per mode: env steps/s of all agents together (agents x env steps per second; median of ``rounds``), ratio to
    eager, warm-up seconds."""
    trainers, warmup = {}, {}
    if hasattr(torch, "_dynamo"):
        torch._dynamo.reset()  # a fresh trace per trainer
    for mode in modes:
        trainers[mode] = build(case, num_envs, device, mode, population)
        warmup[mode] = timed(trainers[mode], 12, device)  # the n-step window fills, graphs are traced/recorded
    seconds: Dict[str, List[float]] = {mode: [] for mode in modes}
    for _ in range(rounds):
        for mode in modes:
            seconds[mode].append(timed(trainers[mode], iterations, device))
    rate = {mode: iterations * num_envs * population / statistics.median(s) for mode, s in seconds.items()}
    return {mode: {"rate": rate[mode], "ratio": rate[mode] / rate["eager"], "warmup_s": warmup[mode]}
            for mode in modes}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default="CartPole-v1/DQN", help=f"comma-separated, from {list(CASES)}")
    p.add_argument("--num-envs", default="4096,65536", help="comma-separated env counts")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:K]")
    p.add_argument("--iterations", type=int, default=20, help="iterations per timed round")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds per mode (medians)")
    p.add_argument("--threads", type=int, default=0, help="CPU intra-op threads (0: torch's default)")
    p.add_argument("--population", type=int, default=1, help="agents per trainer (population=K; num_envs each): "
                   "the rates are then agents x env steps per second")
    p.add_argument("--malloc", choices=("keep", "system"), default="keep", help="keep: glibc keeps freed memory, "
                   "as a run with the shipped keep_host_memory=True does; system: glibc's defaults")
    p.add_argument("--modes", default="", help=f"comma-separated, from {list(MODES)}; default eager,compile on the "
                                                "CPU and eager,compile,graph on CUDA")
    args = p.parse_args()
    cuda = args.device.startswith("cuda")
    modes = [m for m in (args.modes or ("eager,compile,graph" if cuda else "eager,compile")).split(",") if m]
    if "eager" in modes:
        modes.remove("eager")
    modes.insert(0, "eager")  # the reference of the ratios
    if any(m not in MODES for m in modes) or ("graph" in modes and not cuda):
        p.error(f"--modes {args.modes!r}: allowed {list(MODES)} ('graph' needs --device cuda)")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.malloc == "keep":
        keep_freed_memory()
    cases = [c for c in args.cases.split(",") if c]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        p.error(f"unknown cases {unknown}; allowed: {list(CASES)}")
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else f"{os.cpu_count()} CPUs"
    print(f"device={args.device} ({name}) torch={torch.__version__} threads={torch.get_num_threads()} "
          f"malloc={args.malloc} population={args.population} (num_envs per agent; steps/s of all agents)")
    head = f"{'case':>16} {'num_envs':>9}" + "".join(f" {m + ' steps/s':>16}" for m in modes)
    head += "".join(f" {m + '/eager':>14}" for m in modes[1:]) + "".join(f" {'warm-up ' + m + ' s':>16}" for m in modes)
    print(head)
    for case in cases:
        for n in (int(v) for v in args.num_envs.split(",")):
            r = bench(case, n, args.device, args.iterations, args.rounds, modes, args.population)
            row = f"{case:>16} {n:>9}" + "".join(f" {r[m]['rate']:>16.3e}" for m in modes)
            row += "".join(f" {r[m]['ratio']:>14.2f}" for m in modes[1:])
            print(row + "".join(f" {r[m]['warmup_s']:>16.2f}" for m in modes), flush=True)


if __name__ == "__main__":
    main()
