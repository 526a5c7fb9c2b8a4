"""Peer on Isaac Lab 3's direct cart-pole: Isaac Lab's own rsl_rl PPO recipe, timed from process start to a verified
bar. It runs in the Isaac Lab 3 venv (README, "Isaac Lab"), which has rsl-rl-lib; this project's package is not used.

The task ``Isaac-Cartpole-Direct`` runs on the real Isaac Lab 3.0.0, kit-less Newton physics on the CPU. The learner
is what Isaac Lab's own ``train.py --agent rsl_rl_cfg_entry_point`` builds for that task: the agent config registered
with it (``CartpoleDirectPPORunnerCfg``: 16 steps per env per iteration, actor and critic 32-32 ELU, Gaussian
init std 1, 5 epochs of 4 mini-batches, Adam 1e-3 with the adaptive KL schedule (0.01), gamma 0.99, lambda 0.95,
clip 0.2, entropy 0.005, episodes started at random lengths), rsl_rl's ``OnPolicyRunner`` on Isaac Lab's
``RslRlVecEnvWrapper``, with the recipe's seed replaced by ``--seed``. Isaac Lab's recipe trains 4,096 envs; the
default here is 256, the ``num_envs`` of this project's ``IsaacLabCartpoleSAC`` command (``--num-envs 4096``: the
recipe's). Torch runs one CPU intra-op thread (``--torch-threads``), as this project's runs of one agent do.

Every ``--eval-every`` iterations the deterministic policy (rsl_rl's inference policy: the Gaussian's mean) plays one
fresh episode per env (``--num-envs`` episodes); when their mean return meets ``--target`` (4.8: Isaac Lab 3 multiplies
the cart-pole's rewards by the 1/60 s step, so a perfect 300-step episode returns about 5), the same policy plays
1,024 more fresh episodes, and the run stops as solved only if their mean also meets it. Episodes run on the training
env (Isaac Lab runs one simulation per process), reset for the evaluation; training resumes from a reset with random
episode lengths, as Isaac Lab's training starts. Each evaluation prints the seconds since process start, the
iterations, the training env steps and the mean return; the run ends solved, or at ``--max-iterations`` or
``--timeout`` seconds, with one JSON line (``solved_at``: training env steps at the verified solve, or null;
``eval_s``: the seconds spent evaluating, included in ``wall_s``).

Isaac Lab fetches its USD assets from NVIDIA's server: unless ``ISAACSIM_ASSET_ROOT`` names a local copy, the script
builds stand-ins from the wheel's own cart-pole test stage (``asset_stand_ins.py``) in a temporary folder, offline.

    . .venv-isaaclab/bin/activate
    python scripts/peers/isaaclab_rsl_rl_ppo.py --seed 1
"""

from __future__ import annotations

import time

START = time.perf_counter()  # before the heavy imports (torch, Isaac Lab): they count

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

TASK = "Isaac-Cartpole-Direct"
VERIFY_EPISODES = 1024


def since_start() -> float:
    return time.perf_counter() - START


def evaluate(venv, policy, episodes: int) -> float:
    """Mean return of ``episodes`` fresh deterministic episodes: rounds of one episode per env (all envs reset
    together), until ``episodes`` have ended; the first ``episodes`` in env order count."""
    import torch

    returns = []
    with torch.inference_mode():
        while len(returns) < episodes:
            obs, _ = venv.reset()
            total = torch.zeros(venv.num_envs)
            ended = torch.zeros(venv.num_envs, dtype=torch.bool)
            for _ in range(int(venv.max_episode_length) + 1):  # time-outs end every episode by then
                obs, reward, dones, _ = venv.step(policy(obs))
                total += torch.where(ended, torch.zeros_like(reward), reward).cpu()
                ended |= dones.bool().cpu()
                if ended.all():
                    break
            assert ended.all(), "an evaluation episode outlived the task's episode length"
            returns.extend(total.tolist())
    return sum(returns[:episodes]) / episodes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--num-envs", type=int, default=256, help="training envs; default 256 (Isaac Lab's recipe: 4096)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--target", type=float, default=4.8, help="mean return to meet; default 4.8")
    p.add_argument("--eval-every", type=int, default=10, help="iterations between evaluations; default 10")
    p.add_argument("--max-iterations", type=int, default=3000, help="give up after this many iterations")
    p.add_argument("--timeout", type=float, default=1800.0, help="give up this many seconds after process start")
    p.add_argument("--torch-threads", type=int, default=1, help="torch's CPU intra-op threads; default 1, as this "
                   "project's runs of one agent (torch_threads=auto); 0: torch's default (every core)")
    p.add_argument("--device", default="cpu", help="simulation and learner device; default cpu")
    args = p.parse_args()

    scratch = None
    if not os.environ.get("ISAACSIM_ASSET_ROOT"):  # before Isaac Lab is imported: it fixes its asset root then
        from asset_stand_ins import build_asset_stand_ins

        scratch = tempfile.mkdtemp(prefix="isaac_assets_")
        build_asset_stand_ins(scratch)
        os.environ["ISAACSIM_ASSET_ROOT"] = scratch
    try:
        run(args)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def run(args: argparse.Namespace) -> None:
    import gymnasium as gym
    import isaaclab_tasks  # noqa: F401  (registers Isaac Lab's tasks)
    import torch
    from isaaclab.app import launch_simulation
    from isaaclab.utils import to_dict
    from isaaclab_rl.rsl_rl import RslRlVecEnvWrapper, check_rsl_rl_version, handle_deprecated_rsl_rl_cfg
    from isaaclab_tasks.utils import resolve_task_config
    from rsl_rl.runners import OnPolicyRunner

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    env_cfg, agent_cfg = resolve_task_config(TASK, "rsl_rl_cfg_entry_point", overrides=[])
    agent_cfg = handle_deprecated_rsl_rl_cfg(agent_cfg, check_rsl_rl_version())
    agent_cfg.seed, agent_cfg.device = args.seed, args.device
    env_cfg.seed, env_cfg.sim.device, env_cfg.scene.num_envs = args.seed, args.device, args.num_envs
    steps_per_env = agent_cfg.num_steps_per_env
    grads_per_iteration = agent_cfg.algorithm.num_learning_epochs * agent_cfg.algorithm.num_mini_batches
    print(f"{TASK}: rsl_rl PPO ({type(agent_cfg).__name__}), {args.num_envs} envs x {steps_per_env} steps per "
          f"iteration, seed {args.seed}, device {args.device}, {torch.get_num_threads()} torch threads, assets from "
          f"{os.environ['ISAACSIM_ASSET_ROOT']}", flush=True)
    with launch_simulation(env_cfg, {"headless": True}):
        env = gym.make(TASK, cfg=env_cfg)
        venv = RslRlVecEnvWrapper(env, clip_actions=agent_cfg.clip_actions)
        runner = OnPolicyRunner(venv, to_dict(agent_cfg), log_dir=None, device=agent_cfg.device)
        print(f"{since_start():.1f} s: env and learner built", flush=True)
        iterations, solved_at, best, verified_mean, eval_s = 0, None, -math.inf, None, 0.0
        while iterations < args.max_iterations and since_start() < args.timeout:
            chunk = min(args.eval_every, args.max_iterations - iterations)
            # a fresh start (the first, or after an evaluation's resets) at random episode lengths, as Isaac Lab's
            # training starts (agent_cfg.init_at_random_ep_len)
            runner.learn(num_learning_iterations=chunk, init_at_random_ep_len=agent_cfg.init_at_random_ep_len)
            iterations += chunk
            env_steps = iterations * steps_per_env * args.num_envs
            policy = runner.get_inference_policy(device=agent_cfg.device)
            eval_start = since_start()
            mean = evaluate(venv, policy, args.num_envs)
            best = max(best, mean)
            print(f"{since_start():.1f} s: iteration {iterations}, env steps {env_steps}, mean return {mean:.3f} "
                  f"over {args.num_envs} episodes", flush=True)
            verified = evaluate(venv, policy, VERIFY_EPISODES) if mean >= args.target else None
            eval_s += since_start() - eval_start
            if verified is not None:
                verified_mean = verified
                print(f"{since_start():.1f} s: verification: mean return {verified:.3f} over {VERIFY_EPISODES} "
                      "fresh episodes", flush=True)
                if verified >= args.target:
                    solved_at = env_steps
                    print(f"solved at env step {env_steps} (iteration {iterations}, {since_start():.1f} s)",
                          flush=True)
                    break
            venv.reset()
        env.close()
    print(json.dumps({"solved_at": solved_at, "env_steps": iterations * steps_per_env * args.num_envs,
                      "gradient_steps": iterations * grads_per_iteration, "iterations": iterations,
                      "best_mean_return": best, "verified_mean_return": verified_mean, "target": args.target,
                      "num_envs": args.num_envs, "seed": args.seed, "eval_s": eval_s,
                      "wall_s": since_start()}), flush=True)


if __name__ == "__main__":
    main()
