"""Fake ``isaaclab.utils.assets``: 2.x reads the asset root from Isaac Sim's settings; the double's envs load no
assets, so its root is a local folder (this one)."""

import os

NUCLEUS_ASSET_ROOT_DIR = os.path.dirname(os.path.abspath(__file__))
