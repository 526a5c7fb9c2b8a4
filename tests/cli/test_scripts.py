"""Real subprocess runs of scripts/train.py: outputs, config errors, SIGTERM + resume, wandb offline, torchrun/gloo."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.conftest import ROOT

TRAIN = [sys.executable, os.path.join(ROOT, "scripts", "train.py")]
SMALL = ["task=Cartpole", "train=CartpoleDQN", "num_envs=16", "sim_device=cpu", "train.loop.warmup_iterations=4",
         "train.loop.batch_size=32", "train.loop.log_interval=10", "train.loop.eval_interval=20", "num_eval_envs=4"]


def _run(args, tmp_path, timeout=300, env=None):
    proc = subprocess.run(TRAIN + SMALL + [f"train_dir={tmp_path}"] + args, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)
    return proc


def _summaries(stdout):
    return [json.loads(line.split("summary ", 1)[1]) for line in stdout.splitlines() if "[isaac_rl] summary" in line]


def test_train_writes_config_checkpoint_metrics_and_tensorboard(tmp_path):
    proc = _run(["experiment=smoke", "max_iterations=40"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / "smoke"
    assert (run / "config.yaml").exists() and list((run / "summaries").iterdir())
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("eval/complete" in r for r in rows) and rows[-1]["step"] == 40 * 16
    final = [r for r in rows if "eval/verified_episodes" in r][-1]  # the policy the run stopped with, verified
    assert final["eval/verified_episodes"] == 1000 and "eval/verified_mean_return" in final
    state = torch.load(run / "nn" / "last.pt", weights_only=True)
    assert state["trainer"]["iteration"] == 40 and state["config"]["num_envs"] == 16
    test = _run(["experiment=smoke", "test=True", f"checkpoint={run / 'nn' / 'last.pt'}"], tmp_path)
    assert test.returncode == 0, test.stderr
    result = json.loads(test.stdout.strip().splitlines()[-1])
    assert {"eval/mean_return", "eval/std_return", "eval/mean_length"} <= set(result)


@pytest.mark.parametrize("override, key", [("num_envs=0", "num_envs=0"), ("sim=bullet", "sim='bullet'"),
                                            ("train.algo.gamma=1.5", "train.algo.gamma=1.5"),
                                            ("resume=sometimes", "resume='sometimes'"),
                                            ("train.algo.layer_norm=2", "train.algo.layer_norm=2"),
                                            ("population_vary.train.algo.lr=[1e-3,2e-3]",
                                             "population_vary.train.algo.lr; allowed: population_vary.<key> "
                                             "with a train.algo key that can vary per agent (lr, actor_lr"),
                                            ("population_vary.hidden=[[8],[16]]", "population_vary.hidden;")])
def test_invalid_config_fails_before_training_naming_the_key(tmp_path, override, key):
    proc = _run([override, "experiment=bad"], tmp_path, timeout=120)
    assert proc.returncode != 0 and f"invalid config: {key}" in proc.stderr
    assert not (tmp_path / "bad").exists()


def test_cuda_graph_without_a_cuda_device_fails_before_training(tmp_path):
    """sim_device=auto resolves to the CPU when no CUDA device is visible; cuda_graph=True then fails naming both."""
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    proc = _run(["sim_device=auto", "rl_device=auto", "cuda_graph=True", "experiment=nographs"], tmp_path,
                timeout=120, env=env)
    assert proc.returncode != 0
    assert "cuda_graph=True needs a CUDA device, but sim_device=auto resolved to cpu" in proc.stderr, proc.stderr
    assert not (tmp_path / "nographs").exists()


def test_sigterm_saves_and_resume_auto_continues(tmp_path):
    args = TRAIN + SMALL + [f"train_dir={tmp_path}", "experiment=pre", "max_iterations=1000000",
                            "train.loop.eval_interval=0"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    metrics = tmp_path / "pre" / "metrics.jsonl"
    deadline = time.time() + 120
    while (not metrics.exists() or len(metrics.read_text().splitlines()) < 3) and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    summary = _summaries(out)[0]
    assert summary["stopped_by_signal"] and summary["iterations"] < 1000000
    saved = torch.load(tmp_path / "pre" / "nn" / "last.pt", weights_only=True)["trainer"]["iteration"]
    assert saved == summary["iterations"]
    resumed = _run(["experiment=pre", "resume=auto", f"max_iterations={saved + 20}", "train.loop.eval_interval=0"],
                   tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert f"at iteration {saved}" in resumed.stdout and _summaries(resumed.stdout)[0]["iterations"] == saved + 20


def test_wandb_offline_logs_metrics(tmp_path):
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true")
    proc = _run(["experiment=wb", "max_iterations=40", "wandb_activate=True", "wandb_project=isaac_rl_test"],
                tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    records = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path / "wb" / "wandb") for f in fs
               if f.endswith(".wandb")]
    assert len(records) == 1, records
    data = open(records[0], "rb").read()  # wandb's record log: the history rows carry the metric keys
    rows = [json.loads(line) for line in (tmp_path / "wb" / "metrics.jsonl").read_text().splitlines()]
    # Every evaluation row, complete or cut short once the target was out of reach (eval/complete = 0 or 1).
    n_eval = sum("eval/complete" in r for r in rows)
    assert n_eval >= 2 and data.count(b"eval/complete") >= n_eval and b"charts/SPS" in data


def test_torchrun_gloo_keeps_ranks_identical(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           os.path.join(ROOT, "scripts", "train.py")] + SMALL + [
        f"train_dir={tmp_path}", "experiment=ddp", "multi_gpu=True", "max_iterations=60"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summaries = sorted(_summaries(proc.stdout), key=lambda s: s["rank"])
    assert [s["rank"] for s in summaries] == [0, 1]
    assert summaries[0]["gradient_steps"] == summaries[1]["gradient_steps"] > 0
    assert summaries[0]["param_checksum"] == summaries[1]["param_checksum"]


@pytest.mark.parametrize("task, train", [("Cartpole", "CartpolePPO"), ("CartPole-v1", "CartPole-v1PQN")])
def test_torchrun_gloo_keeps_on_policy_ranks_identical(tmp_path, task, train):
    """Two gloo ranks of an on-policy learner end with identical weights: gradients are averaged, and what PPO keeps
    outside its optimizer (the KL that sets its learning rate, the observation statistics, stored as parameters) is
    computed from both ranks' rollouts (without that, PPO's ranks drifted apart)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           os.path.join(ROOT, "scripts", "train.py"), f"task={task}", f"train={train}", "num_envs=64",
           "sim_device=cpu", "max_iterations=20", "train.loop.verify_episodes=0", "train.loop.eval_target=null",
           f"train_dir={tmp_path}", "experiment=ddp", "multi_gpu=True"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summaries = sorted(_summaries(proc.stdout), key=lambda s: s["rank"])
    assert [s["rank"] for s in summaries] == [0, 1]
    assert summaries[0]["gradient_steps"] == summaries[1]["gradient_steps"] > 0
    assert summaries[0]["param_checksum"] == summaries[1]["param_checksum"]


def test_kill9_during_save_never_corrupts_the_last_checkpoint(tmp_path):
    """SIGKILL a run that checkpoints every iteration (a large replay buffer makes saves dominate), several times;
    every kill must leave a loadable last.pt, at least one kill must land mid-save (a partial temporary file is left),
    and resume=auto must continue from last.pt and clear the partial files."""
    last = tmp_path / "k9" / "nn" / "last.pt"
    args = TRAIN + [f"train_dir={tmp_path}", "experiment=k9", "task=Cartpole", "sim_device=cpu", "num_envs=8192",
                    "max_iterations=1000000", "train.loop.eval_interval=0", "train.loop.checkpoint_interval=1",
                    "train.loop.log_interval=1", "train.loop.warmup_iterations=0", "train.loop.batch_size=32",
                    "train.loop.buffer_per_env=245", "train.algo.n_step=3", "resume=auto"]
    mid_save_kills, iterations = 0, []
    for attempt in range(4):
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
        deadline = time.time() + 120
        start_mtime = last.stat().st_mtime if last.exists() else 0.0
        while (not last.exists() or last.stat().st_mtime == start_mtime or last.stat().st_size < 8 << 20) \
                and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        if attempt % 2 == 0:  # aim: kill as soon as the next save has opened its temporary file
            while not list(last.parent.glob(".tmp-*.pt")) and time.time() < deadline and proc.poll() is None:
                time.sleep(0.002)
        else:  # anywhere in the save/train cycle
            time.sleep(0.05 + 0.07 * attempt)
        proc.kill()
        proc.wait(timeout=60)
        partial = list(last.parent.glob(".tmp-*.pt"))
        mid_save_kills += bool(partial)
        state = torch.load(last, weights_only=True)  # never torn
        iterations.append(state["trainer"]["iteration"])
        # 3-step returns: a window stores its first transitions after 3 iterations, then 8192 per iteration.
        assert state["trainer"]["buffer"]["size"] == min(8192 * (iterations[-1] - 2), 245 * 8192)
    assert mid_save_kills >= 1, "no kill landed during a save; the test did not exercise the failure"
    assert iterations == sorted(iterations) and iterations[-1] > iterations[0]  # each restart resumed and went on
    assert iterations[-1] >= 4


def test_torchrun_two_gloo_ranks_reach_the_cartpole_bar(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           os.path.join(ROOT, "scripts", "train.py"), "task=CartPole-v1", "sim_device=cpu", "seed=1", "torch_threads=1",
           f"train_dir={tmp_path}", "experiment=ddp_bar", "multi_gpu=True"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summaries = sorted(_summaries(proc.stdout), key=lambda s: s["rank"])
    assert [s["rank"] for s in summaries] == [0, 1]
    assert summaries[0]["solved_at"] is not None and summaries[0]["eval/mean_return"] >= 475.0, summaries[0]
    assert summaries[0]["solved_at"] == summaries[1]["solved_at"]  # both ranks left the loop together
    assert summaries[0]["param_checksum"] == summaries[1]["param_checksum"]
