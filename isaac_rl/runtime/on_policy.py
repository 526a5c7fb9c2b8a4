"""The on-policy learning step: roll out ``T`` steps of every env into the rollout storage, then let the algorithm
learn from it (returns, epochs of minibatch updates): PPO, PQN.

One iteration is the whole rollout plus the learning, so ``steps_per_iteration = T`` and an iteration collects
``T x num_envs`` transitions; it is what ``compile=True`` traces and ``cuda_graph=True`` records (no phases). The
storage is rewritten every iteration, so it carries nothing across iterations (nor into a checkpoint).
"""

from __future__ import annotations

from typing import Any, Dict, Iterator, Tuple

import torch

from isaac_rl.algorithms.base import Algorithm
from isaac_rl.core.contract import StepOut
from isaac_rl.runtime.capture import IterationFn, capture_iteration
from isaac_rl.runtime.collect import Collector
from isaac_rl.storage.rollout import RolloutStorage


class OnPolicyLearning:
    """Rollout, then learn. The algorithm supplies ``rollout_steps`` (``T``), ``rollout_extras()`` (the per-step
    tensors it keeps, by name and shape), ``rollout_act(obs, clock) -> (action, extras)``, ``learn(storage, clock)
    -> metrics`` and ``updates_per_iteration`` (gradient steps per iteration), besides the
    :class:`~isaac_rl.algorithms.base.Algorithm` parts (``to_env``, ``act``, modules, state).

    Args:
        collector: The training env, its observation and statistics.
        algo: The on-policy algorithm (PPO, PQN).
        compile, cuda_graph: How a learning iteration runs (:func:`isaac_rl.runtime.capture.capture_iteration`).
    """

    def __init__(self, collector: Collector, algo: Any, compile: bool = False, cuda_graph: bool = False) -> None:
        self.collector, self.algo = collector, algo
        self.algorithm: Algorithm = algo
        env = collector.env
        self.steps_per_iteration = int(algo.rollout_steps)
        discrete = algo.action_dim == 0
        self.storage = RolloutStorage(self.steps_per_iteration, env.num_envs, env.obs_dim,
                                      () if discrete else (algo.action_dim,), torch.long if discrete else torch.float32,
                                      env.device, algo.rollout_extras())
        self.updates = 0
        self.learn: IterationFn = capture_iteration(self.learning_iteration, self.persistent_tensors, env.device,
                                                    compile=compile, cuda_graph=cuda_graph)

    @property
    def nbytes(self) -> int:
        """Bytes of the rollout storage (not saved: rewritten every iteration)."""
        return 0

    def learning_iteration(self, clock: torch.Tensor, phases: Tuple[int, ...] = ()) -> Dict[str, torch.Tensor]:
        """``T`` exploring steps of every env at iteration ``clock`` (0-d device float) into the storage, then the
        algorithm's learning from it; its last update's per-agent device metrics."""
        for t in range(self.steps_per_iteration):
            action, extras = self.algo.rollout_act(self.collector.obs, clock)

            def store(obs: torch.Tensor, act: torch.Tensor, out: StepOut, done: torch.Tensor, t: int = t,
                      extras: Dict[str, torch.Tensor] = extras) -> None:
                self.storage.insert(t, obs, act, out.reward, out.final_obs, out.terminated, done, extras)

            self.collector.step(action, clock, store)
        return self.algo.learn(self.storage, clock)

    def persistent_tensors(self) -> Iterator[torch.Tensor]:
        """The collector's, the storage's and the algorithm's tensors (static addresses for capture)."""
        yield from self.collector.persistent_tensors()
        yield from self.storage.persistent_tensors()
        yield from self.algo.persistent_tensors()

    def train_step(self, iteration: int) -> Dict[str, torch.Tensor]:
        """Iteration ``iteration``: a rollout and its learning; no host syncs on CUDA."""
        clock = self.collector.clock
        clock.fill_(float(iteration))
        metrics = self.learn(clock, ())
        self.updates += int(self.algo.updates_per_iteration)
        return metrics

    def restart(self) -> None:
        """After an evaluation on the training env (rollouts never span one: nothing else to cut)."""
        self.collector.restart()

    def state_dict(self) -> Dict[str, Any]:
        """Update count and algorithm (the storage is rewritten before it is read)."""
        return {"updates": self.updates, "agent": self.algo.state_dict()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`."""
        self.updates = int(state.get("updates", 0))
        self.algo.load_state_dict(state["agent"])
