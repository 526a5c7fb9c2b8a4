"""wandb_activate=True with real wandb and no network: a bad WANDB_MODE is refused before any work, a failing
wandb.init (no account, an unreachable server) is one line naming the cause and WANDB_MODE=offline, leaves nothing
that blocks the same command without wandb, and a damaged wandb_id.txt is one line naming the file."""

import hashlib
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytest.importorskip("wandb")

TRAIN = [sys.executable, os.path.join(ROOT, "scripts", "train.py")]
SMALL = ["task=CartPole-v1", "train=CartPole-v1DQN", "num_envs=16", "sim_device=cpu", "train.loop.warmup_iterations=4",
         "train.loop.batch_size=32", "train.loop.log_interval=10", "train.loop.eval_interval=20", "num_eval_envs=4",
         "train.loop.verify_episodes=8", "max_iterations=20", "wandb_project=isaac_rl_test"]


def _env(tmp_path, **values):
    """No account (a HOME without wandb credentials, no API key), no network, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    (tmp_path / "home").mkdir(exist_ok=True)
    env.update(HOME=str(tmp_path / "home"), WANDB_SILENT="true", **values)
    return env


def _run(args, tmp_path, env):
    return subprocess.run(TRAIN + SMALL + [f"train_dir={tmp_path / 'runs'}"] + args, capture_output=True, text=True,
                          timeout=300, cwd=ROOT, env=env, stdin=subprocess.DEVNULL)


def _one_line_error(proc, code=2):
    assert proc.returncode == code, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("[isaac_rl] error: ")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


@pytest.mark.parametrize("mode", ["bogus", "Offline", ""])
def test_an_unknown_wandb_mode_is_refused_before_any_work(tmp_path, mode):
    proc = _run(["wandb_activate=True", "experiment=w"], tmp_path, _env(tmp_path, WANDB_MODE=mode))
    assert _one_line_error(proc) == (f"[isaac_rl] error: invalid environment variable: WANDB_MODE={mode!r}; allowed: "
                                     "online, offline, shared, disabled, dryrun, run (offline logs without network; "
                                     "`wandb sync` uploads later)")
    assert not (tmp_path / "runs").exists() and "replay buffer" not in proc.stdout


@pytest.mark.parametrize("case", ["no account", "unreachable server"])
def test_a_failing_wandb_init_is_one_line_and_the_same_command_without_wandb_then_runs(tmp_path, case):
    values = {"WANDB_MODE": "online"}
    if case == "unreachable server":  # an API key, and nothing listening where the server should be
        values.update(WANDB_API_KEY="0" * 40, WANDB_BASE_URL="http://127.0.0.1:9", WANDB_INIT_TIMEOUT="3")
    proc = _run(["wandb_activate=True", "experiment=w"], tmp_path, _env(tmp_path, **values))
    line = _one_line_error(proc)
    cause = "UsageError: No API key configured" if case == "no account" else "CommError: "
    assert line.startswith(f"[isaac_rl] error: wandb.init failed ({cause}") and line.endswith(
        "; log offline with WANDB_MODE=offline (no network or account needed; `wandb sync` uploads later), or set "
        "wandb_activate=False"), line
    assert not (tmp_path / "runs").exists()  # no config.yaml, history.jsonl or wandb_id.txt to block the retry
    retry = _run(["experiment=w"], tmp_path, _env(tmp_path))
    assert retry.returncode == 0, retry.stderr[-2000:]
    assert "already holds" not in retry.stderr and (tmp_path / "runs" / "w" / "nn" / "last.pt").exists()


@pytest.mark.parametrize("content", [b"", b"not an id!", b"\xff\xfe\x00\x01", b"a" * 65, b"ABCDEF"])
def test_a_damaged_wandb_id_file_is_one_line_on_resume(tmp_path, content):
    env = _env(tmp_path, WANDB_MODE="offline")
    first = _run(["wandb_activate=True", "experiment=w"], tmp_path, env)
    assert first.returncode == 0, first.stderr[-2000:]
    run = tmp_path / "runs" / "w"
    first_id = (run / "wandb_id.txt").read_text()
    assert len(first_id) == 12 and first_id.isalnum()
    (run / "wandb_id.txt").write_bytes(content)
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in run.rglob("*") if p.is_file()}
    proc = _run(["wandb_activate=True", "experiment=w", "resume=auto", "max_iterations=30"], tmp_path, env)
    line = _one_line_error(proc)
    assert line.startswith(f"[isaac_rl] error: {run / 'wandb_id.txt'} is damaged: ") and line.endswith(
        "is not a wandb run id (1-64 lowercase letters and digits); write the run's id back into it, or delete the "
        "file to log the resumed run as a new wandb run"), line
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in run.rglob("*") if p.is_file()} == before


def test_wandb_disabled_trains_and_writes_no_wandb_files(tmp_path):
    proc = _run(["wandb_activate=True", "experiment=w"], tmp_path, _env(tmp_path, WANDB_MODE="disabled"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "runs" / "w" / "nn" / "last.pt").exists()
    assert not (tmp_path / "runs" / "w" / "wandb").exists() or not any((tmp_path / "runs" / "w" / "wandb").iterdir())
