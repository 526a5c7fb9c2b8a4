"""Peer on this project's torch Cartpole: rsl_rl PPO with Isaac Lab's cart-pole hyper-parameters, timed from process
start to a verified solve as this project defines it. Needs ``rsl-rl-lib`` (5.5.1), which is no dependency of this
project: run it in a venv that has it and this package (the Isaac Lab 3 venv of the README has both).

The task is ``task=Cartpole`` as ``scripts/train.py`` builds it (``isaac_rl.tasks.make_task`` with the ``task.env``
settings of ``cfg/task/Cartpole.yaml``: 400 N at effort 1, 500-step episodes, bar 490), ``--num-envs`` envs (512),
behind a small adapter to rsl_rl's ``VecEnv`` (observation group ``policy``; time-outs in ``extras["time_outs"]``, which
rsl_rl's PPO bootstraps; the actions go to the task unscaled, which clamps them to [-1, 1]; rsl_rl's random initial
episode lengths set the task's step counters). The learner is rsl_rl's ``OnPolicyRunner`` with the values of Isaac
Lab's ``CartpoleDirectPPORunnerCfg`` as Isaac Lab 3.0.0 hands them to rsl_rl (:data:`TRAIN_CFG`, the same recipe as
``isaaclab_rsl_rl_ppo.py``): 16 steps per env per iteration, actor and critic 32-32 ELU, Gaussian init std 1, 5 epochs
of 4 mini-batches, Adam 1e-3 with the adaptive KL schedule (0.01), gamma 0.99, lambda 0.95, clip 0.2, entropy 0.005.
Torch runs one CPU intra-op thread (``--torch-threads``), as this project's runs of one agent do.

Verification as in this project (README, "Solved means verified"): every ``--eval-every`` iterations the deterministic
policy (rsl_rl's inference policy: the Gaussian's mean) plays ``--eval-envs`` (256) episodes on envs of their own;
when their mean return meets ``--target`` (490), the same policy plays 1,000 fresh episodes from held-out seeds and
the run stops as solved only if their mean also meets it. Each evaluation prints the seconds since process start,
the iterations, the training env steps and the mean return; the run ends solved, or at ``--max-iterations`` or
``--timeout`` seconds, with one JSON line (``solved_at``: training env steps at the verified solve, or null;
``eval_s``: the seconds spent evaluating, included in ``wall_s``).

    . .venv-isaaclab/bin/activate
    python scripts/peers/rsl_rl_ppo_cartpole.py --seed 1
"""

from __future__ import annotations

import time

START = time.perf_counter()  # before the heavy imports (torch): they count

import argparse  # noqa: E402
import copy  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from typing import Any, Dict  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VERIFY_EPISODES = 1000
# Isaac Lab 3.0.0's CartpoleDirectPPORunnerCfg (isaaclab_tasks/core/cartpole/agents/rsl_rl_ppo_cfg.py) as its train
# script passes it to rsl_rl 5.5.1's OnPolicyRunner (isaaclab.utils.to_dict after handle_deprecated_rsl_rl_cfg), less
# Isaac Lab's logging and checkpoint keys; seed and device are set per run.
TRAIN_CFG: Dict[str, Any] = {
    "class_name": "OnPolicyRunner",
    "num_steps_per_env": 16,
    "obs_groups": {},  # rsl_rl's default: actor and critic read the "policy" group
    "clip_actions": None,
    "init_at_random_ep_len": True,
    "check_for_nan": True,
    "save_interval": 50,
    "logger": "tensorboard",  # unused: no log_dir, no writer
    "torch_compile_mode": None,
    "actor": {"class_name": "MLPModel", "hidden_dims": [32, 32], "activation": "elu", "obs_normalization": False,
              "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0, "std_type": "scalar",
                                   "std_range": (1e-06, 1000000.0)}},
    "critic": {"class_name": "MLPModel", "hidden_dims": [32, 32], "activation": "elu", "obs_normalization": False,
               "distribution_cfg": None},
    "algorithm": {"class_name": "PPO", "value_loss_coef": 1.0, "use_clipped_value_loss": True, "clip_param": 0.2,
                  "entropy_coef": 0.005, "num_learning_epochs": 5, "num_mini_batches": 4, "learning_rate": 1.0e-3,
                  "schedule": "adaptive", "gamma": 0.99, "lam": 0.95, "desired_kl": 0.01, "max_grad_norm": 1.0,
                  "optimizer": "adam", "normalize_advantage_per_mini_batch": False, "use_mixed_precision": False,
                  "share_cnn_encoders": False, "rnd_cfg": None, "symmetry_cfg": None},
}


def since_start() -> float:
    return time.perf_counter() - START


def task_settings() -> Dict[str, Any]:
    """The ``task.env`` settings of ``cfg/task/Cartpole.yaml`` that the torch Cartpole takes."""
    import yaml

    from isaac_rl.tasks import task_keywords

    with open(os.path.join(ROOT, "cfg", "task", "Cartpole.yaml")) as f:
        env = yaml.safe_load(f).get("env") or {}
    accepted = task_keywords("Cartpole", "torch", None)
    return {k: v for k, v in env.items() if k in accepted}


def make_vec_env(num_envs: int, seed: int, device: str, settings: Dict[str, Any]) -> Any:
    """The torch Cartpole behind rsl_rl's ``VecEnv`` interface."""
    import torch
    from rsl_rl.env import VecEnv
    from tensordict import TensorDict

    from isaac_rl.tasks import make_task

    class CartpoleVecEnv(VecEnv):
        def __init__(self) -> None:
            self.task = make_task("Cartpole", sim="torch", num_envs=num_envs, device=device, seed=seed, **settings)
            self.num_envs, self.num_actions = num_envs, self.task.action_spec.dim
            self.max_episode_length = self.task.max_episode_steps
            self.device, self.cfg = device, {}
            self.obs = self.task.reset(seed)

        @property
        def episode_length_buf(self) -> torch.Tensor:
            return self.task.progress

        @episode_length_buf.setter
        def episode_length_buf(self, value: torch.Tensor) -> None:
            self.task.progress.copy_(value.to(self.task.progress.dtype))

        def get_observations(self) -> TensorDict:
            return TensorDict({"policy": self.obs}, batch_size=[self.num_envs])

        def step(self, actions: torch.Tensor) -> Any:
            out = self.task.step(actions)
            self.obs = out.obs
            dones = (out.terminated | out.truncated).long()
            return self.get_observations(), out.reward, dones, {"time_outs": out.truncated}

    return CartpoleVecEnv()


def evaluate(task: Any, policy: Any, seed: int) -> float:
    """Mean return of one deterministic episode per env of ``task`` from ``reset(seed)``."""
    import torch
    from tensordict import TensorDict

    n = task.num_envs
    total, ended = torch.zeros(n), torch.zeros(n, dtype=torch.bool)
    with torch.inference_mode():
        obs = task.reset(seed)
        for _ in range(task.max_episode_steps):
            out = task.step(policy(TensorDict({"policy": obs}, batch_size=[n])))
            total += torch.where(ended, torch.zeros_like(out.reward), out.reward).cpu()
            ended |= (out.terminated | out.truncated).cpu()
            obs = out.obs
            if ended.all():
                break
    assert ended.all(), "an evaluation episode outlived the task's episode length"
    return float(total.mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--num-envs", type=int, default=512, help="training envs; default 512")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--target", type=float, default=490.0, help="mean return to meet; default 490")
    p.add_argument("--eval-every", type=int, default=10, help="iterations between evaluations; default 10")
    p.add_argument("--eval-envs", type=int, default=256, help="episodes per evaluation; default 256")
    p.add_argument("--max-iterations", type=int, default=3000, help="give up after this many iterations")
    p.add_argument("--timeout", type=float, default=1800.0, help="give up this many seconds after process start")
    p.add_argument("--torch-threads", type=int, default=1, help="torch's CPU intra-op threads; default 1, as this "
                   "project's runs of one agent (torch_threads=auto); 0: torch's default (every core)")
    p.add_argument("--device", default="cpu", help="env and learner device; default cpu")
    args = p.parse_args()
    sys.path.insert(0, ROOT)  # this checkout's isaac_rl, whether or not it is installed

    import torch
    from rsl_rl.runners import OnPolicyRunner

    from isaac_rl.tasks import make_task

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    torch.manual_seed(args.seed)
    settings = task_settings()
    venv = make_vec_env(args.num_envs, args.seed, args.device, settings)
    cfg = copy.deepcopy(TRAIN_CFG)
    cfg.update(seed=args.seed, device=args.device)
    runner = OnPolicyRunner(venv, cfg, log_dir=None, device=args.device)
    eval_task = make_task("Cartpole", sim="torch", num_envs=args.eval_envs, device=args.device, seed=10_000,
                          **settings)
    verify_task = None
    steps_per_env = cfg["num_steps_per_env"]
    grads_per_iteration = cfg["algorithm"]["num_learning_epochs"] * cfg["algorithm"]["num_mini_batches"]
    print(f"Cartpole (torch, {settings}): rsl_rl PPO with Isaac Lab's cart-pole recipe, {args.num_envs} envs x "
          f"{steps_per_env} steps per iteration, seed {args.seed}, device {args.device}, "
          f"{torch.get_num_threads()} torch threads; "
          f"{since_start():.1f} s: env and learner built", flush=True)
    iterations, evaluations, solved_at, best, verified_mean, eval_s = 0, 0, None, -math.inf, None, 0.0
    while iterations < args.max_iterations and since_start() < args.timeout:
        chunk = min(args.eval_every, args.max_iterations - iterations)
        runner.learn(num_learning_iterations=chunk, init_at_random_ep_len=iterations == 0 and
                     cfg["init_at_random_ep_len"])
        iterations += chunk
        env_steps = iterations * steps_per_env * args.num_envs
        policy = runner.get_inference_policy(device=args.device)
        eval_start = since_start()
        evaluations += 1
        mean = evaluate(eval_task, policy, 1_000_000 + evaluations)  # held-out seeds, fresh each time
        best = max(best, mean)
        print(f"{since_start():.1f} s: iteration {iterations}, env steps {env_steps}, mean return {mean:.2f} over "
              f"{args.eval_envs} episodes", flush=True)
        verified = None
        if mean >= args.target:
            if verify_task is None:
                verify_task = make_task("Cartpole", sim="torch", num_envs=VERIFY_EPISODES, device=args.device,
                                        seed=20_000, **settings)
            verified = verified_mean = evaluate(verify_task, policy, 2_000_000 + evaluations)
        eval_s += since_start() - eval_start
        if verified is not None:
            print(f"{since_start():.1f} s: verification: mean return {verified:.2f} over {VERIFY_EPISODES} fresh "
                  "episodes", flush=True)
            if verified >= args.target:
                solved_at = env_steps
                print(f"solved at env step {env_steps} (iteration {iterations}, {since_start():.1f} s)", flush=True)
                break
    print(json.dumps({"solved_at": solved_at, "env_steps": iterations * steps_per_env * args.num_envs,
                      "gradient_steps": iterations * grads_per_iteration, "iterations": iterations,
                      "best_mean_return": best, "verified_mean_return": verified_mean, "target": args.target,
                      "num_envs": args.num_envs, "seed": args.seed, "eval_s": eval_s, "wall_s": since_start()}),
          flush=True)


if __name__ == "__main__":
    main()
