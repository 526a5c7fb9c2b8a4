"""Robustness as a measurement: a checkpoint's deterministic policy under named model variations of its task.

``scripts/play.py CHECKPOINT --variations`` (all) or ``--variations solid_box_inertia,mass+20%`` evaluates the
policy on 1,000 fresh episodes (one per env, seed ``--seed``) of the task as trained (``nominal``) and of each
variation, and prints a table of mean and worst returns; ``scripts/bench_train.py --robust`` does it for every run.

=====================  =====================================================================================
variation              model change (``task.env`` of the checkpoint's config, else the task's default)
=====================  =====================================================================================
``nominal``            none: the task the policy was trained and verified on
``solid_box_inertia``  ``pole_inertia`` about the centre of mass as a solid box pole. ``Cartpole``: 0.0836 kg*m^2
                       (a solid 1 m box: the other reading of the URDF). dm_control's ``Cartpole<...>`` tasks:
                       ``m (L^2 + 0.09^2) / 12`` for pole mass ``m`` and length ``L`` (a solid box with the
                       capsule's 0.09 m width; 0.0084 against the capsule's 0.0094 for the default pole), the
                       task's ``solid_box_inertia(settings)``
``mass+20%``           ``cart_mass`` and ``pole_mass`` (dm_control: every pole's) x 1.2
=====================  =====================================================================================
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, List, Mapping

from isaac_rl.core.errors import UserError
from isaac_rl.tasks import task_class

SOLID_BOX_INERTIA = 0.0836  # kg*m^2: Cartpole's pole as a solid 1 m box, for a task without solid_box_inertia()


def solid_box_inertia(cls: type, settings: Mapping[str, Any]) -> float:
    """The pole's inertia (kg*m^2) read as a solid box: the task class's own ``solid_box_inertia(settings)``
    (dm_control's cart-poles), else :data:`SOLID_BOX_INERTIA`."""
    own = getattr(cls, "solid_box_inertia", None)
    return SOLID_BOX_INERTIA if own is None else float(own(settings))


# name -> change of the task's settings (p: every setting as configured, cls: the torch task class)
Change = Callable[[Dict[str, Any], type], Dict[str, Any]]
VARIATIONS: Dict[str, Change] = {
    "nominal": lambda p, cls: {},
    "solid_box_inertia": lambda p, cls: {"pole_inertia": solid_box_inertia(cls, p)},
    "mass+20%": lambda p, cls: {"cart_mass": p["cart_mass"] * 1.2, "pole_mass": p["pole_mass"] * 1.2},
}
NEEDS = ("pole_inertia", "cart_mass", "pole_mass")  # the task.env settings the variations change


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
    :class:`UserError` when the task has no such settings (a torch task other than the cart-poles, another
    backend)."""
    try:
        cls = task_class(task["name"], "torch", task.get("class_path"))
        params = inspect.signature(cls.__init__).parameters
    except (KeyError, ValueError):
        params = {}  # type: ignore[assignment]
    missing = [k for k in NEEDS if k not in params]
    if missing:
        raise UserError(f"--variations: task {task['name']} has no {', '.join(missing)} setting; the model "
                        "variations apply to the torch Cartpole task")
    env = dict(task.get("env") or {})
    settings = {k: env.get(k, p.default) for k, p in params.items() if p.default is not inspect.Parameter.empty}
    env.update(VARIATIONS[name](settings, cls))
    return {k: v for k, v in dict(task, env=env).items() if k != "randomize"}  # the variation alone, nothing drawn


def table(results: Mapping[str, Mapping[str, float]], episodes: int) -> str:
    """A Markdown table of ``{variation: evaluate() result}``: mean, worst, std of the return."""
    lines = [f"| variation ({episodes} episodes each) | mean return | worst episode | std |", "|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['eval/mean_return']:.1f} | {r['eval/min_return']:.1f} | "
                     f"{r['eval/std_return']:.1f} |")
    return "\n".join(lines)
