"""TD targets against hand computations (DQN, Double DQN, DDPG, TD3, SAC), target updates, Adam, noise.
Batches carry the agent axis of the stacked learners: ``[K=1, B, ...]``."""

import pytest
import torch

from isaac_rl.algorithms.ddpg import DDPG
from isaac_rl.algorithms.dqn import DQN
from isaac_rl.algorithms.efforts import DiscreteEfforts
from isaac_rl.algorithms.networks import per_tensor, polyak_update
from isaac_rl.algorithms.noise import GaussianNoise, OUNoise, noise_tensors
from isaac_rl.core.types import Batch

TWO = DiscreteEfforts((-1.0, 1.0), torch.device("cpu"))


def _set_linear(net, weight, bias):
    """Agent 0's first layer = nn.Linear(weight [out, in], bias [out])."""
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(weight).t().unsqueeze(0))
        net[0].bias.copy_(torch.tensor(bias).view(1, 1, -1))


def _batch(*tensors, **named):
    """A one-agent Batch from [B, ...] tensors."""
    return Batch(*(t.unsqueeze(0) for t in tensors), **{k: v.unsqueeze(0) for k, v in named.items()})


def _dqn(double):
    dqn = DQN(obs_dim=2, efforts=TWO, device="cpu", hidden=(), gamma=0.9, double_dqn=double)
    _set_linear(dqn.q, [[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0])  # Q(s) = s
    _set_linear(dqn.q_target, [[2.0, 0.0], [0.0, 0.5]], [0.0, 0.0])  # Q'(s) = (2 s0, 0.5 s1)
    return dqn


BATCH = _batch(obs=torch.zeros(3, 2), action=torch.tensor([0, 1, 0]), reward=torch.tensor([1.0, -1.0, 0.5]),
               next_obs=torch.tensor([[1.0, 3.0], [4.0, 1.0], [2.0, 2.0]]),
               terminated=torch.tensor([0.0, 0.0, 1.0]))


def test_dqn_td_target_by_hand():
    # Q'(s') = [[2, 1.5], [8, 0.5], [4, 1]] -> max = [2, 8, 4]; third transition terminated.
    expected = torch.tensor([[1.0 + 0.9 * 2.0, -1.0 + 0.9 * 8.0, 0.5]])
    assert torch.allclose(_dqn(False).td_target(BATCH), expected)


def test_double_dqn_td_target_by_hand():
    # argmax Q(s') = [1, 0, 0 (tie -> first)]; Q'(s', a') = [1.5, 8, 4]
    expected = torch.tensor([[1.0 + 0.9 * 1.5, -1.0 + 0.9 * 8.0, 0.5]])
    assert torch.allclose(_dqn(True).td_target(BATCH), expected)


def test_ddpg_td_target_bootstraps_through_truncation_only():
    ddpg = DDPG(obs_dim=2, act_dim=1, device="cpu", hidden=(), gamma=0.5)
    _set_linear(ddpg.actor_target.net, [[0.0, 0.0]], [0.0])  # mu'(s') = tanh(0) = 0
    _set_linear(ddpg.critic_target.net, [[1.0, 1.0, 7.0]], [0.0])  # Q'(s', a) = s0 + s1 + 7 a
    batch = BATCH._replace(action=torch.zeros(1, 3, 1))
    expected = torch.tensor([[1.0 + 0.5 * 4.0, -1.0 + 0.5 * 5.0, 0.5]])
    assert torch.allclose(ddpg.td_target(batch), expected)


def test_ddpg_actor_loss_adds_the_caps_temporal_smoothness_penalty_by_hand():
    """L_actor = -Q(s, mu(s)) + lambda_T ||mu(s) - mu(s')||^2, per agent: agent 0 (lambda_T 0) is plain DDPG."""
    ddpg = DDPG(obs_dim=2, act_dim=1, device="cpu", seeds=(0, 1), hidden=(), action_smoothness=[0.0, 3.0])
    with torch.no_grad():
        ddpg.actor.net[0].weight.copy_(torch.tensor([[[1.0], [0.0]]] * 2))  # mu(s) = tanh(s0)
        ddpg.actor.net[0].bias.zero_()
        ddpg.critic.net[0].weight.copy_(torch.tensor([[[0.0], [0.0], [2.0]]] * 2))  # Q(s, a) = 2 a
        ddpg.critic.net[0].bias.zero_()
    obs = torch.tensor([[0.5, 0.0], [0.0, 0.0], [-1.0, 0.0]])
    next_obs = torch.tensor([[1.0, 3.0], [4.0, 1.0], [2.0, 2.0]])
    batch = Batch(obs.expand(2, 3, 2), torch.zeros(2, 3, 1), torch.zeros(2, 3), next_obs.expand(2, 3, 2),
                  torch.zeros(2, 3))
    minus_q = -2.0 * torch.tanh(obs[:, 0]).mean()
    jump = (torch.tanh(obs[:, 0]) - torch.tanh(next_obs[:, 0])).pow(2).mean()
    assert torch.allclose(ddpg.actor_loss(batch, ddpg.critic), torch.stack([minus_q, minus_q + 3.0 * jump]))
    plain = DDPG(obs_dim=2, act_dim=1, device="cpu", hidden=())
    assert not plain._smooth and ddpg._smooth  # lambda_T 0 everywhere: no second actor pass


@pytest.mark.parametrize("tau", [0.0, 0.005, 1.0])
def test_polyak_update_identity(tau):
    target, online = [torch.full((1, 3), 2.0)], [torch.full((1, 3), 4.0)]
    polyak_update(target, online, per_tensor(torch.tensor([tau]), target))
    assert torch.allclose(target[0], torch.full((1, 3), 2.0 * (1 - tau) + 4.0 * tau))


def test_polyak_update_uses_each_agents_own_factor():
    target, online = [torch.zeros(3, 2, 2)], [torch.ones(3, 2, 2)]
    polyak_update(target, online, per_tensor(torch.tensor([0.0, 0.5, 1.0]), target))
    assert target[0][:, 0, 0].tolist() == [0.0, 0.5, 1.0] and (target[0] == target[0][:, :1, :1]).all()


def test_ou_noise_resets_per_env():
    noise = OUNoise(4, 1, sigma=1.0, device=torch.device("cpu"))
    for _ in range(5):
        noise.sample()
    noise.reset(torch.tensor([True, False, True, False]))
    assert noise.state[[0, 2]].abs().sum() == 0 and noise.state[[1, 3]].abs().sum() > 0


def test_ou_noise_per_env_scale_drives_each_env_and_is_redrawn_only_at_episode_end():
    torch.manual_seed(0)
    noise = OUNoise(1000, 1, sigma=2.0, device=torch.device("cpu"), theta=5.0, sigma_min=0.5)
    scale = noise.scale.clone()
    assert scale.shape == (1000, 1) and scale.min() >= 0.5 and scale.max() <= 2.0
    assert abs(scale.mean().item() - 1.25) < 0.06  # U[0.5, 2.0]: mean 1.25, std 0.43 (3 sigma of the mean: 0.04)
    torch.manual_seed(1)
    first = noise.sample().clone()
    torch.manual_seed(1)
    assert torch.allclose(first, scale * 0.01 ** 0.5 * torch.randn(1000, 1))  # from x = 0: sigma_i sqrt(dt) N(0, 1)
    done = torch.zeros(1000, dtype=torch.bool)
    done[:500] = True
    noise.reset(done)
    assert (noise.scale[500:] == scale[500:]).all() and (noise.scale[:500] != scale[:500]).all()
    assert noise.state[:500].abs().sum() == 0 and (noise.state[500:] == first[500:]).all()
    assert OUNoise(4, 1, sigma=2.0, device=torch.device("cpu"), sigma_min=2.0).scale is None  # min = max: constant


def test_gaussian_noise_per_env_scale_is_each_envs_std_and_is_redrawn_only_at_episode_end():
    torch.manual_seed(0)
    noise = GaussianNoise(1000, 1, sigma=0.4, device=torch.device("cpu"), sigma_min=0.1)
    scale = noise.state.clone()
    assert scale.shape == (1000, 1) and scale.min() >= 0.1 and scale.max() <= 0.4
    torch.manual_seed(1)
    first = noise.sample()
    torch.manual_seed(1)
    assert torch.allclose(first, scale * torch.randn(1000, 1))
    done = torch.zeros(1000, dtype=torch.bool)
    done[::2] = True
    noise.reset(done)
    assert (noise.state[1::2] == scale[1::2]).all() and (noise.state[::2] != scale[::2]).all()
    assert GaussianNoise(4, 1, sigma=0.4, device=torch.device("cpu")).state is None  # no minimum: constant


def test_ddpg_checkpoint_restores_the_ou_state_and_per_env_scale():
    def make(seed):
        torch.manual_seed(seed)
        noise = OUNoise(8, 1, sigma=2.0, device=torch.device("cpu"), theta=5.0, sigma_min=0.0)
        noise.sample()
        return DDPG(obs_dim=2, act_dim=1, device="cpu", hidden=(4,), noise=noise)

    saved, other = make(0), make(1)
    other.load_state_dict(saved.state_dict())
    for mine, theirs in zip(noise_tensors(other.noise), noise_tensors(saved.noise)):
        assert torch.equal(mine, theirs)
    older = saved.state_dict()
    older["noise"] = older["noise"][0]  # checkpoints before the per-env scale held the OU state alone
    fresh = make(2)
    scale = fresh.noise.scale.clone()
    fresh.load_state_dict(older)
    assert torch.equal(fresh.noise.state, saved.noise.state) and torch.equal(fresh.noise.scale, scale)


def test_nstep_td_target_discounts_by_gamma_to_the_horizon():
    dqn = DQN(2, TWO, "cpu", hidden=(4,), gamma=0.9, double_dqn=False)
    batch = BATCH._replace(horizon=torch.tensor([[3.0, 1.0, 2.0]]))
    next_q = dqn.q_target(batch.next_obs).max(-1).values
    expected = batch.reward + torch.tensor([[0.9 ** 3, 0.9, 0.0]]) * next_q
    assert torch.allclose(dqn.td_target(batch), expected)


def _stacked_params(agents, seed=0):
    """A two-layer network's weights for ``agents`` agents, stacked ``[K, ...]``."""
    g = torch.Generator().manual_seed(seed)
    return [torch.nn.Parameter(torch.randn(agents, *shape, generator=g) * 0.3)
            for shape in ((4, 32), (1, 32), (32, 3), (1, 3))]


def _loss(params, x):
    """Per-agent loss [K] of a ReLU MLP on x [K, B, 4]."""
    w1, b1, w2, b2 = params
    return torch.baddbmm(b2, torch.relu(torch.baddbmm(b1, x, w1)), w2).pow(2).mean((-1, -2))


def test_adam_matches_torch_optim_adam():
    from isaac_rl.algorithms.optim import Adam

    nets = [_stacked_params(1) for _ in range(3)]
    ours, ours_foreach = Adam(nets[0], 1e-2), Adam(nets[1], 1e-2)
    ours_foreach.fused = False
    ref = torch.optim.Adam(nets[2], 1e-2)
    x = torch.randn(1, 64, 4, generator=torch.Generator().manual_seed(0))  # not the default generator's state
    for _ in range(30):
        for net, opt in zip(nets, (ours, ours_foreach, ref)):
            opt.zero_grad()
            _loss(net, x).sum().backward()
            opt.step()
    for net in nets[:2]:  # 30 steps of rate 1e-2: float32 rounding of the kernels' orders, below 4e-6 for 30 inputs
        for p, q in zip(net, nets[2]):
            assert torch.allclose(p, q, atol=1e-5)
    state = ours.state_dict()
    again = Adam(nets[0], 1.0)
    again.load_state_dict(state)
    assert again.steps == 30 and again.param_groups[0]["lr"] == 1e-2


def test_adam_per_agent_learning_rates_equal_one_adam_per_agent():
    """Agent k of a stacked Adam with rates [1e-2, 3e-3] follows torch.optim.Adam at its own rate on its own slice;
    a frozen agent (freeze) keeps its weights."""
    from isaac_rl.algorithms.optim import Adam

    stacked = _stacked_params(2)
    singles = [[torch.nn.Parameter(p[k:k + 1].detach().clone()) for p in stacked] for k in range(2)]
    ours = Adam(stacked, [1e-2, 3e-3])
    refs = [torch.optim.Adam(singles[k], lr) for k, lr in enumerate((1e-2, 3e-3))]
    x = torch.randn(2, 64, 4, generator=torch.Generator().manual_seed(1))
    for _ in range(20):
        ours.zero_grad()
        _loss(stacked, x).sum().backward()
        ours.step()
        for k, ref in enumerate(refs):
            ref.zero_grad()
            _loss(singles[k], x[k:k + 1]).sum().backward()
            ref.step()
    for k in range(2):
        for p, q in zip(stacked, singles[k]):
            assert torch.allclose(p[k:k + 1], q, atol=1e-5)
    before = [p.detach().clone() for p in stacked]
    ours.freeze(torch.tensor([False, True]))
    ours.zero_grad()
    _loss(stacked, x).sum().backward()
    ours.step()
    assert all(torch.equal(p[1], b[1]) and not torch.equal(p[0], b[0]) for p, b in zip(stacked, before))


def test_td3_td_target_takes_the_smaller_twin_and_bootstraps_through_truncation_only():
    from isaac_rl.algorithms.td3 import TD3

    td3 = TD3(obs_dim=2, act_dim=1, device="cpu", hidden=(), gamma=0.5, target_noise=0.0)
    _set_linear(td3.actor_target.net, [[0.0, 0.0]], [0.0])  # mu'(s') = 0
    _set_linear(td3.critic_target.q1.net, [[1.0, 1.0, 7.0]], [0.0])  # Q1'(s', a) = s0 + s1 + 7 a
    _set_linear(td3.critic_target.q2.net, [[1.0, 0.0, 7.0]], [1.0])  # Q2'(s', a) = s0 + 1 + 7 a
    batch = BATCH._replace(action=torch.zeros(1, 3, 1))
    # min(Q1', Q2') at s' = [[1, 3], [4, 1], [2, 2]]: min([4, 5, 4], [2, 5, 3]) = [2, 5, 3]; third terminated
    expected = torch.tensor([[1.0 + 0.5 * 2.0, -1.0 + 0.5 * 5.0, 0.5]])
    assert torch.allclose(td3.td_target(batch), expected)


def test_td3_target_smoothing_noise_is_clipped():
    """With a huge target_noise every smoothed target action is mu'(s') +- target_noise_clip, clamped to [-1, 1]."""
    from isaac_rl.algorithms.td3 import TD3

    td3 = TD3(obs_dim=2, act_dim=1, device="cpu", hidden=(), gamma=1.0, target_noise=1e6, target_noise_clip=0.25)
    _set_linear(td3.actor_target.net, [[0.0, 0.0]], [0.0])
    _set_linear(td3.critic_target.q1.net, [[0.0, 0.0, 1.0]], [0.0])  # Q'(s', a) = a
    _set_linear(td3.critic_target.q2.net, [[0.0, 0.0, 1.0]], [0.0])
    batch = _batch(torch.zeros(64, 2), torch.zeros(64, 1), torch.zeros(64), torch.zeros(64, 2), torch.zeros(64))
    assert set(td3.td_target(batch).view(-1).tolist()) <= {-0.25, 0.25}


def test_sac_log_prob_matches_torch_distributions():
    """log pi(tanh(u)) of the squashed Gaussian equals torch.distributions' TransformedDistribution (tanh)."""
    from torch.distributions import Normal, TransformedDistribution
    from torch.distributions.transforms import TanhTransform

    from isaac_rl.algorithms.sac import GaussianActor

    torch.manual_seed(0)
    actor = GaussianActor(3, 2, (16,), torch.device("cpu"), [torch.Generator().manual_seed(0)])
    obs = torch.randn(1, 256, 3)
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
    batch = BATCH._replace(action=torch.zeros(1, 3, 1))
    torch.manual_seed(5)
    got = sac.td_target(batch)
    torch.manual_seed(5)
    with torch.no_grad():
        a, logp = sac.actor.sample(batch.next_obs)
        s0, s1, a0 = batch.next_obs[..., 0], batch.next_obs[..., 1], a[..., 0]
        soft = torch.min(s0 + s1 + 7 * a0, s0 + 1 + 7 * a0) - 0.1 * logp
    expected = batch.reward + 0.5 * (1 - batch.terminated) * soft
    assert torch.allclose(got, expected, atol=1e-6)


def test_sac_temperature_follows_the_target_entropy():
    """Automatic entropy tuning: alpha shrinks while the policy's entropy is above the target (target -5) and grows
    while it is below (target +5, more than a 1-d tanh policy can reach)."""
    from isaac_rl.algorithms.sac import SAC

    batch = _batch(torch.randn(64, 2), torch.rand(64, 1) * 2 - 1, torch.randn(64), torch.randn(64, 2),
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
