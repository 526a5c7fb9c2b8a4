"""Learning bars of the shipped DeepMind Control Suite cart-pole recipes (cfg/train/Cartpole{Balance,Swingup}*.yaml),
on CPU at the task's 4096 envs, seeds 1-3; no timing assertions (seconds to the bar: scripts/bench_train.py). The
balance recipes must reach their verified 995; the swing-up recipe must learn past a stated return in a bounded run.

"Solved" is verified as in tests/learning/test_learning.py: the run stopped solved and its policy met the bar again on
1,000 fresh deterministic episodes. The bar is dm_control's 995 of a 1000-step episode (returns in [0, 1000]).
"""

import pytest

from isaac_rl.app.cli import missing_train_config
from tests.conftest import shipped
from tests.learning.test_learning import assert_verified, train

# (task, train config, bar)
SHIPPED = [("CartpoleBalance", "CartpoleBalanceDDPG", 995.0),
           ("CartpoleBalanceSparse", "CartpoleBalanceSparseDDPG", 995.0),
           ("CartpoleBalanceSparse", "CartpoleBalanceSparseDQN", 995.0)]
CASES = [pytest.param(task, train_name, bar, seed, id=f"{train_name}-seed{seed}")
         for task, train_name, bar in SHIPPED for seed in (1, 2, 3)]


@pytest.mark.slow
@pytest.mark.parametrize("task, train_name, bar, seed", CASES)
def test_dmc_balance_recipe_reaches_its_verified_bar(task, train_name, bar, seed):
    cfg = shipped(task, train_name, seed, "torch")
    assert cfg["task"]["num_envs"] == 4096 and cfg["train"]["loop"]["verify_episodes"] == 1000
    _, summary = train(cfg)
    assert_verified(summary, bar)


def test_task_alone_names_only_its_own_train_configs():
    """``task=CartpoleBalance`` with no ``train=``: the default ``CartpoleBalanceDQN`` does not exist (three efforts
    cannot earn dm_control's small-control reward); the line offers the task's own configs, not those of another task
    whose name starts the same (``CartpoleBalanceSparseDDPG``). ``task=CartpoleBalanceSparse`` alone has its DQN."""
    assert missing_train_config(["task=CartpoleBalance"]) == (
        "task=CartpoleBalance has no DQN train config (the default is train=<task>DQN); add train=CartpoleBalanceDDPG")
    assert missing_train_config(["task=CartpoleBalanceSparse"]) is None
    assert missing_train_config(["task=CartpoleSwingup"]) == (
        "task=CartpoleSwingup has no DQN train config (the default is train=<task>DQN); add train=CartpoleSwingupDDPG "
        "or train=CartpoleSwingupPPO or train=CartpoleSwingupSAC")  # not CartpoleSwingupSparseDDPG
    assert missing_train_config(["task=CartpoleSwingupSparse"]) == (
        "task=CartpoleSwingupSparse has no DQN train config (the default is train=<task>DQN); add "
        "train=CartpoleSwingupSparseDDPG")
    assert missing_train_config(["task=CartpoleTwoPoles"]) == (
        "task=CartpoleTwoPoles has no DQN train config (the default is train=<task>DQN); add "
        "train=CartpoleTwoPolesDDPG or train=CartpoleTwoPolesSAC")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_swingup_sac_learns_past_500_in_1500_iterations(seed):
    """A bounded run of the shipped CartpoleSwingupSAC (1,500 iterations at 4096 envs, ~50 s on a 2-core CPU): the
    final policy's verified mean over 1,000 fresh episodes passes 500 (measured 2026-12-05: 588.2, 753.1, 843.0 for
    seeds 1-3; a policy that does not swing the pole up scores ~100-200). Its 880 bar is not reached in such runs."""
    cfg = shipped("CartpoleSwingup", "CartpoleSwingupSAC", seed, "torch", "max_iterations=1500",
                  eval_interval=0, eval_target=None)
    _, summary = train(cfg)
    assert summary["iterations"] == 1500 and summary["eval/verified_episodes"] >= 1000, summary
    assert summary["eval/verified_mean_return"] >= 500.0, summary


@pytest.mark.slow
def test_swingup_ppo_learns_past_500_in_80_iterations():
    """CartpoleSwingupPPO (on-policy, 4096 envs, 131,072 transitions an iteration) swings the pole up: the run stops at
    the first evaluation >= 500 whose policy then also meets 500 on 1,000 fresh episodes (measured 2026-12-07, seed 1:
    evaluations 214, 361, 752 at iterations 20, 40, 60; seeds 1-3 evaluated 790, 684, 790 at iteration 80). A policy
    that does not swing the pole up scores ~100-200."""
    cfg = shipped("CartpoleSwingup", "CartpoleSwingupPPO", 1, "torch", "max_iterations=80",
                  eval_target=500.0, eval_early_out=True)
    assert cfg["train"]["algo"]["name"] == "PPO" and cfg["train"]["loop"]["eval_interval"] == 20
    _, summary = train(cfg)
    assert_verified(summary, 500.0)
    assert summary["iterations"] <= 80, summary


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_swingup_sparse_ddpg_learns_past_500_within_its_4000_iterations(seed):
    """CartpoleSwingupSparseDDPG leaves the sparse reward's 0 and passes 500 within the shipped run's 4,000 iterations
    at 4096 envs: the run stops at the first evaluation >= 500 whose policy then also meets 500 on 1,000 fresh
    episodes. When the reward first leaves 0 is a matter of exploration and differs between torch builds: measured
    2026-12-06/07, evaluations first pass 500 at 1,750, 1,500 and 1,000 iterations for seeds 1-3 with torch 2.13
    (Python 3.11); with torch 2.4.1 (Python 3.8) seed 1 scores 0 up to 2,750 iterations and passes 500 at 3,250. Its
    845 bar is not reached (verified 740.3-820.0 after 4,000 iterations; BENCHMARKS.md)."""
    cfg = shipped("CartpoleSwingupSparse", "CartpoleSwingupSparseDDPG", seed, "torch",
                  eval_interval=250, eval_target=500.0, eval_early_out=True)
    assert cfg["train"]["loop"]["max_iterations"] == 4000
    assert cfg["train"]["algo"]["noise"] == "ou" and cfg["task"]["num_envs"] == 4096
    _, summary = train(cfg)
    assert_verified(summary, 500.0)
