"""The off-policy learning step: act, step, store in the replay buffer (through the n-step window), sample, update.

The replay buffer and the n-step window belong to this learning, not to the runner (as rsl_rl's
``construct_algorithm`` builds an algorithm's storage and skrl's agents own their memory): an on-policy learning
(:mod:`isaac_rl.runtime.on_policy`) has a rollout instead, and the runner knows neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterator, Optional, Tuple

import torch

from isaac_rl.algorithms.base import Algorithm
from isaac_rl.core.contract import StepOut
from isaac_rl.core.settings import is_int, need
from isaac_rl.runtime.capture import IterationFn, capture_iteration
from isaac_rl.runtime.collect import Collector
from isaac_rl.storage.nstep import NStepWindow
from isaac_rl.storage.replay import ReplayBuffer


@dataclass
class ReplaySettings:
    """The replay keys of ``train.loop`` (off-policy algorithms only; all counts are host integers).

    Attributes:
        warmup_iterations: Iterations of uniform random actions before learning starts (= random transitions per
            env, so its meaning does not change with ``num_envs``).
        batch_size: Transitions per gradient step (per agent).
        updates_per_step: Gradient steps per iteration once learning started.
        buffer_per_env: Transitions kept per env: the replay buffer holds ``buffer_per_env x num_envs`` (iterations
            of history, whatever ``num_envs``).
    """

    # No defaults: their one source is the train config (cfg/train/*.yaml), which sets each.
    warmup_iterations: int
    batch_size: int
    updates_per_step: int
    buffer_per_env: int

    def check(self, prefix: str) -> None:
        """Raise ``ConfigError`` naming the first bad key under ``prefix`` (``train.loop``)."""
        for key in ("batch_size", "updates_per_step", "buffer_per_env"):
            value = getattr(self, key)
            need(is_int(value) and value >= 1, f"{prefix}.{key}", value, "an integer >= 1")
        need(is_int(self.warmup_iterations) and self.warmup_iterations >= 0, f"{prefix}.warmup_iterations",
             self.warmup_iterations, "an integer >= 0")


class OffPolicyLearning:
    """One iteration = one step of every env, its transitions into the replay buffer, ``updates_per_step`` gradient
    steps on uniformly sampled batches (after ``warmup_iterations`` of uniform random actions).

    Args:
        collector: The training env, its observation and statistics.
        algo: The off-policy algorithm (:class:`isaac_rl.algorithms.base.Algorithm`).
        buffer: Its replay buffer on the env's device.
        settings: Warm-up, batch size, updates per iteration.
        nstep: n-step return window (``None``: one-step transitions go straight to the buffer).
        compile, cuda_graph: How a learning iteration runs (:func:`isaac_rl.runtime.capture.capture_iteration`).
    """

    steps_per_iteration = 1

    def __init__(self, collector: Collector, algo: Algorithm, buffer: ReplayBuffer, settings: ReplaySettings,
                 nstep: Optional[NStepWindow] = None, compile: bool = False, cuda_graph: bool = False) -> None:
        self.collector, self.algo, self.buffer, self.settings, self.nstep = collector, algo, buffer, settings, nstep
        self.updates = 0  # gradient steps taken: a host count, so each update's phase is known without a device read
        self.learn: IterationFn = capture_iteration(self.learning_iteration, self.persistent_tensors,
                                                    collector.env.device, compile=compile, cuda_graph=cuda_graph)

    @property
    def nbytes(self) -> int:
        """Bytes of the replay buffer (checkpoint size)."""
        return self.buffer.nbytes

    def _store(self, obs: torch.Tensor, action: torch.Tensor, out: StepOut, done: torch.Tensor) -> None:
        """Transitions into the replay buffer (n-step ones once the window is full)."""
        if self.nstep is None:
            self.buffer.add(obs, action, out.reward, out.final_obs, out.terminated)
            return
        ready = self.nstep.push(obs, action, out.reward, out.final_obs, out.terminated, done)
        if ready is not None:
            self.buffer.add(*ready)

    def _phases(self) -> Tuple[int, ...]:
        """The phases of this iteration's ``updates_per_step`` updates (host decisions from the host update count)."""
        return tuple(self.algo.phase(self.updates + k) for k in range(self.settings.updates_per_step))

    def _updates(self, phases: Tuple[int, ...]) -> Dict[str, torch.Tensor]:
        """One gradient step per phase on sampled batches; the last one's device metrics."""
        metrics: Dict[str, torch.Tensor] = {}
        for phase in phases:
            metrics = self.algo.update(self.buffer.sample(self.settings.batch_size), phase)
        return metrics

    def learning_iteration(self, clock: torch.Tensor, phases: Tuple[int, ...]) -> Dict[str, torch.Tensor]:
        """Act (exploring at iteration ``clock``, a 0-d device float), step, store, update with ``phases``: the unit
        that ``compile=True`` traces and ``cuda_graph=True`` records (once per distinct ``phases``)."""
        obs = self.collector.obs
        self.collector.step(self.algo.explore(obs, clock), clock, self._store)
        return self._updates(phases)

    def persistent_tensors(self) -> Iterator[torch.Tensor]:
        """Every tensor a learning iteration changes in place: the collector's (observation, clock, statistics, env
        state), buffer, n-step window, algorithm (networks, optimizers, exploration)."""
        yield from self.collector.persistent_tensors()
        yield from self.buffer.persistent_tensors()
        if self.nstep is not None:
            yield from self.nstep.persistent_tensors()
        yield from self.algo.persistent_tensors()

    def _learning(self, iteration: int) -> bool:
        """``warmup_iterations`` done and the n-step window (if any) full: checked before an iteration (a learning
        one?) and after a warm-up iteration (whose own transitions may have reached it: then it updates)."""
        window_full = self.nstep is None or self.nstep.filled == self.nstep.n
        return iteration >= self.settings.warmup_iterations and window_full

    def train_step(self, iteration: int) -> Dict[str, torch.Tensor]:
        """Iteration ``iteration`` (0-based) of the hot loop; no host syncs on CUDA. Returns the last update's device
        metrics (``{}`` while warming up)."""
        clock = self.collector.clock
        clock.fill_(float(iteration))  # a host scalar as a kernel argument: no sync
        if self._learning(iteration):
            phases = self._phases()
            metrics = self.learn(clock, phases)
            self.updates += len(phases)
            return metrics
        # Warm-up: uniform random actions for warmup_iterations; the n-step window fills. Updates begin with the
        # first iteration that ends at or past warmup_iterations.
        if iteration < self.settings.warmup_iterations:
            action = self.algo.random_action(self.collector.env.num_envs)
        else:
            action = self.algo.explore(self.collector.obs, clock)
        self.collector.step(action, clock, self._store)
        if self._learning(iteration + 1):
            phases = self._phases()
            self.updates += len(phases)
            return self._updates(phases)
        return {}

    def restart(self) -> None:
        """After an evaluation on the training env: the collector's restart, and the n-step window cut."""
        self.collector.restart()
        if self.nstep is not None:
            self.nstep.cut()

    def state_dict(self) -> Dict[str, Any]:
        """Update count, algorithm, buffer, n-step window (the runner adds the collector's and its own)."""
        state: Dict[str, Any] = {"updates": self.updates, "agent": self.algo.state_dict(),
                                 "buffer": self.buffer.state_dict()}
        if self.nstep is not None:
            state["nstep"] = self.nstep.state_dict()
        return state

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` (also of checkpoints of the earlier layout: the update count then comes
        from the learner's, the noise state from the trainer's ``noise`` entry)."""
        agent = dict(state["agent"])
        self.updates = int(state.get("updates", agent.get("num_updates", 0)))
        if "noise" in state and "noise" not in agent:
            agent["noise"] = state["noise"]
        self.algo.load_state_dict(agent)
        self.buffer.load_state_dict(state["buffer"])
        if self.nstep is not None and "nstep" in state:
            self.nstep.load_state_dict(state["nstep"])
