"""A run owns its folder: two runs never write into one (a lock that a killed run does not leave stuck), a failed
start leaves nothing that blocks the retry, a damaged metrics.jsonl does not block a resume, the default folder
names of different settings differ, and a run folder deleted mid-run stops the run in one line. Real subprocesses of
scripts/train.py, real signals, real files."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from isaac_rl.app import run_dir as folders
from isaac_rl.app.config import resolve
from isaac_rl.core.errors import ConfigError
from tests.conftest import ROOT, compose_config

TRAIN = [sys.executable, os.path.join(ROOT, "scripts", "train.py")]
SMALL = ["task=CartPole-v1", "train=CartPole-v1DQN", "num_envs=16", "sim_device=cpu", "train.loop.warmup_iterations=4",
         "train.loop.batch_size=32", "train.loop.log_interval=10", "train.loop.eval_interval=20", "num_eval_envs=4",
         "train.loop.eval_early_out=False", "train.loop.verify_episodes=8"]
LONG = ["max_iterations=100000000", "train.loop.eval_interval=0", "train.loop.checkpoint_interval=10"]


def _run(args, tmp_path, timeout=300, env=None):
    return subprocess.run(TRAIN + SMALL + [f"train_dir={tmp_path}"] + args, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def _start(args, tmp_path):
    return subprocess.Popen(TRAIN + SMALL + [f"train_dir={tmp_path}"] + args, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)


def _wait_for(path, proc, timeout=120):
    deadline = time.time() + timeout
    while not os.path.exists(path) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert os.path.exists(path), (path, proc.poll())


def _one_line_error(proc, code=2):
    assert proc.returncode == code, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("[isaac_rl] error: ")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def _digests(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _rows(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


# ------------------------------------------------------------------ one run per folder


def test_a_second_run_and_a_resume_into_a_training_run_are_refused_naming_its_pid(tmp_path):
    first = _start(["experiment=x"] + LONG, tmp_path)
    run = tmp_path / "x"
    try:
        _wait_for(run / "nn" / "last.pt", first)
        for args in (["experiment=x", "max_iterations=30", "train.algo.lr=1e-3"],
                     ["experiment=x", "resume=auto", "max_iterations=200000000"],
                     ["experiment=x", "overwrite=True", "max_iterations=30"]):
            line = _one_line_error(_run(args, tmp_path))
            assert f"run folder {run} is in use by another run (pid {first.pid} on host " in line, line
        assert first.poll() is None  # still training, untouched
    finally:
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    summary = json.loads(out.split("[isaac_rl] summary ", 1)[1].splitlines()[0])
    last = torch.load(run / "nn" / "last.pt", weights_only=True)
    assert last["trainer"]["iteration"] == summary["iterations"]
    assert last["config"]["train"]["algo"]["lr"] == 0.004 and _rows(run)[-1]["step"] <= summary["env_steps"]
    assert [json.loads(r)["event"] for r in (run / "history.jsonl").read_text().splitlines()] == ["start"]
    assert not (run / ".lock").exists()  # released at the end


def test_two_runs_started_at_the_same_moment_into_one_folder_one_runs_the_other_is_refused(tmp_path):
    """Both pass every check of an empty folder at the same time; the lock lets one through. Whichever wins, the
    folder holds its files only (config.yaml, checkpoint and metrics of one run)."""
    a = _start(["experiment=x", "max_iterations=300"], tmp_path)
    b = _start(["experiment=x", "max_iterations=200", "train.algo.lr=1e-3"], tmp_path)
    outs = [(p,) + p.communicate(timeout=300) for p in (a, b)]
    codes = sorted(p.returncode for p, _, _ in outs)
    assert codes == [0, 2], [(p.returncode, err[-1000:]) for p, _, err in outs]
    loser = next(p for p in (a, b) if p.returncode == 2)
    line = [x for x in outs if x[0] is loser][0][2]
    assert "Traceback" not in line and ("is in use by another run" in line or "already holds the results" in line)
    winner_lr, winner_its = (0.004, 300) if a.returncode == 0 else (1e-3, 200)
    import yaml
    run = tmp_path / "x"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["train"]["algo"]["lr"] == winner_lr and config["train"]["loop"]["max_iterations"] == winner_its
    for name in ("last.pt", "best.pt"):
        state = torch.load(run / "nn" / name, weights_only=True)
        assert state["config"]["train"]["algo"]["lr"] == winner_lr
    assert torch.load(run / "nn" / "last.pt", weights_only=True)["trainer"]["iteration"] == winner_its
    assert _rows(run)[-1]["step"] == winner_its * 16
    assert len((run / "history.jsonl").read_text().splitlines()) == 1


def test_a_killed_run_does_not_leave_its_folder_locked(tmp_path):
    proc = _start(["experiment=k"] + LONG, tmp_path)
    _wait_for(tmp_path / "k" / "nn" / "last.pt", proc)
    proc.kill()  # SIGKILL: nothing runs at exit, the kernel drops the lock
    proc.communicate(timeout=60)
    assert (tmp_path / "k" / ".lock").exists() and str(proc.pid) in (tmp_path / "k" / ".lock").read_text()
    saved = torch.load(tmp_path / "k" / "nn" / "last.pt", weights_only=True)["trainer"]["iteration"]
    resumed = _run(["experiment=k", "resume=auto", f"max_iterations={saved + 20}"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert f"at iteration {saved}" in resumed.stdout and not (tmp_path / "k" / ".lock").exists()


def test_a_run_folder_deleted_mid_run_stops_the_run_in_one_line(tmp_path):
    proc = _start(["experiment=gone"] + LONG, tmp_path)
    _wait_for(tmp_path / "gone" / "history.jsonl", proc)
    time.sleep(1.0)
    # `rm -rf` on a live run races with the files the run writes meanwhile; moving the folder away first removes it
    # from its path in one step (what the run sees is the same: its folder is gone)
    os.rename(tmp_path / "gone", tmp_path / "trash")
    shutil.rmtree(tmp_path / "trash", ignore_errors=True)
    out, err = proc.communicate(timeout=120)
    proc.stderr = err
    line = _one_line_error(proc)
    assert line == (f"[isaac_rl] error: run folder {tmp_path / 'gone'} was removed while the run was training; the "
                    "run stops (nothing more can be saved there)")


# ------------------------------------------------------------------ a failed start blocks nothing


def test_a_run_failing_in_tensorboard_leaves_nothing_and_the_retry_runs(tmp_path):
    (tmp_path / "tb").mkdir()
    (tmp_path / "tb" / "summaries").write_text("a file where the TensorBoard folder goes")
    proc = _run(["experiment=tb", "max_iterations=20"], tmp_path)
    line = _one_line_error(proc)
    assert f"cannot write the run's logs to {tmp_path / 'tb' / 'summaries'}" in line, line
    assert sorted(os.listdir(tmp_path / "tb")) == ["summaries"]  # no config.yaml, history.jsonl, metrics, nn/
    (tmp_path / "tb" / "summaries").unlink()
    retry = _run(["experiment=tb", "max_iterations=20"], tmp_path)
    assert retry.returncode == 0, retry.stderr
    assert (tmp_path / "tb" / "nn" / "last.pt").exists()


def test_a_run_stopped_before_its_first_checkpoint_leaves_nothing(tmp_path):
    """A crash in the first updates (here: a diverging learning rate, stopped before any checkpoint) removes what
    the run wrote: the same command with a sane setting is not refused."""
    proc = _run(["experiment=d", "train.algo.lr=1e12", "max_iterations=2000", "train.loop.eval_interval=0"], tmp_path)
    assert proc.returncode == 3, proc.stderr
    assert not (tmp_path / "d").exists()
    retry = _run(["experiment=d", "max_iterations=20"], tmp_path)
    assert retry.returncode == 0, retry.stderr


def test_resume_auto_of_a_run_that_left_only_best_pt_says_so_in_one_line(tmp_path):
    assert _run(["experiment=b", "max_iterations=20"], tmp_path).returncode == 0
    (tmp_path / "b" / "nn" / "last.pt").unlink()  # as a run killed before its first full checkpoint leaves it
    before = _digests(tmp_path / "b")
    proc = _run(["experiment=b", "resume=auto", "max_iterations=40"], tmp_path)
    line = _one_line_error(proc)
    assert "starting a new run" not in proc.stdout
    assert line == (f"[isaac_rl] error: resume=auto: run folder {tmp_path / 'b'} holds an earlier run's results "
                    "(config.yaml, metrics.jsonl, history.jsonl, nn/, summaries/) but no checkpoint to resume from: "
                    "nn/last.pt is missing, and nn/best.pt holds only the policy of the best evaluation (it plays, "
                    "tests and exports, but does not resume); start over there with overwrite=True (deletes them), or "
                    "choose another experiment=NAME")
    assert _digests(tmp_path / "b") == before


# ------------------------------------------------------------------ a damaged metrics.jsonl


DAMAGE = {"a JSON list": b"[1, 2, 3]\n", "a non-numeric step": b'{"step": "ten", "x": 1}\n',
          "binary content": b"\xff\xfe\x00garbage\x80\n", "a torn line": b'{"step": 3\n'}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_truncate_metrics_keeps_the_valid_rows_up_to_the_checkpoint(tmp_path, kind):
    good = [{"step": 10, "a": 1.0}, {"step": 20, "a": 2.0}, {"step": 30, "a": 3.0}]
    lines = [json.dumps(r).encode() + b"\n" for r in good]
    (tmp_path / "metrics.jsonl").write_bytes(lines[0] + DAMAGE[kind] + lines[1] + lines[2])
    assert folders.truncate_metrics(str(tmp_path), 20) == (1, 1)
    assert _rows(tmp_path) == good[:2]


@pytest.mark.parametrize("kind", ["a JSON list", "a non-numeric step", "binary content"])
def test_a_damaged_metrics_file_does_not_block_resume(tmp_path, kind):
    assert _run(["experiment=m", "max_iterations=20"], tmp_path).returncode == 0
    with open(tmp_path / "m" / "metrics.jsonl", "ab") as f:
        f.write(DAMAGE[kind])
    proc = _run(["experiment=m", "resume=auto", "max_iterations=40"], tmp_path)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert ("[isaac_rl] metrics.jsonl: dropped 0 rows logged after the checkpoint (env step 320) and 1 damaged lines "
            "(not a JSON object with a numeric step)") in proc.stdout
    steps = [r["step"] for r in _rows(tmp_path / "m")]
    assert steps == sorted(steps) and steps[-1] == 40 * 16


# ------------------------------------------------------------------ names and bad folder settings


README = [["task=CartPole-v1", "train=CartPole-v1DQN"],
          ["task=CartPole-v1", "train=CartPole-v1DQN", "sim=gymnasium"],
          ["task=CartPole-v1", "train=CartPole-v1DQN", "population=5"],
          ["task=Pendulum", "train=PendulumDDPG"],
          ["task=Pendulum", "train=PendulumDDPG", "population=4", "population_vary.critic_lr=[5e-4,1e-3,2e-3,4e-3]",
           "population_vary.noise_sigma=[0.1,0.1,0.2,0.2]"],
          ["task=Pendulum", "train=PendulumDDPG", "population=4"],
          ["task=Pendulum", "train=PendulumSAC", "capture_video=True", "capture_video_freq=200"],
          ["task=Cartpole", "train=CartpoleDQN", "num_envs=4096", "seed=1"],
          ["task=Cartpole", "train=CartpoleDQN", "num_envs=256"],
          ["task=Cartpole", "train=CartpoleDDPG", "sim=torch"],
          ["task=Cartpole", "train=CartPole-v1DQN"]]


def _name(overrides):
    return os.path.basename(folders.run_dir_of(resolve(compose_config(overrides + ["sim_device=cpu"]))))


def test_default_names_of_the_readme_commands_differ_and_keep_the_first_commands_name():
    names = [_name(c) for c in README]
    assert names == ["CartPole-v1DQN_seed42", "CartPole-v1DQN_gymnasium_seed42", "CartPole-v1DQN_pop5_seed42",
                     "PendulumDDPG_seed42", names[4], "PendulumDDPG_pop4_seed42", "PendulumSAC_seed42",
                     "CartpoleDQN_seed1", "CartpoleDQN_envs256_seed42", "CartpoleDDPG_seed42",
                     "CartPole-v1DQN_Cartpole_seed42"]
    assert names[4].startswith("PendulumDDPG_pop4_vary") and len(set(names)) == len(names)
    # settings a resume may change keep the name: resume=auto with a longer run finds the same folder
    assert _name(README[2] + ["max_iterations=800", "resume=auto", "train.loop.eval_interval=50"]) == names[2]
    assert _name(README[0] + ["experiment=mine"]) == "mine"


def test_the_readme_commands_run_in_order_and_resume_auto_finds_its_run(tmp_path):
    """On a fresh folder: the first command, then its sim=gymnasium and population=5 variants all run (short); the
    first again is refused and changes nothing; resume=auto of the first continues its own run."""
    short = ["max_iterations=20", "train.loop.verify_episodes=8", f"train_dir={tmp_path}", "sim_device=cpu",
             "train.loop.warmup_iterations=4"]
    for command in README[:3]:
        proc = subprocess.run(TRAIN + command + short, capture_output=True, text=True, timeout=600, cwd=ROOT)
        assert proc.returncode == 0, (command, proc.stderr[-2000:])
    assert sorted(os.listdir(tmp_path)) == ["CartPole-v1DQN_gymnasium_seed42", "CartPole-v1DQN_pop5_seed42",
                                            "CartPole-v1DQN_seed42"]
    first = tmp_path / "CartPole-v1DQN_seed42"
    before = _digests(first)
    again = subprocess.run(TRAIN + README[0] + short, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert f"run folder {first} already holds the results of an earlier run" in _one_line_error(again)
    assert _digests(first) == before
    resumed = subprocess.run(TRAIN + README[0] + short + ["resume=auto", "max_iterations=30"], capture_output=True,
                             text=True, timeout=600, cwd=ROOT)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resumed from {first / 'nn' / 'last.pt'} at iteration 20" in resumed.stdout
    assert torch.load(first / "nn" / "last.pt", weights_only=True)["trainer"]["iteration"] == 30


@pytest.mark.parametrize("override, text", [
    ("experiment='a\nb'", "invalid config: experiment='a\\nb'; allowed: a folder name without control characters"),
    ("experiment='a\tb'", "invalid config: experiment='a\\tb'"),
    ("train_dir=''", "invalid config: train_dir=''; allowed: a folder path"),
])
def test_bad_run_folder_settings_are_refused_before_anything_is_written(tmp_path, override, text):
    with pytest.raises(ConfigError) as info:
        folders.run_dir_of(resolve(compose_config(SMALL + [override])))
    assert text in str(info.value)
    proc = subprocess.run(TRAIN + SMALL + [override], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert text in _one_line_error(proc) and not os.listdir(tmp_path)
