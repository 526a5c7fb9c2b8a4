"""The real Isaac Gym (Preview 4) PhysX Cartpole behind the tensor contract.

Scene, sim parameters and tensor API calls follow IsaacGymEnvs' ``Cartpole`` task
(``isaacgymenvs/tasks/cartpole.py`` and ``cfg/task/Cartpole.yaml``): TGS solver with 4/0 iterations, dt 0.0166 s with 2
substeps, z up, effort drive on the cart DOF, no stiffness or damping, headless with graphics device -1, GPU
pipeline on CUDA. Two deliberate differences from IsaacGymEnvs, both fixes of its known pitfalls:

* Reset happens inside the same ``step``: after ``simulate`` we read the state, compute reward and failure, keep the
  true final observation, then write fresh states for the envs that ended with ``set_dof_state_tensor``. We write all
  rows (the unchanged ones with the state just read) rather than ``set_dof_state_tensor_indexed`` on ``nonzero()``
  ids, which would need a host sync every step.
* The time limit is reported as ``truncated``, separate from ``terminated``.

``isaacgym`` is imported only when this backend is constructed. It must be imported before torch
(``scripts/train.py sim=isaacgym`` does so); otherwise a clear error says what to do.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Tuple

import torch

from isaac_rl.core.checks import check_actions, check_num_envs
from isaac_rl.core.contract import ActionSpec, StepOut, canonical_device
from isaac_rl.tasks.cartpole import IsaacCartpole, isaac_cartpole_reward

ASSET_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")


def import_isaacgym() -> Tuple[Any, Any]:
    """Return ``(gymapi, gymtorch)`` or raise an error that says how to fix the installation or import order."""
    try:
        from isaacgym import gymapi, gymtorch
    except ImportError as err:
        if "imported before isaacgym" in str(err):
            raise ImportError(
                "isaacgym must be imported before torch. Start training with `python scripts/train.py "
                "sim=isaacgym ...` (it imports isaacgym first), or put `import isaacgym` at the top of your script."
            ) from err
        raise ImportError(
            "sim=isaacgym needs NVIDIA Isaac Gym Preview 4, which is not on PyPI: download it from "
            "https://developer.nvidia.com/isaac-gym, then `pip install -e isaacgym/python` in a Python 3.6-3.8 "
            f"environment with an NVIDIA driver (import failed: {err}). Use sim=torch for the built-in physics."
        ) from err
    return gymapi, gymtorch


class IsaacGymCartpole:
    """Isaac Gym PhysX Cartpole. Observations ``[N, 4] = [x, x_dot, theta, theta_dot]`` clipped to +-5.

    Args:
        num_envs: Number of envs ``N``.
        device: ``"cuda:K"`` (GPU PhysX and GPU pipeline) or ``"cpu"`` (CPU PhysX).
        seed: Seed of the reset-noise generator.
        max_episode_steps: Time limit (500 in IsaacGymEnvs).
        graphics_device_id: -1 for headless (no rendering context).
        dt, substeps, max_effort, reset_dist, env_spacing: IsaacGymEnvs ``Cartpole.yaml`` values.
    """

    obs_dim = 4
    reward_max = 1.0  # per step, for early-out evaluation
    obs_clip = 5.0

    def __init__(self, num_envs: int, device: str = "cuda:0", seed: int = 0, max_episode_steps: int = 500,
                 graphics_device_id: int = -1, dt: float = 0.0166, substeps: int = 2, max_effort: float = 400.0,
                 reset_dist: float = 3.0, env_spacing: float = 4.0, debug_checks: bool = False) -> None:
        self.num_envs = check_num_envs(num_envs)
        self.device = canonical_device(device)
        self.max_episode_steps = max_episode_steps
        self.action_spec = ActionSpec(dim=1, max_effort=max_effort)
        self.max_effort, self.reset_dist = max_effort, reset_dist
        self._check_values = debug_checks or self.device.type == "cpu"
        _, self._gymtorch = import_isaacgym()
        from isaacgym import gymapi  # typed by isaacgym-stubs (mypy in CI)

        self.gym = gymapi.acquire_gym()
        self.sim = self._create_sim(graphics_device_id, dt, substeps)
        self._create_envs(env_spacing)
        self.gym.prepare_sim(self.sim)
        self.dof_state = self._gymtorch.wrap_tensor(self.gym.acquire_dof_state_tensor(self.sim))  # [N*2, 2]
        self.dof_pos = self.dof_state.view(num_envs, 2, 2)[..., 0]  # [N, 2]: cart x, pole theta
        self.dof_vel = self.dof_state.view(num_envs, 2, 2)[..., 1]
        self.forces = torch.zeros(num_envs * 2, dtype=torch.float32, device=self.device)
        self.progress = torch.zeros(num_envs, dtype=torch.int32, device=self.device)
        self._gen = torch.Generator(device=self.device)
        self._gen.manual_seed(int(seed))
        # IsaacGymEnvs' reset noise, shared with the torch preset; state order [x, x_dot, theta, theta_dot] -> [N, 4]
        low = torch.tensor(IsaacCartpole._reset_low, device=self.device)
        self._reset_min, self._reset_span = low, torch.tensor(IsaacCartpole._reset_high, device=self.device) - low

    def _create_sim(self, graphics_device_id: int, dt: float, substeps: int) -> Any:
        from isaacgym import gymapi

        params = gymapi.SimParams()
        params.dt, params.substeps = dt, substeps
        params.up_axis = gymapi.UP_AXIS_Z
        params.gravity = gymapi.Vec3(0.0, 0.0, -9.81)
        params.use_gpu_pipeline = self.device.type == "cuda"
        params.physx.use_gpu = self.device.type == "cuda"
        params.physx.solver_type = 1
        params.physx.num_position_iterations = 4
        params.physx.num_velocity_iterations = 0
        params.physx.contact_offset = 0.02
        params.physx.rest_offset = 0.001
        params.physx.bounce_threshold_velocity = 0.2
        params.physx.max_depenetration_velocity = 100.0
        compute_id = self.device.index or 0
        sim = self.gym.create_sim(compute_id, graphics_device_id, gymapi.SIM_PHYSX, params)
        if sim is None:
            raise RuntimeError(f"Isaac Gym could not create a PhysX sim on {self.device}")
        plane = gymapi.PlaneParams()
        plane.normal = gymapi.Vec3(0.0, 0.0, 1.0)
        self.gym.add_ground(sim, plane)
        return sim

    def _create_envs(self, spacing: float) -> None:
        from isaacgym import gymapi

        options = gymapi.AssetOptions()
        options.fix_base_link = True
        asset = self.gym.load_asset(self.sim, ASSET_ROOT, "cartpole.urdf", options)
        pose = gymapi.Transform()
        pose.p = gymapi.Vec3(0.0, 0.0, 2.0)
        pose.r = gymapi.Quat(0.0, 0.0, 0.0, 1.0)
        lower, upper = gymapi.Vec3(-0.5 * spacing, -spacing, 0.0), gymapi.Vec3(0.5 * spacing, spacing, spacing)
        per_row = int(self.num_envs ** 0.5)
        for i in range(self.num_envs):  # scene construction, once, not in the hot loop
            env = self.gym.create_env(self.sim, lower, upper, per_row)
            actor = self.gym.create_actor(env, asset, pose, "cartpole", i, 1, 0)
            props = self.gym.get_actor_dof_properties(env, actor)
            props["driveMode"][0] = gymapi.DOF_MODE_EFFORT
            props["driveMode"][1] = gymapi.DOF_MODE_NONE
            props["stiffness"][:] = 0.0
            props["damping"][:] = 0.0
            self.gym.set_actor_dof_properties(env, actor, props)

    def _fresh(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """Reset noise for every env (``IsaacCartpole``'s ranges): positions ``[x, theta]`` and velocities
        ``[x_dot, theta_dot]``, each ``[N, 2]``."""
        u = torch.rand((self.num_envs, 4), generator=self._gen, device=self.device)
        state = torch.addcmul(self._reset_min, u, self._reset_span)  # [N, 4]: x, x_dot, theta, theta_dot
        return state[:, 0::2], state[:, 1::2]

    def _obs(self) -> torch.Tensor:
        return torch.stack((self.dof_pos[:, 0], self.dof_vel[:, 0], self.dof_pos[:, 1], self.dof_vel[:, 1]), dim=-1)

    def _write_state(self) -> None:
        self.gym.set_dof_state_tensor(self.sim, self._gymtorch.unwrap_tensor(self.dof_state))

    def reset(self, seed: Optional[int] = None) -> torch.Tensor:
        """Reset every env with fresh noise; returns float32 ``[N, 4]``."""
        if seed is not None:
            self._gen.manual_seed(int(seed))
        pos, vel = self._fresh()
        self.dof_pos.copy_(pos)
        self.dof_vel.copy_(vel)
        self._write_state()
        self.progress.zero_()
        return self._obs().clamp(-self.obs_clip, self.obs_clip)

    def step(self, actions: torch.Tensor) -> StepOut:
        """Apply ``clamp(actions, -1, 1) * 400 N`` to the carts (float ``[N, 1]``), simulate, auto-reset."""
        actions = check_actions(actions, self.num_envs, self.action_spec, self.device, self._check_values)
        self.forces[::2] = actions[:, 0].clamp(-1.0, 1.0) * self.max_effort
        self.gym.set_dof_actuation_force_tensor(self.sim, self._gymtorch.unwrap_tensor(self.forces))
        self.gym.simulate(self.sim)
        if self.device.type == "cpu":
            self.gym.fetch_results(self.sim, True)
        self.gym.refresh_dof_state_tensor(self.sim)
        raw = self._obs()
        x, x_dot, th, th_dot = raw.unbind(-1)
        reward, terminated = isaac_cartpole_reward(x, x_dot, th, th_dot, reset_dist=self.reset_dist)
        self.progress += 1
        timeout = self.progress >= self.max_episode_steps
        done = terminated | timeout
        pos, vel = self._fresh()
        self.dof_pos.copy_(torch.where(done.unsqueeze(-1), pos, self.dof_pos))
        self.dof_vel.copy_(torch.where(done.unsqueeze(-1), vel, self.dof_vel))
        self._write_state()
        self.progress.masked_fill_(done, 0)
        clip = self.obs_clip
        return StepOut(self._obs().clamp(-clip, clip), reward, terminated, timeout & ~terminated,
                       raw.clamp(-clip, clip))

    def close(self) -> None:
        """Destroy the PhysX sim."""
        self.gym.destroy_sim(self.sim)
