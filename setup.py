"""isaac_rl: GPU-vectorised DQN/DDPG/TD3/SAC for cart-pole tasks. The metadata lives in pyproject.toml; this file
keeps ``python setup.py ...`` and old pip versions working."""

from setuptools import setup

setup()
