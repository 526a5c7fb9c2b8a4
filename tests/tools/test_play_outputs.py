"""scripts/play.py never loses a file and fails well: every output path, every flag, real subprocesses, real signals.

Each bad input gets one ``[isaac_rl] error:`` line (exit code 2) before the evaluation runs (play prints
``[isaac_rl] playing ...`` when it starts one) and before anything is written; an existing file is replaced only with
``--force``, and never the checkpoint played nor a run folder's checkpoints and results; an interrupted play leaves
the files it finished and nothing else."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import pytest
import torch

from isaac_rl.app import checkpoint
from isaac_rl.app.build import make_trained_algorithm
from tests.conftest import ROOT

TRAIN = [sys.executable, os.path.join(ROOT, "scripts", "train.py")]
PLAY = [sys.executable, os.path.join(ROOT, "scripts", "play.py")]
SMALL = ["task=CartPole-v1", "sim_device=cpu", "num_envs=64", "train.loop.verify_episodes=0"]
PLAYING = "[isaac_rl] playing "


def _train(train_dir, *args):
    proc = subprocess.run(TRAIN + SMALL + [f"train_dir={train_dir}", *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished short CartPole-v1 run folder (nn/last.pt, nn/best.pt, metrics.jsonl, config.yaml, summaries/)."""
    out = tmp_path_factory.mktemp("play_outputs")
    _train(out, "max_iterations=30", "experiment=x")
    return out / "x"


def _play(*args, env=None, cwd=ROOT):
    return subprocess.run(PLAY + [str(a) for a in args], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env=env)


def _refused(proc):
    """The one line of a refusal made before any work: exit code 2, nothing else on stderr, no evaluation."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-3000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("[isaac_rl] error: "), proc.stderr[-3000:]
    assert proc.stdout == ""
    return lines[0][len("[isaac_rl] error: "):]


def _digests(folder):
    """``relative path -> sha256`` of every file under ``folder``."""
    out = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            out[os.path.relpath(path, folder)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return out


def _policy(ckpt):
    state = checkpoint.read(str(ckpt), "cpu", "play")
    return make_trained_algorithm(state["config"], state["trainer"]["agent"], "torch", 1, "cpu", 0)[1].act


# ---- the checkpoint and the run folder are never replaced --------------------------------------------------------


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["plain", "force"])
@pytest.mark.parametrize("spelling", ["same", "dotdot", "symlink", "hardlink"])
def test_an_export_onto_the_checkpoint_played_is_refused_even_with_force(run, tmp_path, spelling, force):
    """The reported case: ``play.py RUN/nn/last.pt --export RUN/nn/last.pt`` replaced the checkpoint (TorchScript)."""
    ckpt = run / "nn" / "last.pt"
    before = _digests(run)
    target = {"same": str(ckpt), "dotdot": str(run / "nn" / ".." / "nn" / "last.pt")}.get(spelling)
    if spelling == "symlink":
        target = str(tmp_path / "link.pt")
        os.symlink(ckpt, target)
    elif spelling == "hardlink":
        target = str(tmp_path / "hard.pt")
        os.link(ckpt, target)
    message = _refused(_play(ckpt, "--export", target, *force))
    assert message == (f"--export {target!r} is the checkpoint being played; write the output elsewhere (--force "
                       "never replaces it)")
    assert _digests(run) == before


@pytest.mark.parametrize("flag, name, why", [
    ("--export", "nn/policy.pt", "it is inside the nn/ folder of the run folder {run}"),
    ("--export", "nn/best.pt", "it is inside the nn/ folder of the run folder {run}"),
    ("--export", "metrics.jsonl", "it is the metrics.jsonl of the run folder {run}"),
    ("--export-program", "config.yaml", "it is the config.yaml of the run folder {run}"),
    ("--onnx", "history.jsonl", "it is the history.jsonl of the run folder {run}"),
])
def test_a_run_folders_checkpoints_and_results_are_refused_even_with_force(run, flag, name, why):
    before = _digests(run)
    target = str(run / name)
    for force in ([], ["--force"]):
        message = _refused(_play(run / "nn" / "last.pt", flag, target, *force))
        assert message == (f"{flag} {target!r}: {why.format(run=run)}; write it outside the run's folders (--force "
                           "never replaces a run's checkpoints or results)")
    assert _digests(run) == before


def test_a_sidecar_onto_a_run_file_is_refused(run):
    """``--export RUN/metrics`` writes ``RUN/metrics`` and its sidecar ``RUN/metrics.json``; a file named like a
    result file is refused by the same rule whichever of the two it is."""
    before = _digests(run)
    target = str(run / "population")  # sidecar: population.json, a population run's result file
    (run / "population.json").write_text("{}")
    try:
        message = _refused(_play(run / "nn" / "last.pt", "--export", target, "--force"))
    finally:
        (run / "population.json").unlink()
    assert message.startswith(f"the sidecar of --export {target + '.json'!r}: it is the population.json of the run")
    assert _digests(run) == before


# ---- existing files need --force; one path, one output -----------------------------------------------------------


@pytest.mark.parametrize("existing, flag, what", [
    ("p.pt", "--export", "--export"),
    ("p.pt.json", "--export", "the sidecar of --export"),
    ("p.onnx", "--onnx", "--onnx"),
    ("p.gif", "--gif", "--gif"),
    ("p.mp4", "--video", "--video"),
    ("p.png", "--curve", "--curve"),
])
def test_an_existing_output_is_replaced_only_with_force(run, tmp_path, existing, flag, what):
    (tmp_path / existing).write_text("the user's own file")
    target = str(tmp_path / existing.replace(".json", ""))
    message = _refused(_play(run / "nn" / "last.pt", flag, target))
    assert message == (f"{what} {str(tmp_path / existing)!r} already exists; pass --force to replace it, or choose "
                       "another path")
    assert (tmp_path / existing).read_text() == "the user's own file"
    assert sorted(os.listdir(tmp_path)) == [existing]

    proc = _play(run / "nn" / "last.pt", "--episodes", "2", flag, target, "--force")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / existing).read_bytes() != b"the user's own file"
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tmp")]


def test_the_pair_after_force_is_a_real_export(run, tmp_path):
    (tmp_path / "p.pt").write_text("old")
    (tmp_path / "p.pt.json").write_text("old")
    proc = _play(run / "nn" / "last.pt", "--episodes", "2", "--export", tmp_path / "p.pt", "--force")
    assert proc.returncode == 0, proc.stderr[-2000:]
    obs = torch.randn(64, 4) * 0.1
    assert torch.equal(torch.jit.load(str(tmp_path / "p.pt"))(obs), _policy(run / "nn" / "last.pt")(obs))
    assert json.loads((tmp_path / "p.pt.json").read_text())["policy"] == "p.pt"


@pytest.mark.parametrize("args, message", [
    (["--export", "{d}/a.pt", "--onnx", "{d}/a.pt"], "--export and --onnx both write '{d}/a.pt'; give each its own "
                                                     "path"),
    (["--export", "{d}/a.pt", "--export-program", "{d}/a.pt.json"],
     "the sidecar of --export and --export-program both write '{d}/a.pt.json'; give each its own path"),
    (["--export", "{d}/a.pt", "--onnx", "{d}/../{b}/a.pt"],
     "--export and --onnx both write '{d}/../{b}/a.pt'; give each its own path"),
])
def test_two_outputs_on_one_path_are_refused(run, tmp_path, args, message):
    """Before: both were written in turn, the JSON line listed both and only the last one was on disk."""
    fill = {"d": str(tmp_path), "b": tmp_path.name}
    got = _refused(_play(run / "nn" / "last.pt", *[a.format(**fill) for a in args], "--force"))
    assert got == message.format(**fill)
    assert os.listdir(tmp_path) == []


# ---- bad output paths and flags: one line naming the path, before the evaluation ---------------------------------


def _read_only_folders(tmp_path):
    """Folders this process cannot create files in: a chmod 555 folder (not for root) and /sys (sysfs: not even for
    root); each only where a probe write really fails."""
    folders = []
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o555)
    for folder in (str(locked), "/sys"):
        try:
            fd, probe = tempfile.mkstemp(dir=folder)
            os.close(fd)
            os.unlink(probe)
        except OSError:
            folders.append(folder)
    return folders


@pytest.mark.parametrize("flag, name", [("--export", "p.pt"), ("--onnx", "p.onnx"), ("--gif", "p.gif"),
                                        ("--video", "p.mp4"), ("--curve", "p.png")])
def test_a_read_only_or_missing_output_folder_is_refused_before_the_evaluation(run, tmp_path, flag, name):
    """Before: ffmpeg's "Broken pipe" or torch's "Permission denied" with no path, after the evaluation had run."""
    ckpt = run / "nn" / "last.pt"
    folders = _read_only_folders(tmp_path)
    assert folders, "no read-only folder to test with"
    for folder in folders:
        target = os.path.join(folder, name)
        assert _refused(_play(ckpt, flag, target)) == (f"{flag} {target!r}: the folder {folder} is not writable "
                                                       "(Permission denied)")
    target = str(tmp_path / "missing" / name)
    assert _refused(_play(ckpt, flag, target)) == (f"{flag} {target!r}: the folder {tmp_path / 'missing'} does not "
                                                   "exist; create it first")
    (tmp_path / "file").write_text("")
    target = str(tmp_path / "file" / name)
    assert _refused(_play(ckpt, flag, target)) == (f"{flag} {target!r}: the folder {tmp_path / 'file'} does not "
                                                   "exist (it is a file); create it first")
    os.chmod(tmp_path / "locked", 0o755)
    assert sorted(os.listdir(tmp_path)) == ["file", "locked"] and os.listdir(tmp_path / "locked") == []


@pytest.mark.parametrize("args, message", [
    (["--video", "{d}/ep.txt"], "--video '{d}/ep.txt': unknown file extension '.txt'; allowed: .mp4"),
    (["--video", "{d}/ep"], "--video '{d}/ep': unknown file extension '(none)'; allowed: .mp4"),
    (["--gif", "{d}/x.mp4"], "--gif '{d}/x.mp4': unknown file extension '.mp4'; allowed: .gif"),
    (["--curve", "{d}/c.jsonl"], "--curve '{d}/c.jsonl': unknown file extension '.jsonl'; allowed: .png, .pdf, .svg"),
    (["--export", "{d}"], "--export '{d}' is a folder; give a file path"),
    (["--device", "foo"], "--device 'foo' is not a valid device; allowed: cpu, cuda or cuda:N"),
    (["--device", "meta"], "--device 'meta' is not a valid device; allowed: cpu, cuda or cuda:N"),
    (["--seed", "-1"], "--seed must be in 0 to 4611686018427387903, got -1 (see --help)"),
    (["--episodes", "0"], "--episodes must be >= 1, got 0 (see --help)"),
    (["--episodes", "x"], "argument --episodes: invalid int value: 'x' (see --help)"),
    (["--agent", "3"], "invalid --agent=3; allowed: 0 to 0 (the checkpoint holds a population of 1)"),
    (["--sim", "gymnasium", "--gif", "{d}/g.gif"], "--gif draws the torch backend's state; this run uses --sim "
                                                   "gymnasium (use --sim torch)"),
    (["--bogus"], "unrecognized arguments: --bogus (see --help)"),
])
def test_bad_flags_get_one_line_before_the_evaluation(run, tmp_path, args, message):
    fill = {"d": str(tmp_path)}
    got = _refused(_play(run / "nn" / "last.pt", *[a.format(**fill) for a in args]))
    assert got == message.format(**fill)
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:0"])
def test_a_cuda_device_without_cuda_is_named_not_blamed_on_the_checkpoint(run, device):
    """Before: "checkpoint=... is not a checkpoint of this trainer (the file is unreadable: RuntimeError)"."""
    why = "this torch has no CUDA support" if torch.version.cuda is None else "torch sees no CUDA device"
    assert _refused(_play(run / "nn" / "last.pt", "--device", device)) == (
        f"--device {device!r} is not available: {why}; use --device cpu")


# ---- --curve: short runs, damaged metrics, checkpoints outside a run ---------------------------------------------


def test_curve_of_a_run_that_logged_no_return_is_one_line(tmp_path):
    """A real run shorter than its log and eval intervals: metrics.jsonl holds no return row (before: ValueError)."""
    _train(tmp_path, "max_iterations=8", "train.loop.warmup_iterations=2", "train.loop.log_interval=100",
           "train.loop.eval_interval=100", "experiment=short")
    run = tmp_path / "short"
    metrics = run / "metrics.jsonl"
    assert not any("return" in line for line in metrics.read_text().splitlines())
    message = _refused(_play(run / "nn" / "last.pt", "--curve", tmp_path / "c.png"))
    assert message == (f"--curve: {metrics} holds no charts/episodic_return or eval/mean_return values yet, nothing to "
                       "plot (a run logs them every train.loop.log_interval and train.loop.eval_interval iterations)")
    assert not (tmp_path / "c.png").exists()


@pytest.mark.parametrize("lines, points", [
    (['{"step": 100, "eval/mean_return": 9.5}'], 1),
    (['[1, 2]', '{"step": "x", "eval/mean_return": 3}', '\udcff\udcfe garbage', '{"step": 5, "eval/mean_return": NaN}',
      '{"step": 100, "charts/episodic_return": 12.0}', '{"step": 200, "eval/mean_return": 9.5', ], 1),
    ([], 0),
])
def test_curve_reads_what_it_can_of_a_short_or_damaged_metrics_file(run, tmp_path, lines, points):
    """One row plots one point; lines that are not a JSON object with a numeric step (a torn last line of a live
    run, damage) are skipped; nothing to plot is one line."""
    copy = tmp_path / "copy"
    (copy / "nn").mkdir(parents=True)
    shutil.copy(run / "nn" / "last.pt", copy / "nn" / "last.pt")
    with open(copy / "metrics.jsonl", "w", errors="surrogateescape") as f:
        f.write("".join(line + "\n" for line in lines))
    png = tmp_path / "c.png"
    proc = _play(copy / "nn" / "last.pt", "--episodes", "2", "--curve", png)
    if points:
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert json.loads(proc.stdout.splitlines()[-1])["curve_points"] == points
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "holds no charts/episodic_return or eval/mean_return values yet" in _refused(proc)
        assert not png.exists()


def test_curve_of_a_checkpoint_outside_a_run_folder_is_one_line(run, tmp_path):
    lone = tmp_path / "lone.pt"
    shutil.copy(run / "nn" / "last.pt", lone)
    assert _refused(_play(lone, "--curve", tmp_path / "c.png")) == (
        f"--curve reads the run's metrics.jsonl, but the checkpoint {str(lone)!r} is not in a run folder's nn/ (give "
        "runs/<experiment>/nn/last.pt or best.pt)")
    (tmp_path / "r" / "nn").mkdir(parents=True)
    shutil.copy(run / "nn" / "last.pt", tmp_path / "r" / "nn" / "last.pt")
    assert _refused(_play(tmp_path / "r" / "nn" / "last.pt", "--curve", tmp_path / "c.png")) == (
        f"--curve: there is no {tmp_path / 'r' / 'metrics.jsonl'} (the learning curve is read from the metrics.jsonl "
        "of the run folder the checkpoint is in)")
    assert sorted(os.listdir(tmp_path)) == ["lone.pt", "r"]


# ---- optional packages: one line naming the extra ----------------------------------------------------------------


@pytest.mark.parametrize("module, flag, name, package, extra", [
    ("matplotlib", "--curve", "c.png", "matplotlib", "viz"),
    ("onnx", "--onnx", "p.onnx", "onnx", "export"),
    ("onnxscript", "--onnx", "p.onnx", "onnxscript", "export"),
    ("imageio_ffmpeg", "--video", "ep.mp4", "imageio-ffmpeg", "viz"),
    ("PIL", "--gif", "ep.gif", "pillow", "viz"),
])
def test_a_missing_optional_package_names_the_extra_before_any_work(run, tmp_path, module, flag, name, package,
                                                                    extra):
    """The package is made unimportable for the play process only: a folder first on PYTHONPATH holds
    ``<module>.py`` raising ImportError, as an absent package does. Before: a 22-line traceback after the
    evaluation (``--video ep.mp4`` quietly wrote ``ep.gif``)."""
    if module == "onnxscript" and sys.version_info < (3, 9):
        pytest.skip("onnxscript is not part of the export extra on Python 3.8")
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / f"{module}.py").write_text(f"raise ImportError(\"No module named {module!r}\")\n")
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")]))
    message = _refused(_play(run / "nn" / "last.pt", flag, out / name, env=env))
    assert message == f"{flag} needs the {package} package, which is not installed: pip install \"isaac_rl[{extra}]\""
    assert os.listdir(out) == []


# ---- ONNX: one self-contained file -------------------------------------------------------------------------------


def test_onnx_export_is_one_file_that_runs_when_copied_alone(run, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    out = tmp_path / "out"
    out.mkdir()
    proc = _play(run / "nn" / "last.pt", "--episodes", "2", "--onnx", out / "policy.onnx")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.splitlines()[-1])["onnx"] == str(out / "policy.onnx")  # stdout: the JSON line only
    assert sorted(os.listdir(out)) == ["policy.onnx", "policy.onnx.json"]
    model = onnx.load(str(out / "policy.onnx"), load_external_data=False)
    assert not any(onnx.external_data_helper.uses_external_data(t) for t in model.graph.initializer)
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(out / "policy.onnx", alone / "policy.onnx")
    session = ort.InferenceSession(str(alone / "policy.onnx"), providers=["CPUExecutionProvider"])
    obs = torch.randn(1000, 4) * torch.tensor([1.0, 1.0, 0.1, 1.0])
    (actions,) = session.run(None, {"obs": obs.numpy()})
    expected = _policy(run / "nn" / "last.pt")(obs)
    assert actions.shape == (1000, 1) and (torch.from_numpy(actions) - expected).abs().max() <= 1e-6


# ---- interruptions: no partial file ------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_the_evaluation_leaves_no_file_and_keeps_the_replaced_one(run, tmp_path, sig):
    """50,000 episodes: the evaluation is still running when the signal arrives right after play says it started.
    Exit code 130, one line, every output absent, and the file ``--force`` would have replaced still intact."""
    (tmp_path / "p.gif").write_bytes(b"the user's own GIF")
    args = ["--episodes", "50000", "--export", tmp_path / "p.pt", "--onnx", tmp_path / "p.onnx", "--gif",
            tmp_path / "p.gif", "--curve", tmp_path / "c.png", "--force"]
    proc = subprocess.Popen(PLAY + [str(run / "nn" / "last.pt")] + [str(a) for a in args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith(PLAYING):
            break
    proc.send_signal(sig)
    stdout, rest = proc.communicate(timeout=300)
    lines = (rest or "").strip().splitlines()
    assert proc.returncode == 130, "".join(seen) + (rest or "")
    assert lines == [f"[isaac_rl] error: interrupted by {signal.Signals(sig).name}: nothing was written; no partial "
                     "file was left"], rest
    assert stdout == ""
    assert os.listdir(tmp_path) == ["p.gif"] and (tmp_path / "p.gif").read_bytes() == b"the user's own GIF"


@pytest.mark.parametrize("existing", [False, True], ids=["new", "replacing"])
def test_an_atomic_output_interrupted_mid_write_leaves_the_old_state(tmp_path, existing):
    """A real SIGINT delivered while the writer has written half the file: the target keeps its old state (absent,
    or the previous file) and no temporary is left."""
    target = tmp_path / "out.gif"
    if existing:
        target.write_bytes(b"previous")
    script = ("import os, signal, sys\n"
              "from isaac_rl.tools.files import atomic_output\n"
              "with atomic_output(sys.argv[1]) as tmp:\n"
              "    with open(tmp, 'wb') as f:\n"
              "        f.write(b'half')\n"
              "        f.flush()\n"
              "        os.kill(os.getpid(), signal.SIGINT)\n"
              "        f.write(b' and the rest')\n")
    proc = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True, text=True, timeout=120,
                          cwd=ROOT)
    assert proc.returncode != 0 and "KeyboardInterrupt" in proc.stderr
    assert os.listdir(tmp_path) == (["out.gif"] if existing else [])
    if existing:
        assert target.read_bytes() == b"previous"


# ---- write failures and files that are not regular files ---------------------------------------------------------


def _file_size_limit(limit):
    """For the child: files larger than ``limit`` bytes cannot be written (EFBIG, as a full disk gives ENOSPC)."""
    import resource

    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails instead of the process being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.parametrize("flag, name", [("--export", "p.pt"), ("--export-program", "p.pt2"), ("--onnx", "p.onnx"),
                                        ("--gif", "p.gif"), ("--video", "p.mp4"), ("--curve", "p.png")])
def test_a_write_that_fails_is_one_line_and_leaves_no_file(run, tmp_path, flag, name):
    """A real file-size limit (RLIMIT_FSIZE) on the play process: every writer fails on its first large write. Before:
    tracebacks, a truncated MP4 published as a success (ffmpeg ends without an error), and a process abort in
    torch.export's archive writer."""
    if flag == "--export-program" and not (hasattr(torch, "export") and hasattr(torch.export, "save")):
        pytest.skip("needs torch >= 2.1")
    target = str(tmp_path / name)
    proc = subprocess.run(PLAY + [str(run / "nn" / "last.pt"), "--episodes", "2", flag, target], capture_output=True,
                          text=True, timeout=300, cwd=ROOT, preexec_fn=_file_size_limit(1024))
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    why = "the encoder wrote 0 of" if flag == "--video" else "File too large; nothing was written"
    assert lines[-1].startswith(f"[isaac_rl] error: cannot write {target!r}: {why}"), proc.stderr[-3000:]
    assert lines[-1].endswith("no partial file was left") and "Traceback" not in proc.stderr
    assert os.listdir(tmp_path) == []


def test_an_output_that_is_not_a_regular_file_is_never_replaced(run, tmp_path):
    """A device, a pipe or a dangling link is refused even with --force (an atomic replace of /dev/null by root would
    put a regular file in its place)."""
    fifo, dangling = tmp_path / "pipe.pt", tmp_path / "dangling.pt"
    os.mkfifo(fifo)
    os.symlink(tmp_path / "nowhere", dangling)
    for target in ("/dev/null", str(fifo), str(dangling)):
        assert _refused(_play(run / "nn" / "last.pt", "--export", target, "--force")) == (
            f"--export {target!r} exists and is not a regular file; give a file path")
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")
    assert sorted(os.listdir(tmp_path)) == ["dangling.pt", "pipe.pt"]


def test_a_checkpoint_that_is_a_folder_or_not_a_checkpoint_is_one_line(run, tmp_path):
    assert _refused(_play(run)) == (f"checkpoint={str(run)!r} is a folder, not a checkpoint file; give a .pt file "
                                    f"such as {os.path.join(str(run), 'nn', 'last.pt')}")
    (tmp_path / "notes.pt").write_text("not a checkpoint")
    assert "is not a checkpoint of this trainer" in _refused(_play(tmp_path / "notes.pt", "--export", tmp_path / "p"))
    assert os.listdir(tmp_path) == ["notes.pt"]
