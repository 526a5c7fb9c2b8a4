"""Populations: K independent agents in one stacked learner. Independence (an agent's numbers do not depend on
another's hyper-parameters), population=1 is the one-agent run, agent k starts from the weights of the one-agent run
of seed + k, per-agent hyper-parameters reach the learner, freezing, and the refusals of bad population settings."""

import pytest
import torch

from isaac_rl.algorithms.population import agent_state
from isaac_rl.app.build import make_trainer
from isaac_rl.app.config import resolve
from isaac_rl.core.errors import ConfigError
from isaac_rl.storage.nstep import NStepWindow
from tests.conftest import compose_config, shipped

CASES = [("CartPole-v1", "CartPole-v1DQN"), ("Pendulum", "PendulumDDPG"), ("Pendulum", "PendulumTD3"),
         ("Pendulum", "PendulumSAC")]
LR = {"CartPole-v1DQN": "lr", "PendulumDDPG": "critic_lr", "PendulumTD3": "critic_lr", "PendulumSAC": "critic_lr"}


def _trainer(task, train, *overrides, iterations=30):
    cfg = shipped(task, train, 5, "torch", "num_envs=8", "num_eval_envs=4", *overrides, max_iterations=iterations,
                  warmup_iterations=4, eval_interval=0, verify_episodes=0, buffer_per_env=16, batch_size=16)
    return make_trainer(cfg, "cpu", eval_env=False, verbose=False)[0]


def _agent_slices(trainer, k):
    return {f"{name}.{key}": t[k].clone() for name, net in trainer.algo.modules().items()
            for key, t in net.state_dict().items()}


@pytest.mark.parametrize("task, train", CASES, ids=[c[1] for c in CASES])
def test_an_agents_numbers_do_not_depend_on_another_agents_learning_rate(task, train):
    """Change agent 2's learning rate: agents 0 and 1 end bit-identical after 30 iterations of updates; agent 2 not."""
    key = LR[train]
    runs = []
    for rates in ("[1e-3,1e-3,1e-3]", "[1e-3,1e-3,8e-3]"):
        trainer = _trainer(task, train, "population=3", f"population_vary.{key}={rates}")
        trainer.train()
        runs.append(trainer)
    assert runs[0].updates == runs[1].updates > 0
    for k in (0, 1):
        a, b = _agent_slices(runs[0], k), _agent_slices(runs[1], k)
        assert all(torch.equal(a[name], b[name]) for name in a), k
    a, b = _agent_slices(runs[0], 2), _agent_slices(runs[1], 2)
    assert not all(torch.equal(a[name], b[name]) for name in a)


def test_population_1_is_the_one_agent_run():
    """population=1 (and no population key at all, as configs before populations) train to the same weights."""
    one = _trainer("Pendulum", "PendulumDDPG", "population=1")
    one.train()  # before the next build reseeds torch's generator
    cfg = shipped("Pendulum", "PendulumDDPG", 5, "torch", "num_envs=8", "num_eval_envs=4", max_iterations=30,
                  warmup_iterations=4, eval_interval=0, verify_episodes=0, buffer_per_env=16, batch_size=16)
    del cfg["population"], cfg["population_vary"]
    plain = make_trainer(cfg, "cpu", eval_env=False, verbose=False)[0]
    plain.train()
    a, b = _agent_slices(one, 0), _agent_slices(plain, 0)
    assert all(torch.equal(a[name], b[name]) for name in a)


@pytest.mark.parametrize("task, train", CASES, ids=[c[1] for c in CASES])
def test_agent_k_starts_from_the_weights_of_the_one_agent_run_of_seed_plus_k(task, train):
    population = _trainer(task, train, "population=3", iterations=1)
    for k in range(3):
        single = make_trainer(shipped(task, train, 5 + k, "torch", "num_envs=8"), "cpu", eval_env=False,
                              verbose=False)[0]
        a, b = _agent_slices(population, k), _agent_slices(single, 0)
        assert all(torch.equal(a[name], b[name]) for name in a), k


def test_varied_hyper_parameters_reach_each_agent():
    dqn = _trainer("CartPole-v1", "CartPole-v1DQN", "population=3", "population_vary.lr=[1e-3,2e-3,4e-3]",
                   "population_vary.gamma=[0.9,0.95,0.99]", "population_vary.eps_end=[0.0,0.1,0.2]",
                   "population_vary.tau=[1.0,0.5,0.25]", iterations=1).algo
    assert dqn.optimizer.rates == [1e-3, 2e-3, 4e-3]
    assert torch.allclose(dqn.gamma.view(-1), torch.tensor([0.9, 0.95, 0.99]))
    assert torch.allclose(dqn.tau, torch.tensor([1.0, 0.5, 0.25]))
    assert torch.allclose(dqn.epsilon(torch.tensor(1e6)).view(-1), torch.tensor([0.0, 0.1, 0.2]))
    ddpg = _trainer("Pendulum", "PendulumDDPG", "population=2", "population_vary.noise_sigma=[0.0,0.5]",
                    "population_vary.actor_lr=[1e-4,1e-3]", iterations=1).algo
    noise = ddpg.noise.sample()  # envs 0-7 agent 0 (sigma 0), 8-15 agent 1
    assert noise[:8].abs().max() == 0 and noise[8:].std() > 0.3
    assert ddpg.actor_optimizer.rates == [1e-4, 1e-3]


def test_each_agent_sums_its_own_n_step_horizon_and_discount():
    """Agent 0: n=1, gamma 0.5; agent 1: n=3, gamma 0.9 (one env each); reward 1 per step, no episode end."""
    w = NStepWindow([1, 3], [0.5, 0.9], num_envs=2, obs_dim=1, action_shape=(), device=torch.device("cpu"))
    out = None
    for t in range(4):
        obs = torch.full((2, 1), float(t))
        out = w.push(obs, torch.zeros(2, dtype=torch.long), torch.ones(2), obs + 1, torch.zeros(2),
                     torch.zeros(2, dtype=torch.bool))
    obs, _, ret, next_obs, _, horizon = out
    assert horizon.tolist() == [1.0, 3.0]
    assert torch.allclose(ret, torch.tensor([1.0, 1 + 0.9 + 0.81]))
    assert next_obs[:, 0].tolist() == [1.0 + 1.0, 1.0 + 3.0]  # s_{t+m} of the oldest entry (t = 1)
    assert obs[:, 0].tolist() == [1.0, 1.0]


def test_a_frozen_agent_keeps_its_weights_while_the_others_learn():
    trainer = _trainer("CartPole-v1", "CartPole-v1DQN", "population=2", iterations=10)
    trainer.train()
    before = [_agent_slices(trainer, k) for k in range(2)]
    trainer.algo.freeze(torch.tensor([True, False]))
    trainer.cfg.max_iterations = 20
    trainer.train()
    after = [_agent_slices(trainer, k) for k in range(2)]
    assert all(torch.equal(before[0][n], after[0][n]) for n in before[0])
    assert not all(torch.equal(before[1][n], after[1][n]) for n in before[1])


def test_agent_state_is_a_one_agent_learners_state():
    trainer = _trainer("Pendulum", "PendulumSAC", "population=3", "population_vary.actor_lr=[1e-3,2e-3,3e-3]")
    trainer.train()
    one = agent_state(trainer.algo.state_dict(), 2, 3)
    assert one["actor_optimizer"]["lr"] == 3e-3
    assert torch.equal(one["actor"]["net.0.weight"], trainer.algo.actor.net[0].weight[2:3])


@pytest.mark.parametrize("overrides, message", [
    (["population=0"], "population=0; allowed: an integer in"),
    (["population=2", "population_vary.lr=[1e-3]"], r"population_vary.lr=\[0.001\]; allowed: a list of population=2"),
    (["population=2", "+population_vary.hidden=[[8],[16]]"], "population_vary.hidden=.*allowed: a key that can vary "
                                                              "per agent for DQN: gamma, tau, n_step, lr"),
    (["population=3", "population_vary.lr=[1e-3,2e-3,-1.0]"], r"train.algo.lr=-1.0.*agent 2: population_vary lr\[2\]"),
    (["population=2", "multi_gpu=True"], "multi_gpu=True; allowed: False with population > 1"),
    (["agent=-1"], "agent=-1; allowed: an integer >= 0"),
])
def test_bad_population_settings_fail_before_any_work_naming_the_key(overrides, message):
    raw = compose_config(["task=CartPole-v1", "train=CartPole-v1DQN", "sim_device=cpu", *overrides])
    with pytest.raises(ConfigError, match=message):
        resolve(raw)


def test_the_root_config_lists_every_key_that_can_vary():
    """``cfg/config.yaml``'s ``population_vary`` block (what Hydra and the CLI's pre-check accept) holds exactly the
    keys the algorithms' settings declare per-agent (``PER_AGENT``)."""
    import yaml

    from isaac_rl.algorithms import ALGORITHMS
    from tests.conftest import ROOT

    with open(f"{ROOT}/cfg/config.yaml") as f:
        listed = set(yaml.safe_load(f)["population_vary"])
    assert listed == {key for settings, _ in ALGORITHMS.values() for key in settings.PER_AGENT}
