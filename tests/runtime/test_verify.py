"""The verified solve: an evaluation meeting the bar is checked on many fresh deterministic episodes (held-out seeds)
before the run stops, and the policy a run stops with is always verified; bench_train counts only verified runs."""

import math

import torch

from isaac_rl.app.build import make_env, make_trainer
from isaac_rl.runtime.evaluate import evaluate
from isaac_rl.runtime.runner import VERIFY_ROUND_STRIDE, VERIFY_SEED_OFFSET
from scripts.bench_train import verified
from tests.conftest import shipped


def fixed_policy_trainer(eval_envs, verify_episodes, target, max_iterations=60):
    """CartPole-v1 DQN that never learns (warm-up longer than the run), so its greedy policy is fixed."""
    cfg = shipped("CartPole-v1", "CartPole-v1DQN", 1, "torch", "num_envs=16", f"num_eval_envs={eval_envs}",
                  warmup_iterations=10 ** 6, max_iterations=max_iterations, eval_interval=10, eval_target=target,
                  verify_episodes=verify_episodes, eval_early_out=False)
    torch.set_num_threads(1)
    trainer, _, _ = make_trainer(cfg, "cpu", verbose=False)
    logged = []
    trainer.hooks.log = lambda metrics, step: logged.append(dict(metrics))
    return cfg, trainer, logged


def test_verification_is_an_evaluation_on_held_out_seeds_of_verify_episodes_envs():
    cfg, trainer, _ = fixed_policy_trainer(4, 1000, None)
    result = trainer.verify(None)
    env = make_env(cfg["task"], "torch", 1000, "cpu", 0)
    expected = evaluate(env, trainer.algo.act, seed=cfg["seed"] + VERIFY_SEED_OFFSET + trainer.iteration)
    assert result["eval/verified_episodes"] == 1000.0
    assert result["eval/verified_mean_return"] == expected["eval/mean_return"]
    assert result["eval/verified_min_return"] == expected["eval/min_return"]
    # Held out: the first observations of verification and of the evaluations at the same iteration differ.
    eval_obs = make_env(cfg["task"], "torch", 4, "cpu", 0).reset(cfg["seed"] + 10_000 + trainer.iteration)
    verify_obs = make_env(cfg["task"], "torch", 4, "cpu", 0).reset(cfg["seed"] + VERIFY_SEED_OFFSET + trainer.iteration)
    assert not torch.equal(eval_obs, verify_obs)


def test_a_lucky_evaluation_does_not_stop_the_run():
    """One-episode evaluations of a fixed policy sometimes beat the mean over 1,000 episodes; a bar between the two
    is passed by such an evaluation, refused by verification, and the run trains on to its budget."""
    _, probe, _ = fixed_policy_trainer(4, 1000, None)
    mean_1000 = probe.verify(None)["eval/verified_mean_return"]
    _, trainer, logged = fixed_policy_trainer(1, 1000, mean_1000 + 0.5)
    summary = trainer.train()
    lucky = [m for m in logged if m.get("eval/mean_return", -math.inf) >= mean_1000 + 0.5]
    checks = [m for m in logged if "eval/verified_episodes" in m]
    assert lucky, "no one-episode evaluation beat the bar; the test did not exercise the case"
    assert len(checks) >= len(lucky) and all(m["eval/verified_mean_return"] < mean_1000 + 0.5 for m in checks)
    assert summary["solved_at"] is None and summary["iterations"] == 60
    assert summary["eval/verified_mean_return"] < mean_1000 + 0.5 and "eval/verified_min_return" in summary


def test_a_verified_evaluation_stops_the_run_with_both_numbers_in_the_summary():
    _, probe, _ = fixed_policy_trainer(4, 1000, None)
    mean_1000 = probe.verify(None)["eval/verified_mean_return"]
    _, trainer, _ = fixed_policy_trainer(64, 1000, mean_1000 - 1.0)
    summary = trainer.train()
    assert summary["solved_at"] == 10 * 16  # the first evaluation (iteration 10) met the bar and was verified
    assert summary["eval/verified_mean_return"] >= mean_1000 - 1.0
    assert summary["eval/verified_min_return"] <= summary["eval/verified_mean_return"]
    assert summary["eval/verified_episodes"] == 1000.0


def test_bench_train_counts_only_verified_solves():
    run = {"solved_s": 3.0, "summary": {"solved_at": 100, "eval/verified_mean_return": 489.9}}
    assert not verified(run, 490.0)
    run["summary"]["eval/verified_mean_return"] = 490.0
    assert verified(run, 490.0)
    assert not verified({"solved_s": None, "summary": {"eval/verified_mean_return": 500.0}}, 490.0)


def test_without_a_verification_env_verification_runs_rounds_of_the_training_env():
    """Where a process holds one simulation (Isaac Gym, Isaac Lab) verification runs on the training env: rounds of
    its num_envs episodes, each on held-out seeds of its own, until verify_episodes have run, pooled. Here 40
    episodes on 16 envs: 3 rounds, 48 episodes, equal to 3 evaluations of fresh envs with those seeds."""
    from isaac_rl.runtime.runner import pooled

    cfg, trainer, _ = fixed_policy_trainer(4, 40, None)
    trainer.eval_env = trainer.verify_env = None  # as build.py leaves them for sim=isaacgym / isaaclab
    result = trainer.verify(None)
    base = cfg["seed"] + VERIFY_SEED_OFFSET + trainer.iteration
    seeds = [base + r * VERIFY_ROUND_STRIDE for r in range(3)]
    rounds = [evaluate(make_env(cfg["task"], "torch", 16, "cpu", 0), trainer.algo.act, seed=s) for s in seeds]
    expected = pooled(rounds)
    assert result["eval/verified_episodes"] == 48.0 and result["eval/verified_complete"] == 1.0
    assert math.isclose(result["eval/verified_mean_return"], expected["eval/mean_return"], rel_tol=1e-12)
    assert result["eval/verified_min_return"] == min(r["eval/min_return"] for r in rounds)
    starts = [make_env(cfg["task"], "torch", 16, "cpu", 0).reset(base + r * VERIFY_ROUND_STRIDE) for r in range(3)]
    assert not torch.equal(starts[0], starts[1]) and not torch.equal(starts[1], starts[2])  # episodes of its own
    all_returns = []  # the pooled std is that of all 48 episodes
    for r in range(3):
        env = make_env(cfg["task"], "torch", 16, "cpu", 0)
        obs, ret, alive = env.reset(base + r * VERIFY_ROUND_STRIDE), torch.zeros(16), torch.ones(16)
        for _ in range(env.max_episode_steps):
            out = env.step(trainer.algo.act(obs))
            ret += out.reward * alive
            alive *= ~(out.terminated | out.truncated)
            obs = out.obs
        all_returns.append(ret)
    assert math.isclose(result["eval/verified_std_return"], float(torch.cat(all_returns).std(unbiased=False)),
                        rel_tol=1e-5)
