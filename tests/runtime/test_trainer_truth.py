"""What the trainer reports is what the policy does: a resumed or fine-tuned solved run evaluates the policy it has
(no number made up for a solved agent), an evaluation on the training env leaves no trace in the training episode
statistics, a divergence names its cause, and the progress bar ends where the run did with the trainer's lines whole
above it."""

import json
import math
import os
import pty
import subprocess
import sys

import pytest
import torch
from tqdm import tqdm

from isaac_rl.app import checkpoint
from isaac_rl.app.build import make_env, make_trained_algorithm, make_trainer
from isaac_rl.core.contract import ActionSpec, StepOut
from isaac_rl.runtime.evaluate import Evaluator, evaluate
from isaac_rl.runtime.runner import VERIFY_SEED_OFFSET
from isaac_rl.tasks import make_task
from tests.conftest import ROOT, shipped

TRAIN = [sys.executable, os.path.join(ROOT, "scripts", "train.py")]
SOLVES = ["task=CartPole-v1", "train=CartPole-v1DQN", "num_envs=16", "sim_device=cpu", "num_eval_envs=16",
          "train.loop.eval_interval=20", "train.loop.log_interval=20", "train.loop.eval_target=60",
          "train.loop.verify_episodes=64", "train.loop.eval_early_out=False", "seed=42"]  # solves in ~40 iterations


class Clock:
    """Every episode lasts exactly ``max_episode_steps`` steps (never terminated) and earns 1 per step, whatever the
    actions: observation ``t / max_episode_steps``. Episode length and return are known by hand."""

    obs_dim = 1
    action_spec = ActionSpec(dim=1, max_effort=1.0)
    reward_max = 1.0

    def __init__(self, num_envs, device="cpu", seed=0, max_episode_steps=20):
        self.num_envs, self.device, self.max_episode_steps = num_envs, torch.device(device), max_episode_steps
        self.t = torch.zeros(num_envs, device=self.device)

    def reset(self, seed=None):
        self.t.zero_()
        return (self.t / self.max_episode_steps).unsqueeze(-1)

    def step(self, actions):
        self.t += 1
        truncated = self.t >= self.max_episode_steps
        final_obs = (self.t / self.max_episode_steps).unsqueeze(-1)
        self.t = torch.where(truncated, torch.zeros_like(self.t), self.t)
        terminated = torch.zeros_like(truncated)
        return StepOut((self.t / self.max_episode_steps).unsqueeze(-1), torch.ones(self.num_envs), terminated,
                       truncated, final_obs)

    def close(self):
        pass


def _summary(proc):
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(proc.stdout.split("[isaac_rl] summary ", 1)[1].splitlines()[0])


def _fresh(path, cfg_overrides=()):
    """A fresh evaluation and verification of the policy in checkpoint ``path`` at its iteration, with the trainer's
    seeds: what the run must have reported for it."""
    state = checkpoint.read(str(path), "cpu", "play")
    cfg, it = state["config"], state["trainer"]["iteration"]
    seed = int(cfg["seed"])
    env, algo = make_trained_algorithm(cfg, state["trainer"]["agent"], "torch", int(cfg["train"]["eval_envs"]), "cpu",
                                       seed + 1)
    fresh = evaluate(env, algo.act, seed=seed + 10_000 + it)
    verify_env = make_env(cfg["task"], "torch", int(cfg["train"]["loop"]["verify_episodes"]), "cpu", seed + 2)
    verified = evaluate(verify_env, algo.act, seed=seed + VERIFY_SEED_OFFSET + it)
    return it, fresh, verified


@pytest.mark.parametrize("how", ["resume", "fine-tune"])
def test_a_continued_solved_run_reports_evaluations_of_the_policy_it_has(tmp_path, how):
    """A solved single-agent run continued (resume=auto past the solve, or checkpoint= into a new experiment) trains
    on and evaluates its own policy: every logged evaluation is complete and not a 25-step stub, and the summary's
    evaluation and verification equal a fresh evaluation of the final weights with the same seeds (before the fix:
    eval/mean_return=25, std 0, "solved": 1 with solved_at null)."""
    first = _summary(subprocess.run(TRAIN + SOLVES + ["max_iterations=400", f"train_dir={tmp_path}", "experiment=a"],
                                    capture_output=True, text=True, timeout=600, cwd=ROOT))
    assert first["solved_at"] is not None and first["iterations"] < 200, first
    more = ["max_iterations=200", "train.loop.eval_target=null"]  # no bar: it trains to 200 whatever it plays
    if how == "resume":
        args, run = ["resume=auto", "experiment=a"], tmp_path / "a"
    else:
        args, run = [f"checkpoint={tmp_path / 'a' / 'nn' / 'last.pt'}", "experiment=ft"], tmp_path / "ft"
    proc = subprocess.run(TRAIN + SOLVES + more + args + [f"train_dir={tmp_path}"], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    summary = _summary(proc)
    assert "the checkpoint's policy was solved at iteration" in proc.stdout
    assert summary["iterations"] == 200 and summary["solved"] == 0 and summary["solved_at"] is None, summary
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in rows if "eval/mean_return" in r and r["step"] > first["env_steps"]]
    assert len(evals) == (200 - first["iterations"]) // 20
    assert all(r["eval/complete"] == 1.0 and r["eval/mean_length"] == r["eval/mean_return"] for r in evals)
    assert not any(r["eval/mean_return"] == 25.0 and r["eval/std_return"] == 0.0 for r in evals), evals
    it, fresh, verified = _fresh(run / "nn" / "last.pt")
    assert it == 200
    for name in ("eval/mean_return", "eval/std_return", "eval/min_return", "eval/mean_length"):
        assert summary[name] == fresh[name] == evals[-1][name], name
    assert summary["eval/verified_mean_return"] == verified["eval/mean_return"]
    assert summary["eval/verified_min_return"] == verified["eval/min_return"]


def half_balanced(obs):
    """Envs 0-3 always push right (fall in ~10 steps); envs 4-7 push towards the pole's lean (balance for long)."""
    lean = obs[:, 2] + 0.5 * obs[:, 3]
    action = torch.where(lean > 0, 1.0, -1.0)
    action[:4] = 1.0
    return action.unsqueeze(-1)


def test_an_evaluation_of_some_groups_reports_only_theirs():
    """Group 0 (pushes right, falls in ~10 steps) is evaluated and group 1 (balances) is not: the result is group 0's
    complete statistics, and group 1 is 'not evaluated' (NaN), not the partial return of its first 25 steps (before
    the fix the mean mixed in group 1's 25-step stubs)."""
    env = make_task("CartPole-v1", num_envs=8, seed=0)
    full = Evaluator(env, half_balanced, groups=2)
    full(seed=3)
    group0 = {name: values[0] for name, values in full.per_group.items()}
    some = Evaluator(env, half_balanced, groups=2)
    result = some(seed=3, active=[True, False])
    assert result == dict(group0, **{"eval/complete": 1.0})
    assert all(math.isnan(values[1]) for values in some.per_group.values())
    with pytest.raises(ValueError, match="no group to evaluate"):
        some(seed=3, active=[False, False])


def test_evaluation_that_outlives_the_time_limit_is_incomplete():
    """An env that never ends an episode: the evaluation stops at max_episode_steps and says its episodes did not end
    (before: complete = 1 with the cut returns as results)."""
    from tests.tasks.test_custom_task import NeverEnds

    result = evaluate(NeverEnds(6), lambda obs: torch.zeros(obs.shape[0], 1), seed=1)
    assert result == {"eval/complete": 0.0, "eval/unfinished": 6.0, "eval/steps": 20.0}


def test_evaluating_on_the_training_env_leaves_no_trace_in_the_episode_statistics():
    """eval_env=None (Isaac Gym / Isaac Lab: one simulation per process): every evaluation resets the training env.
    Clock's episodes last exactly 20 steps, so every logged episodic length and return is 20 (before the fix the
    episode an evaluation cut at its 10th step was counted on into the next: length 30)."""
    cfg = shipped("CartPole-v1", "CartPole-v1DQN", 1, "torch", "num_envs=8",
                  "+task.class_path=tests.runtime.test_trainer_truth:Clock", "~task.env", "num_eval_envs=8",
                  warmup_iterations=4, max_iterations=150, eval_interval=30, log_interval=10, eval_target=None,
                  verify_episodes=0)
    torch.set_num_threads(1)
    trainer, _, evaluation = make_trainer(cfg, "cpu", eval_env=False, verbose=False)
    assert evaluation is None
    logged = []
    trainer.hooks.log = lambda metrics, step: logged.append(dict(metrics))
    trainer.train()
    lengths = [m["charts/episodic_length"] for m in logged if "charts/episodic_length" in m]
    returns = [m["charts/episodic_return"] for m in logged if "charts/episodic_return" in m]
    evals = [m for m in logged if "eval/mean_return" in m]
    assert len(evals) == 5 and all(m["eval/mean_length"] == 20.0 for m in evals)
    assert lengths and set(lengths) == {20.0} and set(returns) == {20.0}, lengths


def test_a_learning_rate_that_diverges_is_named_not_the_refused_best_checkpoint(tmp_path):
    """lr=1e6 with the shipped schedule (an evaluation, which saves nn/best.pt, every 25 iterations; a metric read
    every 100): exit code 3 with the divergence message naming the learning rate (before: "not saving .../best.pt:
    the network weights are non-finite")."""
    proc = subprocess.run(TRAIN + ["task=CartPole-v1", "train=CartPole-v1DQN", "num_envs=16", "sim_device=cpu",
                                   "train.algo.lr=1e6", "max_iterations=400", f"train_dir={tmp_path}"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("[isaac_rl] error: ")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert errors[0].startswith("[isaac_rl] error: training diverged at env step "), errors[0]
    assert "network weights" in errors[0] and "a learning rate too high (train.algo.lr" in errors[0]


def _terminal_run(args, tmp_path):
    """scripts/train.py with stdout and stderr on one pseudo-terminal (as in a shell): the raw bytes it shows."""
    master, slave = pty.openpty()
    import fcntl
    import struct
    import termios
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
    proc = subprocess.Popen(TRAIN + args + [f"train_dir={tmp_path}"], stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave, cwd=ROOT)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.wait(timeout=600) == 0, b"".join(chunks)[-3000:]
    return b"".join(chunks).decode(errors="replace")


def _shown(line):
    """What a terminal shows of one line written with carriage returns: each \\r overwrites from the left."""
    shown = ""
    for part in line.split("\r"):
        shown = part + shown[len(part):]
    return shown.rstrip()


def test_the_progress_bar_ends_where_the_run_did_with_the_trainer_lines_whole(tmp_path):
    """On a terminal: the 'solved' line is printed whole above the live bar (before: glued behind the bar's text),
    the bar ends at the steps the run took (100%, not 7% of max_iterations x num_envs with an ETA), and its postfix
    shows the training return, the evaluation mean and the SPS (before: only the return bound)."""
    out = _terminal_run(SOLVES + ["max_iterations=3000", "experiment=bar"], tmp_path)
    lines = [_shown(line) for line in out.replace("\r\n", "\n").split("\n")]
    solved = [line for line in lines if "[isaac_rl] solved:" in line]
    assert len(solved) == 1 and solved[0].startswith("[isaac_rl] solved: eval mean return "), lines
    summary = json.loads(next(line for line in lines if line.startswith("[isaac_rl] summary "))[19:])
    final = [line for line in lines if "step/s" in line and "|" in line][-1]
    steps = tqdm.format_sizeof(summary["env_steps"])
    assert final.startswith("100%|") and f"| {steps}/{steps} [" in final, final
    assert "return=" in final and "eval=" in final and "SPS=" in final, final
