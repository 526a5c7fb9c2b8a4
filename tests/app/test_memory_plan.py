"""The memory estimate made from the config alone: exact for the replay buffer, an upper estimate for the envs, and
a one-line refusal before anything is built or written (real subprocess runs)."""

import os
import subprocess
import sys

import pytest
import torch

from isaac_rl.app import memory_plan
from isaac_rl.app.build import make_env
from isaac_rl.core.errors import ConfigError
from isaac_rl.storage.replay import ReplayBuffer
from tests.conftest import ROOT, shipped

TRAIN = [sys.executable, os.path.join(ROOT, "scripts", "train.py")]


@pytest.mark.parametrize("task, train, action_dim", [("CartPole-v1", "CartPole-v1DQN", 0),
                                                     ("Pendulum", "PendulumSAC", 1)])
def test_replay_estimate_is_what_the_buffer_allocates(task, train, action_dim):
    cfg = shipped(task, train, 1, "torch", "num_envs=32", "population=2")
    parts = memory_plan.plan(cfg)
    _, obs_dim, _ = memory_plan.task_dims(cfg)
    buffer = ReplayBuffer(cfg["train"]["loop"]["buffer_per_env"] * 32, obs_dim, action_dim, torch.device("cpu"),
                          verbose=False, agents=2)
    assert parts["replay"] == buffer.nbytes


@pytest.mark.parametrize("task, train", [("Cartpole", "CartpoleDQN"), ("Pendulum", "PendulumDDPG")])
def test_env_estimate_bounds_what_the_env_holds(task, train):
    """The training-env part covers the env's own tensors and one observation per env, within a factor of 4 (it
    also counts the step's outputs and the transition being stored); with hidden=[1] the policy's forward pass over
    the envs, which it counts as 2 x the widest layer per env, is negligible."""
    n = 4096
    cfg = shipped(task, train, 1, "torch", f"num_envs={n}", "train.algo.hidden=[1]")
    env = make_env(cfg["task"], "torch", n, "cpu", 1)
    obs = env.reset()
    held = sum(t.numel() * t.element_size() for t in env.persistent_tensors()) + obs.numel() * obs.element_size()
    estimate = memory_plan.plan(cfg)["envs"]
    assert held <= estimate <= 4 * held, (held, estimate)
    wide = shipped(task, train, 1, "torch", f"num_envs={n}", "train.algo.hidden=[256,64]")
    assert memory_plan.plan(wide)["envs"] - estimate == n * 4 * 2 * (256 - 1)


def test_shipped_configs_pass_and_a_config_beyond_free_memory_is_refused_naming_its_key():
    cfg = shipped("CartPole-v1", "CartPole-v1DQN", 1)
    assert memory_plan.check(cfg, "cpu") == memory_plan.plan(cfg)
    total = sum(memory_plan.plan(cfg).values())
    with pytest.raises(ConfigError, match=r"^invalid config: train.loop.buffer_per_env=256: this run needs about "
                                          r".* MiB of host memory \(replay .*\) but 1.0 MiB is free; allowed: a "
                                          r"smaller train.loop.buffer_per_env or num_envs$"):
        memory_plan.check(cfg, "cpu", free=1 << 20)
    memory_plan.check(cfg, "cpu", free=int(total / memory_plan.MAX_FRACTION) + 1)  # just enough


def test_a_large_batch_is_refused_naming_batch_size():
    cfg = shipped("CartPole-v1", "CartPole-v1DQN", 1, "torch", "train.algo.hidden=[1024,1024]",
                  "train.loop.batch_size=200000")
    with pytest.raises(ConfigError, match=r"^invalid config: train.loop.batch_size=200000: .* \(batch "):
        memory_plan.check(cfg, "cpu", free=4 << 30)


@pytest.mark.parametrize("args, line", [
    (["num_envs=1073741824", "train.loop.buffer_per_env=1"],
     "[isaac_rl] error: invalid config: num_envs=1073741824: this run needs about "),
    (["num_envs=134217728"], "[isaac_rl] error: invalid config: train.loop.buffer_per_env=256: this run needs about "),
    (["train.loop.batch_size=1000000000"], "[isaac_rl] error: invalid config: train.loop.batch_size=1000000000; "),
    (["num_envs=1073741824", "test=True", "checkpoint=nothing.pt"],
     "[isaac_rl] error: invalid config: num_envs=1073741824: this run needs about "),
])
def test_memory_beyond_the_machine_is_refused_before_anything_is_built(tmp_path, args, line):
    proc = subprocess.run(TRAIN + ["task=CartPole-v1", "sim_device=cpu", f"train_dir={tmp_path / 'runs'}",
                                   "experiment=big", *args], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    errors = [x for x in proc.stderr.splitlines() if x.startswith("[isaac_rl]")]
    assert len(errors) == 1 and errors[0].startswith(line), proc.stderr
    assert "replay buffer:" not in proc.stdout  # nothing was allocated
    assert os.listdir(tmp_path) == []
