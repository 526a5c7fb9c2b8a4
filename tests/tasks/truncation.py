"""One check shared by the backend tests: the TD target of a truncated transition bootstraps from the episode's true
last observation (the backend's ``final_obs``), not from the next episode's first observation."""

import torch

from isaac_rl.algorithms.dqn import DQN
from isaac_rl.algorithms.efforts import DiscreteEfforts
from isaac_rl.core.types import Batch


def assert_td_target_bootstraps_from(before, out, final):
    """``before`` float [N, D]: the observations the transition started from; ``out``: the backend's ``StepOut`` of
    a step that truncated every env; ``final`` float [N, D]: the simulator's own terminal observation. A one-agent
    DQN's target must be ``r + gamma max_a Q'(final, a)`` and must differ from the target on ``out.obs``."""
    torch.manual_seed(0)
    dqn = DQN(before.shape[-1], DiscreteEfforts((-1.0, 0.0, 1.0), torch.device("cpu")), "cpu", hidden=(8,),
              gamma=0.9, double_dqn=False)
    batch = Batch(*(t.unsqueeze(0) for t in (before, torch.zeros(before.shape[0], dtype=torch.long), out.reward,
                                             out.final_obs, out.terminated.float())))  # one agent: [1, B, ...]
    expected = out.reward + 0.9 * dqn.q_target(final.unsqueeze(0)).max(-1).values  # truncation: bootstrap
    assert torch.allclose(dqn.td_target(batch), expected)
    wrong = out.reward + 0.9 * dqn.q_target(out.obs.unsqueeze(0)).max(-1).values  # from the reset observation
    assert not torch.allclose(dqn.td_target(batch), wrong)
