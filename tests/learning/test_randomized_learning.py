"""The randomized Cartpole recipes (cfg/train/Cartpole{DQN,DDPG}Randomized.yaml) reach their bars, as a user runs
them (real subprocesses of scripts/train.py and scripts/play.py), seeds 1-3: a verified nominal 490 over 1,000 fresh
episodes, and a mean >= 485 over 1,000 episodes under each named model variation (the pole's inertia as a solid box,
cart and pole masses +20%; isaac_rl/app/robustness.py). No timing assertions."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VARIATIONS = ("solid_box_inertia", "mass+20%")


def summary_of(stdout):
    """The run's summary (the ``[isaac_rl] summary {...}`` line scripts/train.py ends with)."""
    return json.loads([line for line in stdout.splitlines() if line.startswith("[isaac_rl] summary ")][-1]
                      .split("summary ", 1)[1])


@pytest.mark.slow
@pytest.mark.parametrize("train", ["CartpoleDQNRandomized", "CartpoleDDPGRandomized"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_randomized_recipe_is_verified_and_robust(tmp_path, train, seed):
    env = dict(os.environ, PYTHONPATH=ROOT)
    run = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), "task=Cartpole", f"train={train}",
                          f"seed={seed}", "sim_device=cpu", f"train_dir={tmp_path}", "experiment=run"],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    assert run.returncode == 0, run.stderr[-2000:]
    summary = summary_of(run.stdout)
    assert summary["solved"] == 1 and summary["eval/verified_episodes"] >= 1000, summary
    assert summary["eval/verified_mean_return"] >= 490.0, summary
    play = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "play.py"),
                           os.path.join(tmp_path, "run", "nn", "last.pt"), "--variations", ",".join(VARIATIONS)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    assert play.returncode == 0, play.stderr[-2000:]
    results = json.loads(play.stdout.strip().splitlines()[-1])["variations"]
    assert sorted(results) == sorted(VARIATIONS)
    for name in VARIATIONS:
        assert results[name]["complete"] == 1.0 and results[name]["mean_return"] >= 485.0, (name, results)
