"""A batched MPPI planner on a torch task's own model: an estimate (a lower bound) of the best return a task allows.

Model-predictive path integral control (Williams et al. 2017) with a known model: at each replanning point, for each of
``E`` episodes, ``K`` perturbed copies of the current action plan are rolled out ``horizon`` steps in the same torch
simulation (``E * K`` envs of the task's class, one batched step per model step), their returns are turned into
weights ``softmax(R / temperature)`` (temperature relative to the spread of the returns), and the plan becomes the
weighted mean; the first ``hold`` steps of it are applied to the real episode, and the plan is shifted (warm start).
Actions are held for ``hold`` steps (knots), which divides the cost and the search dimension by ``hold``.

The model is duck-typed (this layer does not import the tasks): any :class:`~isaac_rl.tasks.torch_base.TorchTask`
with the ``[S, N]`` state rows, ``physics(state, effort)``, ``_observe(state)`` and ``_reward_terminated(...)``. The
planner may optimise another objective than the scored one (``objective``: e.g. the dense reward of the same chain for
a sparse task, whose reward is 0 over a short horizon); episodes are always scored by the real task's reward.

Every tensor lives on the model's device in its dtype; the loop never reads a value back to the host except the
returned returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import torch

from isaac_rl.core.settings import is_int, is_num, need


@dataclass
class MPPISettings:
    """Attributes:
        samples: Perturbed plans per episode and replanning point (``K``).
        horizon: Model steps each plan looks ahead (a multiple of ``hold``).
        hold: Steps each planned action is held (the real episode replans every ``hold`` steps).
        sigma: Std of the Gaussian perturbation of each knot, in normalised effort units.
        temperature: Softmax temperature as a fraction of the returns' std (per episode).
        iterations: MPPI refinements per replanning point.
        gamma: Discount of the planned returns.
    """

    samples: int = 256
    horizon: int = 100
    hold: int = 5
    sigma: float = 0.6
    temperature: float = 0.1
    iterations: int = 1
    gamma: float = 1.0

    def check(self) -> None:
        """Raise ``ConfigError`` naming the first bad setting."""
        need(is_int(self.samples) and self.samples >= 2, "samples", self.samples, "an integer >= 2")
        need(is_int(self.hold) and self.hold >= 1, "hold", self.hold, "an integer >= 1")
        need(is_int(self.horizon) and self.horizon >= self.hold and self.horizon % self.hold == 0, "horizon",
             self.horizon, f"a positive multiple of hold={self.hold}")
        need(is_num(self.sigma) and self.sigma > 0, "sigma", self.sigma, "a number > 0")
        need(is_num(self.temperature) and self.temperature > 0, "temperature", self.temperature, "a number > 0")
        need(is_int(self.iterations) and self.iterations >= 1, "iterations", self.iterations, "an integer >= 1")
        need(is_num(self.gamma) and 0 < self.gamma <= 1, "gamma", self.gamma, "a number in (0, 1]")


class MPPI:
    """MPPI over ``episodes`` independent episodes (see the module docstring).

    Args:
        model: A task instance with ``num_envs == episodes * settings.samples`` (the rollouts; its own state and
            auto-reset are never used), whose reward is the planning objective.
        episodes: Number of real episodes ``E`` planned for at once.
        settings: :class:`MPPISettings`.
        generator: Source of the perturbations (on the model's device).
    """

    def __init__(self, model: Any, episodes: int, settings: MPPISettings,
                 generator: Optional[torch.Generator] = None) -> None:
        settings.check()
        need(model.num_envs == episodes * settings.samples, "model.num_envs", model.num_envs,
             f"episodes * samples = {episodes * settings.samples}")
        self.model, self.episodes, self.s = model, episodes, settings
        self.knots = settings.horizon // settings.hold
        self.gen = generator
        dev, dt = model.device, model.dtype
        self.plan = torch.zeros((episodes, self.knots), device=dev, dtype=dt)  # [E, knots] mean efforts
        self._discount = [settings.gamma ** t for t in range(settings.horizon)]  # Python floats: no device reads

    def reset(self) -> None:
        """Forget the plans (a new episode starts)."""
        self.plan.zero_()

    def returns(self, state: torch.Tensor, knots: torch.Tensor) -> torch.Tensor:
        """Discounted model returns ``[E, K]`` of the efforts ``knots`` ``[E, K, knots]`` (clamped to [-1, 1], each
        held ``hold`` steps) from the real states ``state`` ``[S, E]``."""
        m, e, k = self.model, self.episodes, self.s.samples
        x = state.repeat_interleave(k, dim=1)  # [S, E*K], sample-major within each episode
        efforts = knots.clamp(-1.0, 1.0).reshape(e * k, self.knots)
        total = torch.zeros(e * k, device=x.device, dtype=x.dtype)
        for t in range(self.s.horizon):
            u = efforts[:, t // self.s.hold]
            nxt = m.physics(x, u)
            r, _ = m._reward_terminated(x, u, nxt, m._observe(nxt))
            total = torch.add(total, r, alpha=self._discount[t])
            x = nxt
        return total.view(e, k)

    def act(self, state: torch.Tensor) -> torch.Tensor:
        """Refine the plans from the real states ``state`` ``[S, E]``; returns the next ``hold`` efforts' value ``[E]``
        (the first knot) and shifts the plans by one knot."""
        e, k = self.episodes, self.s.samples
        for _ in range(self.s.iterations):
            noise = torch.randn((e, k, self.knots), generator=self.gen, device=self.plan.device, dtype=self.plan.dtype)
            noise[:, 0] = 0.0  # the current plan itself is always a candidate
            cand = (self.plan.unsqueeze(1) + self.s.sigma * noise).clamp(-1.0, 1.0)  # [E, K, knots]
            ret = self.returns(state, cand)
            scale = ret.std(dim=1, keepdim=True).clamp_min(1e-6) * self.s.temperature
            w = torch.softmax((ret - ret.amax(dim=1, keepdim=True)) / scale, dim=1)  # [E, K]
            self.plan = (w.unsqueeze(-1) * cand).sum(1)
        first = self.plan[:, 0].clone()
        self.plan = torch.cat((self.plan[:, 1:], self.plan[:, -1:]), dim=1)
        return first


def plan_episodes(env: Any, planner: MPPI, seed: int) -> torch.Tensor:
    """Run ``env.num_envs`` (= ``planner.episodes``) episodes of ``env`` from ``env.reset(seed)`` to its time limit,
    every action chosen by ``planner`` from the env's true state; returns the episodes' returns ``[E]`` (the task's
    own reward, undiscounted). The env must not terminate early (the cart-pole family never does)."""
    need(env.num_envs == planner.episodes, "env.num_envs", env.num_envs, f"planner.episodes = {planner.episodes}")
    env.reset(seed)
    planner.reset()
    total = torch.zeros(env.num_envs, device=env.device, dtype=torch.float64)
    steps, hold = 0, planner.s.hold
    while steps < env.max_episode_steps:
        u = planner.act(env.state.clone())
        for _ in range(min(hold, env.max_episode_steps - steps)):
            out = env.step(u.unsqueeze(-1).to(env.dtype))
            total += out.reward.to(torch.float64)
            steps += 1
    return total
