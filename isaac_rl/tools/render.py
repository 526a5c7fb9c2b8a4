"""Rollout pictures for the torch tasks: one frame per step drawn with Pillow (no display, no OpenGL), saved as an
MP4 (``imageio-ffmpeg``) or a GIF; and a learning-curve PNG of a run's ``metrics.jsonl`` drawn with matplotlib. All
three packages are the ``viz`` extra (``pip install "isaac_rl[viz]"``); every file is written atomically."""

from __future__ import annotations

import json
import math
import os
from typing import Any, Callable, Dict, List, Sequence, Tuple

import torch

from isaac_rl.core.errors import UserError
from isaac_rl.core.settings import is_num
from isaac_rl.tools.files import atomic_output

WIDTH, HEIGHT = 480, 320
POLE_COLOURS = ((200, 130, 60), (60, 160, 90), (170, 70, 170))  # pole 1, 2, 3 (then again)
# DeepMind Control Suite cart-poles (tasks/dmc_cartpole.py): state [x, theta_1 .. theta_n, velocities], relative hinges
DMC_CARTPOLES = ("CartpoleBalance", "CartpoleBalanceSparse", "CartpoleSwingup", "CartpoleSwingupSparse",
                 "CartpoleTwoPoles", "CartpoleThreePoles")
DMC_SLIDER_LIMIT = 1.8  # m, the soft limit of cartpole.xml's slider
RENDERED = ("Cartpole", "CartPole-v1", "Pendulum") + DMC_CARTPOLES  # the tasks frame_drawer draws


def _image() -> Any:
    try:
        from PIL import Image, ImageDraw
    except ImportError as err:
        raise ImportError("GIF rendering needs Pillow: `pip install pillow`") from err
    img = Image.new("RGB", (WIDTH, HEIGHT), "white")
    return img, ImageDraw.Draw(img)


def draw_cartpole(x: float, thetas: Sequence[float], x_limit: float, pole_length: float,
                  theta_to_plus_x: bool) -> Any:
    """One frame of a cart at ``x`` (m) with a chain of poles, pole k at world angle ``thetas[k]`` (rad from
    upright) hinged at the tip of pole k-1 (one angle: a single pole); returns a PIL image. The scale fits the slider
    (``x_limit`` m either side) and the chain (``len(thetas) x pole_length`` m) upright or hanging into the picture.

    ``theta_to_plus_x``: whether a positive angle leans the pole towards ``+x`` (gymnasium, dm_control) or ``-x``
    (Isaac Gym).
    """
    img, draw = _image()
    ground = HEIGHT / 2  # room for the chain upright and hanging down (swing-up starts)
    scale = min(WIDTH / (2.4 * x_limit), 0.95 * ground / (len(thetas) * pole_length))
    draw.line([(0, ground), (WIDTH, ground)], fill="black", width=1)
    for limit in (-x_limit, x_limit):
        px = WIDTH / 2 + limit * scale
        draw.line([(px, ground - 10), (px, ground + 10)], fill="red", width=2)
    cx = WIDTH / 2 + x * scale
    draw.rectangle([cx - 25, ground - 15, cx + 25, ground + 15], fill=(60, 60, 60))
    base = (cx, ground)
    for k, theta in enumerate(thetas):
        lean = math.sin(theta) if theta_to_plus_x else -math.sin(theta)
        tip = (base[0] + lean * pole_length * scale, base[1] - math.cos(theta) * pole_length * scale)
        draw.line([base, tip], fill=POLE_COLOURS[k % len(POLE_COLOURS)], width=8)
        draw.ellipse([base[0] - 4, base[1] - 4, base[0] + 4, base[1] + 4], fill=(80, 80, 200))
        base = tip
    return img


def draw_pendulum(theta: float) -> Any:
    """One frame of a pendulum at ``theta`` (rad, 0 = upright, gymnasium's convention); returns a PIL image."""
    img, draw = _image()
    cx, cy, r = WIDTH / 2, HEIGHT / 2, HEIGHT * 0.4
    tip = (cx + r * math.sin(theta), cy - r * math.cos(theta))
    draw.line([(cx, cy), tip], fill=(200, 80, 80), width=10)
    draw.ellipse([cx - 5, cy - 5, cx + 5, cy + 5], fill="black")
    return img


def frame_drawer(task_name: str, env: Any) -> Callable[[torch.Tensor], Any]:
    """``state [S] -> PIL image`` for a torch task of ``task_name`` (Cartpole, CartPole-v1, Pendulum, the DeepMind
    Control Suite cart-poles with all their poles)."""
    if task_name == "Pendulum":
        return lambda s: draw_pendulum(float(s[0]))
    if task_name == "Cartpole":
        return lambda s: draw_cartpole(float(s[0]), [float(s[2])], env.reset_dist, 2 * env.l, theta_to_plus_x=False)
    if task_name == "CartPole-v1":
        return lambda s: draw_cartpole(float(s[0]), [float(s[2])], env.x_threshold, 2 * env.length,
                                       theta_to_plus_x=True)
    if task_name in DMC_CARTPOLES:
        return draw_dmc_cartpole
    raise ValueError(f"no renderer for task {task_name!r}; allowed: {', '.join(RENDERED)}")


def draw_dmc_cartpole(state: torch.Tensor) -> Any:
    """A DeepMind Control Suite cart-pole state ``[2 (n + 1)]`` (``[x, theta_1 .. theta_n, velocities]``, hinges
    relative to the previous pole, 1 m poles) as a picture of the cart and all ``n`` poles."""
    n_poles = state.shape[0] // 2 - 1
    world = torch.cumsum(state[1:1 + n_poles].double(), 0)  # pole k's world angle: the sum of hinges 1..k
    return draw_cartpole(float(state[0]), [float(t) for t in world], DMC_SLIDER_LIMIT, 1.0, theta_to_plus_x=True)


@torch.no_grad()
def rollout_frames(env: Any, task_name: str, policy: Callable[[torch.Tensor], torch.Tensor], max_steps: int = 500,
                   seed: int = 0) -> List[Any]:
    """Frames (PIL images) of ``policy`` in env 0 of a 1-env torch task, from its reset to its episode's end (the
    last frame repeated) or ``max_steps`` steps: at most ``max_steps + 1`` frames."""
    if not hasattr(env, "state") or env.num_envs != 1:
        raise ValueError("videos are drawn from a torch-backend task with num_envs=1 (sim=torch)")
    draw = frame_drawer(task_name, env)
    obs = env.reset(seed)
    frames: List[Any] = [draw(env.state[:, 0].cpu())]
    for _ in range(max_steps):
        out = env.step(policy(obs))
        ended = bool((out.terminated | out.truncated)[0])
        frames.append(draw(env.state[:, 0].cpu()) if not ended else frames[-1])
        obs = out.obs
        if ended:
            break
    return frames


def write_gif(frames: Sequence[Any], path: str, fps: int = 30) -> str:
    """An animated GIF of ``frames`` at ``path`` (written atomically); returns the path."""
    with atomic_output(path) as tmp, open(tmp, "wb") as f:  # Python writes: a full disk is an OSError
        frames[0].save(f, format="GIF", save_all=True, append_images=list(frames[1:]), duration=int(1000 / fps),
                       loop=0)
    return path


def write_video(frames: Sequence[Any], path: str, fps: int = 30) -> str:
    """An H.264 MP4 of ``frames`` at ``path`` (ffmpeg from ``imageio-ffmpeg``, the ``viz`` extra), written atomically;
    where no encoder is installed, a GIF beside it (``.gif`` instead of ``.mp4``: the training recorder's fallback;
    ``play.py --video`` refuses instead). Returns the path written."""
    try:
        import imageio_ffmpeg
    except ImportError:
        return write_gif(frames, os.path.splitext(path)[0] + ".gif", fps)
    import numpy as np

    width, height = frames[0].size
    with atomic_output(path) as tmp:
        writer = imageio_ffmpeg.write_frames(tmp, (width, height), fps=fps, codec="libx264", pix_fmt_out="yuv420p",
                                             macro_block_size=1, output_params=["-loglevel", "error"])
        writer.send(None)  # start the encoder
        try:
            for frame in frames:
                writer.send(np.ascontiguousarray(np.asarray(frame.convert("RGB"))))
        finally:
            writer.close()  # ends ffmpeg (also on an error or Ctrl-C, before the temporary is deleted)
        try:  # ffmpeg may end without an error on a failed write (a file-size limit): read the count back
            written = imageio_ffmpeg.count_frames_and_secs(tmp)[0]
        except (RuntimeError, OSError):
            written = 0
        if written != len(frames):
            raise OSError(f"the encoder wrote {written} of {len(frames)} frames (is the disk full?)")
    return path


CURVE_KEYS = ("charts/episodic_return", "eval/mean_return")


def curve_points(metrics_path: str, keys: Sequence[str] = CURVE_KEYS) -> Dict[str, List[Tuple[float, float]]]:
    """``key -> [(env step, value), ...]`` of a run's ``metrics.jsonl``. Lines that are not a JSON object with a
    numeric ``step`` (a torn last line of a live run, damage) and non-finite values are skipped. A missing file or
    one with no point of ``keys`` is a :class:`UserError` naming the path (nothing to plot)."""
    if not os.path.isfile(metrics_path):
        raise UserError(f"--curve: there is no {metrics_path} (the learning curve is read from the metrics.jsonl of "
                        "the run folder the checkpoint is in)")
    points: Dict[str, List[Tuple[float, float]]] = {key: [] for key in keys}
    with open(metrics_path, errors="replace") as f:
        for line in f:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and is_num(row.get("step")):
                for key in keys:
                    if is_num(row.get(key)):
                        points[key].append((row["step"], row[key]))
    if not any(points.values()):
        raise UserError(f"--curve: {metrics_path} holds no {' or '.join(keys)} values yet, nothing to plot (a run "
                        "logs them every train.loop.log_interval and train.loop.eval_interval iterations)")
    return points


def plot_learning_curve(metrics_path: str, png_path: str, keys: Sequence[str] = CURVE_KEYS) -> int:
    """Plot ``keys`` of a ``metrics.jsonl`` (:func:`curve_points`) against env steps into ``png_path`` (PNG, PDF or
    SVG by its extension; written atomically); returns the points drawn. Needs matplotlib (the ``viz`` extra)."""
    points = curve_points(metrics_path, keys)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ImportError('learning-curve plots need matplotlib: pip install "isaac_rl[viz]"') from err
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, pts in points.items():
        if pts:
            ax.plot(*zip(*pts), label=key, marker="." if len(pts) < 50 else None)
    ax.set_xlabel("env steps")
    ax.set_ylabel("return")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        with atomic_output(png_path) as tmp, open(tmp, "wb") as f:
            fig.savefig(f, dpi=100, format=os.path.splitext(png_path)[1][1:].lower() or "png")
    finally:
        plt.close(fig)
    return sum(len(pts) for pts in points.values())
