"""Shared machinery of the pure-torch batched tasks: action checks, time limit, same-step auto-reset, final obs.

A subclass holds its state component-major as ``self.state``: ``[S, N]`` of ``dtype`` on ``device`` (each row a
contiguous ``[N]`` vector, which makes the element-wise physics fast on both CPU and CUDA) and implements
``physics``, ``_observe``, ``_reward_terminated`` and the reset distribution ``_reset_low``/``_reset_high``.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import torch

from isaac_rl.core.checks import check_actions, check_num_envs
from isaac_rl.core.contract import ActionSpec, StepOut, canonical_device


class TorchTask:
    """Base of the batched torch tasks (see the module docstring); the API is :class:`isaac_rl.core.contract.VecEnv`.

    Args:
        num_envs: Number of environments ``N`` (1 to 2**30).
        device: Torch device (``"cpu"``, ``"cuda:0"``, ...).
        seed: Seed of the env's RNG (reset noise); ``reset(seed)`` reseeds it.
        dtype: ``torch.float32`` (default) or ``torch.float64`` (bit-for-bit parity with gymnasium's float64 maths).
        max_episode_steps: Time limit in steps; reaching it sets ``truncated``.
        debug_checks: Also reject NaN/inf actions on CUDA (a host sync per step). Always on for CPU.

    An ended episode restarts in the same step from a fresh random state drawn from torch's default generator, the
    one generator that CUDA graph replays advance. With ``random_auto_reset = False`` (an attribute, set on the
    trainer's evaluation and verification envs, which count only each env's first episode) it restarts from the
    state of the last ``reset`` instead and draws nothing, so evaluating never moves the random stream that training
    explores with: a run's training is the same whatever its evaluation schedule.

    ``randomizer`` (set by :func:`isaac_rl.tasks.randomize.attach`, the training env of a ``task.randomize`` run)
    adds per-env parameters redrawn where an episode ends, action noise and delay, and observation noise to the step.
    """

    state_dim: int
    obs_dim: int
    action_spec: ActionSpec
    obs_clip: Optional[float] = None
    serial_below: int = 65536  # CPU: step with one intra-op thread below this many envs (see step)
    random_auto_reset: bool = True  # False: an ended episode restarts from the last reset's state (evaluation envs)
    randomizer: Optional[Any] = None  # per-env parameters and noise (tasks/randomize.py attach); None: nominal model
    _reset_low: Sequence[float]
    _reset_high: Sequence[float]

    def __init__(self, num_envs: int, device: str = "cpu", seed: int = 0, dtype: torch.dtype = torch.float32,
                 max_episode_steps: int = 500, debug_checks: bool = False) -> None:
        self.num_envs = check_num_envs(num_envs)
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        if not isinstance(max_episode_steps, int) or max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be a positive integer, got {max_episode_steps!r}")
        self.device = canonical_device(device)
        self.dtype = dtype
        self.max_episode_steps = max_episode_steps
        self._check_values = debug_checks or self.device.type == "cpu"
        self._serial = self.device.type == "cpu" and self.num_envs < self.serial_below
        self._gen = torch.Generator(device=self.device)  # seeded resets only; auto-resets use torch's default one
        self._gen.manual_seed(int(seed))
        low = torch.tensor(self._reset_low, dtype=dtype, device=self.device).unsqueeze(-1)
        high = torch.tensor(self._reset_high, dtype=dtype, device=self.device).unsqueeze(-1)
        self._reset_span, self._reset_min = high - low, low  # [S, 1]
        self.state = self._sample_reset(self._gen)  # [S, N], updated in place from here on
        self._reset_state = self.state.clone()  # [S, N]: the last reset's state (auto-resets without randomness)
        self.progress = torch.zeros(self.num_envs, dtype=torch.int32, device=self.device)
        # 0-d tensors for the per-step constants: a Python scalar costs ~4 us of conversion per eager CPU op, more than
        # the op itself at a few thousand envs.
        int32 = dict(dtype=torch.int32, device=self.device)
        self._one_i = torch.ones((), **int32)
        self._limit = torch.tensor(max_episode_steps, **int32)
        self._lo, self._hi = self.const(-1.0), self.const(1.0)
        if self.obs_clip is not None:
            self._obs_lo, self._obs_hi = self.const(-self.obs_clip), self.const(self.obs_clip)

    def const(self, value: float) -> torch.Tensor:
        """``value`` as a 0-d tensor of the env's dtype and device: twice as fast as a Python scalar in eager CPU ops
        (no per-op scalar conversion) and bit-identical in float64."""
        return torch.tensor(value, dtype=self.dtype, device=self.device)

    def persistent_tensors(self) -> Tuple[torch.Tensor, ...]:
        """State and step counters: one tensor each for the env's life, updated in place by ``step`` (a CUDA graph
        reads and writes them at the addresses it recorded)."""
        extra = self.randomizer.tensors() if self.randomizer is not None else ()
        return (self.state, self.progress, self._reset_state) + extra

    # ------------------------------------------------------------------ task-specific parts
    def physics(self, state: torch.Tensor, effort: torch.Tensor) -> torch.Tensor:
        """``[S, N]`` state and ``[N]`` clamped normalised effort -> next ``[S, N]`` state."""
        raise NotImplementedError

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        """``[S, N]`` state -> unclipped ``[N, obs_dim]`` observation; may be a (transposed) view of ``state``, which is
        safe because ``step`` never writes into a state tensor it has handed out."""
        raise NotImplementedError

    def _reward_terminated(self, state: torch.Tensor, effort: torch.Tensor, next_state: torch.Tensor,
                           next_obs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Reward float ``[N]`` and terminated bool ``[N]`` of the transition ``state -> next_state``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ contract
    def _sample_reset(self, gen: Optional[torch.Generator] = None) -> torch.Tensor:
        """Fresh initial states ``[S, N]`` from the task's uniform reset distribution, drawn from ``gen`` (``None``:
        torch's default generator, the one generator that CUDA graph replays advance)."""
        u = torch.rand((self.state_dim, self.num_envs), generator=gen, device=self.device, dtype=self.dtype)
        return torch.addcmul(self._reset_min, u, self._reset_span)

    def _clip(self, obs: torch.Tensor) -> torch.Tensor:
        return obs if self.obs_clip is None else obs.clamp(self._obs_lo, self._obs_hi)

    def reset(self, seed: Optional[int] = None) -> torch.Tensor:
        """Reset all envs (reseeding first if ``seed`` is given); returns float ``[N, obs_dim]``. The noise comes from
        the env's own generator (a reset is never inside a captured region), so a seeded reset gives the same states
        in every mode."""
        if seed is not None:
            self._gen.manual_seed(int(seed))
        obs = self._become(self._sample_reset(self._gen))
        if self.randomizer is None:
            return obs
        self.randomizer.draw(self._gen)
        noise = self.randomizer.obs_noise(tuple(obs.shape), self._gen)
        return obs if noise is None else self._clip(self._observe(self.state) + noise)

    def set_state(self, state: torch.Tensor) -> torch.Tensor:
        """Set the physical state from ``[N, state_dim]`` (tests and parity checks); returns the observation."""
        if tuple(state.shape) != (self.num_envs, self.state_dim):
            raise ValueError(f"state has shape {tuple(state.shape)}; expected ({self.num_envs}, {self.state_dim})")
        return self._become(state.to(self.device, self.dtype).t().contiguous())

    def _become(self, state: torch.Tensor) -> torch.Tensor:
        """Copy ``[S, N]`` ``state`` into the env's state, zero the step counters; the observation of ``state``."""
        self.state.copy_(state)
        self._reset_state.copy_(state)
        self.progress.zero_()
        return self._clip(self._observe(state))

    def step(self, actions: torch.Tensor) -> StepOut:
        """Advance one control step. ``actions``: float ``[N, dim]`` normalised efforts (clamped to ``[-1, 1]``).

        On the CPU below :attr:`serial_below` envs the step runs with one intra-op thread: torch splits sin/cos over
        threads from 2048 elements, and below that size waking a second thread costs more than the work it takes over
        (BENCHMARKS.md).
        """
        if self._serial:
            threads = torch.get_num_threads()
            if threads > 1:
                torch.set_num_threads(1)
                try:
                    return self._step(actions)
                finally:
                    torch.set_num_threads(threads)
        return self._step(actions)

    def _step(self, actions: torch.Tensor) -> StepOut:
        actions = check_actions(actions, self.num_envs, self.action_spec, self.device, self._check_values)
        effort = actions[:, 0]
        if effort.dtype != self.dtype:
            effort = effort.to(self.dtype)
        effort = effort.clamp(self._lo, self._hi)
        rand = self.randomizer
        if rand is not None:
            effort = rand.act(effort)  # action noise and delay: the effort the model applies
        next_state = self.physics(self.state, effort)
        raw_obs = self._observe(next_state)
        reward, terminated = self._reward_terminated(self.state, effort, next_state, raw_obs)
        self.progress += self._one_i
        timeout = self.progress >= self._limit
        done = terminated | timeout
        noise = rand.obs_noise(tuple(raw_obs.shape)) if rand is not None else None
        final_obs = self._clip(raw_obs if noise is None else raw_obs + noise)
        # Static shapes, no host sync: a candidate reset for every env, kept where the episode ended. The observation
        # is of the new tensor, never a view of self.state, so the next step cannot overwrite what was handed out.
        restart = self._sample_reset() if self.random_auto_reset else self._reset_state
        new_state = torch.where(done, restart, next_state)
        self.state.copy_(new_state)
        if rand is not None:
            rand.episodes_ended(done, self.random_auto_reset)  # a new model where an episode ended
        obs = self._observe(new_state)
        obs = self._clip(obs if noise is None else obs + noise)
        self.progress.masked_fill_(done, 0)  # a Scalar overload: no wrapping cost, and no .item() of a CUDA value
        return StepOut(obs, reward, terminated, timeout > terminated, final_obs)  # bool a > b: a & ~b

    def state_dict(self) -> Dict[str, torch.Tensor]:
        """Physical state, step counters, RNG state and randomized parameters, for bit-identical resumes."""
        out = {"state": self.state.clone(), "progress": self.progress.clone(), "gen": self._gen.get_state()}
        if self.randomizer is not None:
            out["randomize"] = self.randomizer.state_dict()
        return out

    def load_state_dict(self, state: Dict[str, torch.Tensor]) -> None:
        """Restore from :meth:`state_dict`."""
        self.state.copy_(state["state"].to(self.device, self.dtype))
        self.progress.copy_(state["progress"])
        self._gen.set_state(state["gen"].cpu())
        if self.randomizer is not None:
            self.randomizer.load_state_dict(state["randomize"])

    def close(self) -> None:
        """Nothing to release for torch tasks."""
