"""A population run's outputs: the population summary (``"solved"``, median / IQM / min / max of time and iterations
to the bar), one playable checkpoint per agent (``nn/agent<k>.pt``) and a PNG of every agent's learning curve."""

from __future__ import annotations

import copy
import json
import math
import os
import statistics
from typing import Any, Dict, List, Mapping, Optional, Sequence

from isaac_rl.algorithms.population import agent_state
from isaac_rl.app import checkpoint


def agent_config(cfg: Mapping[str, Any], k: int) -> Dict[str, Any]:
    """The one-agent run config of agent ``k``: its seed ``seed + k`` and its ``population_vary`` values in
    ``train.algo`` (what ``nn/agent<k>.pt`` records: it plays, tests and exports like any one-agent checkpoint)."""
    one = copy.deepcopy(dict(cfg))
    vary = one.get("population_vary") or {}
    one["train"]["algo"].update({key: values[k] for key, values in vary.items()})
    one.update(population=1, population_vary={}, agent=0, seed=int(cfg["seed"]) + k)
    return one


def interquartile_mean(values: Sequence[float]) -> float:
    """Mean of the middle half (25 % trimmed from each end, fractional ends weighted; Agarwal et al., 2021)."""
    xs, n = sorted(values), len(values)
    if n == 0:
        return math.nan
    lo, hi = 0.25 * n, 0.75 * n
    total = 0.0
    for i, x in enumerate(xs):  # weight of item i = its overlap with [lo, hi)
        total += x * max(0.0, min(i + 1, hi) - max(i, lo))
    return total / (hi - lo)


def _spread(values: List[float]) -> Dict[str, Optional[float]]:
    """median, IQM, min and max; an unsolved agent counts as +inf (null in JSON when it decides a statistic)."""
    def finite(x: float) -> Optional[float]:
        return x if math.isfinite(x) else None
    return {"median": finite(statistics.median(values)), "iqm": finite(interquartile_mean(values)),
            "min": finite(min(values)), "max": finite(max(values))}


def summarize(summary: Dict[str, Any], cfg: Mapping[str, Any]) -> Dict[str, Any]:
    """Add each agent's seed and varied values, and the population statistics, to the trainer's summary."""
    vary = cfg.get("population_vary") or {}
    agents = summary["agents"]
    for entry in agents:
        k = entry["agent"]
        entry["seed"] = int(cfg["seed"]) + k
        entry.update({key: values[k] for key, values in vary.items()})
    for key in ("iterations_to_solve", "wall_s_to_solve", "env_steps_to_solve", "gradient_steps_to_solve"):
        summary[key] = _spread([float(a[key]) if a["solved"] else math.inf for a in agents])
    summary["population"] = len(agents)
    return summary


def save_agents(algo_state: Mapping[str, Any], iteration: int, cfg: Mapping[str, Any], folder: str,
                results: Sequence[Mapping[str, Any]]) -> List[str]:
    """``<folder>/agent<k>.pt`` for every agent: its slice of the learner and its one-agent config (a policy
    checkpoint: plays, tests and exports; resume from ``nn/last.pt``)."""
    paths = []
    for k, result in enumerate(results):
        path = os.path.join(folder, f"agent{k}.pt")
        state = {"trainer": {"iteration": iteration, "agent": agent_state(algo_state, k, len(results))},
                 "config": agent_config(cfg, k), "kind": "policy", "agent": k, "eval": dict(result)}
        checkpoint.save_checked(state, path)
        paths.append(path)
    return paths


def plot_population(metrics_path: str, png_path: str, agents: int, target: Optional[float]) -> int:
    """Every agent's training return (``agent<k>/charts/episodic_return``) and evaluation mean return against its
    own env steps, with the bar; returns the points drawn (0 without matplotlib: nothing is written)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("[isaac_rl] population.png needs matplotlib (`pip install matplotlib`); not drawn", flush=True)
        return 0
    with open(metrics_path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    fig, (train_ax, eval_ax) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    drawn = 0
    colors = plt.get_cmap("viridis")
    for k in range(agents):
        color = colors(k / max(1, agents - 1))
        for ax, key in ((train_ax, f"agent{k}/charts/episodic_return"), (eval_ax, f"agent{k}/eval/mean_return")):
            pts = [(r["step"] / agents, r[key]) for r in rows if key in r]
            if pts:
                ax.plot(*zip(*pts), color=color, lw=1, label=f"agent {k}" if ax is train_ax else None)
                drawn += len(pts)
    for ax, title in ((train_ax, "training episodes"), (eval_ax, "evaluation (deterministic)")):
        if target is not None:
            ax.axhline(target, color="k", ls="--", lw=0.8)
        ax.set_title(title)
        ax.set_xlabel("env steps per agent")
        ax.grid(alpha=0.3)
    train_ax.set_ylabel("return")
    if agents <= 16:
        train_ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return drawn
