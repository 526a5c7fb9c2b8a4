"""Time-to-solve: wall-clock seconds from process start to a verified solve.

Each run is a real ``scripts/train.py`` process (torch import, Hydra, env and buffer set-up all count), timed by
this script from ``Popen`` to the moment the run prints ``[isaac_rl] solved``: an evaluation met the bar and the
policy then met it again on ``train.loop.verify_episodes`` (1,000 by default) fresh deterministic episodes. A run counts
as solved only when the verified mean return in its summary meets the bar. Per case it prints the median over
the seeds, the env steps and gradient steps used, the peak RSS of the process and the replay buffer's bytes per
transition; ``--peer`` also runs the peers of ``scripts/peers/`` on the selected cases' tasks in the same run (the
CleanRL-style single-env DQN on CartPole-v1; rsl_rl PPO with Isaac Lab's cart-pole recipe on Cartpole, in the
interpreter ``--peer-python`` names, one with rsl-rl-lib) and prints our time / its time; ``--memory`` compares
the peak RSS of a run 10x longer than another.

``--population`` also trains the same seeds as one ``population=K`` process (agent k = seed 1 + k) and prints its
time from process start to the last agent's verified solve over the median single-seed time of this call, with
both distributions of iterations to the bar (every agent must be verified-solved for the population to count).

    python scripts/bench_train.py                       # all cases, 5 seeds
    python scripts/bench_train.py --cases CartPole-v1/DQN --peer
    python scripts/bench_train.py --cases Cartpole/DQN --peer --peer-python .venv-isaaclab/bin/python
    python scripts/bench_train.py --cases Pendulum/DDPG --memory
    python scripts/bench_train.py --cases CartPole-v1/DQN,Pendulum/DDPG --population
    python scripts/bench_train.py --cases CartpoleBalance/DDPG,CartpoleBalanceSparse/DDPG
    python scripts/bench_train.py --cases Cartpole/DQN,Cartpole/DQNRandomized --robust

``--robust`` also plays each run's final policy (``nn/last.pt``) under the named model variations of
``scripts/play.py --variations`` (1,000 episodes each) and adds, per case, the lowest mean over the seeds and the
worst episode under each variation.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# name -> (task, train config, bar)
CASES: Dict[str, Tuple[str, str, float]] = {
    "CartPole-v1/DQN": ("CartPole-v1", "CartPole-v1DQN", 475.0),
    "Pendulum/DDPG": ("Pendulum", "PendulumDDPG", -200.0),
    "Cartpole/DQN": ("Cartpole", "CartpoleDQN", 490.0),
    "Cartpole/DDPG": ("Cartpole", "CartpoleDDPG", 490.0),
    # randomized training (task.randomize), same task and bar; robustness measured with --robust
    "Cartpole/DQNRandomized": ("Cartpole", "CartpoleDQNRandomized", 490.0),
    "Cartpole/DDPGRandomized": ("Cartpole", "CartpoleDDPGRandomized", 490.0),
    "Pendulum/TD3": ("Pendulum", "PendulumTD3", -200.0),
    "Pendulum/SAC": ("Pendulum", "PendulumSAC", -200.0),
    "Cartpole/TD3": ("Cartpole", "CartpoleTD3", 490.0),
    "Cartpole/SAC": ("Cartpole", "CartpoleSAC", 490.0),
    # on-policy learners (PPO on Isaac Lab's rsl_rl cart-pole recipe: compare with --peer at num_envs=512, the
    # peer's default)
    "Cartpole/PPO": ("Cartpole", "CartpolePPO", 490.0),
    "CartPole-v1/PQN": ("CartPole-v1", "CartPole-v1PQN", 475.0),
    "CartPole-v1/Tabular": ("CartPole-v1", "CartPole-v1Tabular", 195.0),  # the classic bar (gymnasium's v0)
    # DeepMind Control Suite cart-poles (tasks/dmc_cartpole.py): dm_control's 995 of a 1000-step episode
    "CartpoleBalance/DDPG": ("CartpoleBalance", "CartpoleBalanceDDPG", 995.0),
    "CartpoleBalanceSparse/DDPG": ("CartpoleBalanceSparse", "CartpoleBalanceSparseDDPG", 995.0),
    "CartpoleBalanceSparse/DQN": ("CartpoleBalanceSparse", "CartpoleBalanceSparseDQN", 995.0),
    "CartpoleSwingup/SAC": ("CartpoleSwingup", "CartpoleSwingupSAC", 880.0),  # the best published (not reached)
    "CartpoleSwingup/DDPG": ("CartpoleSwingup", "CartpoleSwingupDDPG", 880.0),  # met by seeds 1-4 of 5
    "CartpoleSwingup/PPO": ("CartpoleSwingup", "CartpoleSwingupPPO", 880.0),  # (not reached)
    "CartpoleSwingupSparse/DDPG": ("CartpoleSwingupSparse", "CartpoleSwingupSparseDDPG", 845.0),  # (not reached)
    "CartpoleTwoPoles/DDPG": ("CartpoleTwoPoles", "CartpoleTwoPolesDDPG", 700.0),  # nobody publishes a solve
    "CartpoleTwoPoles/SAC": ("CartpoleTwoPoles", "CartpoleTwoPolesSAC", 700.0),  # (not reached)
    "CartpoleThreePoles/DDPG": ("CartpoleThreePoles", "CartpoleThreePolesDDPG", 500.0),  # (not reached)
    "CartpoleThreePoles/SAC": ("CartpoleThreePoles", "CartpoleThreePolesSAC", 500.0),
}
# --peer: name -> (script in scripts/peers/, the task it runs with the same bar, a module it needs). Each prints
# "solved at ..." once its policy met the task's bar on verification, and a JSON summary with env_steps.
PEERS: Dict[str, Tuple[str, str, Optional[str]]] = {
    "CleanRL-style DQN": ("cleanrl_style_dqn.py", "CartPole-v1", None),
    "rsl_rl PPO (Isaac Lab's cart-pole recipe)": ("rsl_rl_ppo_cartpole.py", "Cartpole", "rsl_rl"),
}
# Published on a 2-core CPU like ours (issue "Speed"): seconds to CartPole-v1 >= 475 / Pendulum >= -200.
REFERENCE = {"CartPole-v1/DQN": {"PureJaxRL DQN": 14.5, "CleanRL PQN": 36.5, "CleanRL DQN": 82.0},
             "Pendulum/DDPG": {"CleanRL DDPG": 39.5}}


def timed_run(cmd: List[str], timeout: float) -> Dict[str, Any]:
    """Run ``cmd``; return seconds to its ``solved`` line (None if never), its last JSON summary and peak RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    solved_s: Optional[float] = None
    solves: List[float] = []  # every solve line (a population prints one per agent)
    summary: Dict[str, Any] = {}
    bytes_per_transition = None
    lines = []
    timed_out = False
    assert proc.stdout is not None
    for line in proc.stdout:
        now = time.perf_counter() - start
        lines.append(line)
        if "[isaac_rl] solved" in line or line.startswith("solved at"):
            solves.append(now)
            solved_s = solves[0]
        if "summary {" in line:
            summary = json.loads(line.split("summary ", 1)[1])
        elif line.startswith("{"):
            summary = json.loads(line)
        match = re.search(r"transitions x (\d+) B", line)
        if match:
            bytes_per_transition = int(match.group(1))
        if now > timeout:
            proc.kill()
            timed_out = True
            break
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0 and not summary and not timed_out:  # a run given up on at the timeout counts as unsolved
        sys.stderr.write("".join(lines[-20:]))
        raise SystemExit(f"command failed: {' '.join(cmd)}")
    return {"solved_s": solved_s, "last_solved_s": solves[-1] if solves else None, "summary": summary,
            "peak_rss_mib": usage.ru_maxrss / 1024, "bytes_per_transition": bytes_per_transition,
            "total_s": time.perf_counter() - start}


def train_cmd(task: str, train: str, bar: Optional[float], seed: int, out: str, device: str,
              extra: List[str]) -> List[str]:
    target = "null" if bar is None else str(bar)
    return [sys.executable, os.path.join(ROOT, "scripts", "train.py"), f"task={task}", f"train={train}",
            f"seed={seed}", f"sim_device={device}", f"train_dir={out}", f"experiment={train}_s{seed}_{time.time_ns()}",
            f"train.loop.eval_target={target}"] + extra


def verified(r: Dict[str, Any], bar: float) -> bool:
    """Solved = the run printed its solve and the summary's verified mean return (fresh episodes) meets the bar."""
    mean = r["summary"].get("eval/verified_mean_return")
    return r["solved_s"] is not None and r["summary"].get("solved_at") is not None and mean is not None \
        and mean >= bar


ROBUST = ("solid_box_inertia", "mass+20%")  # the variations --robust measures (isaac_rl/app/robustness.py)


def robustness(run_dir: str, device: str) -> Dict[str, Dict[str, float]]:
    """``{variation: {"mean_return", "min_return", ...}}`` of the run's ``nn/last.pt`` (scripts/play.py
    --variations, 1,000 episodes each)."""
    cmd = [sys.executable, os.path.join(ROOT, "scripts", "play.py"), os.path.join(run_dir, "nn", "last.pt"),
           "--variations", ",".join(ROBUST), "--device", device]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["variations"]


def bench_case(name: str, seeds: List[int], device: str, timeout: float, extra: List[str],
               robust: bool = False) -> Dict[str, Any]:
    task, train, bar = CASES[name]
    runs = []
    with tempfile.TemporaryDirectory() as out:
        for seed in seeds:
            r = timed_run(train_cmd(task, train, bar, seed, out, device, extra), timeout)
            s = r["summary"]
            r["verified"] = verified(r, bar)
            if robust and s.get("run_dir"):
                r["robust"] = robustness(s["run_dir"], device)
                print(f"  {name} seed {seed} under variations: " + ", ".join(
                    f"{v} mean {r['robust'][v]['mean_return']:.1f} worst {r['robust'][v]['min_return']:.1f}"
                    for v in ROBUST), flush=True)
            print(f"  {name} seed {seed}: {'solved' if r['verified'] else 'NOT solved'} in "
                  f"{r['solved_s'] and round(r['solved_s'], 2)} s (iterations {s.get('iterations')}, env steps "
                  f"{s.get('env_steps')}, gradient steps {s.get('gradient_steps')}, training {s.get('wall_s', 0):.2f} "
                  f"s, verified mean {s.get('eval/verified_mean_return')} min {s.get('eval/verified_min_return')} "
                  f"over {s.get('eval/verified_episodes')} episodes, peak RSS {r['peak_rss_mib']:.0f} MiB)", flush=True)
            runs.append(r)
    times = [r["solved_s"] if r["verified"] else float("inf") for r in runs]
    solved = [r for r in runs if r["verified"]]

    def median(key: str) -> Any:
        return statistics.median([r["summary"][key] for r in solved]) if solved else None

    return {"case": name, "bar": bar, "seeds": len(runs), "solved": len(solved), "times": times,
            "iterations": [r["summary"].get("iterations") if r["verified"] else None for r in runs],
            "median_s": statistics.median(times), "max_s": max(times),
            "median_iterations": median("iterations"), "median_env_steps": median("env_steps"),
            "median_gradient_steps": median("gradient_steps"), "median_train_s": median("wall_s"),
            "verified_mean": min((r["summary"].get("eval/verified_mean_return", -math.inf) for r in runs),
                                 default=None),
            "verified_min": min((r["summary"].get("eval/verified_min_return", -math.inf) for r in runs),
                                default=None),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
            "bytes_per_transition": runs[0]["bytes_per_transition"],
            "robust": {v: (min(r.get("robust", {}).get(v, {}).get("mean_return", -math.inf) for r in runs),
                           min(r.get("robust", {}).get(v, {}).get("min_return", -math.inf) for r in runs))
                       for v in ROBUST} if robust else {}}


def bench_population(single: Dict[str, Any], seeds: List[int], device: str, timeout: float,
                     extra: List[str]) -> Dict[str, Any]:
    """The seeds of ``single`` (this call's separate runs) as one population process (agent k = seed seeds[0] + k);
    it counts as solved only when every agent's verified mean meets the bar."""
    name = single["case"]
    task, train, bar = CASES[name]
    with tempfile.TemporaryDirectory() as out:
        r = timed_run(train_cmd(task, train, bar, seeds[0], out, device, extra + [f"population={len(seeds)}"]),
                      timeout * len(seeds))
    agents = r["summary"].get("agents", [])
    ok = len(agents) == len(seeds) and all(a["solved"] and a.get("eval/verified_mean_return", -math.inf) >= bar
                                           for a in agents)
    its = [a.get("iterations_to_solve") if a["solved"] else None for a in agents]
    pop_s = r["last_solved_s"] if ok else float("inf")
    ratio = pop_s / single["median_s"]
    print(f"  {name} population of {len(seeds)}: {'all verified-solved' if ok else 'NOT all solved'} in "
          f"{fmt(pop_s)} s from process start ({r['summary'].get('iterations')} iterations, training "
          f"{r['summary'].get('wall_s', 0):.2f} s, peak RSS {r['peak_rss_mib']:.0f} MiB); iterations to the bar per "
          f"agent {its} vs separate runs {single['iterations']}; "
          f"verified means {[round(a.get('eval/verified_mean_return', -math.inf), 1) for a in agents]}", flush=True)
    return {"case": name, "agents": len(seeds), "ok": ok, "population_s": pop_s, "single_median_s": single["median_s"],
            "separate_total_s": sum(single["times"]), "ratio": ratio, "agent_iterations": its,
            "single_iterations": single["iterations"]}


def fmt(x: Any) -> str:
    """A table cell: ``-`` for a missing or non-finite number (an unsolved or cut-short run), floats to 2 places."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.2f}" if isinstance(x, float) else str(x)


def bench_peer(name: str, seeds: List[int], timeout: float, python: str) -> Optional[Dict[str, Any]]:
    """Seconds from process start to the peer's solve, per seed; None (said in one line) when ``python`` lacks the
    module the peer needs."""
    script, _, needs = PEERS[name]
    if needs and subprocess.run([python, "-c", f"import {needs}"], capture_output=True).returncode != 0:
        print(f"  peer {name} skipped: {python} cannot import {needs} (--peer-python: an interpreter that can)",
              flush=True)
        return None
    times = []
    for seed in seeds:
        r = timed_run([python, os.path.join(ROOT, "scripts", "peers", script), "--seed", str(seed)], timeout)
        print(f"  peer {name} seed {seed}: solved in {r['solved_s'] and round(r['solved_s'], 2)} s "
              f"(env steps {r['summary'].get('env_steps')})", flush=True)
        times.append(r["solved_s"] if r["solved_s"] is not None else float("inf"))
    return {"median_s": statistics.median(times), "solved": sum(t != float("inf") for t in times), "seeds": len(seeds)}


def bench_memory(name: str, iterations: int, device: str) -> None:
    """Peak RSS of a run of ``iterations`` and of one 10x longer (no early stop): growth means a leak."""
    task, train, _ = CASES[name]
    with tempfile.TemporaryDirectory() as out:
        rss = []
        for its in (iterations, 10 * iterations):
            r = timed_run(train_cmd(task, train, None, 0, out, device, [f"max_iterations={its}"]), 3600)
            rss.append(r["peak_rss_mib"])
            print(f"  {name}: {its} iterations -> peak RSS {r['peak_rss_mib']:.1f} MiB", flush=True)
    print(f"memory {name}: peak RSS {rss[0]:.1f} MiB after {iterations} iterations, {rss[1]:.1f} MiB after "
          f"{10 * iterations} (x{rss[1] / rss[0]:.3f})")


def parse_cases(parser: argparse.ArgumentParser, text: str) -> List[str]:
    """``--cases a,b`` -> ``["a", "b"]``; an unknown case is a usage error naming the allowed ones."""
    cases = [c for c in text.split(",") if c]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown cases {unknown}; allowed: {list(CASES)}")
    return cases


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, from {list(CASES)}")
    p.add_argument("--seeds", type=int, default=5, help="seeds 1..K per case; default 5")
    p.add_argument("--device", default="cpu", help="sim_device of the runs; default cpu")
    p.add_argument("--timeout", type=float, default=300.0, help="give up on a run after this many seconds")
    p.add_argument("--peer", action="store_true", help="also run the peers on the selected cases' tasks: "
                   + ", ".join(f"{n} ({t})" for n, (_, t, _) in PEERS.items()))
    p.add_argument("--peer-python", default=sys.executable, help="interpreter of the peers (rsl_rl PPO needs "
                   "rsl-rl-lib and this package, e.g. .venv-isaaclab/bin/python); default this one")
    p.add_argument("--peer-seeds", type=int, default=1, help="seeds of the peer; default 1 (it takes minutes)")
    p.add_argument("--memory", action="store_true", help="compare peak RSS of a run and a 10x longer one")
    p.add_argument("--population", action="store_true", help="also train the seeds as one population=K process")
    p.add_argument("--agents", type=int, default=0, help="agents of the --population run (seeds 1..N); default: "
                   "--seeds (a GPU check: --seeds 3 --agents 64)")
    p.add_argument("--robust", action="store_true", help="also play each run's policy under the model variations "
                   f"{', '.join(ROBUST).replace('%', '%%')} (1,000 episodes each) and add their lowest mean and "
                   "worst episode")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides passed to every run (e.g. num_envs=64)")
    args = p.parse_args()
    cases = parse_cases(p, args.cases)
    seeds = list(range(1, args.seeds + 1))
    import torch  # only for the machine description

    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, device {args.device}"
          + (f" ({torch.cuda.get_device_name(0)})" if args.device.startswith("cuda") else ""), flush=True)
    results = [bench_case(c, seeds, args.device, args.timeout, args.overrides, args.robust) for c in cases]
    agent_seeds = list(range(1, (args.agents or args.seeds) + 1))
    pops = [bench_population(r, agent_seeds, args.device, args.timeout, args.overrides) for r in results] \
        if args.population else []
    tasks = {CASES[c][0] for c in cases}
    peers = {n: bench_peer(n, list(range(1, args.peer_seeds + 1)), 1800, args.peer_python)
             for n, (_, task, _) in PEERS.items() if args.peer and task in tasks}
    robust_head = "".join(f" {v}: lowest mean (worst episode) |" for v in ROBUST) if args.robust else ""
    print("\n| case | bar | verified solved | median s (process start -> verified solve) | slowest s | median "
          "training s | median iterations | median env steps | median grad steps | lowest verified mean | lowest "
          "verified min | peak RSS MiB | buffer B/transition |" + robust_head)
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|" + "---|" * (len(ROBUST) if args.robust else 0))
    for r in results:
        robust_cells = "".join(f" {fmt(m)} ({fmt(w)}) |" for m, w in r["robust"].values())
        print(f"| {r['case']} | {r['bar']} | {r['solved']}/{r['seeds']} | {r['median_s']:.2f} | {r['max_s']:.2f} | "
              f"{fmt(r['median_train_s'])} | {r['median_iterations']} | {r['median_env_steps']} | "
              f"{r['median_gradient_steps']} | {fmt(r['verified_mean'])} | {fmt(r['verified_min'])} | "
              f"{r['peak_rss_mib']:.0f} | {r['bytes_per_transition']} |" + robust_cells)
    for r in results:
        for peer_name, peer_s in REFERENCE.get(r["case"], {}).items():
            print(f"{r['case']}: ours / {peer_name} (published, {peer_s} s) = {r['median_s'] / peer_s:.3f}")
        for peer_name, peer in peers.items():
            if peer is not None and PEERS[peer_name][1] == CASES[r["case"]][0]:
                print(f"{r['case']}: ours / {peer_name} measured in this run ({peer['median_s']:.1f} s, "
                      f"{peer['solved']}/{peer['seeds']} solved) = {r['median_s'] / peer['median_s']:.3f}")
    if pops:
        print("\n| case | agents | population: process start -> last agent verified-solved s | median single-seed s "
              "| separate runs, sum s | population / median single | iterations to the bar per agent | separate "
              "runs' iterations |")
        print("|---|---|---|---|---|---|---|---|")
        for q in pops:
            print(f"| {q['case']} | {q['agents']} | {fmt(q['population_s'])} | {q['single_median_s']:.2f} | "
                  f"{fmt(q['separate_total_s'])} | {fmt(q['ratio'])} | {q['agent_iterations']} | "
                  f"{q['single_iterations']} |")
        for q in pops:
            print(f"{q['case']}: population of {q['agents']} / median single seed = {fmt(q['ratio'])}")
    if args.memory:
        for c in cases:
            bench_memory(c, 300, args.device)


if __name__ == "__main__":
    main()
