"""Stepping the training env: what every learning step (off- and on-policy) shares of collecting experience."""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator

import torch

from isaac_rl.algorithms.base import Algorithm
from isaac_rl.core.contract import StepOut, VecEnv
from isaac_rl.runtime.stats import EpisodeStats

NEVER = float(torch.finfo(torch.float32).max)  # "no non-finite value yet" (first-bad iterations; finite)

# store(obs, action, out, done): what a learning does with one step's transitions (obs and action before the step,
# the env's StepOut, bool [N] done = terminated | truncated); device ops only.
Store = Callable[[torch.Tensor, torch.Tensor, StepOut, torch.Tensor], None]


class Collector:
    """The training env with its current observation, episode statistics and non-finite tracking.

    Attributes:
        env: Training env (same-step auto-reset contract).
        algo: The algorithm (``to_env`` maps stored actions to efforts; ``on_episode_end`` resets exploration).
        obs: float ``[N, obs_dim]`` current observation on the env's device: one tensor for the run, updated in place
            (under capture a rebound tensor would be a graph output that the next replay overwrites before it is
            read; the copy also keeps it apart from the env's own tensors).
        stats: Per-env episode return and length, per-agent sums of finished episodes.
        first_bad: float ``[3]`` on the device: the first iteration (``NEVER``: none yet; -1: the first reset) at
            which the env got a non-finite action, or returned a non-finite observation or reward, read with the
            metrics at the log interval, so a divergence names what went non-finite first.
        clock: The iteration as a 0-d float device tensor (schedules read it there: no host value in a graph).
    """

    def __init__(self, env: VecEnv, algo: Algorithm, seed: int) -> None:
        self.env, self.algo = env, algo
        self.stats = EpisodeStats(env.num_envs, env.device, algo.agents)
        self.obs = env.reset(seed).clone()
        self.first_bad = torch.full((3,), NEVER, device=env.device)
        self.first_bad[1:2].masked_fill_(~torch.isfinite(self.obs).all().view(1), -1.0)
        self.clock = torch.zeros((), device=env.device)

    def step(self, action: torch.Tensor, clock: torch.Tensor, store: Store) -> StepOut:
        """Step the env with stored ``action`` at iteration ``clock`` (0-d device float), hand the transitions to
        ``store``, reset exploration where episodes ended, track episode statistics and non-finite values (device
        ops only) and advance :attr:`obs`. Returns the env's step output."""
        efforts = self.algo.to_env(action)
        out = self.env.step(efforts)
        done = out.terminated | out.truncated
        bad = torch.stack((~torch.isfinite(efforts).all(),
                           ~(torch.isfinite(out.obs).all() & torch.isfinite(out.final_obs).all()),
                           ~torch.isfinite(out.reward).all()))
        self.first_bad.copy_(torch.minimum(self.first_bad, torch.where(bad, clock, self.first_bad)))
        store(self.obs, action, out, done)
        self.algo.on_episode_end(done)
        self.stats.update(out.reward, done)
        self.obs.copy_(out.obs)
        return out

    def restart(self) -> None:
        """After an evaluation or verification on the training env (one simulation per process): reset it, forget
        the episodes it cut (statistics) and reset exploration, so the evaluation leaves no trace in training."""
        self.obs.copy_(self.env.reset())
        self.stats.drop_running()
        self.algo.on_episode_end(torch.ones(self.env.num_envs, dtype=torch.bool, device=self.env.device))

    def persistent_tensors(self) -> Iterator[torch.Tensor]:
        """Observation, clock, non-finite tracking, statistics and the env's state (torch tasks: the only backend a
        graph can record)."""
        yield self.obs
        yield self.clock
        yield self.first_bad
        yield from self.stats.persistent_tensors()
        env_tensors = getattr(self.env, "persistent_tensors", None)
        if env_tensors is not None:
            yield from env_tensors()

    def state_dict(self) -> Dict[str, Any]:
        """Observation, statistics and (where it has one) the env's state."""
        state: Dict[str, Any] = {"obs": self.obs.clone(), "stats": self.stats.state_dict()}
        if hasattr(self.env, "state_dict"):
            state["env"] = self.env.state_dict()  # type: ignore[attr-defined]
        return state

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`."""
        self.obs.copy_(state["obs"])
        self.stats.load_state_dict(state["stats"])
        if "env" in state and hasattr(self.env, "load_state_dict"):
            self.env.load_state_dict(state["env"])  # type: ignore[attr-defined]
