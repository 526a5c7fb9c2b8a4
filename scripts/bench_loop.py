"""Env-steps/s of the whole training loop (act + env step + replay add + updates), eager against ``compile=True``.

Every timed iteration is a learning iteration of the shipped config (``learning_starts`` is set to one iteration),
with ``num_envs`` envs and the config's batch size and updates per step; no evaluation, logging or checkpoint. The
warm-up (tracing, compiling and, on CUDA, recording the graphs) is timed separately. The two modes are timed in
alternating rounds and the medians printed, with the ratio compiled / eager.

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

from isaac_rl.build import make_trainer  # noqa: E402
from isaac_rl.config import resolve  # noqa: E402
from scripts.bench_train import CASES  # noqa: E402

CFG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cfg")


def build(case: str, num_envs: int, device: str, compiled: bool) -> Any:
    """A trainer of the shipped config whose first iteration already learns."""
    task, train, _ = CASES[case]
    overrides = [f"task={task}", f"train={train}", f"num_envs={num_envs}", f"sim_device={device}", "seed=1",
                 f"compile={compiled}", f"train.loop.learning_starts={num_envs}",
                 f"train.loop.buffer_size={max(100_000, 16 * num_envs)}"]
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


def bench(case: str, num_envs: int, device: str, iterations: int, rounds: int) -> Dict[str, float]:
    trainers, warmup = {}, {}
    torch._dynamo.reset()  # a fresh trace per trainer
    for mode in ("eager", "compiled"):
        trainers[mode] = build(case, num_envs, device, mode == "compiled")
        warmup[mode] = timed(trainers[mode], 12, device)  # the n-step window fills, graphs are traced/recorded
    seconds: Dict[str, List[float]] = {"eager": [], "compiled": []}
    for _ in range(rounds):
        for mode in ("eager", "compiled"):
            seconds[mode].append(timed(trainers[mode], iterations, device))
    rate = {mode: iterations * num_envs / statistics.median(s) for mode, s in seconds.items()}
    return {"eager": rate["eager"], "compiled": rate["compiled"], "ratio": rate["compiled"] / rate["eager"],
            "warmup_eager_s": warmup["eager"], "warmup_compiled_s": warmup["compiled"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default="CartPole-v1/DQN", help=f"comma-separated, from {list(CASES)}")
    p.add_argument("--num-envs", default="4096,65536", help="comma-separated env counts")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:K]")
    p.add_argument("--iterations", type=int, default=20, help="iterations per timed round")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds per mode (medians)")
    p.add_argument("--threads", type=int, default=0, help="CPU intra-op threads (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cases = [c for c in args.cases.split(",") if c]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        p.error(f"unknown cases {unknown}; allowed: {list(CASES)}")
    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else f"{os.cpu_count()} CPUs"
    print(f"device={args.device} ({name}) torch={torch.__version__} threads={torch.get_num_threads()}")
    print(f"{'case':>16} {'num_envs':>9} {'eager steps/s':>14} {'compiled steps/s':>17} {'ratio':>6} "
          f"{'warm-up eager s':>16} {'warm-up compiled s':>19}")
    for case in cases:
        for n in (int(v) for v in args.num_envs.split(",")):
            r = bench(case, n, args.device, args.iterations, args.rounds)
            print(f"{case:>16} {n:>9} {r['eager']:>14.3e} {r['compiled']:>17.3e} {r['ratio']:>6.2f} "
                  f"{r['warmup_eager_s']:>16.2f} {r['warmup_compiled_s']:>19.2f}", flush=True)


if __name__ == "__main__":
    main()
