"""Deterministic-policy evaluation: the first episode of every env of an evaluation env."""

from __future__ import annotations

from typing import Callable, Dict, Optional

import torch

from isaac_rl.contract import VecEnv


@torch.no_grad()
def evaluate(env: VecEnv, policy: Callable[[torch.Tensor], torch.Tensor], seed: Optional[int] = None,
             check_every: int = 25, target: Optional[float] = None) -> Dict[str, float]:
    """Run ``policy`` (float ``[N, obs_dim]`` -> efforts ``[N, act_dim]``) until every env has ended one episode.

    Evaluation is outside the training hot loop, so it reads ``finished.all()`` every ``check_every`` steps to stop
    early. Returns host floats: mean/std/min of the ``N`` episode returns and their mean length.

    Early out: with a ``target`` mean return and an env that states its per-step ``reward_max`` (an optional attribute
    of the contract), the evaluation also stops at a check once the mean cannot reach ``target`` any more, even if
    every unfinished episode earned ``reward_max`` on each of its remaining steps. That result has
    ``eval/complete = 0`` and ``eval/return_bound`` (that optimistic mean, below ``target``) instead of the episode
    statistics, which are unknown. A policy far from the target then costs a few dozen steps instead of hundreds.
    """
    obs = env.reset(seed)
    n, device, limit = env.num_envs, env.device, env.max_episode_steps
    reward_max = getattr(env, "reward_max", None) if target is not None else None
    ret = torch.zeros(n, device=device)
    length = torch.zeros(n, device=device)
    final_ret = torch.zeros(n, device=device)
    final_len = torch.zeros(n, device=device)
    finished = torch.zeros(n, dtype=torch.bool, device=device)
    for t in range(limit):
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
        if (t + 1) % check_every == 0:
            if bool(finished.all()):
                break
            if reward_max is not None and target is not None:
                # Finished episodes count as they ended; unfinished ones at best earn reward_max until the limit.
                best = torch.where(finished, final_ret, ret + reward_max * (limit - length)).mean()
                bound = float(best)
                if bound < target:
                    return {"eval/complete": 0.0, "eval/return_bound": bound, "eval/steps": float(t + 1)}
    stats = torch.stack((final_ret.mean(), final_ret.std(unbiased=False), final_ret.min(), final_len.mean()))
    mean, std, low, mean_len = stats.tolist()
    return {"eval/mean_return": mean, "eval/std_return": std, "eval/min_return": low, "eval/mean_length": mean_len,
            "eval/complete": 1.0}
