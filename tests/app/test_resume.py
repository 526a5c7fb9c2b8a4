"""Bit-identical checkpoint resumes, and checkpoints of the earlier (flat-package) layout."""

import json
import os
import subprocess
import sys

import pytest
import torch

from isaac_rl.algorithms.networks import StackedLayerNorm
from isaac_rl.app import checkpoint
from isaac_rl.app.build import make_trainer
from tests.conftest import ROOT


def _cfg(algo):
    if algo == "DQN":
        a = dict(name="DQN", hidden=[32], lr=1e-3, gamma=0.99, tau=0.005, target_update_interval=1, double_dqn=True,
                 loss="huber", max_grad_norm=1.0, eps_start=1.0, eps_end=0.05, eps_decay_iterations=30,
                 efforts=[-1.0, 0.0, 1.0])
    else:
        a = dict(name="DDPG", hidden=[32], actor_lr=1e-3, critic_lr=1e-3, gamma=0.99, tau=0.005, policy_delay=2,
                 max_grad_norm=0.0, noise="ou", noise_sigma=0.2, ou_theta=0.15)
    loop = dict(max_iterations=60, warmup_iterations=4, batch_size=32, updates_per_step=2, buffer_per_env=25,
                log_interval=10, eval_interval=0, eval_target=None, checkpoint_interval=0, eval_early_out=True,
                verify_episodes=0)
    return dict(task=dict(name="Cartpole", env={}), sim="torch", num_envs=16, seed=3,
                train=dict(algo=a, loop=loop, eval_envs=4))


@pytest.mark.parametrize("algo, layer_norm", [("DQN", False), ("DDPG", False), ("DQN", True), ("DDPG", True)])
def test_checkpoint_round_trip_resumes_bit_identically(tmp_path, algo, layer_norm):
    """Device-side counters and pointers, the host update count (DDPG's delayed actor steps), OU noise state and
    LayerNorm networks all survive a checkpoint: the resumed run ends where the straight one does."""
    cfg = _cfg(algo)
    cfg["train"]["algo"]["layer_norm"] = layer_norm

    def build(config):
        return make_trainer(config, "cpu", eval_env=False, verbose=False)[0]

    straight = build(cfg)
    nets = list(straight.algo.modules().values())
    norms = [m for net in nets for m in net.modules() if isinstance(m, StackedLayerNorm)]
    # DQN: Q-network and its target; DDPG: critic and its target (the actor has none)
    assert len(norms) == (2 * len(cfg["train"]["algo"]["hidden"]) if layer_norm else 0)
    straight.train()
    half = dict(cfg, train=dict(cfg["train"], loop=dict(cfg["train"]["loop"], max_iterations=30)))
    first = build(half)
    first.train()
    path = str(tmp_path / "ckpt.pt")
    checkpoint.save_atomic({"trainer": first.state_dict()}, path)
    torch.manual_seed(12345)  # the resumed run must not depend on the global RNG at load time
    resumed = build(cfg)
    resumed.load_state_dict(checkpoint.load(path)["trainer"])  # weights_only=True
    resumed.train()
    for (net, a), b in zip(straight.algo.modules().items(), resumed.algo.modules().values()):
        for (name, tensor), other in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(tensor, other), (net, name)
    assert torch.equal(straight.obs, resumed.obs) and straight.iteration == resumed.iteration == 60
    assert straight.updates == resumed.updates == 2 * (60 - 4 + 1)  # the last warm-up iteration also updates
    steps = {name: opt.steps for name, opt in resumed.algo.optimizers().items()}
    # DDPG with policy_delay=2: one actor step per two critic steps, also across the resume
    expected = {"optimizer": 114} if algo == "DQN" else {"actor_optimizer": 57, "critic_optimizer": 114}
    assert steps == expected


OLD = os.path.join(ROOT, "tests", "data")  # written by the flat-package layout (commit e401cfe), 16 envs, 30 its
# written when Pendulum DDPG's tau was 0.005 (the shipped one is now 0.03)
OLD_RUNS = [("v0_PendulumDDPG_ou.pt",
             ["task=Pendulum", "train=PendulumDDPG", "train.algo.noise=ou", "train.algo.tau=0.005"]),
            # written when the recipe took 2 updates per iteration, decayed epsilon over 200 iterations and had a
            # 128-128 Q-network
            ("v0_CartPole-v1DQN.pt", ["task=CartPole-v1", "train=CartPole-v1DQN", "train.loop.updates_per_step=2",
                                      "train.algo.eps_decay_iterations=200", "train.algo.hidden=[128,128]"])]


@pytest.mark.parametrize("name, overrides", OLD_RUNS, ids=[r[0] for r in OLD_RUNS])
def test_checkpoints_of_the_earlier_layout_play_and_resume(tmp_path, name, overrides):
    """A checkpoint of the flat-package layout (learner update counter, top-level OU noise state, buffer sampler
    generator, config without today's defaults) plays, and resumes where it stopped: 30 iterations of 16 envs, then
    30 more, each learning iteration taking the config's updates_per_step gradient steps."""
    path = os.path.join(OLD, name)
    state = checkpoint.load(path)
    assert "num_updates" in state["trainer"]["agent"] and "updates" not in state["trainer"]  # the old layout
    play = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "play.py"), path, "--episodes", "4"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert play.returncode == 0, play.stderr
    assert json.loads(play.stdout.strip().splitlines()[-1])["episodes"] == 4
    run = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), *overrides, "num_envs=16",
                          "num_eval_envs=4", "train.loop.verify_episodes=0", "max_iterations=60", f"checkpoint={path}",
                          f"train_dir={tmp_path}"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "resumed from" in run.stdout and "at iteration 30" in run.stdout
    summary = json.loads(run.stdout.split("[isaac_rl] summary ", 1)[1].splitlines()[0])
    cfg = state["config"]["train"]
    learning = 60 - cfg["loop"]["warmup_iterations"] + 1  # the last warm-up iteration also updates
    assert summary["iterations"] == 60 and summary["gradient_steps"] == learning * cfg["loop"]["updates_per_step"]
