"""Console commands ``isaac-rl-train`` and ``isaac-rl-play`` (also what ``scripts/train.py`` and ``scripts/play.py``
run). Nothing heavy is imported at module level: Isaac Gym must be imported, and Isaac Lab launched, before torch."""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any, Dict, List, Optional

ISAACGYM_HELP = ("sim=isaacgym needs NVIDIA Isaac Gym Preview 4, which is not on PyPI and runs on Python 3.6-3.8: "
                 "download it from https://developer.nvidia.com/isaac-gym, then `pip install -e isaacgym/python` in "
                 "this environment (or use sim=torch, the built-in batched physics)")
CFG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "cfg")  # package data


def _prepare_simulator(argv: List[str]) -> None:
    """Import Isaac Gym, or launch Isaac Lab 2.x's Isaac Sim, before anything imports torch (Isaac Lab 3 starts what
    the task's physics needs when the env is built); a missing one exits with one line."""
    args = [a.replace(" ", "") for a in argv]
    if "sim=isaacgym" in args:
        try:
            import isaacgym  # noqa: F401
        except ImportError as err:
            sys.stderr.write(f"[isaac_rl] error: {ISAACGYM_HELP} ({err})\n")
            sys.exit(2)
    if "sim=isaaclab" in args:  # Isaac Lab 2.x starts Isaac Sim now; 3.x's kit-less physics needs no app
        from isaac_rl.tasks.isaaclab_app import prepare
        try:
            prepare(headless=True)
        except ImportError as err:  # prepare's message already says what to install
            sys.stderr.write(f"[isaac_rl] error: {err}\n")
            sys.exit(2)


# Hydra's command-line options that take a value (the next argument is not an override).
HYDRA_VALUE_OPTIONS = ("--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd", "--cfg", "-c",
                       "--package", "-p", "--experimental-rerun", "--shell-completion", "-sc", "--info")


def overrides_of(argv: List[str]) -> List[str]:
    """The Hydra overrides among ``argv`` (``key=value``, ``+key=value``, ``~key``): not Hydra's own options."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg.startswith("-"):
            skip = "=" not in arg and arg in HYDRA_VALUE_OPTIONS and arg not in ("--info",)
        else:
            out.append(arg)
    return out


def root_keys(cfg_dir: str = CFG_DIR) -> Dict[str, Any]:
    """The root config (``cfg/config.yaml``) as a plain dict, for the checks that run before Hydra composes it."""
    import yaml  # Hydra's own dependency: loaded anyway just after this

    with open(os.path.join(cfg_dir, "config.yaml")) as f:
        return yaml.safe_load(f)


def missing_train_config(argv: List[str], cfg_dir: str = CFG_DIR) -> Optional[str]:
    """``task=X`` without ``train=``: the default ``train=${task}DQN`` may not exist (``task=Pendulum``); say which
    train configs the task has instead of Hydra's "Could not find 'train/PendulumDQN'"."""
    tasks = [a.split("=", 1)[1] for a in argv if a.startswith("task=")]
    if not tasks or any(a.startswith(("train=", "+train=")) for a in argv) or "," in tasks[-1]:
        return None
    folder = os.path.join(cfg_dir, "train")
    if os.path.isfile(os.path.join(folder, f"{tasks[-1]}DQN.yaml")):
        return None
    # <task><ALGO>.yaml only: task=CartpoleBalance is not offered CartpoleBalanceSparseDDPG
    options = sorted(f[:-5] for f in os.listdir(folder) if f.startswith(tasks[-1]) and f.endswith(".yaml")
                     and f[len(tasks[-1]):-5].isupper())
    return (f"task={tasks[-1]} has no DQN train config (the default is train=<task>DQN); add "
            f"{' or '.join('train=' + o for o in options) if options else 'a train= config for it'}")


def unknown_population_key(argv: List[str], cfg_dir: str = CFG_DIR) -> Optional[str]:
    """``population_vary.KEY=[...]`` with a KEY the root config does not list: one line naming it and the keys that
    can vary, instead of Hydra's "Key 'KEY' is not in struct" (``population_vary.train.algo.lr`` is written
    ``population_vary.lr``). ``+population_vary.KEY`` reaches the config check, which names the algorithm's keys."""
    given = [a.split("=", 1)[0] for a in argv if a.startswith("population_vary.")]
    if not given:
        return None
    keys = list(root_keys(cfg_dir).get("population_vary") or {})
    for name in given:
        key = name[len("population_vary."):]
        if key not in keys:
            short = key.rsplit(".", 1)[-1]
            hint = f"; write population_vary.{short}=[...]" if short in keys else ""
            return (f"invalid config: {name}; allowed: population_vary.<key> with a train.algo key that can vary "
                    f"per agent ({', '.join(keys)}){hint}")
    return None


def bad_override(argv: List[str], cfg_dir: str = CFG_DIR) -> Optional[str]:
    """An override Hydra cannot parse (``=5``, an unquoted non-ASCII value) or one that sets a top-level key the root
    config does not have (``pipelin=gpu``): one line naming it, what is allowed and the closest keys, instead of
    Hydra's parser traceback or "Key '...' is not in struct". With ``--config-name``/``--config-path`` (another root
    config) only the parsing is checked."""
    import difflib

    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType
    from hydra.errors import OverrideParseException

    own_root = not any(a.split("=", 1)[0] in ("--config-name", "-cn", "--config-path", "-cp") for a in argv)
    keys: List[str] = []
    if own_root:
        folders = [cfg_dir] + [b for a, b in zip(argv, argv[1:]) if a in ("--config-dir", "-cd")]
        folders += [a.split("=", 1)[1] for a in argv if a.startswith(("--config-dir=", "-cd="))]
        groups = [d for f in folders if os.path.isdir(f) for d in os.listdir(f) if os.path.isdir(os.path.join(f, d))]
        keys = sorted(set(root_keys(cfg_dir)) - {"defaults"} | set(groups))
    parser = OverridesParser.create()
    for arg in overrides_of(argv):
        try:
            override = parser.parse_overrides([arg])[0]
        except OverrideParseException as err:
            first = str(err).splitlines()[0]
            return (f"invalid override {arg!r} ({first}); allowed: key=value, a value with spaces or non-ASCII "
                    "characters in double quotes inside single quotes for the shell, e.g. 'experiment=\"run é\"'")
        key = override.key_or_group
        if not key:
            return f"invalid override {arg!r}: it names no key; allowed: key=value (e.g. seed=5)"
        if key == "train_dir" and override.type != OverrideType.DEL and str(override.value()).strip() == "":
            # Hydra makes a --multirun sweep's folder under train_dir before any job's config check runs
            return "invalid config: train_dir=''; allowed: a folder path (runs by default; . for the current folder)"
        top = key.split(".")[0]
        if own_root and override.type == OverrideType.CHANGE and top != "hydra" and top not in keys:
            close = difflib.get_close_matches(top, keys, n=3, cutoff=0.6)
            hint = f"did you mean {' or '.join(close)}? " if close else ""
            return (f"invalid config: {arg}: the config has no key {top!r}; {hint}allowed: {', '.join(keys)} "
                    f"(+{key}=... adds a key of your own)")
    return None


def hydra_error_line(err: BaseException) -> str:
    """One line for an error Hydra or OmegaConf raised while composing or resolving the config: its first line,
    the key it is about, and the cause's first line."""
    msg = getattr(err, "msg", None) or str(err)
    line = " ".join(str(msg).split("\n")[0].split())
    key = getattr(err, "full_key", None)
    cause = err.__cause__
    if cause is not None and cause is not err:
        key = key or getattr(cause, "full_key", None)
        more = " ".join(str(getattr(cause, "msg", None) or cause).split("\n")[0].split())
        if more and more not in line:
            line = f"{line}: {more}"
    where = f"{key}: " if key else ""
    hint = ""
    if "nterpolation" in line or "resolv" in line:
        hint = ("; allowed: ${key} of a key the config has (e.g. ${task.name}) or a resolver such as "
                "${oc.env:NAME,default}")
    return f"invalid config: {where}{line}{hint}"


def unknown_nested_key(err: BaseException, argv: List[str]) -> Optional[str]:
    """Hydra's "Key 'foo' is not in struct" for ``train.loop.foo=1``: one line naming the section's keys and the
    closest ones (read from the config composed without that override), or None for any other error."""
    import difflib

    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import DictConfig, OmegaConf

    cause = err.__cause__ or err
    full_key = getattr(cause, "full_key", None)
    if "not in struct" not in str(cause) or not full_key or "." not in str(full_key):
        return None
    parent, key = str(full_key).rsplit(".", 1)
    given = [a for a in overrides_of(argv) if a.lstrip("+~").split("=", 1)[0] == full_key]
    rest = [a for a in overrides_of(argv) if a not in given]
    try:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=CFG_DIR, version_base=None):
            section = OmegaConf.select(compose("config", overrides=rest), parent)
    except Exception:  # noqa: BLE001  (a sweep's overrides, another config dir: Hydra's words then)
        return None
    if not isinstance(section, DictConfig):
        return None
    keys = [str(k) for k in section.keys()]
    close = difflib.get_close_matches(key, keys, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(parent + '.' + c for c in close)}? " if close else ""
    return (f"invalid config: {given[-1] if given else full_key}: {parent} has no key {key!r}; {hint}allowed: "
            f"{', '.join(keys)} (+{full_key}=... adds a key of your own)")


class _Finished(BaseException):
    """The run returned its exit code (everything written and closed): carries it out of Hydra's ``main``."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def exit_now(code: int) -> None:
    """End the process with ``code`` once a command has finished: flush the standard streams and the logging
    handlers, then ``os._exit``, skipping the interpreter's teardown of torch's modules (~0.5 s of a 2-core CPU,
    a tenth of a CartPole run from process start; BENCHMARKS.md). Only for a command whose outputs are all closed:
    checkpoints are written atomically and fsynced, the logger, TensorBoard, wandb and the process group are
    closed before ``main`` returns. A ``--multirun`` sweep calls it once, after its last job."""
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be written anyway
            pass
    os._exit(code)


def _fail(line: str, code: int = 2) -> None:
    sys.stderr.write(f"[isaac_rl] error: {line}\n")
    sys.stderr.flush()
    sys.exit(code)


def train() -> None:
    """``isaac-rl-train [Hydra overrides]``: train (or ``test=True``) with the shipped configs (``--config-dir DIR``
    adds a folder of your own); user errors are one line on stderr (exit 2; 3 for a diverged run).

    ``-m``/``--multirun`` runs each job of the sweep in turn in this process: a job's user error is reported in one
    line and the sweep goes on; the process exits after the last job with the largest exit code of its jobs."""
    argv = sys.argv[1:]
    _prepare_simulator(argv)
    debug = "debug=True" in [a.replace(" ", "") for a in argv]
    missing = bad_override(argv) or missing_train_config(argv) or unknown_population_key(argv)
    if missing:
        _fail(missing)
    import hydra
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from isaac_rl.app.run import main as run_main
    from isaac_rl.core.errors import ConfigError, UserError

    codes: List[int] = []  # one per finished job of a --multirun sweep
    state = {"entered": False, "multirun": False}  # the task function ran: its own crashes are not Hydra's errors

    @hydra.main(version_base=None, config_path=CFG_DIR, config_name="config")
    def main(cfg: DictConfig) -> None:
        state["entered"], state["multirun"] = True, HydraConfig.get().mode == RunMode.MULTIRUN
        raw: Dict[str, Any] = {}
        summary: Dict[str, Any] = {}
        try:
            try:
                raw = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
            except OmegaConfBaseException as err:
                raise ConfigError(hydra_error_line(err)) from None
            code = run_main(raw, summary_out=summary)
        except UserError as err:
            if raw.get("debug") is True or debug:
                raise
            sys.stderr.write(f"[isaac_rl] error: {err}\n")
            sys.stderr.flush()
            code = err.exit_code
        except Exception:  # a crash of one sweep job: its traceback, then the next job
            if not state["multirun"]:
                raise
            traceback.print_exc()
            code = 1
        if not state["multirun"]:
            raise _Finished(code)  # os._exit at once (exit_now); a sweep's jobs return to Hydra's launcher instead
        codes.append(code)
        if summary.get("stopped_by_signal"):  # a stop signal ends the sweep, not only its current job
            sys.stderr.write(f"[isaac_rl] sweep stopped by a signal during job #{HydraConfig.get().job.num} (saved; "
                             "resume=auto continues it); the later jobs were not started\n")
            raise _Finished(max(codes))
        if code:
            sys.stderr.write(f"[isaac_rl] sweep job #{HydraConfig.get().job.num} ended with exit code {code}; "
                             "going on with the next job\n")
            sys.stderr.flush()

    # Hydra's own errors (composing, parsing, resolving the config) are raised to here and reported in one line
    # instead of Hydra's traceback; the user's HYDRA_FULL_ERROR=1 or debug=True keeps Hydra's full report.
    own_report = "HYDRA_FULL_ERROR" not in os.environ and not debug
    if own_report:
        os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        main()
    except _Finished as done:
        exit_now(done.code)
    except Exception as err:
        if not own_report or (state["entered"] and not state["multirun"]):
            raise  # a crash of the run itself: its traceback
        if codes:
            sys.stderr.write(f"[isaac_rl] {len(codes)} sweep job(s) ran before this error\n")
        _fail(unknown_nested_key(err, argv) or hydra_error_line(err))
    exit_now(max(codes, default=0))


def play() -> None:
    """``isaac-rl-play CHECKPOINT [--episodes N] [--video ep.mp4] [--export policy.pt] ...``."""
    if "--sim" in sys.argv and sys.argv[sys.argv.index("--sim") + 1:][:1] == ["isaacgym"]:
        _prepare_simulator(["sim=isaacgym"])
    from isaac_rl.app.play import cli

    sys.exit(cli())
