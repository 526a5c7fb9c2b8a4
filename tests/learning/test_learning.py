"""Learning bars with the shipped configs (cfg/task, cfg/train), on CPU, seeds 1-3; no timing assertions.

"Solved" is verified: a run stops once an evaluation (hundreds of deterministic episodes) meets the bar and the
policy then meets it again on ``train.loop.verify_episodes`` (1,000) fresh deterministic episodes from held-out
seeds; the assertions are on that verified mean return. Each config is run at its default ``num_envs`` and at one
at least 4x apart, with no other override: the schedules are per iteration, so they do not change with ``num_envs``.
"""

import math

import pytest
import torch

from isaac_rl.app.build import make_env, make_trainer
from isaac_rl.runtime.evaluate import evaluate
from tests.conftest import shipped

# (task, train config, bar, the other num_envs tested beside the default one)
SHIPPED = [("CartPole-v1", "CartPole-v1DQN", 475.0, 256), ("Pendulum", "PendulumDDPG", -200.0, 256),
           ("Cartpole", "CartpoleDQN", 490.0, 1024), ("Cartpole", "CartpoleDDPG", 490.0, 1024),
           ("Pendulum", "PendulumTD3", -200.0, 256), ("Pendulum", "PendulumSAC", -200.0, 256),
           ("Cartpole", "CartpoleTD3", 490.0, 1024), ("Cartpole", "CartpoleSAC", 490.0, 1024)]


def train(cfg):
    torch.set_num_threads(1)  # as scripts/train.py for one agent (the shipped torch_threads=auto)
    trainer, _, _ = make_trainer(cfg, "cpu", verbose=False)
    summary = trainer.train()
    return trainer, summary


def assert_verified(summary, bar):
    """The run stopped solved and its policy met the bar on >= 1,000 fresh deterministic episodes."""
    assert summary["solved_at"] is not None, summary
    assert summary["eval/verified_episodes"] >= 1000, summary
    assert summary.get("eval/verified_mean_return", -math.inf) >= bar, summary


# Isaac-preset TD3 and SAC are claimed at their default num_envs (the "Renovation" issue's bars), kept out of CI at
# 1024 envs for time. The Pendulum configs, with tau 0.03, verified at 256 and 4096 envs too (BENCHMARKS.md).
# Isaac-preset DDPG is tested at 1024 envs since its recipe has the CAPS smoothness penalty (seeds 1-3: 300, 550,
# 500 iterations; without it seeds 2 and 3 ended 6,000 iterations at verified means of 420 and 485).
DEFAULT_ONLY = ("CartpoleTD3", "CartpoleSAC")
CASES = [(*case, seed, default) for case in SHIPPED for seed in (1, 2, 3) for default in (True, False)
         if case[1] not in DEFAULT_ONLY or default]


@pytest.mark.slow
@pytest.mark.parametrize("task, train_name, bar, other, seed, default", CASES,
                         ids=[f"{c[1]}-seed{c[4]}-{'default' if c[5] else c[3]}_envs" for c in CASES])
def test_shipped_config_reaches_its_verified_bar(task, train_name, bar, other, seed, default):
    overrides = [] if default else [f"num_envs={other}"]
    cfg = shipped(task, train_name, seed, "torch", *overrides)
    assert default or 4 * min(other, cfg["task"]["num_envs"]) <= max(other, cfg["task"]["num_envs"])
    _, summary = train(cfg)
    assert_verified(summary, bar)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_dqn_torch_cartpole_v1_policy_scores_475_in_real_gymnasium(seed):
    trainer, summary = train(shipped("CartPole-v1", "CartPole-v1DQN", seed))
    assert_verified(summary, 475.0)
    # The same greedy policy in real gymnasium CartPole-v1 (gymnasium's own physics, 100 fresh episodes).
    gym_env = make_env(shipped("CartPole-v1", "CartPole-v1DQN", seed)["task"], "gymnasium", 100, "cpu", seed + 100)
    result = evaluate(gym_env, trainer.algo.act, seed=seed + 100)
    gym_env.close()
    assert result["eval/mean_return"] >= 475.0, result


@pytest.mark.slow
def test_dqn_on_the_gymnasium_backend_learns_cartpole_v1():
    """The CPU fallback: gymnasium's own CartPole-v1 envs (few, since each is a Python object), verified too."""
    _, summary = train(shipped("CartPole-v1", "CartPole-v1DQN", 1, "gymnasium", "num_envs=32", "num_eval_envs=32"))
    assert_verified(summary, 475.0)
