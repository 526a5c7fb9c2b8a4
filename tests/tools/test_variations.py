"""scripts/play.py --variations on a real, solved Cartpole checkpoint: the table's numbers are those of the policy on
envs built with each variation's model, and bad requests are refused in one line."""

import json
import os
import subprocess
import sys

import pytest

from isaac_rl.app import checkpoint
from isaac_rl.app.build import make_trained_algorithm
from isaac_rl.runtime.evaluate import evaluate
from isaac_rl.tasks.cartpole import IsaacCartpole
from tests.conftest import ROOT

TRAIN = [sys.executable, os.path.join(ROOT, "scripts", "train.py")]
PLAY = [sys.executable, os.path.join(ROOT, "scripts", "play.py")]


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    """The shipped CartpoleDQN recipe, seed 1, trained until its policy is verified (490 on 1,000 episodes)."""
    out = tmp_path_factory.mktemp("variations")
    proc = subprocess.run(TRAIN + ["task=Cartpole", "train=CartpoleDQN", "seed=1", "sim_device=cpu",
                                   f"train_dir={out}", "experiment=dqn"], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "[isaac_rl] solved" in proc.stdout
    return out / "dqn" / "nn" / "last.pt"


def test_variation_table_holds_the_policy_s_returns_under_each_model(solved):
    episodes = 300
    proc = subprocess.run(PLAY + [str(solved), "--variations", "--episodes", str(episodes), "--seed", "7"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    table = result["variations"]
    assert list(table) == ["nominal", "solid_box_inertia", "mass+20%"]
    state = checkpoint.load(str(solved), "cpu")
    _, algo = make_trained_algorithm(state["config"], state["trainer"]["agent"], "torch", 1, "cpu", 0)
    models = {"nominal": {}, "solid_box_inertia": {"pole_inertia": 0.0836},
              "mass+20%": {"cart_mass": 1.2, "pole_mass": 1.2}}
    for name, model in models.items():
        expected = evaluate(IsaacCartpole(episodes, seed=7, **model), algo.act, seed=7)
        assert table[name]["mean_return"] == expected["eval/mean_return"], name
        assert table[name]["min_return"] == expected["eval/min_return"], name
        row = f"| {name} | {expected['eval/mean_return']:.1f} | {expected['eval/min_return']:.1f} |"
        assert row in proc.stderr, (row, proc.stderr)
    assert table["nominal"]["mean_return"] == result["eval/mean_return"]
    assert table["nominal"]["mean_return"] >= 485.0  # a solved policy on 300 fresh episodes of its own model
    assert table["solid_box_inertia"]["mean_return"] != table["nominal"]["mean_return"]  # the model changed


def test_unknown_variation_and_tasks_without_the_settings_are_refused(solved, tmp_path):
    proc = subprocess.run(PLAY + [str(solved), "--variations", "mass+50%"], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "[isaac_rl] error: --variations 'mass+50%': unknown variation 'mass+50%'; allowed: all or a comma-separated "
        "list of nominal, solid_box_inertia, mass+20%")
    run = subprocess.run(TRAIN + ["task=CartPole-v1", "sim_device=cpu", "num_envs=16", "max_iterations=20",
                                  "train.loop.warmup_iterations=4", "train.loop.verify_episodes=0",
                                  f"train_dir={tmp_path}", "experiment=v1"], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    proc = subprocess.run(PLAY + [str(tmp_path / "v1" / "nn" / "last.pt"), "--variations"], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "[isaac_rl] error: --variations: task CartPole-v1 has no pole_inertia, cart_mass, pole_mass setting; the "
        "model variations apply to the torch Cartpole task")
