"""Fake ``isaaclab.app``: an AppLauncher that records how it was started."""

LAUNCHES = []


class AppLauncher:
    def __init__(self, headless=False, **kwargs):
        LAUNCHES.append(dict(headless=headless, **kwargs))
        self.app = object()
