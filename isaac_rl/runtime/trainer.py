"""The off-policy training loop: act, step, add, update; log, evaluate and checkpoint at fixed intervals."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch

from isaac_rl.algorithms.base import Algorithm
from isaac_rl.core.contract import VecEnv
from isaac_rl.core.errors import DivergedError
from isaac_rl.core.settings import is_int, is_num, need
from isaac_rl.runtime.capture import capture_iteration
from isaac_rl.runtime.console import say
from isaac_rl.runtime.evaluate import Evaluator
from isaac_rl.runtime.stats import EpisodeStats
from isaac_rl.storage.nstep import NStepWindow
from isaac_rl.storage.replay import ReplayBuffer

VERIFY_SEED_OFFSET = 1 << 40  # verification seeds: seed + this + iteration, apart from training and evaluation seeds
STOP_POLL_DISTRIBUTED = 10  # iterations between multi-rank stop agreements (each is a collective)
# Verification runs one episode in each of verify_episodes envs at once. A million episodes put the standard error of
# the verified mean at 1/1000 of the returns' spread, finer than any bar needs; more only cost memory and minutes.
MAX_VERIFY_EPISODES = 1_000_000
NEVER = float(torch.finfo(torch.float32).max)  # "no non-finite value yet" (first-bad iterations; finite)
PROGRESS_EVERY_S = 10.0  # seconds between progress lines of a long evaluation or verification


@dataclass
class TrainerConfig:
    """Loop settings, the ``train.loop`` section (all counts are host integers); ``seed``, ``compile`` and
    ``cuda_graph`` come from the run's top-level keys.

    Attributes:
        max_iterations: Vectorised env steps to run (each is ``num_envs`` transitions).
        warmup_iterations: Iterations of uniform random actions before learning starts (= random transitions per
            env, so its meaning does not change with ``num_envs``).
        batch_size: Transitions per gradient step.
        updates_per_step: Gradient steps per vectorised env step once learning started.
        log_interval: Iterations between metric reads (the only host syncs of the loop).
        eval_interval: Iterations between evaluations (0: never).
        eval_target: Stop once an evaluation's mean return reaches this (``None``: never stop early).
        eval_early_out: Cut an evaluation short once ``eval_target`` is out of reach (see
            :func:`isaac_rl.runtime.evaluate.evaluate`; needs the env's ``reward_max``).
        checkpoint_interval: Iterations between checkpoints (0: only at the end).
        verify_episodes: Fresh deterministic episodes (one per env of the verification env, held-out seeds) that
            verify an evaluation reaching ``eval_target`` before the run counts as solved, and the policy the run
            stops with (0: no verification; then one evaluation reaching the target ends the run).
        buffer_per_env: Transitions kept per env: the replay buffer holds ``buffer_per_env x num_envs``
            (iterations of history, whatever ``num_envs``).
        seed: Seed of the first env reset.
        compile: Run each learning iteration (act + env step + replay add + updates) as one ``torch.compile``d
            function: CUDA graphs on CUDA (``mode="reduce-overhead"``), inductor kernels on the CPU.
        cuda_graph: Record each learning iteration's kernels as a CUDA graph with ``torch.cuda.graph`` (one per
            distinct sequence of update phases) and replay it for every later one (CUDA only; the eager kernels, no
            compilation; see :mod:`isaac_rl.runtime.capture`).
    """

    # No defaults for the loop keys: their one source is the train config (cfg/train/*.yaml), which sets each.
    max_iterations: int
    warmup_iterations: int
    batch_size: int
    updates_per_step: int
    log_interval: int
    eval_interval: int
    eval_target: Optional[float]
    eval_early_out: bool
    checkpoint_interval: int
    verify_episodes: int
    buffer_per_env: int
    seed: int = 0
    compile: bool = False
    cuda_graph: bool = False

    def check(self, prefix: str) -> None:
        """Raise ``ConfigError`` naming the first bad key under ``prefix`` (``train.loop``)."""
        for key in ("max_iterations", "batch_size", "updates_per_step", "log_interval", "buffer_per_env"):
            value = getattr(self, key)
            need(is_int(value) and value >= 1, f"{prefix}.{key}", value, "an integer >= 1")
        for key in ("warmup_iterations", "eval_interval", "checkpoint_interval"):
            value = getattr(self, key)
            need(is_int(value) and value >= 0, f"{prefix}.{key}", value, "an integer >= 0")
        need(is_int(self.verify_episodes) and 0 <= self.verify_episodes <= MAX_VERIFY_EPISODES,
             f"{prefix}.verify_episodes", self.verify_episodes,
             f"an integer from 0 to {MAX_VERIFY_EPISODES:,} (one env per episode, all at once)")
        need(self.eval_target is None or is_num(self.eval_target), f"{prefix}.eval_target", self.eval_target,
             "null or a finite number")
        need(isinstance(self.eval_early_out, bool), f"{prefix}.eval_early_out", self.eval_early_out, "True or False")


class OffPolicyTrainer:
    """Runs the loop. ``log`` gets host-float metrics at fixed intervals; ``save`` gets the full trainer state.

    Args:
        env: Training env (same-step auto-reset contract).
        algo: The learning algorithm (:class:`isaac_rl.algorithms.base.Algorithm`) with its exploration.
        buffer: Replay buffer on the env's device.
        cfg: Loop settings.
        eval_env: Evaluation env; ``None`` evaluates on ``env`` (Isaac Gym allows one sim per process) and resets it.
        verify_env: Verification env of ``verify_episodes`` envs; ``None`` verifies on ``eval_env`` (or ``env``).
        log: ``log(metrics, env_step)`` callback (rank 0), or ``None``.
        save: ``save(trainer)`` callback that writes a checkpoint, or ``None``.
        should_stop: Polled on the host every iteration and between the chunks of an evaluation or verification
            (stop signals: a Python flag, no device sync); a true value saves and ends the run (an interrupted
            evaluation or verification is not a result). With several ranks the ranks agree every
            ``STOP_POLL_DISTRIBUTED`` iterations.
        save_best: ``save_best(trainer, result)`` after a complete evaluation that beats every earlier one, or ``None``.
        is_main: Rank 0 (logs, evaluates, saves).
        agree: Multi-GPU: turns this rank's stop wish into the job's decision (any rank stops -> all stop), so every
            rank leaves the loop at the same iteration.
        nstep: n-step return window (``None``: one-step transitions go straight to the buffer).
        hooks: ``(interval, fn)`` pairs: rank 0 calls ``fn(trainer)`` after every ``interval``-th iteration, outside
            the hot loop (video recording).
    """

    def __init__(self, env: VecEnv, algo: Algorithm, buffer: ReplayBuffer, cfg: TrainerConfig,
                 eval_env: Optional[VecEnv] = None, log: Optional[Callable[[Dict[str, float], int], None]] = None,
                 save: Optional[Callable[["OffPolicyTrainer"], None]] = None,
                 should_stop: Optional[Callable[[], bool]] = None, is_main: bool = True,
                 agree: Optional[Callable[[bool], bool]] = None, nstep: Optional[NStepWindow] = None,
                 save_best: Optional[Callable[["OffPolicyTrainer", Dict[str, float]], None]] = None,
                 verify_env: Optional[VecEnv] = None,
                 hooks: Sequence[Tuple[int, Callable[["OffPolicyTrainer"], None]]] = ()) -> None:
        self.env, self.algo, self.buffer, self.cfg = env, algo, buffer, cfg
        self.eval_env, self.log, self.save, self.should_stop = eval_env, log, save, should_stop
        self.is_main, self.nstep, self.save_best, self.verify_env = is_main, nstep, save_best, verify_env
        self.hooks = list(hooks)
        self.agents = algo.agents
        self.agent_results: List[Dict[str, Any]] = [{"agent": k, "solved": False} for k in range(self.agents)]
        self._stopped = torch.zeros(self.agents, dtype=torch.bool, device=env.device)  # solved agents (frozen)
        self.last_verify: Dict[str, float] = {}
        self.last_verify_agents: List[Dict[str, float]] = [{} for _ in range(self.agents)]
        self._verify_policy: Any = None
        self._verified_at = -1  # iteration of the last verification
        self._verifier: Optional[Evaluator] = None
        self._distributed = agree is not None
        self.agree = agree if agree is not None else (lambda wish: wish)
        self.best_return = -math.inf  # best complete evaluation mean so far (nn/best.pt)
        self._params = [p for m in algo.modules().values() for p in m.parameters()]
        self.iteration = 0
        self.updates = 0  # gradient steps taken: a host count, so each update's phase is known without a device read
        self.solved_at: Optional[int] = None
        self.stats = EpisodeStats(env.num_envs, env.device, self.agents)
        self.obs = env.reset(cfg.seed).clone()  # one tensor for the run, updated in place (see _store)
        # First iteration (float, NEVER = none yet) at which the env got a non-finite action, or returned a
        # non-finite observation or reward: [action, observation, reward], kept on the device (no host sync in the
        # hot loop) and read with the metrics at the log interval, so a divergence names what went non-finite first.
        self._first_bad = torch.full((3,), NEVER, device=env.device)
        self._first_bad[1:2].masked_fill_(~torch.isfinite(self.obs).all().view(1), -1.0)  # -1: the first reset
        self._interrupted = False  # an evaluation or verification was cut by a stop request (not a result)
        self.last_eval: Dict[str, float] = {}
        self.stopped_by_signal = False
        self._evaluator: Optional[Evaluator] = None
        self._clock = torch.zeros((), device=env.device)  # the iteration as a device float (schedules read it there)
        self.learn = capture_iteration(self.learning_iteration, self.persistent_tensors, env.device,
                                        compile=cfg.compile, cuda_graph=cfg.cuda_graph)

    @property
    def env_steps(self) -> int:
        """Transitions collected so far (all agents)."""
        return self.iteration * self.env.num_envs

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

    def _store(self, action: torch.Tensor, clock: torch.Tensor) -> None:
        """Step the env with ``action`` (stored actions) at iteration ``clock`` (0-d device float), put the
        transitions (n-step ones once the window is full) in the replay buffer, track episode statistics, note
        non-finite actions, observations or rewards (device ops only) and advance ``obs``."""
        efforts = self.algo.to_env(action)
        out = self.env.step(efforts)
        done = out.terminated | out.truncated
        bad = torch.stack((~torch.isfinite(efforts).all(),
                           ~(torch.isfinite(out.obs).all() & torch.isfinite(out.final_obs).all()),
                           ~torch.isfinite(out.reward).all()))
        self._first_bad.copy_(torch.minimum(self._first_bad, torch.where(bad, clock, self._first_bad)))
        if self.nstep is None:
            self.buffer.add(self.obs, action, out.reward, out.final_obs, out.terminated)
        else:
            ready = self.nstep.push(self.obs, action, out.reward, out.final_obs, out.terminated, done)
            if ready is not None:
                self.buffer.add(*ready)
        self.algo.on_episode_end(done)
        self.stats.update(out.reward, done)
        # In place: under capture a rebound self.obs would be a graph output that the next replay overwrites before
        # it is read; the copy also keeps self.obs apart from the env's own tensors.
        self.obs.copy_(out.obs)

    def _phases(self) -> Tuple[int, ...]:
        """The phases of this iteration's ``updates_per_step`` updates (host decisions from the host update count)."""
        return tuple(self.algo.phase(self.updates + k) for k in range(self.cfg.updates_per_step))

    def _updates(self, phases: Tuple[int, ...]) -> Dict[str, torch.Tensor]:
        """One gradient step per phase on sampled batches; the last one's device metrics."""
        metrics: Dict[str, torch.Tensor] = {}
        for phase in phases:
            metrics = self.algo.update(self.buffer.sample(self.cfg.batch_size), phase)
        return metrics

    def learning_iteration(self, clock: torch.Tensor, phases: Tuple[int, ...]) -> Dict[str, torch.Tensor]:
        """Act (exploring at iteration ``clock``, a 0-d device float), step, store, update with ``phases``: the unit
        that ``compile=True`` traces and ``cuda_graph=True`` records (once per distinct ``phases``)."""
        self._store(self.algo.explore(self.obs, clock), clock)
        return self._updates(phases)

    def persistent_tensors(self) -> Iterator[torch.Tensor]:
        """Every tensor a learning iteration changes in place: observation, clock, statistics, buffer, n-step window,
        env state, algorithm (networks, optimizers, exploration)."""
        yield self.obs
        yield self._clock
        yield self._first_bad
        yield from self.stats.persistent_tensors()
        yield from self.buffer.persistent_tensors()
        if self.nstep is not None:
            yield from self.nstep.persistent_tensors()
        env_tensors = getattr(self.env, "persistent_tensors", None)  # torch tasks (the only backend a graph can record)
        if env_tensors is not None:
            yield from env_tensors()
        yield from self.algo.persistent_tensors()

    @property
    def _learning(self) -> bool:
        """``warmup_iterations`` done and the n-step window (if any) full: checked before an iteration (a learning
        one?) and after a warm-up iteration (whose own transitions may have reached it: then it updates)."""
        window_full = self.nstep is None or self.nstep.filled == self.nstep.n
        return self.iteration >= self.cfg.warmup_iterations and window_full

    def train_step(self) -> Dict[str, torch.Tensor]:
        """One iteration of the hot loop; no host syncs on CUDA. Returns the last update's device metrics."""
        self._clock.fill_(float(self.iteration))  # a host scalar as a kernel argument: no sync
        if self._learning:
            phases = self._phases()
            metrics = self.learn(self._clock, phases)
            self.updates += len(phases)
            self.iteration += 1
            return metrics
        # Warm-up: uniform random actions for warmup_iterations; the n-step window fills. Updates begin with the
        # first iteration that ends at or past warmup_iterations.
        if self.iteration < self.cfg.warmup_iterations:
            action = self.algo.random_action(self.env.num_envs)
        else:
            action = self.algo.explore(self.obs, self._clock)
        self._store(action, self._clock)
        self.iteration += 1
        if self._learning:
            phases = self._phases()
            self.updates += len(phases)
            return self._updates(phases)
        return {}

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
                                 should_stop=self.should_stop, progress=self._progress("evaluating", episodes))
        if self.eval_env is None:
            self._restart_episodes()
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

    def _restart_episodes(self) -> None:
        """After an evaluation or verification on the training env (one simulation per process): reset it, and end
        the training episodes it cut everywhere they are tracked (episode statistics, n-step window, exploration
        noise), so the evaluation leaves no trace in training's episodes."""
        self.obs.copy_(self.env.reset())
        self.stats.drop_running()
        if self.nstep is not None:
            self.nstep.cut()
        self.algo.on_episode_end(torch.ones(self.env.num_envs, dtype=torch.bool, device=self.env.device))

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
        ``_interrupted`` (an interrupted verification is not a result)."""
        env = self.verify_env or self.eval_env or self.env
        if self._verifier is None:  # one agent's policy, reloaded in place per agent (a recorded chunk stays valid)
            self._verify_policy = self.algo.policy_module(0).to(env.device)
            self._verifier = Evaluator(env, self._verify_policy,
                                       cuda_graph=self.cfg.cuda_graph and env is not self.env)
        result: Dict[str, float] = {}
        rows: Dict[int, Dict[str, float]] = {}
        for k in range(self.agents) if candidates is None else candidates:
            self._verify_policy.load_state_dict(self.algo.policy_module(k).state_dict())
            raw = self._verifier(seed=self.cfg.seed + VERIFY_SEED_OFFSET + self.iteration, target=target,
                                 should_stop=self.should_stop,
                                 progress=self._progress(f"verifying{self._who(k)}", env.num_envs))
            if raw.get("eval/stopped"):
                self._say_stopped(f"verification{self._who(k)}", raw, env)
                break
            result = {"eval/verified_episodes": float(env.num_envs), "eval/verified_complete": raw["eval/complete"]}
            if raw["eval/complete"]:
                result.update({"eval/verified_mean_return": raw["eval/mean_return"],
                               "eval/verified_min_return": raw["eval/min_return"],
                               "eval/verified_std_return": raw["eval/std_return"]})
            else:
                result.update({"eval/verified_" + name.split("/")[1]: raw[name]
                               for name in ("eval/return_bound", "eval/unfinished") if name in raw})
            rows[k] = result
        if env is self.env:
            self._restart_episodes()
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
                logged = self.stats.flush()
                # One host read for the metrics, a sum of every weight (NaN/inf anywhere makes it non-finite) and the
                # first iterations of non-finite actions, observations and rewards.
                named = self.agent_metrics(metrics)
                values = torch.stack([*named.values(), self._weight_sum(), *self._first_bad.unbind()]).tolist()
                logged.update(zip(named, values))
                logged["charts/SPS"] = (self.env_steps - last_steps) / max(now - last_t, 1e-9)
                last_t, last_steps = now, self.env_steps
                if self.log is not None and self.is_main:
                    self.log(logged, self.env_steps)
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
            for interval, hook in self.hooks:
                if self.is_main and it % interval == 0:
                    hook(self)
            if cfg.checkpoint_interval and it % cfg.checkpoint_interval == 0 and self.save is not None:
                self._check_health()
                self.save(self)
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
                if self.log is not None:
                    self.log(checked, self.env_steps)
                for k in self.unsolved:
                    self.agent_results[k].update(self.last_verify_agents[k])
        if self.log is not None and self.is_main:  # one metric every run logs: the objective of a sweep (minimise)
            unsolved = 2 * cfg.max_iterations
            self.log({"eval/solved": float(self.solved_at is not None), "eval/iterations_to_solve": float(
                self.iteration if self.solved_at is not None else unsolved)}, self.env_steps)
        if self.save is not None:
            self.save(self)
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
        if self.log is not None:
            self.log(result, self.env_steps)
        mean = result.get("eval/mean_return", -math.inf)  # absent when cut short (out of reach)
        if self.agents == 1 and mean > self.best_return:  # a population keeps nn/agent<k>.pt instead
            self.best_return = mean
            if self.save_best is not None:
                self.save_best(self, result)  # refuses non-finite weights (DivergedError)
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
            if self.log is not None:
                self.log(checked, self.env_steps)
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
        values = torch.stack([self._weight_sum(), *self._first_bad.unbind()]).tolist()
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
        wish = self.should_stop is not None and self.should_stop()
        if not self._distributed:
            return wish
        if iteration % STOP_POLL_DISTRIBUTED == 0 or iteration == self.cfg.max_iterations:
            return self.agree(wish)
        return False

    def state_dict(self) -> Dict[str, Any]:
        """Everything needed to continue bit-identically (with a torch task): algorithm, buffer, env, RNG, counters."""
        state: Dict[str, Any] = {
            "iteration": self.iteration, "updates": self.updates, "obs": self.obs.clone(),
            "stats": self.stats.state_dict(), "agent": self.algo.state_dict(), "buffer": self.buffer.state_dict(),
            "rng_cpu": torch.get_rng_state(), "agent_results": [dict(r) for r in self.agent_results],
            "stopped": self._stopped.clone(), "solved_at": self.solved_at}
        if self.env.device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(self.env.device)
        if self.nstep is not None:
            state["nstep"] = self.nstep.state_dict()
        if hasattr(self.env, "state_dict"):
            state["env"] = self.env.state_dict()  # type: ignore[attr-defined]
        return state

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` (also of checkpoints of the earlier layout: the update count then comes
        from the learner's, the noise state from the trainer's ``noise`` entry)."""
        self.iteration = int(state["iteration"])
        agent = dict(state["agent"])
        self.updates = int(state.get("updates", agent.get("num_updates", 0)))
        if "noise" in state and "noise" not in agent:
            agent["noise"] = state["noise"]
        self.obs.copy_(state["obs"])
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
        self.stats.load_state_dict(state["stats"])
        self.algo.load_state_dict(agent)
        self.buffer.load_state_dict(state["buffer"])
        torch.set_rng_state(state["rng_cpu"].cpu())
        if "rng_cuda" in state and self.env.device.type == "cuda":
            torch.cuda.set_rng_state(state["rng_cuda"].cpu(), self.env.device)
        if self.nstep is not None and "nstep" in state:
            self.nstep.load_state_dict(state["nstep"])
        if "env" in state and hasattr(self.env, "load_state_dict"):
            self.env.load_state_dict(state["env"])  # type: ignore[attr-defined]
        if self.agents > 1:
            self.algo.freeze(self._stopped)  # solved agents stay frozen
