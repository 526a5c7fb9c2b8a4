"""Tensor-resident replay buffer: a preallocated ring of transitions on the training device."""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Tuple

import torch

from isaac_rl.core.contract import canonical_device
from isaac_rl.core.types import Batch


def free_memory_bytes(device: torch.device) -> int:
    """Free memory of ``device`` in bytes: ``cudaMemGetInfo`` on CUDA, ``MemAvailable`` on the host otherwise."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


class ReplayBuffer:
    """One ring buffer of ``capacity`` transitions per agent (``K`` agents: storage ``[K, capacity, ...]``), written
    ``N`` per agent at a time from env-major ``[K N, ...]`` tensors, sampled uniformly per agent on the device: agent
    ``k`` only ever samples its own transitions. The agents add together, so one pointer and size serve all.

    Write positions are ``(ptr + arange(N)) % capacity``; ``ptr`` and ``size`` are 0-d long tensors on the device, so
    neither ``add`` nor ``sample`` reads the device and one traced or CUDA-graph-recorded ``add``/``sample`` stays
    valid as they advance. Once full, each ``add`` overwrites the oldest ``N`` transitions. ``sample`` draws
    ``randint(0, 2**62) % size`` (uniform up to a bias below ``size / 2**62``) from torch's default generator (the
    one generator CUDA graph replays advance; it is saved with the trainer's RNG state). Reading ``ptr``, ``size`` or
    ``len()`` is a host sync, done only at checkpoints.

    Args:
        capacity: Transitions kept per agent (>= the ``N`` of each ``add``).
        obs_dim: Observation width.
        action_dim: 0 for discrete actions (stored as long ``[K, C]``), else the continuous action width.
        device: Where storage and sampling live.
        max_fraction: Refuse buffers needing more than this fraction of the device's free memory (all agents).
        agents: ``K``.
    """

    def __init__(self, capacity: int, obs_dim: int, action_dim: int, device: torch.device,
                 max_fraction: float = 0.9, verbose: bool = True, agents: int = 1) -> None:
        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"buffer capacity must be a positive integer of transitions, got {capacity!r}")
        self.capacity, self.device, self.agents = capacity, canonical_device(device), agents
        per = self.bytes_per_transition(obs_dim, action_dim)
        need = agents * capacity * per
        free = free_memory_bytes(self.device)
        if verbose:
            times = f"{agents} agents x " if agents > 1 else ""
            print(f"[isaac_rl] replay buffer: {times}{capacity:,} transitions x {per} B = {need / 2**20:.1f} MiB on "
                  f"{self.device} ({free / 2**30:.1f} GiB free)")
        if need > max_fraction * free:
            whose = f"{agents} agents x " if agents > 1 else ""
            raise MemoryError(f"a replay buffer of {whose}{capacity:,} transitions (population x "
                              f"train.loop.buffer_per_env x num_envs) needs {need / 2**30:.2f} GiB on {self.device} "
                              f"but only {free / 2**30:.2f} GiB is free; lower train.loop.buffer_per_env, num_envs "
                              "or population")
        f32 = dict(dtype=torch.float32, device=self.device)
        rows = (agents, capacity)
        self.obs = torch.zeros(rows + (obs_dim,), **f32)
        self.next_obs = torch.zeros(rows + (obs_dim,), **f32)
        self.action = (torch.zeros(rows, dtype=torch.long, device=self.device) if action_dim == 0
                       else torch.zeros(rows + (action_dim,), **f32))
        self.reward = torch.zeros(rows, **f32)
        self.terminated = torch.zeros(rows, **f32)
        self.horizon = torch.ones(rows, **f32)
        long0 = dict(dtype=torch.long, device=self.device)
        self._ptr, self._size = torch.zeros((), **long0), torch.zeros((), **long0)
        self._offsets: Dict[int, torch.Tensor] = {}  # arange(N) per add size, made once
        self._row_starts = (torch.arange(agents, device=self.device) * capacity).unsqueeze(-1)  # [K, 1]
        self._fields = ("obs", "action", "reward", "next_obs", "terminated", "horizon")
        self._rows = tuple(f.view((agents * capacity,) + f.shape[2:]) for f in self.fields())  # [K C, ...] views

    @staticmethod
    def bytes_per_transition(obs_dim: int, action_dim: int) -> int:
        """Bytes one stored transition takes: two float32 observations, the action, reward, terminated and horizon."""
        return 4 * 2 * obs_dim + (8 if action_dim == 0 else 4 * action_dim) + 4 + 4 + 4

    @property
    def nbytes(self) -> int:
        """Bytes of the preallocated storage (what a full buffer adds to a checkpoint)."""
        return sum(t.numel() * t.element_size() for t in self.fields())

    def fields(self) -> Tuple[torch.Tensor, ...]:
        """The storage tensors, in :class:`~isaac_rl.core.types.Batch` order."""
        return tuple(getattr(self, name) for name in self._fields)

    def persistent_tensors(self) -> Tuple[torch.Tensor, ...]:
        """Storage and device counters: what ``add`` changes in place."""
        return self.fields() + (self._ptr, self._size)

    @property
    def ptr(self) -> int:
        """Next write position (a host sync)."""
        return int(self._ptr.item())

    @property
    def size(self) -> int:
        """Transitions held (a host sync)."""
        return int(self._size.item())

    def __len__(self) -> int:
        return self.size

    def add(self, obs: torch.Tensor, action: torch.Tensor, reward: torch.Tensor, next_obs: torch.Tensor,
            terminated: torch.Tensor, horizon: Optional[torch.Tensor] = None) -> None:
        """Store ``N`` transitions per agent from env-major ``[K N, ...]`` tensors: obs/next_obs ``[K N, obs_dim]``,
        action ``[K N]`` or ``[K N, act_dim]``, reward, terminated and horizon ``[K N]`` (``None``: 1-step); all on
        the buffer's device. No host sync."""
        n = obs.shape[0] // self.agents
        if n > self.capacity:
            raise ValueError(f"cannot add {n} transitions to a buffer of capacity {self.capacity}; "
                             "train.loop.buffer_per_env must be >= 1")
        if horizon is None:
            horizon = torch.ones_like(reward)
        offsets = self._offsets.get(n)
        if offsets is None:
            offsets = self._offsets[n] = torch.arange(n, device=self.device)
        idx = torch.remainder(self._ptr + offsets, self.capacity)
        for field, value in zip(self.fields(), (obs, action, reward, next_obs, terminated, horizon)):
            field.index_copy_(1, idx, value.to(field.dtype).view((self.agents, n) + field.shape[2:]))
        self._ptr.copy_(torch.remainder(self._ptr + n, self.capacity))
        self._size.clamp_(max=self.capacity - n).add_(n)

    def sample(self, batch_size: int) -> Batch:
        """``batch_size`` transitions per agent, each agent's drawn uniformly with replacement from its own rows, on
        the device: a :class:`Batch` of ``[K, batch_size, ...]``. No emptiness check (it would read the device): the
        trainer adds before it samples."""
        idx = torch.remainder(torch.randint(0, 1 << 62, (self.agents, batch_size), device=self.device), self._size)
        rows = idx + self._row_starts  # [K, B] rows of the [K * capacity, ...] views
        return Batch(*(field[rows] for field in self._rows))

    def state_dict(self) -> Dict[str, Any]:
        """Stored rows and pointers; tensors only, so ``torch.load(weights_only=True)`` reads it."""
        size = self.size
        state: Dict[str, Any] = {name: getattr(self, name)[:, :size].clone() for name in self._fields}
        state.update(ptr=self.ptr, size=size, capacity=self.capacity)
        return state

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` (same capacity; a sampler generator state of older checkpoints is
        ignored: sampling now draws from torch's default generator; their one-agent rows gain the agent axis)."""
        if state["capacity"] != self.capacity:
            raise ValueError(f"checkpoint buffer capacity {state['capacity']} != this buffer's {self.capacity} "
                             "(train.loop.buffer_per_env x num_envs)")
        for name in self._fields:
            rows = state[name]
            if rows.dim() < getattr(self, name).dim():  # one-agent layout of earlier versions
                rows = rows.unsqueeze(0)
            getattr(self, name)[:, :state["size"]].copy_(rows)
        self._ptr.fill_(int(state["ptr"]))
        self._size.fill_(int(state["size"]))
