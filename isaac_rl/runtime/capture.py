"""One learning iteration (act + env step + replay add + updates) captured: ``compile=True`` (``torch.compile``) or
``cuda_graph=True`` (CUDA graphs recorded with ``torch.cuda.graph``, no compiler). The one place where capture is
applied: every component has one form that serves eager, recorded and compiled runs alike.

A traced or recorded function is only valid if nothing it depends on changes between calls outside its tensors, so
the components keep every counter on the device (the replay buffer's write pointer and size, Adam's step count, the
n-step window's position, the iteration clock that exploration schedules read), update their tensors in place (env
state, observation), and draw random numbers from torch's default generator, whose state CUDA graph replays advance
and the runner saves. Host-side periodic decisions (a DDPG/TD3 actor step every ``policy_delay`` updates, a DQN
target update every ``target_update_interval``) are *phases*: the learning computes each iteration's phases from its
host update count, and one graph is recorded per distinct sequence of phases (``torch.compile`` guards on them).

On CUDA the compiled iteration runs as CUDA graphs (``mode="reduce-overhead"``). On the CPU, inductor fuses the
element-wise work into C++ kernels (slower than eager for these small networks on a 2-core CPU, see BENCHMARKS.md;
the CPU path exists so that the captured code is tested without a GPU). ``cuda_graph=True`` records the eager
kernels of one iteration once per phase sequence and replays them: no tracing or compilation, the same kernels as
eager (so the same numbers), one launch per iteration instead of a few hundred. It is the default on CUDA
(``cuda_graph=auto``). Python code in a recorded iteration runs only once, at recording.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, Optional, Tuple

import torch

IterationFn = Callable[[torch.Tensor, Tuple[int, ...]], Dict[str, torch.Tensor]]


def capture_iteration(fn: IterationFn, tensors: Callable[[], Iterable[torch.Tensor]], device: torch.device,
                      compile: bool = False, cuda_graph: bool = False) -> IterationFn:
    """``fn(clock, phases)`` as it should run: eagerly (neither flag), ``torch.compile``d, or recorded as one CUDA
    graph per distinct ``phases``. ``tensors()`` lists the persistent tensors ``fn`` changes in place (static
    addresses for the compiled CUDA graphs)."""
    if compile and cuda_graph:
        raise ValueError("compile=True and cuda_graph=True are exclusive (compile records CUDA graphs on CUDA)")
    if compile:
        return compile_iteration(fn, tensors, device)
    if cuda_graph:
        return PhasedGraphs(fn, device)
    return fn


def compile_iteration(fn: IterationFn, tensors: Callable[[], Iterable[torch.Tensor]],
                      device: torch.device) -> IterationFn:
    """``torch.compile(fn)``: ``mode="reduce-overhead"`` (CUDA graphs) on CUDA, the default inductor mode elsewhere.

    On CUDA every persistent tensor the iteration mutates is marked as a static address, so the CUDA graphs write
    into the run's own tensors instead of copying them in and out on each replay.
    """
    if not hasattr(torch, "compile"):
        raise RuntimeError(f"compile=True needs torch >= 2.0 (torch.compile); this is torch {torch.__version__}")
    import torch._inductor.config as inductor_config

    inductor_config.fallback_random = True  # draw random numbers with the eager kernels: same numbers as eager
    if device.type == "cuda":
        mark_static = getattr(torch._dynamo, "mark_static_address", None)  # torch >= 2.1
        if mark_static is not None:
            for tensor in tensors():
                mark_static(tensor)
        return torch.compile(fn, mode="reduce-overhead", dynamic=False)
    options = {"cpp.max_horizontal_fusion_size": 1} if welford_fusion_bug(torch.__version__) else None
    return torch.compile(fn, dynamic=False, options=options)  # static shapes: a run's shapes never change


def welford_fusion_bug(version: str) -> bool:
    """Whether torch ``version``'s C++ inductor backend may declare ``weight_recps`` twice in a kernel of two
    LayerNorm (Welford) reductions fused side by side (a C++ compile error; seen with a population's Q-network on
    torch 2.4.1, not on 2.13; assumed through 2.6, before that code was reworked): then ``compile_iteration`` turns
    off the C++ backend's horizontal fusion."""
    major, minor = (int(part) for part in version.split(".")[:2])
    return (2, 4) <= (major, minor) < (2, 7)


class PhasedGraphs:
    """``fn(clock, phases)`` with one :class:`CudaGraphed` recording per distinct ``phases`` tuple (a delayed actor
    step records two: with and without it)."""

    def __init__(self, fn: IterationFn, device: torch.device) -> None:
        self.fn, self.device = fn, device
        self.graphs: Dict[Tuple[int, ...], CudaGraphed] = {}

    def __call__(self, clock: torch.Tensor, phases: Tuple[int, ...]) -> Dict[str, torch.Tensor]:
        graph = self.graphs.get(phases)
        if graph is None:
            graph = self.graphs[phases] = CudaGraphed(lambda c: self.fn(c, phases), self.device)
        return graph(clock)

    @property
    def recorded(self) -> int:
        """Graphs recorded so far."""
        return sum(g.graph is not None for g in self.graphs.values())


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
