"""Fake ``isaaclab.app`` of Isaac Lab 2.x: an ``AppLauncher`` that records how it was started (2.x has no
``launch_simulation``; every 2.x run starts Isaac Sim through ``AppLauncher``)."""

LAUNCHES = []


class AppLauncher:
    def __init__(self, headless=False, **kwargs):
        LAUNCHES.append(dict(headless=headless, **kwargs))
        self.app = object()
