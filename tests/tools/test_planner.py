"""The MPPI planner (isaac_rl/tools/planner.py) on the real torch cart-pole: it balances dm_control's balance task
from the task's own initial states (the sanity check of scripts/plan_limit.py's limits), and the script refuses bad
input with one line before any work."""

import os
import subprocess
import sys

import torch

from isaac_rl.tasks.dmc_cartpole import CartpoleBalance
from isaac_rl.tools.planner import MPPI, MPPISettings, plan_episodes

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_mppi_balances_cartpole_balance():
    """Two full 1000-step episodes (128 plans of 100 steps, held 5 steps, per replanning; ~6 s on a 2-core CPU):
    measured 2026-12-05 996.4 and 997.7; a policy that lets the pole fall scores below 300, pushing the cart into its
    limit below 900 (the bar is the one of the balance recipes' neighbourhood, 900)."""
    settings = MPPISettings(samples=128, horizon=100, hold=5, sigma=0.3)
    env, model = CartpoleBalance(2, seed=1), CartpoleBalance(2 * settings.samples, seed=2)
    returns = plan_episodes(env, MPPI(model, 2, settings, torch.Generator().manual_seed(1)), seed=1)
    assert returns.shape == (2,) and bool((returns > 900).all()), returns
    assert bool((returns <= 1000).all()), returns


def test_plan_limit_refuses_an_unknown_task_in_one_line():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "plan_limit.py"), "--tasks",
                           "CartpoleSwingup,CartpoleFourPoles"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == "", (proc.stdout, proc.stderr)
    assert proc.stderr == ("[isaac_rl] error: --tasks='CartpoleSwingup,CartpoleFourPoles': ['CartpoleFourPoles']; "
                           "allowed: a comma-separated list of CartpoleBalance, CartpoleBalanceSparse, "
                           "CartpoleSwingup, CartpoleSwingupSparse, CartpoleTwoPoles, CartpoleThreePoles\n")


def test_plan_limit_refuses_a_horizon_that_is_not_a_multiple_of_hold():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "plan_limit.py"), "--horizon", "102"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == "", (proc.stdout, proc.stderr)
    assert proc.stderr == "[isaac_rl] error: invalid config: horizon=102; allowed: a positive multiple of hold=5\n"
