"""sim=mjlab against the real mjlab (``pip install torch==2.13.0 mjlab``, Python 3.11 in CI's mjlab leg), MuJoCo-Warp
on the CPU. Skipped where mjlab is not installed (the main suite), except the test of that very case.

What each test covers: the tensor contract (shapes, dtypes, device); ``final_obs`` of an ended episode is mjlab's own
terminal observation (an ``auto_reset=False`` mjlab env stepped alongside from the same start is the reference) and
``obs`` the next episode's first, drawn as mjlab draws it; a truncated episode's TD target bootstraps from
``final_obs``, not from the reset observation; resets and seeding (and that the env's draws leave torch's global
generator alone); bad input in one line (an unknown task id; sim=mjlab without mjlab).
"""

import importlib.util
import os
import subprocess
import sys

import pytest
import torch

from isaac_rl.core.checks import check_task
from isaac_rl.core.errors import ConfigError
from isaac_rl.tasks import make_task
from tests.conftest import ROOT
from tests.tasks.truncation import assert_td_target_bootstraps_from

HAVE_MJLAB = importlib.util.find_spec("mjlab") is not None
needs_mjlab = pytest.mark.skipif(not HAVE_MJLAB, reason="mjlab is not installed (CI's mjlab leg installs it)")

N, SEED = 8, 7
TASK = "Mjlab-Cartpole-Balance"


@pytest.fixture(scope="module")
def env():
    """One real mjlab cart-pole balance of N envs on the CPU for the module's in-process tests."""
    torch.set_num_threads(1)
    task = make_task(TASK, sim="mjlab", num_envs=N, device="cpu", seed=SEED)
    yield task
    task.close()


@pytest.fixture(scope="module")
def episode(env):
    """A full 1000-step episode of zero efforts from ``reset(SEED)``, with an ``auto_reset=False`` mjlab env of the
    same task stepped alongside from the same start (torch's generator seeded as the adapter seeds its own), then that
    env's reset of its ended envs. Returns the adapter's observation before the last step, its last StepOut, mjlab's
    terminal and post-reset observations, and the episode returns [N]."""
    from mjlab.envs import ManagerBasedRlEnv
    from mjlab.tasks.registry import load_env_cfg

    cfg = load_env_cfg(TASK)
    cfg.scene.num_envs, cfg.auto_reset = N, False
    zeros = torch.zeros(N, 1)
    with torch.random.fork_rng(devices=[]):
        reference = ManagerBasedRlEnv(cfg, device="cpu")
        torch.manual_seed(SEED)
        start, _ = reference.reset()
        assert torch.equal(env.reset(SEED), start["actor"])
        returns = torch.zeros(N)
        for _ in range(env.max_episode_steps - 1):
            out = env.step(zeros)
            ref = reference.step(zeros)
            returns += out.reward
            assert not (out.terminated | out.truncated).any() and torch.equal(out.obs, ref[0]["actor"])
        before = out.obs
        out = env.step(zeros)
        terminal = reference.step(zeros)[0]["actor"].clone()
        returns += out.reward
        restarted, _ = reference.reset(env_ids=torch.arange(N))
    reference.close()
    return before, out, terminal, restarted["actor"], returns


@needs_mjlab
def test_the_real_mjlab_cartpole_meets_the_contract(env):
    """Shapes, dtypes and device of every tensor (the contract check the trainer runs for user tasks); mjlab's motor
    gear, step time, episode length and per-step reward bound read back."""
    check_task(env, N, torch.device("cpu"))
    assert (env.obs_dim, env.action_spec.dim, env.action_spec.max_effort, env.max_episode_steps) == (5, 1, 10.0, 1000)
    assert (env.control_dt, env.reward_max) == pytest.approx((0.05, 0.05))
    out = env.step(torch.zeros(N, 1))
    for name, value, shape, dtype in (("obs", out.obs, (N, 5), torch.float32), ("reward", out.reward, (N,),
                                      torch.float32), ("terminated", out.terminated, (N,), torch.bool),
                                      ("truncated", out.truncated, (N,), torch.bool),
                                      ("final_obs", out.final_obs, (N, 5), torch.float32)):
        assert (tuple(value.shape), value.dtype, value.device) == (shape, dtype, torch.device("cpu")), name


@needs_mjlab
def test_a_truncated_episode_ends_on_mjlabs_terminal_observation(episode):
    """On the time-out step (step 1000: mjlab's cart-pole never terminates), final_obs is exactly the terminal
    observation mjlab returns with auto_reset=False, and obs the next episode's first, as mjlab's own reset draws it."""
    before, out, terminal, restarted, _ = episode
    assert out.truncated.all() and not out.terminated.any()
    assert torch.equal(out.final_obs, terminal)
    assert torch.equal(out.obs, restarted)
    assert (out.final_obs - out.obs).abs().max() > 0.5  # the reset moved the poles (they fell during the episode)
    assert (out.final_obs - before)[:, :4].abs().max() < 0.5  # continues the episode (the swinging pole's speed
    # changes by up to ~0.7 rad/s in a 0.05 s step)


@needs_mjlab
def test_the_td_target_of_a_truncated_episode_bootstraps_from_mjlabs_terminal_observation(episode):
    before, out, terminal, _, _ = episode
    assert_td_target_bootstraps_from(before, out, terminal)


@needs_mjlab
def test_reset_is_seeded_starts_inside_mjlabs_ranges_and_leaves_torchs_generator_alone(env, episode):
    """reset(seed) gives the same start (and the same steps) for the same seed, another for another seed; starts lie
    in the task's ranges (cart within 0.1 m, pole within 0.034 rad of upright); torch's global generator is where it
    was (mjlab draws from it: the env swaps its own state in)."""
    push = torch.linspace(-1, 1, N).unsqueeze(-1)
    torch.manual_seed(123)
    first = env.reset(3)
    first_step = env.step(push).obs
    after = torch.rand(4)
    torch.manual_seed(123)
    assert torch.equal(torch.rand(4), after)
    assert torch.equal(env.reset(3), first) and torch.equal(env.step(push).obs, first_step)
    assert not torch.allclose(env.reset(4), first)
    assert first[:, 0].abs().max() <= 0.1 + 1e-6 and first[:, 2].abs().max() <= torch.sin(torch.tensor(0.034)) + 1e-6
    assert (first[:, 1] > 0.999).all() and first[:, 0].std() > 0.01  # upright; envs draw their own starts
    mean_return = float(episode[4].mean())
    assert 20 < mean_return < 40, mean_return  # zero efforts: the pole falls and swings (at most 50)


@needs_mjlab
def test_an_unknown_task_id_fails_in_one_line():
    with pytest.raises(ConfigError) as err:
        make_task("Mjlab-Cartpole-Balanc", sim="mjlab", num_envs=2, device="cpu")
    assert str(err.value).startswith("invalid config: task.name='Mjlab-Cartpole-Balanc' is not an mjlab task; "
                                     "allowed: Mjlab-Cartpole-Balance")


@pytest.mark.skipif(HAVE_MJLAB, reason="mjlab is installed here")
def test_sim_mjlab_without_mjlab_fails_in_one_line_and_leaves_nothing(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), "task=MjlabCartpoleBalance",
                           "train=CartpoleBalanceDDPG", "sim=mjlab", "sim_device=cpu", f"train_dir={tmp_path}/runs"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stderr == ("[isaac_rl] error: invalid config: sim='mjlab'; allowed: an installed backend: sim=mjlab "
                           "needs mjlab (Isaac Lab's API on MuJoCo-Warp; Python 3.10 to 3.13): `pip install "
                           "torch==2.13.0 mjlab` (name the torch you want, or pip pulls a CUDA build of several GB); "
                           "or use sim=torch (built-in physics)\n")
    assert not (tmp_path / "runs").exists()
