"""``compile=True``: the traced learning iteration computes the eager numbers, never retraces, and trains.

The traced graphs are what CUDA graphs capture on a GPU. ``aot_eager`` runs exactly the traced (decomposed) ops, so
its numbers must equal the eager iteration bit for bit over many iterations: any host value frozen into the graph
(a write pointer, a step counter, epsilon) would make them drift apart. Inductor, the default CPU backend of
``compile=True``, fuses kernels, so it matches eager to float rounding over the first iterations.
"""


import pytest
import torch

from isaac_rl.app.build import make_trainer
from isaac_rl.app.config import ConfigError, resolve
from isaac_rl.runtime.capture import welford_fusion_bug
from tests.conftest import compose_config

CASES = [("CartPole-v1", "CartPole-v1DQN"), ("Cartpole", "CartpoleDQN"), ("Pendulum", "PendulumDDPG"),
         ("Pendulum", "PendulumDDPG", "train.algo.policy_delay=2"),
         ("CartPole-v1", "CartPole-v1DQN", "population=3", "population_vary.lr=[1e-3,2e-3,4e-3]")]


def config(task, train, *overrides, device="cpu"):
    """The resolved config of ``scripts/train.py task=<task> train=<train> sim_device=<device> <overrides>``."""
    return resolve(compose_config([f"task={task}", f"train={train}", f"sim_device={device}", *overrides]))


def trainer_for(task, train, *overrides, learn=None, device="cpu", compile=False, fused=True):
    """A trainer (``compile=True`` when ``compile``) whose learning iteration is ``learn(trainer)`` (default: what
    make_trainer chose; eager unless ``compile``). ``fused=False``: Adam's multi-tensor kernels also when eager (the
    ones a traced step runs), for bit-for-bit comparisons."""
    torch.set_num_threads(1)
    cfg = config(task, train, f"compile={compile}", "seed=3", "num_envs=64", "train.loop.warmup_iterations=4",
                 *overrides, device=device)
    if device != "cpu":
        cfg["cuda_graph"] = False
    trainer, _, _ = make_trainer(cfg, device, verbose=False)
    if learn is not None:
        trainer.learning.learn = learn(trainer)
    for opt in trainer.algo.optimizers().values():
        opt.fused = opt.fused and fused
    return trainer


def state_tensors(trainer):
    """Every number the loop carries, by position: observation, clock, statistics, replay rows and pointers, n-step
    window, env state, networks, Adam moments and steps, exploration state."""
    return {f"{i}:{tuple(t.shape)}": t for i, t in enumerate(trainer.persistent_tensors())}


def run(trainer, iterations):
    for _ in range(iterations):
        trainer.train_step()


@pytest.mark.parametrize("case", CASES, ids=["-".join(c) for c in CASES])
@torch._dynamo.config.patch(specialize_int=True, automatic_dynamic_shapes=False)  # host ints are constants, as in
def test_traced_iteration_equals_eager_bit_for_bit_and_never_retraces(case):  # a captured CUDA graph
    task, train, *overrides = case
    torch._dynamo.reset()
    eager = trainer_for(task, train, *overrides, fused=False)  # build, then run: both draw from the default generator
    run(eager, 120)
    traced = trainer_for(task, train, *overrides, fused=False,
                         learn=lambda t: torch.compile(t.learning.learning_iteration, backend="aot_eager"))
    stats = torch._dynamo.utils.counters["stats"]
    # With host ints treated as constants (as a captured CUDA graph treats them), a host value read by the traced
    # code that changes between iterations (a pointer, a counter, epsilon) fails a guard and retraces: that raises.
    # Each distinct sequence of update phases traces once (CartPole-v1: a target update every 5 iterations; the
    # delayed DDPG actor: every other update), all of them within the first 10 learning iterations.
    while traced.iteration < traced.learning.settings.warmup_iterations:
        traced.train_step()
    warm = traced.iteration + 10
    run(traced, 10)
    with torch._dynamo.config.patch(error_on_recompile=True):
        run(traced, 120 - warm)
    assert stats["unique_graphs"] >= 2  # the iteration was traced (the backward pass splits it into graphs)
    assert traced.updates == eager.updates > 100
    assert len(traced.learning.buffer) == len(eager.learning.buffer) > 1000
    a, b = state_tensors(eager), state_tensors(traced)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), f"{name} differs between the eager and the traced iteration"


def test_inductor_update_matches_eager_to_rounding():
    """Inductor's kernels compute the update as eager does, to rounding: two identical learners take 20 DQN updates on
    one fixed batch, one eagerly and one ``torch.compile``d. The update draws no random numbers, so this holds
    whatever order the compiler gives to random draws elsewhere in an iteration."""
    torch._dynamo.reset()
    eager, compiled = trainer_for("CartPole-v1", "CartPole-v1DQN"), trainer_for("CartPole-v1", "CartPole-v1DQN")
    run(eager, 10)  # fill the buffer
    batch = eager.learning.buffer.sample(128)
    compiled.algo.load_state_dict(eager.algo.state_dict())
    q = eager.algo.modules()["q"]
    initial = [p.clone() for p in q.parameters()]
    update = torch.compile(compiled.algo.update, dynamic=False)
    for k in range(20):
        eager.algo.update(batch, k % 2)
        update(batch, k % 2)
    for net in ("q", "q_target"):
        a, b = eager.algo.modules()[net].state_dict(), compiled.algo.modules()[net].state_dict()
        for name, value in a.items():
            assert torch.allclose(value.double(), b[name].double(), rtol=1e-4, atol=1e-5), f"{net}.{name}"
    assert max((p - p0).abs().max() for p, p0 in zip(q.parameters(), initial)) > 1e-3, "the networks never changed"


@pytest.mark.parametrize("overrides", [(), ("population=2",)], ids=["one-agent", "population"])
def test_inductor_iteration_is_a_valid_training_iteration(overrides):
    """The shipped ``compile=True`` CPU path (inductor, random numbers drawn by the eager kernels). Whether its random
    draws come in eager's order depends on the compiler's scheduling (torch 2.13: the same order, the states equal
    eager's to rounding; torch 2.4.1: another order), so what is asserted is what holds on both: the same counts,
    finite state, learning weights and env states inside their bounds. The population's LayerNorm Q-network is the
    case torch 2.4.1's C++ backend miscompiled (two fused Welford reductions: a C++ compile error) before
    :func:`isaac_rl.runtime.capture.compile_iteration` kept them apart."""
    torch._dynamo.reset()
    eager = trainer_for("CartPole-v1", "CartPole-v1DQN", *overrides)
    run(eager, 30)
    compiled = trainer_for("CartPole-v1", "CartPole-v1DQN", *overrides, compile=True)  # make_trainer's torch.compile
    q = compiled.algo.modules()["q"]
    initial = [p.clone() for p in q.parameters()]
    run(compiled, 30)
    assert compiled.updates == eager.updates > 40
    assert len(compiled.learning.buffer) == len(eager.learning.buffer)
    assert all(torch.isfinite(t).all() for t in state_tensors(compiled).values() if t.is_floating_point())
    assert max((p - p0).abs().max() for p, p0 in zip(q.parameters(), initial)) > 1e-3, "the networks never changed"
    # Every env state is one an episode can be in (|x| <= 2.4 + one step, |theta| <= 12 degrees + one step).
    state = compiled.env.state
    assert state[0].abs().max() < 2.4 + 0.1 and state[2].abs().max() < 0.2095 + 0.1


@pytest.mark.parametrize("version, affected", [("2.3.1", False), ("2.4.1+cu121", True), ("2.6.0", True),
                                               ("2.7.0.dev20250101", False), ("2.10.0a0+git1234", False),
                                               ("2.13.0+cpu", False)])
def test_inductor_fusion_workaround_covers_torch_2_4_to_2_6(version, affected):
    assert welford_fusion_bug(version) is affected


@pytest.mark.parametrize("overrides, key", [(["sim=gymnasium"], "sim='gymnasium'"),
                                            (["multi_gpu=True"], "multi_gpu=True"),
                                            (["compile=1"], "compile=1")])
def test_compile_rejects_what_it_cannot_trace(overrides, key):
    extra = [] if overrides == ["compile=1"] else ["compile=True"]
    with pytest.raises(ConfigError, match=f"invalid config: {key}"):
        config("CartPole-v1", "CartPole-v1DQN", *extra, *overrides)
    # A delayed actor step is a phase (one trace per phase sequence), no longer a reason to refuse.
    assert config("Pendulum", "PendulumDDPG", "compile=True", "train.algo.policy_delay=2")["compile"] is True


@pytest.mark.parametrize("overrides, key", [(["sim=gymnasium"], "sim='gymnasium'"),
                                            (["multi_gpu=True"], "multi_gpu=True"),
                                            (["compile=True"], "cuda_graph=True"),
                                            (["cuda_graph=yes"], "cuda_graph='yes'")])
def test_cuda_graph_rejects_what_it_cannot_record(overrides, key):
    extra = [] if overrides == ["cuda_graph=yes"] else ["cuda_graph=True"]
    with pytest.raises(ConfigError, match=f"invalid config: {key}"):
        config("CartPole-v1", "CartPole-v1DQN", *extra, *overrides, device="cuda")
    with pytest.raises(ConfigError, match="invalid config: sim_device='cpu'"):
        config("CartPole-v1", "CartPole-v1DQN", "cuda_graph=True", device="cpu")


def test_loop_keeps_every_tensor_at_its_address():
    """A CUDA graph reads and writes the persistent tensors at the addresses it recorded, so the loop must update them
    in place: none is rebound by steps with resets, a wrapping replay buffer, updates or an evaluation that resets
    the training env (a rebound env state or ``trainer.obs`` failed on an H100 with "accessing tensor output of
    CUDAGraphs that has been overwritten by a subsequent run")."""
    trainer = trainer_for("CartPole-v1", "CartPole-v1DQN")
    trainer.eval_env = None  # evaluate on (and reset) the training env
    before = {name: t.data_ptr() for name, t in state_tensors(trainer).items()}
    run(trainer, 40)
    trainer.run_eval()
    run(trainer, 5)
    assert trainer.collector.stats.sums[0, 2] > 0 and trainer.updates > 0  # episodes ended, updates ran
    after = {name: t.data_ptr() for name, t in state_tensors(trainer).items()}
    assert [name for name in before if after[name] != before[name]] == []


def test_cuda_graph_choice():
    """cuda_graph=auto records the iteration wherever it can: CUDA, torch backend, one process, no compile (a delayed
    actor step included: one recording per phase sequence); True/False are taken as given."""
    from isaac_rl.app.config import resolve_cuda_graph

    def cfg(**kw):
        base = {"cuda_graph": "auto", "sim": "torch", "multi_gpu": False, "compile": False,
                "train": {"algo": {"name": "DDPG", "policy_delay": 1}}}
        base.update(kw)
        return base

    assert resolve_cuda_graph(cfg(), "cuda:0") is True
    assert resolve_cuda_graph(cfg(), "cpu") is False
    assert resolve_cuda_graph(cfg(sim="gymnasium"), "cuda:0") is False
    assert resolve_cuda_graph(cfg(multi_gpu=True), "cuda:0") is False
    assert resolve_cuda_graph(cfg(compile=True), "cuda:0") is False
    assert resolve_cuda_graph(cfg(train={"algo": {"name": "DDPG", "policy_delay": 2}}), "cuda:1") is True
    assert resolve_cuda_graph(cfg(train={"algo": {"name": "DQN"}}), "cuda:1") is True
    assert resolve_cuda_graph(cfg(cuda_graph=False), "cuda:0") is False
    assert resolve_cuda_graph({}, "cuda:0") is False
