"""Starting Isaac Lab's runtime, per Isaac Lab version. This module imports nothing heavy (no torch, no Isaac Lab
at import time), so ``scripts/train.py sim=isaaclab`` can call :func:`prepare` before anything else.

* Isaac Lab 3 (Python 3.12, ``pip install isaaclab==3.0.0``): its default physics, Newton (MuJoCo-Warp), is kit-less
  and needs no app at all; Kit-based physics (``physics=isaacsim_physx``) needs Isaac Sim, which 3.0 starts itself
  when the env config asks for it (``isaaclab.app.launch_simulation``, headless here). :func:`launch_for` does that
  once the task's config is known; nothing is launched before.
* Isaac Lab 2.x (Python 3.11, always with Isaac Sim): ``AppLauncher`` must start Kit before torch-heavy imports, so
  :func:`prepare` launches it first (:func:`launch`).

A missing Isaac Lab or Isaac Sim is an ``ImportError`` whose message is one line saying what to install.
"""

from __future__ import annotations

import importlib.util
from typing import Any, Optional, Tuple

INSTALL_HELP = ("sim=isaaclab needs NVIDIA Isaac Lab: on Python 3.12 `pip install isaaclab==3.0.0` (its kit-less "
                "Newton physics runs on CPU or CUDA without Isaac Sim); or use sim=torch (built-in physics)")
KIT_HELP = ("needs Isaac Sim (Kit), which is not installed (Isaac Lab 3 installs without it: see https://isaac-sim."
            "github.io/IsaacLab/main/source/setup/installation/pip_installation.html); use kit-less physics instead: "
            "leave task.env.physics unset (Newton, Isaac Lab's default) or set task.env.physics=newton_mjwarp")

_APP: Any = None  # Isaac Lab 2.x: the simulation app of AppLauncher
_RUNTIMES: list = []  # Isaac Lab 3: entered launch_simulation contexts, kept for the life of the process
_KIT_STARTED = False  # Isaac Lab 3: one of them started Isaac Sim


def installed() -> bool:
    """Whether an ``isaaclab`` package can be imported (without importing it)."""
    return importlib.util.find_spec("isaaclab") is not None


def version() -> Optional[Tuple[int, ...]]:
    """The installed Isaac Lab's version as integers (``(3, 0, 0)``; ``2.3.2.post1`` gives ``(2, 3, 2)``), read from
    its package metadata without importing it; ``None`` when it has none (not installed, or an unpackaged checkout)."""
    from importlib import metadata

    try:
        text = metadata.version("isaaclab")
    except metadata.PackageNotFoundError:
        return None
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(c for c in piece if c.isdigit()) if piece[:1].isdigit() else ""
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) or None


def kit_always() -> bool:
    """Whether this Isaac Lab always runs inside Isaac Sim (2.x: ``AppLauncher``) rather than choosing per physics
    (3.x: ``launch_simulation``). Without package metadata, the API decides."""
    found = version()
    if found is not None:
        return found[0] < 3
    try:
        from isaaclab.app import launch_simulation  # noqa: F401
    except ImportError:
        return True
    return False


def launch(headless: bool = True) -> Any:
    """Isaac Lab 2.x: start Isaac Sim through ``AppLauncher`` once per process (before torch-heavy imports); returns
    the simulation app. ``ImportError`` (one line) when Isaac Lab or Isaac Sim is missing."""
    global _APP
    if _APP is None:
        try:
            from isaaclab.app import AppLauncher
        except ImportError as err:
            raise ImportError(f"{INSTALL_HELP} (import failed: {err})") from err
        try:
            _APP = AppLauncher(headless=headless).app
        except SystemExit:  # Isaac Lab's launcher exits when Isaac Sim is missing
            raise ImportError(f"this Isaac Lab ({_version_text()}) runs only inside Isaac Sim, which is not "
                              "installed; install Isaac Lab 3 on Python 3.12 (`pip install isaaclab==3.0.0`), whose "
                              "default physics needs no Isaac Sim") from None
    return _APP


def launch_for(env_cfg: Any, headless: bool = True) -> None:
    """Isaac Lab 3: start what ``env_cfg``'s physics needs, as Isaac Lab's own scripts do (``launch_simulation``):
    nothing for kit-less physics (Newton), Isaac Sim headless for Kit-based physics. The runtime stays up for the
    rest of the process. ``ImportError`` (one line, before anything starts) when Kit is needed but Isaac Sim is not
    installed."""
    global _KIT_STARTED
    from isaaclab.app import launch_simulation
    from isaaclab.app.sim_launcher import validate_launch

    args = {"headless": headless}
    _, kit_sources = validate_launch(env_cfg, dict(args))
    if kit_sources and importlib.util.find_spec("isaacsim") is None:
        raise ImportError(f"{', '.join(kit_sources)} {KIT_HELP}")
    if kit_sources and _KIT_STARTED:  # Isaac Sim is up already (it cannot start twice in a process)
        return
    runtime = launch_simulation(env_cfg, args)
    try:
        runtime.__enter__()
    except SystemExit:  # Isaac Lab's Kit launcher exits when Isaac Sim cannot start
        raise ImportError(f"this physics {KIT_HELP}") from None
    _RUNTIMES.append(runtime)
    _KIT_STARTED = _KIT_STARTED or bool(kit_sources)


def prepare(headless: bool = True) -> None:
    """What ``scripts/train.py sim=isaaclab`` does before torch: ``ImportError`` (one line) without Isaac Lab;
    Isaac Lab 2.x launches Isaac Sim now; Isaac Lab 3 launches nothing here (kit-less physics needs nothing, and
    Kit-based physics is started by :func:`launch_for` once the task's config is known)."""
    if not installed():
        raise ImportError(INSTALL_HELP)
    if kit_always():
        launch(headless)


def _version_text() -> str:
    found = version()
    return "Isaac Lab " + (".".join(map(str, found)) if found else "of unknown version")
