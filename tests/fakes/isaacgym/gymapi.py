"""Fake gymapi: records the calls and simulates the cart-pole DOFs with the torch physics."""

import types

import numpy as np
import torch

UP_AXIS_Z, SIM_PHYSX, DOF_MODE_EFFORT, DOF_MODE_NONE = 1, 0, 3, 0
CALLS = []


class Vec3:
    def __init__(self, x=0.0, y=0.0, z=0.0):
        self.x, self.y, self.z = x, y, z


class Quat:
    def __init__(self, x=0.0, y=0.0, z=0.0, w=1.0):
        self.x, self.y, self.z, self.w = x, y, z, w


class Transform:
    def __init__(self):
        self.p, self.r = Vec3(), Quat()


class SimParams:
    def __init__(self):
        self.physx = types.SimpleNamespace()


class PlaneParams:
    pass


class AssetOptions:
    pass


class _Gym:
    def __init__(self):
        self.n = 0
        self.params = None

    def create_sim(self, compute, graphics, kind, params):
        CALLS.append(("create_sim", compute, graphics))
        self.params = params
        return "sim"

    def add_ground(self, sim, plane):
        CALLS.append(("add_ground",))

    def load_asset(self, sim, root, name, options):
        import os
        assert os.path.isfile(os.path.join(root, name)), (root, name)
        return "asset"

    def create_env(self, sim, lower, upper, per_row):
        self.n += 1
        return self.n - 1

    def create_actor(self, env, asset, pose, name, group, mask, seg):
        return 0

    def get_actor_dof_properties(self, env, actor):
        return {"driveMode": np.zeros(2, np.int32), "stiffness": np.ones(2), "damping": np.ones(2)}

    def set_actor_dof_properties(self, env, actor, props):
        assert props["driveMode"].tolist() == [DOF_MODE_EFFORT, DOF_MODE_NONE]
        assert props["damping"].tolist() == [0.0, 0.0] and props["stiffness"].tolist() == [0.0, 0.0]

    def prepare_sim(self, sim):
        from isaac_rl.tasks.cartpole import IsaacCartpole
        self.physics = IsaacCartpole(self.n, dt=self.params.dt, substeps=self.params.substeps)
        self.dof_state = torch.zeros(self.n * 2, 2)
        self.forces = torch.zeros(self.n * 2)

    def acquire_dof_state_tensor(self, sim):
        return self.dof_state

    def set_dof_actuation_force_tensor(self, sim, forces):
        self.forces = forces.clone()

    def set_dof_state_tensor(self, sim, state):
        self.dof_state.copy_(state)

    def simulate(self, sim):
        s = self.dof_state.view(self.n, 2, 2)
        state = torch.stack((s[:, 0, 0], s[:, 0, 1], s[:, 1, 0], s[:, 1, 1]))
        nxt = self.physics.physics(state, self.forces[::2] / self.physics.max_effort)
        s[:, 0, 0], s[:, 0, 1], s[:, 1, 0], s[:, 1, 1] = nxt

    def fetch_results(self, sim, wait):
        pass

    def refresh_dof_state_tensor(self, sim):
        pass

    def destroy_sim(self, sim):
        CALLS.append(("destroy_sim",))


def acquire_gym():
    return _Gym()
