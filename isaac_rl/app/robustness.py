"""Robustness as a measurement: a checkpoint's deterministic policy under named model variations of its task.

``scripts/play.py CHECKPOINT --variations`` (all) or ``--variations solid_box_inertia,mass+20%`` evaluates the
policy on 1,000 fresh episodes (one per env, seed ``--seed``) of the task as trained (``nominal``) and of each
variation, and prints a table of mean and worst returns; ``scripts/bench_train.py --robust`` does it for every run.

=====================  =====================================================================================
variation              model change (``task.env`` of the checkpoint's config, else the task's default)
=====================  =====================================================================================
``nominal``            none: the task the policy was trained and verified on
``solid_box_inertia``  ``pole_inertia = 0.0836`` kg*m^2 (the pole as a solid 1 m box: the other reading of the URDF)
``mass+20%``           ``cart_mass`` and ``pole_mass`` x 1.2
=====================  =====================================================================================
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, List, Mapping

from isaac_rl.core.errors import UserError
from isaac_rl.tasks import task_class

# name -> (task.env keys it needs, change of the nominal settings)
Change = Callable[[Dict[str, Any]], Dict[str, Any]]
VARIATIONS: Dict[str, Change] = {
    "nominal": lambda p: {},
    "solid_box_inertia": lambda p: {"pole_inertia": 0.0836},
    "mass+20%": lambda p: {"cart_mass": p["cart_mass"] * 1.2, "pole_mass": p["pole_mass"] * 1.2},
}
NEEDS = ("pole_inertia", "cart_mass", "pole_mass")


def parse(text: str) -> List[str]:
    """``--variations`` text -> names (``all`` or '' -> every variation, ``nominal`` first); :class:`UserError`
    naming an unknown one."""
    names = list(VARIATIONS) if text in ("", "all") else [n for n in text.split(",") if n]
    unknown = [n for n in names if n not in VARIATIONS]
    if unknown or not names:
        raise UserError(f"--variations {text!r}: unknown variation {unknown[0] if unknown else text!r}; allowed: "
                        f"all or a comma-separated list of {', '.join(VARIATIONS)}")
    return names


def varied_task(task: Mapping[str, Any], name: str) -> Dict[str, Any]:
    """The ``task`` section (of a checkpoint's config) with variation ``name`` applied to its ``env`` settings;
    :class:`UserError` when the task has no such settings (a torch task other than Cartpole, another backend)."""
    try:
        params = inspect.signature(task_class(task["name"], "torch", task.get("class_path")).__init__).parameters
    except (KeyError, ValueError):
        params = {}  # type: ignore[assignment]
    missing = [k for k in NEEDS if k not in params]
    if missing:
        raise UserError(f"--variations: task {task['name']} has no {', '.join(missing)} setting; the model "
                        "variations apply to the torch Cartpole task")
    env = dict(task.get("env") or {})
    nominal = {k: env.get(k, params[k].default) for k in NEEDS}
    env.update(VARIATIONS[name](nominal))
    return {k: v for k, v in dict(task, env=env).items() if k != "randomize"}  # the variation alone, nothing drawn


def table(results: Mapping[str, Mapping[str, float]], episodes: int) -> str:
    """A Markdown table of ``{variation: evaluate() result}``: mean, worst, std of the return."""
    lines = [f"| variation ({episodes} episodes each) | mean return | worst episode | std |", "|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['eval/mean_return']:.1f} | {r['eval/min_return']:.1f} | "
                     f"{r['eval/std_return']:.1f} |")
    return "\n".join(lines)
