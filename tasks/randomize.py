"""Per-env domain randomization of the torch tasks (``task.randomize``, IsaacGymEnvs' ``randomization_params`` idea).

Implemented for the torch tasks in :data:`RANDOMIZED_TASKS`: the Isaac-preset ``Cartpole`` (tasks/cartpole.py) and
dm_control's cart-pole family (tasks/dmc_cartpole.py). A task that can be randomized names its physical parameters and
their domains in ``RANDOMIZABLE`` (``{"pole_mass": "positive", "pole_inertia": "nonnegative", ...}``), gives their
nominal values (``nominal()``) and computes its step constants from them in ``derive(values)`` (floats or float64
``[N]`` tensors, the same expressions either way); its step reads those constants from the dict ``task._k``.
:func:`attach` gives the task a :class:`Randomizer`; from then on:

- every randomized parameter is a float64 ``[N]`` tensor on the task's device, one value per env, drawn at each
  ``reset(seed)`` from the env's own generator and, for an env whose episode ends inside ``step``, from torch's
  default generator (the one generator CUDA graph replays advance; its state is in every checkpoint). The step
  constants that depend on them become persistent ``[N]`` tensors of the task's dtype, updated in place: the step is
  one batched computation with no host sync and records in a CUDA graph.
- ``action_noise`` adds ``N(0, std)`` to the normalised effort (then clamped to [-1, 1]); ``action_delay: [lo, hi]``
  applies the effort of ``d`` steps ago, ``d`` an integer drawn per env and episode (zero effort before the first);
  ``observation_noise`` adds ``N(0, std)`` to every observation entry (rewards and terminations see the true state).

The config section (checked by :func:`check`, before any work; keys in ``cfg/task/Cartpole.yaml`` and
``cfg/task/CartpoleBalance.yaml``)::

    randomize:
      enabled: False
      params:                      # each null (nominal) or {distribution, range, operation}
        pole_mass: {distribution: uniform, range: [0.8, 1.2], operation: scaling}
      observation_noise: 0.0
      action_noise: 0.0
      action_delay: [0, 0]

Distributions: ``uniform`` (``range: [low, high]``), ``loguniform`` (``[low, high]``, low > 0: uniform in log),
``gaussian`` (``range: [mean, std]``, clipped to mean +- 3 std). Operations: ``scaling`` (nominal x draw), ``additive``
(nominal + draw), ``absolute`` (the draw). Only the training env is randomized; evaluation and verification envs keep
the nominal model.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import torch

from isaac_rl.core.settings import is_int, is_num, need

DISTRIBUTIONS = ("uniform", "loguniform", "gaussian")
OPERATIONS = ("scaling", "additive", "absolute")
SECTION_KEYS = ("enabled", "params", "observation_noise", "action_noise", "action_delay")
PARAM_KEYS = ("distribution", "range", "operation")
MAX_DELAY = 100  # steps
GAUSS_TRUNCATION = 3.0  # std: draws are clipped to mean +- 3 std, so a checked range holds for every draw
DOMAINS = {"positive": (lambda v: v > 0, "> 0"), "nonnegative": (lambda v: v >= 0, ">= 0")}
# The built-in torch tasks with RANDOMIZABLE (tests/tasks/test_randomize_dmc.py checks the list against the classes).
RANDOMIZED_TASKS = ("Cartpole", "CartpoleBalance", "CartpoleBalanceSparse", "CartpoleSwingup", "CartpoleSwingupSparse",
                    "CartpoleTwoPoles", "CartpoleThreePoles")


class ParamSpec:
    """One randomized parameter: ``name``, ``distribution``, ``a, b`` (low/high or mean/std), ``operation``."""

    def __init__(self, name: str, distribution: str, a: float, b: float, operation: str) -> None:
        self.name, self.distribution, self.a, self.b, self.operation = name, distribution, a, b, operation

    def draw_bounds(self) -> Tuple[float, float]:
        """Smallest and largest draw (before the operation)."""
        if self.distribution == "gaussian":
            return self.a - GAUSS_TRUNCATION * self.b, self.a + GAUSS_TRUNCATION * self.b
        return self.a, self.b

    def value_bounds(self, nominal: float) -> Tuple[float, float]:
        """Smallest and largest parameter value it can give around ``nominal``."""
        lo, hi = self.draw_bounds()
        if self.operation == "scaling":
            return min(nominal * lo, nominal * hi), max(nominal * lo, nominal * hi)
        if self.operation == "additive":
            return nominal + lo, nominal + hi
        return lo, hi

    def describe(self, nominal: float) -> str:
        lo, hi = self.value_bounds(nominal)
        what = (f"N({self.a:g}, {self.b:g})" if self.distribution == "gaussian"
                else f"{self.distribution} [{self.a:g}, {self.b:g}]")
        return f"{self.name} {self.operation} {what} of {nominal:g} -> [{lo:.6g}, {hi:.6g}]"


class RandomizeSpec:
    """The checked ``task.randomize`` section: ``enabled``, ``params`` (:class:`ParamSpec` list), noise stds and the
    delay range."""

    def __init__(self, enabled: bool, params: List[ParamSpec], observation_noise: float, action_noise: float,
                 action_delay: Tuple[int, int]) -> None:
        self.enabled, self.params = enabled, params
        self.observation_noise, self.action_noise, self.action_delay = observation_noise, action_noise, action_delay


def check(section: Optional[Mapping[str, Any]], randomizable: Optional[Mapping[str, str]],
          nominal: Mapping[str, float], where: str) -> RandomizeSpec:
    """The ``task.randomize`` section as a :class:`RandomizeSpec`, or ``ConfigError`` naming the first bad key (an
    unknown key, parameter or distribution, a NaN, low > high, a range that gives a negative mass, ...).

    Args:
        section: The section (``None``: randomization off).
        randomizable: The task's ``RANDOMIZABLE`` (parameter -> domain), ``None`` for a task that has none.
        nominal: The task's nominal parameter values (its defaults with ``task.env`` applied).
        where: The task and backend, for the message when the task cannot be randomized.
    """
    section = {} if section is None else section
    need(isinstance(section, Mapping), "task.randomize", section, f"a section with keys {', '.join(SECTION_KEYS)}")
    for key in section:
        need(key in SECTION_KEYS, f"task.randomize.{key}", section[key], f"one of {', '.join(SECTION_KEYS)}")
    enabled = section.get("enabled", False)
    need(isinstance(enabled, bool), "task.randomize.enabled", enabled, "True or False")
    need(not enabled or randomizable is not None, "task.randomize.enabled", enabled,
         f"False for {where} (per-env randomization is implemented for the torch tasks "
         f"{', '.join(RANDOMIZED_TASKS)})")
    names = dict(randomizable or {})
    params = section.get("params") or {}
    need(isinstance(params, Mapping), "task.randomize.params", params, "a section: <parameter>: {distribution, "
         "range, operation} or null")
    specs = [_check_param(name, value, names, nominal) for name, value in params.items() if value is not None]
    noise = []
    for key in ("observation_noise", "action_noise"):
        value = section.get(key, 0.0)
        need(is_num(value) and value >= 0, f"task.randomize.{key}", value, "a finite number >= 0 (the std of "
             "Gaussian noise; 0 = none)")
        noise.append(float(value))
    delay = section.get("action_delay", [0, 0])
    need(isinstance(delay, (list, tuple)) and len(delay) == 2 and all(is_int(d) for d in delay)
         and 0 <= delay[0] <= delay[1] <= MAX_DELAY, "task.randomize.action_delay", delay,
         f"[low, high], integers with 0 <= low <= high <= {MAX_DELAY} (steps; [0, 0] = none)")
    return RandomizeSpec(enabled, specs, noise[0], noise[1], (int(delay[0]), int(delay[1])))


def _check_param(name: str, value: Any, names: Mapping[str, str], nominal: Mapping[str, float]) -> ParamSpec:
    key = f"task.randomize.params.{name}"
    need(name in names, key, value, f"a parameter of this task: {', '.join(names) or 'none'}")
    need(isinstance(value, Mapping), key, value, "null or {distribution: uniform|loguniform|gaussian, range: [a, b], "
         "operation: scaling|additive|absolute}")
    for sub in value:
        need(sub in PARAM_KEYS, f"{key}.{sub}", value[sub], f"one of {', '.join(PARAM_KEYS)}")
    distribution = value.get("distribution", "uniform")
    need(distribution in DISTRIBUTIONS, f"{key}.distribution", distribution, ", ".join(DISTRIBUTIONS))
    operation = value.get("operation", "scaling")
    need(operation in OPERATIONS, f"{key}.operation", operation, ", ".join(OPERATIONS))
    rng = value.get("range")
    gaussian = distribution == "gaussian"
    shape = "[mean, std], finite, std >= 0" if gaussian else "[low, high], finite, low <= high"
    need(isinstance(rng, (list, tuple)) and len(rng) == 2 and all(is_num(v) for v in rng), f"{key}.range", rng, shape)
    a, b = float(rng[0]), float(rng[1])
    need(b >= 0 if gaussian else a <= b, f"{key}.range", list(rng), shape)
    need(distribution != "loguniform" or a > 0, f"{key}.range", list(rng), "[low, high] with 0 < low <= high for "
         "loguniform")
    spec = ParamSpec(name, distribution, a, b, operation)
    ok, text = DOMAINS[names[name]]
    lo, hi = spec.value_bounds(float(nominal[name]))
    need(ok(lo) and math.isfinite(hi), f"{key}.range", list(rng), f"a range that keeps {name} {text} (this one "
         f"gives {name} from {lo:g} to {hi:g} with the nominal {nominal[name]:g}"
         + (f", mean +- {GAUSS_TRUNCATION:g} std" if gaussian else "") + ")")
    return spec


def describe(spec: RandomizeSpec, nominal: Mapping[str, float]) -> str:
    """One line naming every randomized value (printed once at the start of a run)."""
    parts = [p.describe(float(nominal[p.name])) for p in spec.params]
    if spec.observation_noise:
        parts.append(f"observation_noise N(0, {spec.observation_noise:g})")
    if spec.action_noise:
        parts.append(f"action_noise N(0, {spec.action_noise:g})")
    if spec.action_delay[1]:
        parts.append(f"action_delay {spec.action_delay[0]}-{spec.action_delay[1]} steps")
    return "randomize (training envs, per env at each reset): " + ("; ".join(parts) or "nothing (every value nominal)")


class Randomizer:
    """The per-env parameters, delay and noise of one task (see the module docstring). Made by :func:`attach`.

    Tensors (all on the task's device, updated in place for the life of the env): ``values[name]`` float64 ``[N]``
    per randomized parameter, ``derived[name]`` ``[N]`` of the task's dtype per step constant that depends on them,
    ``delay`` int64 ``[N]`` and ``history`` ``[high + 1, N]`` of past efforts when ``action_delay`` is set.
    """

    def __init__(self, spec: RandomizeSpec, nominal: Mapping[str, float], derive: Callable[..., Dict[str, Any]],
                 num_envs: int, device: torch.device, dtype: torch.dtype) -> None:
        self.spec, self.nominal, self._derive = spec, dict(nominal), derive
        self.num_envs, self.device, self.dtype = num_envs, device, dtype
        f64 = dict(dtype=torch.float64, device=device)
        self.values = {p.name: torch.full((num_envs,), float(nominal[p.name]), **f64) for p in spec.params}
        self.derived = {k: v.to(dtype).clone() for k, v in self._derive_all().items() if isinstance(v, torch.Tensor)}
        lo, hi = spec.action_delay
        self.delay = torch.full((num_envs,), lo, dtype=torch.int64, device=device) if hi else None
        self.history = torch.zeros((hi + 1, num_envs), dtype=dtype, device=device) if hi else None
        self._obs_std = torch.tensor(spec.observation_noise, dtype=dtype, device=device)
        self._act_std = torch.tensor(spec.action_noise, dtype=dtype, device=device)
        self._lo, self._hi = torch.tensor(-1.0, dtype=dtype, device=device), torch.tensor(1.0, dtype=dtype,
                                                                                            device=device)

    def _derive_all(self) -> Dict[str, Any]:
        return self._derive({**self.nominal, **self.values})

    def _sample(self, p: ParamSpec, gen: Optional[torch.Generator]) -> torch.Tensor:
        """A float64 ``[N]`` draw of ``p`` (after its operation) from ``gen`` (``None``: torch's default one)."""
        shape, f64 = (self.num_envs,), dict(dtype=torch.float64, device=self.device)
        if p.distribution == "gaussian":
            z = torch.randn(shape, generator=gen, **f64).clamp_(-GAUSS_TRUNCATION, GAUSS_TRUNCATION)
            draw = p.a + p.b * z
        else:
            u = torch.rand(shape, generator=gen, **f64)
            if p.distribution == "uniform":
                draw = p.a + (p.b - p.a) * u
            else:  # loguniform: low * (high / low) ** u, exactly low for a point range
                draw = p.a * torch.exp(math.log(p.b / p.a) * u)
        nominal = float(self.nominal[p.name])
        if p.operation == "scaling":
            return nominal * draw
        return nominal + draw if p.operation == "additive" else draw

    def _refresh(self) -> None:
        for name, value in self._derive_all().items():
            if name in self.derived:
                self.derived[name].copy_(value)

    def draw(self, gen: torch.Generator) -> None:
        """Every env's parameters and delay from the env's own generator ``gen`` (``reset(seed)``)."""
        for p in self.spec.params:
            self.values[p.name].copy_(self._sample(p, gen))
        if self.delay is not None:
            lo, hi = self.spec.action_delay
            self.delay.copy_(torch.randint(lo, hi + 1, (self.num_envs,), generator=gen, device=self.device))
            self.history.zero_()
        self._refresh()

    def episodes_ended(self, done: torch.Tensor, redraw: bool) -> None:
        """Envs where ``done`` (bool ``[N]``) start a new episode: new parameters and delay drawn from torch's default
        generator when ``redraw`` (training envs), and no effort in the delay line."""
        if redraw:
            for p in self.spec.params:
                self.values[p.name].copy_(torch.where(done, self._sample(p, None), self.values[p.name]))
            if self.delay is not None:
                lo, hi = self.spec.action_delay
                fresh = torch.randint(lo, hi + 1, (self.num_envs,), device=self.device)
                self.delay.copy_(torch.where(done, fresh, self.delay))
            if self.spec.params:
                self._refresh()
        if self.history is not None:
            self.history.masked_fill_(done, 0.0)

    def act(self, effort: torch.Tensor) -> torch.Tensor:
        """The effort ``[N]`` the model applies this step: the clamped policy effort plus action noise, delayed."""
        if self.spec.action_noise:
            effort = torch.addcmul(effort, torch.randn_like(effort), self._act_std).clamp(self._lo, self._hi)
        if self.history is None:
            return effort
        self.history[1:].copy_(self.history[:-1].clone())
        self.history[0].copy_(effort)
        return self.history.gather(0, self.delay.unsqueeze(0)).squeeze(0)

    def obs_noise(self, shape: Tuple[int, ...], gen: Optional[torch.Generator] = None) -> Optional[torch.Tensor]:
        """Observation noise of ``shape`` (``None`` without ``observation_noise``)."""
        if not self.spec.observation_noise:
            return None
        z = torch.randn(shape, generator=gen, dtype=self.dtype, device=self.device)
        return z * self._obs_std

    def tensors(self) -> Tuple[torch.Tensor, ...]:
        """Every tensor a step reads or writes (CUDA graphs record their addresses)."""
        extra = tuple(t for t in (self.delay, self.history) if t is not None)
        return tuple(self.values.values()) + tuple(self.derived.values()) + extra

    def state_dict(self) -> Dict[str, torch.Tensor]:
        out = {f"value.{k}": v.clone() for k, v in self.values.items()}
        if self.delay is not None:
            out.update(delay=self.delay.clone(), history=self.history.clone())
        return out

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        for k, v in self.values.items():
            v.copy_(state[f"value.{k}"])
        if self.delay is not None:
            self.delay.copy_(state["delay"])
            self.history.copy_(state["history"])
        self._refresh()


def attach(task: Any, section: Optional[Mapping[str, Any]], gen: Optional[torch.Generator] = None) -> str:
    """Randomize ``task`` (a torch task with ``RANDOMIZABLE``) as ``section`` says; returns the line to log.

    The task's step constants ``task._k[name]`` that depend on a randomized parameter become the randomizer's
    ``[N]`` tensors; the first draw comes from ``gen`` (default: the task's own generator)."""
    nominal = task.nominal()
    spec = check(section, getattr(task, "RANDOMIZABLE", None), nominal, type(task).__name__)
    rand = Randomizer(spec, nominal, task.derive, task.num_envs, task.device, task.dtype)
    task._k.update(rand.derived)
    task.randomizer = rand
    rand.draw(task._gen if gen is None else gen)
    return describe(spec, nominal)
