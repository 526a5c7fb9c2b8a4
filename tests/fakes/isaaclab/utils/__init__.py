"""Fake ``isaaclab.utils``."""
