"""sim=isaaclab without the real Isaac Lab: what only a test double or no Isaac Lab at all can show.

The real Isaac Lab 3 (contract, final observations, the TD target of a truncated episode, seeding, physics presets,
assets, a training run) is tested in ``tests/tasks/test_isaaclab_real.py``, in CI's Python 3.12 leg. Here:

* Isaac Lab 2.x, through a double of its API (``tests/fakes/isaaclab*``: ``AppLauncher``, ``-v0`` ids, no
  ``compute_final_obs`` and no ``extras["final_obs"]``; 2.x runs only inside Isaac Sim, which cannot be installed
  here): the adapter launches Isaac Sim headless, refuses to bootstrap time-outs from the post-reset observation
  (one line), and with ``bootstrap_time_outs=False`` ends episodes at time-outs without bootstrapping; train.py
  runs end to end.
* Task ids of either Isaac Lab version resolve (a plain registry); no Isaac Lab at all fails in one line.
"""

import importlib.util
import os
import subprocess
import sys

import pytest
import torch

from isaac_rl.algorithms.dqn import DQN
from isaac_rl.algorithms.efforts import DiscreteEfforts
from isaac_rl.app.build import make_trainer
from isaac_rl.core.errors import ConfigError
from isaac_rl.core.types import Batch
from tests.conftest import ROOT, shipped

REFUSAL = ("invalid config: task.env.bootstrap_time_outs=True; allowed: False with Isaac Lab 2.3.2, whose envs "
           "publish no final observation (no compute_final_obs / extras['final_obs']), so a timed-out episode's last "
           "observation is lost: Isaac Lab 3 publishes it (Python 3.12: `pip install isaaclab==3.0.0`), or set "
           "task.env.bootstrap_time_outs=False to end episodes at time-outs without bootstrapping")


def _short_episodes(monkeypatch, steps):
    import isaaclab_tasks

    monkeypatch.setattr(isaaclab_tasks.CartpoleEnvCfg, "episode_length_steps", steps)


def test_isaac_lab_2_refuses_to_bootstrap_time_outs_from_the_reset_observation(fake_isaaclab):
    """2.x publishes no final observation: the default (bootstrap time-outs) is refused in one line, after Isaac Sim
    was launched headless (2.x needs it to read a task's config)."""
    from isaaclab.app import LAUNCHES

    from isaac_rl.tasks import make_task

    with pytest.raises(ConfigError) as err:
        make_task("Isaac-Cartpole-Direct-v0", sim="isaaclab", num_envs=8, device="cpu", seed=3)
    assert str(err.value) == REFUSAL
    assert LAUNCHES[-1]["headless"] is True


def test_isaac_lab_2_with_bootstrap_time_outs_false_ends_episodes_at_time_outs(fake_isaaclab, monkeypatch):
    """The opt-in on 2.x: a time-out is reported as terminated (never truncated), so the TD target of that step is
    its reward alone, not a bootstrap from the next episode's first observation."""
    from isaac_rl.tasks import make_task

    _short_episodes(monkeypatch, 3)
    env = make_task("Isaac-Cartpole-Direct-v0", sim="isaaclab", num_envs=4, device="cpu", seed=0,
                    bootstrap_time_outs=False)
    assert env.obs_dim == 4 and env.action_spec.dim == 1 and env.action_spec.max_effort == 100.0
    assert env.max_episode_steps == 3
    obs = env.reset(0)
    for t in range(3):  # no push: the poles start near upright and stay up for 3 steps, so all 4 envs time out
        out = env.step(torch.zeros(4, 1))
        assert not out.truncated.any()
        if t < 2:
            assert not out.terminated.any()
            obs = out.obs
    assert out.terminated.all()
    torch.manual_seed(0)
    dqn = DQN(4, DiscreteEfforts((-1.0, 0.0, 1.0), torch.device("cpu")), "cpu", hidden=(8,), gamma=0.9,
              double_dqn=False)
    batch = Batch(*(t.unsqueeze(0) for t in (obs, torch.zeros(4, dtype=torch.long), out.reward, out.final_obs,
                                             out.terminated.float())))  # one agent: [1, B, ...]
    assert torch.allclose(dqn.td_target(batch), out.reward)
    env.close()


def test_a_3_x_id_resolves_to_the_2_x_id_with_a_note(fake_isaaclab, capsys):
    """The shipped config names the 3.x id (Isaac-Cartpole-Direct); 2.x registers it with -v0."""
    from isaac_rl.tasks import make_task

    env = make_task("Isaac-Cartpole-Direct", sim="isaaclab", num_envs=2, device="cpu", seed=0,
                    bootstrap_time_outs=False)
    assert env.task_id == "Isaac-Cartpole-Direct-v0"
    assert ("[isaac_rl] note: this Isaac Lab registers task.name='Isaac-Cartpole-Direct' as "
            "'Isaac-Cartpole-Direct-v0': using it (set task.name=Isaac-Cartpole-Direct-v0 to silence this)\n"
            in capsys.readouterr().out)


def test_task_ids_of_either_version_resolve_and_an_unknown_one_is_one_line():
    """3.x dropped 2.x's -v0: either form finds the other; an unknown id names the closest registered ones."""
    from isaac_rl.tasks.isaaclab_backend import resolve_task_id

    v3 = {"Isaac-Cartpole-Direct": 0, "Isaac-Cartpole": 0, "Isaac-Ant-Direct": 0, "CartPole-v1": 0}
    assert resolve_task_id("Isaac-Cartpole-Direct-v0", v3) == "Isaac-Cartpole-Direct"
    assert resolve_task_id("Isaac-Cartpole-v0", {"Isaac-Cartpole-v0": 0}) == "Isaac-Cartpole-v0"
    assert resolve_task_id("Isaac-Cartpole", {"Isaac-Cartpole-v0": 0}) == "Isaac-Cartpole-v0"
    with pytest.raises(ConfigError) as err:
        resolve_task_id("Isaac-Cartpol-Direct", v3)
    message = str(err.value)
    assert message.startswith("invalid config: task.name='Isaac-Cartpol-Direct' is not an Isaac Lab task; allowed: "
                              "Isaac-Cartpole-Direct, Isaac-Cartpole, Isaac-Ant-Direct or another of its 3 "
                              "registered tasks (list them: ")
    assert "\n" not in message


def test_a_run_on_isaaclab_trains_on_the_training_env_alone(fake_isaaclab, monkeypatch):
    """Isaac Lab allows one simulation per process: evaluation runs on the training env, as with Isaac Gym."""
    _short_episodes(monkeypatch, 50)
    cfg = shipped("IsaacLabCartpole", "CartpoleSAC", 1, "isaaclab", "num_envs=16", "task.env.bootstrap_time_outs=False",
                  max_iterations=40, warmup_iterations=4, eval_interval=20, verify_episodes=0, eval_target=None)
    torch.set_num_threads(1)
    trainer, env, evaluation = make_trainer(cfg, "cpu", verbose=False)
    assert evaluation is None and type(env).__name__ == "IsaacLabTask"
    summary = trainer.train()
    assert summary["iterations"] == 40 and summary["gradient_steps"] == (40 - 4 + 1) * 4
    assert summary["eval/complete"] == 1.0 and len(trainer.learning.buffer) == 16 * 40


@pytest.mark.skipif(importlib.util.find_spec("isaaclab") is not None, reason="Isaac Lab is installed")
def test_sim_isaaclab_without_isaac_lab_fails_before_any_work_saying_how_to_install(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), "task=IsaacLabCartpole",
                           "train=CartpoleSAC", "sim=isaaclab", f"train_dir={tmp_path}"], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert proc.stderr == ("[isaac_rl] error: sim=isaaclab needs NVIDIA Isaac Lab: on Python 3.12 `pip install "
                           "isaaclab==3.0.0` (its kit-less Newton physics runs on CPU or CUDA without Isaac Sim); or "
                           "use sim=torch (built-in physics)\n")
    assert not os.listdir(tmp_path)


def _train_on_the_2_x_double(tmp_path, *overrides):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "tests", "fakes"), ROOT]))
    return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), "task=IsaacLabCartpole",
                           "train=CartpoleSAC", "sim=isaaclab", "sim_device=cpu", "num_envs=16", "max_iterations=30",
                           "train.loop.verify_episodes=0", "train.loop.eval_target=null", f"train_dir={tmp_path}",
                           *overrides], capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)


def test_train_py_on_isaac_lab_2_refuses_bootstrapping_in_one_line_and_leaves_nothing(tmp_path):
    proc = _train_on_the_2_x_double(tmp_path)
    assert proc.returncode == 2 and proc.stderr == f"[isaac_rl] error: {REFUSAL}\n", proc.stderr[-2000:]
    assert not os.listdir(tmp_path)


def test_train_py_on_isaac_lab_2_trains_with_time_outs_as_ends(tmp_path):
    proc = _train_on_the_2_x_double(tmp_path, "task.env.bootstrap_time_outs=False")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert '"iterations": 30' in proc.stdout


@pytest.mark.parametrize("name", ["isaaclab_backend", "isaaclab_app"])
def test_the_adapter_modules_import_without_isaac_lab(name):
    """Isaac Lab is imported only when an env is built: the modules import (and type-check) without it."""
    __import__(f"tasks.{name}")
