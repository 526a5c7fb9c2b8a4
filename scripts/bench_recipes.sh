#!/usr/bin/env bash
# The shipped recipes against the previous ones (their env counts and schedules, converted to iterations), both run
# by this code and so both verified on 1,000 fresh episodes, one after the other in one call (BENCHMARKS.md).
set -euo pipefail -x
cd "$(dirname "$0")/.."
B="python scripts/bench_train.py --timeout 90"
$B --cases CartPole-v1/DQN
$B --cases CartPole-v1/DQN num_envs=32 num_eval_envs=16 train.loop.warmup_iterations=32 \
    train.algo.eps_decay_iterations=250 train.loop.buffer_per_env=3125 train.loop.eval_interval=100 max_iterations=6000
$B --cases Pendulum/DDPG
$B --cases Pendulum/DDPG num_envs=16 num_eval_envs=16 train.loop.warmup_iterations=63 train.loop.buffer_per_env=6250
$B --seeds 3 --cases Cartpole/DQN
$B --seeds 3 --cases Cartpole/DQN num_envs=64 num_eval_envs=16 train.algo.lr=5e-4 train.algo.tau=0.005 \
    train.algo.eps_decay_iterations=156 train.loop.warmup_iterations=16 train.loop.buffer_per_env=1563 max_iterations=6000
