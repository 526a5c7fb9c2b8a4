#!/usr/bin/env bash
# Every GPU check in one call (about 14 minutes on one H100): install the wheels in .whl/, run the CUDA tests, then
# the benchmarks, writing each output and the scaling figure to $OUT (default gpu_out/).
#
#   bash scripts/gpu_check.sh                       # on the GPU machine: python3 with a CUDA torch
#   DEVICE=cpu QUICK=1 bash scripts/gpu_check.sh    # rehearsal on a CPU machine (tiny settings, same steps)
#
# The GPU machine cannot download: put wheels of what its python3 lacks (hydra-core, omegaconf, antlr4-python3-runtime,
# gymnasium, cloudpickle, farama-notifications) in .whl/ first, e.g. on a machine with a registry:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl hydra-core omegaconf \
#       antlr4-python3-runtime==4.9.3 gymnasium cloudpickle farama-notifications
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_out}
DEVICE=${DEVICE:-cuda:0}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
if [ -d .whl ]; then
    $PY -m pip install -q --no-index --find-links .whl hydra-core omegaconf gymnasium 2>&1 | tail -3
fi
$PY -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | tail -3
{ nvidia-smi 2>/dev/null || true; $PY -c "import torch; print(torch.__version__, torch.cuda.is_available())"; } \
    > "$OUT/machine.txt" 2>&1

if [ "${QUICK:-0}" = 1 ]; then  # rehearsal: one seed, small counts, short limits
    SEEDS=1; COUNTS=256,1024; LOOP_ENVS=1024; TIMEOUT=60; CASES=CartPole-v1/DQN,Pendulum/DDPG; AGENTS=2
    POP_CASES=CartPole-v1/DQN
else
    SEEDS=5; COUNTS=256,4096,16384,65536,262144; LOOP_ENVS=4096,65536; TIMEOUT=60
    CASES=CartPole-v1/DQN,Pendulum/DDPG,Cartpole/DQN,Cartpole/DDPG; AGENTS=64; POP_CASES=Cartpole/DQN,Cartpole/DDPG
fi

# 1. CUDA tests (skipped on a CPU rehearsal; they need a device). ~14 minutes in all below.
timeout 200 $PY -m pytest -q -p no:cacheprovider tests/runtime/test_cuda.py tests/runtime/test_capture.py \
    tests/runtime/test_verify.py > "$OUT/cuda_tests.txt" 2>&1
# 2. Time to a verified solve, shipped configs, seeds 1..SEEDS.
timeout 240 $PY scripts/bench_train.py --device "$DEVICE" --seeds "$SEEDS" --timeout "$TIMEOUT" --cases "$CASES" \
    > "$OUT/bench_train.txt" 2>&1
# 3. Populations: AGENTS agents of the Isaac preset in one process against 3 single-agent runs, and the whole-loop
#    throughput (agents x env steps/s) of 64 agents at 4096 envs each.
timeout 150 $PY scripts/bench_train.py --device "$DEVICE" --seeds "$([ "${QUICK:-0}" = 1 ] && echo 1 || echo 3)" \
    --agents "$AGENTS" --population --timeout "$TIMEOUT" --cases "$POP_CASES" > "$OUT/bench_population.txt" 2>&1
# 4. Whole-loop env steps/s (eager against the recorded CUDA graph on CUDA), one agent and a population.
MODES=eager; [ "${DEVICE#cuda}" != "$DEVICE" ] && MODES=eager,graph
timeout 90 $PY scripts/bench_loop.py --device "${DEVICE%%:*}" --num-envs "$LOOP_ENVS" --modes "$MODES" \
    --cases "$CASES" > "$OUT/bench_loop.txt" 2>&1
timeout 60 $PY scripts/bench_loop.py --device "${DEVICE%%:*}" --num-envs 4096 --modes "$MODES" --population \
    "$AGENTS" --cases "$POP_CASES" > "$OUT/bench_loop_population.txt" 2>&1
# 5. Scaling with num_envs (seed 1-3 where time allows), table and PNG.
timeout 120 $PY scripts/bench_scaling.py --device "$DEVICE" --seeds "$([ "${QUICK:-0}" = 1 ] && echo 1 || echo 3)" \
    --num-envs "$COUNTS" --timeout "$TIMEOUT" --cases "$CASES" --png "$OUT/scaling.png" > "$OUT/bench_scaling.txt" 2>&1
tail -n 8 "$OUT"/*.txt
