"""Local stand-ins for the two USD assets Isaac Lab 3's cart-poles read, so they run offline.

Isaac Lab fetches its USD assets from NVIDIA's asset server at run time, or from ``ISAACSIM_ASSET_ROOT``.
:func:`build_asset_stand_ins` writes, under a folder of the caller's, the robot and a collision ground plane built from
the flattened cart-pole stage Isaac Lab's wheel ships for its own tests: nothing of NVIDIA's is in this repository.
Used by ``tests/tasks/test_isaaclab_real.py`` and ``scripts/peers/isaaclab_rsl_rl_ppo.py``; needs Isaac Lab 3
(``pxr`` comes with it).
"""

import glob
import importlib.util
import os


def build_asset_stand_ins(root: str) -> None:
    """Write ``Isaac/IsaacLab/Robots/Classic/Cartpole/cartpole.usd`` (the robot prim of Isaac Lab's flattened
    cart-pole test stage and the prototypes its instanced visuals reference, turned into ``class`` prims) and
    ``Isaac/IsaacLab/Environments/Grid/default_ground_plane_checker_v1/default_ground_plane.usda`` (an Xform holding
    a collision plane) under ``root``: the two assets ``Isaac-Cartpole-Direct`` and ``Isaac-Cartpole`` read."""
    from pxr import Sdf, Usd, UsdGeom, UsdPhysics

    package = importlib.util.find_spec("isaaclab").submodule_search_locations[0]
    stages = sorted(glob.glob(os.path.join(package, "source", "isaaclab_tasks", "test", "golden_stages", "cartpole",
                                           "newton-*.usda")))
    assert stages, f"Isaac Lab's cart-pole test stage is not in {package}"
    source = Sdf.Layer.FindOrOpen(stages[0])
    robots = os.path.join(root, "Isaac", "IsaacLab", "Robots", "Classic", "Cartpole")
    os.makedirs(robots)
    robot = Sdf.Layer.CreateNew(os.path.join(robots, "cartpole.usd"))
    assert Sdf.CopySpec(source, "/World/envs/env_0/Robot", robot, "/cartpole")
    for prim in source.rootPrims:
        if prim.name.startswith("Flattened_Prototype_"):
            assert Sdf.CopySpec(source, prim.path, robot, prim.path)
            robot.GetPrimAtPath(prim.path).specifier = Sdf.SpecifierClass
    robot.defaultPrim = "cartpole"
    robot.Save()
    grid = os.path.join(root, "Isaac", "IsaacLab", "Environments", "Grid", "default_ground_plane_checker_v1")
    os.makedirs(grid)
    stage = Usd.Stage.CreateNew(os.path.join(grid, "default_ground_plane.usda"))
    UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.z)
    stage.SetDefaultPrim(UsdGeom.Xform.Define(stage, "/GroundPlane").GetPrim())
    plane = UsdGeom.Plane.Define(stage, "/GroundPlane/CollisionPlane")
    plane.CreateAxisAttr("Z")
    UsdPhysics.CollisionAPI.Apply(plane.GetPrim())
    stage.Save()
