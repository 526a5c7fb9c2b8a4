"""DeepMind Control Suite's cart-pole family (tasks/dmc_cartpole.py) against dm_control itself, step by step.

Reference: ``dm_control.suite.load("cartpole", <task>)`` (MuJoCo's RK4 at 0.01 s). Each test runs a few envs of one
batched float64 torch task beside as many dm_control envs started in the same states and fed the same actions (random
efforts and bang-bang pushes that drive the cart into its soft limits at +-1.8 m), and compares states, observations
and rewards after every step.

What agrees, and how closely (measured with dm_control 1.0.52 and MuJoCo 4.0.1, float64):
- Off the slider limit: to rounding. Over the 150 steps here at most 6e-14 in state, observation and reward (asserted:
  1e-8); over whole 1000-step episodes ~1e-12 for one pole, growing like any rounding difference in the chaotic two-
  and three-pole chains.
- Through limit contacts, against MuJoCo with its constraint solver run to convergence (``opt.tolerance = 0``): at most
  5e-13 over the 150 steps here (asserted: 1e-9); over 1000 steps at most 7e-9 (one pole) and 2e-8 (two poles), while
  three poles diverge chaotically after ~500 steps (1e-10 at step 500). The torch task applies the exact minimiser of
  MuJoCo's soft-constraint problem in every RK4 stage.
- Through limit contacts, against dm_control as shipped (``opt.tolerance = 1e-8``): MuJoCo's Newton solver stops as
  soon as its gradient is under that tolerance, warm-started from the previous step's acceleration (often after 0 or
  1 iterations), so its limit force is off the exact one by up to the tolerance. Such a contact leaves 1e-7 to 1e-6
  in the state (measured), which the unstable poles then grow: over 1000 steps up to 3e-3 with one pole and O(1) with
  two or three. The 150 steps here hit no such contact (asserted: 1e-4 after the first contact).

The suite also runs without dm_control: the parity tests skip with the reason, the contract tests run.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from isaac_rl.core.checks import check_task
from isaac_rl.core.errors import ConfigError
from isaac_rl.tasks import TASKS, make_task, task_keywords
from isaac_rl.tasks import dmc_cartpole as dmc
from tests.conftest import ROOT

os.environ.setdefault("MUJOCO_GL", "disable")  # no OpenGL context: dm_control only simulates here

DMC_NAMES = {"CartpoleBalance": "balance", "CartpoleBalanceSparse": "balance_sparse", "CartpoleSwingup": "swingup",
             "CartpoleSwingupSparse": "swingup_sparse", "CartpoleTwoPoles": "two_poles",
             "CartpoleThreePoles": "three_poles"}
# (torch task, its settings, dm_control task, its task_kwargs): the six tasks, and three_poles' other settings.
CASES = [(name, {}, dmc_name, {}) for name, dmc_name in DMC_NAMES.items()] + [
    ("CartpoleThreePoles", {"sparse": True}, "three_poles", {"sparse": True}),
    ("CartpoleThreePoles", {"n_poles": 5}, "three_poles", {"num_poles": 5}),
]
CASE_IDS = [c[0] + "".join(f"-{k}={v}" for k, v in c[1].items()) for c in CASES]
NO_DM_CONTROL = "dm_control (the reference simulator: pip install dm_control) is not installed"


def suite():
    return pytest.importorskip("dm_control.suite", reason=NO_DM_CONTROL)


def ref_state(ref) -> np.ndarray:
    """MuJoCo's ``[qpos, qvel]`` of a dm_control env: the torch task's state layout."""
    return np.concatenate([ref.physics.data.qpos, ref.physics.data.qvel])


def ref_obs(timestep) -> np.ndarray:
    """dm_control's observation flattened in its order: ``position`` then ``velocity``."""
    return np.concatenate([timestep.observation["position"], timestep.observation["velocity"]])


_REFERENCES = {}


def reference(dmc_name, dmc_kwargs):
    """One dm_control env per task and settings for the whole module (compiling the model costs ~0.1 s)."""
    key = (dmc_name, tuple(sorted(dmc_kwargs.items())))
    if key not in _REFERENCES:
        _REFERENCES[key] = suite().load("cartpole", dmc_name, task_kwargs=dict(random=7, **dmc_kwargs))
    return _REFERENCES[key]


def run_pair(name, settings, dmc_name, dmc_kwargs, steps=150, envs=4, tolerance=1e-8):
    """``envs`` dm_control episodes (one after the other) and one batch of ``envs`` torch envs started in the same
    states and fed the same actions.

    Envs 0 and 1 get uniform random efforts; envs 2 and 3 bang-bang pushes (+-1) that switch every 60 or 90 steps and
    drive the cart into its soft limits. ``tolerance`` is MuJoCo's solver tolerance (``opt.tolerance``; 1e-8 is the
    model's). Returns the absolute errors ``[steps, envs]`` of state, observation and reward, whether each reference
    cart was past its limit after each step, and the torch env's (terminated, truncated) flags of each step."""
    rng = np.random.default_rng(0)
    periods = np.array([1, 1, 60, 90])[:envs]
    signs = np.where(np.arange(envs) % 2 == 0, 1.0, -1.0)
    actions = np.stack([np.where(periods == 1, rng.uniform(-1, 1, envs),
                                 np.where((t // periods) % 2 == 0, 1.0, -1.0) * signs) for t in range(steps)])
    ref = reference(dmc_name, dmc_kwargs)
    ref.physics.model.opt.tolerance = tolerance
    starts, obs0, states, observations, rewards = [], [], [], [], []
    for i in range(envs):
        first = ref.reset()
        starts.append(ref_state(ref))
        obs0.append(ref_obs(first))
        for t in range(steps):
            timestep = ref.step([actions[t, i]])
            states.append(ref_state(ref))
            observations.append(ref_obs(timestep))
            rewards.append(timestep.reward)
    states = np.stack(states).reshape(envs, steps, -1).transpose(1, 0, 2)  # [steps, envs, S]
    observations = np.stack(observations).reshape(envs, steps, -1).transpose(1, 0, 2)
    rewards = np.array(rewards).reshape(envs, steps).T
    env = make_task(name, num_envs=envs, dtype=torch.float64, **settings)
    obs = env.set_state(torch.tensor(np.stack(starts)))
    assert np.abs(obs.numpy() - np.stack(obs0)).max() <= 1e-15
    err = {k: np.zeros((steps, envs)) for k in ("state", "obs", "reward")}
    flags = []
    for t in range(steps):
        out = env.step(torch.tensor(actions[t][:, None]))
        flags.append((out.terminated.clone(), out.truncated.clone()))
        err["state"][t] = np.abs(env.state.t().numpy() - states[t]).max(1)
        err["obs"][t] = np.abs(out.final_obs.numpy() - observations[t]).max(1)
        err["reward"][t] = np.abs(out.reward.numpy() - rewards[t])
    return err, np.abs(states[:, :, 0]) > dmc.SLIDER_RANGE, flags


@pytest.mark.parametrize("name, settings, dmc_name, dmc_kwargs", CASES, ids=CASE_IDS)
def test_matches_mujoco_step_by_step_through_limit_contacts(name, settings, dmc_name, dmc_kwargs):
    """With MuJoCo's constraint solver run to convergence, states, observations and rewards agree to 1e-9 for 150
    steps, limit contacts included (the bang-bang envs hit the soft limit: asserted)."""
    err, past_limit, flags = run_pair(name, settings, dmc_name, dmc_kwargs, tolerance=0.0)
    assert past_limit[:, 2:].any(0).all(), "the bang-bang envs must reach the soft slider limit"
    for key in ("state", "obs", "reward"):
        assert err[key].max() <= 1e-9, (key, err[key].max(), np.unravel_index(err[key].argmax(), err[key].shape))
    assert not any(bool(term.any() | trunc.any()) for term, trunc in flags)  # no termination, time limit 1000


@pytest.mark.parametrize("name, settings, dmc_name, dmc_kwargs", CASES[:6], ids=CASE_IDS[:6])
def test_matches_dm_control_as_shipped(name, settings, dmc_name, dmc_kwargs):
    """dm_control as it is (solver tolerance 1e-8): 1e-8 until an env's cart first passes its limit, and within 1e-4
    after (MuJoCo's inexact limit force; see the module docstring)."""
    err, past_limit, _ = run_pair(name, settings, dmc_name, dmc_kwargs)
    touched = np.maximum.accumulate(past_limit, axis=0)
    assert touched[:, 2:].any(0).all()
    for key in ("state", "obs", "reward"):
        assert err[key][~touched].max() <= 1e-8, (key, err[key][~touched].max())
        assert err[key].max() <= 1e-4, (key, err[key].max())


def test_model_constants_equal_the_compiled_mujoco_model():
    """Every constant of tasks/dmc_cartpole.py equals dm_control's compiled model (one to three poles)."""
    for n_poles, (task, kwargs) in {1: ("swingup", {}), 2: ("two_poles", {}), 3: ("three_poles", {}),
                                    5: ("three_poles", {"num_poles": 5})}.items():
        env = suite().load("cartpole", task, task_kwargs=dict(random=0, **kwargs))
        model = env.physics.model
        assert model.opt.timestep == dmc.DT and model.opt.integrator == 1  # mjINT_RK4
        assert list(model.opt.gravity) == [0.0, 0.0, -dmc.GRAVITY]
        assert model.body_mass[1] == dmc.CART_MASS and list(model.body_mass[2:]) == [dmc.POLE_MASS] * n_poles
        # MuJoCo computes the capsule's inertia about the hinge axis (y) from its size and mass: to rounding.
        assert model.body_inertia[2:, 1] == pytest.approx([dmc.POLE_INERTIA] * n_poles, rel=1e-15, abs=0)
        assert list(model.body_ipos[2:, 2]) == [dmc.POLE_COM] * n_poles and not model.body_ipos[2:, :2].any()
        assert list(model.body_pos[3:, 2]) == [dmc.POLE_LENGTH] * (n_poles - 1) and not model.body_pos[2].any()
        assert list(model.dof_damping) == [dmc.SLIDER_DAMPING] + [dmc.HINGE_DAMPING] * n_poles
        assert not model.dof_armature.any() and not model.dof_frictionloss.any()
        assert [list(a) for a in model.jnt_axis] == [[1, 0, 0]] + [[0, 1, 0]] * n_poles and not model.jnt_pos.any()
        assert list(model.jnt_limited) == [True] + [False] * n_poles
        assert list(model.jnt_range[0]) == [-dmc.SLIDER_RANGE, dmc.SLIDER_RANGE] and model.jnt_margin[0] == 0
        assert tuple(model.jnt_solref[0]) == dmc.SOLREF and tuple(model.jnt_solimp[0]) == dmc.SOLIMP
        assert model.actuator_gear[0, 0] == dmc.GEAR and list(model.actuator_ctrlrange[0]) == [-1.0, 1.0]
        ours = dmc.DMCCartpole(1, n_poles=n_poles, dtype=torch.float64)
        assert ours.invweight0 == pytest.approx(model.dof_invweight0[0], rel=1e-14, abs=0)
        assert ours.obs_dim == sum(int(np.prod(s.shape)) for s in env.observation_spec().values())
        assert env._step_limit == dmc.TIME_LIMIT_STEPS == ours.max_episode_steps


# Initial states (dm_control's Balance.initialize_episode): (mean, uniform half-width, normal std) per state row.
def reset_formula(n_poles, swing_up):
    qvel = [(0.0, 0.0, 0.01)] * (n_poles + 1)
    if swing_up:
        return [(0.0, 0.0, 0.01), (math.pi, 0.0, 0.01)] + [(0.0, 0.0, 0.1)] * (n_poles - 1) + qvel
    return [(0.0, 0.1, 0.0)] + [(0.0, 0.034, 0.0)] * n_poles + qvel


def assert_moments(samples: np.ndarray, formula, what: str) -> None:
    """Each column's mean, standard deviation and support against the formula: 5 standard errors."""
    count = samples.shape[0]
    for row, (mean, half, std) in enumerate(formula):
        col = samples[:, row]
        sd = half / math.sqrt(3) if half else std
        assert abs(col.mean() - mean) <= 5 * sd / math.sqrt(count), (what, row, col.mean(), mean)
        rel = math.sqrt(0.8 / count) if half else math.sqrt(0.5 / count)  # std error of a sample std, relative
        assert abs(col.std() / sd - 1) <= 5 * rel, (what, row, col.std(), sd)
        if half:
            assert np.all(np.abs(col - mean) <= half), (what, row)
        else:  # a normal: 4.5 standard deviations and beyond are rare, and the sample reaches 3
            assert 2.5 * std <= np.abs(col - mean).max() <= 6 * std, (what, row)


@pytest.mark.parametrize("name", list(DMC_NAMES))
def test_initial_state_distribution(name):
    """Seeded resets (the env's generator) and auto-resets (torch's default one) draw dm_control's initial states;
    dm_control's own resets fit the same formula, so the formula is dm_control's."""
    env = make_task(name, num_envs=50_000, dtype=torch.float64, seed=3, max_episode_steps=1)
    formula = reset_formula(env.n_poles, env.swing_up)
    assert_moments(env.state.t().numpy(), formula, "reset")
    torch.manual_seed(0)
    out = env.step(torch.zeros(env.num_envs, 1, dtype=torch.float64))  # every episode ends: all envs auto-reset
    assert bool(out.truncated.all()) and not bool(out.terminated.any())
    assert_moments(env.state.t().numpy(), formula, "auto-reset")
    assert torch.equal(out.obs, env._observe(env.state))
    ref = suite().load("cartpole", DMC_NAMES[name], task_kwargs={"random": 0})
    starts = []
    for _ in range(1500):
        ref.reset()
        starts.append(ref_state(ref))
    assert_moments(np.stack(starts), formula, "dm_control")


def test_time_limit_is_1000_steps_truncated_never_terminated():
    """dm_control's episode lasts 1000 steps (the last is LAST with discount 1: a time-out); the torch task truncates
    every env at step 1000, restarts it in the same step, and never terminates."""
    ref = suite().load("cartpole", "swingup", task_kwargs={"random": 0})
    ref.reset()
    for step in range(1, 1001):
        timestep = ref.step([1.0])
        assert timestep.last() == (step == 1000)
    assert timestep.discount == 1.0
    env = make_task("CartpoleSwingup", num_envs=16, seed=1)
    pushes = torch.ones(16, 1)
    for step in range(1, 1001):
        out = env.step(pushes)
        assert not bool(out.terminated.any())
        assert bool(out.truncated.all()) == (step == 1000) and bool(out.truncated.any()) == (step == 1000)
    assert not torch.equal(out.obs, out.final_obs)  # the fresh episode's first observation, not the last one
    assert float(out.obs[:, 1].max()) < -0.99 and int(env.progress.max()) == 0  # hanging down again, counter at 0


def test_batched_envs_step_independently():
    """An env's trajectory does not depend on the others in its batch: 5 envs stepped together equal each alone."""
    states = make_task("CartpoleThreePoles", num_envs=5, dtype=torch.float64, seed=2).state.t().clone()
    states[3, 0] = 1.79  # one env at its limit
    actions = torch.rand(40, 5, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2 - 1
    together = make_task("CartpoleThreePoles", num_envs=5, dtype=torch.float64)
    together.set_state(states)
    for a in actions:
        together.step(a)
    for i in range(5):
        alone = make_task("CartpoleThreePoles", num_envs=1, dtype=torch.float64)
        alone.set_state(states[i:i + 1])
        for a in actions:
            alone.step(a[i:i + 1])
        assert torch.equal(alone.state[:, 0], together.state[:, i])


@pytest.mark.parametrize("name", list(DMC_NAMES))
def test_contract_and_float32(name):
    """Registered torch tasks that pass the contract check on the CPU in float32 (with a 100-step time limit: the
    check steps until every episode has ended; the 1000-step limit is tested above); float32 follows float64 closely
    over a short horizon (rounding only, before the chaos of the poles amplifies it)."""
    assert TASKS[name] == ("torch", "dmc")
    assert set(task_keywords(name, "torch")) == {"max_episode_steps", "debug_checks", "n_poles", "swing_up", "sparse",
                                                 *dmc.DMCCartpole.RANDOMIZABLE}  # and the model's physical settings
    check_task(make_task(name, num_envs=64, device="cpu", seed=0, max_episode_steps=100), 64, torch.device("cpu"))
    env = make_task(name, num_envs=64, device="cpu", seed=0)
    assert env.obs_dim == 3 * env.n_poles + 2 and len(env.obs_names) == env.obs_dim
    assert env.action_spec.dim == 1 and env.action_spec.max_effort == 10.0 and env.reward_max == 1.0
    wide = make_task(name, num_envs=64, dtype=torch.float64)
    wide.set_state(env.state.t().to(torch.float64))
    actions = torch.rand(30, 64, 1, generator=torch.Generator().manual_seed(1)) * 2 - 1
    for a in actions:
        out, out64 = env.step(a), wide.step(a.to(torch.float64))
        assert out.obs.dtype == torch.float32 and out.reward.dtype == torch.float32
        assert (out.obs.double() - out64.obs).abs().max() <= 1e-4
        assert (out.reward.double() - out64.reward).abs().max() <= 1e-5
        assert bool((out.reward >= 0).all() & (out.reward <= 1).all())


@pytest.mark.parametrize("key, value, allowed", [
    ("n_poles", 0, "an integer in [1, 5]"), ("n_poles", 6, "an integer in [1, 5]"),
    ("n_poles", 2.0, "an integer in [1, 5]"), ("n_poles", True, "an integer in [1, 5]"),
    ("swing_up", "yes", "True or False"), ("sparse", 1, "True or False")])
def test_bad_settings_name_the_key(key, value, allowed):
    with pytest.raises(ConfigError) as err:
        make_task("CartpoleSwingup", num_envs=2, **{key: value})
    assert str(err.value) == f"invalid config: task.env.{key}={value!r}; allowed: {allowed}"


def test_train_refuses_a_bad_pole_count_before_any_work(tmp_path):
    """scripts/train.py: one line naming the key and what is allowed, exit code 2, nothing written."""
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), "task=CartpoleSwingup",
                           "train=PendulumDDPG", "task.env.n_poles=9", "num_envs=64", "sim_device=cpu",
                           f"train_dir={tmp_path}"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines() == [
        "[isaac_rl] error: invalid config: task.env.n_poles=9; allowed: an integer in [1, 5]"]
    assert not os.listdir(tmp_path)


def test_settings_change_the_task():
    """``n_poles``, ``swing_up`` and ``sparse`` override the named task's defaults (three_poles' own arguments)."""
    env = make_task("CartpoleBalance", num_envs=2, n_poles=2, sparse=True)
    assert (env.n_poles, env.swing_up, env.sparse, env.obs_dim) == (2, False, True, 8)
    env.set_state(torch.zeros(2, 6))
    assert env.step(torch.zeros(2, 1)).reward.tolist() == [1.0, 1.0]  # upright, centred: inside the sparse box


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["CartpoleSwingup", "CartpoleThreePoles"])
def test_cuda_steps_without_host_sync_and_replay_as_a_cuda_graph(name):
    """On CUDA a step makes no host sync (``set_sync_debug_mode("error")``), and 3 replays of 60 steps recorded as one
    CUDA graph give the state, counters and outputs of 180 eager steps (auto-resets included: 50-step episodes)."""
    from isaac_rl.runtime.step_graph import StepGraph

    n, k = 4096, 60
    eager, graphed = (make_task(name, num_envs=n, device="cuda", max_episode_steps=50) for _ in range(2))
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
    assert torch.equal(graphed.state, eager.state) and torch.equal(graphed.progress, eager.progress)
    torch.manual_seed(7)
    ended = torch.zeros(n, dtype=torch.int64, device="cuda")
    for _ in range(3):
        for a in actions:
            out = eager.step(a)
            ended += out.truncated
    torch.manual_seed(7)
    for _ in range(3):
        graph_out = graph.replay()
    torch.cuda.synchronize()
    assert int(ended.min()) == 3  # every env restarted at steps 50, 100 and 150
    assert torch.allclose(graphed.state, eager.state, rtol=1e-5, atol=1e-6)
    assert torch.equal(graphed.progress, eager.progress)
    for field in out._fields:
        assert torch.allclose(getattr(graph_out, field).double(), getattr(out, field).double(), rtol=1e-5, atol=1e-6)


def test_sim_dmc_runs_dm_control_behind_the_contract():
    """``sim=dmc``: dm_control's own envs pass the contract check, follow the torch task from the same states (float32
    observations and rewards), truncate at the time limit with the true last observation, restart in the same step,
    and reseed reproducibly from any seed (beyond numpy's 32-bit ``RandomState`` seeds)."""
    suite()
    check_task(make_task("CartpoleSwingup", sim="dmc", num_envs=3, max_episode_steps=30), 3, torch.device("cpu"))
    env = make_task("CartpoleTwoPoles", sim="dmc", num_envs=3, seed=5, max_episode_steps=40)
    twin = make_task("CartpoleTwoPoles", num_envs=3, dtype=torch.float64, max_episode_steps=40)
    first = env.reset(2 ** 40)
    assert torch.equal(env.reset(2 ** 40), first)
    obs = env.reset(7)
    assert not torch.equal(obs, first)
    assert torch.allclose(twin.set_state(torch.tensor(env.states())).float(), obs, rtol=0, atol=1e-7)
    actions = torch.rand(40, 3, 1, generator=torch.Generator().manual_seed(0)) * 2 - 1
    for step, a in enumerate(actions, 1):
        out, ref = env.step(a), twin.step(a.double())
        assert out.obs.dtype == torch.float32 and out.reward.dtype == torch.float32
        assert torch.allclose(out.final_obs, ref.final_obs.float(), rtol=1e-6, atol=1e-6)
        assert torch.allclose(out.reward, ref.reward.float(), rtol=1e-6, atol=1e-7)
        assert not bool(out.terminated.any()) and bool(out.truncated.all()) == (step == 40)
        assert bool(out.truncated.any()) == (step == 40)
    assert not torch.equal(out.obs, out.final_obs) and float(out.obs[:, 1].max()) < -0.99  # hanging again


@pytest.mark.parametrize("settings, expected", [
    ((1, False, False), ("balance", {})), ((1, False, True), ("balance_sparse", {})),
    ((1, True, False), ("swingup", {})), ((1, True, True), ("swingup_sparse", {})),
    ((2, True, False), ("three_poles", {"num_poles": 2, "sparse": False})),
    ((3, True, True), ("three_poles", {"num_poles": 3, "sparse": True}))])
def test_sim_dmc_task_for_each_setting(settings, expected):
    from isaac_rl.tasks.dmc_backend import dm_control_task

    assert dm_control_task(*settings) == expected


def test_sim_dmc_refuses_a_multi_pole_balance():
    from isaac_rl.tasks.dmc_backend import dm_control_task

    with pytest.raises(ConfigError) as err:
        dm_control_task(2, False, False)
    assert str(err.value) == ("invalid config: task.env.swing_up=False; allowed: True with n_poles=2 on sim=dmc "
                              "(dm_control has no balance task with more than one pole; sim=torch has)")
