"""Deterministic-policy evaluation: the first episode of every env of an evaluation env."""

from __future__ import annotations

from typing import Callable, Dict, Optional

import torch

from isaac_rl.contract import VecEnv


@torch.no_grad()
def evaluate(env: VecEnv, policy: Callable[[torch.Tensor], torch.Tensor], seed: Optional[int] = None,
             check_every: int = 25) -> Dict[str, float]:
    """Run ``policy`` (float ``[N, obs_dim]`` -> efforts ``[N, act_dim]``) until every env has ended one episode.

    Evaluation is outside the training hot loop, so it reads ``finished.all()`` every ``check_every`` steps to stop
    early. Returns host floats: mean/std/min of the ``N`` episode returns and their mean length.
    """
    obs = env.reset(seed)
    n, device = env.num_envs, env.device
    ret = torch.zeros(n, device=device)
    length = torch.zeros(n, device=device)
    final_ret = torch.zeros(n, device=device)
    final_len = torch.zeros(n, device=device)
    finished = torch.zeros(n, dtype=torch.bool, device=device)
    for t in range(env.max_episode_steps):
        out = env.step(policy(obs))
        ret += out.reward.float()
        length += 1
        done = out.terminated | out.truncated
        newly = done & ~finished
        final_ret = torch.where(newly, ret, final_ret)
        final_len = torch.where(newly, length, final_len)
        finished |= done
        ret.masked_fill_(done, 0.0)
        length.masked_fill_(done, 0.0)
        obs = out.obs
        if (t + 1) % check_every == 0 and bool(finished.all()):
            break
    stats = torch.stack((final_ret.mean(), final_ret.std(unbiased=False), final_ret.min(), final_len.mean()))
    mean, std, low, mean_len = stats.tolist()
    return {"eval/mean_return": mean, "eval/std_return": std, "eval/min_return": low, "eval/mean_length": mean_len}
