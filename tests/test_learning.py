"""Learning bars with the shipped configs (cfg/task, cfg/train), on CPU, several seeds; no timing assertions.

Each run trains until its evaluation (one deterministic episode per eval env) meets the bar or the config's
iteration budget ends; the assertions are on returns reached.
"""

import math
import os

import pytest
import torch
import yaml

from isaac_rl.build import make_env, make_trainer
from isaac_rl.evaluate import evaluate
from tests.conftest import ROOT


def shipped(task, train, seed, sim="torch", **loop):
    """The resolved config ``scripts/train.py task=<task> train=<train> seed=<seed> sim=<sim>`` would use."""
    with open(os.path.join(ROOT, "cfg", "task", f"{task}.yaml")) as f:
        task_cfg = yaml.safe_load(f)
    with open(os.path.join(ROOT, "cfg", "train", f"{train}.yaml")) as f:
        train_cfg = yaml.safe_load(f)
    train_cfg["loop"].update(loop)
    return dict(task=task_cfg, train=train_cfg, sim=sim, num_envs=task_cfg["num_envs"], seed=seed)


def train(cfg):
    torch.set_num_threads(1)  # as scripts/train.py with the shipped torch_threads=1
    trainer, _, _ = make_trainer(cfg, "cpu", verbose=False)
    summary = trainer.train()
    return trainer, summary


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_dqn_torch_cartpole_v1_reaches_500_and_scores_475_in_real_gymnasium(seed):
    trainer, summary = train(shipped("CartPole-v1", "CartPole-v1DQN", seed, eval_target=500.0))
    assert summary.get("eval/mean_return", -math.inf) == 500.0, summary
    # The same greedy policy in real gymnasium CartPole-v1 (gymnasium's own physics, 20 fresh episodes).
    gym_env = make_env(shipped("CartPole-v1", "CartPole-v1DQN", seed)["task"], "gymnasium", 20, "cpu", seed + 100)
    result = evaluate(gym_env, trainer.agent.policy, seed=seed + 100)
    gym_env.close()
    assert result["eval/mean_return"] >= 475.0, result


def test_dqn_on_the_gymnasium_backend_learns_cartpole_v1():
    _, summary = train(shipped("CartPole-v1", "CartPole-v1DQN", 1, sim="gymnasium"))
    assert summary.get("eval/mean_return", -math.inf) >= 475.0, summary


@pytest.mark.parametrize("seed", [1, 2])
def test_ddpg_torch_pendulum_reaches_minus_200(seed):
    _, summary = train(shipped("Pendulum", "PendulumDDPG", seed))
    assert summary.get("eval/mean_return", -math.inf) >= -200.0, summary



@pytest.mark.parametrize("seed", [2, 3])
def test_ddpg_torch_isaac_cartpole_reaches_490(seed):
    _, summary = train(shipped("Cartpole", "CartpoleDDPG", seed))
    assert summary.get("eval/mean_return", -math.inf) >= 490.0, summary


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_dqn_torch_isaac_cartpole_reaches_490(seed):
    _, summary = train(shipped("Cartpole", "CartpoleDQN", seed))
    assert summary.get("eval/mean_return", -math.inf) >= 490.0, summary
