"""A stop signal during a verification is honoured between its chunks: the run saves its checkpoint and ends, the cut
verification is no result, and the run resumes; a long verification prints its progress; verify_episodes is bounded
by the config check."""

import json
import os
import signal
import subprocess
import sys

import pytest
import torch

import isaac_rl.runtime.runner as runner_module
from isaac_rl.app import checkpoint
from isaac_rl.app.build import make_trainer
from isaac_rl.app.run import main as run_main
from isaac_rl.core.errors import ConfigError
from isaac_rl.runtime.runner import VERIFY_SEED_OFFSET
from tests.conftest import ROOT, compose_config, shipped
from tests.runtime.test_trainer_truth import Clock

VERIFY = 96  # envs of the verification env
SIGNAL_AT = 30  # its step that sends SIGTERM (the evaluator checks the flag every 25 steps: stops after 50)


class TermDuringVerify(Clock):
    """Clock (500-step episodes, return 500 whatever the policy) that sends this process a real SIGTERM at the 30th
    step of a verification (a reset with the verification's held-out seeds), once, when ``TEST_SIGTERM_IN_VERIFY=1``.
    """

    sent = False

    def __init__(self, num_envs, device="cpu", seed=0, max_episode_steps=500):
        super().__init__(num_envs, device, seed, max_episode_steps)
        self.steps, self.verifying = 0, False

    def reset(self, seed=None):
        self.steps = 0
        self.verifying = seed is not None and seed >= VERIFY_SEED_OFFSET  # the held-out seeds of a verification
        return super().reset(seed)

    def step(self, actions):
        out = super().step(actions)
        self.steps += 1
        armed = self.verifying and os.environ.get("TEST_SIGTERM_IN_VERIFY") == "1"
        if armed and self.steps == SIGNAL_AT and not TermDuringVerify.sent:
            TermDuringVerify.sent = True
            os.kill(os.getpid(), signal.SIGTERM)
        return out


OVERRIDES = ["task=CartPole-v1", "train=CartPole-v1DQN", "task.name=TermDuringVerify",
             "+task.class_path=tests.runtime.test_stop_verify:TermDuringVerify", "~task.env", "num_envs=8",
             "num_eval_envs=8", "sim_device=cpu", "train.loop.warmup_iterations=4", "train.loop.eval_interval=10",
             "train.loop.log_interval=10", "train.loop.eval_target=400", f"train.loop.verify_episodes={VERIFY}",
             "max_iterations=100", "experiment=stop"]


def _train(tmp_path, extra=(), env=None):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), *OVERRIDES, *extra,
                           f"train_dir={tmp_path}"], capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, json.loads(proc.stdout.split("[isaac_rl] summary ", 1)[1].splitlines()[0])


def test_sigterm_during_verification_stops_it_saves_and_resumes(tmp_path):
    """The first evaluation (iteration 10, return 500 >= 400) starts a verification; SIGTERM arrives at its step 30:
    it stops at the next chunk boundary (step 50 of 500), the summary says stopped_by_signal with no verified numbers
    and no solve, metrics.jsonl holds no verification row, nn/last.pt is at iteration 10, and resume=auto verifies and
    solves at the next evaluation (before the fix the verification ran to its end, was logged and solved the run)."""
    proc, summary = _train(tmp_path, env=dict(os.environ, TEST_SIGTERM_IN_VERIFY="1"))
    assert "SIGTERM: saving a checkpoint and stopping" in proc.stderr
    assert ("[isaac_rl] verification stopped by the stop request after 50 of 500 steps: not a result"
            in proc.stdout), proc.stdout
    assert summary["stopped_by_signal"] is True and summary["solved"] == 0 and summary["solved_at"] is None
    assert summary["iterations"] == 10 and not any(k.startswith("eval/verified") for k in summary), summary
    assert summary["eval/mean_return"] == 500.0  # the evaluation before the verification was complete: kept
    rows = [json.loads(line) for line in (tmp_path / "stop" / "metrics.jsonl").read_text().splitlines()]
    assert not any(k.startswith("eval/verified") for row in rows for k in row)
    assert "[isaac_rl] solved" not in proc.stdout
    assert checkpoint.read(str(tmp_path / "stop" / "nn" / "last.pt"), "cpu", "resume")["trainer"]["iteration"] == 10
    proc, summary = _train(tmp_path, ["resume=auto"])
    assert "resumed from" in proc.stdout and summary["stopped_by_signal"] is False
    assert summary["solved_at"] == 20 * 8 and summary["eval/verified_mean_return"] == 500.0, summary
    assert summary["eval/verified_episodes"] == float(VERIFY)


def test_a_long_verification_prints_its_progress(monkeypatch, capsys):
    """A line per progress interval (set to 0 here: after every 25-step chunk) with the episodes ended so far."""
    monkeypatch.setattr(runner_module, "PROGRESS_EVERY_S", 0.0)
    cfg = shipped("CartPole-v1", "CartPole-v1DQN", 1, "torch", "num_envs=8", "~task.env",
                  "+task.class_path=tests.runtime.test_trainer_truth:Clock", "+task.env.max_episode_steps=100",
                  "num_eval_envs=8", warmup_iterations=4, max_iterations=10, verify_episodes=64, eval_target=None)
    torch.set_num_threads(1)
    trainer, _, _ = make_trainer(cfg, "cpu", verbose=False)
    capsys.readouterr()
    result = trainer.verify(None)
    assert result["eval/verified_mean_return"] == 100.0
    lines = [line.rsplit(" (", 1)[0] for line in capsys.readouterr().out.splitlines()]
    assert lines == [f"[isaac_rl] verifying: 0 of 64 episodes ended after {t} steps" for t in (25, 50, 75)]


@pytest.mark.parametrize("value", [1_000_001, 10_000_000])
def test_verify_episodes_has_an_upper_bound(tmp_path, value):
    cfg = compose_config(["task=CartPole-v1", "train=CartPole-v1DQN", "sim_device=cpu", f"train_dir={tmp_path}",
                          f"train.loop.verify_episodes={value}"])
    with pytest.raises(ConfigError) as err:
        run_main(cfg)
    assert str(err.value) == (f"invalid config: train.loop.verify_episodes={value}; allowed: an integer from 0 to "
                              "1,000,000 (one env per episode, all at once)")
    assert not os.listdir(tmp_path)
