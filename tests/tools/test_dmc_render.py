"""Pictures of the DeepMind Control Suite cart-poles (tasks/dmc_cartpole.py) draw the cart and every pole of the chain:
pixels of each pole's colour where the state puts that pole, in frames drawn directly, in ``play.py --gif`` and in
``capture_video`` files of real ``scripts/train.py`` / ``scripts/play.py`` runs; ``play.py --sim dmc`` plays the
policy in dm_control itself."""

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from isaac_rl.tools.render import DMC_SLIDER_LIMIT, HEIGHT, POLE_COLOURS, WIDTH, draw_dmc_cartpole
from tests.conftest import ROOT

TRAIN = [sys.executable, os.path.join(ROOT, "scripts", "train.py"), "sim_device=cpu", "num_envs=16",
         "num_eval_envs=4", "train=CartpoleBalanceDDPG", "train.loop.verify_episodes=0", "train.loop.eval_interval=0",
         "train.loop.warmup_iterations=2", "train.loop.batch_size=32", "max_iterations=4"]
PLAY = [sys.executable, os.path.join(ROOT, "scripts", "play.py")]


def _pixel(x_m, y_m, n_poles):
    """Picture coordinates of the point ``x_m`` m along the slider and ``y_m`` m above it (render.py's scale)."""
    ground = HEIGHT / 2
    scale = min(WIDTH / (2.4 * DMC_SLIDER_LIMIT), 0.95 * ground / n_poles)
    return int(round(WIDTH / 2 + x_m * scale)), int(round(ground - y_m * scale))


def _near(img, xy, colour, radius=2):
    """Whether a pixel within ``radius`` of ``xy`` has ``colour`` (within 12 per channel: GIF palettes)."""
    a = np.asarray(img.convert("RGB"), dtype=int)
    x, y = xy
    patch = a[max(y - radius, 0):y + radius + 1, max(x - radius, 0):x + radius + 1]
    return bool((np.abs(patch - np.array(colour)).max(-1) <= 12).any())


def _pole_midpoints(state):
    """World midpoints (m) of each pole of a DMC state ``[x, theta_1 .. theta_n, ...]`` (1 m poles, relative hinges,
    positive angles lean towards +x)."""
    n = len(state) // 2 - 1
    x, y, phi, mids = float(state[0]), 0.0, 0.0, []
    for k in range(n):
        phi += float(state[1 + k])
        mids.append((x + 0.5 * math.sin(phi), y + 0.5 * math.cos(phi)))
        x, y = x + math.sin(phi), y + math.cos(phi)
    return mids


@pytest.mark.parametrize("hinges", [[0.3], [0.0, math.pi / 2], [-0.4, 0.8, -0.9], [math.pi, 0.0, 0.0]],
                         ids=["one", "two-bent", "three-zigzag", "three-hanging"])
def test_each_pole_is_drawn_where_the_state_puts_it(hinges):
    n = len(hinges)
    state = torch.tensor([0.5] + hinges + [0.0] * (n + 1))
    img = draw_dmc_cartpole(state)
    for k, (mx, my) in enumerate(_pole_midpoints(state)):
        assert _near(img, _pixel(mx, my, n), POLE_COLOURS[k]), (k, (mx, my))
        for j in range(n):  # and no other pole's colour at its midpoint (the chain is not drawn all in one colour)
            if j != k and POLE_COLOURS[j] != POLE_COLOURS[k]:
                assert not _near(img, _pixel(mx, my, n), POLE_COLOURS[j], radius=0), (k, j)


def _frames(path):
    """The RGB frames of a GIF (Pillow) or an MP4 (imageio-ffmpeg) as PIL images."""
    from PIL import Image, ImageSequence
    if path.endswith(".gif"):
        return [f.convert("RGB") for f in ImageSequence.Iterator(Image.open(path))]
    import imageio_ffmpeg
    reader = imageio_ffmpeg.read_frames(path)
    meta = next(reader)
    return [Image.frombytes("RGB", meta["size"], frame) for frame in reader]


def _has_colour(img, colour):
    a = np.asarray(img, dtype=int)
    return int((np.abs(a - np.array(colour)).max(-1) <= 12).sum())


def test_play_gif_and_capture_video_draw_all_three_poles(tmp_path):
    proc = subprocess.run(TRAIN + ["task=CartpoleThreePoles", f"train_dir={tmp_path}", "experiment=r",
                                   "capture_video=True", "capture_video_freq=1000", "capture_video_len=5"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    videos = sorted(os.listdir(tmp_path / "r" / "videos"))
    assert len(videos) == 2, videos  # step 0 and the final policy
    gif = tmp_path / "play.gif"
    played = subprocess.run(PLAY + [str(tmp_path / "r" / "nn" / "last.pt"), "--episodes", "2", "--gif", str(gif),
                                    "--gif-steps", "5"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert played.returncode == 0, played.stderr[-2000:]
    for path in [str(tmp_path / "r" / "videos" / v) for v in videos] + [str(gif)]:
        frames = _frames(path)
        # the reset and 5 steps (a 1000-step episode does not end); a GIF merges frames that do not change
        assert len(frames) == 6 if path.endswith(".mp4") else 1 <= len(frames) <= 6, (path, len(frames))
        for frame in frames:
            assert frame.size == (WIDTH, HEIGHT)
            # the swing-up start: the chain hangs below the slider, each pole a line of ~70 x 8 px in its colour
            # (MP4 coding blurs its edges: 180-260 pixels within 12 of it; none without the pole)
            assert all(_has_colour(frame, c) > 100 for c in POLE_COLOURS), (path, [_has_colour(frame, c)
                                                                                 for c in POLE_COLOURS])


def test_play_sim_dmc_plays_in_dm_control(tmp_path):
    pytest.importorskip("dm_control", reason="dm_control is the dev extra's reference simulator")
    proc = subprocess.run(TRAIN + ["task=CartpoleBalance", f"train_dir={tmp_path}", "experiment=r"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    played = subprocess.run(PLAY + [str(tmp_path / "r" / "nn" / "last.pt"), "--episodes", "2", "--sim", "dmc"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert played.returncode == 0, played.stderr[-2000:]
    assert "sim=dmc" in played.stderr
