"""Env-steps/s of the torch CartPole-v1 backend against gymnasium's native vector CartPole, in one run.

    python scripts/bench_env.py [--device cpu|cuda] [--envs 256 4096 65536] [--steps 200] [--rounds 5]
    python scripts/bench_env.py --device cuda --envs 4096 1000000      # GPU: eager and CUDA-graph figures

Both step the same task (classic CartPole-v1) with random actions; the ratio printed is torch / gymnasium. The runners
are timed in alternating rounds and each figure is the median over rounds, so a noisy (shared, virtualised) machine
slows all alike instead of whichever happened to run during a slow spell. The Isaac preset (``Cartpole``, RK4 with
2 substeps) is printed beside. On CUDA each torch task is also timed with its ``--steps`` steps replayed as one CUDA
graph (:class:`isaac_rl.runtime.step_graph.StepGraph`), which removes the host's per-kernel launch cost.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from isaac_rl.runtime.step_graph import StepGraph  # noqa: E402
from isaac_rl.tasks import make_task  # noqa: E402


class GymnasiumRunner:
    """gymnasium's native vector CartPole-v1 (NumPy, one array op per physics step for all envs)."""

    def __init__(self, n: int, steps: int) -> None:
        self.env = gym.make_vec("CartPole-v1", num_envs=n, vectorization_mode="vector_entry_point")
        self.env.reset(seed=0)
        self.actions = np.random.default_rng(0).integers(0, 2, (steps, n))
        self.n = n
        self.run()  # warm-up

    def run(self) -> float:
        start = time.perf_counter()
        for a in self.actions:
            self.env.step(a)
        return self.n * len(self.actions) / (time.perf_counter() - start)


class TorchRunner:
    """One of our torch tasks stepped with random +-1 efforts."""

    def __init__(self, task: str, n: int, steps: int, device: str) -> None:
        self.env = make_task(task, num_envs=n, device=device)
        self.env.reset(seed=0)
        self.actions = torch.randint(0, 2, (steps, n, 1), device=device).float() * 2 - 1
        self.n, self.cuda = n, device.startswith("cuda")
        self.prepare()
        self.run()  # warm-up

    def prepare(self) -> None:
        """Set-up after the env and actions exist (nothing for eager steps)."""

    def steps(self) -> None:
        for a in self.actions:
            self.env.step(a)

    def run(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        self.steps()
        if self.cuda:
            torch.cuda.synchronize()
        return self.n * len(self.actions) / (time.perf_counter() - start)


class GraphRunner(TorchRunner):
    """A torch task whose ``steps`` steps replay as one CUDA graph."""

    def prepare(self) -> None:
        self.graph = StepGraph(self.env, self.actions)

    def steps(self) -> None:
        self.graph.replay()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--envs", type=int, nargs="+", default=[256, 4096, 65536])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5, help="alternating timing rounds; medians are printed")
    args = parser.parse_args()
    print(f"device={args.device} torch={torch.__version__} gymnasium={gym.__version__} "
          f"threads={torch.get_num_threads()}")
    graphs = args.device.startswith("cuda")
    if graphs:
        print(f"GPU: {torch.cuda.get_device_name(args.device)}; 'graph': {args.steps} steps replayed as one CUDA graph")
    print(f"{'num_envs':>9} {'torch CartPole-v1':>18} {'gymnasium vector':>17} {'ratio':>6} "
          f"{'torch Cartpole(Isaac)':>22}" + (f" {'CartPole-v1 graph':>18} {'ratio':>6} {'Cartpole graph':>15}"
                                               if graphs else ""), flush=True)
    for n in args.envs:
        runners = [TorchRunner("CartPole-v1", n, args.steps, args.device), GymnasiumRunner(n, args.steps),
                   TorchRunner("Cartpole", n, args.steps, args.device)]
        if graphs:
            runners += [GraphRunner("CartPole-v1", n, args.steps, args.device),
                        GraphRunner("Cartpole", n, args.steps, args.device)]
        rates = [[r.run() for r in runners] for _ in range(args.rounds)]  # alternate: [round][runner]
        ours, peer, isaac, *graphed = (statistics.median(col) for col in zip(*rates))
        line = f"{n:>9} {ours:>18.3e} {peer:>17.3e} {ours / peer:>6.2f} {isaac:>22.3e}"
        if graphs:
            line += f" {graphed[0]:>18.3e} {graphed[0] / peer:>6.2f} {graphed[1]:>15.3e}"
        print(line, flush=True)
        del runners

if __name__ == "__main__":
    main()
