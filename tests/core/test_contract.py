"""Reset, truncation, final observation and input checks on every backend (Isaac Gym through its test double)."""

import math

import pytest
import torch

from isaac_rl.algorithms.efforts import DiscreteEfforts
from isaac_rl.tasks import make_task
from tests.conftest import DEVICES


def _backends():
    return [("Cartpole", "torch"), ("CartPole-v1", "torch"), ("Pendulum", "torch"), ("CartPole-v1", "gymnasium"),
            ("Pendulum", "gymnasium"), ("Cartpole", "isaacgym")]


@pytest.fixture(params=_backends(), ids=lambda p: f"{p[1]}-{p[0]}")
def env(request):
    name, sim = request.param
    if sim == "isaacgym":
        request.getfixturevalue("fake_isaacgym")
        e = make_task(name, sim=sim, num_envs=6, device="cpu", seed=3, max_episode_steps=20)
    else:
        e = make_task(name, sim=sim, num_envs=6, device="cpu", seed=3, max_episode_steps=20)
    yield e
    e.close()


def test_shapes_dtypes_and_time_limit(env):
    obs = env.reset(seed=1)
    assert obs.shape == (6, env.obs_dim) and obs.dtype == torch.float32 and obs.device == env.device
    action = torch.full((6, 1), -1.0 if env.action_spec.efforts else 0.0)
    length = torch.zeros(6, dtype=torch.long)
    truncations = 0
    for _ in range(45):
        out = env.step(action)
        length += 1
        assert out.reward.shape == (6,) and out.terminated.dtype == torch.bool and out.truncated.dtype == torch.bool
        # truncated exactly when the 20-step limit is hit by an episode that did not terminate
        assert torch.equal(out.truncated, (length == 20) & ~out.terminated)
        ended = out.terminated | out.truncated
        # Envs that did not end: final_obs is obs. Envs that ended: obs is a fresh start, final_obs the real end.
        assert torch.equal(out.final_obs[~ended], out.obs[~ended])
        length[ended] = 0
        truncations += int(out.truncated.sum())
    if env.action_spec.max_effort == 2.0:  # Pendulum never terminates: 6 envs x 2 full episodes
        assert truncations == 12


def test_every_backend_passes_the_start_up_contract_check(env):
    """The check a custom task class gets at start (float32 observations, callables, a finite time limit that ends
    every episode) holds for every shipped backend: it is the contract, not a stricter one."""
    from isaac_rl.core.checks import check_task

    check_task(env, 6, env.device)


def test_final_obs_is_the_terminal_state(env):
    if env.action_spec.max_effort == 2.0:
        pytest.skip("Pendulum never terminates")
    env.reset(seed=0)
    action = torch.ones(6, 1)
    for _ in range(20):
        out = env.step(action)
        if out.terminated.any():
            break
    assert out.terminated.any()
    i = int(out.terminated.nonzero()[0])
    limit_x, limit_th = (3.0, math.pi / 2) if env.obs_dim == 4 and env.action_spec.max_effort == 400.0 else (
        2.4, 12 * 2 * math.pi / 360)
    x, th = out.final_obs[i, 0].item(), out.final_obs[i, 2].item()
    assert abs(x) > limit_x or abs(th) > limit_th  # the real terminal state
    assert abs(out.obs[i, 0].item()) <= 0.1 and abs(out.obs[i, 2].item()) <= 0.1  # a fresh reset state


@pytest.mark.parametrize("device", DEVICES)
def test_device_is_stored_with_its_index(device):
    """``device="cuda"`` is stored as ``cuda:K`` (what its tensors report), so actions made on ``"cuda"`` pass the
    device check; a plain ``torch.device("cuda")`` compares unequal to ``cuda:0``."""
    from isaac_rl.core.contract import canonical_device

    assert canonical_device(device) == torch.zeros(1, device=device).device
    for name in ("Cartpole", "CartPole-v1", "Pendulum"):
        env = make_task(name, device=device, num_envs=2)
        assert env.device == torch.zeros(1, device=device).device
        env.step(torch.zeros(2, 1, device=device))


@pytest.mark.parametrize("device", DEVICES)
def test_isaac_reward_and_failure(device):
    env = make_task("Cartpole", device=device, num_envs=3)
    env.set_state(torch.tensor([[0.0, 0.0, 0.0, 0.0], [2.99, 4.0, 0.0, 0.0], [0.0, 0.0, 1.6, 3.0]]))
    out = env.step(torch.zeros(3, 1, device=device))
    x, xd, th, thd = out.final_obs.cpu().double().t()
    expected0 = 1 - th[0] ** 2 - 0.01 * xd[0].abs() - 0.005 * thd[0].abs()
    assert out.reward[0].item() == pytest.approx(expected0.item(), abs=1e-5)
    assert out.terminated.tolist() == [False, True, True] and out.reward[1:].tolist() == [-2.0, -2.0]
    assert (out.final_obs.abs() <= 5.0).all()


def test_reset_noise_ranges_and_seed_reproducibility():
    a = make_task("Cartpole", num_envs=10000, seed=5).reset()
    b = make_task("Cartpole", num_envs=10000, seed=5).reset()
    c = make_task("Cartpole", num_envs=10000, seed=6).reset()
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a[:, [0, 2]].abs().max() <= 0.1 and a[:, [1, 3]].abs().max() <= 0.25
    assert a[:, 1].abs().max() > 0.24  # the full velocity range is used


def test_one_million_envs():
    env = make_task("Cartpole", num_envs=1_000_000)
    out = env.step(torch.zeros(1_000_000, 1))
    assert out.obs.shape == (1_000_000, 4)


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(5, 1), r"shape \(5, 1\); expected \(6, 1\)"),
    (torch.zeros(6, 1, dtype=torch.long), "dtype torch.int64"),
    (torch.full((6, 1), float("nan")), "non-finite"),
    ([0.0] * 6, "torch.Tensor"),
])
def test_bad_actions_raise_clear_errors(bad, message):
    env = make_task("Cartpole", num_envs=6)
    with pytest.raises((ValueError, TypeError), match=message):
        env.step(bad)


def test_bad_construction_raises_clear_errors():
    with pytest.raises(ValueError, match=r"num_envs must be an integer in \[1, .*got 0"):
        make_task("Cartpole", num_envs=0)
    with pytest.raises(ValueError, match="unknown task 'Ant'.*allowed"):
        make_task("Ant")
    with pytest.raises(ValueError, match="not available on sim='gymnasium'"):
        make_task("Cartpole", sim="gymnasium")
    with pytest.raises(ValueError, match="accepts efforts -1.0 and 1.0 only"):
        make_task("CartPole-v1", sim="gymnasium", num_envs=2).step(torch.zeros(2, 1))


def test_discrete_efforts_adapter():
    efforts = DiscreteEfforts((-1.0, 0.0, 1.0), torch.device("cpu"))
    assert efforts(torch.tensor([0, 1, 2, 2])).squeeze(-1).tolist() == [-1.0, 0.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="not all accepted"):
        efforts.check_supported_by(make_task("CartPole-v1", sim="gymnasium", num_envs=1).action_spec)


def test_isaacgym_backend_uses_headless_gpu_settings(fake_isaacgym):
    from isaacgym import gymapi  # the test double
    env = make_task("Cartpole", sim="isaacgym", num_envs=4, device="cpu")
    assert ("create_sim", 0, -1) in gymapi.CALLS
    p = env.gym.params
    assert (p.dt, p.substeps, p.physx.num_position_iterations, p.physx.solver_type) == (0.0166, 2, 4, 1)
    env.reset(seed=0)
    env.step(torch.full((4, 1), 2.0))  # clamped to 1 -> 400 N on the cart DOF only
    assert env.gym.forces.tolist() == [400.0, 0.0] * 4


def test_isaacgym_missing_gives_install_instructions():
    with pytest.raises(ImportError, match="Isaac Gym Preview 4.*sim=torch"):
        make_task("Cartpole", sim="isaacgym", num_envs=1)
