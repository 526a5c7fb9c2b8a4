"""On-policy learners (PPO): returns and losses against hand computations, the adaptive-KL schedule, bit-identical
resume, populations, and the refusal of settings an on-policy learner has no use for."""

import math

import pytest
import torch

from isaac_rl.algorithms.ppo import PPO, PPOSettings
from isaac_rl.app import checkpoint
from isaac_rl.app.build import make_trainer
from isaac_rl.app.config import resolve
from isaac_rl.core.errors import ConfigError
from isaac_rl.storage.rollout import gae
from tests.conftest import compose_config, shipped


def test_gae_equals_a_hand_computation_with_truncation_and_termination():
    """Three steps of one env: step 0 goes on, step 1 is truncated (bootstraps from V(final_obs) = 5, not from the
    next episode's first observation), step 2 is terminated (no bootstrap)."""
    g, lam = 0.9, 0.8
    rewards = torch.tensor([[1.0], [2.0], [3.0]])
    values = torch.tensor([[0.5], [1.5], [2.5]])
    next_values = torch.tensor([[1.5], [5.0], [7.0]])  # V(s'_t): s'_0 = s_1; s'_1 the truncated episode's last obs
    terminated = torch.tensor([[0.0], [0.0], [1.0]])
    done = torch.tensor([[0.0], [1.0], [1.0]])
    adv, ret = gae(rewards, values, next_values, terminated, done, g, lam)
    d2 = 3.0 - 2.5  # terminated: r - V
    d1 = 2.0 + g * 5.0 - 1.5  # truncated: bootstrapped from the final observation's value
    d0 = 1.0 + g * 1.5 - 0.5
    a2, a1 = d2, d1  # the episode boundary after step 1 cuts the recursion
    a0 = d0 + g * lam * a1
    assert torch.allclose(adv.view(-1), torch.tensor([a0, a1, a2]))
    assert torch.allclose(ret, adv + values)


def _ppo(policy="gaussian", **kw):
    torch.manual_seed(0)
    settings = PPOSettings(policy=policy, hidden=[8], **kw)
    from isaac_rl.algorithms.efforts import DiscreteEfforts

    efforts = DiscreteEfforts([-1.0, 0.0, 1.0], torch.device("cpu")) if policy == "categorical" else None
    return PPO([settings], obs_dim=3, act_dim=1, device=torch.device("cpu"), seeds=[0], efforts=efforts)


@pytest.mark.parametrize("policy", ["gaussian", "categorical"])
def test_ppo_clipped_loss_equals_a_hand_computation(policy):
    ppo = _ppo(policy, desired_kl=None, value_coef=0.5, entropy_coef=0.01)
    obs = torch.randn(1, 6, 3)
    dist = ppo._dist(ppo.actor(ppo._norm(obs))).detach()
    if policy == "categorical":
        action = torch.tensor([[0, 1, 2, 0, 1, 2]])
    else:
        action = torch.randn(1, 6, 1)
    logp, entropy = ppo._log_prob_entropy(dist, action)
    old_logp = logp + torch.tensor([[0.5, -0.5, 0.05, -0.05, 0.3, -0.3]])  # ratios beyond and inside the clip
    adv = torch.tensor([[1.0, -1.0, 2.0, -2.0, -1.0, 1.0]])
    v = ppo.critic(ppo._norm(obs)).squeeze(-1).detach()
    old_v = v + torch.tensor([[0.5, -0.5, 0.1, 0.0, 0.3, -0.1]])
    ret = torch.randn(1, 6)
    expected_surrogate, expected_value = 0.0, 0.0
    for i in range(6):
        r = math.exp(float(logp[0, i] - old_logp[0, i]))
        a = float(adv[0, i])
        expected_surrogate += -min(r * a, min(max(r, 0.8), 1.2) * a) / 6
        vi, ovi, ri = float(v[0, i]), float(old_v[0, i]), float(ret[0, i])
        clipped = ovi + min(max(vi - ovi, -0.2), 0.2)
        expected_value += max((vi - ri) ** 2, (clipped - ri) ** 2) / 6
    if policy == "gaussian":  # entropy of N(mean, std^2): 0.5 + 0.5 log(2 pi) + log std
        assert torch.allclose(entropy, torch.full_like(entropy, 0.5 + 0.5 * math.log(2 * math.pi)))
    metrics = ppo._step(obs, action, old_logp, dist, old_v, adv, ret)
    assert metrics["losses/surrogate"].item() == pytest.approx(expected_surrogate, rel=1e-5)
    assert metrics["losses/value_loss"].item() == pytest.approx(expected_value, rel=1e-5)
    assert metrics["losses/entropy"].item() == pytest.approx(float(entropy.mean()), rel=1e-5)


def test_adaptive_kl_schedule_moves_the_learning_rate_as_specified():
    """KL above 2 x desired: lr / 1.5; below desired / 2 (and > 0): lr x 1.5; between: unchanged; within
    [1e-5, 1e-2]; the rate is Adam's device tensor."""
    ppo = _ppo(desired_kl=0.01, lr=1e-3)
    obs, action = torch.randn(1, 16, 3), torch.randn(1, 16, 1)
    dist = ppo._dist(ppo.actor(obs)).detach()
    logp, _ = ppo._log_prob_entropy(dist, action)
    zeros = torch.zeros(1, 16)

    def step_with_kl(shift):
        old = dist.clone()
        old[..., 0] += shift  # KL(N(mu + s, sigma) || N(mu, sigma)) = s^2 / (2 sigma^2), sigma = 1 here
        current = ppo._dist(ppo.actor(obs)).detach()
        kl = ppo.kl(old, current).mean().item()
        before = ppo.optimizer.lr_tensor.item()
        ppo._step(obs, action, logp.detach(), old, zeros, zeros, zeros)
        return kl, before, ppo.optimizer.lr_tensor.item()

    kl, before, after = step_with_kl(0.5)  # KL ~ 0.125 > 0.02
    assert kl > 0.02 and after == pytest.approx(before / 1.5)
    kl, before, after = step_with_kl(0.01)  # KL ~ 5e-5 < 0.005
    assert 0 < kl < 0.005 and after == pytest.approx(before * 1.5)
    ppo.optimizer.lr_tensor.fill_(0.009)
    kl, before, after = step_with_kl(0.0)  # an updated network: a small KL, > 0
    assert after == pytest.approx(1e-2)  # 0.009 x 1.5 capped at 1e-2
    kl, before, after = step_with_kl(0.13)  # KL ~ 0.0085: inside [0.005, 0.02]
    assert 0.005 < kl < 0.02 and after == pytest.approx(before)


def _cfg(*overrides, **loop):
    return shipped("Cartpole", "CartpolePPO", 3, "torch", "num_envs=32", "num_eval_envs=8", *overrides,
                   eval_interval=0, verify_episodes=0, log_interval=5, eval_target=None, **loop)


@pytest.mark.parametrize("overrides", [(), ("train.algo.policy=categorical",)], ids=["gaussian", "categorical"])
def test_ppo_checkpoint_resumes_bit_identically(tmp_path, overrides):
    torch.set_num_threads(1)
    straight = make_trainer(_cfg(*overrides, max_iterations=6), "cpu", eval_env=False, verbose=False)[0]
    straight.train()
    first = make_trainer(_cfg(*overrides, max_iterations=3), "cpu", eval_env=False, verbose=False)[0]
    first.train()
    path = str(tmp_path / "ckpt.pt")
    checkpoint.save_atomic({"trainer": first.state_dict()}, path)
    torch.manual_seed(12345)
    resumed = make_trainer(_cfg(*overrides, max_iterations=6), "cpu", eval_env=False, verbose=False)[0]
    resumed.load_state_dict(checkpoint.load(path)["trainer"])
    resumed.train()
    assert straight.updates == resumed.updates == 6 * 20 and straight.env_steps == 6 * 8 * 32
    for (net, a), b in zip(straight.algo.modules().items(), resumed.algo.modules().values()):
        for (name, tensor), other in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(tensor, other), (net, name)
    assert torch.equal(straight.algo.optimizer.lr_tensor, resumed.algo.optimizer.lr_tensor)


def test_a_ppo_population_runs_with_per_agent_settings():
    torch.set_num_threads(1)
    cfg = _cfg("population=2", "population_vary.gae_lambda=[0.9,0.95]", "population_vary.entropy_coef=[0.0,0.01]",
               max_iterations=4)
    trainer = make_trainer(cfg, "cpu", eval_env=False, verbose=False)[0]
    logged = []
    trainer.hooks.log = lambda metrics, step: logged.append(dict(metrics))
    summary = trainer.train()
    assert summary["iterations"] == 4 and len(summary["agents"]) == 2
    assert any("agent1/losses/surrogate" in m for m in logged)
    assert torch.isfinite(torch.cat([p.flatten() for m in trainer.algo.modules().values()
                                     for p in m.parameters()])).all()
    one = trainer.algo.policy_module(1)
    assert one(torch.zeros(5, trainer.env.obs_dim)).shape == (5, 1)


@pytest.mark.parametrize("override, message", [
    ("train.loop.batch_size=128", "invalid config: train.loop.batch_size=128; allowed: nothing for PPO: an "
     "on-policy algorithm keeps no replay buffer"),
    ("train.algo.minibatches=3", "invalid config: train.algo.minibatches=3; allowed: a divisor of "
     "train.algo.rollout_steps x num_envs = 8 x 512 = 4096"),
    ("train.algo.policy=beta", "invalid config: train.algo.policy='beta'; allowed: gaussian or categorical"),
    ("train.algo.n_step=3", "invalid config: train.algo.n_step=3; allowed: 1 for PPO"),
    ("population_vary.tau=[0.1]", "invalid config: population_vary.tau=[0.1]; allowed: a key that can vary per agent "
     "for PPO: gamma, lr, gae_lambda, entropy_coef"),
])
def test_bad_on_policy_keys_are_refused_in_one_line(override, message):
    prefix = "+" if override.startswith(("train.loop.batch_size", "train.algo.n_step")) else ""
    with pytest.raises(ConfigError) as err:
        resolve(compose_config(["task=Cartpole", "train=CartpolePPO", "num_envs=512", "sim_device=cpu",
                                prefix + override]))
    assert str(err.value).startswith(message) and "\n" not in str(err.value), str(err.value)


@pytest.mark.parametrize("policy", ["gaussian", "categorical"])
@torch._dynamo.config.patch(specialize_int=True, automatic_dynamic_shapes=False)
def test_traced_ppo_iteration_equals_eager_bit_for_bit_and_never_retraces(policy):
    """The rollout and its learning as one traced function (what compile=True compiles and cuda_graph=True records)
    computes the eager numbers; a host value in it (the adaptive learning rate read back, a step count) would fail
    a guard and retrace, which raises here."""
    from tests.runtime.test_capture import state_tensors

    torch._dynamo.reset()
    torch.set_num_threads(1)
    overrides = (f"train.algo.policy={policy}", "train.algo.rollout_steps=4", "train.algo.epochs=2",
                 "train.algo.minibatches=2")
    eager = make_trainer(_cfg(*overrides, max_iterations=6), "cpu", eval_env=False, verbose=False)[0]
    for _ in range(6):
        eager.train_step()
    traced = make_trainer(_cfg(*overrides, max_iterations=6), "cpu", eval_env=False, verbose=False)[0]
    traced.learning.learn = torch.compile(traced.learning.learning_iteration, backend="aot_eager")
    traced.train_step()
    with torch._dynamo.config.patch(error_on_recompile=True):
        for _ in range(5):
            traced.train_step()
    a, b = state_tensors(eager), state_tensors(traced)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs between the eager and the traced iteration"


def test_q_lambda_targets_equal_a_hand_computation():
    """PQN's Q(lambda) over three steps of one env: step 0 goes on, step 1 is truncated (bootstraps from max Q of
    its final observation), step 2 is terminated (no bootstrap)."""
    from isaac_rl.storage.rollout import q_lambda

    g, lam = 0.9, 0.5
    rewards = torch.tensor([[1.0], [2.0], [3.0]])
    next_max = torch.tensor([[4.0], [6.0], [8.0]])  # max_a Q(s'_t, a)
    terminated = torch.tensor([[0.0], [0.0], [1.0]])
    done = torch.tensor([[0.0], [1.0], [1.0]])
    targets = q_lambda(rewards, next_max, terminated, done, g, lam)
    g2 = 3.0  # terminated
    g1 = 2.0 + g * 6.0  # truncated: the one-step bootstrap from the final observation
    g0 = 1.0 + g * ((1 - lam) * 4.0 + lam * g1)
    assert torch.allclose(targets.view(-1), torch.tensor([g0, g1, g2]))
    # An unfinished last step bootstraps one step: G_{T-1} = r + gamma m_{T-1}.
    last = q_lambda(rewards[:1], next_max[:1], terminated[:1], torch.zeros(1, 1), g, lam)
    assert torch.allclose(last, torch.tensor([[1.0 + g * 4.0]]))


def _pqn_cfg(*overrides, **loop):
    return shipped("CartPole-v1", "CartPole-v1PQN", 3, "torch", "num_envs=32", "num_eval_envs=8", *overrides,
                   eval_interval=0, verify_episodes=0, log_interval=5, eval_target=None, **loop)


def test_pqn_checkpoint_resumes_bit_identically(tmp_path):
    torch.set_num_threads(1)
    straight = make_trainer(_pqn_cfg(max_iterations=6), "cpu", eval_env=False, verbose=False)[0]
    straight.train()
    first = make_trainer(_pqn_cfg(max_iterations=3), "cpu", eval_env=False, verbose=False)[0]
    first.train()
    path = str(tmp_path / "ckpt.pt")
    checkpoint.save_atomic({"trainer": first.state_dict()}, path)
    torch.manual_seed(12345)
    resumed = make_trainer(_pqn_cfg(max_iterations=6), "cpu", eval_env=False, verbose=False)[0]
    resumed.load_state_dict(checkpoint.load(path)["trainer"])
    resumed.train()
    assert straight.updates == resumed.updates == 6 * 8 and straight.env_steps == 6 * 4 * 32  # 8 minibatches, 4 steps
    for (net, a), b in zip(straight.algo.modules().items(), resumed.algo.modules().values()):
        for (name, tensor), other in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(tensor, other), (net, name)
    assert torch.equal(straight.obs, resumed.obs)


def test_a_pqn_population_runs_with_per_agent_settings():
    torch.set_num_threads(1)
    cfg = _pqn_cfg("population=2", "population_vary.q_lambda=[0.5,0.9]", "population_vary.lr=[1e-3,4e-3]",
                   max_iterations=4)
    trainer = make_trainer(cfg, "cpu", eval_env=False, verbose=False)[0]
    logged = []
    trainer.hooks.log = lambda metrics, step: logged.append(dict(metrics))
    summary = trainer.train()
    assert summary["iterations"] == 4 and len(summary["agents"]) == 2
    assert any("agent1/losses/td_loss" in m for m in logged)
    one = trainer.algo.policy_module(1)
    assert set(one(torch.zeros(5, trainer.env.obs_dim)).view(-1).tolist()) <= {-1.0, 1.0}


@torch._dynamo.config.patch(specialize_int=True, automatic_dynamic_shapes=False)
def test_traced_pqn_iteration_equals_eager_bit_for_bit_and_never_retraces():
    from tests.runtime.test_capture import state_tensors

    torch._dynamo.reset()
    torch.set_num_threads(1)
    eager = make_trainer(_pqn_cfg(max_iterations=6), "cpu", eval_env=False, verbose=False)[0]
    eager.algo.optimizer.fused = False  # the multi-tensor kernels a traced step runs (fused Adam rounds otherwise)
    for _ in range(6):
        eager.train_step()
    traced = make_trainer(_pqn_cfg(max_iterations=6), "cpu", eval_env=False, verbose=False)[0]
    traced.algo.optimizer.fused = False
    traced.learning.learn = torch.compile(traced.learning.learning_iteration, backend="aot_eager")
    traced.train_step()
    with torch._dynamo.config.patch(error_on_recompile=True):
        for _ in range(5):  # epsilon reads the device clock: no retrace as it moves
            traced.train_step()
    a, b = state_tensors(eager), state_tensors(traced)
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs between the eager and the traced iteration"


def test_bad_pqn_keys_are_refused_in_one_line():
    with pytest.raises(ConfigError) as err:
        resolve(compose_config(["task=CartPole-v1", "train=CartPole-v1PQN", "sim_device=cpu",
                                "+train.loop.updates_per_step=4"]))
    assert str(err.value).startswith("invalid config: train.loop.updates_per_step=4; allowed: nothing for PQN: an "
                                     "on-policy algorithm keeps no replay buffer"), str(err.value)
    with pytest.raises(ConfigError, match=r"^invalid config: train.algo.q_lambda=1.5; allowed: a number in \[0, 1\]$"):
        resolve(compose_config(["task=CartPole-v1", "train=CartPole-v1PQN", "sim_device=cpu",
                                "train.algo.q_lambda=1.5"]))


def test_tabular_update_equals_a_hand_computation():
    """Three envs, one step: two in the same cell and action (their TD errors averaged), one terminated (no
    bootstrap); a value outside [low, high] falls into the edge interval."""
    from isaac_rl.algorithms.efforts import DiscreteEfforts
    from isaac_rl.algorithms.tabular import Tabular, TabularSettings
    from isaac_rl.storage.rollout import RolloutStorage

    settings = TabularSettings(bins=[2, 3], low=[-1.0, -1.0], high=[1.0, 1.0], alpha=0.5, gamma=0.9)
    algo = Tabular([settings], 2, DiscreteEfforts([-1.0, 1.0], torch.device("cpu")), torch.device("cpu"))
    assert algo.q.grid(torch.tensor([[-0.5, -0.9], [0.5, 0.9], [5.0, 0.0], [-5.0, -5.0]])).tolist() == [0, 5, 4, 0]
    algo.q.table.data[0, 5] = torch.tensor([2.0, 4.0])  # cell 5: max Q = 4
    storage = RolloutStorage(1, 3, 2, (), torch.long, torch.device("cpu"), {})
    obs = torch.tensor([[-0.5, -0.9], [-0.6, -0.8], [0.5, 0.9]])  # cells 0, 0, 5
    nxt = torch.tensor([[0.5, 0.9], [0.5, 0.9], [0.5, 0.9]])  # cell 5
    storage.insert(0, obs, torch.tensor([1, 1, 0]), torch.tensor([1.0, 3.0, 1.0]), nxt,
                   torch.tensor([False, False, True]), torch.tensor([False, False, True]), {})
    algo.learn(storage, torch.zeros(()))
    d0, d1 = 1.0 + 0.9 * 4.0 - 0.0, 3.0 + 0.9 * 4.0 - 0.0
    assert algo.q.table[0, 0, 1].item() == pytest.approx(0.5 * (d0 + d1) / 2)
    assert algo.q.table[0, 5, 0].item() == pytest.approx(2.0 + 0.5 * (1.0 - 2.0))  # terminated: r - Q
    assert algo.q.table[0, 5, 1].item() == 4.0 and algo.q.table[0, 0, 0].item() == 0.0


def test_tabular_resumes_bit_identically_and_runs_a_population(tmp_path):
    torch.set_num_threads(1)

    def cfg(*overrides, **loop):
        return shipped("CartPole-v1", "CartPole-v1Tabular", 3, "torch", "num_envs=32", "num_eval_envs=8", *overrides,
                       eval_interval=0, verify_episodes=0, log_interval=5, eval_target=None, **loop)

    straight = make_trainer(cfg(max_iterations=40), "cpu", eval_env=False, verbose=False)[0]
    straight.train()
    first = make_trainer(cfg(max_iterations=20), "cpu", eval_env=False, verbose=False)[0]
    first.train()
    path = str(tmp_path / "ckpt.pt")
    checkpoint.save_atomic({"trainer": first.state_dict()}, path)
    resumed = make_trainer(cfg(max_iterations=40), "cpu", eval_env=False, verbose=False)[0]
    resumed.load_state_dict(checkpoint.load(path)["trainer"])
    resumed.train()
    assert torch.equal(straight.algo.q.table, resumed.algo.q.table) and straight.algo.q.table.abs().sum() > 0
    pop = make_trainer(cfg("population=2", "population_vary.alpha=[0.1,0.3]", max_iterations=10), "cpu",
                       eval_env=False, verbose=False)[0]
    assert len(pop.train()["agents"]) == 2
    assert pop.algo.policy_module(1)(torch.zeros(3, 4)).shape == (3, 1)


def test_tabular_bins_must_match_the_observation():
    with pytest.raises(ConfigError, match=r"^invalid config: train.algo.low=\[0.0\]; allowed: a list of 4 finite"):
        resolve(compose_config(["task=CartPole-v1", "train=CartPole-v1Tabular", "sim_device=cpu",
                                "train.algo.low=[0.0]"]))
    cfg = shipped("CartPole-v1", "CartPole-v1Tabular", 1, "torch", "train.algo.bins=[6,12]", "train.algo.low=[0,0]",
                  "train.algo.high=[1,1]", "num_envs=8")
    with pytest.raises(ConfigError, match=r"^invalid config: train.algo.bins=\[6, 12\]; allowed: a list of 4 "):
        make_trainer(cfg, "cpu", eval_env=False, verbose=False)


def test_tabular_refuses_multi_gpu_in_one_line():
    with pytest.raises(ConfigError, match=r"^invalid config: multi_gpu=True; allowed: False with "
                                          r"train.algo.name=Tabular"):
        resolve(compose_config(["task=CartPole-v1", "train=CartPole-v1Tabular", "sim_device=cpu", "multi_gpu=True"]))
