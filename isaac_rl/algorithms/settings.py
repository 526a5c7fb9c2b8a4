"""Settings shared by every algorithm's ``train.algo`` section (each algorithm's own dataclass extends these)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, List, Optional, Tuple

from isaac_rl.core.settings import is_int, is_num, need


@dataclass
class AlgoSettings:
    """Keys every algorithm has.

    Attributes:
        name: The algorithm (a key of :data:`isaac_rl.algorithms.ALGORITHMS`).
        hidden: Hidden layer widths of every network.
        gamma: Discount factor.
        n_step: n-step returns (1 = one-step TD; :mod:`isaac_rl.storage.nstep`).
        tau: Polyak factor of the target updates (1 = hard copy).
        max_grad_norm: Gradient clipping norm (0 disables).
        layer_norm: LayerNorm in the hidden layers of the Q-networks (steady TD learning at high learning rates).
    """

    PER_AGENT: ClassVar[Tuple[str, ...]] = ("gamma", "tau", "n_step")  # may differ per agent (population_vary)

    name: str = ""
    hidden: List[int] = field(default_factory=lambda: [64, 64])
    gamma: float = 0.99
    n_step: int = 1
    tau: float = 0.005
    max_grad_norm: float = 0.0
    layer_norm: bool = False

    def check(self, prefix: str) -> None:
        """Raise ``ConfigError`` naming the first bad key under ``prefix`` (``train.algo``)."""
        need(isinstance(self.hidden, (list, tuple)) and len(self.hidden) >= 1
             and all(is_int(h) and h >= 1 for h in self.hidden), f"{prefix}.hidden", self.hidden,
             "a non-empty list of positive integers")
        need(is_num(self.gamma) and 0.0 <= self.gamma <= 1.0, f"{prefix}.gamma", self.gamma, "a number in [0, 1]")
        need(is_int(self.n_step) and 1 <= self.n_step <= 100, f"{prefix}.n_step", self.n_step, "an integer in [1, 100]")
        need(is_num(self.tau) and 0.0 < self.tau <= 1.0, f"{prefix}.tau", self.tau, "a number in (0, 1]")
        need(is_num(self.max_grad_norm) and self.max_grad_norm >= 0, f"{prefix}.max_grad_norm", self.max_grad_norm,
             "a number >= 0 (0 disables clipping)")
        need(isinstance(self.layer_norm, bool), f"{prefix}.layer_norm", self.layer_norm, "True or False")


def check_positive(prefix: str, **values: float) -> None:
    """Each value a finite number > 0 (learning rates)."""
    for key, value in values.items():
        need(is_num(value) and value > 0, f"{prefix}.{key}", value, "a finite number > 0")


def check_non_negative(prefix: str, **values: float) -> None:
    """Each value a finite number >= 0 (noise scales, penalty weights)."""
    for key, value in values.items():
        need(is_num(value) and value >= 0, f"{prefix}.{key}", value, "a finite number >= 0")


def check_at_least_one(prefix: str, **values: int) -> None:
    """Each value an integer >= 1 (intervals, delays)."""
    for key, value in values.items():
        need(is_int(value) and value >= 1, f"{prefix}.{key}", value, "an integer >= 1")


@dataclass
class NoiseSettings:
    """Per-env exploration noise of the deterministic-policy algorithms (DDPG, TD3).

    Attributes:
        noise: ``gaussian`` or ``ou`` (Ornstein-Uhlenbeck, one state per env, reset at episode end).
        noise_sigma: Noise scale, in normalised effort units.
        noise_sigma_min: Per-env sigma ~ U[noise_sigma_min, noise_sigma], redrawn per episode (``None``: constant
            ``noise_sigma``), for either noise.
        ou_theta: OU mean reversion.
    """

    noise: str = "gaussian"
    noise_sigma: float = 0.1
    noise_sigma_min: Optional[float] = None
    ou_theta: float = 0.15

    def check_noise(self, prefix: str) -> None:
        """Raise ``ConfigError`` naming the first bad noise key."""
        need(self.noise in ("gaussian", "ou"), f"{prefix}.noise", self.noise, "gaussian or ou")
        check_non_negative(prefix, noise_sigma=self.noise_sigma)
        low = self.noise_sigma_min
        need(low is None or (is_num(low) and 0 <= low <= self.noise_sigma), f"{prefix}.noise_sigma_min", low,
             f"null (constant noise_sigma) or a finite number in [0, noise_sigma={self.noise_sigma}]")
        check_non_negative(prefix, ou_theta=self.ou_theta)


def check_epsilon_greedy(prefix: str, eps_start: float, eps_end: float, efforts: object) -> None:
    """The keys of an epsilon-greedy Q-learner (DQN, PQN, Tabular): rates in [0, 1], >= 2 efforts in [-1, 1]."""
    for key, value in (("eps_start", eps_start), ("eps_end", eps_end)):
        need(is_num(value) and 0 <= value <= 1, f"{prefix}.{key}", value, "a number in [0, 1]")
    need(isinstance(efforts, (list, tuple)) and len(efforts) >= 2
         and all(is_num(e) and -1 <= e <= 1 for e in efforts), f"{prefix}.efforts", efforts,
         "a list of >= 2 normalised efforts in [-1, 1]")


def check_on_policy(s: AlgoSettings, prefix: str) -> None:
    """The keys every on-policy algorithm shares: ``rollout_steps``, ``epochs``, ``minibatches``, no n-step."""
    check_at_least_one(prefix, rollout_steps=s.rollout_steps, epochs=s.epochs,  # type: ignore[attr-defined]
                       minibatches=s.minibatches)  # type: ignore[attr-defined]
    need(s.n_step == 1, f"{prefix}.n_step", s.n_step, f"1 for {s.name} (its returns are computed over the rollout)")
