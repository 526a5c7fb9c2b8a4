"""Fake ``isaaclab_tasks``: registers ``Isaac-Cartpole-Direct-v0`` with gymnasium, a DirectRLEnv-like env driven by
the torch Isaac-preset physics: same-step resets, ``time_outs``, and ``extras["final_obs"]`` (a dict with the
``"policy"`` group, as Isaac Lab publishes it) when the env config asks for ``compute_final_obs``."""

import gymnasium as gym

from isaac_rl.tasks.cartpole import IsaacCartpole


class CartpoleEnvCfg:
    episode_length_steps = 300  # 5 s at 60 Hz (tests shorten it)
    action_scale = 100.0

    def __init__(self, device="cuda:0", num_envs=4096):
        self.sim_device, self.num_envs, self.seed = device, num_envs, None
        self.compute_final_obs = False


class FakeDirectRLEnv(gym.Env):
    """Observation dict ``{"policy": [N, 4]}``, actions ``[N, 1]``, 300-step episodes (``time_outs``)."""

    def __init__(self, cfg, render_mode=None):
        self.cfg = cfg
        self.max_episode_length = cfg.episode_length_steps
        self.physics = IsaacCartpole(cfg.num_envs, device=cfg.sim_device, max_episode_steps=self.max_episode_length)
        self.single_action_space = gym.spaces.Box(-1.0, 1.0, (1,))
        self.steps = 0

    def reset(self, seed=None, options=None):
        return {"policy": self.physics.reset(seed).clone()}, {}

    def step(self, action):
        self.steps += 1
        out = self.physics.step(action)
        extras = {"log": {}}
        if self.cfg.compute_final_obs:
            extras["final_obs"] = {"policy": out.final_obs.clone()}
        return {"policy": out.obs.clone()}, out.reward, out.terminated, out.truncated, extras


gym.register(id="Isaac-Cartpole-Direct-v0", entry_point=FakeDirectRLEnv, disable_env_checker=True)
