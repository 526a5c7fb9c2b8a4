"""bench_train.py --peer: each peer script exists and parses its arguments before any heavy import (``--help`` runs in
the main venv, which has neither rsl-rl-lib nor Isaac Lab), and a peer whose module the interpreter lacks is skipped in
one line instead of failing the benchmark; bench_train.py --help works (its --robust help holds a literal %)."""

import importlib.util
import os
import subprocess
import sys

import pytest

from scripts.bench_train import PEERS, bench_peer
from tests.conftest import ROOT

SCRIPTS = sorted({script for script, _, _ in PEERS.values()} | {"isaaclab_rsl_rl_ppo.py"})


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_peer_script_answers_help_without_its_learner_installed(script):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "peers", script), "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "--seed" in proc.stdout


def test_bench_train_help_names_the_peers():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "bench_train.py"), "--help"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "--peer-python" in proc.stdout and "mass+20%" in proc.stdout


@pytest.mark.skipif(importlib.util.find_spec("rsl_rl") is not None, reason="this interpreter has rsl_rl")
def test_a_peer_the_interpreter_cannot_run_is_skipped_in_one_line(capsys):
    name = next(n for n, (_, _, needs) in PEERS.items() if needs == "rsl_rl")
    assert bench_peer(name, [1], 60.0, sys.executable) is None
    out = capsys.readouterr().out
    assert out == f"  peer {name} skipped: {sys.executable} cannot import rsl_rl (--peer-python: an interpreter that " \
                  "can)\n"
