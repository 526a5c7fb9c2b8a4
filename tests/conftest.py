import os
import sys

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

def compose_config(overrides):
    """The raw config dict ``scripts/train.py <overrides>`` gets from Hydra (cfg/), before :func:`resolve`."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=os.path.join(ROOT, "cfg"), version_base=None):
        return OmegaConf.to_container(compose("config", overrides=list(overrides)), resolve=True)


def shipped(task, train, seed, sim="torch", *overrides, **loop):
    """The resolved config ``scripts/train.py task=<task> train=<train> seed=<seed> sim=<sim> sim_device=cpu
    <overrides>`` would use (Hydra composes it from cfg/), with ``train.loop`` keys replaced by ``loop``."""
    from isaac_rl.app.config import resolve

    cfg = resolve(compose_config([f"task={task}", f"train={train}", f"seed={seed}", f"sim={sim}", "sim_device=cpu",
                                  *overrides]))
    cfg["train"]["loop"].update(loop)
    return cfg


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture
def fake_isaacgym(monkeypatch):
    """Put the Isaac Gym test double on sys.path (only for the test that asks for it)."""
    monkeypatch.syspath_prepend(os.path.join(ROOT, "tests", "fakes"))
    for name in [m for m in sys.modules if m == "isaacgym" or m.startswith("isaacgym.")]:
        monkeypatch.delitem(sys.modules, name)
    yield
    for name in [m for m in sys.modules if m == "isaacgym" or m.startswith("isaacgym.")]:
        del sys.modules[name]


@pytest.fixture
def fake_isaaclab(monkeypatch):
    """Put the Isaac Lab test double (isaaclab, isaaclab_tasks) on sys.path for the test that asks for it."""
    import isaac_rl.tasks.isaaclab_app as app

    monkeypatch.syspath_prepend(os.path.join(ROOT, "tests", "fakes"))
    monkeypatch.setattr(app, "_APP", None)
    names = lambda: [m for m in sys.modules if m.split(".")[0] in ("isaaclab", "isaaclab_tasks")]  # noqa: E731
    for name in names():
        monkeypatch.delitem(sys.modules, name)
    yield
    for name in names():
        del sys.modules[name]
    import gymnasium as gym
    gym.envs.registry.pop("Isaac-Cartpole-Direct-v0", None)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a learning run to a verified bar (minutes in all); CI runs them, "
                                       "`pytest -m 'not slow'` skips them")
    config.addinivalue_line("markers", "cuda: needs a CUDA device (skipped without one)")
