"""A user's own task, defined here, trained through ``task.class_path=module:Class`` with no change to the package;
a class that breaks the contract is refused at start, naming what is wrong."""

import json
import os
import subprocess
import sys

import pytest
import torch

from isaac_rl.app.run import main as run_main
from isaac_rl.core.contract import ActionSpec, StepOut
from isaac_rl.core.errors import ConfigError
from tests.conftest import ROOT, compose_config


class Drift:
    """A point on a line, pushed by the effort: ``x' = x + 0.1 a``; reward ``1 - |x'|``; terminated past ``|x| = 1``;
    ``max_episode_steps`` steps. Staying at 0 earns ~1 per step, drifting off ends the episode."""

    obs_dim = 1
    action_spec = ActionSpec(dim=1, max_effort=1.0)
    reward_max = 1.0

    def __init__(self, num_envs, device="cpu", seed=0, max_episode_steps=20, start=0.5):
        self.num_envs, self.device, self.max_episode_steps = num_envs, torch.device(device), max_episode_steps
        self.start = start
        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(seed)
        self.x = torch.zeros(num_envs, device=self.device)
        self.t = torch.zeros(num_envs, dtype=torch.int64, device=self.device)

    def _draw(self):
        return (torch.rand(self.num_envs, generator=self.gen, device=self.device) * 2 - 1) * self.start

    def reset(self, seed=None):
        if seed is not None:
            self.gen.manual_seed(seed)
        self.x = self._draw()
        self.t.zero_()
        return self.x.unsqueeze(-1).clone()

    def step(self, actions):
        x = self.x + 0.1 * actions[:, 0].clamp(-1, 1)
        self.t += 1
        terminated = x.abs() > 1.0
        truncated = (self.t >= self.max_episode_steps) & ~terminated
        reward = 1.0 - x.abs()
        final_obs = x.unsqueeze(-1).clone()
        done = terminated | truncated
        self.x = torch.where(done, self._draw(), x)
        self.t = torch.where(done, torch.zeros_like(self.t), self.t)
        return StepOut(self.x.unsqueeze(-1).clone(), reward, terminated, truncated, final_obs)

    def close(self):
        pass


class WrongObs(Drift):
    """Claims obs_dim 3 but returns 1-wide observations."""

    obs_dim = 3


class Float64Obs(Drift):
    """Observations in float64 (the networks are float32: this crashed the first update)."""

    def reset(self, seed=None):
        return super().reset(seed).double()

    def step(self, actions):
        out = super().step(actions)
        return out._replace(obs=out.obs.double(), final_obs=out.final_obs.double())


class CloseNotCallable(Drift):
    """``close`` is an attribute, not a method (trained, saved, then crashed at the end)."""

    close = 5


class NoTimeLimit(Drift):
    """``max_episode_steps`` of infinity: no time limit."""

    def __init__(self, num_envs, device="cpu", seed=0, start=0.5):
        super().__init__(num_envs, device, seed, 20, start)
        self.max_episode_steps = float("inf")


class NeverEnds(Drift):
    """Claims a 20-step limit but never ends an episode (no truncation, x held in [-1, 1])."""

    def step(self, actions):
        self.x = (self.x + 0.1 * actions[:, 0].clamp(-1, 1)).clamp(-0.9, 0.9)
        never = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        obs = self.x.unsqueeze(-1).clone()
        return StepOut(obs, 1.0 - self.x.abs(), never, never, obs.clone())


class NanObs(Drift):
    """From its 200th step after a reset on, env 0 observes NaN: a broken simulation, whatever the policy does."""

    steps = 0

    def reset(self, seed=None):
        self.steps = 0
        return super().reset(seed)

    def step(self, actions):
        out = super().step(actions)
        self.steps += 1
        if self.steps >= 200:
            out.obs[0] = float("nan")
        return out


class NanReward(Drift):
    """From its 200th step after a reset on, env 0's reward is NaN (observations stay finite)."""

    steps = 0

    def reset(self, seed=None):
        self.steps = 0
        return super().reset(seed)

    def step(self, actions):
        out = super().step(actions)
        self.steps += 1
        if self.steps >= 200:
            out.reward[0] = float("nan")
        return out




def _overrides(class_name):
    return ["task=Cartpole", "task.name=Drift", f"+task.class_path=tests.tasks.test_custom_task:{class_name}",
            "~task.env", "+task.env.start=0.9", "train=CartPole-v1DQN", "num_envs=64", "num_eval_envs=64",
            "train.loop.eval_target=17.0", "train.loop.verify_episodes=1000", "train.loop.eval_interval=10",
            "max_iterations=600", "sim_device=cpu"]


def test_a_task_class_defined_in_a_test_file_trains_to_a_verified_bar(tmp_path):
    """Random pushes drift off within ~20 steps from |x| up to 0.9 (about 13 per episode); a policy that steers to 0
    earns > 17 of 20. The run loads the class, passes its task.env settings, and verifies 17 on 1,000 episodes."""
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), *_overrides("Drift"),
                           f"train_dir={tmp_path}"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads(proc.stdout.split("[isaac_rl] summary ", 1)[1].splitlines()[0])
    assert summary["solved_at"] is not None and summary["eval/verified_mean_return"] >= 17.0, summary
    assert summary["eval/verified_episodes"] == 1000


@pytest.mark.parametrize("overrides, message", [
    (["task.class_path=tests.tasks.test_custom_task:WrongObs"],
     "reset() -> obs has shape [64, 1]; the contract needs [64, 3]"),
    (["task.class_path=tests.tasks.test_custom_task:Nope"], "has no class 'Nope'"),
    (["task.class_path=no_such_package.mod:Task"], "cannot import 'no_such_package.mod'"),
    (["task.class_path=just_a_module"], "is not of the form package.module:ClassName"),
    (["+task.env.speed=2"], "invalid config: task.env.speed=2; allowed: a setting of the tests.tasks"),
    (["task.class_path=tests.tasks.test_custom_task:Float64Obs"],
     "reset() -> obs has dtype torch.float64; the contract needs torch.float32"),
    (["task.class_path=tests.tasks.test_custom_task:CloseNotCallable"],
     "close of CloseNotCallable must be a method (callable), got 5"),
    (["task.class_path=tests.tasks.test_custom_task:NoTimeLimit", "~task.env.start"],
     "max_episode_steps must be an int >= 1 (the time limit: every episode ends within it), got inf"),
    (["task.class_path=tests.tasks.test_custom_task:NeverEnds"],
     "64 of 64 envs did not end an episode within max_episode_steps=20 steps (constant efforts 0.0 from reset)"),
])
def test_a_task_class_that_breaks_the_contract_is_refused_before_training(tmp_path, overrides, message):
    cfg = compose_config(_overrides("Drift") + [f"train_dir={tmp_path}"] + overrides)
    with pytest.raises(ConfigError, match="invalid config: " if "task.env" not in message else "") as err:
        run_main(cfg)
    assert message.replace("\\", "") in str(err.value)
    assert not os.listdir(tmp_path)  # nothing was written


@pytest.mark.parametrize("class_name, what", [("NanObs", "observations"), ("NanReward", "rewards")])
def test_a_task_that_turns_non_finite_is_named_as_the_cause(tmp_path, class_name, what):
    """NaN from the env (env 0 from its 200th step: iteration 200 with the one training env of 64 envs, evaluations
    run on their own env) ends the run with exit code 3 naming what the env returned and its class, not a learning
    rate; nothing non-finite is saved."""
    overrides = [o for o in _overrides(class_name) if not o.startswith(("max_iterations", "train.loop.eval"))]
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train.py"), *overrides,
                           "max_iterations=400", "train.loop.eval_interval=25", "train.loop.log_interval=50",
                           "train.loop.eval_target=null", f"train_dir={tmp_path}"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("[isaac_rl] error: ")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert (f"the env returned non-finite {what} at iteration 200 (task class tests.tasks.test_custom_task."
            f"{class_name})") in errors[0], errors[0]
    assert "learning rate" not in errors[0]
