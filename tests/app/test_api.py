"""The Python API: ``isaac_rl.train`` runs what ``scripts/train.py`` runs (same numbers from the same overrides),
``isaac_rl.load_policy`` gives the actions scripts/play.py evaluates, and the defaults come from the YAML alone."""

import json
import os
import subprocess
import sys

import pytest
import torch

import isaac_rl
from isaac_rl.core.errors import ConfigError
from tests.conftest import ROOT

TRAIN = [sys.executable, os.path.join(ROOT, "scripts", "train.py")]
TINY = ["task=CartPole-v1", "train=CartPole-v1DQN", "num_envs=32", "sim_device=cpu", "seed=3", "max_iterations=30",
        "train.loop.warmup_iterations=4", "train.loop.batch_size=32", "train.loop.eval_interval=10",
        "num_eval_envs=8", "train.loop.verify_episodes=16"]
TIMES = ("wall_s", "eval/wall_s", "run_dir")  # the only values two identical runs do not share


def test_import_is_light():
    proc = subprocess.run([sys.executable, "-c", "import sys, isaac_rl; isaac_rl.train; "
                           "print(sorted(m for m in ('torch', 'hydra') if m in sys.modules))"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.stdout.strip() == "[]", proc.stderr


@pytest.fixture(scope="module")
def api_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    summary = isaac_rl.train(TINY + [f"train_dir={folder}", "experiment=api"])
    return folder, summary


def test_train_returns_the_summary_the_command_prints(api_run, tmp_path):
    folder, summary = api_run
    proc = subprocess.run(TRAIN + TINY + [f"train_dir={tmp_path}", "experiment=cli"], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    line = [x for x in proc.stdout.splitlines() if x.startswith("[isaac_rl] summary ")][-1]
    printed = json.loads(line.split("summary ", 1)[1])
    assert summary["run_dir"] == str(folder / "api") and (folder / "api" / "nn" / "last.pt").is_file()
    assert summary["iterations"] == 30 and summary["env_steps"] == 30 * 32
    assert {k: v for k, v in summary.items() if k not in TIMES} == {k: v for k, v in printed.items()
                                                                     if k not in TIMES}


def test_load_policy_acts_as_the_evaluated_policy(api_run):
    from isaac_rl.app import checkpoint
    from isaac_rl.app.build import make_trained_algorithm

    folder, _ = api_run
    path = str(folder / "api" / "nn" / "last.pt")
    policy = isaac_rl.load_policy(path)
    assert isinstance(policy, torch.nn.Module) and not policy.training
    state = checkpoint.read(path, "cpu", "play")
    env, algo = make_trained_algorithm(state["config"], state["trainer"]["agent"], "torch", 64, "cpu", 5)
    obs = env.reset(5)
    efforts = policy(obs)
    assert efforts.shape == (64, 1) and efforts.dtype == torch.float32
    assert torch.equal(efforts, algo.act(obs).reshape(64, 1).float())
    assert set(efforts.unique().tolist()) <= {-1.0, 1.0}  # CartPole-v1's two pushes


def test_train_takes_a_dict_and_refuses_bad_values_in_the_commands_words(tmp_path):
    with pytest.raises(ConfigError, match=r"^invalid config: train.algo.gamma=1.5; allowed"):
        isaac_rl.train({"task": "CartPole-v1", "train.algo.gamma": 1.5, "train_dir": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"the config has no key 'pipelin'; did you mean pipeline\?"):
        isaac_rl.train(["pipelin=gpu"])
    assert os.listdir(tmp_path) == []
    with pytest.raises(ConfigError, match=r"^invalid config: agent=-1"):
        isaac_rl.load_policy("nothing.pt", agent=-1)


def test_loop_settings_have_no_defaults_of_their_own():
    """The loop keys' one source is the train YAML: RunnerConfig and ReplaySettings declare no default for them, and
    a section that omits one is refused naming it."""
    import dataclasses

    from isaac_rl.app.config import resolve
    from isaac_rl.runtime.off_policy import ReplaySettings
    from isaac_rl.runtime.runner import RunnerConfig

    defaults = {f.name for f in dataclasses.fields(RunnerConfig) if f.default is not dataclasses.MISSING}
    assert defaults == {"seed", "compile", "cuda_graph"}  # run-level keys, set from the top-level config
    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(ReplaySettings))
    raw = isaac_rl.compose(["task=CartPole-v1", "sim_device=cpu"])
    del raw["train"]["loop"]["eval_interval"]
    with pytest.raises(ConfigError, match=r"^invalid config: train.loop='<without eval_interval>'; allowed: a "
                                          r"section that sets every loop key"):
        resolve(raw)
