"""Env-steps/s of the torch CartPole-v1 backend against gymnasium's native vector CartPole, in one run.

    python scripts/bench_env.py [--device cpu|cuda] [--envs 256 4096 65536] [--steps 200]

Both step the same task (classic CartPole-v1) with random actions; the ratio printed is torch / gymnasium.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from tasks import make_task  # noqa: E402


def steps_per_s_gymnasium(n: int, steps: int) -> float:
    env = gym.make_vec("CartPole-v1", num_envs=n, vectorization_mode="vector_entry_point")
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 2, (steps, n))
    for a in actions[:10]:
        env.step(a)
    start = time.perf_counter()
    for a in actions:
        env.step(a)
    return n * steps / (time.perf_counter() - start)


def steps_per_s_torch(task: str, n: int, steps: int, device: str) -> float:
    env = make_task(task, num_envs=n, device=device)
    env.reset(seed=0)
    actions = torch.randint(0, 2, (steps, n, 1), device=device).float() * 2 - 1
    for a in actions[:10]:
        env.step(a)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for a in actions:
        env.step(a)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return n * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--envs", type=int, nargs="+", default=[256, 4096, 65536])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    print(f"device={args.device} torch={torch.__version__} gymnasium={gym.__version__} "
          f"threads={torch.get_num_threads()}")
    print(f"{'num_envs':>9} {'torch CartPole-v1':>18} {'gymnasium vector':>17} {'ratio':>6} "
          f"{'torch Cartpole(Isaac)':>22}")
    for n in args.envs:
        ours = steps_per_s_torch("CartPole-v1", n, args.steps, args.device)
        peer = steps_per_s_gymnasium(n, args.steps)
        isaac = steps_per_s_torch("Cartpole", n, args.steps, args.device)
        print(f"{n:>9} {ours:>18.3e} {peer:>17.3e} {ours / peer:>6.2f} {isaac:>22.3e}")


if __name__ == "__main__":
    main()
