"""Deterministic-policy evaluation: the first episode of every env of an evaluation env."""

from __future__ import annotations

import math
from typing import Callable, Dict, List, Optional, Sequence

import torch

from isaac_rl.core.contract import VecEnv
from isaac_rl.runtime.capture import CudaGraphed

Policy = Callable[[torch.Tensor], torch.Tensor]


class Evaluator:
    """Evaluates ``policy`` (float ``[N, obs_dim]`` -> efforts ``[N, act_dim]``) on ``env``, one episode per env.

    The steps run in chunks of ``check_every``; between chunks (outside the training hot loop) it reads ``alive.any()``
    to stop early. With ``cuda_graph`` (a torch task on CUDA) a chunk is recorded once as a CUDA graph and replayed, one
    launch instead of ``check_every`` x ~40. Only the first
    episode of each env counts, so what an env does after its first episode does not change the result (the trainer's
    torch evaluation envs restart it without drawing random numbers, ``random_auto_reset = False``, so evaluating
    leaves training's random stream alone); the initial states come from the env's own generator, reseeded by ``seed``.

    Per-env first-episode sums live in persistent device tensors (float ``[N]`` return and length, float ``[N]``
    ``alive`` = first episode not yet ended) that a chunk updates in place: each step adds ``reward * alive``.

    With ``groups = K`` (a population: agent ``k`` acts in the ``k``-th env-major block of ``N / K`` envs) it also
    keeps each group's statistics in :attr:`per_group` and cuts short only once no group still in question (``active``)
    can reach ``target``.
    """

    def __init__(self, env: VecEnv, policy: Policy, check_every: int = 25, cuda_graph: bool = False,
                 groups: int = 1) -> None:
        if check_every < 1:
            raise ValueError(f"check_every must be >= 1, got {check_every}")
        n, device = env.num_envs, env.device
        self.env, self.policy, self.check_every, self.groups = env, policy, check_every, groups
        self.per_group: Dict[str, List[float]] = {}
        self.obs: Optional[torch.Tensor] = None  # [N, obs_dim] in the env's dtype, allocated by the first reset
        self.final_ret, self.final_len = torch.zeros(n, device=device), torch.zeros(n, device=device)
        self.alive = torch.ones(n, device=device)
        self._chunk: Callable[[], None] = lambda: self._steps(check_every)
        if cuda_graph:
            self._chunk = CudaGraphed(self._chunk, device, warmup=1)

    @property
    def recorded(self) -> bool:
        """Whether a chunk has been recorded as a CUDA graph (``cuda_graph=True``, after the first call)."""
        return isinstance(self._chunk, CudaGraphed) and self._chunk.graph is not None

    def _steps(self, k: int) -> None:
        """``k`` env steps of the policy; first-episode returns and lengths add up in ``final_ret``/``final_len``."""
        assert self.obs is not None
        for _ in range(k):
            out = self.env.step(self.policy(self.obs))
            self.final_ret.add_(out.reward.float() * self.alive)
            self.final_len.add_(self.alive)
            self.alive.mul_(~(out.terminated | out.truncated))
            self.obs.copy_(out.obs)

    @torch.no_grad()
    def __call__(self, seed: Optional[int] = None, target: Optional[float] = None,
                 active: Optional[Sequence[bool]] = None, should_stop: Optional[Callable[[], bool]] = None,
                 progress: Optional[Callable[[int, int], None]] = None) -> Dict[str, float]:
        """Run until every env has ended one episode. Returns host floats: mean/std/min of the ``N`` episode returns
        and their mean length.

        Early out: with a ``target`` mean return and an env that states its per-step ``reward_max`` (an optional
        attribute of the contract), the evaluation also stops at a check once the mean cannot reach ``target`` any
        more, even if every unfinished episode earned ``reward_max`` on each of its remaining steps. That result has
        ``eval/complete = 0`` and ``eval/return_bound`` (that optimistic mean, below ``target``) instead of the
        episode statistics, which are unknown. A policy far from the target then costs a few dozen steps instead of
        hundreds.

        ``active`` (one flag per group, at least one set): only these groups are evaluated: they alone decide the
        early out and the end, the returned statistics cover only their envs, and the other groups' entries of
        :attr:`per_group` are NaN (not evaluated: their episodes may be unfinished).

        Between chunks (host code, outside the training hot loop): ``should_stop()`` true ends the evaluation at once
        with ``eval/complete = 0`` and ``eval/stopped = 1`` (a stop signal; no statistics); ``progress(ended,
        steps)`` gets the episodes ended so far (of the groups in question) and the steps run.

        An episode still running after ``max_episode_steps`` steps (an env that never ends one: it breaks the
        contract) is not a result: then ``eval/complete = 0`` and ``eval/unfinished`` counts those episodes.
        """
        env, limit = self.env, self.env.max_episode_steps
        groups = list(range(self.groups)) if active is None else [k for k, a in enumerate(active) if a]
        if not groups:
            raise ValueError("active has no group to evaluate")
        reward_max = getattr(env, "reward_max", None) if target is not None else None
        first = env.reset(seed)
        if self.obs is None:
            self.obs = first.clone()
        else:
            self.obs.copy_(first)
        self.final_ret.zero_()
        self.final_len.zero_()
        self.alive.fill_(1.0)
        index = torch.tensor(groups, device=self.alive.device)  # the groups in question
        watched = self.alive.numel() // self.groups * len(groups)
        steps, unfinished = 0, watched
        while steps < limit:
            chunk = min(self.check_every, limit - steps)
            if chunk == self.check_every:
                self._chunk()
            else:  # the steps after the last full chunk (limit not a multiple of check_every), eagerly
                self._steps(chunk)
            steps += chunk
            unfinished = int(self.alive.view(self.groups, -1).index_select(0, index).sum())  # one host read
            if unfinished == 0:
                break
            if should_stop is not None and should_stop():
                self.per_group = {}
                return {"eval/complete": 0.0, "eval/stopped": 1.0, "eval/steps": float(steps)}
            if progress is not None:
                progress(watched - unfinished, steps)
            if reward_max is not None and target is not None:
                # Finished episodes count as they ended; unfinished ones at best earn reward_max until the limit.
                best = self.final_ret + self.alive * reward_max * (limit - self.final_len)
                bounds = best.view(self.groups, -1).mean(-1).tolist()
                if max(bounds[k] for k in groups) < target:
                    self.per_group = {"eval/return_bound": _only(bounds, groups)}
                    return {"eval/complete": 0.0, "eval/return_bound": sum(bounds[k] for k in groups) / len(groups),
                            "eval/steps": float(steps)}
        if unfinished:
            counts = self.alive.view(self.groups, -1).sum(-1).tolist()
            self.per_group = {"eval/unfinished": _only(counts, groups)}
            return {"eval/complete": 0.0, "eval/unfinished": float(unfinished), "eval/steps": float(steps)}
        ret, length = self.final_ret.view(self.groups, -1), self.final_len.view(self.groups, -1)
        ret_in, len_in = ret.index_select(0, index).reshape(-1), length.index_select(0, index).reshape(-1)
        stats = torch.stack((ret.mean(-1), ret.std(-1, unbiased=False), ret.min(-1).values, length.mean(-1),
                             ret_in.mean().expand(self.groups), ret_in.std(unbiased=False).expand(self.groups),
                             ret_in.min().expand(self.groups), len_in.mean().expand(self.groups)))
        rows = stats.tolist()  # one host read
        names = ("eval/mean_return", "eval/std_return", "eval/min_return", "eval/mean_length")
        self.per_group = {name: _only(row, groups) for name, row in zip(names, rows[:4])}
        result = {name: row[0] for name, row in zip(names, rows[4:])}
        result["eval/complete"] = 1.0
        return result


def _only(values: List[float], groups: Sequence[int]) -> List[float]:
    """``values`` (one per group) with NaN for the groups not in ``groups`` (not evaluated)."""
    return [v if k in groups else math.nan for k, v in enumerate(values)]


def evaluate(env: VecEnv, policy: Policy, seed: Optional[int] = None, check_every: int = 25,
             target: Optional[float] = None) -> Dict[str, float]:
    """One eager evaluation (see :class:`Evaluator`; keep an ``Evaluator`` to evaluate repeatedly)."""
    return Evaluator(env, policy, check_every)(seed, target)
