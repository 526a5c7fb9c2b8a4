"""A fixed sequence of env steps recorded once as a CUDA graph and replayed: raw simulation throughput on a GPU.

An eager step of a torch task launches 20-150 small element-wise kernels (CartPole-v1: ~20; the Isaac preset's RK4:
~150), and below a few hundred thousand envs the host's launch overhead, not the GPU, bounds the step rate. Recording
``K`` steps as one CUDA graph replaces ``K x kernels`` launches by one graph launch. Used by
``scripts/bench_env.py --device cuda`` and usable for data collection with fixed (e.g. random or scripted) actions.
"""

from __future__ import annotations

from typing import Any

import torch

from isaac_rl.core.contract import StepOut, canonical_device
from isaac_rl.runtime.capture import run_on_side_stream


class StepGraph:
    """``len(actions)`` steps of a torch task on CUDA as one replayable CUDA graph.

    Args:
        env: A torch task (:class:`~isaac_rl.tasks.torch_base.TorchTask`) on a CUDA device. Its auto-reset noise
            comes from torch's default CUDA generator, which graph replays advance like eager calls, so a replay after
            ``torch.manual_seed(s)`` gives the numbers of the same steps run eagerly after ``torch.manual_seed(s)``.
        actions: float ``[K, N, action_dim]`` on the env's device; step ``k`` of every replay uses ``actions[k]``
            (write new values into this tensor between replays to change them).

    Construction runs two warm-up steps (CUDA graphs must not record first-use initialisation); the env's state and
    step counters are restored afterwards, only the default generator has advanced.
    """

    def __init__(self, env: Any, actions: torch.Tensor) -> None:
        device = canonical_device(getattr(env, "device", "cpu"))
        if device.type != "cuda" or not hasattr(env, "persistent_tensors"):
            raise ValueError(f"StepGraph needs a torch task on a CUDA device; got {type(env).__name__} on {device}")
        shape = (env.num_envs, env.action_spec.dim)
        if actions.dim() != 3 or tuple(actions.shape[1:]) != shape or actions.device != device:
            raise ValueError(f"actions must be [K, {shape[0]}, {shape[1]}] on {device}; got "
                             f"{list(actions.shape)} on {actions.device}")
        self.env, self.actions = env, actions
        state, progress = env.state.clone(), env.progress.clone()
        run_on_side_stream(lambda: [env.step(a) for a in actions[:2]], device)
        env.state.copy_(state)  # the state is updated in place, at the address the graph records
        env.progress.copy_(progress)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            for a in actions:
                out = env.step(a)
        self.out: StepOut = out

    def replay(self) -> StepOut:
        """Run the ``K`` recorded steps (asynchronously); returns the last step's outputs, static tensors that the next
        replay overwrites (clone what you keep)."""
        self.graph.replay()
        return self.out
