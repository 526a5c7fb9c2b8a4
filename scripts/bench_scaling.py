"""Scaling with ``num_envs``: time to a verified solve, iterations, gradient steps and verified return of the shipped
configs at several env counts, with no other override (the schedules are per iteration, so none is needed).

Each point is the median over seeds of real ``scripts/train.py`` processes timed like ``bench_train.py``; an
unsolved seed counts as infinitely slow. Prints one markdown table and writes a PNG with one panel per measure.

    python scripts/bench_scaling.py                                        # CPU: 64 ... 16384 envs, 3 seeds
    python scripts/bench_scaling.py --device cuda:0 --num-envs 256,4096,65536,262144 --png scaling_gpu.png
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Any, Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from scripts.bench_train import CASES, bench_case, fmt, parse_cases  # noqa: E402


def plot(results: List[Dict[str, Any]], path: str) -> None:
    """Four panels against num_envs (log scale): seconds to a verified solve, iterations, gradient steps, lowest
    verified mean return over the seeds."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (("median_s", "s to verified solve (process start)"), ("median_iterations", "iterations"),
              ("median_gradient_steps", "gradient steps"), ("verified_mean", "lowest verified mean return"))
    fig, axes = plt.subplots(1, 4, figsize=(18, 4))
    for ax, (key, label) in zip(axes, panels):
        for case in dict.fromkeys(r["case"] for r in results):
            rows = [r for r in results if r["case"] == case]
            ys = [r[key] if r[key] is not None and math.isfinite(r[key]) else float("nan") for r in rows]
            ax.plot([r["num_envs"] for r in rows], ys, marker="o", label=case)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("num_envs")
        ax.set_title(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default="CartPole-v1/DQN,Pendulum/DDPG,Cartpole/DQN,Cartpole/DDPG",
                   help=f"comma-separated, from {list(CASES)}")
    p.add_argument("--num-envs", default="64,256,1024,4096,16384", help="comma-separated env counts")
    p.add_argument("--seeds", type=int, default=3, help="seeds 1..K per point; default 3")
    p.add_argument("--device", default="cpu", help="sim_device of the runs; default cpu")
    p.add_argument("--timeout", type=float, default=60.0, help="a run not solved after this many seconds is unsolved")
    p.add_argument("--png", default="scaling.png", help="where to write the plot")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides passed to every run")
    args = p.parse_args()
    cases = parse_cases(p, args.cases)
    counts = [int(n) for n in args.num_envs.split(",")]
    seeds = list(range(1, args.seeds + 1))
    results = []
    for case in cases:
        for n in counts:
            r = bench_case(case, seeds, args.device, args.timeout, [f"num_envs={n}"] + args.overrides)
            r["num_envs"] = n
            results.append(r)
    print("\n| case | num_envs | verified solved | median s to verified solve | median iterations | median grad steps "
          "| median training s | lowest verified mean | lowest verified min |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['case']} | {r['num_envs']} | {r['solved']}/{r['seeds']} | {fmt(r['median_s'])} | "
              f"{fmt(r['median_iterations'])} | {fmt(r['median_gradient_steps'])} | {fmt(r['median_train_s'])} | "
              f"{fmt(r['verified_mean'])} | {fmt(r['verified_min'])} |")
    plot(results, args.png)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
