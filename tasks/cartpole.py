"""Batched cart-pole physics in pure torch: the Isaac Gym ``Cartpole`` task and gymnasium's ``CartPole-v1``.

State rows (both presets): ``[x, x_dot, theta, theta_dot]``, observation ``[N, 4]`` in the same order.

``Cartpole`` (Isaac Gym / IsaacGymEnvs: ``assets/cartpole.urdf`` and IsaacGymEnvs' ``cartpole.py``)
    Cart of mass ``M = 1 kg`` on a frictionless prismatic joint; pole of mass ``m = 1 kg`` whose centre of mass is
    ``l = 0.47 m`` from a frictionless hinge. The URDF gives no inertia tensors and the URDF default is zero, so we
    assume the pole is a point mass (``I = 0`` about its centre of mass; ``pole_inertia`` lets you set the solid-box
    value 0.0836 kg*m^2 instead). Isaac's sign convention: ``theta > 0`` tilts the pole towards ``-x``, so the pole's
    centre of mass is at ``(x - l sin(theta), l cos(theta))``.

    Lagrangian ``L = 1/2 (M+m) x_dot^2 - m l x_dot theta_dot cos(theta) + 1/2 (I + m l^2) theta_dot^2
    - m g l cos(theta)`` gives, with force ``F`` on the cart::

        (M + m) x_dd - m l cos(th) th_dd = F - m l sin(th) th_dot^2
        -m l cos(th) x_dd + (I + m l^2) th_dd = m g l sin(th)

    solved in closed form (Cramer's rule) and integrated with classical Runge-Kutta (RK4) over ``substeps`` slices of
    ``dt`` like PhysX's substepping (dt = 0.0166 s, 2 substeps). RK4 keeps the total energy of the unforced system
    within 1e-5 over 500 steps; semi-implicit Euler at the same step drifts by tens of percent, because the mass
    matrix depends on ``theta`` (the velocity-form update is not symplectic here). ``F = clamp(a, -1, 1) * 400 N``.
    Reward ``1 - th^2 - 0.01 |x_dot| - 0.005 |th_dot|``, or -2 on failure (``|x| > 3`` or ``|th| > pi/2``), computed
    on the unclipped state; the returned observation is clipped to +-5. Resets draw positions from U[-0.1, 0.1) and
    velocities from U[-0.25, 0.25) and happen inside the same step (no Isaac-style one-step-late reset).

``CartPole-v1`` (gymnasium's classic control, Barto, Sutton & Anderson 1983 with Florian's 2005 correction)
    The same equations, operations and order as ``gymnasium.envs.classic_control.CartPoleEnv`` (explicit Euler, tau
    0.02 s, force 10 N, pole half-length 0.5 m, masses 1.0/0.1 kg), so with ``dtype=torch.float64`` the trajectories
    equal gymnasium's step for step. Reward 1 per step, termination at ``|x| > 2.4`` or ``|th| > 12 deg``, resets from
    U[-0.05, 0.05], 500-step time limit. Efforts are continuous here; gymnasium itself only knows +-1.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Optional, Tuple

import torch

from isaac_rl.core.contract import ActionSpec
from isaac_rl.tasks.torch_base import TorchTask


def isaac_cartpole_reward(x: torch.Tensor, x_dot: torch.Tensor, th: torch.Tensor, th_dot: torch.Tensor,
                          reset_dist: float = 3.0) -> Tuple[torch.Tensor, torch.Tensor]:
    """IsaacGymEnvs' Cartpole reward and failure flag from the unclipped state; every argument and result is ``[N]``.

    ``reward = 1 - th^2 - 0.01 |x_dot| - 0.005 |th_dot|``, replaced by -2 where ``|x| > reset_dist`` or
    ``|th| > pi/2`` (which is also ``terminated``). Shared by the torch and Isaac Gym backends.
    """
    failed = (x.abs() > reset_dist) | (th.abs() > math.pi / 2)
    reward = 1.0 - th * th - 0.01 * x_dot.abs() - 0.005 * th_dot.abs()
    return reward.masked_fill(failed, -2.0), failed


class IsaacCartpole(TorchTask):
    """The Isaac Gym Cartpole task in pure torch. Args as :class:`~isaac_rl.tasks.torch_base.TorchTask`, and physics."""

    state_dim = 4
    obs_names = ("cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity")
    obs_dim = 4
    obs_clip = 5.0
    reward_max = 1.0  # per step, for early-out evaluation
    _reset_low = (-0.1, -0.25, -0.1, -0.25)
    _reset_high = (0.1, 0.25, 0.1, 0.25)

    def __init__(self, num_envs: int, device: str = "cpu", seed: int = 0, dtype: torch.dtype = torch.float32,
                 max_episode_steps: int = 500, debug_checks: bool = False, dt: float = 0.0166, substeps: int = 2,
                 max_effort: float = 400.0, reset_dist: float = 3.0, cart_mass: float = 1.0, pole_mass: float = 1.0,
                 pole_com: float = 0.47, pole_inertia: float = 0.0, gravity: float = 9.81) -> None:
        if substeps < 1 or dt <= 0:
            raise ValueError(f"need dt > 0 and substeps >= 1, got dt={dt}, substeps={substeps}")
        self.action_spec = ActionSpec(dim=1, max_effort=max_effort)
        self.control_dt = dt  # seconds per step (optional contract attribute: deployment metadata)
        self.h = dt / substeps
        self.substeps = substeps
        self.max_effort = max_effort
        self.reset_dist = reset_dist
        self.M, self.m, self.l, self.I, self.g = cart_mass, pole_mass, pole_com, pole_inertia, gravity
        super().__init__(num_envs, device, seed, dtype, max_episode_steps, debug_checks)
        # 0-d tensors of exactly the values the Python-scalar expressions would use (see TorchTask.const): the RK4
        # step has ~50 constant multiplications, each ~4 us cheaper this way on a CPU. With task.randomize those of
        # randomized parameters become [N] tensors (tasks/randomize.py), computed by the same expressions.
        self._k = {name: self.const(v) for name, v in self.derive(self.nominal()).items()}
        self._k["two"] = self.const(2.0)

    # Parameters task.randomize may draw per env, and the domain each must stay in (tasks/randomize.py).
    RANDOMIZABLE = {"cart_mass": "positive", "pole_mass": "positive", "pole_com": "positive",
                    "pole_inertia": "nonnegative", "max_effort": "positive", "dt": "positive"}

    def nominal(self) -> Dict[str, float]:
        """The nominal value of each parameter of :attr:`RANDOMIZABLE` (kg, m, kg*m^2, N, s)."""
        return dict(cart_mass=self.M, pole_mass=self.m, pole_com=self.l, pole_inertia=self.I,
                    max_effort=self.max_effort, dt=self.control_dt)

    def derive(self, p: Mapping[str, Any]) -> Dict[str, Any]:
        """The step constants from the parameters ``p`` (floats, or float64 ``[N]`` tensors for randomized ones; the
        same float64 operations either way, so a point range gives the nominal constants bit for bit)."""
        ml = p["pole_mass"] * p["pole_com"]
        j = p["pole_inertia"] + ml * p["pole_com"]  # pole inertia about the hinge
        total = p["cart_mass"] + p["pole_mass"]
        h = p["dt"] / self.substeps
        return dict(ml=ml, j=j, mlg=ml * self.g, total=total, total_j=total * j, max_effort=p["max_effort"],
                    h=h, h2=h / 2, h6=h / 6)

    def accelerations(self, th: torch.Tensor, th_dot: torch.Tensor, force: torch.Tensor
                      ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Euler-Lagrange accelerations ``(x_dd, th_dd)``, each ``[N]``, from ``theta``, ``theta_dot`` and force."""
        k = self._k
        s, c = torch.sin(th), torch.cos(th)
        rhs_x = force - k["ml"] * s * th_dot * th_dot  # F - m l sin(th) th_dot^2
        rhs_th = k["mlg"] * s  # m g l sin(th)
        ml_c = k["ml"] * c
        det = k["total_j"] - ml_c * ml_c  # (M + m) J - (m l cos(th))^2, J = I + m l^2 about the hinge
        x_dd = (k["j"] * rhs_x + ml_c * rhs_th) / det
        th_dd = (k["total"] * rhs_th + ml_c * rhs_x) / det
        return x_dd, th_dd

    def _derivative(self, state: torch.Tensor, force: torch.Tensor) -> torch.Tensor:
        _, x_dot, th, th_dot = state
        x_dd, th_dd = self.accelerations(th, th_dot, force)
        return torch.stack((x_dot, x_dd, th_dot, th_dd))

    def physics(self, state: torch.Tensor, effort: torch.Tensor) -> torch.Tensor:
        force = effort * self._k["max_effort"]
        h, h2, h6, two = self._k["h"], self._k["h2"], self._k["h6"], self._k["two"]
        for _ in range(self.substeps):  # one RK4 step per PhysX substep
            k1 = self._derivative(state, force)
            # addcmul with a 0-d h2 rounds as add(alpha=h / 2) does (one fused multiply-add); h2 may be [N]
            k2 = self._derivative(torch.addcmul(state, k1, h2), force)
            k3 = self._derivative(torch.addcmul(state, k2, h2), force)
            k4 = self._derivative(torch.addcmul(state, k3, h), force)
            state = state + h6 * (k1 + two * (k2 + k3) + k4)
        return state

    def energy(self, state: torch.Tensor) -> torch.Tensor:
        """Total mechanical energy ``[N]`` (J) of a ``[S, N]`` state; potential measured from the hinge height."""
        _, x_dot, th, th_dot = state
        ml = self.m * self.l
        kinetic = 0.5 * (self.M + self.m) * x_dot ** 2 - ml * x_dot * th_dot * torch.cos(th) \
            + 0.5 * (self.I + ml * self.l) * th_dot ** 2
        return kinetic + ml * self.g * torch.cos(th)

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        return state.t()  # a view: [S, N] -> [N, S] costs nothing, a contiguous copy costs more than the physics

    def _reward_terminated(self, state: torch.Tensor, effort: torch.Tensor, next_state: torch.Tensor,
                           next_obs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return isaac_cartpole_reward(*next_state, reset_dist=self.reset_dist)


class ClassicCartPole(TorchTask):
    """gymnasium's CartPole-v1 in pure torch. Args as :class:`isaac_rl.tasks.torch_base.TorchTask`, plus:

    Args:
        exact: Evaluate gymnasium's expressions operation by operation in its order, so float64 trajectories are
            bit-identical to gymnasium's. ``False`` folds the constants and fuses multiply-adds (14 instead of 25 torch
            ops per step; on a CPU at a few thousand envs each op costs mostly fixed overhead); results then differ from
            gymnasium's only by rounding. Default: ``True`` for float64, ``False`` for float32.
    """

    state_dim = 4
    obs_names = ("cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity")
    obs_dim = 4
    reward_max = 1.0
    _reset_low = (-0.05,) * 4
    _reset_high = (0.05,) * 4
    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    x_threshold, theta_threshold = 2.4, 12 * 2 * math.pi / 360

    def __init__(self, num_envs: int, device: str = "cpu", seed: int = 0, dtype: torch.dtype = torch.float32,
                 max_episode_steps: int = 500, debug_checks: bool = False, exact: Optional[bool] = None) -> None:
        self.action_spec = ActionSpec(dim=1, max_effort=self.force_mag)
        self.control_dt = self.tau  # seconds per step (optional contract attribute: deployment metadata)
        super().__init__(num_envs, device, seed, dtype, max_episode_steps, debug_checks)
        self.exact = dtype == torch.float64 if exact is None else bool(exact)
        total_mass = self.masspole + self.masscart
        pml = self.masspole * self.length
        # Folded constants of the fast path: temp = effort * f/M + pml/M * th_dot^2 sin(th);
        # th_acc = (g sin(th) - cos(th) temp) / (4/3 l - l m/M cos(th)^2); x_acc = temp - pml/M th_acc cos(th).
        self._f_over_m = self.const(self.force_mag / total_mass)
        self._pml_over_m = pml / total_mass
        self._four_thirds_l = self.const(4.0 / 3.0 * self.length)
        self._l_m_over_M = self.length * self.masspole / total_mass
        self._k = {name: self.const(v) for name, v in dict(
            force_mag=self.force_mag, polemass_length=self.masspole * self.length, total_mass=total_mass,
            gravity=self.gravity, length=self.length, four_thirds=4.0 / 3.0, masspole=self.masspole,
            tau=self.tau).items()}
        self._thresholds = torch.tensor([[self.x_threshold], [self.theta_threshold]], dtype=dtype, device=self.device)

    def physics(self, state: torch.Tensor, effort: torch.Tensor) -> torch.Tensor:
        if self.exact:
            return self._physics_exact(state, effort)
        x, x_dot, th, th_dot = state
        costheta, sintheta = torch.cos(th), torch.sin(th)
        temp = torch.addcmul(effort * self._f_over_m, torch.square(th_dot), sintheta, value=self._pml_over_m)
        thetaacc = torch.addcmul(self._k["gravity"] * sintheta, costheta, temp, value=-1.0)
        thetaacc = thetaacc / torch.addcmul(self._four_thirds_l, costheta, costheta, value=-self._l_m_over_M)
        xacc = torch.addcmul(temp, thetaacc, costheta, value=-self._pml_over_m)
        return torch.add(state, torch.stack((x_dot, xacc, th_dot, thetaacc)), alpha=self.tau)

    def _physics_exact(self, state: torch.Tensor, effort: torch.Tensor) -> torch.Tensor:
        # Same operations in the same order as gymnasium's CartPoleEnv.step (euler integrator), so every float64
        # result is bit-identical. The constants are 0-d tensors (see TorchTask.const).
        k = self._k
        x, x_dot, th, th_dot = state
        costheta, sintheta = torch.cos(th), torch.sin(th)
        temp = (effort * k["force_mag"] + k["polemass_length"] * torch.square(th_dot) * sintheta) / k["total_mass"]
        thetaacc = (k["gravity"] * sintheta - costheta * temp) / (
            k["length"] * (k["four_thirds"] - k["masspole"] * torch.square(costheta) / k["total_mass"]))
        xacc = temp - k["polemass_length"] * thetaacc * costheta / k["total_mass"]
        # x + tau * x_dot, x_dot + tau * xacc, theta + tau * theta_dot, theta_dot + tau * thetaacc
        return state + k["tau"] * torch.stack((x_dot, xacc, th_dot, thetaacc))

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        return state.t()  # a view: [S, N] -> [N, S] costs nothing, a contiguous copy costs more than the physics

    def _reward_terminated(self, state: torch.Tensor, effort: torch.Tensor, next_state: torch.Tensor,
                           next_obs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        # |x| > 2.4 or |theta| > 12 deg, as one op chain on the [2, N] view of rows x and theta.
        terminated = (next_state[0::2].abs() > self._thresholds).any(0)
        return torch.ones_like(terminated, dtype=self.dtype), terminated
