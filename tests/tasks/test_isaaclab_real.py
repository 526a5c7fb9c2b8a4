"""sim=isaaclab against the real Isaac Lab 3 (``pip install isaaclab==3.0.0``, Python 3.12; CI's Isaac Lab leg), on
its default kit-less physics (Newton with MuJoCo-Warp) on the CPU, offline. Skipped where Isaac Lab is not installed
(the main suite); Isaac Lab 2.x is covered by the double in ``test_isaaclab_backend.py``.

Isaac Lab fetches its USD assets from NVIDIA's server at run time. The :func:`asset_root` fixture builds stand-ins
for the two the cart-pole reads (the robot and a collision ground plane) in a temporary folder, from the flattened
cart-pole stage Isaac Lab's wheel ships for its own tests, and points ``ISAACSIM_ASSET_ROOT`` at it: nothing of
NVIDIA's is in this repository. The first env build compiles Warp's kernels (~45 s, cached in ``~/.cache/warp``).

What each test covers: the tensor contract (shapes, dtypes, device); a truncated episode's final observation is
Isaac Lab's ``extras["final_obs"]`` and its TD target bootstraps from it (not from the reset observation), while the
stale ``final_obs`` of later steps is never used; the reported max effort is each task config's own action scale
(direct: ``action_scale``; manager-based: its effort term's ``scale``); resets and seeding; ``physics=`` presets;
the manager-based cart-pole; bad input (an unknown id, an unknown preset, Kit physics without Isaac Sim,
unreachable or missing assets) in one line; and short real training runs, of the direct and of the manager-based
cart-pole, that each improve the return by a stated margin.
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch

pytest.importorskip("isaaclab")

from isaac_rl.core.checks import check_task  # noqa: E402
from isaac_rl.core.errors import ConfigError  # noqa: E402
from isaac_rl.tasks import make_task  # noqa: E402
from scripts.peers.asset_stand_ins import build_asset_stand_ins  # noqa: E402
from tests.conftest import ROOT  # noqa: E402
from tests.tasks.truncation import assert_td_target_bootstraps_from  # noqa: E402

N, SEED = 16, 7
TASK = "Isaac-Cartpole-Direct"
# The shortest real training run that reliably learns here (64 envs, CPU): SAC's evaluation after MAX_ITERATIONS
# must beat the zero-effort policy's return (about -21: the pole falls from its random start and hangs) by MARGIN.
MAX_ITERATIONS, MARGIN = 1000, 10.0
MANAGER_ZERO_RETURN = -21.5  # Isaac-Cartpole's zero-effort return (measured: see its training test)


@pytest.fixture(scope="module")
def asset_root(tmp_path_factory):
    """A local asset root with the cart-pole's stand-ins, set as ``ISAACSIM_ASSET_ROOT`` for this module (before
    Isaac Lab reads it: ``isaaclab.utils.assets`` fixes its root when first imported)."""
    root = str(tmp_path_factory.mktemp("isaac_assets"))
    build_asset_stand_ins(root)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ISAACSIM_ASSET_ROOT", root)
        yield root


@pytest.fixture(scope="module")
def env(asset_root):
    """One real direct cart-pole of N envs on the CPU for the module's in-process tests."""
    torch.set_num_threads(1)
    task = make_task(TASK, sim="isaaclab", num_envs=N, device="cpu", seed=SEED)
    yield task
    task.close()


@pytest.fixture(scope="module")
def zero_rollout(env):
    """A full episode of zero efforts from ``reset(SEED)``: the pole is never pushed, so no cart leaves its track
    and every env times out on step 300, plus one step after. Returns the observations before the last step, the
    last StepOut, Isaac Lab's own ``extras["final_obs"]["policy"]`` of that step, the episode returns [N], and the
    StepOut of the step after."""
    env.reset(SEED)
    returns, zeros = torch.zeros(N), torch.zeros(N, 1)
    for _ in range(env.max_episode_steps - 1):
        out = env.step(zeros)
        returns += out.reward
        assert not (out.terminated | out.truncated).any()
    before = out.obs
    out = env.step(zeros)
    returns += out.reward
    isaac_final = env.env.extras["final_obs"]["policy"].clone()
    after = env.step(zeros)
    return before, out, isaac_final, returns, after


def test_the_real_direct_cartpole_meets_the_contract(env):
    """Shapes, dtypes and device of every tensor (the contract check the trainer runs for user tasks), Isaac Lab's
    action scale and episode length read back."""
    check_task(env, N, torch.device("cpu"))
    assert (env.obs_dim, env.action_spec.dim, env.action_spec.max_effort, env.max_episode_steps) == (4, 1, 100.0, 300)
    out = env.step(torch.zeros(N, 1))
    for name, value, shape, dtype in (("obs", out.obs, (N, 4), torch.float32), ("reward", out.reward, (N,),
                                      torch.float32), ("terminated", out.terminated, (N,), torch.bool),
                                      ("truncated", out.truncated, (N,), torch.bool),
                                      ("final_obs", out.final_obs, (N, 4), torch.float32)):
        assert (tuple(value.shape), value.dtype, value.device) == (shape, dtype, torch.device("cpu")), name


@pytest.mark.parametrize("task_id, stated", [
    ("Isaac-Cartpole-Direct", lambda cfg: cfg.action_scale),
    ("Isaac-Cartpole", lambda cfg: cfg.actions.joint_effort.scale),
])
def test_max_effort_is_the_task_configs_own_action_scale(env, task_id, stated):
    """ActionSpec.max_effort (the deploy sidecar's ``action_scale``: newtons at action 1) is what the task's own
    config scales actions by, for a direct and a manager-based task alike: 100 N for both cart-poles (a
    manager-based task has no ``action_scale``; its effort action term carries the scale)."""
    from isaaclab_tasks.utils import parse_env_cfg

    from isaac_rl.tasks.isaaclab_backend import max_effort

    cfg = parse_env_cfg(task_id, device="cpu", num_envs=N)
    assert max_effort(cfg) == float(stated(cfg)) == 100.0
    assert env.action_spec.max_effort == max_effort(parse_env_cfg(TASK, device="cpu", num_envs=N))


def test_a_truncated_episode_ends_on_isaac_labs_final_observation(zero_rollout):
    """On the time-out step, final_obs is Isaac Lab's pre-reset observation (one step on from the last one), obs the
    next episode's first; on the step after, Isaac Lab's stale extras["final_obs"] is not used."""
    before, out, isaac_final, _, after = zero_rollout
    assert out.truncated.all() and not out.terminated.any()
    assert torch.equal(out.final_obs, isaac_final)
    assert (out.final_obs - before).abs().max() < 0.5  # continues the episode
    assert (out.final_obs - out.obs).abs().max() > 0.5  # the reset moved the carts and poles
    assert not (after.truncated | after.terminated).any() and torch.equal(after.final_obs, after.obs)


def test_the_td_target_of_a_truncated_episode_bootstraps_from_isaac_labs_final_observation(zero_rollout):
    before, out, isaac_final, _, _ = zero_rollout
    assert_td_target_bootstraps_from(before, out, isaac_final)


def test_reset_is_seeded_and_starts_inside_isaac_labs_ranges(env):
    """reset(seed) gives the same start (and the same steps) for the same seed, another for another seed; starts lie
    in the task's ranges: cart position within 1 m, pole angle within pi/4."""
    push = torch.linspace(-1, 1, N).unsqueeze(-1)
    first = env.reset(3)
    first_step = env.step(push).obs
    assert torch.equal(env.reset(3), first) and torch.equal(env.step(push).obs, first_step)
    assert not torch.allclose(env.reset(4), first)
    assert first[:, 0].abs().max() <= 1.0 and first[:, 1].abs().max() <= torch.pi / 4 + 1e-6
    assert first[:, 0].std() > 0.1  # envs draw their own starts
    # Seeds past numpy's 32 bits (seed= allows up to 2**62) are folded, not refused, and stay apart from the small
    # seed they are congruent to.
    big = env.reset(2 ** 40 + 3)
    assert torch.equal(env.reset(2 ** 40 + 3), big) and not torch.allclose(big, first)


def test_bad_task_ids_presets_and_kit_physics_fail_in_one_line(asset_root):
    """Each is refused before any simulation starts, in one line naming the value and what is allowed."""
    with pytest.raises(ConfigError) as err:
        make_task("Isaac-Cartpol-Direct", sim="isaaclab", num_envs=2, device="cpu")
    assert str(err.value).startswith("invalid config: task.name='Isaac-Cartpol-Direct' is not an Isaac Lab task; "
                                     "allowed: Isaac-Cartpole-Direct")
    with pytest.raises(ConfigError) as err:
        make_task(TASK, sim="isaaclab", num_envs=2, device="cpu", physics="bogus")
    assert str(err.value).startswith("invalid config: task.env.physics='bogus'; allowed: what Isaac Lab lists for "
                                     "Isaac-Cartpole-Direct: Unknown preset(s): bogus")
    assert "newton_mjwarp" in str(err.value)
    if importlib.util.find_spec("isaacsim") is None:
        with pytest.raises(ConfigError) as err:
            make_task(TASK, sim="isaaclab", num_envs=2, device="cpu", physics="isaacsim_physx")
        assert str(err.value) == (
            "invalid config: sim='isaaclab'; Isaac Sim PhysX physics (`PhysxCfg`) needs Isaac Sim (Kit), which is not "
            "installed (Isaac Lab 3 installs without it: see https://isaac-sim.github.io/IsaacLab/main/source/setup/"
            "installation/pip_installation.html); use kit-less physics instead: leave task.env.physics unset (Newton,"
            " Isaac Lab's default) or set task.env.physics=newton_mjwarp")


def _train(tmp_path, asset_root, *overrides, train="IsaacLabCartpoleSAC"):
    env = dict(os.environ, ISAACSIM_ASSET_ROOT=asset_root)
    return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), "task=IsaacLabCartpole",
                           f"train={train}", "sim=isaaclab", "sim_device=cpu", "num_envs=64",
                           f"train_dir={tmp_path}", *overrides], capture_output=True, text=True, timeout=900,
                          cwd=ROOT, env=env)


def _summary(stdout):
    return json.loads(stdout.split("[isaac_rl] summary ", 1)[1].splitlines()[0])


def test_train_py_trains_the_manager_based_cartpole_on_a_physics_preset(tmp_path, asset_root):
    """Isaac Lab's manager-based cart-pole (task.name=Isaac-Cartpole) with physics=newton_mjwarp passed through to
    Isaac Lab trains as the direct one does: the same run (64 envs, MAX_ITERATIONS) beats its zero-effort return by
    MARGIN. Its zero-effort return, MANAGER_ZERO_RETURN, was measured on this task (one 300-step episode of 16 envs
    from reset(7): every pole falls and hangs, every env times out; 2026-12-05, 2-core CPU); the run measured then
    returned 2.48 (mean episode length 157: trained carts still leave the track)."""
    proc = _train(tmp_path, asset_root, "task.name=Isaac-Cartpole", "task.env.physics=newton_mjwarp",
                  f"max_iterations={MAX_ITERATIONS}", f"train.loop.eval_interval={MAX_ITERATIONS}",
                  "train.loop.verify_episodes=0", "train.loop.eval_target=null", "seed=1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = _summary(proc.stdout)
    assert summary["iterations"] == MAX_ITERATIONS and summary["eval/complete"] == 1.0
    assert summary["eval/mean_return"] >= MANAGER_ZERO_RETURN + MARGIN, summary["eval/mean_return"]


@pytest.mark.parametrize("root, says", [
    ("https://assets.invalid/Isaac/6.2", "[isaac_rl] error: Isaac Lab's USD assets are fetched from "
     "https://assets.invalid/Isaac/6.2, which cannot be reached from here ("),
    ("{tmp}/nowhere", "[isaac_rl] error: Isaac Lab's asset root '{tmp}/nowhere' (ISAACSIM_ASSET_ROOT) is not a "
     "folder"),
    ("{tmp}", "[isaac_rl] error: an Isaac Lab asset of Isaac-Cartpole-Direct is missing (Unable to resolve the file: "
     "{tmp}/Isaac/IsaacLab/"),
])
def test_train_py_without_reachable_assets_fails_in_one_line_and_leaves_nothing(tmp_path, root, says):
    """A remote asset root is announced before Isaac Lab tries it, and an unreachable one refused at once (no
    retries); a local root must be a folder holding the assets."""
    empty = tmp_path / "assets"
    empty.mkdir()
    root, says = root.format(tmp=empty), says.format(tmp=empty)
    runs = tmp_path / "runs"
    proc = _train(str(runs), root, "max_iterations=30")
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    ours = [line for line in proc.stderr.splitlines() if not line.startswith("Warp CUDA warning")]  # no-GPU notice
    assert len(ours) == 1 and ours[0].startswith(says), proc.stderr[-2000:]
    if root.startswith("https://"):
        assert ("[isaac_rl] Isaac Lab fetches the task's USD assets from https://assets.invalid/Isaac/6.2 (set "
                "ISAACSIM_ASSET_ROOT to a local copy to run offline)\n") in proc.stdout
    assert not runs.exists() or not os.listdir(runs)


def test_a_short_real_training_run_improves_the_return(tmp_path, asset_root, zero_rollout):
    """scripts/train.py trains SAC on the real Isaac Lab cart-pole (64 envs, CPU, MAX_ITERATIONS iterations): its
    closing evaluation's mean return beats the zero-effort policy's (measured on the same task) by MARGIN. Its final
    verification (100 episodes) runs on the training env, the one simulation of the process: two rounds of 64
    episodes on held-out seeds of their own, all 128 counted."""
    zero_return = float(zero_rollout[3].mean())
    assert zero_return < -10  # the untrained baseline: poles fall and hang
    proc = _train(tmp_path, asset_root, f"max_iterations={MAX_ITERATIONS}",
                  f"train.loop.eval_interval={MAX_ITERATIONS}", "train.loop.verify_episodes=100",
                  "train.loop.eval_target=null", "seed=1")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = _summary(proc.stdout)
    assert summary["iterations"] == MAX_ITERATIONS and summary["eval/complete"] == 1.0
    assert summary["eval/mean_return"] >= zero_return + MARGIN, (summary["eval/mean_return"], zero_return)
    assert summary["eval/verified_episodes"] == 128 and summary["eval/verified_complete"] == 1.0, summary
    assert summary["eval/verified_mean_return"] >= zero_return + MARGIN, summary


def test_ppo_learns_the_real_direct_cartpole(tmp_path, asset_root, zero_rollout):
    """The on-policy learning on the real Isaac Lab: train=IsaacLabCartpolePPO (64 envs, 60 iterations of 16 steps,
    CPU) beats the zero-effort return by MARGIN in its closing evaluation and verifies 128 episodes (two rounds of
    the training env). Measured 2026-12-06 at 256 envs: the 4.8 bar verified after 110 iterations."""
    zero_return = float(zero_rollout[3].mean())
    proc = _train(tmp_path, asset_root, "max_iterations=60", "train.loop.eval_interval=60",
                  "train.loop.verify_episodes=100", "train.loop.eval_target=null", "seed=1",
                  train="IsaacLabCartpolePPO")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = _summary(proc.stdout)
    assert summary["iterations"] == 60 and summary["env_steps"] == 60 * 16 * 64, summary
    assert summary["eval/mean_return"] >= zero_return + MARGIN, (summary["eval/mean_return"], zero_return)
    assert summary["eval/verified_episodes"] == 128 and summary["eval/verified_complete"] == 1.0, summary
