"""Fake ``isaaclab_tasks`` of Isaac Lab 2.x: registers ``Isaac-Cartpole-Direct-v0`` (2.x ids carry ``-v0``) with
gymnasium, a DirectRLEnv-like env driven by the torch Isaac-preset physics: same-step resets and ``time_outs``. As in
2.x, the env config has no ``compute_final_obs`` and ``step`` publishes no ``extras["final_obs"]``: the observation
of an env that ended is already the next episode's first."""

import gymnasium as gym

from isaac_rl.tasks.cartpole import IsaacCartpole


class CartpoleEnvCfg:
    episode_length_steps = 300  # 5 s at 60 Hz (tests shorten it)
    action_scale = 100.0

    def __init__(self, device="cuda:0", num_envs=4096):
        self.sim_device, self.num_envs, self.seed = device, num_envs, None


class FakeDirectRLEnv(gym.Env):
    """Observation dict ``{"policy": [N, 4]}``, actions ``[N, 1]``, 300-step episodes (``time_outs``)."""

    def __init__(self, cfg, render_mode=None):
        self.cfg = cfg
        self.max_episode_length = cfg.episode_length_steps
        self.physics = IsaacCartpole(cfg.num_envs, device=cfg.sim_device, max_episode_steps=self.max_episode_length)
        self.single_action_space = gym.spaces.Box(-1.0, 1.0, (1,))

    def reset(self, seed=None, options=None):
        return {"policy": self.physics.reset(seed).clone()}, {}

    def step(self, action):
        out = self.physics.step(action)  # out.final_obs exists in the physics, not in what 2.x returns
        return {"policy": out.obs.clone()}, out.reward, out.terminated, out.truncated, {"log": {}}


gym.register(id="Isaac-Cartpole-Direct-v0", entry_point=FakeDirectRLEnv, disable_env_checker=True)
