"""Runs never lose data and bad inputs fail well: real subprocesses of scripts/train.py and scripts/play.py, real
signals, real corrupt files. The table of what each bad input gets is in README.md ("When something is wrong")."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from isaac_rl.app import checkpoint
from isaac_rl.app import run_dir as folders
from isaac_rl.app.config import resolve
from isaac_rl.app.run import main as run_main
from isaac_rl.core.errors import CheckpointError, ConfigError, RunDirError, UserError
from tests.conftest import ROOT, compose_config

TRAIN = [sys.executable, os.path.join(ROOT, "scripts", "train.py")]
PLAY = [sys.executable, os.path.join(ROOT, "scripts", "play.py")]
SMALL = ["task=CartPole-v1", "train=CartPole-v1DQN", "num_envs=16", "sim_device=cpu", "train.loop.warmup_iterations=4",
         "train.loop.batch_size=32", "train.loop.log_interval=10", "train.loop.eval_interval=20", "num_eval_envs=4",
         "train.loop.eval_early_out=False"]  # every evaluation complete: a short run always writes nn/best.pt


def _run(args, tmp_path, timeout=300, env=None):
    return subprocess.run(TRAIN + SMALL + [f"train_dir={tmp_path}"] + args, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def _digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _one_line_error(proc, code=2):
    """The process failed with ``code`` and told the user in one line, without a traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("[isaac_rl] error: ")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished short run (nn/last.pt, nn/best.pt, metrics, config)."""
    out = tmp_path_factory.mktemp("done")
    proc = _run(["experiment=done", "max_iterations=60"], out)
    assert proc.returncode == 0, proc.stderr
    return out / "done"


def test_rerun_into_a_finished_run_is_refused_and_changes_nothing(finished, tmp_path):
    before = {name: _digest(finished / name) for name in ("nn/last.pt", "config.yaml", "metrics.jsonl")}
    proc = _run(["experiment=done", "max_iterations=20", "train.algo.lr=1e-3"], finished.parent)
    line = _one_line_error(proc)
    assert "resume=auto" in line and "overwrite=True" in line and "experiment=" in line, line
    assert {name: _digest(finished / name) for name in before} == before


def test_overwrite_starts_over_and_gets_a_fresh_wandb_id_while_resume_keeps_it(tmp_path):
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true")
    wandb = ["wandb_activate=True", "wandb_project=isaac_rl_test", "experiment=w"]
    first = _run(wandb + ["max_iterations=20"], tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    first_id = (tmp_path / "w" / "wandb_id.txt").read_text()
    resumed = _run(wandb + ["max_iterations=30", "resume=auto"], tmp_path, env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert (tmp_path / "w" / "wandb_id.txt").read_text() == first_id
    again = _run(wandb + ["max_iterations=20", "overwrite=True"], tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert "overwrite=True: deleted" in again.stdout
    assert (tmp_path / "w" / "wandb_id.txt").read_text() != first_id
    rows = [json.loads(line) for line in (tmp_path / "w" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == sorted(r["step"] for r in rows) and rows[-1]["step"] == 20 * 16
    events = [json.loads(line)["event"] for line in (tmp_path / "w" / "history.jsonl").read_text().splitlines()]
    assert events == ["start"]  # the overwritten run's history went with it


def test_resume_prints_and_records_changed_settings_and_refuses_ones_that_cannot_apply(finished):
    config_before = _digest(finished / "config.yaml")
    refused = _run(["experiment=done", "resume=auto", "max_iterations=80", "train.algo.lr=0.1"], finished.parent)
    line = _one_line_error(refused)
    assert "train.algo.lr" in line and "0.004" in line and "0.1" in line, line
    assert _digest(finished / "config.yaml") == config_before  # a failed start rewrites nothing
    resumed = _run(["experiment=done", "resume=auto", "max_iterations=80"], finished.parent)
    assert resumed.returncode == 0, resumed.stderr
    assert "changed on resume: train.loop.max_iterations: 60 -> 80" in resumed.stdout
    last = json.loads((finished / "history.jsonl").read_text().splitlines()[-1])
    assert last["event"] == "resume" and last["iteration"] == 60
    assert last["changed"]["train.loop.max_iterations"] == [60, 80]


def test_resume_auto_with_nothing_to_resume_says_so(tmp_path):
    proc = _run(["experiment=fresh", "resume=auto", "max_iterations=20"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "resume=auto: no checkpoint" in proc.stdout and "starting a new run" in proc.stdout


def test_best_checkpoint_is_a_policy_that_plays_but_does_not_resume(finished):
    best = checkpoint.read(str(finished / "nn" / "best.pt"), "cpu", "play")
    assert best["kind"] == "policy" and best["eval"]["eval/complete"] == 1.0
    assert best["eval"]["eval/mean_return"] >= max(
        json.loads(r).get("eval/mean_return", -1e9) for r in (finished / "metrics.jsonl").read_text().splitlines())
    play = subprocess.run(PLAY + [str(finished / "nn" / "best.pt"), "--episodes", "4"], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert play.returncode == 0, play.stderr
    with pytest.raises(CheckpointError, match="policy only"):
        checkpoint.read(str(finished / "nn" / "best.pt"), "cpu", "resume")
    assert checkpoint.latest(str(finished)) == str(finished / "nn" / "last.pt")  # never best.pt


def test_a_resumed_run_replaces_nn_best_only_with_a_better_policy(tmp_path):
    """nn/best.pt holds the best complete evaluation of the whole run, across resumes: a resumed run takes the mean
    to beat from nn/best.pt itself; a run continued into a new folder keeps a best.pt of its own."""
    never = "train.loop.eval_target=1e9"  # every 20 iterations a complete evaluation, and no solve to stop the run
    assert _run(["experiment=b", "max_iterations=40", never], tmp_path).returncode == 0
    run = tmp_path / "b"
    last, best = run / "nn" / "last.pt", run / "nn" / "best.pt"

    def claim(mean):  # let nn/best.pt claim this evaluation mean
        policy = torch.load(best, weights_only=True)
        policy["eval"]["eval/mean_return"] = mean
        checkpoint.save_checked(policy, str(best))
        return _digest(best)

    before = claim(1e9)  # no evaluation of the resumed run can beat it
    resumed = _run(["experiment=b", "resume=auto", "max_iterations=80", never], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert torch.load(last, weights_only=True)["trainer"]["iteration"] == 80
    assert _digest(best) == before
    before = claim(-1e9)  # every complete evaluation beats it
    resumed = _run(["experiment=b", "resume=auto", "max_iterations=120", never], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert _digest(best) != before
    assert checkpoint.read(str(best), "cpu", "play")["eval"]["eval/mean_return"] > -1e9
    # continued into a new folder (checkpoint=...), the run keeps a best.pt of its own
    moved = _run(["experiment=c", f"checkpoint={last}", "max_iterations=140", never], tmp_path)
    assert moved.returncode == 0, moved.stderr
    assert checkpoint.read(str(tmp_path / "c" / "nn" / "best.pt"), "cpu", "play")["eval"]["eval/complete"] == 1.0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGTERM])
def test_every_stop_signal_saves_even_with_a_huge_log_interval(tmp_path, sig):
    """The stop flag is polled every iteration: a run that would log once per 100,000 iterations still saves and
    exits cleanly soon after the signal, and resume=auto continues from there."""
    args = TRAIN + SMALL + [f"train_dir={tmp_path}", "experiment=s", "max_iterations=100000000",
                            "train.loop.eval_interval=0", "train.loop.log_interval=100000"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    history = tmp_path / "s" / "history.jsonl"
    deadline = time.time() + 120
    while not history.exists() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # well into the loop
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    summary = json.loads(out.split("[isaac_rl] summary ", 1)[1].splitlines()[0])
    assert summary["stopped_by_signal"] and 0 < summary["iterations"] < 100000
    saved = torch.load(tmp_path / "s" / "nn" / "last.pt", weights_only=True)["trainer"]["iteration"]
    assert saved == summary["iterations"]


def test_divergence_stops_the_run_and_never_saves_non_finite_weights(tmp_path):
    proc = _run(["experiment=nan", "train.algo.lr=1e6", "max_iterations=2000", "train.loop.checkpoint_interval=10"],
                tmp_path)
    line = _one_line_error(proc, code=3)
    assert "diverged" in line and "learning rate" in line, line
    for name in ("last.pt", "best.pt"):
        path = tmp_path / "nan" / "nn" / name
        if path.exists():
            assert checkpoint.all_finite(torch.load(path, weights_only=True)["trainer"]["agent"])


def test_a_non_finite_checkpoint_is_refused_for_test_play_export_and_resume(finished, tmp_path):
    state = torch.load(finished / "nn" / "last.pt", weights_only=True)
    next(iter(state["trainer"]["agent"]["q"].values())).fill_(float("nan"))
    bad = tmp_path / "nan.pt"
    torch.save(state, bad)
    for purpose in ("test", "play", "export", "resume"):
        with pytest.raises(CheckpointError, match="non-finite"):
            checkpoint.read(str(bad), "cpu", purpose)
    play = subprocess.run(PLAY + [str(bad), "--export", str(tmp_path / "p.pt")], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert "non-finite" in _one_line_error(play) and not (tmp_path / "p.pt").exists()
    resume = _run([f"checkpoint={bad}", "experiment=r", "max_iterations=80"], tmp_path)
    assert "non-finite" in _one_line_error(resume) and not (tmp_path / "r").exists()


def test_an_unwritable_run_folder_fails_before_training(tmp_path):
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro" / "nn").write_text("a file where the checkpoint folder should be")
    proc = _run(["experiment=ro", "max_iterations=20"], tmp_path)
    assert "cannot write checkpoints" in _one_line_error(proc)
    assert not (tmp_path / "ro" / "metrics.jsonl").exists() and not (tmp_path / "ro" / "config.yaml").exists()
    with pytest.raises(RunDirError, match="not enough free disk space"):
        folders.check_writable(str(tmp_path / "big"), 1 << 62)


def test_sim_isaacgym_without_isaac_gym_says_how_to_install(tmp_path):
    proc = _run(["sim=isaacgym", "task=Cartpole", "train=CartpoleDQN"], tmp_path)
    line = _one_line_error(proc)
    assert "Isaac Gym Preview 4" in line and "pip install -e isaacgym/python" in line


def test_debug_switch_shows_the_traceback(tmp_path):
    proc = _run(["train.algo.gamma=2", "debug=True"], tmp_path)
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "train.algo.gamma=2" in proc.stderr


_cfg = compose_config


def _files(tmp_path):
    """Bad checkpoint files of every kind, by name."""
    good = tmp_path / "good.pt"
    torch.save({"trainer": {"agent": {}}}, good)
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "random.pt").write_bytes(os.urandom(4096))
    (tmp_path / "truncated.pt").write_bytes(good.read_bytes()[:200])
    (tmp_path / "other.pt").write_bytes(b"\x80\x04K\x01.")  # a pickle of the integer 1
    (tmp_path / "folder.pt").mkdir()


BAD_INPUTS = [  # (overrides, error class, text the one-line message must contain)
    (["test=no"], ConfigError, "test='no'; allowed: True or False"),
    (["compile=yes"], ConfigError, "compile='yes'"),
    (["seed=18446744073709551616"], ConfigError, "seed=18446744073709551616; allowed: an integer in [0, 2**62)"),
    (["seed=-5"], ConfigError, "seed=-5"),
    (["task=Cartpole", "train=CartpoleDQN", "task.env.dt=0"], ConfigError, "task.env.dt=0"),
    (["task=Cartpole", "train=CartpoleDQN", "task.env.dt=nan"], ConfigError, "task.env.dt=nan"),
    (["task=Cartpole", "train=CartpoleDQN", "task.env.max_effort=-400"], ConfigError, "task.env.max_effort=-400"),
    (["task=Cartpole", "train=CartpoleDQN", "+task.env.pole_mass=0"], ConfigError, "task.env.pole_mass=0"),
    (["task=Cartpole", "train=CartpoleDQN", "task.env.reset_dist=inf"], ConfigError, "task.env.reset_dist=inf"),
    (["train.algo.lr=nan"], ConfigError, "train.algo.lr=nan; allowed: a finite number > 0"),
    (["train.algo.lr=inf"], ConfigError, "train.algo.lr=inf"),
    (["task=Pendulum", "train=PendulumDDPG", "train.algo.noise_sigma=nan"], ConfigError, "train.algo.noise_sigma"),
    (["train.loop.eval_target=nan"], ConfigError, "train.loop.eval_target=nan"),
    (["experiment=../escape"], ConfigError, "experiment='../escape'"),
    (["experiment=/tmp/abs"], ConfigError, "experiment='/tmp/abs'"),
    (["sim_device=gpu"], ConfigError, "sim_device='gpu'"),
    (["+train.loop.learning_starts=64"], ConfigError, "replaced by train.loop.warmup_iterations"),
    (["+train.algo.eps_decay_steps=500"], ConfigError, "replaced by train.algo.eps_decay_iterations"),
    (["task=Pendulum", "train=PendulumDDPG", "train.algo.noise_sigma_min=0.5"], ConfigError, "noise_sigma_min=0.5"),
    (["task=CartpoleSwingup", "train=CartpoleSwingupDDPG", "train.algo.noise_sigma_min=3.0"], ConfigError,
     "train.algo.noise_sigma_min=3.0; allowed: null (constant noise_sigma) or a finite number in [0, noise_sigma=2.0]"),
    (["task=Cartpole", "train=CartpoleDDPG", "train.algo.action_smoothness=-1"], ConfigError,
     "train.algo.action_smoothness=-1"),
    (["sim_device=cuda:99", "rl_device=cuda:99"], ConfigError, "sim_device='cuda:99'"),
    (["test=True", "checkpoint={tmp}/empty.pt"], CheckpointError, "is not a checkpoint of this trainer (the file is "
                                                                  "empty)"),
    (["test=True", "checkpoint={tmp}/random.pt"], CheckpointError, "is not a checkpoint of this trainer"),
    (["test=True", "checkpoint={tmp}/truncated.pt"], CheckpointError, "is not a checkpoint of this trainer"),
    (["test=True", "checkpoint={tmp}/other.pt"], CheckpointError, "is not a checkpoint of this trainer"),
    (["test=True", "checkpoint={tmp}/good.pt"], CheckpointError, "no config or agent"),
    (["test=True", "checkpoint={tmp}/folder.pt"], CheckpointError, "is a folder"),
    (["test=True", "checkpoint={tmp}/missing.pt"], CheckpointError, "does not exist"),
    (["checkpoint={tmp}/random.pt"], CheckpointError, "is not a checkpoint of this trainer"),
]


@pytest.mark.parametrize("overrides, error, text", BAD_INPUTS, ids=[" ".join(c[0]) for c in BAD_INPUTS])
def test_bad_input_fails_before_any_work_naming_it(tmp_path, overrides, error, text):
    _files(tmp_path)
    overrides = [o.replace("{tmp}", str(tmp_path)) for o in overrides]
    with pytest.raises(error) as info:
        run_main(_cfg(overrides + [f"train_dir={tmp_path}/runs"]))
    assert text in str(info.value) and "weights_only" not in str(info.value)
    assert not (tmp_path / "runs").exists()  # nothing written


@pytest.mark.parametrize("other", [["task=Cartpole", "train=CartpoleDQN"], ["task=CartPole-v1",
                                                                          "train=CartPole-v1DQN", "num_envs=64"],
                                   ["task=CartPole-v1", "train=CartPole-v1DQN", "train.algo.hidden=[32,32]"]])
def test_a_checkpoint_of_another_task_size_or_env_count_is_refused(finished, tmp_path, other):
    last = str(finished / "nn" / "last.pt")
    with pytest.raises(CheckpointError, match="other settings"):
        run_main(_cfg(other + ["sim_device=cpu", f"checkpoint={last}", f"train_dir={tmp_path}"]))
    if "num_envs=64" not in other:  # test/play only need the same network, not the same env count
        with pytest.raises(CheckpointError, match="other settings"):
            run_main(_cfg(other + ["sim_device=cpu", "test=True", f"checkpoint={last}"]))
    assert not any(tmp_path.iterdir())


def test_user_errors_share_one_base_with_exit_codes():
    assert issubclass(ConfigError, UserError) and issubclass(CheckpointError, UserError)
    assert ConfigError.exit_code == 2


def test_a_checkpoint_of_the_transition_counted_schedule_still_plays_but_does_not_resume(finished, tmp_path):
    """Checkpoints written before the schedules were per iteration (learning_starts, buffer_size, eps_decay_steps)."""
    state = torch.load(finished / "nn" / "last.pt", weights_only=True)
    loop, algo = state["config"]["train"]["loop"], state["config"]["train"]["algo"]
    loop["learning_starts"] = loop.pop("warmup_iterations") * 16
    loop["buffer_size"] = loop.pop("buffer_per_env") * 16
    algo["eps_decay_steps"] = algo.pop("eps_decay_iterations") * 16
    old = tmp_path / "old.pt"
    torch.save(state, old)
    play = subprocess.run(PLAY + [str(old), "--episodes", "4"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert play.returncode == 0, play.stderr
    with pytest.raises(CheckpointError, match="learning_starts"):
        checkpoint.read(str(old), "cpu", "resume", resolve(_cfg(SMALL + [f"checkpoint={old}"])))


def test_task_without_a_dqn_config_names_the_train_configs_it_has(tmp_path):
    proc = subprocess.run(TRAIN + ["task=Pendulum", f"train_dir={tmp_path}"], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert "train=PendulumDDPG" in _one_line_error(proc)


def test_seed_minus_one_draws_a_seed_and_is_refused_with_several_ranks(tmp_path, capsys):
    cfg = resolve(_cfg(["seed=-1", f"train_dir={tmp_path}"]))
    assert 0 <= cfg["seed"] < 100_000 and f"seed=-1: drew seed={cfg['seed']}" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="seed=-1; allowed: an explicit seed with multi_gpu=True"):
        resolve(_cfg(["seed=-1", "multi_gpu=True"]))


def test_headless_false_is_refused_rather_than_ignored():
    with pytest.raises(ConfigError, match="headless=False; allowed: True"):
        run_main(_cfg(["headless=False"]))


def test_test_mode_evaluates_num_envs_episodes_when_given(finished, capsys):
    last = str(finished / "nn" / "last.pt")
    base = ["task=CartPole-v1", "train=CartPole-v1DQN", "sim_device=cpu", "test=True", f"checkpoint={last}"]
    for extra, episodes in (([], 256), (["num_envs=8"], 8), (["num_eval_envs=5"], 5)):
        assert run_main(_cfg(base + extra)) == 0
        result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert result["eval/episodes"] == episodes, (extra, result)


def test_every_run_logs_the_sweep_objective(finished):
    import yaml
    rows = [json.loads(line) for line in (finished / "metrics.jsonl").read_text().splitlines()]
    ends = [r for r in rows if "eval/iterations_to_solve" in r]  # one per run (a resume of this folder adds one)
    assert ends and ends[0]["eval/solved"] == 0.0 and ends[0]["eval/iterations_to_solve"] == 2 * 60
    sweep = yaml.safe_load(open(os.path.join(ROOT, "scripts", "wandb_sweeps", "CartPole-v1DQN.yaml")))
    assert sweep["metric"] == {"name": "eval/iterations_to_solve", "goal": "minimize"}
