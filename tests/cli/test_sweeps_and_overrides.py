"""Real subprocess runs of scripts/train.py: ``--multirun`` sweeps run every job, IsaacGymEnvs' keys are accepted,
and overrides Hydra would report in its own words (unparsable, unknown, bad interpolations) are one line."""

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT

TRAIN = [sys.executable, os.path.join(ROOT, "scripts", "train.py")]
TINY = ["task=Cartpole", "train=CartpoleDQN", "num_envs=16", "sim_device=cpu", "train.loop.warmup_iterations=4",
        "train.loop.batch_size=32", "train.loop.log_interval=10", "train.loop.eval_interval=20", "num_eval_envs=4",
        "train.loop.verify_episodes=10", "max_iterations=30"]


def _train(args, tmp_path, timeout=300):
    return subprocess.run(TRAIN + args + [f"train_dir={tmp_path / 'runs'}"], capture_output=True, text=True,
                          timeout=timeout, cwd=tmp_path)


def _errors(stderr):
    return [line for line in stderr.splitlines() if line.startswith("[isaac_rl] error:")]


def test_multirun_runs_every_job_and_writes_nothing_into_the_current_folder(tmp_path):
    proc = _train(["-m", *TINY, "seed=1,2", "experiment=sweep_${seed}"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    for seed in (1, 2):
        assert (tmp_path / "runs" / f"sweep_{seed}" / "nn" / "last.pt").is_file(), proc.stdout
    assert proc.stdout.count("[isaac_rl] summary") == 2
    assert sorted(os.listdir(tmp_path)) == ["runs"]  # no multirun/ or outputs/ beside it
    records = list((tmp_path / "runs" / "multirun").glob("*/multirun.yaml"))  # Hydra's record of the sweep
    assert len(records) == 1


def test_multirun_reports_a_bad_job_goes_on_and_exits_with_its_code(tmp_path):
    proc = _train(["-m", *TINY, "seed=1", "train.algo.gamma=0.99,1.5,0.98", "experiment=g_${train.algo.gamma}"],
                  tmp_path)
    assert proc.returncode == 2, proc.stderr
    errors = _errors(proc.stderr)
    assert len(errors) == 1 and errors[0].startswith("[isaac_rl] error: invalid config: train.algo.gamma=1.5;"), errors
    assert "sweep job #1 ended with exit code 2" in proc.stderr
    assert (tmp_path / "runs" / "g_0.99" / "nn" / "last.pt").is_file()  # before the bad job
    assert (tmp_path / "runs" / "g_0.98" / "nn" / "last.pt").is_file()  # after it
    assert not (tmp_path / "runs" / "g_1.5").exists()


def test_isaacgymenvs_keys_are_accepted_and_not_recorded(tmp_path):
    proc = _train([*TINY, "pipeline=cpu", "sim_device=auto", "rl_device=auto", "physics_engine=physx",
                   "force_render=False", "experiment=ige"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    config = (tmp_path / "runs" / "ige" / "config.yaml").read_text()
    assert "sim_device: cpu" in config  # pipeline=cpu: auto -> cpu
    assert "pipeline" not in config and "physics_engine" not in config and "force_render" not in config


@pytest.mark.parametrize("args, line", [
    (["pipeline=cpu", "sim_device=cuda:0", "rl_device=cuda:0"],
     "invalid config: sim_device='cuda:0'; allowed: cpu or auto with pipeline=cpu"),
    (["pipeline=tpu"], "invalid config: pipeline='tpu'; allowed: gpu (tensors stay on sim_device) or cpu"),
    (["physics_engine=flex"], "invalid config: physics_engine='flex'; allowed: physx"),
    (["force_render=True"], "invalid config: force_render=True; allowed: False"),
    (["pipelin=gpu"], "invalid config: pipelin=gpu: the config has no key 'pipelin'; did you mean pipeline?"),
    (["sweep=CartPole-v1DQN"], "invalid config: sweep=CartPole-v1DQN: the config has no key 'sweep';"),
    (["train.loop.batch_sise=64"], "invalid config: train.loop.batch_sise=64: train.loop has no key 'batch_sise'; "
                                   "did you mean train.loop.batch_size?"),
    (["=5"], "invalid override '=5': it names no key; allowed: key=value"),
    (["experiment=ÿé"], "invalid override 'experiment=ÿé' (LexerNoViableAltException"),
    (["experiment=${nope}"], "invalid config: experiment: Interpolation key 'nope' not found; allowed: ${key}"),
    (["train.loop.warmup_iterations=30"], "invalid config: train.loop.warmup_iterations=30; allowed: fewer than "
                                          "the run's train.loop.max_iterations (30)"),
    (["train.loop.batch_size=5000"], "invalid config: train.loop.batch_size=5000; allowed: at most the replay "
                                     "buffer's train.loop.buffer_per_env x num_envs = 256 x 16 = 4096 transitions"),
    (["train.algo.n_step=20", "train.loop.buffer_per_env=10", "train.loop.batch_size=16"],
     "invalid config: train.algo.n_step=20; allowed: at most train.loop.buffer_per_env (10)"),
])
def test_bad_overrides_fail_in_one_line_before_any_work(tmp_path, args, line):
    proc = _train([*TINY, "experiment=bad", *args], tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    errors = _errors(proc.stderr)
    assert len(errors) == 1 and errors[0].startswith("[isaac_rl] error: " + line), proc.stderr
    assert "Traceback" not in proc.stderr and "HYDRA_FULL_ERROR" not in proc.stderr
    assert not (tmp_path / "runs" / "bad").exists()


def test_a_quoted_non_ascii_name_is_accepted(tmp_path):
    proc = _train([*TINY, 'experiment="été"'], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "runs" / "été" / "nn" / "last.pt").is_file()


def test_help_lists_only_hydra_config_groups(tmp_path):
    proc = subprocess.run(TRAIN + ["--help"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    groups = proc.stdout.split("== Config ==")[0]
    assert "task:" in groups and "train:" in groups and "sweep" not in groups
    assert os.path.isfile(os.path.join(ROOT, "scripts", "wandb_sweeps", "CartPole-v1DQN.yaml"))


def test_empty_train_dir_is_refused_before_a_sweep_makes_folders(tmp_path):
    proc = subprocess.run(TRAIN + ["-m", *TINY, "seed=1,2", "train_dir="], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 2
    assert _errors(proc.stderr) == ["[isaac_rl] error: invalid config: train_dir=''; allowed: a folder path (runs "
                                    "by default; . for the current folder)"]
    assert os.listdir(tmp_path) == []


def test_a_stop_signal_ends_the_sweep_after_saving_its_current_job(tmp_path):
    args = TRAIN + ["-m", *TINY, "seed=1,2", "experiment=stop_${seed}", "max_iterations=1000000",
                    "train.loop.eval_interval=0", f"train_dir={tmp_path / 'runs'}"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    metrics = tmp_path / "runs" / "stop_1" / "metrics.jsonl"
    deadline = time.time() + 120
    while (not metrics.exists() or len(metrics.read_text().splitlines()) < 2) and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "[isaac_rl] sweep stopped by a signal during job #0" in err
    assert (tmp_path / "runs" / "stop_1" / "nn" / "last.pt").is_file()
    assert not (tmp_path / "runs" / "stop_2").exists()


def test_a_config_dir_of_the_users_adds_its_groups(tmp_path):
    from isaac_rl.app.cli import bad_override

    (tmp_path / "robot").mkdir()
    assert bad_override(["--config-dir", str(tmp_path), "robot=arm"]) is None
    assert bad_override(["robot=arm"]).startswith("invalid config: robot=arm: the config has no key 'robot';")
