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


def test_capture_video_writes_videos_with_the_asked_length_during_training(tmp_path):
    """Pendulum never terminates (200-step episodes), so each video holds capture_video_len steps + the first frame;
    one every capture_video_freq iterations."""
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), "task=Pendulum",
                           "train=PendulumDDPG", "num_envs=16", "num_eval_envs=4", "train.loop.verify_episodes=0",
                           "max_iterations=40", "capture_video=True", "capture_video_freq=20", "capture_video_len=30",
                           "sim_device=cpu", f"train_dir={tmp_path}"], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    folder = tmp_path / "PendulumDDPG_seed42" / "videos"
    videos = sorted(os.listdir(folder))
    assert videos == [f"step_{20 * 16:012d}.mp4", f"step_{40 * 16:012d}.mp4"]
    assert [_frames(str(folder / v)) for v in videos] == [31, 31]


def test_capture_video_settings_are_checked_before_any_work(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), "task=Pendulum",
                           "train=PendulumDDPG", "capture_video=True", "capture_video_len=0", "sim_device=cpu",
                           f"train_dir={tmp_path}"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 2 and "invalid config: capture_video_len=0; allowed: an integer >= 1" in proc.stderr


@pytest.mark.parametrize("steps", [12])
def test_play_video_writes_one_episode(tmp_path, steps):
    run = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), "task=Pendulum",
                          "train=PendulumDDPG", "num_envs=16", "num_eval_envs=4", "train.loop.verify_episodes=0",
                          "max_iterations=20", "sim_device=cpu", f"train_dir={tmp_path}"], capture_output=True,
                         text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    video = tmp_path / "ep.mp4"
    play = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "play.py"),
                           str(tmp_path / "PendulumDDPG_seed42" / "nn" / "last.pt"), "--episodes", "2", "--video",
                           str(video), "--gif-steps", str(steps)], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
    assert play.returncode == 0, play.stderr[-2000:]
    result = json.loads(play.stdout.strip().splitlines()[-1])
    assert result["video"] == str(video) and result["video_frames"] == steps + 1 == _frames(str(video))
