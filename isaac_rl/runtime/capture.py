"""One learning iteration (act + env step + replay add + updates) captured: ``compile=True`` (``torch.compile``) or
``cuda_graph=True`` (one CUDA graph recorded with ``torch.cuda.graph``, no compiler).

On CUDA the compiled iteration runs as CUDA graphs (``mode="reduce-overhead"``): a few graph launches replace the
~200 kernel launches of an eager iteration, which is what bounds a small-network loop on a GPU. On the CPU, inductor
fuses the element-wise work into C++ kernels (measured slower than eager for these small networks on a 2-core CPU,
see BENCHMARKS.md; the CPU path exists so that the captured code is tested without a GPU).

A traced or captured function is only valid if nothing it depends on changes between calls outside its tensors. The
parts therefore run in their *capturable* form (``make_trainer`` switches them for ``compile`` and ``cuda_graph``):
the replay buffer's write pointer and size, the learners' update counters and Adam's step count live on the device; the
target-network update is a ``lerp`` with a device weight instead of a host ``if``; epsilon is computed from a device
env-step clock; the env resets with static shapes. The n-step window's position is always a device tensor. Random
numbers come from the same generators as in eager mode, and ``fallback_random`` makes inductor draw them with the
eager kernels, so the compiled and eager paths give the same numbers up to float rounding of fused kernels
(tests/test_capture.py).

``cuda_graph=True`` records the eager kernels of one iteration once and replays them: no tracing or compilation
(recording takes 0.04-0.3 s, against 7-19 s of inductor compilation on an H100), the same kernels as eager (so the
same numbers), and one launch per iteration instead of a few hundred: 7.6-10x the eager loop's env steps/s at 4096
envs on an H100, faster than ``compile=True`` in every case measured (BENCHMARKS.md). It is the default on CUDA
(``cuda_graph=auto``). What it needs is what ``compile=True`` needs
(the capturable parts above), plus: nothing in the iteration may allocate its persistent state afresh, and Python
code in it runs only once, at recording -- host counters it touched would be frozen, which is why the capturable
parts keep every counter on the device.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, Optional

import torch

IterationFn = Callable[[Any], Dict[str, torch.Tensor]]


def _state_tensors(trainer: Any) -> Iterator[torch.Tensor]:
    """The persistent tensors a learning iteration mutates in place (buffer, n-step window, statistics, env counters,
    optimiser moments, update counters)."""
    learner = trainer.agent.learner
    holders = [trainer, trainer.buffer, trainer.stats, trainer.env, learner, trainer.nstep,
               getattr(trainer.agent, "noise", None)]
    holders += [opt for opt in vars(learner).values() if hasattr(opt, "exp_avg")]
    for holder in holders:
        if holder is None:
            continue
        for value in vars(holder).values():
            if isinstance(value, torch.Tensor):
                yield value
            elif isinstance(value, list):
                yield from (v for v in value if isinstance(v, torch.Tensor))


def compile_iteration(fn: IterationFn, trainer: Any, device: torch.device) -> IterationFn:
    """``torch.compile(fn)``: ``mode="reduce-overhead"`` (CUDA graphs) on CUDA, the default inductor mode elsewhere.

    On CUDA every persistent tensor the iteration mutates is marked as a static address, so the CUDA graphs write
    into the trainer's own tensors instead of copying them in and out on each replay.
    """
    if not hasattr(torch, "compile"):
        raise RuntimeError(f"compile=True needs torch >= 2.0 (torch.compile); this is torch {torch.__version__}")
    import torch._inductor.config as inductor_config

    inductor_config.fallback_random = True  # draw random numbers with the eager kernels: same numbers as eager
    if device.type == "cuda":
        mark_static = getattr(torch._dynamo, "mark_static_address", None)  # torch >= 2.1
        if mark_static is not None:
            for tensor in _state_tensors(trainer):
                mark_static(tensor)
        return torch.compile(fn, mode="reduce-overhead", dynamic=False)
    return torch.compile(fn, dynamic=False)  # static shapes: a trainer's shapes never change


def run_on_side_stream(fn: Callable[[], Any], device: torch.device) -> Any:
    """``fn()`` on a fresh CUDA stream ordered after the current stream's work and before its later work: the warm-up
    before recording a CUDA graph (lazy cuBLAS/autograd set-up must not happen during recording, see "CUDA Graphs" in
    the CUDA semantics notes of the torch docs)."""
    current = torch.cuda.current_stream(device)
    side = torch.cuda.Stream(device)
    side.wait_stream(current)
    with torch.cuda.stream(side):
        out = fn()
    current.wait_stream(side)
    return out


class CudaGraphed:
    """``fn(*args)`` recorded as one CUDA graph and replayed: each call runs ``fn`` exactly once.

    The first ``warmup`` calls run eagerly on a side stream (:func:`run_on_side_stream`); the next call records ``fn``
    (which executes nothing) and replays the recording; later calls only replay. ``args`` must be the same tensors on
    every call (their values may change between calls). The return value is the graph's static outputs, overwritten
    by the next replay.

    Random numbers come from torch's default CUDA generator, whose state ``torch.cuda.graph`` registers: every replay
    draws fresh numbers, the same ones the eager kernels would draw at that generator offset.
    """

    def __init__(self, fn: Callable[..., Any], device: torch.device, warmup: int = 3) -> None:
        if device.type != "cuda" or not hasattr(torch.cuda, "graph"):
            raise ValueError(f"cuda_graph=True needs a CUDA device (and torch >= 1.10); this run's device is {device}")
        self.fn, self.device, self.warmup = fn, device, warmup
        self.graph: Optional[Any] = None
        self.outputs: Any = None
        self._eager_calls = 0

    def __call__(self, *args: Any) -> Any:
        if self.graph is None:
            if self._eager_calls < self.warmup:
                self._eager_calls += 1
                return run_on_side_stream(lambda: self.fn(*args), self.device)
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.outputs = self.fn(*args)
        self.graph.replay()
        return self.outputs
