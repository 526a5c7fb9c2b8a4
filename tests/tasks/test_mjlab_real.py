"""sim=mjlab against the real mjlab (``pip install torch==2.13.0 mjlab``, Python 3.11 in CI's mjlab leg), MuJoCo-Warp
on the CPU. Skipped where mjlab is not installed (the main suite), except the test of that very case.

What each test covers: the tensor contract (shapes, dtypes, device); ``final_obs`` of an ended episode is mjlab's own
terminal observation (an ``auto_reset=False`` mjlab env stepped alongside from the same start is the reference) and
``obs`` the next episode's first, drawn as mjlab draws it; a truncated episode's TD target bootstraps from
``final_obs``, not from the reset observation; resets and seeding (and that the env's draws leave torch's global
generator alone); a training env's staggered, ``train_episode_steps``-long episodes (and an evaluation env's full
ones); a short real training run beats the zero-effort return by a stated margin; bad input in one line (an unknown
task id; ``train_episode_steps`` out of range; sim=mjlab without mjlab).
"""

import importlib.util
import json
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
# The short real training run (train=MjlabCartpoleBalanceDDPG, 256 envs, CPU): its closing evaluation (32 episodes of
# mjlab's full 1000 steps) must beat the zero-effort return (29.3 over N envs from reset(SEED)) by MARGIN. Measured
# 2026-12-05, 2-core CPU: seeds 1, 2, 3 returned 49.90, 45.34, 49.56 after MAX_ITERATIONS (40 to 44 s a run; a hand
# PD controller returns 49.997 of at most 50).
MAX_ITERATIONS, MARGIN = 400, 10.0


@pytest.fixture(scope="module")
def env():
    """One real mjlab cart-pole balance of N envs on the CPU for the module's in-process tests, set as the trainer
    sets its evaluation envs (``random_auto_reset = False``: every episode from ``reset`` runs mjlab's full length,
    all envs in step)."""
    torch.set_num_threads(1)
    task = make_task(TASK, sim="mjlab", num_envs=N, device="cpu", seed=SEED)
    task.random_auto_reset = False
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
def test_a_training_env_staggers_its_episodes_and_ends_them_at_train_episode_steps():
    """A training env (``random_auto_reset``, the default) with ``train_episode_steps=K``: after ``reset`` each env's
    first episode ends (truncated, never terminated) at its own step in ``[1, K]``, as mjlab's own training staggers
    them, and every later one after exactly K steps; an ended row's ``obs`` is a fresh start (upright, cart within
    0.1 m) and its ``final_obs`` the ended episode's last observation. Cleared, as the trainer clears it on its
    evaluation envs, every episode from ``reset`` runs mjlab's full length again."""
    k = 20
    task = make_task(TASK, sim="mjlab", num_envs=N, device="cpu", seed=SEED, train_episode_steps=k)
    try:
        obs, ends = task.reset(SEED), [[] for _ in range(N)]
        for t in range(1, 2 * k + 1):
            out = task.step(torch.zeros(N, 1))
            done = out.truncated
            assert not out.terminated.any()
            assert (out.obs[done, 1] > 0.999).all() and (out.obs[done, 0].abs() <= 0.1 + 1e-6).all()
            assert torch.equal(out.final_obs[~done], out.obs[~done])
            assert ((out.final_obs[done] - obs[done])[:, :3].abs() < 0.2).all()  # continues the ended episode
            for row in done.nonzero().flatten().tolist():
                ends[row].append(t)
            obs = out.obs
        firsts = [row[0] for row in ends]
        assert all(1 <= first <= k for first in firsts) and len(set(firsts)) >= 3, ends
        assert all(row == [row[0], row[0] + k] for row in ends), ends
        task.random_auto_reset = False
        task.reset(SEED)
        for _ in range(2 * k + 1):
            out = task.step(torch.zeros(N, 1))
            assert not (out.truncated | out.terminated).any()
    finally:
        task.close()


@needs_mjlab
def test_a_short_real_training_run_beats_zero_effort(tmp_path, episode):
    """scripts/train.py trains DDPG on the real mjlab cart-pole balance (its task config: staggered 200-step training
    episodes) for MAX_ITERATIONS; its closing evaluation on mjlab's full episodes beats the zero-effort return measured
    on the same task by MARGIN."""
    zero_return = float(episode[4].mean())
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), "task=MjlabCartpoleBalance",
                           "train=MjlabCartpoleBalanceDDPG", "sim=mjlab", "sim_device=cpu", "num_envs=256",
                           f"max_iterations={MAX_ITERATIONS}", f"train.loop.eval_interval={MAX_ITERATIONS}",
                           "train.loop.verify_episodes=0", "train.loop.eval_target=null", "train.eval_envs=32",
                           "seed=1", f"train_dir={tmp_path}"], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads(proc.stdout.split("[isaac_rl] summary ", 1)[1].splitlines()[0])
    assert summary["iterations"] == MAX_ITERATIONS and summary["eval/complete"] == 1.0
    assert summary["eval/mean_length"] == 1000  # mjlab's full episodes, not the training env's 200-step ones
    assert summary["eval/mean_return"] >= zero_return + MARGIN, (summary["eval/mean_return"], zero_return)


@needs_mjlab
def test_an_unknown_task_id_fails_in_one_line():
    with pytest.raises(ConfigError) as err:
        make_task("Mjlab-Cartpole-Balanc", sim="mjlab", num_envs=2, device="cpu")
    assert str(err.value).startswith("invalid config: task.name='Mjlab-Cartpole-Balanc' is not an mjlab task; "
                                     "allowed: Mjlab-Cartpole-Balance")


@needs_mjlab
def test_train_episode_steps_out_of_range_fails_in_one_line_and_leaves_nothing(tmp_path):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), "task=MjlabCartpoleBalance",
                           "train=MjlabCartpoleBalanceDDPG", "sim=mjlab", "sim_device=cpu", "num_envs=2",
                           "task.env.train_episode_steps=1001", f"train_dir={tmp_path}/runs"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    ours = [line for line in proc.stderr.splitlines() if not line.startswith("Warp CUDA warning")]  # no-GPU notice
    assert ours == ["[isaac_rl] error: invalid config: task.env.train_episode_steps=1001; allowed: null or a whole "
                    "number from 1 to Mjlab-Cartpole-Balance's episode length, 1000"], proc.stderr[-2000:]
    assert not (tmp_path / "runs").exists() or not os.listdir(tmp_path / "runs")


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
