"""Deterministic evaluation and its early out once the target mean return is out of reach."""

import torch

from isaac_rl.runtime.evaluate import evaluate
from isaac_rl.tasks import make_task


def push_right(obs: torch.Tensor) -> torch.Tensor:
    return torch.ones(obs.shape[0], 1)


def test_full_evaluation_reports_every_episode():
    env = make_task("CartPole-v1", num_envs=8, seed=0)
    result = evaluate(env, push_right, seed=3)
    assert result["eval/complete"] == 1.0
    # Always pushing right topples the pole within ~8-11 steps from the +-0.05 start box.
    assert 7.0 <= result["eval/min_return"] <= result["eval/mean_return"] <= 12.0
    assert result["eval/mean_length"] == result["eval/mean_return"]  # reward 1 per step


def half_balanced(obs: torch.Tensor) -> torch.Tensor:
    """Envs 0-3 always push right (fall in ~10 steps); envs 4-7 push towards the pole's lean (balance for long)."""
    lean = obs[:, 2] + 0.5 * obs[:, 3]
    action = torch.where(lean > 0, 1.0, -1.0)
    action[:4] = 1.0
    return action.unsqueeze(-1)


def test_early_out_stops_at_first_check_with_the_optimistic_bound():
    env = make_task("CartPole-v1", num_envs=8, seed=0)
    full = evaluate(env, half_balanced, seed=3)
    assert full["eval/complete"] == 1.0 and full["eval/min_return"] <= 12.0 and full["eval/mean_return"] > 200.0
    cut = evaluate(env, half_balanced, seed=3, check_every=25, target=475.0)
    assert cut["eval/complete"] == 0.0 and "eval/mean_return" not in cut
    # At the first check (step 25) envs 0-3 have ended with their short returns r_i; envs 4-7 are alive and could at
    # best reach 500, so the bound is (sum r_i + 4 * 500) / 8.
    short = evaluate(make_task("CartPole-v1", num_envs=8, seed=0), half_balanced, seed=3, check_every=1, target=1e9)
    assert short["eval/steps"] == 1.0  # target 1e9 is out of reach at once
    assert cut["eval/steps"] == 25.0
    pushed = make_task("CartPole-v1", num_envs=8, seed=0)
    returns = torch.zeros(8)
    alive = torch.ones(8, dtype=torch.bool)
    obs = pushed.reset(3)
    for _ in range(25):
        out = pushed.step(half_balanced(obs))
        returns += alive.float()
        alive &= ~(out.terminated | out.truncated)
        obs = out.obs
    assert alive[4:].all() and not alive[:4].any()
    expected = (returns[:4].sum().item() + 4 * 500.0) / 8
    assert abs(cut["eval/return_bound"] - expected) < 1e-4 and expected < 475.0
    # A reachable target is never cut short.
    assert evaluate(env, half_balanced, seed=3, check_every=25, target=10.0) == full


def test_early_out_needs_reward_max_and_keeps_reachable_targets():
    env = make_task("CartPole-v1", num_envs=8, seed=0)
    reachable = evaluate(env, push_right, seed=3, check_every=5, target=5.0)
    assert reachable["eval/complete"] == 1.0
    pendulum = make_task("Pendulum", num_envs=4, seed=0)
    idle = evaluate(pendulum, lambda obs: torch.zeros(obs.shape[0], 1), seed=1, check_every=25, target=-1.0)
    # Pendulum's reward is <= 0 (reward_max 0): hanging still from random starts costs more than 1 within 25 steps.
    assert idle["eval/complete"] == 0.0 and idle["eval/steps"] == 25.0 and idle["eval/return_bound"] < -1.0


def test_an_evaluator_reused_gives_the_fresh_result():
    """The trainer keeps one Evaluator (persistent buffers, reset each call); reused, it gives a fresh evaluation's
    numbers (auto-reset noise comes from torch's default generator, but seeded resets use the env's own generator and
    only the first episode of each env counts). limit 500 with check_every 30 ends in a shorter, eager chunk."""
    from isaac_rl.runtime.evaluate import Evaluator

    env = make_task("CartPole-v1", num_envs=8, seed=0)
    fresh = evaluate(env, half_balanced, seed=3)
    other = make_task("CartPole-v1", num_envs=8, seed=0)
    torch.rand(5)  # the default generator elsewhere: no effect on a seeded evaluation
    for evaluator in (Evaluator(env, half_balanced), Evaluator(other, half_balanced, check_every=30)):
        assert evaluator(seed=3) == fresh
        assert evaluator(seed=3, target=475.0)["eval/complete"] == 0.0  # cut short, buffers left mid-episode
        assert evaluator(seed=3) == fresh



def test_evaluator_keeps_the_env_dtype():
    """A float64 torch task (the parity tests' precision) is evaluated on float64 observations, not cast to float32."""
    from isaac_rl.runtime.evaluate import Evaluator

    env = make_task("CartPole-v1", num_envs=8, seed=0, dtype=torch.float64)
    seen = []

    def policy(obs):
        seen.append(obs.dtype)
        return half_balanced(obs)

    result = Evaluator(env, policy)(seed=3)
    assert set(seen) == {torch.float64} and result["eval/complete"] == 1.0


def _trained_weights(eval_interval, verify_episodes):
    """Agent weights of a short CartPole-v1 DQN run (learning from iteration 4) with this evaluation schedule."""
    from isaac_rl.app.build import make_trainer
    from tests.conftest import shipped

    cfg = shipped("CartPole-v1", "CartPole-v1DQN", 3, "torch", "num_envs=32", "num_eval_envs=16",
                  warmup_iterations=4, max_iterations=40, eval_interval=eval_interval, eval_target=None,
                  verify_episodes=verify_episodes, log_interval=10)
    torch.set_num_threads(1)
    trainer, _, _ = make_trainer(cfg, "cpu", verbose=False)
    summary = trainer.train()
    return summary, {k: v.clone() for k, v in trainer.algo.q.state_dict().items()}


def test_evaluating_does_not_change_training():
    """Evaluation and verification envs restart ended episodes without random draws, so training (which explores
    with torch's default generator) is the same with evaluations every 3 iterations, every 7 with a verification at
    the end, or none (on the code before, whose evaluation auto-resets drew from that generator, the weights differ)."""
    never, weights = _trained_weights(0, 0)
    for interval, verify in ((3, 0), (7, 64)):
        summary, other = _trained_weights(interval, verify)
        assert summary["iterations"] == never["iterations"] == 40
        assert summary["eval/mean_length"] > 0 and summary["eval/complete"] == 1.0
        assert summary.get("eval/verified_episodes", 0.0) == float(verify)
        for name, tensor in weights.items():
            assert torch.equal(tensor, other[name]), (interval, name)
