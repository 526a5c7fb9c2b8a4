"""Per-env domain randomization (tasks/randomize.py, ``task.randomize``): the draws follow their distributions, each
env steps its own model, a point range is the nominal model bit for bit, checkpoints resume bit-identically, and bad
sections are refused before any work in one line naming the key."""

import math
import os
import subprocess
import sys

import pytest
import torch

from isaac_rl.app import checkpoint
from isaac_rl.app.build import make_trainer
from isaac_rl.app.config import resolve
from isaac_rl.core.errors import ConfigError
from isaac_rl.tasks import randomize
from isaac_rl.tasks.cartpole import IsaacCartpole
from tests.conftest import ROOT, compose_config

INSIDE = math.erf(3 / math.sqrt(2))  # P(|z| <= 3)
# Variance of N(0, 1) clipped to [-3, 3]: the part inside (truncated-normal variance) plus 9 x the part outside.
CLIP_VAR = INSIDE - 6 * math.exp(-4.5) / math.sqrt(2 * math.pi) + 9 * (1 - INSIDE)


def _section(**params):
    return {"enabled": True, "params": params}


def _u(lo, hi, op="scaling", dist="uniform"):
    return {"distribution": dist, "range": [lo, hi], "operation": op}


def test_draws_follow_the_stated_distributions():
    """Moments over 200,000 envs of each distribution and operation, at the first reset and for the envs an episode
    ended in (redrawn from torch's default generator), and the step constants derived from them."""
    n = 200_000
    env = IsaacCartpole(n, dtype=torch.float64, seed=1)
    line = randomize.attach(env, dict(_section(
        cart_mass=_u(0.8, 1.2), pole_inertia=_u(0.01, 0.1, "absolute", "loguniform"),
        pole_com=_u(0.0, 0.05, "additive", "gaussian"), max_effort=_u(1.0, 0.1, "scaling", "gaussian"),
        dt=_u(0.01, 0.02, "absolute")), action_delay=[1, 3]))
    assert line.startswith("randomize (training envs, per env at each reset): cart_mass scaling uniform [0.8, 1.2] "
                           "of 1 -> [0.8, 1.2]; pole_inertia absolute loguniform [0.01, 0.1] of 0 -> [0.01, 0.1]; ")
    assert line.endswith("action_delay 1-3 steps")
    rand = env.randomizer

    def check(values, delay):
        def moments(x, mean, var):
            x = x.double()
            se = math.sqrt(var / x.numel())
            assert abs(x.mean().item() - mean) < 5 * se, (x.mean().item(), mean)
            assert abs(x.var().item() - var) < 0.02 * var, (x.var().item(), var)

        moments(values["cart_mass"], 1.0, 0.4 ** 2 / 12)
        assert values["cart_mass"].min() >= 0.8 and values["cart_mass"].max() <= 1.2
        lo, hi = 0.01, 0.1  # loguniform: density 1 / (x ln(hi / lo))
        mean = (hi - lo) / math.log(hi / lo)
        moments(values["pole_inertia"], mean, (hi * hi - lo * lo) / (2 * math.log(hi / lo)) - mean * mean)
        moments(values["pole_com"], 0.47, 0.05 ** 2 * CLIP_VAR)
        assert (values["pole_com"] - 0.47).abs().max() <= 3 * 0.05 + 1e-12
        moments(values["max_effort"], 400.0, 40.0 ** 2 * CLIP_VAR)
        moments(values["dt"], 0.015, 0.01 ** 2 / 12)
        moments(delay, 2.0, (3 ** 2 - 1) / 12)  # discrete uniform on {1, 2, 3}
        assert set(delay.unique().tolist()) == {1, 2, 3}

    check(rand.values, rand.delay)
    # The step constants are the task's expressions of each env's values (float64 here, like the nominal ones).
    v = rand.values
    assert torch.equal(env._k["total"], v["cart_mass"] + 1.0)
    assert torch.equal(env._k["j"], v["pole_inertia"] + 1.0 * v["pole_com"] * v["pole_com"])
    assert torch.equal(env._k["h2"], v["dt"] / 2 / 2)
    # Ended episodes: new draws there, the same values elsewhere.
    before = {k: t.clone() for k, t in v.items()}
    done = torch.arange(n) % 2 == 0
    rand.episodes_ended(done, redraw=True)
    for k in v:
        assert torch.equal(v[k][~done], before[k][~done])
        assert (v[k][done] != before[k][done]).float().mean() > 0.99
    check({k: t[done] for k, t in v.items()}, rand.delay[done])
    kept = {k: t.clone() for k, t in v.items()}
    rand.episodes_ended(done, redraw=False)  # evaluation-style envs keep their model
    assert all(torch.equal(v[k], t) for k, t in kept.items())


POINT = dict(cart_mass=_u(1.0, 1.0), pole_mass=_u(1.0, 1.0, "absolute"), pole_com=_u(0.0, 0.0, "additive"),
             pole_inertia=_u(0.0, 0.0, "additive", "gaussian"), max_effort=_u(400.0, 400.0, "absolute", "loguniform"),
             dt=_u(0.0166, 0.0166, "absolute"))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_point_ranges_step_the_nominal_model_bit_for_bit(dtype):
    """Every parameter randomized over a point range (each distribution and operation): 400 steps of random efforts
    with thousands of episode ends give the nominal env's observations, rewards, flags and states bit for bit (the
    default generator reseeded alike before each step: randomizing draws from it after the reset states)."""
    nominal, varied = IsaacCartpole(512, seed=1, dtype=dtype), IsaacCartpole(512, seed=1, dtype=dtype)
    randomize.attach(varied, _section(**POINT))
    assert all(varied._k[k].shape == (512,) for k in ("ml", "j", "total_j", "max_effort", "h", "h2", "h6"))
    assert torch.equal(nominal.reset(3), varied.reset(3))
    efforts, ends = torch.Generator().manual_seed(0), 0
    for t in range(400):
        action = torch.rand((512, 1), generator=efforts, dtype=dtype) * 2 - 1
        torch.manual_seed(t)
        a = nominal.step(action)
        torch.manual_seed(t)
        b = varied.step(action)
        for x, y in zip(a, b):
            assert torch.equal(x, y), t
        assert torch.equal(nominal.state, varied.state)
        ends += int((a.terminated | a.truncated).sum())
    assert ends > 5000


def test_each_env_steps_its_own_model():
    """A randomized env of 16 equals, env by env, a nominal env built with that env's drawn parameters (float64:
    bit for bit), and action delay applies the effort of ``d`` steps ago."""
    n = 16
    env = IsaacCartpole(n, dtype=torch.float64, seed=2)
    randomize.attach(env, dict(_section(cart_mass=_u(0.5, 2.0), pole_mass=_u(0.5, 2.0), pole_com=_u(0.8, 1.2),
                                        pole_inertia=_u(0.0, 0.1, "absolute"), max_effort=_u(0.5, 1.5),
                                        dt=_u(0.01, 0.02, "absolute")), action_delay=[0, 2]))
    env.reset(5)
    values = {k: v.tolist() for k, v in env.randomizer.values.items()}
    delay = env.randomizer.delay.tolist()
    assert set(delay) == {0, 1, 2}
    start = env.state.t().clone()
    gen = torch.Generator().manual_seed(3)
    actions = [torch.rand((n, 1), generator=gen, dtype=torch.float64) * 0.2 - 0.1 for _ in range(20)]
    outs = [env.step(a).final_obs for a in actions]
    for i in range(n):
        ref = IsaacCartpole(1, dtype=torch.float64, **{k: values[k][i] for k in values})
        ref.set_state(start[i:i + 1])
        for t in range(len(actions)):
            applied = actions[t - delay[i]][i:i + 1] if t >= delay[i] else torch.zeros((1, 1), dtype=torch.float64)
            assert torch.equal(ref.step(applied).final_obs[0], outs[t][i]), (i, t)


def test_noise_is_added_where_stated():
    """Observation noise on every entry (the state itself stays noiseless), action noise before the clamp."""
    n = 100_000
    env = IsaacCartpole(n, dtype=torch.float64, seed=4)
    randomize.attach(env, {"enabled": True, "observation_noise": 0.05})
    obs = env.reset(1)
    assert abs((obs - env.state.t()).std().item() - 0.05) < 0.001
    out = env.step(torch.zeros((n, 1), dtype=torch.float64))
    alive = ~(out.terminated | out.truncated)
    assert abs((out.obs - env.state.t())[alive].std().item() - 0.05) < 0.001
    assert torch.equal(out.obs[alive], out.final_obs[alive])  # one observation, one noise draw
    quiet, noisy = IsaacCartpole(n, dtype=torch.float64, seed=4), IsaacCartpole(n, dtype=torch.float64, seed=4)
    randomize.attach(noisy, {"enabled": True, "action_noise": 0.1})
    quiet.reset(1), noisy.reset(1)
    ref = noisy.randomizer.act(torch.zeros(n, dtype=torch.float64))
    assert abs(ref.std().item() - 0.1) < 0.002 and ref.abs().max() <= 1.0
    a, b = quiet.step(torch.zeros((n, 1), dtype=torch.float64)), noisy.step(torch.zeros((n, 1), dtype=torch.float64))
    assert not torch.equal(a.final_obs, b.final_obs)


def _cfg():
    a = dict(name="DQN", hidden=[32], lr=1e-3, gamma=0.99, tau=0.005, target_update_interval=1, double_dqn=True,
             loss="huber", max_grad_norm=1.0, eps_start=1.0, eps_end=0.05, eps_decay_iterations=30,
             efforts=[-1.0, 0.0, 1.0])
    loop = dict(max_iterations=60, warmup_iterations=4, batch_size=32, updates_per_step=2, buffer_per_env=25,
                log_interval=10, eval_interval=0, eval_target=None, checkpoint_interval=0, eval_early_out=True,
                verify_episodes=0)
    section = dict(_section(pole_mass=_u(0.5, 1.5), pole_inertia=_u(0.0, 0.1, "absolute"),
                            dt=_u(1.0, 0.1, "scaling", "gaussian")),
                   observation_noise=0.01, action_noise=0.05, action_delay=[0, 2])
    return dict(task=dict(name="Cartpole", env={}, randomize=section), sim="torch", num_envs=16, seed=3,
                train=dict(algo=a, loop=loop, eval_envs=4))


def test_checkpoints_carry_the_randomization_and_resume_bit_identically(tmp_path):
    """A randomized run stopped at 30 iterations, saved, loaded (weights_only) and continued to 60 ends where the
    straight run does: the per-env parameters, delays and delay lines travel in the checkpoint."""
    cfg = _cfg()

    def build(config):
        return make_trainer(config, "cpu", eval_env=True, verbose=False)

    straight, env, evaluation = build(cfg)
    assert env.randomizer is not None and evaluation.randomizer is None  # evaluation: the nominal model
    straight.train()
    half = dict(cfg, train=dict(cfg["train"], loop=dict(cfg["train"]["loop"], max_iterations=30)))
    first = build(half)[0]
    first.train()
    path = str(tmp_path / "ckpt.pt")
    checkpoint.save_atomic({"trainer": first.state_dict()}, path)
    stored = checkpoint.load(path)["trainer"]
    assert set(stored["env"]["randomize"]) == {"value.pole_mass", "value.pole_inertia", "value.dt", "delay",
                                               "history"}
    torch.manual_seed(12345)
    resumed, renv, _ = build(cfg)
    resumed.load_state_dict(stored)
    resumed.train()
    for (net, a), b in zip(straight.algo.modules().items(), resumed.algo.modules().values()):
        for (name, tensor), other in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(tensor, other), (net, name)
    assert torch.equal(straight.obs, resumed.obs)
    for key, value in env.randomizer.state_dict().items():
        assert torch.equal(value, renv.randomizer.state_dict()[key]), key
    assert torch.equal(env._k["h"], renv._k["h"])


BASE = ["task=Cartpole", "train=CartpoleDQN", "sim_device=cpu"]
BAD = [
    (["task.randomize.params.pole_mass={distribution:uniform,range:[-0.5,1.5],operation:scaling}"],
     "invalid config: task.randomize.params.pole_mass.range=[-0.5, 1.5]; allowed: a range that keeps pole_mass > 0 "
     "(this one gives pole_mass from -0.5 to 1.5 with the nominal 1)"),
    (["task.randomize.params.cart_mass={distribution:uniform,range:[1.2,0.8]}"],
     "invalid config: task.randomize.params.cart_mass.range=[1.2, 0.8]; allowed: [low, high], finite, low <= high"),
    (["task.randomize.params.dt={distribution:uniform,range:[nan,1.1]}"],
     "invalid config: task.randomize.params.dt.range=[nan, 1.1]; allowed: [low, high], finite, low <= high"),
    (["task.randomize.params.pole_com={distribution:beta,range:[0.9,1.1]}"],
     "invalid config: task.randomize.params.pole_com.distribution='beta'; allowed: uniform, loguniform, gaussian"),
    (["task.randomize.params.pole_com={range:[0.9,1.1],operation:multiply}"],
     "invalid config: task.randomize.params.pole_com.operation='multiply'; allowed: scaling, additive, absolute"),
    (["+task.randomize.params.gravity={range:[0.9,1.1]}"],
     "invalid config: task.randomize.params.gravity={'range': [0.9, 1.1]}; allowed: a parameter of this task: "
     "cart_mass, pole_mass, pole_com, pole_inertia, max_effort, dt"),
    (["+task.randomize.mass=1"],
     "invalid config: task.randomize.mass=1; allowed: one of enabled, params, observation_noise, action_noise, "
     "action_delay"),
    (["task.randomize.params.max_effort={distribution:loguniform,range:[0,1.2]}"],
     "invalid config: task.randomize.params.max_effort.range=[0, 1.2]; allowed: [low, high] with 0 < low <= high "
     "for loguniform"),
    (["task.randomize.params.pole_mass={distribution:gaussian,range:[1.0,0.4]}"],
     "invalid config: task.randomize.params.pole_mass.range=[1.0, 0.4]; allowed: a range that keeps pole_mass > 0 "
     "(this one gives pole_mass from -0.2 to 2.2 with the nominal 1, mean +- 3 std)"),
    (["task.randomize.observation_noise=-0.1"],
     "invalid config: task.randomize.observation_noise=-0.1; allowed: a finite number >= 0 (the std of Gaussian "
     "noise; 0 = none)"),
    (["task.randomize.action_delay=[2,1]"],
     "invalid config: task.randomize.action_delay=[2, 1]; allowed: [low, high], integers with 0 <= low <= high <= "
     "100 (steps; [0, 0] = none)"),
    (["task.randomize.enabled=True", "sim=isaacgym"],
     "invalid config: task.randomize.enabled=True; allowed: False for task Cartpole on sim=isaacgym (per-env "
     "randomization is implemented for the torch tasks Cartpole, CartpoleBalance, CartpoleBalanceSparse, "
     "CartpoleSwingup, CartpoleSwingupSparse, CartpoleTwoPoles, CartpoleThreePoles)"),
]


@pytest.mark.parametrize("overrides, message", BAD, ids=[b[0][-1].split("=")[0] for b in BAD])
def test_bad_sections_are_refused_naming_the_key(overrides, message):
    """Checked even while randomization is off (a bad section never waits for enabled=True)."""
    with pytest.raises(ConfigError) as err:
        resolve(compose_config(BASE + overrides))
    assert str(err.value) == message


def test_train_refuses_a_bad_range_before_any_work(tmp_path):
    """scripts/train.py: one line, exit code 2, no run folder."""
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), *BASE, f"train_dir={tmp_path}",
                           "task.randomize.enabled=True",
                           "task.randomize.params.pole_mass={distribution:uniform,range:[-0.5,1.5],operation:scaling}"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"[isaac_rl] error: {BAD[0][1]}"]
    assert os.listdir(tmp_path) == []


def test_a_randomized_run_logs_every_randomized_value_once_and_records_it(tmp_path):
    """The shipped randomized recipe composes (a train config that also sets task.randomize), logs its draws in one
    line, records the section in config.yaml; switched off, the section is not recorded (older checkpoints of the
    nominal task compare equal)."""
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), "task=Cartpole",
                           "train=CartpoleDQNRandomized", "sim_device=cpu", "num_envs=32", "max_iterations=20",
                           "train.loop.warmup_iterations=4", "train.loop.verify_episodes=0", "train.eval_envs=4",
                           f"train_dir={tmp_path}", "experiment=r"], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    lines = [x for x in proc.stdout.splitlines() if "randomize (" in x]
    assert len(lines) == 1 and lines[0].startswith("[isaac_rl] randomize (training envs, per env at each reset): ")
    stored = checkpoint.load(str(tmp_path / "r" / "nn" / "last.pt"))["config"]["task"]["randomize"]
    assert stored["enabled"] is True and stored["params"]["pole_inertia"]["range"] == pytest.approx(
        compose_config(["train=CartpoleDQNRandomized"])["task"]["randomize"]["params"]["pole_inertia"]["range"])
    assert "randomize" not in resolve(compose_config(BASE))["task"]
