"""Isaac Lab's vectorised envs (direct and manager-based, e.g. ``Isaac-Cartpole-Direct``) behind the tensor contract.

Isaac Lab steps all envs as one batch and resets ended envs inside the same ``step``. What each version gives:

* Isaac Lab 3 (``isaaclab==3.0.0``, Python 3.12): with ``compute_final_obs=True`` in the env config (set here) it
  computes the pre-reset observation of the envs that reset on a step and publishes it as ``extras["final_obs"]``
  (a dict of observation groups, set only on steps with a reset and never cleared, so stale on later steps): its
  ``"policy"`` group, taken on the rows that ended this step, is ``StepOut.final_obs``, and a truncated episode
  bootstraps from its true last observation. Task ids have no version suffix (``Isaac-Cartpole-Direct``); the
  default physics is kit-less Newton (MuJoCo-Warp, CPU or CUDA), ``physics=`` picks another of the task's presets.
* Isaac Lab 2.x (Python 3.11, inside Isaac Sim): its env configs have no ``compute_final_obs`` and its ``step``
  returns only the post-reset observation, so a truncated episode's last observation is lost. Bootstrapping from
  the next episode's first observation instead would be silently wrong, so the adapter refuses, unless
  ``bootstrap_time_outs=False`` asks to treat time-outs as episode ends (no bootstrap: the target of a timed-out
  step is its reward alone). Ids carry ``-v0`` (``Isaac-Cartpole-Direct-v0``).

Ids of either form resolve on either version (a one-line note says which id was used). ``time_outs`` become
``truncated`` (minus the envs that also terminated). Observations are the ``"policy"`` group, flattened to
``[N, obs_dim]``; actions are passed through as ``[N, act_dim]`` (the env scales them: a direct task by its
``action_scale``, a manager-based one by its action terms' ``scale``; :func:`max_effort` reads that back).
``isaaclab`` is imported only here and in :mod:`isaac_rl.tasks.isaaclab_app`.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from typing import Any, Optional

import torch

from isaac_rl.core.checks import check_actions, check_num_envs
from isaac_rl.core.contract import ActionSpec, StepOut, canonical_device
from isaac_rl.core.errors import ConfigError, UserError
from isaac_rl.tasks import isaaclab_app

ASSET_PROBE_TIMEOUT_S = 5.0  # how long the reachability check of a remote asset root waits
UPGRADE = "Isaac Lab 3 publishes it (Python 3.12: `pip install isaaclab==3.0.0`)"


def _flat(obs: Any) -> torch.Tensor:
    """The ``"policy"`` group of an Isaac Lab observation (a dict of groups, or a tensor) as float ``[N, D]``."""
    if isinstance(obs, dict):
        obs = obs["policy"]
    return obs.reshape(obs.shape[0], -1).float()


def resolve_task_id(task_id: str, registered: Any) -> str:
    """The id under which this Isaac Lab registers ``task_id``: itself, or the same task in the other version's
    naming (3.x dropped the ``-v0`` suffix of 2.x), with a one-line note; :class:`ConfigError` naming similar ids
    for an unknown one."""
    if task_id in registered:
        return task_id
    bare = re.sub(r"-v\d+$", "", task_id)
    for other in (bare, bare + "-v0"):
        if other != task_id and other in registered:
            print(f"[isaac_rl] note: this Isaac Lab registers task.name={task_id!r} as {other!r}: using it (set "
                  f"task.name={other} to silence this)", flush=True)
            return other
    names = sorted(k for k in registered if str(k).startswith(("Isaac-", "IsaacContrib-")))
    close = difflib.get_close_matches(task_id, names, n=3, cutoff=0.5)
    raise ConfigError(f"invalid config: task.name={task_id!r} is not an Isaac Lab task; allowed: "
                      f"{', '.join(close) if close else ', '.join(names[:5])} or another of its {len(names)} "
                      "registered tasks (list them: python -c \"import gymnasium, isaaclab_tasks; "
                      "print([k for k in gymnasium.registry if k.startswith('Isaac')])\")")


def seed32(seed: int) -> int:
    """A seed Isaac Lab can take: it seeds numpy, which takes 32 bits. A seed below ``2**32`` as it is; a larger one
    (``seed=`` allows up to ``2**62``; verification adds ``2**31`` and more) hashed to 32 bits by numpy's
    ``SeedSequence``, so distinct large seeds stay distinct streams."""
    seed = int(seed)
    if 0 <= seed < 2 ** 32:
        return seed
    import numpy as np

    return int(np.random.SeedSequence(abs(seed)).generate_state(1)[0])


def max_effort(env_cfg: Any) -> float:
    """The physical effort at action 1 (``ActionSpec.max_effort``) that an Isaac Lab env config states: a direct
    task's ``action_scale`` (``Isaac-Cartpole-Direct``: 100 N), or the one float ``scale`` of a manager-based task's
    action terms (``Isaac-Cartpole``: ``actions.joint_effort.scale``, 100 N). 1.0 where it states none, or terms
    with different or per-joint (dict) scales: no one number says it then."""
    scales = [getattr(env_cfg, "action_scale", None)]
    if scales[0] is None:  # manager-based: its action terms' configs (each has a class_type and a scale)
        actions = getattr(env_cfg, "actions", None)
        fields = dataclasses.fields(actions) if dataclasses.is_dataclass(actions) else ()  # a @configclass
        terms = [t for t in (getattr(actions, f.name) for f in fields) if hasattr(t, "class_type")]
        scales = [getattr(t, "scale", None) for t in terms]
    if len(set(map(repr, scales))) == 1 and isinstance(scales[0], (int, float)) and not isinstance(scales[0], bool):
        return float(scales[0])
    return 1.0


def check_assets() -> None:
    """Say where Isaac Lab will read the task's USD assets from, before it starts: a local ``ISAACSIM_ASSET_ROOT``
    must be a folder; a remote root is announced and probed once (:data:`ASSET_PROBE_TIMEOUT_S`), so an unreachable
    server is one :class:`UserError` line now instead of Isaac Lab's retries and a ``FileNotFoundError`` later."""
    from isaaclab.utils import assets

    root = str(assets.NUCLEUS_ASSET_ROOT_DIR)
    if "://" not in root:
        if not os.path.isdir(root):
            raise UserError(f"Isaac Lab's asset root {root!r} (ISAACSIM_ASSET_ROOT) is not a folder; set "
                            "ISAACSIM_ASSET_ROOT to a local copy of the Isaac Sim assets (Isaac/IsaacLab/...), or "
                            "unset it to fetch them from NVIDIA's server")
        return
    print(f"[isaac_rl] Isaac Lab fetches the task's USD assets from {root} (set ISAACSIM_ASSET_ROOT to a local copy "
          "to run offline)", flush=True)
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(urllib.request.Request(root + "/", method="HEAD"), timeout=ASSET_PROBE_TIMEOUT_S)
    except urllib.error.HTTPError:
        return  # the server answered (a bucket answers 403/404 for a folder): reachable
    except (OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise UserError(f"Isaac Lab's USD assets are fetched from {root}, which cannot be reached from here "
                        f"({reason}); download the Isaac Sim assets and set ISAACSIM_ASSET_ROOT to their folder "
                        "(it holds Isaac/IsaacLab/...)") from None


class IsaacLabTask:
    """An Isaac Lab env of ``num_envs`` registered as ``task_id`` in gymnasium (by ``isaaclab_tasks``).

    Args:
        task_id: The Isaac Lab task name, e.g. ``Isaac-Cartpole-Direct`` (the run's ``task.name``; a 2.x id with
            ``-v0`` resolves on 3.x and the other way round).
        num_envs: Envs ``N`` (written into the env config).
        device: ``cpu`` or ``cuda:K`` (Isaac Lab's simulation device).
        seed: Seed of the env config and of the first reset.
        max_episode_steps: Accepted for the contract; Isaac Lab's own episode length rules (read back from it).
        headless: Start Isaac Sim (where the physics needs it) without a viewer.
        debug_checks: Also reject NaN/inf actions (a host sync per step on CUDA).
        physics: Isaac Lab 3's physics preset for the task (``newton_mjwarp``, ``isaacsim_physx``, ...; Isaac Lab's
            ``physics=`` override); ``None`` keeps the task's default (Newton, kit-less).
        bootstrap_time_outs: ``True``: a timed-out episode bootstraps from its final observation (needs Isaac Lab
            3); ``False``: time-outs end episodes like terminations (no bootstrap), the choice Isaac Lab 2.x leaves.
    """

    def __init__(self, task_id: str, num_envs: int, device: str = "cuda:0", seed: int = 0,
                 max_episode_steps: Optional[int] = None, headless: bool = True, debug_checks: bool = False,
                 physics: Optional[str] = None, bootstrap_time_outs: bool = True) -> None:
        self.num_envs = check_num_envs(num_envs)
        self.device = canonical_device(device)
        if not isaaclab_app.installed():
            raise ConfigError(f"invalid config: sim='isaaclab'; allowed: an installed backend: "
                              f"{isaaclab_app.INSTALL_HELP}")
        kit_always = isaaclab_app.kit_always()
        if physics is not None and kit_always:
            raise ConfigError(f"invalid config: task.env.physics={physics!r}; allowed: null with Isaac Lab 2.x (it "
                              "runs PhysX inside Isaac Sim; physics presets came with Isaac Lab 3)")
        try:
            if kit_always:
                isaaclab_app.launch(headless)
            import gymnasium as gym
            import isaaclab_tasks  # noqa: F401  (registers the Isaac Lab tasks with gymnasium)
            from isaaclab_tasks.utils import parse_env_cfg

            task_id = resolve_task_id(task_id, gym.registry)
            overrides = [f"physics={physics}"] if physics is not None else []
            try:
                env_cfg = (parse_env_cfg(task_id, device=str(self.device), num_envs=num_envs, overrides=overrides)
                           if overrides else parse_env_cfg(task_id, device=str(self.device), num_envs=num_envs))
            except ValueError as err:  # Isaac Lab's "Unknown preset(s): ..." with the task's presets
                raise ConfigError(f"invalid config: task.env.physics={physics!r}; allowed: what Isaac Lab lists "
                                  f"for {task_id}: {' '.join(str(err).split())}") from None
            self.final_obs_published = hasattr(env_cfg, "compute_final_obs")  # Isaac Lab 3
            if bootstrap_time_outs and not self.final_obs_published:
                raise ConfigError(
                    f"invalid config: task.env.bootstrap_time_outs=True; allowed: False with "
                    f"{isaaclab_app._version_text()}, whose envs publish no final observation (no "
                    "compute_final_obs / extras['final_obs']), so a timed-out episode's last observation is lost: "
                    f"{UPGRADE}, or set task.env.bootstrap_time_outs=False to end episodes at time-outs without "
                    "bootstrapping")
            check_assets()
            if self.final_obs_published:
                env_cfg.compute_final_obs = True  # extras["final_obs"]: the pre-reset obs of same-step resets
                isaaclab_app.launch_for(env_cfg, headless)
        except ImportError as err:
            raise ConfigError(f"invalid config: sim='isaaclab'; {err}") from None
        env_cfg.seed = seed32(seed)
        try:
            self.gym_env = gym.make(task_id, cfg=env_cfg)
        except FileNotFoundError as err:
            raise UserError(f"an Isaac Lab asset of {task_id} is missing ({' '.join(str(err).split())}); "
                            "ISAACSIM_ASSET_ROOT must hold a copy of the Isaac Sim assets (Isaac/IsaacLab/...)") \
                from None
        self.task_id, self.bootstrap_time_outs = task_id, bool(bootstrap_time_outs)
        self.env = self.gym_env.unwrapped
        self.max_episode_steps = int(self.env.max_episode_length)
        obs, _ = self.env.reset(seed=seed32(seed))
        self.obs_dim = int(_flat(obs).shape[-1])
        act_dim = int(self.env.single_action_space.shape[-1]) if hasattr(self.env, "single_action_space") else int(
            self.env.action_space.shape[-1])
        self.action_spec = ActionSpec(dim=act_dim, max_effort=max_effort(env_cfg))
        self._check_values = debug_checks
        self._seed = int(seed)

    def reset(self, seed: Optional[int] = None) -> torch.Tensor:
        """Reset every env (Isaac Lab reseeds with ``seed``, folded to 32 bits by :func:`seed32`); float
        ``[N, obs_dim]``."""
        obs, _ = self.env.reset(seed=seed32(self._seed if seed is None else seed))
        return _flat(obs)

    def step(self, actions: torch.Tensor) -> StepOut:
        """One batched step; ended envs are already reset. ``final_obs`` is Isaac Lab's pre-reset observation on the
        rows that ended this step (its ``extras["final_obs"]`` is stale elsewhere), ``obs`` on the others. With
        ``bootstrap_time_outs=False`` time-outs count as terminations and ``final_obs`` of ended rows is whatever
        this Isaac Lab gives (2.x: the next episode's first observation; no learner reads it, as ended rows are not
        bootstrapped)."""
        actions = check_actions(actions, self.num_envs, self.action_spec, self.device, self._check_values)
        obs, reward, terminated, time_outs, extras = self.env.step(actions)
        obs = _flat(obs)
        terminated, time_outs = terminated.bool(), time_outs.bool()
        done = terminated | time_outs
        final = extras.get("final_obs") if isinstance(extras, dict) else None
        final_obs = obs if final is None else torch.where(done.unsqueeze(-1), _flat(final), obs)
        if not self.bootstrap_time_outs:
            terminated, time_outs = done, torch.zeros_like(done)
        return StepOut(obs, reward.float().reshape(-1), terminated, time_outs & ~terminated, final_obs)

    def close(self) -> None:
        """Close the env (a started Isaac Sim stays up for the rest of the process)."""
        self.gym_env.close()
