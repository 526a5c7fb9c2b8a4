"""Videos: ``capture_video=True`` records the deterministic policy during training, headless, into the run folder;
``play.py --video`` records one episode. Frame counts are checked in the written files."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _frames(path):
    """Frames in an MP4 (ffmpeg's count) or a GIF (Pillow's)."""
    if path.endswith(".mp4"):
        import imageio_ffmpeg
        return imageio_ffmpeg.count_frames_and_secs(path)[0]
    from PIL import Image
    return Image.open(path).n_frames


def _train(args, tmp_path, env=None):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), "sim_device=cpu",
                           "num_envs=16", "num_eval_envs=4", f"train_dir={tmp_path}", *args], capture_output=True,
                          text=True, timeout=300, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc


def test_capture_video_writes_videos_with_the_asked_length_during_training(tmp_path):
    """Pendulum never terminates (200-step episodes), so each video holds capture_video_len steps + the first frame;
    one of the untrained policy (step 0), one every capture_video_freq iterations (the last one is the final
    policy's)."""
    _train(["task=Pendulum", "train=PendulumDDPG", "train.loop.verify_episodes=0", "max_iterations=40",
            "capture_video=True", "capture_video_freq=20", "capture_video_len=30"], tmp_path)
    folder = tmp_path / "PendulumDDPG_envs16_seed42" / "videos"
    videos = sorted(os.listdir(folder))
    assert videos == [f"step_{0:012d}.mp4", f"step_{20 * 16:012d}.mp4", f"step_{40 * 16:012d}.mp4"]
    assert [_frames(str(folder / v)) for v in videos] == [31, 31, 31]


SOLVES = ["task=CartPole-v1", "train=CartPole-v1DQN", "train.loop.warmup_iterations=4", "train.loop.batch_size=32",
          "train.loop.eval_interval=20", "train.loop.eval_target=5", "train.loop.verify_episodes=8",
          "max_iterations=1000", "capture_video=True", "capture_video_freq=500", "capture_video_len=50"]


def test_a_run_that_solves_before_capture_video_freq_records_its_first_and_final_policy(tmp_path):
    proc = _train(SOLVES + ["experiment=s"], tmp_path)
    summary = json.loads(proc.stdout.split("[isaac_rl] summary ", 1)[1].splitlines()[0])
    assert summary["solved_at"] == 20 * 16 and summary["iterations"] == 20
    assert sorted(os.listdir(tmp_path / "s" / "videos")) == [f"step_{0:012d}.mp4", f"step_{20 * 16:012d}.mp4"]
    assert "GIF" not in proc.stdout


def test_without_an_encoder_the_run_says_once_that_it_writes_gifs(tmp_path):
    (tmp_path / "shim").mkdir()
    (tmp_path / "shim" / "imageio_ffmpeg.py").write_text("raise ImportError('no encoder in this test')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "shim"))
    proc = _train(SOLVES + ["experiment=g", "max_iterations=60", "train.loop.eval_target=1e9",
                            "capture_video_freq=20"], tmp_path, env=env)
    folder = tmp_path / "g" / "videos"
    assert sorted(os.listdir(folder)) == [f"step_{k * 20 * 16:012d}.gif" for k in range(4)]
    said = [line for line in proc.stdout.splitlines() if "GIF" in line]
    assert said == [f"[isaac_rl] capture_video: no MP4 encoder installed (pip install imageio-ffmpeg, the [viz] "
                    f"extra); writing GIFs instead ({folder / f'step_{0:012d}.gif'})"]


def test_recording_does_not_change_the_run(tmp_path):
    """The same run with and without capture_video ends with bit-identical weights: the recorder draws nothing from
    the random stream training explores with (its episodes end and restart within the recording)."""
    import torch

    common = ["task=CartPole-v1", "train=CartPole-v1DQN", "train.loop.warmup_iterations=4", "train.loop.batch_size=32",
              "train.loop.eval_interval=0", "train.loop.verify_episodes=0", "max_iterations=60"]
    _train(common + ["experiment=plain"], tmp_path)
    _train(common + ["experiment=video", "capture_video=True", "capture_video_freq=10", "capture_video_len=200"],
           tmp_path)
    plain, video = (torch.load(tmp_path / e / "nn" / "last.pt", weights_only=True)["trainer"]
                    for e in ("plain", "video"))
    assert plain["iteration"] == video["iteration"] == 60
    for name, net in plain["agent"].items():
        if isinstance(net, dict):
            for key, tensor in net.items():
                if isinstance(tensor, torch.Tensor):
                    assert torch.equal(tensor, video["agent"][name][key]), (name, key)
    assert torch.equal(plain["obs"], video["obs"])
    assert len(os.listdir(tmp_path / "video" / "videos")) == 7  # steps 0, 160, ..., 960


def test_capture_video_settings_are_checked_before_any_work(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), "task=Pendulum",
                           "train=PendulumDDPG", "capture_video=True", "capture_video_len=0", "sim_device=cpu",
                           f"train_dir={tmp_path}"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 2 and "invalid config: capture_video_len=0; allowed: an integer >= 1" in proc.stderr


@pytest.mark.parametrize("steps", [12])
def test_play_video_writes_one_episode(tmp_path, steps):
    _train(["task=Pendulum", "train=PendulumDDPG", "train.loop.verify_episodes=0", "max_iterations=20",
            "experiment=p"], tmp_path)
    video = tmp_path / "ep.mp4"
    play = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "play.py"),
                           str(tmp_path / "p" / "nn" / "last.pt"), "--episodes", "2", "--video",
                           str(video), "--gif-steps", str(steps)], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
    assert play.returncode == 0, play.stderr[-2000:]
    result = json.loads(play.stdout.strip().splitlines()[-1])
    assert result["video"] == str(video) and result["video_frames"] == steps + 1 == _frames(str(video))
