"""The replay ring buffer and the n-step window against hand-written contents."""

import pytest
import torch

from isaac_rl.storage.replay import ReplayBuffer


def test_buffer_wraparound_keeps_newest_transitions():
    buf = ReplayBuffer(capacity=10, obs_dim=1, action_dim=0, device=torch.device("cpu"), verbose=False)
    for step in range(7):  # 7 adds of 4 identifiable transitions = 28 > 10
        ids = torch.arange(4) + 4 * step
        buf.add(ids[:, None].float(), ids, ids.float(), -ids[:, None].float(), torch.zeros(4))
    assert len(buf) == 10
    assert sorted(buf.obs[0, :, 0].long().tolist()) == list(range(18, 28))
    assert torch.equal(buf.reward, buf.obs[..., 0]) and torch.equal(buf.next_obs, -buf.obs)
    assert torch.equal(buf.action.float(), buf.obs[..., 0])
    sample = buf.sample(64)
    assert sample.obs.shape == (1, 64, 1)
    assert sample.obs.min() >= 18 and torch.equal(sample.action.float(), sample.obs[..., 0])


def test_each_agent_samples_only_its_own_rows():
    """Agents 0 and 1 add env-major blocks of 3 envs (ids < 100 and >= 100); each agent's batch holds its own only."""
    buf = ReplayBuffer(capacity=6, obs_dim=1, action_dim=2, device=torch.device("cpu"), verbose=False, agents=2)
    for step in range(5):
        ids = torch.cat((torch.arange(3) + 3 * step, 100 + torch.arange(3) + 3 * step)).float()
        buf.add(ids[:, None], ids[:, None].expand(6, 2), ids, ids[:, None], torch.zeros(6))
    assert len(buf) == 6 and buf.obs.shape == (2, 6, 1)
    assert sorted(buf.obs[0, :, 0].tolist()) == list(range(9, 15))
    assert sorted(buf.obs[1, :, 0].tolist()) == [100.0 + i for i in range(9, 15)]
    sample = buf.sample(256)
    assert sample.obs.shape == (2, 256, 1) and sample.action.shape == (2, 256, 2)
    assert (sample.obs[0] < 100).all() and (sample.obs[1] >= 109).all()
    assert torch.equal(sample.reward, sample.obs[..., 0]) and torch.equal(sample.action[..., 0], sample.reward)


def test_buffer_refuses_capacity_beyond_free_memory():
    with pytest.raises(MemoryError, match="replay buffer of .* lower train.loop.buffer_per_env"):
        ReplayBuffer(capacity=10 ** 13, obs_dim=4, action_dim=0, device=torch.device("cpu"), verbose=False)


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
