"""The runner: what every learner shares around its learning step. It owns evaluation, verification, solve and
population bookkeeping, stop signals, checkpoints and logging; the learning step (:class:`Learning`: off-policy
act/store/sample/update in :mod:`isaac_rl.runtime.off_policy`, on-policy rollout/returns/epochs in
:mod:`isaac_rl.runtime.on_policy`) and the storage it owns are the algorithm's side (as in rsl_rl's
``OnPolicyRunner.learn`` and skrl's sequential trainer, which serves PPO and DQN alike)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch

from isaac_rl.algorithms.base import Algorithm
from isaac_rl.core.contract import VecEnv
from isaac_rl.core.errors import DivergedError
from isaac_rl.core.settings import is_int, is_num, need
from isaac_rl.runtime.collect import NEVER, Collector
from isaac_rl.runtime.console import say
from isaac_rl.runtime.evaluate import Evaluator

try:  # Python >= 3.8
    from typing import Protocol
except ImportError:  # pragma: no cover
    Protocol = object  # type: ignore[assignment,misc]

__all__ = ["Runner", "RunnerConfig", "RunHooks", "Learning", "NEVER", "VERIFY_SEED_OFFSET", "VERIFY_ROUND_STRIDE",
           "verify_rounds", "pooled"]

# Verification seeds: seed + VERIFY_SEED_OFFSET + iteration (+ round x VERIFY_ROUND_STRIDE on the training env),
# apart from the training seed and the evaluation seeds (seed + 10,000 + iteration) in the low 32 bits, the only bits
# torch's CPU generator (mt19937) and numpy (Isaac Lab) keep of a seed.
VERIFY_SEED_OFFSET = 1 << 31
VERIFY_ROUND_STRIDE = 1 << 24  # rounds stay apart from the verifications of the next 16M iterations
STOP_POLL_DISTRIBUTED = 10  # iterations between multi-rank stop agreements (each is a collective)
# Verification runs one episode in each of verify_episodes envs at once. A million episodes put the standard error of
# the verified mean at 1/1000 of the returns' spread, finer than any bar needs; more only cost memory and minutes.
MAX_VERIFY_EPISODES = 1_000_000
PROGRESS_EVERY_S = 10.0  # seconds between progress lines of a long evaluation or verification


def verify_rounds(episodes: int, num_envs: int) -> int:
    """Rounds of ``num_envs`` episodes that make at least ``episodes`` (verification on the training env, where the
    simulation cannot be built twice: Isaac Gym, Isaac Lab)."""
    return max(1, -(-episodes // num_envs))


def pooled(results: Sequence[Dict[str, float]]) -> Dict[str, float]:
    """One complete evaluation result from complete ones of equally many episodes each: the mean, population std
    (``unbiased=False``, as :class:`~isaac_rl.runtime.evaluate.Evaluator`), min and mean length over all their
    episodes."""
    n = len(results)
    mean = sum(r["eval/mean_return"] for r in results) / n
    second = sum(r["eval/std_return"] ** 2 + r["eval/mean_return"] ** 2 for r in results) / n
    return {"eval/mean_return": mean, "eval/std_return": math.sqrt(max(second - mean * mean, 0.0)),
            "eval/min_return": min(r["eval/min_return"] for r in results),
            "eval/mean_length": sum(r["eval/mean_length"] for r in results) / n, "eval/complete": 1.0}


@dataclass
class RunnerConfig:
    """The loop settings every learner shares, the runner's keys of ``train.loop`` (all counts are host integers);
    ``seed``, ``compile`` and ``cuda_graph`` come from the run's top-level keys.

    Attributes:
        max_iterations: Iterations to run (each is ``steps_per_iteration`` steps of every env plus the updates).
        log_interval: Iterations between metric reads (the only host syncs of the loop).
        eval_interval: Iterations between evaluations (0: never).
        eval_target: Stop once an evaluation's mean return reaches this (``None``: never stop early).
        eval_early_out: Cut an evaluation short once ``eval_target`` is out of reach (see
            :func:`isaac_rl.runtime.evaluate.evaluate`; needs the env's ``reward_max``).
        checkpoint_interval: Iterations between checkpoints (0: only at the end).
        verify_episodes: Fresh deterministic episodes (one per env of the verification env, held-out seeds) that
            verify an evaluation reaching ``eval_target`` before the run counts as solved, and the policy the run
            stops with (0: no verification; then one evaluation reaching the target ends the run).
        seed: Seed of the first env reset.
        compile: Run each learning iteration as one ``torch.compile``d function: CUDA graphs on CUDA
            (``mode="reduce-overhead"``), inductor kernels on the CPU.
        cuda_graph: Record each learning iteration's kernels as a CUDA graph with ``torch.cuda.graph`` (one per
            distinct sequence of update phases) and replay it (CUDA only; see :mod:`isaac_rl.runtime.capture`).
    """

    # No defaults for the loop keys: their one source is the train config (cfg/train/*.yaml), which sets each.
    max_iterations: int
    log_interval: int
    eval_interval: int
    eval_target: Optional[float]
    eval_early_out: bool
    checkpoint_interval: int
    verify_episodes: int
    seed: int = 0
    compile: bool = False
    cuda_graph: bool = False

    def check(self, prefix: str) -> None:
        """Raise ``ConfigError`` naming the first bad key under ``prefix`` (``train.loop``)."""
        for key in ("max_iterations", "log_interval"):
            value = getattr(self, key)
            need(is_int(value) and value >= 1, f"{prefix}.{key}", value, "an integer >= 1")
        for key in ("eval_interval", "checkpoint_interval"):
            value = getattr(self, key)
            need(is_int(value) and value >= 0, f"{prefix}.{key}", value, "an integer >= 0")
        need(is_int(self.verify_episodes) and 0 <= self.verify_episodes <= MAX_VERIFY_EPISODES,
             f"{prefix}.verify_episodes", self.verify_episodes,
             f"an integer from 0 to {MAX_VERIFY_EPISODES:,} (one env per episode, all at once)")
        need(self.eval_target is None or is_num(self.eval_target), f"{prefix}.eval_target", self.eval_target,
             "null or a finite number")
        need(isinstance(self.eval_early_out, bool), f"{prefix}.eval_early_out", self.eval_early_out, "True or False")


@dataclass
class RunHooks:
    """What a run does around the loop, each ``None`` (or empty) for nothing.

    Attributes:
        log: ``log(metrics, env_step)`` with host-float metrics (rank 0).
        save: ``save(runner)`` writes a checkpoint (:meth:`Runner.state_dict`).
        save_best: ``save_best(runner, result)`` after a complete evaluation that beats every earlier one.
        should_stop: Polled on the host every iteration and between the chunks of an evaluation or verification
            (stop signals: a Python flag, no device sync); a true value saves and ends the run (an interrupted
            evaluation or verification is not a result). With several ranks the ranks agree every
            ``STOP_POLL_DISTRIBUTED`` iterations.
        agree: Multi-GPU: turns this rank's stop wish into the job's decision (any rank stops -> all stop), so every
            rank leaves the loop at the same iteration.
        every: ``(interval, fn)`` pairs: rank 0 calls ``fn(runner)`` after every ``interval``-th iteration, outside
            the hot loop (video recording).
    """

    log: Optional[Callable[[Dict[str, float], int], None]] = None
    save: Optional[Callable[["Runner"], None]] = None
    save_best: Optional[Callable[["Runner", Dict[str, float]], None]] = None
    should_stop: Optional[Callable[[], bool]] = None
    agree: Optional[Callable[[bool], bool]] = None
    every: Sequence[Tuple[int, Callable[["Runner"], None]]] = field(default_factory=list)


class Learning(Protocol):
    """What a learning step supplies to the runner (:class:`~isaac_rl.runtime.off_policy.OffPolicyLearning`,
    :class:`~isaac_rl.runtime.on_policy.OnPolicyLearning`).

    Attributes:
        algo: The algorithm (acting, evaluation policy, modules, freeze).
        collector: The training env with its observation, statistics and non-finite tracking.
        steps_per_iteration: Steps of every env per iteration (1 off-policy, the rollout length on-policy).
        updates: Gradient steps taken so far (a host count).
        nbytes: Bytes of the storage it owns (checkpoint size).
    """

    algo: Algorithm
    collector: Collector
    steps_per_iteration: int
    updates: int

    @property
    def nbytes(self) -> int:
        """Bytes of the storage it owns."""

    def train_step(self, iteration: int) -> Dict[str, torch.Tensor]:
        """Iteration ``iteration`` (0-based): collect and learn, no host sync; the last update's per-agent float
        ``[K]`` device metrics (``{}`` when it took no gradient step)."""

    def persistent_tensors(self) -> Iterator[torch.Tensor]:
        """Every tensor an iteration changes in place (static addresses for capture)."""

    def restart(self) -> None:
        """After an evaluation on the training env: restart its episodes and cut what spans them."""

    def state_dict(self) -> Dict[str, Any]:
        """Update count, algorithm and storage, tensors only (flat keys beside the runner's)."""

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`."""


class Runner:
    """Runs the loop around ``learning``: logs at fixed intervals, evaluates, verifies and solves, stops on request,
    checkpoints.

    Args:
        learning: The learning step with its algorithm, collector (training env) and storage.
        cfg: Loop settings.
        hooks: Logging, checkpoints, stop signals, periodic callbacks.
        eval_env: Evaluation env; ``None`` evaluates on the training env (Isaac Gym allows one sim per process) and
            restarts it.
        verify_env: Verification env of ``verify_episodes`` envs; ``None`` verifies on ``eval_env`` (or the
            training env).
        is_main: Rank 0 (logs, evaluates, saves).
    """

    def __init__(self, learning: Learning, cfg: RunnerConfig, hooks: Optional[RunHooks] = None,
                 eval_env: Optional[VecEnv] = None, verify_env: Optional[VecEnv] = None, is_main: bool = True) -> None:
        self.learning, self.cfg = learning, cfg
        self.hooks = hooks if hooks is not None else RunHooks()
        self.collector: Collector = learning.collector
        self.algo: Algorithm = learning.algo
        self.env: VecEnv = self.collector.env
        self.eval_env, self.verify_env, self.is_main = eval_env, verify_env, is_main
        self.agents = self.algo.agents
        self.agent_results: List[Dict[str, Any]] = [{"agent": k, "solved": False} for k in range(self.agents)]
        self._stopped = torch.zeros(self.agents, dtype=torch.bool, device=self.env.device)  # solved agents (frozen)
        self.last_verify: Dict[str, float] = {}
        self.last_verify_agents: List[Dict[str, float]] = [{} for _ in range(self.agents)]
        self._verify_policy: Any = None
        self._verified_at = -1  # iteration of the last verification
        self._verifier: Optional[Evaluator] = None
        self._distributed = self.hooks.agree is not None
        self.agree = self.hooks.agree if self.hooks.agree is not None else (lambda wish: wish)
        self.best_return = -math.inf  # best complete evaluation mean so far (nn/best.pt)
        self._params = [p for m in self.algo.modules().values() for p in m.parameters()]
        self.iteration = 0
        self.solved_at: Optional[int] = None
        self._interrupted = False  # an evaluation or verification was cut by a stop request (not a result)
        self.last_eval: Dict[str, float] = {}
        self.stopped_by_signal = False
        self._evaluator: Optional[Evaluator] = None

    @property
    def updates(self) -> int:
        """Gradient steps taken so far."""
        return self.learning.updates

    @property
    def obs(self) -> torch.Tensor:
        """The training env's current observation float ``[N, obs_dim]``."""
        return self.collector.obs

    @property
    def env_steps(self) -> int:
        """Transitions collected so far (all agents)."""
        return self.iteration * self.env.num_envs * self.learning.steps_per_iteration

    @property
    def unsolved(self) -> List[int]:
        """Agents that have not yet met the bar (a host list)."""
        return [k for k, r in enumerate(self.agent_results) if not r["solved"]]

    def agent_metrics(self, metrics: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Per-agent float ``[K]`` metrics by logged name: the name itself for one agent, else the mean over agents
        under the name and agent ``k``'s value under ``agent<k>/<name>`` (device tensors, 0-d)."""
        out: Dict[str, torch.Tensor] = {}
        for name, value in metrics.items():
            out[name] = value.mean()
            if self.agents > 1:
                out.update({f"agent{k}/{name}": value[k] for k in range(self.agents)})
        return out

    def persistent_tensors(self) -> Iterator[torch.Tensor]:
        """Every tensor a learning iteration changes in place (the learning's)."""
        return self.learning.persistent_tensors()

    def train_step(self) -> Dict[str, torch.Tensor]:
        """One iteration of the hot loop; no host syncs on CUDA. Returns the last update's device metrics."""
        metrics = self.learning.train_step(self.iteration)
        self.iteration += 1
        return metrics

    def run_eval(self) -> Dict[str, float]:
        """Evaluate the deterministic policy of every agent still learning (a solved agent of a population is
        frozen: not evaluated again); with no separate eval env, evaluate on the training env and restart its
        episodes. A stop request cuts it (``eval/stopped``, not kept as :attr:`last_eval`)."""
        env = self.eval_env if self.eval_env is not None else self.env
        if self._evaluator is None:  # built once: persistent buffers and, with cuda_graph, the recorded chunk
            self._evaluator = Evaluator(env, self.algo.act, cuda_graph=self.cfg.cuda_graph, groups=self.agents)
        active = [not r["solved"] for r in self.agent_results]
        episodes = env.num_envs // self.agents * sum(active)
        result = self._evaluator(seed=self.cfg.seed + 10_000 + self.iteration,
                                 target=self.cfg.eval_target if self.cfg.eval_early_out else None, active=active,
                                 should_stop=self.hooks.should_stop, progress=self._progress("evaluating", episodes))
        if self.eval_env is None:
            self.learning.restart()
        if result.get("eval/stopped"):
            self._say_stopped("evaluation", result, env)
        else:
            self.last_eval = result
        return result

    def _say_stopped(self, what: str, result: Dict[str, float], env: VecEnv) -> None:
        """Note an evaluation or verification cut by a stop request (``result`` has ``eval/steps``): not a result."""
        self._interrupted = True
        say(f"[isaac_rl] {what} stopped by the stop request after {result['eval/steps']:.0f} of "
            f"{env.max_episode_steps} steps: not a result (the run saves its checkpoint and ends)")

    def _progress(self, what: str, episodes: int) -> Callable[[int, int], None]:
        """A progress callback for an :class:`Evaluator`: a line every ``PROGRESS_EVERY_S`` seconds (a long
        evaluation or verification is not silent)."""
        start = last = time.perf_counter()

        def report(ended: int, steps: int) -> None:
            nonlocal last
            now = time.perf_counter()
            if now - last >= PROGRESS_EVERY_S:
                last = now
                say(f"[isaac_rl] {what}: {ended:,} of {episodes:,} episodes ended after {steps:,} steps "
                    f"({now - start:.0f} s)")
        return report

    def _per_agent(self, evaluator: Evaluator, agents: Sequence[int]) -> Dict[str, float]:
        """An evaluation's statistics of ``agents`` (those it was run for) as ``agent<k>/<name>`` (several agents;
        nothing for one)."""
        if self.agents == 1:
            return {}
        return {f"agent{k}/{name}": vals[k] for name, vals in evaluator.per_group.items() for k in agents}

    def verify(self, target: Optional[float], candidates: Optional[Sequence[int]] = None) -> Dict[str, float]:
        """Run each agent of ``candidates`` (default all) for one fresh deterministic episode in each env of the
        verification env (held-out seeds, never used by training or evaluation), one agent after the other: only
        the agents in question cost steps. ``target``: cut an agent's run short once out of reach. Each agent's
        host floats ``eval/verified_mean_return``, ``eval/verified_min_return`` and ``eval/verified_episodes`` (or,
        cut short, ``eval/verified_complete = 0`` and ``eval/verified_return_bound``, or ``eval/verified_unfinished``
        for episodes that outlived ``max_episode_steps``) go to :attr:`last_verify_agents`; returns the last agent's
        (for one agent: its own). A stop request cuts it: then it returns ``{}``, records nothing and sets
        ``_interrupted`` (an interrupted verification is not a result). With no verification env of its own (Isaac
        Gym, Isaac Lab: one simulation per process) it runs rounds of the env's ``num_envs`` episodes, each on seeds
        of its own, until ``verify_episodes`` have run (:func:`verify_rounds`), with no early out, and pools them."""
        env = self.verify_env or self.eval_env or self.env
        if self._verifier is None:  # one agent's policy, reloaded in place per agent (a recorded chunk stays valid)
            self._verify_policy = self.algo.policy_module(0).to(env.device)
            self._verifier = Evaluator(env, self._verify_policy,
                                       cuda_graph=self.cfg.cuda_graph and env is not self.env)
        result: Dict[str, float] = {}
        rows: Dict[int, Dict[str, float]] = {}
        rounds = 1 if env is self.verify_env else verify_rounds(self.cfg.verify_episodes, env.num_envs)
        for k in range(self.agents) if candidates is None else candidates:
            self._verify_policy.load_state_dict(self.algo.policy_module(k).state_dict())
            raws, seed = [], self.cfg.seed + VERIFY_SEED_OFFSET + self.iteration
            for r in range(rounds):  # on the training env: rounds of num_envs episodes, each on seeds of its own
                raws.append(self._verifier(seed=seed + r * VERIFY_ROUND_STRIDE,
                                           target=target if rounds == 1 else None, should_stop=self.hooks.should_stop,
                                           progress=self._progress(f"verifying{self._who(k)}", env.num_envs)))
                if raws[-1].get("eval/stopped") or not raws[-1]["eval/complete"]:
                    break
            raw = raws[-1] if len(raws) < rounds or not raws[-1]["eval/complete"] else pooled(raws)
            if raw.get("eval/stopped"):
                self._say_stopped(f"verification{self._who(k)}", raw, env)
                break
            result = {"eval/verified_episodes": float(env.num_envs * len(raws)),
                      "eval/verified_complete": raw["eval/complete"]}
            if raw["eval/complete"]:
                result.update({"eval/verified_mean_return": raw["eval/mean_return"],
                               "eval/verified_min_return": raw["eval/min_return"],
                               "eval/verified_std_return": raw["eval/std_return"]})
            else:
                result.update({"eval/verified_" + name.split("/")[1]: raw[name]
                               for name in ("eval/return_bound", "eval/unfinished") if name in raw})
            rows[k] = result
        if env is self.env:
            self.learning.restart()
        if self._interrupted:
            return {}
        for k, row in rows.items():
            self.last_verify_agents[k] = row
        self._verified_at = self.iteration
        self.last_verify = result
        return result

    def _verify_logged(self, target: Optional[float], candidates: Optional[Sequence[int]] = None
                       ) -> Dict[str, float]:
        """:meth:`verify`, with each agent's numbers as ``agent<k>/eval/...`` for several agents (``{}`` when a
        stop request cut it)."""
        result = self.verify(target, candidates)
        if self.agents == 1 or not result:
            return dict(result)
        logged = {"eval/verified_episodes": result.get("eval/verified_episodes", 0.0)}
        for k in range(self.agents) if candidates is None else candidates:
            logged.update({f"agent{k}/{name}": value for name, value in self.last_verify_agents[k].items()})
        return logged

    def train(self) -> Dict[str, Any]:
        """Run until ``max_iterations``, an evaluation reaching ``eval_target``, or a stop request."""
        cfg, start = self.cfg, time.perf_counter()
        last_t, last_steps = start, self.env_steps
        metrics: Dict[str, torch.Tensor] = {}
        while self.iteration < cfg.max_iterations:
            metrics = self.train_step() or metrics
            it = self.iteration
            if it % cfg.log_interval == 0 or it == cfg.max_iterations:
                now = time.perf_counter()
                logged = self.collector.stats.flush()
                # One host read for the metrics, a sum of every weight (NaN/inf anywhere makes it non-finite) and the
                # first iterations of non-finite actions, observations and rewards.
                named = self.agent_metrics(metrics)
                values = torch.stack([*named.values(), self._weight_sum(), *self.collector.first_bad.unbind()]).tolist()
                logged.update(zip(named, values))
                logged["charts/SPS"] = (self.env_steps - last_steps) / max(now - last_t, 1e-9)
                last_t, last_steps = now, self.env_steps
                if self.hooks.log is not None and self.is_main:
                    self.hooks.log(logged, self.env_steps)
                self._check_finite(dict(zip(named, values)), values[len(named)], values[len(named) + 1:])
            if self._stop_requested(it):
                self.stopped_by_signal = True
                break
            if cfg.eval_interval and it % cfg.eval_interval == 0 and self.agree(self.is_main and self._solved(start)):
                if self.solved_at is None:  # (a population resumed with every agent solved keeps its solve)
                    self.solved_at = self.env_steps
                break
            if self._interrupted and not self._distributed:  # a stop request cut the evaluation: stop now
                self.stopped_by_signal = True
                break
            for interval, hook in self.hooks.every:
                if self.is_main and it % interval == 0:
                    hook(self)
            if cfg.checkpoint_interval and it % cfg.checkpoint_interval == 0 and self.hooks.save is not None:
                self._check_health()
                self.hooks.save(self)
        self._check_health()
        wall_s = time.perf_counter() - start
        checked_here = self._verified_at == self.iteration and self.last_verify.get("eval/verified_complete") == 1.0
        if self.agents > 1:  # every unsolved agent is verified in full at the end
            checked_here = not self.unsolved
        if self.is_main and cfg.verify_episodes and not checked_here and not self.stopped_by_signal:
            # The policy the run stops with, verified in full (every episode to its end) for the summary; a solved
            # agent keeps the verification of its solve (its weights have not changed since).
            unsolved = self.unsolved if self.agents > 1 else None  # a solved agent keeps its solve's verification
            checked = self._verify_logged(None, unsolved)
            if self._interrupted:  # stopped during the final verification: no result, the run saves and ends
                self.stopped_by_signal = True
            else:
                if self.hooks.log is not None:
                    self.hooks.log(checked, self.env_steps)
                for k in self.unsolved:
                    self.agent_results[k].update(self.last_verify_agents[k])
        if self.hooks.log is not None and self.is_main:  # one metric every run logs: a sweep's objective (minimise)
            unsolved = 2 * cfg.max_iterations
            self.hooks.log({"eval/solved": float(self.solved_at is not None), "eval/iterations_to_solve": float(
                self.iteration if self.solved_at is not None else unsolved)}, self.env_steps)
        if self.hooks.save is not None:
            self.hooks.save(self)
        summary = {"env_steps": self.env_steps, "iterations": self.iteration, "solved_at": self.solved_at,
                   "gradient_steps": self.updates, "wall_s": wall_s, "stopped_by_signal": self.stopped_by_signal,
                   "solved": len(self.agents_solved)}
        if self.agents == 1:
            summary.update({**self.last_eval, **self.last_verify})
        else:
            summary["agents"] = [dict(r) for r in self.agent_results]
        return summary

    @property
    def agents_solved(self) -> List[int]:
        """Agents that met the bar (verified when ``verify_episodes``)."""
        return [k for k, r in enumerate(self.agent_results) if r["solved"]]

    def _solved(self, start: float) -> bool:
        """Rank 0 at an evaluation iteration: evaluate every agent still learning, keep ``nn/best.pt``, and verify
        each agent whose mean meets ``eval_target`` on ``verify_episodes`` fresh episodes; an agent that passes is
        solved and, in a population, stops learning (:meth:`Algorithm.freeze`). True once every agent is solved."""
        cfg, evaluated = self.cfg, self.unsolved
        if not evaluated:  # a population resumed with every agent solved (and frozen): nothing left to evaluate
            return True
        self._check_health()  # a divergence is reported as one, not as a refused best.pt
        result = self.run_eval()
        if self._interrupted:
            return False
        result["eval/wall_s"] = time.perf_counter() - start
        if self.agents > 1:  # the agents still learning, each its own (a solved agent's episodes may be unfinished)
            result = {k: v for k, v in result.items() if k in ("eval/complete", "eval/steps", "eval/wall_s")}
            result.update(self._per_agent(self._evaluator, evaluated))  # type: ignore[arg-type]
        if self.hooks.log is not None:
            self.hooks.log(result, self.env_steps)
        mean = result.get("eval/mean_return", -math.inf)  # absent when cut short (out of reach)
        if self.agents == 1 and mean > self.best_return:  # a population keeps nn/agent<k>.pt instead
            self.best_return = mean
            if self.hooks.save_best is not None:
                self.hooks.save_best(self, result)  # refuses non-finite weights (DivergedError)
        if cfg.eval_target is None or not result["eval/complete"]:
            return False
        means = self._evaluator.per_group["eval/mean_return"]  # type: ignore[union-attr]
        candidates = [k for k in self.unsolved if means[k] >= cfg.eval_target]
        if not candidates:
            return False
        passed, verified = candidates, [""] * self.agents
        if cfg.verify_episodes:  # the bar counts only on many fresh episodes
            checked = self._verify_logged(cfg.eval_target if cfg.eval_early_out else None, candidates)
            if self._interrupted:
                return False
            checked["eval/wall_s"] = time.perf_counter() - start
            if self.hooks.log is not None:
                self.hooks.log(checked, self.env_steps)
            episodes = f"{checked['eval/verified_episodes']:.0f} fresh episodes"
            passed = []
            for k in candidates:
                row = self.last_verify_agents[k]
                if row.get("eval/verified_mean_return", -math.inf) < cfg.eval_target:
                    if "eval/verified_unfinished" in row:
                        shown = (f"{row['eval/verified_unfinished']:.0f} episodes still running after "
                                 f"max_episode_steps={self.env.max_episode_steps} (the task never ended them)")
                    else:
                        shown = (f"{'at most ' if not row['eval/verified_complete'] else ''}"
                                 f"{row.get('eval/verified_mean_return', row.get('eval/verified_return_bound')):.1f}")
                    say(f"[isaac_rl] not verified{self._who(k)}: eval mean return {means[k]:.1f} >= "
                        f"{cfg.eval_target}, but {episodes} give {shown}; training on")
                    continue
                passed.append(k)
                verified[k] = (f", verified on {episodes}: mean {row['eval/verified_mean_return']:.1f}, min "
                               f"{row['eval/verified_min_return']:.1f}")
        wall = time.perf_counter() - start
        for k in passed:
            self.agent_results[k].update(
                solved=True, iterations_to_solve=self.iteration, env_steps_to_solve=self.env_steps // self.agents,
                gradient_steps_to_solve=self.updates, wall_s_to_solve=wall, **(
                    self.last_verify_agents[k] if cfg.verify_episodes else {}))
            say(f"[isaac_rl] solved{self._who(k)}: eval mean return {means[k]:.1f} >= {cfg.eval_target} at env "
                f"step {self.env_steps // self.agents:,} ({self.updates:,} gradient steps){verified[k]}")
        if passed and self.agents > 1:
            self._stopped[passed] = True
            self.algo.freeze(self._stopped)
        return not self.unsolved

    def _who(self, k: int) -> str:
        """`` (agent k)`` in a population's messages."""
        return f" (agent {k})" if self.agents > 1 else ""

    def _weight_sum(self) -> torch.Tensor:
        """Sum of every network weight, a 0-d device tensor: finite exactly when all weights are (no host read)."""
        return torch.stack([p.detach().sum() for p in self._params]).sum().float()

    def _check_health(self) -> None:
        """:meth:`_check_finite` on the weights and the env's tensors (one host read, outside the hot loop): before a
        checkpoint, ``nn/best.pt`` or an evaluation, so that a divergence is reported with its cause."""
        values = torch.stack([self._weight_sum(), *self.collector.first_bad.unbind()]).tolist()
        self._check_finite({}, values[0], values[1:])

    def _env_name(self) -> str:
        """The task's class (``module.Class``), naming the env in a divergence message."""
        cls = type(self.env)
        return f"{cls.__module__}.{cls.__qualname__}"

    def _check_finite(self, metrics: Dict[str, float], weight_sum: float, first_bad: Sequence[float]) -> None:
        """Raise :class:`DivergedError` (before anything is saved) when a logged loss, any weight, or an action,
        observation or reward of the env is NaN/inf, naming the cause: the env when it returned a non-finite
        observation or reward before the policy gave a non-finite action (``first_bad``: the first iterations of
        each, ``NEVER`` = none), else the learner (losses, weights, actions)."""
        act_at, obs_at, reward_at = first_bad
        env_at = min(obs_at, reward_at)
        if env_at < act_at:  # the env went first: its own fault (a finite policy cannot make it non-finite)
            what = " and ".join(name for name, at in (("observations", obs_at), ("rewards", reward_at)) if at == env_at)
            when = "at its first reset" if env_at < 0 else f"at iteration {int(env_at) + 1:,}"
            raise DivergedError(
                f"the env returned non-finite {what} {when} (task class {self._env_name()}), while every action of "
                "the policy was finite: the task is the cause, not the learner. Nothing non-finite was saved: the "
                "last good checkpoint (if any) is kept. Check the task's reset()/step() (its physics, observations "
                "and reward) and its task.env settings")
        bad = [k for k, v in metrics.items() if not math.isfinite(v)]
        if not math.isfinite(weight_sum):
            bad.append("network weights")
        if act_at < NEVER:
            bad.append(f"actions (from iteration {int(act_at) + 1:,})")
        if not bad:
            return
        raise DivergedError(
            f"training diverged at env step {self.env_steps:,} (iteration {self.iteration}): non-finite "
            f"{', '.join(bad)}. Nothing non-finite was saved: the last good checkpoint (if any) is kept. Likely "
            "cause: a learning rate too high (train.algo.lr, actor_lr, critic_lr) or task.env settings that make the "
            "physics blow up; lower the learning rate or set train.algo.max_grad_norm")

    def _stop_requested(self, iteration: int) -> bool:
        """The host stop flag, every iteration; with several ranks their agreement every few iterations."""
        wish = self.hooks.should_stop is not None and self.hooks.should_stop()
        if not self._distributed:
            return wish
        if iteration % STOP_POLL_DISTRIBUTED == 0 or iteration == self.cfg.max_iterations:
            return self.agree(wish)
        return False

    def state_dict(self) -> Dict[str, Any]:
        """Everything needed to continue bit-identically (with a torch task): the learning's state (algorithm,
        storage, update count), the collector's (observation, statistics, env), RNG, counters, solves."""
        state: Dict[str, Any] = {
            "iteration": self.iteration, **self.collector.state_dict(), **self.learning.state_dict(),
            "rng_cpu": torch.get_rng_state(), "agent_results": [dict(r) for r in self.agent_results],
            "stopped": self._stopped.clone(), "solved_at": self.solved_at}
        if self.env.device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(self.env.device)
        return state

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` (also of checkpoints of earlier layouts)."""
        self.iteration = int(state["iteration"])
        self.solved_at = None
        results = [dict(r) for r in state.get("agent_results", self.agent_results)]
        if self.agents == 1 and results[0]["solved"]:
            # One agent goes on learning: its weights change, so its earlier solve says nothing of the policy this
            # run ends with; it counts as solved again only through this run's own evaluations and verification.
            say(f"[isaac_rl] the checkpoint's policy was solved at iteration {results[0].get('iterations_to_solve')}; "
                "training it on, it counts as solved again only once this run's evaluations (and verification) meet "
                "the bar")
            results = [{"agent": 0, "solved": False}]
        elif "agent_results" in state:  # a population: solved agents stay solved and frozen (their weights are kept)
            self._stopped.copy_(state["stopped"])
            if all(r["solved"] for r in results):
                self.solved_at = state.get("solved_at")
        self.agent_results = results
        self.learning.load_state_dict(state)
        self.collector.load_state_dict(state)
        torch.set_rng_state(state["rng_cpu"].cpu())
        if "rng_cuda" in state and self.env.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng_cuda"].cpu(), self.env.device)
        if self.agents > 1:
            self.algo.freeze(self._stopped)  # solved agents stay frozen
