"""Starting Isaac Lab: its ``AppLauncher`` must run before torch-heavy imports, so this module imports nothing
heavy (no torch); ``scripts/train.py sim=isaaclab`` calls :func:`launch` before anything else."""

from __future__ import annotations

from typing import Any

INSTALL_HELP = ("sim=isaaclab needs NVIDIA Isaac Lab (Python 3.11, an NVIDIA GPU and driver): `pip install "
                "'isaaclab[isaacsim,all]' --extra-index-url https://pypi.nvidia.com` (see https://isaac-sim.github.io/"
                "IsaacLab/main/source/setup/installation/pip_installation.html), or use sim=torch (built-in physics)")

_APP: Any = None


def launch(headless: bool = True) -> Any:
    """Start Isaac Sim through Isaac Lab's ``AppLauncher`` once per process (before torch-heavy imports); returns the
    simulation app. Raises ``ImportError`` with :data:`INSTALL_HELP` when Isaac Lab is not installed."""
    global _APP
    if _APP is None:
        try:
            from isaaclab.app import AppLauncher
        except ImportError as err:
            raise ImportError(f"{INSTALL_HELP} (import failed: {err})") from err
        _APP = AppLauncher(headless=headless).app
    return _APP
