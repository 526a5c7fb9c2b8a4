"""Plot a run's return against wall time and against env steps, side by side, from its ``metrics.jsonl``.

    python scripts/plot_learning.py runs/<experiment>/metrics.jsonl --png swingup_curve.png \
        --title "CartpoleSwingupSAC seed 1, 2-core CPU, 2026-12-05"

Each line of ``metrics.jsonl`` is a JSON object with ``step`` (env steps), ``time`` (seconds of training) and the
logged values; ``eval/mean_return`` (deterministic evaluations) and ``charts/episodic_return`` (training episodes) are
drawn. Needs matplotlib (the ``viz`` extra). An existing output is replaced only with ``--force``; the file is
written to a temporary and renamed, so it is either whole or absent.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Dict, List, Tuple

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from isaac_rl.core.errors import UserError  # noqa: E402

KEYS = ("eval/mean_return", "charts/episodic_return")


def read_points(path: str) -> Dict[str, List[Tuple[float, float, float]]]:
    """``key -> [(env step, seconds, value)]``; unreadable lines and non-finite values are skipped."""
    if not os.path.isfile(path):
        raise UserError(f"{path}: no such metrics file (a run writes runs/<experiment>/metrics.jsonl)")
    points: Dict[str, List[Tuple[float, float, float]]] = {key: [] for key in KEYS}
    with open(path, errors="replace") as f:
        for line in f:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if not isinstance(row, dict):
                continue
            step, sec = row.get("step"), row.get("time")
            for key in KEYS:
                value = row.get(key)
                if all(isinstance(v, (int, float)) and math.isfinite(v) for v in (step, sec, value)):
                    points[key].append((step, sec, value))
    if not any(points.values()):
        raise UserError(f"{path} holds no {' or '.join(KEYS)} values with step and time, nothing to plot")
    return points


FORMATS = (".png", ".pdf", ".svg")


def check_output(path: str, force: bool) -> None:
    """Refuse, before any work, an output that matplotlib cannot write or that would replace a file unasked."""
    if os.path.splitext(path)[1].lower() not in FORMATS:
        raise UserError(f"--png {path!r}; allowed: a file name ending in {', '.join(FORMATS)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise UserError(f"--png {path!r}: the folder {folder!r} does not exist or cannot be written")
    if os.path.isdir(path):
        raise UserError(f"--png {path!r} is a folder; allowed: a file name")
    if os.path.exists(path) and not force:
        raise UserError(f"--png {path!r} already exists; pass --force to replace it, or choose another path")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("metrics", help="a run's metrics.jsonl")
    p.add_argument("--png", default="learning.png", help="output image (PNG, PDF or SVG)")
    p.add_argument("--title", default="", help="figure title (say the run, the machine and the date)")
    p.add_argument("--force", action="store_true", help="replace an existing --png file")
    args = p.parse_args(argv)
    try:
        check_output(args.png, args.force)
        points = read_points(args.metrics)
    except UserError as err:
        print(f"[isaac_rl] error: {err}", file=sys.stderr)
        return 2
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for key, pts in points.items():
        if pts:
            steps, secs, values = zip(*pts)
            axes[0].plot(secs, values, marker=".", label=key)
            axes[1].plot(steps, values, marker=".", label=key)
    axes[0].set_xlabel("seconds of training")
    axes[1].set_xlabel("env steps")
    axes[0].set_ylabel("return")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[1].legend()
    if args.title:
        fig.suptitle(args.title)
    fig.tight_layout()
    from isaac_rl.tools.files import atomic_output

    with atomic_output(args.png) as tmp:  # a failed write or Ctrl-C leaves no partial file
        fig.savefig(tmp, dpi=80)
    print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
