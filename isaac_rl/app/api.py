"""The Python API: train from a script and load a trained policy as a plain torch module.

    import isaac_rl
    summary = isaac_rl.train(["task=CartPole-v1", "train=CartPole-v1DQN", "seed=1"])   # or a dict of the same keys
    policy = isaac_rl.load_policy(summary["run_dir"] + "/nn/last.pt")
    efforts = policy(obs)            # float32 [N, obs_dim] -> normalised efforts float32 [N, act_dim] in [-1, 1]

:func:`train` composes the shipped Hydra config (``cfg/``) with the overrides through Hydra's compose API, exactly
as ``scripts/train.py <overrides>`` does, so its defaults are the YAML's and nothing else; the run writes the same
run folder and returns the summary the command prints. Bad input raises :class:`isaac_rl.core.errors.UserError`
(a :class:`~isaac_rl.core.errors.ConfigError` for a config value) with the command's one-line message.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Mapping, Sequence, Union

from isaac_rl.core.errors import ConfigError, UserError

__all__ = ["compose", "train", "load_policy"]

CFG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cfg")  # package data

Overrides = Union[Sequence[str], Mapping[str, Any], None]


def _override_list(overrides: Overrides) -> List[str]:
    """Hydra override strings from a list of them, or from ``{"train.algo.lr": 1e-3, "task": "Pendulum"}`` (each
    value written as JSON, which Hydra's override grammar reads: numbers, booleans, null, lists, quoted strings)."""
    if overrides is None:
        return []
    if isinstance(overrides, Mapping):
        out = []
        for key, value in overrides.items():
            text = value if isinstance(value, str) and key in ("task", "train") else json.dumps(value)
            out.append(f"{key}={text}")
        return out
    if isinstance(overrides, str):
        raise ConfigError(f"invalid overrides {overrides!r}; allowed: a list of key=value strings or a dict")
    return [str(o) for o in overrides]


def compose(overrides: Overrides = None) -> Dict[str, Any]:
    """The resolved-interpolation config dict ``scripts/train.py <overrides>`` hands to the run (before defaults
    are filled in and values checked), composed from the shipped YAML by Hydra's compose API. A config Hydra cannot
    compose raises :class:`ConfigError` with the command's one-line message."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    from isaac_rl.app.cli import bad_override, hydra_error_line, missing_train_config, unknown_population_key

    args = _override_list(overrides)
    problem = bad_override(args) or missing_train_config(args) or unknown_population_key(args)
    if problem:
        raise ConfigError(problem)
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=CFG_DIR, version_base=None):
            cfg = hydra_compose("config", overrides=args)
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except Exception as err:  # Hydra's and OmegaConf's composition errors, in the command's words
        from hydra.errors import HydraException
        from omegaconf.errors import OmegaConfBaseException

        if not isinstance(err, (HydraException, OmegaConfBaseException, ValueError)):
            raise
        raise ConfigError(hydra_error_line(err)) from None
    finally:
        GlobalHydra.instance().clear()


def train(overrides: Overrides = None) -> Dict[str, Any]:
    """Train as ``scripts/train.py <overrides>`` does (same config, checks, run folder and outputs) and return its
    summary: ``env_steps``, ``iterations``, ``solved``, ``solved_at``, the final verified evaluation
    (``eval/verified_mean_return``, ...), ``run_dir`` and the other keys of the ``[isaac_rl] summary`` line.

    Args:
        overrides: Hydra overrides, ``["task=Pendulum", "train=PendulumSAC", "seed=3"]``, or a dict of the same
            keys and values. ``test=True`` is the command's job; here it raises :class:`ConfigError`.

    Raises:
        UserError: a bad value, checkpoint or run folder (the command's one-line message); a diverged run raises
            :class:`~isaac_rl.core.errors.DivergedError` after keeping its last good checkpoint.
    """
    from isaac_rl.app.run import main as run_main

    raw = compose(overrides)
    if raw.get("test") is True:
        raise ConfigError("invalid config: test=True in isaac_rl.train(); allowed: False (evaluate a checkpoint "
                          "with load_policy or scripts/play.py)")
    summary: Dict[str, Any] = {}
    code = run_main(raw, summary_out=summary)
    if code != 0 or not summary:  # run_main raises for every failure it knows; this is a guard
        raise UserError(f"the run ended with exit code {code} and no summary")
    return summary


def load_policy(path: str, agent: int = 0, device: str = "cpu") -> Any:
    """Agent ``agent``'s deterministic policy of a checkpoint (``nn/last.pt``, ``nn/best.pt``, ``nn/agent<k>.pt``)
    as a stand-alone ``torch.nn.Module`` in eval mode on ``device``, without gradients: float32 observations
    ``[N, obs_dim]`` -> normalised efforts float32 ``[N, act_dim]`` in ``[-1, 1]`` (times the task's max effort in
    newtons), the actions scripts/play.py evaluates (DQN: the greedy action's effort).

    Raises:
        CheckpointError: the file is not a checkpoint of this trainer, or its weights are non-finite.
        ConfigError: ``agent`` is outside the checkpoint's population, or ``device`` is not available.
    """
    from isaac_rl.app import checkpoint
    from isaac_rl.app.build import make_trained_algorithm, resolve_device
    from isaac_rl.tasks import TASKS

    need_int = isinstance(agent, int) and not isinstance(agent, bool) and agent >= 0
    if not need_int:
        raise ConfigError(f"invalid config: agent={agent!r}; allowed: an integer >= 0")
    device = resolve_device(str(device))
    state = checkpoint.read(path, device, "play")
    cfg = state["config"]
    # Any backend builds the same network; the torch twin (or the user's torch class) is built in microseconds.
    sim = "torch" if cfg["task"]["name"] in TASKS or cfg["task"].get("class_path") else cfg["sim"]
    env, algo = make_trained_algorithm(cfg, state["trainer"]["agent"], sim, 1, device, int(cfg.get("seed", 0)),
                                       agent=agent)
    env.close()
    module = algo.policy_module(0).to(device).eval()
    for param in module.parameters():
        param.requires_grad_(False)
    return module
