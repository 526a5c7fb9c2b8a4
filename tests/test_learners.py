"""TD targets against hand computations, target updates, replay buffer, and bit-identical checkpoint resumes."""

import pytest
import torch

from isaac_rl.algorithms.ddpg import DDPG
from isaac_rl.algorithms.dqn import DQN
from isaac_rl.algorithms.efforts import DiscreteEfforts
from isaac_rl.algorithms.networks import polyak_update
from isaac_rl.algorithms.noise import OUNoise
from isaac_rl.app import checkpoint
from isaac_rl.app.build import make_trainer
from isaac_rl.core.types import Batch
from isaac_rl.storage.replay import ReplayBuffer

TWO = DiscreteEfforts((-1.0, 1.0), torch.device("cpu"))


def _set_linear(net, weight, bias):
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(weight))
        net[0].bias.copy_(torch.tensor(bias))


def _dqn(double):
    dqn = DQN(obs_dim=2, efforts=TWO, device="cpu", hidden=(), gamma=0.9, double_dqn=double)
    _set_linear(dqn.q, [[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0])  # Q(s) = s
    _set_linear(dqn.q_target, [[2.0, 0.0], [0.0, 0.5]], [0.0, 0.0])  # Q'(s) = (2 s0, 0.5 s1)
    return dqn


BATCH = Batch(obs=torch.zeros(3, 2), action=torch.tensor([0, 1, 0]), reward=torch.tensor([1.0, -1.0, 0.5]),
              next_obs=torch.tensor([[1.0, 3.0], [4.0, 1.0], [2.0, 2.0]]), terminated=torch.tensor([0.0, 0.0, 1.0]))


def test_dqn_td_target_by_hand():
    # Q'(s') = [[2, 1.5], [8, 0.5], [4, 1]] -> max = [2, 8, 4]; third transition terminated.
    expected = torch.tensor([1.0 + 0.9 * 2.0, -1.0 + 0.9 * 8.0, 0.5])
    assert torch.allclose(_dqn(False).td_target(BATCH), expected)


def test_double_dqn_td_target_by_hand():
    # argmax Q(s') = [1, 0, 0 (tie -> first)]; Q'(s', a') = [1.5, 8, 4]
    expected = torch.tensor([1.0 + 0.9 * 1.5, -1.0 + 0.9 * 8.0, 0.5])
    assert torch.allclose(_dqn(True).td_target(BATCH), expected)


def test_ddpg_td_target_bootstraps_through_truncation_only():
    ddpg = DDPG(obs_dim=2, act_dim=1, device="cpu", hidden=(), gamma=0.5)
    _set_linear(ddpg.actor_target.net, [[0.0, 0.0]], [0.0])  # mu'(s') = tanh(0) = 0
    _set_linear(ddpg.critic_target.net, [[1.0, 1.0, 7.0]], [0.0])  # Q'(s', a) = s0 + s1 + 7 a
    batch = BATCH._replace(action=torch.zeros(3, 1))
    expected = torch.tensor([1.0 + 0.5 * 4.0, -1.0 + 0.5 * 5.0, 0.5])
    assert torch.allclose(ddpg.td_target(batch), expected)


@pytest.mark.parametrize("tau", [0.0, 0.005, 1.0])
def test_polyak_update_identity(tau):
    target, online = [torch.full((3,), 2.0)], [torch.full((3,), 4.0)]
    polyak_update(target, online, tau) if tau > 0 else None
    assert torch.allclose(target[0], torch.full((3,), 2.0 * (1 - tau) + 4.0 * tau))


def test_buffer_wraparound_keeps_newest_transitions():
    buf = ReplayBuffer(capacity=10, obs_dim=1, action_dim=0, device=torch.device("cpu"), verbose=False)
    for step in range(7):  # 7 adds of 4 identifiable transitions = 28 > 10
        ids = torch.arange(4) + 4 * step
        buf.add(ids[:, None].float(), ids, ids.float(), -ids[:, None].float(), torch.zeros(4))
    assert len(buf) == 10
    assert sorted(buf.obs[:, 0].long().tolist()) == list(range(18, 28))
    assert torch.equal(buf.reward, buf.obs[:, 0]) and torch.equal(buf.next_obs, -buf.obs)
    assert torch.equal(buf.action.float(), buf.obs[:, 0])
    sample = buf.sample(64)
    assert sample.obs.min() >= 18 and torch.equal(sample.action.float(), sample.obs[:, 0])


def test_buffer_refuses_capacity_beyond_free_memory():
    with pytest.raises(MemoryError, match="replay buffer of .* lower train.loop.buffer_per_env"):
        ReplayBuffer(capacity=10 ** 13, obs_dim=4, action_dim=0, device=torch.device("cpu"), verbose=False)


def test_ou_noise_resets_per_env():
    noise = OUNoise(4, 1, sigma=1.0, device=torch.device("cpu"))
    for _ in range(5):
        noise.sample()
    noise.reset(torch.tensor([True, False, True, False]))
    assert noise.state[[0, 2]].abs().sum() == 0 and noise.state[[1, 3]].abs().sum() > 0


def _cfg(algo):
    if algo == "DQN":
        a = dict(name="DQN", hidden=[32], lr=1e-3, gamma=0.99, tau=0.005, target_update_interval=1, double_dqn=True,
                 loss="huber", max_grad_norm=1.0, eps_start=1.0, eps_end=0.05, eps_decay_iterations=30,
                 efforts=[-1.0, 0.0, 1.0])
    else:
        a = dict(name="DDPG", hidden=[32], actor_lr=1e-3, critic_lr=1e-3, gamma=0.99, tau=0.005, policy_delay=2,
                 max_grad_norm=0.0, noise="ou", noise_sigma=0.2, ou_theta=0.15)
    loop = dict(max_iterations=60, warmup_iterations=4, batch_size=32, updates_per_step=2, buffer_per_env=25,
                log_interval=10, eval_interval=0, eval_target=None, checkpoint_interval=0)
    return dict(task=dict(name="Cartpole", env={}), sim="torch", num_envs=16, seed=3,
                train=dict(algo=a, loop=loop, eval_envs=4))


@pytest.mark.parametrize("algo, layer_norm", [("DQN", False), ("DDPG", False), ("DQN", True), ("DDPG", True)])
def test_checkpoint_round_trip_resumes_bit_identically(tmp_path, algo, layer_norm):
    """Device-side counters and pointers, the host update count (DDPG's delayed actor steps), OU noise state and
    LayerNorm networks all survive a checkpoint: the resumed run ends where the straight one does."""
    cfg = _cfg(algo)
    cfg["train"]["algo"]["layer_norm"] = layer_norm

    def build(config):
        return make_trainer(config, "cpu", eval_env=False, verbose=False)[0]

    straight = build(cfg)
    nets = list(straight.algo.modules().values())
    norms = [m for net in nets for m in net.modules() if isinstance(m, torch.nn.LayerNorm)]
    # DQN: Q-network and its target; DDPG: critic and its target (the actor has none)
    assert len(norms) == (2 * len(cfg["train"]["algo"]["hidden"]) if layer_norm else 0)
    straight.train()
    half = dict(cfg, train=dict(cfg["train"], loop=dict(cfg["train"]["loop"], max_iterations=30)))
    first = build(half)
    first.train()
    path = str(tmp_path / "ckpt.pt")
    checkpoint.save_atomic({"trainer": first.state_dict()}, path)
    torch.manual_seed(12345)  # the resumed run must not depend on the global RNG at load time
    resumed = build(cfg)
    resumed.load_state_dict(checkpoint.load(path)["trainer"])  # weights_only=True
    resumed.train()
    for (net, a), b in zip(straight.algo.modules().items(), resumed.algo.modules().values()):
        for (name, tensor), other in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(tensor, other), (net, name)
    assert torch.equal(straight.obs, resumed.obs) and straight.iteration == resumed.iteration == 60
    assert straight.updates == resumed.updates == 2 * (60 - 4 + 1)  # the last warm-up iteration also updates
    steps = {name: opt.steps for name, opt in resumed.algo.optimizers().items()}
    # DDPG with policy_delay=2: one actor step per two critic steps, also across the resume
    expected = {"optimizer": 114} if algo == "DQN" else {"actor_optimizer": 57, "critic_optimizer": 114}
    assert steps == expected


def test_nstep_window_matches_hand_computed_returns():
    from isaac_rl.storage.nstep import NStepWindow

    w = NStepWindow(3, 0.5, num_envs=2, obs_dim=1, action_shape=(), device=torch.device("cpu"))
    rewards = [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0], [4.0, 4.0]]
    done = [[0, 0], [0, 1], [0, 0], [0, 0]]  # env 1 terminates at t=1 (its next episode starts at t=2)
    outs = []
    for t in range(4):
        out = w.push(torch.full((2, 1), float(t)), torch.tensor([t, 10 + t]), torch.tensor(rewards[t]),
                     torch.full((2, 1), 100.0 + t), torch.tensor(done[t], dtype=torch.bool),
                     torch.tensor(done[t], dtype=torch.bool))
        outs.append(out)
    assert outs[0] is None and outs[1] is None
    obs, action, ret, next_obs, term, horizon = outs[2]  # transitions starting at t=0
    assert obs.flatten().tolist() == [0.0, 0.0] and action.tolist() == [0, 10]
    assert ret.tolist() == [1 + 0.5 * 2 + 0.25 * 3, 1 + 0.5 * 2]  # env 1 stops at its episode end
    assert horizon.tolist() == [3.0, 2.0] and term.tolist() == [0.0, 1.0]
    assert next_obs.flatten().tolist() == [102.0, 101.0]
    obs, action, ret, next_obs, term, horizon = outs[3]  # starting at t=1
    assert action.tolist() == [1, 11] and ret.tolist() == [2 + 0.5 * 3 + 0.25 * 4, 2.0]
    assert horizon.tolist() == [3.0, 1.0] and term.tolist() == [0.0, 1.0]
    assert next_obs.flatten().tolist() == [103.0, 101.0]


def test_nstep_td_target_discounts_by_gamma_to_the_horizon():
    dqn = DQN(2, TWO, "cpu", hidden=(4,), gamma=0.9, double_dqn=False)
    batch = BATCH._replace(horizon=torch.tensor([3.0, 1.0, 2.0]))
    next_q = dqn.q_target(batch.next_obs).max(-1).values
    expected = batch.reward + torch.tensor([0.9 ** 3, 0.9, 0.0]) * next_q
    assert torch.allclose(dqn.td_target(batch), expected)


def test_adam_matches_torch_optim_adam():
    from isaac_rl.algorithms.optim import Adam

    torch.manual_seed(0)
    nets = [torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3)) for _ in range(3)]
    nets[1].load_state_dict(nets[0].state_dict())
    nets[2].load_state_dict(nets[0].state_dict())
    ours, ours_foreach = Adam(nets[0].parameters(), 1e-2), Adam(nets[1].parameters(), 1e-2)
    ours_foreach.fused = False
    ref = torch.optim.Adam(nets[2].parameters(), 1e-2)
    x = torch.randn(64, 4)
    for _ in range(30):
        for net, opt in zip(nets, (ours, ours_foreach, ref)):
            opt.zero_grad()
            net(x).pow(2).mean().backward()
            opt.step()
    for net in nets[:2]:
        for p, q in zip(net.parameters(), nets[2].parameters()):
            assert torch.allclose(p, q, atol=1e-6)
    state = ours.state_dict()
    again = Adam(nets[0].parameters(), 1.0)
    again.load_state_dict(state)
    assert again.steps == 30 and again.param_groups[0]["lr"] == 1e-2


def test_td3_td_target_takes_the_smaller_twin_and_bootstraps_through_truncation_only():
    from isaac_rl.algorithms.td3 import TD3

    td3 = TD3(obs_dim=2, act_dim=1, device="cpu", hidden=(), gamma=0.5, target_noise=0.0)
    _set_linear(td3.actor_target.net, [[0.0, 0.0]], [0.0])  # mu'(s') = 0
    _set_linear(td3.critic_target.q1.net, [[1.0, 1.0, 7.0]], [0.0])  # Q1'(s', a) = s0 + s1 + 7 a
    _set_linear(td3.critic_target.q2.net, [[1.0, 0.0, 7.0]], [1.0])  # Q2'(s', a) = s0 + 1 + 7 a
    batch = BATCH._replace(action=torch.zeros(3, 1))
    # min(Q1', Q2') at s' = [[1, 3], [4, 1], [2, 2]]: min([4, 5, 4], [2, 5, 3]) = [2, 5, 3]; third terminated
    expected = torch.tensor([1.0 + 0.5 * 2.0, -1.0 + 0.5 * 5.0, 0.5])
    assert torch.allclose(td3.td_target(batch), expected)


def test_td3_target_smoothing_noise_is_clipped():
    """With a huge target_noise every smoothed target action is mu'(s') +- target_noise_clip, clamped to [-1, 1]."""
    from isaac_rl.algorithms.td3 import TD3

    td3 = TD3(obs_dim=2, act_dim=1, device="cpu", hidden=(), gamma=1.0, target_noise=1e6, target_noise_clip=0.25)
    _set_linear(td3.actor_target.net, [[0.0, 0.0]], [0.0])
    _set_linear(td3.critic_target.q1.net, [[0.0, 0.0, 1.0]], [0.0])  # Q'(s', a) = a
    _set_linear(td3.critic_target.q2.net, [[0.0, 0.0, 1.0]], [0.0])
    batch = Batch(torch.zeros(64, 2), torch.zeros(64, 1), torch.zeros(64), torch.zeros(64, 2), torch.zeros(64))
    assert set(td3.td_target(batch).tolist()) <= {-0.25, 0.25}


def test_sac_log_prob_matches_torch_distributions():
    """log pi(tanh(u)) of the squashed Gaussian equals torch.distributions' TransformedDistribution (tanh)."""
    from torch.distributions import Normal, TransformedDistribution
    from torch.distributions.transforms import TanhTransform

    from isaac_rl.algorithms.sac import GaussianActor

    torch.manual_seed(0)
    actor = GaussianActor(3, 2, (16,), torch.device("cpu"))
    obs = torch.randn(256, 3)
    torch.manual_seed(1)
    action, log_prob = actor.sample(obs)
    mean, log_std = actor(obs)
    dist = TransformedDistribution(Normal(mean, log_std.exp()), [TanhTransform()])
    torch.manual_seed(1)
    eps = torch.randn_like(mean)
    assert torch.allclose(action, torch.tanh(mean + log_std.exp() * eps))
    inside = action.abs().max(-1).values < 0.999  # TanhTransform's inverse is inexact next to +-1
    assert inside.sum() > 200
    assert torch.allclose(log_prob[inside], dist.log_prob(action).sum(-1)[inside], atol=1e-3)


def test_sac_td_target_by_hand():
    """y = r + gamma^m (1 - terminated) (min_i Q_i'(s', a') - alpha log pi(a'|s')), a' from the same random draw."""
    from isaac_rl.algorithms.sac import SAC

    sac = SAC(obs_dim=2, act_dim=1, device="cpu", hidden=(), gamma=0.5, init_alpha=0.1)
    _set_linear(sac.critic_target.q1.net, [[1.0, 1.0, 7.0]], [0.0])
    _set_linear(sac.critic_target.q2.net, [[1.0, 0.0, 7.0]], [1.0])
    batch = BATCH._replace(action=torch.zeros(3, 1))
    torch.manual_seed(5)
    got = sac.td_target(batch)
    torch.manual_seed(5)
    with torch.no_grad():
        a, logp = sac.actor.sample(batch.next_obs)
        s0, s1, a0 = batch.next_obs[:, 0], batch.next_obs[:, 1], a[:, 0]
        soft = torch.min(s0 + s1 + 7 * a0, s0 + 1 + 7 * a0) - 0.1 * logp
    expected = batch.reward + 0.5 * (1 - batch.terminated) * soft
    assert torch.allclose(got, expected, atol=1e-6)


def test_sac_temperature_follows_the_target_entropy():
    """Automatic entropy tuning: alpha shrinks while the policy's entropy is above the target (target -5) and grows
    while it is below (target +5, more than a 1-d tanh policy can reach)."""
    from isaac_rl.algorithms.sac import SAC

    batch = Batch(torch.randn(64, 2), torch.rand(64, 1) * 2 - 1, torch.randn(64), torch.randn(64, 2),
                  torch.zeros(64))
    alphas = []
    for target in (-5.0, 5.0):
        torch.manual_seed(0)
        sac = SAC(obs_dim=2, act_dim=1, device="cpu", hidden=(8,), init_alpha=1.0, target_entropy=target,
                  alpha_lr=0.05)
        for _ in range(20):
            sac.update(batch, 1)
        alphas.append(float(sac.modules()["temperature"]()))
    assert alphas[0] < 0.5 and alphas[1] > 2.0, alphas
