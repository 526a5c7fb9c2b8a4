"""mjlab's manager-based envs (Isaac Lab's manager API on MuJoCo-Warp; ``pip install mjlab``, Python >= 3.10) behind
the tensor contract (``sim=mjlab``), e.g. ``Mjlab-Cartpole-Balance`` and ``Mjlab-Cartpole-Swingup``.

mjlab steps all envs as one batch with Warp (CPU or CUDA). Its own auto-reset returns only the post-reset
observation of an env whose episode ended and keeps no final observation, so the adapter builds the env with
``auto_reset=False``: mjlab's ``step`` then returns the true terminal observation of the ended envs, and the adapter
resets exactly those (``reset(env_ids=...)``) inside the same ``step``. ``StepOut.final_obs`` is that terminal
observation on the ended rows and ``obs`` the next episode's first one, so a truncated (timed-out) episode
bootstraps from its true last state, as the contract asks.

Observations are mjlab's ``"actor"`` group, float ``[N, obs_dim]`` (the cart-poles: cart position, cos and sin of
the pole angle, cart and pole velocities: 5). Actions are passed through as mjlab's raw actions ``[N, act_dim]``
(the cart-poles': the motor control in [-1, 1], times the motor's gear, 10 N). Rewards are mjlab's, multiplied by the
step time as mjlab does (0.05 s for the cart-poles: dm_control's reward in [0, 1] per step becomes at most 0.05, 50
per 1000-step episode). mjlab's ``terminated`` and ``time_outs`` become ``terminated`` and ``truncated``.

Training envs (``random_auto_reset``, the default; the trainer clears it on its evaluation envs) start their envs'
episodes staggered, as mjlab's own training does, and may end them early (``train_episode_steps``, truncated and
bootstrapped): mjlab's cart-pole balance runs 1000-step episodes at 20 Hz, the pole falls within ~20 steps until the
policy balances, and a learner that sees a fresh start only once per 1000 steps does not learn it (measured: see
``cfg/task/MjlabCartpoleBalance.yaml``). Evaluation envs run mjlab's episodes unchanged.

Randomness: mjlab draws its reset states from torch's global generator of the device (and reseeds it, with numpy's
and Python's, when given a seed). Each adapter keeps its own generator state and swaps it in around its resets, so
an env's starts follow from its ``seed`` alone, and neither a second env nor the trainer's own draws shift them.
``mjlab`` is imported only here, when an env is built.
"""

from __future__ import annotations

import difflib
import math
from typing import Any, Callable, Optional

import torch

from isaac_rl.core.checks import check_actions, check_num_envs
from isaac_rl.core.contract import ActionSpec, StepOut, canonical_device
from isaac_rl.core.errors import ConfigError

INSTALL_HELP = ("sim=mjlab needs mjlab (Isaac Lab's API on MuJoCo-Warp; Python 3.10 to 3.13): `pip install "
                "torch==2.13.0 mjlab` (name the torch you want, or pip pulls a CUDA build of several GB); or use "
                "sim=torch (built-in physics)")
OBS_GROUP = "actor"  # mjlab's policy observation group ("critic" is the privileged one)
REWARD_MAX = {"Mjlab-Cartpole-Balance": 1.0, "Mjlab-Cartpole-Swingup": 1.0}  # per step, before the step-time scale


def _registry() -> Any:
    """mjlab's task registry, with its tasks registered (``ConfigError`` naming the install when mjlab is absent)."""
    try:
        import mjlab.tasks  # noqa: F401  (registers mjlab's tasks)
        from mjlab.tasks import registry
    except ImportError as err:
        raise ConfigError(f"invalid config: sim='mjlab'; allowed: an installed backend: {INSTALL_HELP} (import "
                          f"failed: {err})") from None
    return registry


def check_task_id(task_id: str, registered: Any) -> str:
    """``task_id`` if mjlab registers it, else :class:`ConfigError` naming the closest registered ids."""
    names = sorted(registered)
    if task_id in names:
        return task_id
    close = difflib.get_close_matches(str(task_id), names, n=3, cutoff=0.5)
    raise ConfigError(f"invalid config: task.name={task_id!r} is not an mjlab task; allowed: "
                      f"{', '.join(close or names[:5])} or another of its {len(names)} registered tasks (list them: "
                      "python -c \"import mjlab.tasks; from mjlab.tasks.registry import list_tasks; "
                      "print(list_tasks())\")")


class MjlabTask:
    """An mjlab env of ``num_envs`` built from the task ``task_id`` registers (its training config).

    Args:
        task_id: The mjlab task, e.g. ``Mjlab-Cartpole-Balance`` (the run's ``task.name``).
        num_envs: Envs ``N`` (written into the env config).
        device: ``cpu`` or ``cuda:K`` (Warp's device for MuJoCo-Warp, and where every tensor lives).
        seed: Seed of this env's generator (its reset states); ``reset(seed)`` restarts it.
        max_episode_steps: Accepted for the contract; mjlab's episode length rules (read back from it).
        scale_rewards_by_dt: mjlab's own setting: ``True`` multiplies each step's reward by the step time (mjlab's
            default; the cart-poles: at most 0.05 per step), ``False`` leaves the task's reward as it is (the
            cart-poles: dm_control's, at most 1 per step).
        train_episode_steps: With ``random_auto_reset`` (a training env), end (truncate) episodes after this many
            steps instead of mjlab's ``max_episode_steps``; ``None``: mjlab's. A truncated episode bootstraps from its
            true last observation, so the values learned are those of mjlab's episodes (up to the discount's horizon:
            choose it well above ``1 / (1 - gamma)``), while the learner sees ``max_episode_steps /
            train_episode_steps`` times as many fresh starts. Evaluation envs always run mjlab's full episodes.
        debug_checks: Also reject NaN/inf actions (a host sync per step on CUDA).

    Attributes:
        random_auto_reset: ``True`` (a training env): ``reset`` staggers the envs' episodes (see ``reset``), so that
            every step some envs start afresh; otherwise all envs would time out together and a learner would see
            fresh starts only once per episode length (the cart-pole balance: once per 1,000 steps, and the pole
            falls in the first ~20 of them while it cannot yet balance). ``False`` (set on evaluation envs by the
            trainer, and by ``play``): every episode runs its full length.
    """

    random_auto_reset: bool = True

    def __init__(self, task_id: str, num_envs: int, device: str = "cpu", seed: int = 0,
                 max_episode_steps: Optional[int] = None, scale_rewards_by_dt: bool = True,
                 train_episode_steps: Optional[int] = None, debug_checks: bool = False) -> None:
        self.num_envs = check_num_envs(num_envs)
        self.device = canonical_device(device)
        registry = _registry()
        from mjlab.envs import ManagerBasedRlEnv

        self.task_id = check_task_id(task_id, registry.list_tasks())
        cfg = registry.load_env_cfg(self.task_id)
        cfg.scene.num_envs = self.num_envs
        cfg.seed = None  # mjlab would reseed the process-wide generators; this env has its own (_draw)
        cfg.auto_reset = False  # step returns the terminal observation; resets are done here (step)
        cfg.scale_rewards_by_dt = bool(scale_rewards_by_dt)
        episode_steps = math.ceil(cfg.episode_length_s / (cfg.sim.mujoco.timestep * cfg.decimation))  # mjlab's rule
        self._train_steps = self._check_train_steps(train_episode_steps, episode_steps)  # before any work
        self._rng = torch.Generator(device=self.device)
        self._rng.manual_seed(int(seed))
        self._seed = int(seed)
        self.env = self._draw(lambda: ManagerBasedRlEnv(cfg, device=str(self.device)))
        self.max_episode_steps = int(self.env.max_episode_length)
        self.control_dt = float(self.env.step_dt)
        if self.task_id in REWARD_MAX:
            self.reward_max = REWARD_MAX[self.task_id] * (self.control_dt if cfg.scale_rewards_by_dt else 1.0)
        obs = self.reset(seed)
        self.obs_dim = int(obs.shape[-1])
        self.action_spec = ActionSpec(dim=int(self.env.single_action_space.shape[-1]), max_effort=self._gear(cfg))
        self._check_values = debug_checks

    def _check_train_steps(self, steps: Optional[int], episode_steps: int) -> Optional[int]:
        """``train_episode_steps`` if it is None or a whole number in ``[1, episode_steps]`` (mjlab's episode
        length), else ConfigError."""
        if steps is None:
            return None
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= episode_steps:
            raise ConfigError(f"invalid config: task.env.train_episode_steps={steps!r}; allowed: null or a whole "
                              f"number from 1 to {self.task_id}'s episode length, {episode_steps}")
        return steps

    def _limit(self) -> int:
        """The episode length this env runs: ``train_episode_steps`` in a training env that sets it, else mjlab's."""
        return self._train_steps if self._train_steps is not None and self.random_auto_reset else \
            self.max_episode_steps

    def _gear(self, cfg: Any) -> float:
        """The physical effort at action 1 where one unscaled effort action drives the one motor (the cart-poles:
        its gear, 10 N); else 1.0 (mjlab's action terms scale the raw actions their own way)."""
        terms = list(cfg.actions.values())
        model = self.env.sim.mj_model
        if (len(terms) == 1 and type(terms[0]).__name__ == "JointEffortActionCfg" and terms[0].scale == 1.0
                and model.nu == 1):
            return float(model.actuator_gear[0, 0])
        return 1.0

    def _draw(self, fn: Callable[[], Any]) -> Any:
        """``fn()`` with torch's global generator of this env's device set to this env's own state (mjlab draws its
        reset states there), which is advanced; the caller's generator state is restored afterwards."""
        cuda = self.device.type == "cuda"
        with torch.random.fork_rng(devices=[self.device] if cuda else []):
            if cuda:
                torch.cuda.set_rng_state(self._rng.get_state(), self.device)
            else:
                torch.set_rng_state(self._rng.get_state())
            out = fn()
            self._rng.set_state(torch.cuda.get_rng_state(self.device) if cuda else torch.get_rng_state())
        return out

    def _obs(self, obs: Any) -> torch.Tensor:
        return obs[OBS_GROUP].reshape(self.num_envs, -1).float()

    def reset(self, seed: Optional[int] = None) -> torch.Tensor:
        """Reset every env, their starts drawn from this env's generator (restarted from ``seed`` when given);
        float ``[N, obs_dim]``. With ``random_auto_reset`` each env's first episode is then cut short at a random
        step (its step counter starts at a random value in ``[0, max_episode_steps)``, drawn from this env's
        generator; ``[0, train_episode_steps)`` where set), as mjlab's own training does (``init_at_random_ep_len``)."""
        if seed is not None:
            self._seed = int(seed)
            self._rng.manual_seed(self._seed)
        obs, _ = self._draw(self.env.reset)
        if self.random_auto_reset:
            buf = self.env.episode_length_buf
            buf.copy_(torch.randint(0, self._limit(), buf.shape, generator=self._rng, device=self.device))
        return self._obs(obs)

    def step(self, actions: torch.Tensor) -> StepOut:
        """One batched step; the envs whose episode ended are reset here. ``final_obs`` is mjlab's terminal
        observation on those rows, ``obs`` the next episode's first (``final_obs`` equals ``obs`` elsewhere)."""
        actions = check_actions(actions, self.num_envs, self.action_spec, self.device, self._check_values)
        obs, reward, terminated, time_outs, _ = self.env.step(actions)
        final_obs = self._obs(obs).clone()
        reward, terminated, time_outs = reward.float().clone(), terminated.bool().clone(), time_outs.bool().clone()
        if self._limit() < self.max_episode_steps:  # a training env's shorter episodes (train_episode_steps)
            time_outs |= self.env.episode_length_buf >= self._limit()
        done = terminated | time_outs
        if bool(done.any()):  # mjlab's step has read its done envs back to the host already
            ids = done.nonzero().squeeze(-1)
            started, _ = self._draw(lambda: self.env.reset(env_ids=ids))
            obs = torch.where(done.unsqueeze(-1), self._obs(started), final_obs)
        else:
            obs = final_obs
        return StepOut(obs, reward, terminated, time_outs & ~terminated, final_obs)

    def close(self) -> None:
        """Close the env."""
        self.env.close()
