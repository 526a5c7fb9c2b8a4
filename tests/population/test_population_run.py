"""A population run end to end (subprocesses of the real scripts): every agent verified-solved on fresh episodes, the
population summary and folder outputs, and each agent played from its own checkpoint and from the run's last.pt."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

TRAIN = [sys.executable, os.path.join(ROOT, "scripts", "train.py")]
PLAY = [sys.executable, os.path.join(ROOT, "scripts", "play.py")]


def _json_line(text, marker):
    return json.loads(text.split(marker, 1)[1].splitlines()[0])


@pytest.mark.slow
def test_a_population_of_three_cartpole_v1_dqn_seeds_all_verify_solved_and_play(tmp_path):
    run = subprocess.run(TRAIN + ["task=CartPole-v1", "train=CartPole-v1DQN", "seed=1", "population=3",
                                  "population_vary.lr=[4e-3,4e-3,3e-3]", f"train_dir={tmp_path}", "experiment=pop"],
                         capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = _json_line(run.stdout, "[isaac_rl] summary ")
    assert summary["solved"] == 3 and summary["population"] == 3
    for k, agent in enumerate(summary["agents"]):
        assert agent["solved"] and agent["seed"] == 1 + k and agent["lr"] == [4e-3, 4e-3, 3e-3][k]
        assert agent["eval/verified_episodes"] == 1000 and agent["eval/verified_mean_return"] >= 475
        assert agent["iterations_to_solve"] <= summary["iterations"]
    stats = summary["iterations_to_solve"]
    assert stats["min"] <= stats["iqm"] <= stats["max"] and stats["max"] == summary["iterations"]
    folder = tmp_path / "pop"
    assert json.loads((folder / "population.json").read_text())["solved"] == 3
    assert (folder / "population.png").stat().st_size > 10_000
    # Agent 2 from its own policy checkpoint (its lr and seed recorded) and from the population's last.pt.
    own = subprocess.run(PLAY + [str(folder / "nn" / "agent2.pt"), "--episodes", "100", "--seed", "7"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert own.returncode == 0, own.stderr
    from_last = subprocess.run(PLAY + [str(folder / "nn" / "last.pt"), "--agent", "2", "--episodes", "100",
                                       "--seed", "7"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert from_last.returncode == 0, from_last.stderr
    a, b = (json.loads(p.stdout.strip().splitlines()[-1]) for p in (own, from_last))
    assert a["eval/mean_return"] == b["eval/mean_return"] >= 475
    tested = subprocess.run(TRAIN + ["task=CartPole-v1", "train=CartPole-v1DQN", "test=True", "agent=2",
                                     f"checkpoint={folder / 'nn' / 'last.pt'}", "num_envs=100", "seed=7"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert tested.returncode == 0, tested.stderr
    assert json.loads(tested.stdout.strip().splitlines()[-1])["eval/mean_return"] == a["eval/mean_return"]
    bad = subprocess.run(PLAY + [str(folder / "nn" / "last.pt"), "--agent", "3"], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert bad.returncode == 2 and "agent=3; allowed: 0 to 2" in bad.stderr
    rerun = subprocess.run(TRAIN + ["task=CartPole-v1", "train=CartPole-v1DQN", "seed=1", "population=3",
                                    f"train_dir={tmp_path}", "experiment=pop"], capture_output=True, text=True,
                           timeout=300, cwd=ROOT)
    assert rerun.returncode == 2 and (folder / "population.json").exists()
