"""scripts/play.py on a real checkpoint: deterministic episodes, GIF, learning curve, TorchScript/ONNX export."""

import hashlib
import json
import os
import subprocess
import sys

import pytest
import torch

from isaac_rl.app import checkpoint
from isaac_rl.app.build import make_trained_algorithm
from tests.conftest import ROOT

TRAIN = [sys.executable, os.path.join(ROOT, "scripts", "train.py")]
PLAY = [sys.executable, os.path.join(ROOT, "scripts", "play.py")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A short CartPole-v1 DQN run: checkpoint + metrics file."""
    out = tmp_path_factory.mktemp("play")
    proc = subprocess.run(TRAIN + ["task=CartPole-v1", "sim_device=cpu", "num_envs=16", "max_iterations=60",
                                   "train.loop.warmup_iterations=8", "train.loop.log_interval=10",
                                   "train.loop.eval_interval=30", f"train_dir={out}", "experiment=p"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return out / "p"


def _play(args):
    proc = subprocess.run(PLAY + args, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _policy(ckpt_path):
    state = checkpoint.load(str(ckpt_path), "cpu")
    _, algo = make_trained_algorithm(state["config"], state["trainer"]["agent"], "torch", 1, "cpu", 0)
    return algo.act


def test_play_reports_episodes_and_exports_the_same_policy(trained, tmp_path):
    ckpt = trained / "nn" / "last.pt"
    ts, gif, png = tmp_path / "policy.pt", tmp_path / "roll.gif", tmp_path / "curve.png"
    result = _play([str(ckpt), "--episodes", "7", "--export", str(ts), "--gif", str(gif), "--gif-steps", "40",
                    "--curve", str(png)])
    assert result["episodes"] == 7 and result["eval/mean_length"] >= 1
    assert result["eval/mean_return"] == pytest.approx(result["eval/mean_length"])  # +1 per step in CartPole-v1
    assert 2 <= result["gif_frames"] <= 41 and gif.read_bytes()[:6] == b"GIF89a"
    assert result["curve_points"] > 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    exported = torch.jit.load(str(ts))
    obs = torch.randn(4096, 4) * torch.tensor([1.0, 1.0, 0.1, 1.0])
    expected = _policy(ckpt)(obs)
    actions = exported(obs)
    assert actions.shape == (4096, 1) and set(actions.unique().tolist()) <= {-1.0, 1.0}
    assert torch.equal(actions, expected)
    sidecar = json.loads((tmp_path / "policy.pt.json").read_text())
    assert sidecar["format"] == "torchscript" and sidecar["task"] == "CartPole-v1" and sidecar["algorithm"] == "DQN"
    assert sidecar["input"]["order"] == ["cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity"]
    assert sidecar["input"]["shape"] == ["batch", 4] and sidecar["input"]["clip"] is None
    assert sidecar["output"]["action_scale"] == 10.0 and sidecar["discrete_efforts"] == [-1.0, 1.0]
    assert sidecar["control_dt"] == 0.02 and sidecar["max_episode_steps"] == 500
    stored = json.dumps(checkpoint.read(str(ckpt), "cpu", "play")["config"], sort_keys=True, default=str)
    assert sidecar["config_sha256"] == hashlib.sha256(stored.encode()).hexdigest()


@pytest.mark.skipif(not hasattr(torch, "export") or not hasattr(torch.export, "save"), reason="needs torch >= 2.1")
def test_torch_export_program_gives_the_same_actions_at_any_batch_size(trained, tmp_path):
    ckpt = trained / "nn" / "last.pt"
    path = tmp_path / "policy.pt2"
    result = _play([str(ckpt), "--episodes", "2", "--export-program", str(path)])
    assert result["export_program"] == str(path)
    program = torch.export.load(str(path)).module()
    for n in (1, 3, 4096):
        obs = torch.randn(n, 4) * torch.tensor([1.0, 1.0, 0.1, 1.0])
        assert torch.equal(program(obs), _policy(ckpt)(obs))
    assert json.loads((tmp_path / "policy.pt2.json").read_text())["format"] == "torch.export"


def test_play_is_deterministic_and_runs_in_real_gymnasium(trained):
    ckpt = str(trained / "nn" / "last.pt")
    a = _play([ckpt, "--episodes", "5", "--seed", "3"])
    b = _play([ckpt, "--episodes", "5", "--seed", "3"])
    assert a == b
    gym = _play([ckpt, "--episodes", "5", "--sim", "gymnasium"])
    assert gym["sim"] == "gymnasium" and gym["eval/mean_return"] >= 1


def test_onnx_export_gives_the_same_actions(trained, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    ckpt = trained / "nn" / "last.pt"
    path = tmp_path / "policy.onnx"
    _play([str(ckpt), "--episodes", "2", "--onnx", str(path)])
    obs = torch.randn(1000, 4) * torch.tensor([1.0, 1.0, 0.1, 1.0])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (actions,) = session.run(None, {"obs": obs.numpy()})
    assert torch.equal(torch.from_numpy(actions), _policy(ckpt)(obs))


def test_play_rejects_bad_arguments(trained):
    proc = subprocess.run(PLAY + [str(trained / "nn" / "last.pt"), "--episodes", "0"], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert proc.returncode != 0 and "--episodes must be >= 1, got 0" in proc.stderr
    proc = subprocess.run(PLAY + ["no/such.pt"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode != 0 and "'no/such.pt' does not exist" in proc.stderr
