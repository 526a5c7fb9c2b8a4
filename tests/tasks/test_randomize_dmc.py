"""Per-env domain randomization of dm_control's cart-pole family (tasks/dmc_cartpole.py with tasks/randomize.py):
a point range is the nominal model bit for bit, each env steps the model its own parameters give, the per-env step
constants (``invweight0`` included) are those of the float expressions, checkpoints resume bit-identically, bad
sections are refused naming the key, and the robustness variations apply to these tasks."""

import math
from fractions import Fraction

import pytest
import torch

from isaac_rl.app import checkpoint, robustness
from isaac_rl.app.build import make_env, make_trainer
from isaac_rl.app.config import resolve
from isaac_rl.core.errors import ConfigError
from isaac_rl.tasks import TASKS, randomize, task_class
from isaac_rl.tasks import dmc_cartpole as dmc
from tests.conftest import compose_config
from tests.tasks.test_randomize import _cfg, _section, _u


def _ulp(x):
    """The gap from positive float ``x`` to the next float64 (``math.ulp`` from Python 3.9; the suite runs on 3.8)."""
    return math.ldexp(1.0, math.frexp(x)[1] - 53)


NAMES = list(dmc.DMC_TASKS)
PARAMS = list(dmc.DMCCartpole.RANDOMIZABLE)
# Every parameter over a point range, each distribution and operation at least once.
POINT = dict(cart_mass=_u(1.0, 1.0), pole_mass=_u(0.1, 0.1, "absolute"), pole_length=_u(0.0, 0.0, "additive"),
             pole_inertia=_u(0.0, 0.0, "additive", "gaussian"), slider_damping=_u(1.0, 1.0, "scaling", "loguniform"),
             hinge_damping=_u(2e-6, 2e-6, "absolute", "loguniform"), max_effort=_u(10.0, 10.0, "absolute"),
             dt=_u(1.0, 0.0, "scaling", "gaussian"))
# Wide ranges: masses x 0.5-3, dt past 0.04 s (where MuJoCo's refsafe doubles dt into the limit's time constant).
WIDE = dict(cart_mass=_u(0.5, 2.0), pole_mass=_u(0.5, 3.0), pole_length=_u(0.7, 1.3),
            pole_inertia=_u(0.0, 0.02, "absolute"), slider_damping=_u(0.0, 0.5, "absolute"),
            hinge_damping=_u(0.0, 0.01, "absolute"), max_effort=_u(0.5, 1.5), dt=_u(0.005, 0.05, "absolute"))


def efforts(n, steps, dtype, seed=0):
    """``[steps, n, 1]`` efforts: uniform in [-1, 1] for the first half of the envs, full pushes (+1 for even, -1 for
    odd envs) for the others, which drive their carts into the soft slider limits at +-1.8 m."""
    gen = torch.Generator().manual_seed(seed)
    a = torch.rand((steps, n, 1), generator=gen, dtype=torch.float64) * 2 - 1
    push = torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0).double()
    a[:, n // 2:, 0] = push[n // 2:]
    return a.to(dtype)


def assert_same_steps(a, b, actions):
    """Step the tasks ``a`` and ``b`` alike (torch's default generator reseeded before each step: auto-resets and
    redraws use it) and assert bit-equal outputs and states; returns how many (env, step) pairs were past the slider
    limit and how many episodes ended."""
    contacts = ends = 0
    for t, action in enumerate(actions):
        torch.manual_seed(t)
        x = a.step(action)
        torch.manual_seed(t)
        y = b.step(action)
        for u, v in zip(x, y):
            assert torch.equal(u, v), t
        assert torch.equal(a.state, b.state), t
        contacts += int((x.final_obs[:, 0].abs() > dmc.SLIDER_RANGE).sum())
        ends += int((x.terminated | x.truncated).sum())
    return contacts, ends


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", NAMES)
def test_point_ranges_step_the_nominal_model_bit_for_bit(name, dtype):
    """Every parameter over a point range: 240 steps of 69 envs (100-step episodes, pushes into the slider limits)
    give the nominal task's observations, rewards, flags and states bit for bit, every step constant an [N] tensor."""
    n = 69  # not a multiple of any vector width: the element-wise kernels' tails run too
    nominal = dmc.DMC_TASKS[name](n, seed=1, dtype=dtype, max_episode_steps=100)
    varied = dmc.DMC_TASKS[name](n, seed=1, dtype=dtype, max_episode_steps=100)
    randomize.attach(varied, _section(**POINT))
    assert set(varied.randomizer.derived) == set(varied._k)  # every model constant is per env
    assert all(v.shape == (n,) and v.dtype == dtype for v in varied._k.values())
    assert torch.equal(nominal.reset(3), varied.reset(3))
    contacts, ends = assert_same_steps(nominal, varied, efforts(n, 240, dtype))
    assert contacts > 200 and ends == 2 * n


@pytest.mark.parametrize("key, value", [("cart_mass", 2.0), ("pole_mass", 0.3), ("pole_length", 1.2),
                                        ("pole_inertia", 0.0), ("slider_damping", 0.5), ("hinge_damping", 0.01),
                                        ("max_effort", 14.0), ("dt", 0.045)])
def test_a_randomized_value_is_the_task_built_with_that_setting(key, value):
    """``key`` drawn as the point ``value`` for every env of CartpoleTwoPoles steps exactly as the nominal-constructed
    task with ``task.env.<key> = value`` (float64, through slider-limit contacts), and differently from the default."""
    n = 16
    built = dmc.CartpoleTwoPoles(n, seed=2, dtype=torch.float64, **{key: value})
    varied = dmc.CartpoleTwoPoles(n, seed=2, dtype=torch.float64)
    randomize.attach(varied, _section(**{key: _u(value, value, "absolute")}))
    assert set(varied.randomizer.values) == {key}
    default = dmc.CartpoleTwoPoles(n, seed=2, dtype=torch.float64)
    built.reset(4), varied.reset(4), default.reset(4)
    actions = efforts(n, 150, torch.float64)
    contacts, _ = assert_same_steps(built, varied, actions)
    assert contacts > 0
    for action in actions:
        default.step(action)
    assert not torch.equal(default.state, varied.state)  # the setting changes the model


def test_each_env_steps_its_own_model():
    """12 envs of CartpoleTwoPoles, every parameter drawn from a wide range and an action delay of 0-2 steps: each env
    equals, bit for bit (float64), a task built with that env's values as ``task.env`` fed the delayed efforts."""
    n, steps = 12, 120
    env = dmc.CartpoleTwoPoles(n, dtype=torch.float64, seed=2)
    randomize.attach(env, dict(_section(**WIDE), action_delay=[0, 2]))
    env.reset(5)
    values = {k: v.tolist() for k, v in env.randomizer.values.items()}
    delay = env.randomizer.delay.tolist()
    assert set(delay) == {0, 1, 2} and max(values["dt"]) > 0.04 > min(values["dt"])  # refsafe on and off
    start = env.state.t().clone()
    actions = efforts(n, steps, torch.float64, seed=3)
    outs = [env.step(a) for a in actions]
    contacts = 0
    for i in range(n):
        ref = dmc.CartpoleTwoPoles(1, dtype=torch.float64, **{k: values[k][i] for k in values})
        ref.set_state(start[i:i + 1])
        for t in range(steps):
            applied = actions[t - delay[i]][i:i + 1] if t >= delay[i] else torch.zeros((1, 1), dtype=torch.float64)
            out = ref.step(applied)
            assert torch.equal(out.final_obs[0], outs[t].final_obs[i]), (i, t)
            assert torch.equal(out.reward[0], outs[t].reward[i]), (i, t)
            contacts += int(out.final_obs[0, 0].abs() > dmc.SLIDER_RANGE)
    assert contacts > 50


def _random_params(count, gen):
    """float64 ``[count]`` values of every parameter, wide around the defaults (dt on both sides of 0.04 s)."""
    def u(lo, hi):
        return lo + (hi - lo) * torch.rand(count, generator=gen, dtype=torch.float64)

    return dict(cart_mass=u(0.2, 5.0), pole_mass=u(0.01, 2.0), pole_length=u(0.2, 3.0), pole_inertia=u(0.0, 0.1),
                slider_damping=u(0.0, 1.0), hinge_damping=u(0.0, 0.1), max_effort=u(1.0, 50.0), dt=u(0.001, 0.08))


@pytest.mark.parametrize("n_poles", [1, 2, 3, 5])
def test_derive_of_tensors_is_derive_of_floats_element_wise(n_poles):
    """``derive`` of float64 [64] tensors (all parameters, and one at a time) equals ``derive`` of each env's floats
    exactly, key by key."""
    task = dmc.DMCCartpole(1, n_poles=n_poles, dtype=torch.float64)
    params = _random_params(64, torch.Generator().manual_seed(n_poles))
    cases = [params] + [{**task.nominal(), key: params[key]} for key in PARAMS]
    for case in cases:
        batched = task.derive(case)
        assert set(batched) == set(task.derive(task.nominal()))
        for i in range(64):
            scalar = task.derive({k: v[i].item() if torch.is_tensor(v) else v for k, v in case.items()})
            for key, value in scalar.items():
                got = batched[key][i].item() if torch.is_tensor(batched[key]) else batched[key]
                assert got == value, (key, i)
    # MuJoCo's refsafe: the limit's time constant is 0.08 s, or 2 dt where that is longer.
    varied, nominal = task.derive({**task.nominal(), "dt": params["dt"]}), task.derive(task.nominal())
    safe = params["dt"] <= 0.04
    assert safe.any() and (~safe).any()
    assert (varied["K"][safe] == nominal["K"]).all() and (varied["B"][safe] == nominal["B"]).all()
    assert torch.allclose(varied["B"][~safe], 2 / (0.95 * 2 * params["dt"][~safe]), rtol=1e-15, atol=0)


def _exact_invweight0(n, cart_mass, pole_mass, pole_length, pole_inertia):
    """``(M^-1)_xx`` at q = 0 in exact rational arithmetic, with ``M`` assembled independently of the task: ``m_cart
    e_x e_x^T + sum_k (m J_k^T J_k + I w_k w_k^T)`` from each pole's centre-of-mass Jacobian ``J_k`` (upright, in the
    relative hinges: ``dx_k/dx = 1``, ``dx_k/dq_a = L (k - a) + L / 2`` for hinges ``a <= k``) and angular Jacobian
    ``w_k`` (1 for hinges ``a <= k``)."""
    m, L, inertia = Fraction(pole_mass), Fraction(pole_length), Fraction(pole_inertia)
    size = n + 1
    mass = [[Fraction(0)] * size for _ in range(size)]
    mass[0][0] = Fraction(cart_mass)
    for k in range(n):
        jac = [Fraction(1)] + [L * (k - a) + L / 2 if a <= k else Fraction(0) for a in range(n)]
        rot = [Fraction(0)] + [Fraction(1) if a <= k else Fraction(0) for a in range(n)]
        for i in range(size):
            for j in range(size):
                mass[i][j] += m * jac[i] * jac[j] + inertia * rot[i] * rot[j]
    # Solve M y = e_x by Gauss-Jordan elimination (exact: no pivoting needed).
    rows = [mass[i] + [Fraction(int(i == 0))] for i in range(size)]
    for c in range(size):
        rows[c] = [v / rows[c][c] for v in rows[c]]
        for r in range(size):
            if r != c:
                rows[r] = [a - rows[r][c] * b for a, b in zip(rows[r], rows[c])]
    return float(rows[0][size])


@pytest.mark.parametrize("n_poles", [1, 2, 3, 5])
def test_invweight0_per_env_is_the_closed_form(n_poles):
    """Per env ``invweight0`` (float64 ``[N]`` from varied masses, lengths and inertias) is ``(M^-1)_xx`` of the
    upright chain: to 1e-13 of the exact value of an independently assembled mass matrix (float64 rounding of the
    entries, amplified where a light cart carries heavy poles, leaves up to ~100 ulp), and to 1 ulp for the nominal
    model (whose value is MuJoCo's dof_invweight0 to 1e-14: tests/tasks/test_dmc_parity.py)."""
    task = dmc.DMCCartpole(1, n_poles=n_poles, dtype=torch.float64)
    params = _random_params(40, torch.Generator().manual_seed(10 + n_poles))
    got = task.derive({**task.nominal(), **params})["invweight0"]
    assert got.shape == (40,) and got.unique().numel() == 40
    keys = ("cart_mass", "pole_mass", "pole_length", "pole_inertia")
    for i in range(40):
        exact = _exact_invweight0(n_poles, *(params[k][i].item() for k in keys))
        assert abs(got[i].item() - exact) <= 1e-13 * exact, (i, got[i].item(), exact)
    exact = _exact_invweight0(n_poles, *(task.nominal()[k] for k in keys))
    assert abs(task.invweight0 - exact) <= _ulp(exact)
    if n_poles == 1:  # 1 / (M + m I / J): the cart plus the part of the pole's mass its hinge does not decouple
        m, L, inertia = params["pole_mass"], params["pole_length"], params["pole_inertia"]
        expected = 1 / (params["cart_mass"] + m * inertia / (inertia + m * L * L / 4))
        assert torch.allclose(got, expected, rtol=1e-13, atol=0)


def test_checkpoints_carry_the_randomization_and_resume_bit_identically(tmp_path):
    """A randomized CartpoleSwingup run (every parameter, noise and delay; the DQN of tests/tasks/test_randomize.py)
    stopped at 30 iterations, saved, loaded (weights_only) and continued to 60 ends where the straight run does."""
    cfg = _cfg()
    section = dict(_section(**WIDE), observation_noise=0.01, action_noise=0.05, action_delay=[0, 2])
    cfg["task"] = dict(name="CartpoleSwingup", env={"max_episode_steps": 40}, randomize=section)

    def build(config):
        return make_trainer(config, "cpu", eval_env=True, verbose=False)

    straight, env, evaluation = build(cfg)
    assert env.randomizer is not None and evaluation.randomizer is None
    straight.train()
    half = dict(cfg, train=dict(cfg["train"], loop=dict(cfg["train"]["loop"], max_iterations=30)))
    first = build(half)[0]
    first.train()
    path = str(tmp_path / "ckpt.pt")
    checkpoint.save_atomic({"trainer": first.state_dict()}, path)
    stored = checkpoint.load(path)["trainer"]
    assert set(stored["env"]["randomize"]) == {f"value.{k}" for k in PARAMS} | {"delay", "history"}
    torch.manual_seed(12345)
    resumed, renv, _ = build(cfg)
    resumed.load_state_dict(stored)
    resumed.train()
    for (net, a), b in zip(straight.algo.modules().items(), resumed.algo.modules().values()):
        for (name, tensor), other in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(tensor, other), (net, name)
    assert torch.equal(straight.obs, resumed.obs) and torch.equal(env.state, renv.state)
    for key, value in env.randomizer.state_dict().items():
        assert torch.equal(value, renv.randomizer.state_dict()[key]), key
    for key, value in env._k.items():
        assert torch.equal(value, renv._k[key]), key
    assert env._k["invweight0"].unique().numel() == 16  # every env its own model


def test_noise_is_added_where_stated():
    """Observation noise on every entry (the state stays noiseless), action noise changes the applied effort."""
    n = 20_000
    env = dmc.CartpoleTwoPoles(n, dtype=torch.float64, seed=4)
    randomize.attach(env, {"enabled": True, "observation_noise": 0.05})
    clean = dmc.CartpoleTwoPoles(n, dtype=torch.float64, seed=4)
    assert abs((env.reset(1) - clean.reset(1)).std().item() - 0.05) < 0.001
    out, ref = env.step(torch.zeros((n, 1), dtype=torch.float64)), clean.step(torch.zeros((n, 1), dtype=torch.float64))
    assert torch.equal(env.state, clean.state) and torch.equal(out.reward, ref.reward)
    assert abs((out.obs - ref.obs).std().item() - 0.05) < 0.001
    noisy = dmc.CartpoleTwoPoles(n, dtype=torch.float64, seed=4)
    randomize.attach(noisy, {"enabled": True, "action_noise": 0.1})
    noisy.reset(1), clean.reset(1)
    a, b = clean.step(torch.zeros((n, 1), dtype=torch.float64)), noisy.step(torch.zeros((n, 1), dtype=torch.float64))
    assert not torch.equal(a.final_obs, b.final_obs) and not torch.equal(a.reward, b.reward)  # reward sees u^2


BASE = ["task=CartpoleSwingup", "train=CartpoleSwingupSAC", "sim_device=cpu"]
TASK_LIST = ("Cartpole, CartpoleBalance, CartpoleBalanceSparse, CartpoleSwingup, CartpoleSwingupSparse, "
             "CartpoleTwoPoles, CartpoleThreePoles")
BAD = [
    (["task.randomize.params.pole_mass={distribution:uniform,range:[-0.5,1.5],operation:scaling}"],
     "invalid config: task.randomize.params.pole_mass.range=[-0.5, 1.5]; allowed: a range that keeps pole_mass > 0 "
     "(this one gives pole_mass from -0.05 to 0.15 with the nominal 0.1)"),
    (["task.env.pole_mass=0.2", "task.randomize.params.pole_mass={distribution:uniform,range:[-0.2,0.1],"
      "operation:additive}"],
     "invalid config: task.randomize.params.pole_mass.range=[-0.2, 0.1]; allowed: a range that keeps pole_mass > 0 "
     "(this one gives pole_mass from 0 to 0.3 with the nominal 0.2)"),
    (["task.randomize.params.pole_length={distribution:uniform,range:[0,2],operation:absolute}"],
     "invalid config: task.randomize.params.pole_length.range=[0, 2]; allowed: a range that keeps pole_length > 0 "
     "(this one gives pole_length from 0 to 2 with the nominal 1)"),
    (["task.randomize.params.slider_damping={distribution:gaussian,range:[0,0.001],operation:additive}"],
     "invalid config: task.randomize.params.slider_damping.range=[0, 0.001]; allowed: a range that keeps "
     "slider_damping >= 0 (this one gives slider_damping from -0.0025 to 0.0035 with the nominal 0.0005, mean +- 3 "
     "std)"),
    (["+task.randomize.params.pole_com={range:[0.9,1.1]}"],
     "invalid config: task.randomize.params.pole_com={'range': [0.9, 1.1]}; allowed: a parameter of this task: "
     "cart_mass, pole_mass, pole_length, pole_inertia, slider_damping, hinge_damping, max_effort, dt"),
    (["task.env.pole_length=0"], "invalid config: task.env.pole_length=0; allowed: a finite number > 0"),
    (["task.env.hinge_damping=-1e-3"], "invalid config: task.env.hinge_damping=-0.001; allowed: a finite number >= 0"),
    (["task.randomize.enabled=True", "sim=dmc"],
     "invalid config: task.randomize.enabled=True; allowed: False for task CartpoleSwingup on sim=dmc (per-env "
     f"randomization is implemented for the torch tasks {TASK_LIST})"),
]


@pytest.mark.parametrize("overrides, message", BAD, ids=[b[0][-1].split("=")[0] for b in BAD])
def test_bad_sections_are_refused_naming_the_key(overrides, message):
    with pytest.raises(ConfigError) as err:
        resolve(compose_config(BASE + overrides))
    assert str(err.value) == message


def test_the_refusal_names_exactly_the_tasks_that_can_be_randomized():
    torch_tasks = [name for name, sims in TASKS.items() if "torch" in sims]
    assert [n for n in torch_tasks if hasattr(task_class(n, "torch"), "RANDOMIZABLE")] == list(
        randomize.RANDOMIZED_TASKS)
    with pytest.raises(ConfigError) as err:
        resolve(compose_config(["task=Pendulum", "train=PendulumSAC", "+task.randomize.enabled=True"]))
    assert str(err.value) == ("invalid config: task.randomize.enabled=True; allowed: False for task Pendulum on "
                              f"sim=torch (per-env randomization is implemented for the torch tasks {TASK_LIST})")


def test_a_shipped_config_randomizes_when_enabled():
    """cfg/task/CartpoleThreePoles.yaml: its settings are the defaults (the nominal model), and enabling its section
    with one range gives the training env per-env values inside it."""
    cfg = resolve(compose_config(["task=CartpoleThreePoles", "train=CartpoleSwingupSAC", "task.randomize.enabled=True",
                                  "task.randomize.params.pole_mass={distribution:uniform,range:[0.5,2.0]}"]))
    assert {k: cfg["task"]["env"][k] for k in PARAMS} == dmc.CartpoleThreePoles(1).nominal()
    env = make_env(cfg["task"], "torch", 64, "cpu", 0)
    randomize.attach(env, cfg["task"]["randomize"])
    mass = env.randomizer.values["pole_mass"]
    assert 0.05 <= mass.min() < 0.06 and 0.19 < mass.max() <= 0.2
    assert torch.equal(env._k["h0"], (mass * 0.5 + 1.0 * (mass * 2)).float())


def test_robustness_variations_apply_to_the_dmc_tasks():
    """solid_box_inertia: a solid box of the pole's mass and length with the capsule's width, about its centre;
    mass+20%: cart and every pole x 1.2. The Cartpole values are unchanged."""
    task = {"name": "CartpoleSwingup", "env": {"pole_mass": 0.2}, "randomize": {"enabled": True}}
    box = robustness.varied_task(task, "solid_box_inertia")
    assert box == {"name": "CartpoleSwingup", "env": {"pole_mass": 0.2, "pole_inertia": 0.2 * (1.0 + 0.09 * 0.09) / 12}}
    assert dmc.CartpoleSwingup.solid_box_inertia(dmc.CartpoleSwingup(1).nominal()) == pytest.approx(0.00840083, 1e-6)
    heavy = robustness.varied_task({"name": "CartpoleTwoPoles"}, "mass+20%")["env"]
    assert heavy == {"cart_mass": 1.2, "pole_mass": 0.1 * 1.2}
    env = make_env({"name": "CartpoleTwoPoles", "env": heavy}, "torch", 2, "cpu", 0)
    assert env.nominal()["pole_mass"] == 0.1 * 1.2 and env._k["total"].item() == pytest.approx(1.2 + 0.24, 1e-6)
    cartpole = {"name": "Cartpole", "env": {}}
    assert robustness.varied_task(cartpole, "solid_box_inertia")["env"] == {"pole_inertia": 0.0836}
    assert robustness.varied_task(cartpole, "mass+20%")["env"] == {"cart_mass": 1.2, "pole_mass": 1.2}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_randomized_steps_without_host_sync_and_replay_as_a_cuda_graph():
    """On CUDA a randomized CartpoleThreePoles step (every parameter redrawn where an episode ends) makes no host sync,
    and 3 replays of 60 steps recorded as one CUDA graph give the eager steps' states and per-env values."""
    from isaac_rl.runtime.step_graph import StepGraph

    n, k = 4096, 60
    eager, graphed = (dmc.CartpoleThreePoles(n, device="cuda", max_episode_steps=50) for _ in range(2))
    for env in (eager, graphed):
        randomize.attach(env, dict(_section(**WIDE), observation_noise=0.01, action_noise=0.05))
    torch.manual_seed(0)
    actions = torch.rand((k, n, 1), device="cuda") * 2 - 1
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        eager.step(actions[0])
    finally:
        torch.cuda.set_sync_debug_mode(0)
    eager.reset(0)
    graphed.reset(0)
    graph = StepGraph(graphed, actions)
    assert torch.equal(graphed.state, eager.state)
    torch.manual_seed(7)
    for _ in range(3):
        for a in actions:
            eager.step(a)
    torch.manual_seed(7)
    for _ in range(3):
        graph.replay()
    torch.cuda.synchronize()
    assert torch.allclose(graphed.state, eager.state, rtol=1e-5, atol=1e-6)
    for key, value in eager.randomizer.values.items():
        assert torch.equal(graphed.randomizer.values[key], value), key
