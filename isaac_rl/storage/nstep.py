"""n-step returns for vectorised envs (Sutton, 1988; as in Rainbow, Hessel et al., 2018), on the device.

Every env keeps its last ``n`` transitions in a ring. Once ``n`` are held, each env step emits the oldest one as an
n-step transition ``(s_t, a_t, R, s', terminated, m)``::

    m = min(n, steps until the episode ended)            R = sum_{k<m} gamma^k r_{t+k}
    s' = s_{t+m} (the true final observation where the episode ended)
    TD target  y = R + gamma^m (1 - terminated) Q'(s', .)

so one TD backup propagates values ``m`` steps. A window never crosses an episode end: the envs' episodes keep
running (same-step auto-reset) and each emitted transition stops at the first end in its window. The last ``n - 1``
transitions of every episode are emitted later with their shortened horizon ``m``, so nothing is lost. With
``n = 1`` this is the plain one-step transition. A population's agents may each have their own ``n_k`` and
``gamma_k``: the window holds ``max_k n_k`` steps and agent ``k``'s envs sum only the first ``n_k`` of them.
Everything is static-shape tensor work (no host sync), and the ring position is a device tensor, so one traced or
CUDA-graph-captured ``push`` serves every position.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple, Union

import torch


class NStepWindow:
    """Rolling ``n``-step window of ``N`` envs (env-major: ``K`` agents' envs in equal consecutive blocks).

    Args:
        n: Steps per return (>= 1), or one per agent.
        gamma: Discount factor, or one per agent.
        num_envs, obs_dim: ``N`` (all agents' envs) and the observation width.
        action_shape: ``()`` for discrete (long actions) or ``(act_dim,)`` for continuous (float actions).
        device: Where the window lives.
    """

    def __init__(self, n: Union[int, Sequence[int]], gamma: Union[float, Sequence[float]], num_envs: int,
                 obs_dim: int, action_shape: Tuple[int, ...], device: torch.device) -> None:
        ns = list(n) if isinstance(n, (list, tuple)) else [n]
        if not all(isinstance(k, int) and k >= 1 for k in ns):
            raise ValueError(f"n_step must be an integer >= 1, got {n!r}")
        gammas = list(gamma) if isinstance(gamma, (list, tuple)) else [gamma] * len(ns)
        n = max(ns)
        self.n, self.gamma, self.filled = n, gamma, 0
        self.pos = torch.zeros(1, dtype=torch.long, device=device)  # slot written next (= the oldest once full)
        f32 = dict(dtype=torch.float32, device=device)
        self.obs = torch.zeros((n, num_envs, obs_dim), **f32)
        self.next_obs = torch.zeros((n, num_envs, obs_dim), **f32)
        action_dtype = torch.long if action_shape == () else torch.float32
        self.action = torch.zeros((n, num_envs) + tuple(action_shape), dtype=action_dtype, device=device)
        self.reward = torch.zeros((n, num_envs), **f32)
        self.terminated = torch.zeros((n, num_envs), **f32)
        self.done = torch.zeros((n, num_envs), **f32)
        per_env = num_envs // len(ns)
        env_gamma = torch.tensor(gammas, **f32).repeat_interleave(per_env)  # [N]
        env_n = torch.tensor(ns, **f32).repeat_interleave(per_env)
        steps = torch.arange(n, **f32).unsqueeze(-1)
        self.discounts = env_gamma ** steps  # [n, N]: gamma_k^j
        self.within = (steps < env_n).to(torch.float32)  # [n, N]: step j counts in agent k's n_k-step return
        self._ages = torch.arange(1, n + 1, device=device)  # slot of the k-th oldest entry = (pos + 1 + k) % n

    def push(self, obs: torch.Tensor, action: torch.Tensor, reward: torch.Tensor, next_obs: torch.Tensor,
             terminated: torch.Tensor, done: torch.Tensor
             ) -> Optional[Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Add one env step (``[N, ...]`` tensors; ``next_obs`` is the true final obs where ``done``).

        Returns ``None`` until ``n`` steps are held, then the oldest entry's n-step transition ``(obs, action, R,
        next_obs, terminated, horizon)``: float ``[N, obs_dim]``, action, float ``[N]``, float ``[N, obs_dim]``,
        float ``[N]`` (1.0 = terminated), float ``[N]`` (``m``).
        """
        p = self.pos
        for name, value in (("obs", obs), ("action", action), ("reward", reward), ("next_obs", next_obs),
                            ("terminated", terminated), ("done", done)):
            slots = getattr(self, name)
            slots.index_copy_(0, p, value.unsqueeze(0).to(slots.dtype))
        order = (p + self._ages) % self.n  # oldest first (the slot just written is the newest)
        self.pos.copy_(order[:1])
        self.filled = min(self.filled + 1, self.n)
        if self.filled < self.n:
            return None
        if self.n == 1:
            return obs, action, reward, next_obs, terminated.float(), torch.ones_like(reward)
        done_k = self.done.index_select(0, order)  # [n, N]
        # alive[k] = 1 while no episode end happened before step k of the window
        alive = torch.cumprod(torch.cat((torch.ones_like(done_k[:1]), 1.0 - done_k[:-1])), dim=0) * self.within
        ret = (self.discounts * alive * self.reward.index_select(0, order)).sum(0)
        horizon = alive.sum(0)  # m in [1, n]
        last = order[(horizon.long() - 1)]  # slot of step m-1 per env  [N]
        envs = torch.arange(obs.shape[0], device=obs.device)
        oldest = order[:1]  # [1], not a 0-d index: indexing with a 0-d CUDA tensor reads it on the host
        return (self.obs.index_select(0, oldest)[0], self.action.index_select(0, oldest)[0], ret,
                self.next_obs[last, envs], self.terminated[last, envs], horizon)

    def cut(self) -> None:
        """End every env's episode at the newest step held: the env was reset outside training (an evaluation on the
        training env). That step counts as a time-limit end (bootstrapped from its ``next_obs``, the true last
        observation before the reset), so no n-step return spans the reset."""
        if self.filled:
            self.done.index_fill_(0, (self.pos + self.n - 1) % self.n, 1.0)

    def persistent_tensors(self) -> Tuple[torch.Tensor, ...]:
        """The window and its ring position: what ``push`` changes in place."""
        return self.pos, self.obs, self.next_obs, self.action, self.reward, self.terminated, self.done

    def state_dict(self) -> Dict[str, torch.Tensor]:
        """Window contents and position."""
        return {"obs": self.obs.clone(), "next_obs": self.next_obs.clone(), "action": self.action.clone(),
                "reward": self.reward.clone(), "terminated": self.terminated.clone(), "done": self.done.clone(),
                "filled": torch.tensor(self.filled), "pos": self.pos[0].clone()}

    def load_state_dict(self, state: Dict[str, torch.Tensor]) -> None:
        """Restore from :meth:`state_dict`."""
        for name in ("obs", "next_obs", "action", "reward", "terminated", "done"):
            getattr(self, name).copy_(state[name])
        self.filled = int(state["filled"])
        self.pos.fill_(int(state["pos"]))
