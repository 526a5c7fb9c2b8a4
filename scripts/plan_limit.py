"""Estimate the best return of DeepMind Control's cart-pole tasks with an MPPI planner on the known model.

The planner (isaac_rl/tools/planner.py) rolls out ``samples`` perturbed action plans per episode in the same torch
simulation as training (tasks/dmc_cartpole.py, float32 like the trainer's envs), from the same initial-state
distribution (the task's own reset), and scores each episode with the task's own reward over its 1000 steps. Sparse
tasks are planned with the dense reward of the same chain (a short horizon sees no sparse reward) and scored sparse.
The mean is a lower bound of the task's limit: more samples, a longer horizon, finer holds or more MPPI iterations can
only help (at more cost).

    python scripts/plan_limit.py --tasks CartpoleBalance,CartpoleSwingup --episodes 4
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import torch  # noqa: E402

from isaac_rl.core.errors import UserError  # noqa: E402
from isaac_rl.tasks import dmc_cartpole  # noqa: E402
from isaac_rl.tools.planner import MPPI, MPPISettings, plan_episodes  # noqa: E402

TASKS = ("CartpoleBalance", "CartpoleBalanceSparse", "CartpoleSwingup", "CartpoleSwingupSparse", "CartpoleTwoPoles",
         "CartpoleThreePoles")
DEFAULT_TASKS = "CartpoleBalance,CartpoleSwingup,CartpoleSwingupSparse,CartpoleTwoPoles,CartpoleThreePoles"


def plan_task(name: str, episodes: int, settings: MPPISettings, seed: int) -> torch.Tensor:
    """Returns ``[episodes]`` float64 of the planner on task ``name`` from ``reset(seed)``."""
    cls = getattr(dmc_cartpole, name)
    env = cls(episodes, seed=seed)
    model = cls(episodes * settings.samples, seed=seed + 1, sparse=False)  # plan on the dense reward
    gen = torch.Generator().manual_seed(seed)
    return plan_episodes(env, MPPI(model, episodes, settings, gen), seed)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tasks", default=DEFAULT_TASKS, help=f"comma-separated, of {', '.join(TASKS)}")
    p.add_argument("--episodes", type=int, default=4, help="episodes per task (planned together)")
    p.add_argument("--samples", type=int, default=256, help="perturbed plans per episode and replanning")
    p.add_argument("--horizon", type=int, default=150, help="model steps looked ahead (a multiple of --hold)")
    p.add_argument("--hold", type=int, default=5, help="steps each planned effort is held")
    p.add_argument("--sigma", type=float, default=0.3, help="std of each knot's perturbation (normalised effort)")
    p.add_argument("--temperature", type=float, default=0.1, help="softmax temperature x the returns' std")
    p.add_argument("--iterations", type=int, default=1, help="MPPI refinements per replanning")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args(argv)
    try:
        names = [t for t in args.tasks.split(",") if t]
        bad = [t for t in names if t not in TASKS]
        if bad or not names:
            raise UserError(f"--tasks={args.tasks!r}: {bad or 'none given'}; allowed: a comma-separated list of "
                            f"{', '.join(TASKS)}")
        if args.episodes < 1:
            raise UserError(f"--episodes={args.episodes}; allowed: an integer >= 1")
        settings = MPPISettings(samples=args.samples, horizon=args.horizon, hold=args.hold, sigma=args.sigma,
                                temperature=args.temperature, iterations=args.iterations)
        settings.check()
    except UserError as err:
        print(f"[isaac_rl] error: {err}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    print(f"MPPI: {settings}, {args.episodes} episodes per task, seed {args.seed}")
    for name in names:
        start = time.perf_counter()
        ret = plan_task(name, args.episodes, settings, args.seed)
        spread = f" +- {ret.std().item():.1f}" if ret.numel() > 1 else ""
        print(f"{name:22s} planner mean return {ret.mean().item():7.1f}{spread}  min {ret.min().item():7.1f}  "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
