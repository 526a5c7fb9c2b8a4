"""CUDA-only checks of the hot loop (skipped without a GPU): no host synchronisation between env step and update."""

import pytest
import torch

from isaac_rl.app.build import make_trainer
from tests.conftest import shipped

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


POPULATION = ("population=4", "population_vary.lr=[1e-3,2e-3,3e-3,4e-3]", "population_vary.n_step=[1,2,3,1]")


@pytest.mark.parametrize("task, train, extra", [("Cartpole", "CartpoleDQN", ()), ("Cartpole", "CartpoleDDPG", ()),
                                                ("CartPole-v1", "CartPole-v1DQN", ()), ("Pendulum", "PendulumDDPG", ()),
                                                ("Pendulum", "PendulumTD3", ()), ("Pendulum", "PendulumSAC", ()),
                                                ("CartPole-v1", "CartPole-v1DQN", POPULATION),
                                                ("Pendulum", "PendulumSAC", ("population=3",))])
def test_train_step_never_synchronises_with_the_host(task, train, extra):
    """act + env step + replay add + updates under ``torch.cuda.set_sync_debug_mode("error")``: any ``.item()``,
    ``nonzero``, device-to-host copy or Python branch on a CUDA tensor raises (populations included)."""
    cfg = shipped(task, train, 1, "torch", *extra, warmup_iterations=0)
    cfg["num_envs"] = 4096
    trainer, _, _ = make_trainer(cfg, "cuda", verbose=False)
    for _ in range(5):  # warm-up: lazy CUDA/cuBLAS initialisation may synchronise once; n-step windows fill
        trainer.train_step()
    assert len(trainer.learning.buffer) > 0 and trainer.updates > 0
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(20):
            trainer.train_step()
    finally:
        torch.cuda.set_sync_debug_mode(0)
    torch.cuda.synchronize()
    assert trainer.updates >= 20


def _trainer(learn, compile=False):
    """A CartPole-v1 DQN trainer on CUDA whose learning iteration is ``learn(trainer)`` (None: make_trainer's)."""
    from tests.runtime.test_capture import trainer_for

    return trainer_for("CartPole-v1", "CartPole-v1DQN", device="cuda", learn=learn, compile=compile, fused=False)


def _run_checked(trainer):
    """30 iterations of ``trainer`` (the first 20 also warm up: trace, compile or record), the last 10 under
    ``set_sync_debug_mode("error")``; returns every number the loop carries."""
    from tests.runtime.test_capture import run, state_tensors

    run(trainer, 20)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        run(trainer, 10)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    return state_tensors(trainer)


def test_cuda_graph_capture_of_the_iteration_matches_eager():
    """The traced iteration replayed as CUDA graphs (dynamo's ``cudagraphs`` backend: the eager kernels, recorded
    with the same cudagraph trees, static addresses and RNG-offset handling as ``compile=True``) gives the eager
    numbers: nothing host-side is frozen into the graphs, every state tensor is written where it was recorded, and
    replays draw fresh random numbers. (Inductor's fused kernels round differently and may order independent random
    draws differently, so over many iterations its trajectories differ from eager ones; see the next test.)"""
    torch._dynamo.reset()
    eager = _run_checked(_trainer(None))
    graphed = _run_checked(_trainer(
        lambda t: torch.compile(t.learning.learning_iteration, backend="cudagraphs", dynamic=False)))
    for name in eager:
        assert torch.allclose(eager[name].double(), graphed[name].double(), rtol=1e-5, atol=1e-6), name


def test_compiled_iteration_runs_as_cuda_graphs_without_host_syncs():
    """compile=True on CUDA (inductor + CUDA graphs, mode="reduce-overhead"): no skipped graph, no host sync after
    warm-up, more than 40 updates, finite state, and the networks learn."""
    torch._dynamo.reset()
    trainer = _trainer(None, compile=True)
    initial = trainer.algo.modules()["q"][0].weight.detach().clone()
    compiled = _run_checked(trainer)
    assert torch._dynamo.utils.counters["inductor"]["cudagraph_skips"] == 0
    assert trainer.updates > 40
    assert all(bool(t.double().isfinite().all()) for t in compiled.values())
    assert (trainer.algo.modules()["q"][0].weight - initial).abs().max() > 1e-3, "the networks never changed"


@pytest.mark.parametrize("task, train, extra", [("CartPole-v1", "CartPole-v1DQN", ()), ("Cartpole", "CartpoleDQN", ()),
                                                ("Pendulum", "PendulumDDPG", ()),
                                                ("Pendulum", "PendulumDDPG", ("train.algo.policy_delay=2",)),
                                                ("Pendulum", "PendulumTD3", ()), ("Pendulum", "PendulumSAC", ()),
                                                ("CartPole-v1", "CartPole-v1DQN", POPULATION),
                                                ("Pendulum", "PendulumDDPG", ("population=3",
                                                                              "population_vary.tau=[0.01,0.02,0.05]"))])
def test_recorded_iteration_replays_the_eager_numbers(task, train, extra):
    """cuda_graph=True: the iteration recorded once per phase sequence with ``torch.cuda.graph`` and replayed (3 eager
    warm-up iterations each, then replays, the last 10 under ``set_sync_debug_mode("error")``) leaves every number
    the loop carries where 30 eager iterations leave it: replays draw fresh random numbers, advance the device
    counters and the epsilon clock, a delayed actor step happens on its phase, and nothing host-side is frozen."""
    from isaac_rl.runtime.capture import PhasedGraphs
    from tests.runtime.test_capture import trainer_for

    eager = _run_checked(trainer_for(task, train, *extra, device="cuda"))
    trainer = trainer_for(task, train, *extra, device="cuda",
                          learn=lambda t: PhasedGraphs(t.learning.learning_iteration, t.env.device))
    net = trainer.algo.modules()["critic" if task == "Pendulum" else "q"]
    initial = [p.detach().clone() for p in net.parameters()]
    graphed = _run_checked(trainer)
    assert trainer.learning.learn.recorded >= 1 and trainer.updates > 40
    for name in eager:
        assert torch.allclose(eager[name].double(), graphed[name].double(), rtol=1e-5, atol=1e-6), name
    assert max((p - p0).abs().max() for p, p0 in zip(net.parameters(), initial)) > 1e-3, "the networks never changed"


def test_train_py_with_cuda_graph_solves_cartpole_v1(tmp_path):
    """The shipped CartPole-v1 DQN config with cuda_graph=True, as a real scripts/train.py process on the GPU,
    reaches the bar (mean return >= 475 over the 16 eval episodes) within its 6000 iterations."""
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT as root

    proc = subprocess.run([sys.executable, os.path.join(root, "scripts", "train.py"), "task=CartPole-v1",
                           "train=CartPole-v1DQN", "sim_device=cuda:0", "cuda_graph=True", "seed=1",
                           f"train_dir={tmp_path}"], capture_output=True, text=True, timeout=300, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.split("[isaac_rl] summary ", 1)[1].splitlines()[0])
    assert summary["solved_at"] is not None and summary["eval/mean_return"] >= 475.0, summary


@pytest.mark.parametrize("task", ["CartPole-v1", "Cartpole", "Pendulum"])
def test_step_graph_replays_equal_eager_steps(task):
    """StepGraph: 3 replays of 60 recorded steps give the state, step counters and outputs of 180 eager steps from the
    same state and default-generator seed (resets included: random efforts end CartPole episodes within ~30 steps)."""
    from isaac_rl.runtime.step_graph import StepGraph
    from isaac_rl.tasks import make_task

    n, k = 4096, 60
    eager, graphed = make_task(task, num_envs=n, device="cuda"), make_task(task, num_envs=n, device="cuda")
    torch.manual_seed(0)
    actions = torch.rand((k, n, eager.action_spec.dim), device="cuda") * 2 - 1
    graph = StepGraph(graphed, actions)
    assert torch.equal(graphed.state, eager.state) and torch.equal(graphed.progress, eager.progress)
    torch.manual_seed(7)
    ended = torch.zeros(n, dtype=torch.int64, device="cuda")
    for _ in range(3):
        for a in actions:
            out = eager.step(a)
            ended += out.terminated | out.truncated
    torch.manual_seed(7)
    for _ in range(3):
        graph_out = graph.replay()
    torch.cuda.synchronize()
    if task != "Pendulum":
        assert ended.sum() > n  # resets happened, so the reset noise is compared too
    assert torch.allclose(graphed.state, eager.state, rtol=1e-5, atol=1e-6)
    assert torch.equal(graphed.progress, eager.progress)
    for name in out._fields:
        assert torch.allclose(getattr(graph_out, name).double(), getattr(out, name).double(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("task", ["CartPole-v1", "Pendulum"])
def test_recorded_evaluation_chunks_give_the_eager_evaluation(task):
    """Evaluator(cuda_graph=True): chunks of 25 steps replayed as one CUDA graph give the eager evaluator's results,
    for complete evaluations and cut-short ones, on repeated calls (the first call records)."""
    from isaac_rl.runtime.evaluate import Evaluator
    from isaac_rl.tasks import make_task

    def policy(obs):  # CartPole: push towards the lean (balances for long); Pendulum: a damping torque
        if task == "CartPole-v1":
            return torch.where(obs[:, 2:3] + 0.5 * obs[:, 3:4] > 0, 1.0, -1.0)
        return (-0.5 * obs[:, 2:3]).clamp(-1.0, 1.0)

    envs = [make_task(task, num_envs=64, device="cuda", seed=0) for _ in range(2)]
    eager, graphed = Evaluator(envs[0], policy), Evaluator(envs[1], policy, cuda_graph=True)
    target = 475.0 if task == "CartPole-v1" else -200.0
    for seed in (3, 4, 3):
        for tgt in (None, target, 1e9):
            a, b = eager(seed=seed, target=tgt), graphed(seed=seed, target=tgt)
            assert a.keys() == b.keys() and all(abs(a[k] - b[k]) <= 1e-4 * max(1.0, abs(a[k])) for k in a), (a, b)
    assert graphed.recorded


ON_POLICY = [("Cartpole", "CartpolePPO", ()), ("Cartpole", "CartpolePPO", ("train.algo.policy=categorical",)),
             ("CartPole-v1", "CartPole-v1PQN", ()), ("CartPole-v1", "CartPole-v1Tabular", ()),
             ("Cartpole", "CartpolePPO", ("population=2", "population_vary.gae_lambda=[0.9,0.95]"))]


@pytest.mark.parametrize("task, train, extra", ON_POLICY, ids=["-".join((c[1],) + c[2]) for c in ON_POLICY])
def test_recorded_on_policy_iteration_replays_the_eager_numbers(task, train, extra):
    """cuda_graph=True for an on-policy learner: the whole iteration (rollout, returns, epochs of minibatch steps,
    PPO's adaptive learning rate) recorded once and replayed, the last 10 iterations under
    ``set_sync_debug_mode("error")``, leaves every number where eager iterations leave it."""
    from isaac_rl.runtime.capture import PhasedGraphs
    from tests.runtime.test_capture import config

    def build(learn):
        torch.manual_seed(0)
        cfg = config(task, train, "seed=3", "num_envs=256", "train.loop.eval_interval=0",
                     "train.loop.verify_episodes=0", *extra, device="cuda")
        cfg["cuda_graph"] = False
        trainer, _, _ = make_trainer(cfg, "cuda", eval_env=False, verbose=False)
        for opt in trainer.algo.optimizers().values():
            opt.fused = False
        if learn is not None:
            trainer.learning.learn = learn(trainer)
        return trainer

    eager = _run_checked(build(None))
    trainer = build(lambda t: PhasedGraphs(t.learning.learning_iteration, t.env.device))
    graphed = _run_checked(trainer)
    assert trainer.learning.learn.recorded == 1 and trainer.iteration == 30
    for name in eager:
        assert torch.allclose(eager[name].double(), graphed[name].double(), rtol=1e-5, atol=1e-6), name
