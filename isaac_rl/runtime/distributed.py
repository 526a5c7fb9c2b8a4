"""Multi-GPU data parallelism on torch.distributed (NCCL on CUDA, gloo on CPU), launched by ``torchrun``.

Each rank owns its envs and replay buffer on ``cuda:LOCAL_RANK`` (or the CPU); parameters are broadcast from rank 0
at start and gradients are averaged with one flat ``all_reduce`` per optimizer step, so all ranks stay identical.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Iterable, List

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone logs, evaluates and saves."""
        return self.rank == 0


def setup(multi_gpu: bool, device: str) -> DistInfo:
    """Join the ``torchrun`` job when ``multi_gpu`` (reads ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``)."""
    if not multi_gpu:
        return DistInfo()
    if "RANK" not in os.environ:
        raise RuntimeError("multi_gpu=True needs torchrun: torchrun --nproc_per_node=K scripts/train.py multi_gpu=True")
    backend = "nccl" if device.startswith("cuda") else "gloo"
    dist.init_process_group(backend)
    return DistInfo(dist.get_rank(), int(os.environ["LOCAL_RANK"]), dist.get_world_size())


def broadcast_modules(modules: Iterable[nn.Module], src: int = 0) -> None:
    """Copy every parameter and buffer of ``modules`` from rank ``src`` to all ranks."""
    for module in modules:
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src)


def average_gradients(params: Iterable[nn.Parameter], world_size: int) -> None:
    """All-reduce the mean gradient of ``params`` with one flat buffer (no host sync)."""
    grads: List[torch.Tensor] = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def install_gradient_averaging(optimizers: Iterable[Any], world_size: int) -> None:
    """Make every ``optimizer.step()`` average gradients across ranks first."""
    for opt in optimizers:
        step = opt.step

        def synced_step(*args, _step=step, _opt=opt, **kwargs):  # type: ignore[no-untyped-def]
            average_gradients((p for g in _opt.param_groups for p in g["params"]), world_size)
            return _step(*args, **kwargs)

        opt.step = synced_step  # type: ignore[method-assign]


def mean_across_ranks(world_size: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function that returns the mean of a device tensor over all ranks (one ``all_reduce``, no host sync): for
    what a learner keeps outside its optimizer, e.g. PPO's KL and observation statistics."""
    def mean(x: torch.Tensor) -> torch.Tensor:
        total = x.clone()
        dist.all_reduce(total)
        return total / world_size
    return mean


def any_rank(wish: bool, device: str) -> bool:
    """True on every rank if ``wish`` is true on any rank (one small all_reduce, at log/eval intervals only)."""
    flag = torch.tensor([1.0 if wish else 0.0], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def parameter_checksum(modules: Iterable[nn.Module]) -> float:
    """Sum of all parameters, to show that ranks hold identical networks."""
    with torch.no_grad():
        return float(sum(p.double().sum() for m in modules for p in m.parameters()))


def teardown(clean: bool = True) -> None:
    """Leave the process group if one was joined. ``clean`` (every rank got here normally): meet the others at a
    barrier first, so no rank destroys its group while a peer still uses it (with gloo on torch 2.4.1 a rank whose
    peer had already left hung in ``destroy_process_group``). After an error on this rank, leave without waiting:
    its exit makes torchrun stop the others."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    if not clean:
        return
    try:
        if dist.get_backend() == "gloo":
            dist.monitored_barrier(timeout=timedelta(seconds=120))
        else:
            dist.barrier()
    except RuntimeError:  # a peer is gone: nothing left to synchronise with
        return
    dist.destroy_process_group()
