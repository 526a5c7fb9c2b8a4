"""DeepMind Control Suite's cart-pole family as batched torch tasks, with MuJoCo's physics in closed form.

dm_control (``dm_control/suite/cartpole.py`` and ``cartpole.xml``) defines six tasks on one model; here they are one
class, :class:`DMCCartpole` (``n_poles``, ``swing_up``, ``sparse``), and six named tasks that only set its defaults:

=====================  =======  ========  ======  ===========================
task                   n_poles  swing_up  sparse  dm_control
=====================  =======  ========  ======  ===========================
CartpoleBalance        1        False     False   ``cartpole.balance``
CartpoleBalanceSparse  1        False     True    ``cartpole.balance_sparse``
CartpoleSwingup        1        True      False   ``cartpole.swingup``
CartpoleSwingupSparse  1        True      True    ``cartpole.swingup_sparse``
CartpoleTwoPoles       2        True      False   ``cartpole.two_poles``
CartpoleThreePoles     3        True      False   ``cartpole.three_poles``
=====================  =======  ========  ======  ===========================

Model (the constants below are the compiled MuJoCo model's, checked by tests/tasks/test_dmc_parity.py)
    A 1 kg cart on a slider (damping 5e-4 N*s/m, soft limit at +-1.8 m: ``solreflimit=".08 1"`` and MuJoCo's default
    ``solimp``), driven by a motor of gear 10 (force ``10 * clamp(u, -1, 1)`` N). Pole 1 hinges at the cart's centre,
    pole k+1 at the tip of pole k; each pole is a 0.1 kg capsule of 1 m (centre of mass 0.5 m from its hinge, inertia
    ``POLE_INERTIA`` about it) on a hinge with damping 2e-6 N*m*s/rad. Gravity 9.81 m/s^2, no contacts, 100 Hz control,
    MuJoCo's RK4 at 0.01 s (no frame skip), 1000-step episodes, never terminated.

    Settings (``task.env``; defaults: the model above) change it: ``cart_mass``, ``pole_mass`` (every pole, kg),
    ``pole_length`` (hinge to hinge, m; the centre of mass stays at half of it), ``pole_inertia`` (about the centre of
    mass, kg*m^2; not rescaled with mass or length), ``slider_damping`` (N*s/m), ``hinge_damping`` (N*m*s/rad),
    ``max_effort`` (the motor gear, N per unit control) and ``dt`` (s per step, one RK4 step; the slider limit's time
    constant is ``max(0.08, 2 dt)`` as MuJoCo's ``refsafe`` makes it). The same keys can be drawn per env
    (``task.randomize``, tasks/randomize.py): every step constant that depends on them then is a float64-derived
    ``[N]`` tensor, updated in place.

State rows (``[S, N]``, ``S = 2 (n_poles + 1)``): ``qpos = [x, theta_1 .. theta_n]`` then ``qvel``, as MuJoCo's. The
hinges are relative (``theta_k`` is pole k's angle to pole k-1); pole k's world angle is ``phi_k = theta_1 + .. +
theta_k`` (0 = upright, positive tilts the tip towards +x).

Observation ``[N, 3 n + 2]``: ``[x, cos phi_1, sin phi_1, .., cos phi_n, sin phi_n, x_dot, theta_dot_1 ..
theta_dot_n]`` = dm_control's ``position`` (``bounded_position``: the ``zz`` and ``xz`` entries of each pole's world
rotation matrix) then ``velocity`` (``qvel``), its flattening order.

Rewards of the state after the step and the applied (clamped) control ``u``, both in [0, 1] per step:
    sparse: 1 where ``|x| <= 0.25`` and every ``cos phi_k >= 0.995``, else 0;
    dense: ``mean_k (1 + cos phi_k) / 2 * (4 + (1 - u^2)) / 5 * (1 + g(max_k |theta_dot_k| / 5)) / 2
    * (1 + g(|x| / 2)) / 2`` with ``g(d) = 0.1 ** (d^2)`` (``rewards.tolerance``'s gaussian, 0.1 at the margin).

Initial states (every env, every episode): ``qvel ~ 0.01 N(0, 1)``; balance: ``x ~ U(-0.1, 0.1)``, every hinge
``~ U(-0.034, 0.034)``; swing-up: ``x ~ 0.01 N(0, 1)``, ``theta_1 ~ pi + 0.01 N(0, 1)``, further hinges
``~ 0.1 N(0, 1)`` (the chain hangs down).

Dynamics. Lagrange's equations of the chain in world angles ``phi`` (mass matrix entries ``h_i cos phi_i`` between
the cart and pole i, ``L h_j cos(phi_i - phi_j)`` between poles i < j, ``J_i`` on the diagonal, with ``h_i = m c +
L m (n - i)`` the first moment of pole i and the poles beyond it about hinge i and ``J_i = I + m c^2 + L^2 m (n - i)``),
mapped to the relative hinges by the constant matrix ``phi = S theta`` (``M = S^T M_phi S``), give ``M(q) qacc = tau``
with gravity, Coriolis/centrifugal, damping and the motor force in ``tau``. The 2..6-dof system is solved by an
unrolled LDL^T factorisation on ``[N]`` rows (element-wise ops only: no host sync, CUDA-graph safe).

The slider limit is MuJoCo's soft constraint, solved exactly: where ``r = 1.8 - |x| < 0`` (one scalar constraint,
Jacobian ``J = -sign(x)`` on the slider) MuJoCo minimises a convex piecewise-quadratic whose minimiser is the force
``f = max(0, -(J a0 - aref) / (A + R))`` with ``a0`` the unconstrained acceleration, ``A = (M^-1)_xx``,
``aref = -B J v - K d(r) r`` (``K = 1 / (d_max^2 T^2 zeta^2)``, ``B = 2 / (d_max T)``, ``T, zeta = 0.08, 1``), the
impedance ``d(r)`` rising from 0.9 to 0.95 over the first millimetre (``solimp = 0.9 0.95 0.001 0.5 2``) and
``R = (1 - d) / d * A0``, ``A0 = (M^-1)_xx`` at ``q = 0`` (MuJoCo's ``dof_invweight0``). The force acts in every RK4
stage, as in MuJoCo's ``mj_RungeKutta``. MuJoCo's Newton solver approaches this minimiser from a warm start and stops
within its tolerance (``opt.tolerance = 1e-8``), sometimes after 0 iterations, so after some limit contacts dm_control's
states differ from these by 1e-7 to 1e-6; with its solver run to convergence they agree to rounding
(tests/tasks/test_dmc_parity.py).

Cost: one RK4 step is 265 element-wise torch ops with one pole, 425 with two and 665 with three (the Isaac preset:
211); on one CPU thread at 4096 envs about 0.8, 1.6 and 2.4 ms (the Isaac preset 1.1 ms).
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch

from isaac_rl.core.contract import ActionSpec, canonical_device
from isaac_rl.core.settings import is_int, is_num, need
from isaac_rl.tasks.randomize import DOMAINS
from isaac_rl.tasks.torch_base import TorchTask

# The compiled MuJoCo model (dm_control 1.0.x cartpole.xml), float64 values.
DT = 0.01  # option timestep; integrator RK4
GRAVITY = 9.81
CART_MASS = 1.0
POLE_MASS = 0.1
POLE_LENGTH = 1.0  # hinge-to-hinge (pole k+1 at pos 0 0 1 in pole k)
POLE_COM = 0.5  # body_ipos z of each pole
POLE_INERTIA = 0.009424592767295598  # body_inertia about the centre of mass, hinge axis (capsule r 0.045, 1 m, 0.1 kg)
POLE_DIAMETER = 0.09  # the capsule's (m): the cross-section of the solid-box reading (DMCCartpole.solid_box_inertia)
SLIDER_DAMPING = 5e-4
HINGE_DAMPING = 2e-6
GEAR = 10.0
SLIDER_RANGE = 1.8
SOLREF = (0.08, 1.0)  # timeconst, dampratio (timeconst >= 2 dt, so MuJoCo's refsafe leaves it)
SOLIMP = (0.9, 0.95, 0.001, 0.5, 2.0)  # dmin, dmax, width, midpoint, power (MuJoCo's defaults)
MAX_POLES = 5
TIME_LIMIT_STEPS = 1000  # _DEFAULT_TIME_LIMIT = 10 s at 0.01 s per step
CART_RANGE = 0.25  # sparse reward: |x| <= 0.25
COS_MIN = 0.995  # sparse reward: every cos phi_k >= 0.995
GAUSS_SCALE_SQ = -2.0 * math.log(0.1)  # rewards.tolerance's gaussian: exp(-0.5 (d * scale)^2), 0.1 at d = 1


def check_settings(n_poles: object, swing_up: object, sparse: object) -> Tuple[int, bool, bool]:
    """The task settings, or ``ConfigError`` naming the first bad one (``task.env.<key>``) and what is allowed."""
    need(is_int(n_poles) and 1 <= n_poles <= MAX_POLES, "task.env.n_poles", n_poles, f"an integer in [1, {MAX_POLES}]")
    need(isinstance(swing_up, bool), "task.env.swing_up", swing_up, "True or False")
    need(isinstance(sparse, bool), "task.env.sparse", sparse, "True or False")
    return n_poles, swing_up, sparse  # type: ignore[return-value]


def check_params(params: Mapping[str, object], domains: Mapping[str, str]) -> None:
    """``ConfigError`` naming the first physical setting (``task.env.<key>``) outside its domain (``positive`` or
    ``nonnegative``, tasks/randomize.py ``DOMAINS``)."""
    for key, domain in domains.items():
        ok, text = DOMAINS[domain]
        need(is_num(params[key]) and ok(params[key]), f"task.env.{key}", params[key], f"a finite number {text}")


def _suffix_sums(rows: Sequence[torch.Tensor]) -> List[torch.Tensor]:
    """``out[a] = rows[a] + rows[a+1] + ..``: generalised forces or mass-matrix entries from world angles to hinges."""
    out = list(rows)
    for a in range(len(out) - 2, -1, -1):
        out[a] = out[a] + out[a + 1]
    return out


def _maximum(a: Any, b: float) -> Any:
    """``max(a, b)`` of a float ``a``, or element-wise of a float64 tensor ``a`` (the same value either way)."""
    return torch.clamp(a, min=b) if isinstance(a, torch.Tensor) else max(a, b)


def _div(a: Any, b: Any) -> Any:
    """``a / b`` rounded once for floats and float64 tensors alike: torch evaluates ``float / tensor`` as ``reciprocal
    x float`` (two roundings; exact only for a power-of-two numerator such as the ``1.0 / x`` and ``2.0 / x`` here)."""
    return torch.full_like(b, a) / b if isinstance(b, torch.Tensor) and not isinstance(a, torch.Tensor) else a / b


def _upright_invweight0(total: Any, h: Sequence[Any], J: Sequence[Any], lh: Sequence[Any]) -> Any:
    """``(M^-1)_xx`` with every pole upright (``q = 0``): MuJoCo's ``dof_invweight0`` of the slider, the scale of the
    limit's regulariser ``R``. Floats or float64 ``[N]`` tensors (per env), by the same roundings either way.

    ``x`` is a coordinate of both the hinge and the world-angle parametrisation, so this is ``(M_phi^-1)_xx``: the
    inverse of the Schur complement ``total - h^T P^-1 h`` of the poles' block ``P`` (``P_ii = J_i``, ``P_ij = L
    h_max(i,j)``), eliminated from the tip pole down (Gaussian elimination on the lower triangle: no pivoting, ``P``
    is positive definite; no host sync)."""
    n = len(h)
    # Lower triangle of M_phi: row 0 the cart, row i + 1 pole i.
    a = [[total]] + [[h[i]] + [lh[max(i, j)] for j in range(i)] + [J[i]] for i in range(n)]
    for k in range(n, 0, -1):
        for i in range(k):
            f = _div(a[k][i], a[k][k])
            for j in range(i + 1):
                a[i][j] = a[i][j] - f * a[k][j]
    return 1.0 / a[0][0]


class DMCCartpole(TorchTask):
    """dm_control's cart-pole tasks (see the module docstring). Args as :class:`~isaac_rl.tasks.torch_base.TorchTask`
    (``max_episode_steps`` 1000 = dm_control's 10 s), plus:

    Args:
        n_poles: Poles in the chain, 1 to 5 (dm_control: 1, ``two_poles`` 2, ``three_poles`` 3 or more).
        swing_up: Start hanging down (swing-up) instead of near upright (balance).
        sparse: 1 per step only in the target box instead of the dense shaped reward.
        cart_mass, pole_mass, pole_length, pole_inertia, slider_damping, hinge_damping, max_effort, dt: The model
            (kg, kg per pole, m hinge to hinge, kg*m^2 about the centre of mass, N*s/m, N*m*s/rad, N per unit control,
            s per step; see the module docstring). Defaults: dm_control's.

    ``None`` takes the named task's value (class attributes ``N_POLES``, ``SWING_UP``, ``SPARSE``).
    """

    N_POLES = 1
    SWING_UP = False
    SPARSE = False
    reward_max = 1.0
    # Parameters task.randomize may draw per env, and the domain each must stay in (tasks/randomize.py).
    RANDOMIZABLE = {"cart_mass": "positive", "pole_mass": "positive", "pole_length": "positive",
                    "pole_inertia": "nonnegative", "slider_damping": "nonnegative", "hinge_damping": "nonnegative",
                    "max_effort": "positive", "dt": "positive"}

    def __init__(self, num_envs: int, device: str = "cpu", seed: int = 0, dtype: torch.dtype = torch.float32,
                 max_episode_steps: int = TIME_LIMIT_STEPS, debug_checks: bool = False,
                 n_poles: Optional[int] = None, swing_up: Optional[bool] = None, sparse: Optional[bool] = None,
                 cart_mass: float = CART_MASS, pole_mass: float = POLE_MASS, pole_length: float = POLE_LENGTH,
                 pole_inertia: float = POLE_INERTIA, slider_damping: float = SLIDER_DAMPING,
                 hinge_damping: float = HINGE_DAMPING, max_effort: float = GEAR, dt: float = DT) -> None:
        n, swing_up, sparse = check_settings(self.N_POLES if n_poles is None else n_poles,
                                             self.SWING_UP if swing_up is None else swing_up,
                                             self.SPARSE if sparse is None else sparse)
        self.n_poles, self.swing_up, self.sparse = n, swing_up, sparse
        self.params = dict(cart_mass=cart_mass, pole_mass=pole_mass, pole_length=pole_length,
                           pole_inertia=pole_inertia, slider_damping=slider_damping, hinge_damping=hinge_damping,
                           max_effort=max_effort, dt=dt)
        check_params(self.params, self.RANDOMIZABLE)
        self.control_dt = dt  # seconds per step (optional contract attribute: deployment metadata)
        self.state_dim = 2 * (n + 1)
        self.obs_dim = 3 * n + 2
        self.obs_names = ("cart_position",) + sum(((f"pole{k}_cos", f"pole{k}_sin") for k in range(1, n + 1)), ()) \
            + ("cart_velocity",) + tuple(f"hinge{k}_velocity" for k in range(1, n + 1))
        self.action_spec = ActionSpec(dim=1, max_effort=max_effort)
        # Reset distribution: the first rows uniform in [low, high] (balance: qpos), the others mean + std N(0, 1)
        # (balance: qvel; swing-up: every row). Only the draws a row needs are made: the auto-reset candidates are
        # drawn every step (TorchTask.step), and a normal draw costs several uniform ones.
        zeros = (0.0,) * (n + 1)
        if swing_up:
            self._reset_low = self._reset_high = (0.0, math.pi) + (0.0,) * (n - 1) + zeros  # the means
            std = (0.01, 0.01) + (0.1,) * (n - 1) + (0.01,) * (n + 1)
        else:
            self._reset_low = (-0.1,) + (-0.034,) * n + zeros
            self._reset_high = (0.1,) + (0.034,) * n + zeros
            std = zeros + (0.01,) * (n + 1)
        self._uniform_rows = 0 if swing_up else n + 1
        self._reset_std = torch.tensor(std[self._uniform_rows:], dtype=dtype,
                                       device=canonical_device(device)).unsqueeze(-1)  # [normal rows, 1]
        super().__init__(num_envs, device, seed, dtype, max_episode_steps, debug_checks)
        self._build_constants()

    # ------------------------------------------------------------------ model constants
    def nominal(self) -> Dict[str, float]:
        """The value of each parameter of :attr:`RANDOMIZABLE` this task was built with (kg, m, kg*m^2, N*s/m,
        N*m*s/rad, N, s)."""
        return dict(self.params)

    def derive(self, p: Mapping[str, Any]) -> Dict[str, Any]:
        """The step constants from the parameters ``p`` (floats, or float64 ``[N]`` tensors for randomized ones; the
        same float64 operations either way, so a point range gives the nominal constants bit for bit).

        Keys: ``h<i>``, ``gh<i>`` (g h_i), ``J<i>`` for pole i = 0 .. n-1 and ``Lh<j>`` (L h_j, the pole-pole entries
        of the mass matrix) for j >= 1 (see the module docstring), ``total``, ``inv_total`` (cart and poles, kg and
        1/kg), ``gear``, ``bx``, ``bh`` (dampings), ``invweight0``, the slider limit's ``K`` and ``B``, and the RK4
        step ``dt``, ``dt2`` (dt / 2), ``dt6`` (dt / 6)."""
        n, m, L = self.n_poles, p["pole_mass"], p["pole_length"]
        c = L / 2  # centre of mass from the hinge
        beyond = [m * (n - 1 - i) for i in range(n)]  # mass of the poles beyond pole i
        h = [m * c + L * b for b in beyond]  # first moment about hinge i of pole i and the poles beyond it
        J = [p["pole_inertia"] + m * c * c + L * L * b for b in beyond]  # moment of inertia about hinge i, same
        lh = [L * v for v in h]
        total = p["cart_mass"] + n * m
        dmax, (timeconst, dampratio) = SOLIMP[1], SOLREF
        timeconst = _maximum(2 * p["dt"], timeconst)  # MuJoCo's refsafe: at least two time steps
        out = dict(total=total, inv_total=1.0 / total, gear=p["max_effort"], bx=p["slider_damping"],
                   bh=p["hinge_damping"], invweight0=_upright_invweight0(total, h, J, lh),
                   K=1.0 / (dmax * dmax * timeconst * timeconst * dampratio * dampratio),
                   B=2.0 / (dmax * timeconst), dt=p["dt"], dt2=p["dt"] / 2, dt6=p["dt"] / 6)
        for i in range(n):
            out.update({f"h{i}": h[i], f"gh{i}": GRAVITY * h[i], f"J{i}": J[i]})
            if i:
                out[f"Lh{i}"] = lh[i]
        return out

    def _build_constants(self) -> None:
        k = self.const
        # 0-d tensors of the float64 values (see TorchTask.const); with task.randomize those of randomized parameters
        # become [N] tensors (tasks/randomize.py attach), computed by the same expressions.
        nominal = self.derive(self.nominal())
        self._k = {name: k(v) for name, v in nominal.items()}
        self.invweight0 = float(nominal["invweight0"])  # MuJoCo's dof_invweight0 of the slider (nominal model)
        dmin, dmax, width, mid, power = SOLIMP
        if (mid, power) != (0.5, 2.0):
            raise NotImplementedError("the impedance is written out for solimp's midpoint 0.5 and power 2")
        self._range, self._inv_width, self._mid = k(SLIDER_RANGE), k(1.0 / width), k(mid)
        self._dmin, self._dspan = k(dmin), k(dmax - dmin)
        self._zero, self._one, self._two = k(0.0), k(1.0), k(2.0)
        self._cart_range, self._cos_min = k(CART_RANGE), k(COS_MIN)
        self._g_pos, self._g_vel = k(-0.5 * GAUSS_SCALE_SQ / 4.0), k(-0.5 * GAUSS_SCALE_SQ / 25.0)  # margins 2, 5
        self._four, self._fifth = k(4.0), k(0.2)

    @staticmethod
    def solid_box_inertia(settings: Mapping[str, Any]) -> float:
        """The pole's inertia about its centre (kg*m^2) read as a solid box of its mass, ``pole_length`` long with the
        capsule's 0.09 m square cross-section: ``m (L^2 + 0.09^2) / 12`` (0.0084 for dm_control's pole, whose capsule
        gives 0.0094; ``settings``: the task's ``pole_mass`` and ``pole_length``). The robustness variation
        ``solid_box_inertia`` (isaac_rl/app/robustness.py)."""
        m, length = settings["pole_mass"], settings["pole_length"]
        return m * (length * length + POLE_DIAMETER * POLE_DIAMETER) / 12

    # ------------------------------------------------------------------ dynamics
    def accelerations(self, q: Sequence[torch.Tensor], v: Sequence[torch.Tensor],
                      effort: torch.Tensor) -> List[torch.Tensor]:
        """``qacc`` (n + 1 rows ``[N]``) at positions ``q`` and velocities ``v`` (n + 1 rows each) with the clamped
        control ``effort`` ``[N]`` (motor force ``gear * effort`` N), the slider's soft limit included: what MuJoCo's
        ``mj_forward`` computes. The model's constants come from ``self._k`` (0-d, or ``[N]`` where randomized)."""
        n, k = self.n_poles, self._k
        h, gh, J = ([k[f"{name}{i}"] for i in range(n)] for name in ("h", "gh", "J"))
        phi, w = [q[1]], [v[1]]
        for i in range(1, n):
            phi.append(phi[-1] + q[i + 1])
            w.append(w[-1] + v[i + 1])
        s = [torch.sin(p) for p in phi]
        c = [torch.cos(p) for p in phi]
        w2 = [x * x for x in w]
        # World-angle coordinates: M_phi (pole block and cart row) and generalised forces (gravity minus velocity
        # products; the velocity-product force on pole i is -sum_j L h_max(i,j) sin(phi_i - phi_j) w_j^2).
        m_cart = [h[i] * c[i] for i in range(n)]
        m_pole = [[J[i] if i == j else None for j in range(n)] for i in range(n)]
        f_pole = [gh[i] * s[i] for i in range(n)]
        f_cart = (h[0] * s[0]) * w2[0]
        for i in range(1, n):
            f_cart = torch.addcmul(f_cart, h[i] * s[i], w2[i])
        for i in range(n):
            for j in range(i + 1, n):
                a = k[f"Lh{j}"]  # L h_max(i,j)
                m_pole[i][j] = m_pole[j][i] = a * torch.addcmul(c[i] * c[j], s[i], s[j])
                sin_ij = a * torch.addcmul(s[i] * c[j], c[i], s[j], value=-1)  # a * sin(phi_i - phi_j)
                f_pole[i] = torch.addcmul(f_pole[i], sin_ij, w2[j], value=-1)
                f_pole[j] = torch.addcmul(f_pole[j], sin_ij, w2[i])
        # Relative hinges: M = S^T M_phi S and tau = S^T tau_phi are suffix sums over the world-angle indices.
        mass: List[List[torch.Tensor]] = [[k["total"]]]  # lower triangle, mass[a][b] for b <= a
        mass += [[value] for value in _suffix_sums(m_cart)]
        within = [_suffix_sums(m_pole[i]) for i in range(n)]  # within[i][b] = sum_{j >= b} M_phi[i][j]
        for b in range(n):
            column = _suffix_sums([within[i][b] for i in range(n)])  # column[a] = sum_{i >= a, j >= b} M_phi[i][j]
            for a in range(b, n):
                mass[a + 1].append(column[a])
        tau = [torch.addcmul(torch.addcmul(f_cart, k["gear"], effort), k["bx"], v[0], value=-1)]
        tau += [torch.addcmul(f, k["bh"], vel, value=-1) for f, vel in zip(_suffix_sums(f_pole), v[1:])]
        diag, low, _ = self._ldl(mass)
        acc = self._ldl_solve(diag, low, tau)
        return self._slider_limit(q[0], v[0], acc, self._ldl_unit_column(diag, low))

    def _ldl(self, mass: List[List[torch.Tensor]]
             ) -> Tuple[List[torch.Tensor], List[List[torch.Tensor]], List[List[torch.Tensor]]]:
        """Unrolled ``M = L D L^T`` of the lower triangle ``mass[a][b]`` (b <= a), each entry ``[N]`` (``mass[0][0]``,
        the total mass, is a constant: 0-d or ``[N]``). Returns ``D``, ``L`` and ``L D`` (below the diagonal)."""
        size = len(mass)
        diag: List[torch.Tensor] = [mass[0][0]]
        low: List[List[torch.Tensor]] = [[None] * size for _ in range(size)]  # type: ignore[list-item]
        scaled: List[List[torch.Tensor]] = [[None] * size for _ in range(size)]  # type: ignore[list-item]
        for i in range(1, size):
            scaled[i][0] = mass[i][0]
            low[i][0] = mass[i][0] * self._k["inv_total"]
        for j in range(1, size):
            d = mass[j][j]
            for k in range(j):
                d = torch.addcmul(d, scaled[j][k], low[j][k], value=-1)
            diag.append(d)
            for i in range(j + 1, size):
                e = mass[i][j]
                for k in range(j):
                    e = torch.addcmul(e, scaled[i][k], low[j][k], value=-1)
                scaled[i][j] = e
                low[i][j] = e / d
        return diag, low, scaled

    @staticmethod
    def _ldl_solve(diag: List[torch.Tensor], low: List[List[torch.Tensor]],
                   rhs: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """``M^-1 rhs`` from the factors of :meth:`_ldl`."""
        size = len(diag)
        y = list(rhs)
        for i in range(size):
            for k in range(i):
                y[i] = torch.addcmul(y[i], low[i][k], y[k], value=-1)
        x = [y[i] / diag[i] for i in range(size)]
        for i in range(size - 2, -1, -1):
            for k in range(i + 1, size):
                x[i] = torch.addcmul(x[i], low[k][i], x[k], value=-1)
        return x

    def _ldl_unit_column(self, diag: List[torch.Tensor], low: List[List[torch.Tensor]]) -> List[torch.Tensor]:
        """``M^-1 e_x`` (the slider's column of the inverse mass matrix) from the factors of :meth:`_ldl`."""
        size = len(diag)
        y: List[torch.Tensor] = [self._one]
        for i in range(1, size):
            yi = torch.neg(low[i][0])
            for k in range(1, i):
                yi = torch.addcmul(yi, low[i][k], y[k], value=-1)
            y.append(yi)
        x = [self._k["inv_total"]] + [y[i] / diag[i] for i in range(1, size)]
        for i in range(size - 2, -1, -1):
            for k in range(i + 1, size):
                x[i] = torch.addcmul(x[i], low[k][i], x[k], value=-1)
        return x

    def _slider_limit(self, x: torch.Tensor, x_dot: torch.Tensor, acc: List[torch.Tensor],
                      col0: List[torch.Tensor]) -> List[torch.Tensor]:
        """Add MuJoCo's soft slider-limit force to the unconstrained ``acc`` (see the module docstring); ``col0`` is
        ``M^-1 e_x``. Computed for every env and kept where the limit is violated (static shapes, no branch).

        With the penetration ``p = x - 1.8 sign(x)`` (``-J r``) and ``g = a0_x + B x_dot + K d p`` the force on the
        slider, ``J max(0, -(J a0_x - aref)) / (A + R)``, is ``-g / (A + R)`` where ``g`` pushes further out
        (``g x > 0``), else 0; ``A + R = A - A0 + A0 / d``."""
        over = x.abs() - self._range  # -efc_pos: > 0 past the nearer limit
        pen = torch.copysign(over, x)
        ratio = (over * self._inv_width).clamp(0.0, 1.0)  # |efc_pos| / width, 0 where inactive
        near = torch.minimum(ratio, self._one - ratio)  # solimp midpoint 0.5, power 2: y = 2 r^2 up to the midpoint,
        y_low = self._two * near * near  # 1 - 2 (1 - r)^2 above it
        imp = torch.addcmul(self._dmin, torch.where(ratio <= self._mid, y_low, self._one - y_low), self._dspan)
        k = self._k
        push = torch.addcmul(torch.addcmul(acc[0], k["B"], x_dot), k["K"], imp * pen)
        denom = torch.addcmul(col0[0] - k["invweight0"], torch.reciprocal(imp), k["invweight0"])
        force = torch.where((over > self._zero) & (push * x > self._zero), push / denom, self._zero)
        return [torch.addcmul(a, col, force, value=-1) for a, col in zip(acc, col0)]

    def physics(self, state: torch.Tensor, effort: torch.Tensor) -> torch.Tensor:
        """One RK4 step of ``dt`` (0.01 s; MuJoCo's ``mj_RungeKutta``: every stage a full forward pass, limit
        included)."""
        d, k = self.n_poles + 1, self._k

        def derivative(x: torch.Tensor) -> torch.Tensor:
            rows = x.unbind(0)
            return torch.stack(list(rows[d:]) + self.accelerations(rows[:d], rows[d:], effort))

        # addcmul with a 0-d dt2 rounds as add(alpha=dt / 2) does; dt2 may be [N]
        k1 = derivative(state)
        k2 = derivative(torch.addcmul(state, k1, k["dt2"]))
        k3 = derivative(torch.addcmul(state, k2, k["dt2"]))
        k4 = derivative(torch.addcmul(state, k3, k["dt"]))
        return state + k["dt6"] * (k1 + self._two * (k2 + k3) + k4)

    # ------------------------------------------------------------------ observation, reward, reset
    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        d = self.n_poles + 1
        phi = torch.cumsum(state[1:d], 0)  # [n, N] world angles
        trig = torch.stack((torch.cos(phi), torch.sin(phi)), 1).reshape(2 * self.n_poles, -1)
        return torch.cat((state[:1], trig, state[d:])).t()  # [N, obs_dim] view of [obs_dim, N] rows

    def _reward_terminated(self, state: torch.Tensor, effort: torch.Tensor, next_state: torch.Tensor,
                           next_obs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        n = self.n_poles
        rows = next_obs.t()
        x, cos = rows[0], rows[1:1 + 2 * n:2]  # [N], [n, N]
        never = torch.zeros_like(x, dtype=torch.bool)
        if self.sparse:
            inside = (x.abs() <= self._cart_range) & (cos >= self._cos_min).all(0)
            return inside.to(self.dtype), never
        upright = ((cos + self._one) / self._two).mean(0)
        centered = (self._one + torch.exp(self._g_pos * x * x)) / self._two
        u2 = effort * effort
        small_control = (self._four + torch.where(u2 < self._one, self._one - u2, self._zero)) * self._fifth
        w_max = rows[2 + 2 * n:].abs().amax(0)
        small_velocity = (self._one + torch.exp(self._g_vel * w_max * w_max)) / self._two
        return upright * small_control * small_velocity * centered, never

    def _sample_reset(self, gen: Optional[torch.Generator] = None) -> torch.Tensor:
        """Initial states ``[S, N]``: uniform rows then normal rows (see ``__init__``), drawn from ``gen`` (``None``:
        torch's default generator, as in :meth:`TorchTask._sample_reset`)."""
        split, count = self._uniform_rows, self.num_envs
        z = torch.randn((self.state_dim - split, count), generator=gen, device=self.device, dtype=self.dtype)
        normal = torch.addcmul(self._reset_min[split:], z, self._reset_std)
        if not split:
            return normal
        u = torch.rand((split, count), generator=gen, device=self.device, dtype=self.dtype)
        return torch.cat((torch.addcmul(self._reset_min[:split], u, self._reset_span[:split]), normal))


class CartpoleBalance(DMCCartpole):
    """dm_control ``cartpole.balance``: one pole, near-upright start, dense reward."""


class CartpoleBalanceSparse(DMCCartpole):
    """dm_control ``cartpole.balance_sparse``: one pole, near-upright start, sparse reward."""

    SPARSE = True


class CartpoleSwingup(DMCCartpole):
    """dm_control ``cartpole.swingup``: one pole, hanging start, dense reward."""

    SWING_UP = True


class CartpoleSwingupSparse(DMCCartpole):
    """dm_control ``cartpole.swingup_sparse``: one pole, hanging start, sparse reward."""

    SWING_UP, SPARSE = True, True


class CartpoleTwoPoles(DMCCartpole):
    """dm_control ``cartpole.two_poles``: two chained poles, hanging start, dense reward."""

    N_POLES, SWING_UP = 2, True


class CartpoleThreePoles(DMCCartpole):
    """dm_control ``cartpole.three_poles``: three chained poles, hanging start, dense reward."""

    N_POLES, SWING_UP = 3, True


DMC_TASKS = {cls.__name__: cls for cls in (CartpoleBalance, CartpoleBalanceSparse, CartpoleSwingup,
                                           CartpoleSwingupSparse, CartpoleTwoPoles, CartpoleThreePoles)}
