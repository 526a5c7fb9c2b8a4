"""scripts/plot_learning.py as a user runs it (a subprocess): a run's metrics.jsonl -> one figure, never replacing a
file unasked, every bad input refused in one line before anything is written."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "plot_learning.py")


def plot(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def metrics(tmp_path):
    path = tmp_path / "metrics.jsonl"
    rows = [{"step": 1024 * i, "time": 0.5 * i, "eval/mean_return": 10.0 * i} for i in range(1, 6)]
    rows.append({"step": 7000, "time": 3.0, "charts/episodic_return": float("nan")})  # skipped: not finite
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{torn line")
    return path


def test_writes_the_figure_and_replaces_it_only_with_force(tmp_path, metrics):
    from PIL import Image

    out = tmp_path / "curve.png"
    done = plot(str(metrics), "--png", str(out))
    assert done.returncode == 0, done.stderr
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == (800, 320)  # 10 x 4 inches at 80 dpi
    before = out.read_bytes()
    again = plot(str(metrics), "--png", str(out), "--title", "other")
    assert again.returncode == 2 and out.read_bytes() == before
    assert again.stderr.strip().splitlines() == [
        f"[isaac_rl] error: --png {str(out)!r} already exists; pass --force to replace it, or choose another path"]
    forced = plot(str(metrics), "--png", str(out), "--title", "other", "--force")
    assert forced.returncode == 0 and out.read_bytes() != before
    assert sorted(os.listdir(tmp_path)) == ["curve.png", "metrics.jsonl"]  # no temporary left


@pytest.mark.parametrize("args, message", [
    (["{m}", "--png", "{d}/curve.jpg"], "--png '{d}/curve.jpg'; allowed: a file name ending in .png, .pdf, .svg"),
    (["{m}", "--png", "{d}/missing/curve.png"], "--png '{d}/missing/curve.png': the folder '{d}/missing' does not"
     " exist or cannot be written"),
    (["{d}/none.jsonl", "--png", "{d}/curve.png"], "{d}/none.jsonl: no such metrics file (a run writes"
     " runs/<experiment>/metrics.jsonl)"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, metrics, args, message):
    done = plot(*[a.format(m=metrics, d=tmp_path) for a in args])
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["[isaac_rl] error: " + message.format(d=tmp_path)]
    assert sorted(os.listdir(tmp_path)) == ["metrics.jsonl"]
