"""sim=isaaclab against a test double of the Isaac Lab calls the adapter makes (Isaac Lab needs Isaac Sim and an
NVIDIA GPU): launch order, observation groups, same-step resets with extras["final_obs"], truncation from
time_outs, and a TD target that bootstraps from the final observation of a truncated episode."""

import os
import subprocess
import sys

import pytest
import torch

from isaac_rl.algorithms.dqn import DQN
from isaac_rl.algorithms.efforts import DiscreteEfforts
from isaac_rl.app.build import make_trainer
from isaac_rl.core.types import Batch
from tests.conftest import ROOT, shipped


def _short_episodes(monkeypatch, steps):
    import isaaclab_tasks

    monkeypatch.setattr(isaaclab_tasks.CartpoleEnvCfg, "episode_length_steps", steps)


def test_adapter_starts_headless_and_reports_truncation_with_the_pre_reset_observation(fake_isaaclab, monkeypatch):
    from isaaclab.app import LAUNCHES

    from isaac_rl.tasks import make_task

    _short_episodes(monkeypatch, 5)
    env = make_task("Isaac-Cartpole-Direct-v0", sim="isaaclab", num_envs=8, device="cpu", seed=3)
    assert LAUNCHES[-1]["headless"] is True
    assert env.obs_dim == 4 and env.action_spec.dim == 1 and env.action_spec.max_effort == 100.0
    assert env.max_episode_steps == 5
    obs = env.reset(3)
    for t in range(5):  # no push: the poles start near upright and stay up for 5 steps, so all 8 envs time out
        out = env.step(torch.zeros(8, 1))
        assert not out.terminated.any()
        if t < 4:
            assert not out.truncated.any() and torch.equal(out.final_obs, out.obs)
            obs = out.obs
    assert out.truncated.all()
    assert not torch.allclose(out.final_obs, out.obs)  # the next episodes' first observations
    assert (out.final_obs - obs).abs().max() < 0.5  # one step on from the last observation: the episode's true end
    env.close()


def test_td_target_of_a_truncated_isaaclab_episode_bootstraps_from_its_final_observation(fake_isaaclab, monkeypatch):
    from isaac_rl.tasks import make_task

    _short_episodes(monkeypatch, 3)
    env = make_task("Isaac-Cartpole-Direct-v0", sim="isaaclab", num_envs=4, device="cpu", seed=0)
    obs = env.reset(0)
    for _ in range(3):
        out = env.step(torch.zeros(4, 1))
    assert out.truncated.all() and not out.terminated.any()
    torch.manual_seed(0)
    dqn = DQN(4, DiscreteEfforts((-1.0, 0.0, 1.0), torch.device("cpu")), "cpu", hidden=(8,), gamma=0.9,
              double_dqn=False)
    batch = Batch(*(t.unsqueeze(0) for t in (obs, torch.zeros(4, dtype=torch.long), out.reward, out.final_obs,
                                             out.terminated.float())))  # one agent: [1, B, ...]
    final, reset = out.final_obs.unsqueeze(0), out.obs.unsqueeze(0)
    expected = out.reward + 0.9 * dqn.q_target(final).max(-1).values  # bootstrap: truncation, not the end
    assert torch.allclose(dqn.td_target(batch), expected)
    wrong = out.reward + 0.9 * dqn.q_target(reset).max(-1).values  # what training on the reset obs would give
    assert not torch.allclose(dqn.td_target(batch), wrong)


def test_a_run_on_isaaclab_trains_on_the_training_env_alone(fake_isaaclab, monkeypatch):
    """Isaac Lab allows one simulation per process: evaluation runs on the training env, as with Isaac Gym."""
    _short_episodes(monkeypatch, 50)
    cfg = shipped("IsaacLabCartpole", "CartpoleSAC", 1, "isaaclab", "num_envs=16",
                  max_iterations=40, warmup_iterations=4, eval_interval=20, verify_episodes=0, eval_target=None)
    torch.set_num_threads(1)
    trainer, env, evaluation = make_trainer(cfg, "cpu", verbose=False)
    assert evaluation is None and type(env).__name__ == "IsaacLabTask"
    summary = trainer.train()
    assert summary["iterations"] == 40 and summary["gradient_steps"] == (40 - 4 + 1) * 4
    assert summary["eval/complete"] == 1.0 and len(trainer.buffer) == 16 * 40


def test_sim_isaaclab_without_isaac_lab_fails_before_any_work_saying_how_to_install(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), "task=IsaacLabCartpole",
                           "train=CartpoleSAC", "sim=isaaclab", f"train_dir={tmp_path}"], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "pip install 'isaaclab[isaacsim,all]' --extra-index-url https://pypi.nvidia.com" in proc.stderr
    assert not os.listdir(tmp_path)


def test_train_py_launches_isaac_lab_first_and_trains(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "tests", "fakes"), ROOT]))
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), "task=IsaacLabCartpole",
                           "train=CartpoleSAC", "sim=isaaclab", "sim_device=cpu", "num_envs=16", "max_iterations=30",
                           "train.loop.verify_episodes=0", "train.loop.eval_target=null", f"train_dir={tmp_path}"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert '"iterations": 30' in proc.stdout


@pytest.mark.parametrize("name", ["isaaclab_backend", "isaaclab_app"])
def test_the_adapter_modules_import_without_isaac_lab(name):
    """Isaac Lab is imported only when an env is built: the modules import (and type-check) without it."""
    __import__(f"tasks.{name}")
