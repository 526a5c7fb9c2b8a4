"""Load a checkpoint, run N deterministic episodes, and optionally draw a GIF, plot the learning curve and export
the policy.

    python scripts/play.py runs/CartPole-v1DQN_seed42/nn/last.pt --episodes 20
    python scripts/play.py runs/.../nn/last.pt --sim gymnasium          # the same policy in real gymnasium
    python scripts/play.py runs/.../nn/last.pt --gif rollout.gif --curve curve.png \\
        --export policy.pt --onnx policy.onnx

Prints one JSON line: mean/std/min return and mean length over the episodes (one per env, each env's first episode),
plus the paths written. The exported TorchScript/ONNX policy maps float ``[N, obs_dim]`` observations to normalised
efforts ``[N, act_dim]`` in ``[-1, 1]`` (multiply by the task's max effort for newtons).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse(argv=None) -> argparse.Namespace:  # type: ignore[no-untyped-def]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="a .pt file written by scripts/train.py (runs/<experiment>/nn/last.pt "
                   "or best.pt)")
    p.add_argument("--episodes", type=int, default=10, help="deterministic episodes (one per env); default 10")
    p.add_argument("--sim", choices=("torch", "gymnasium", "isaacgym"), default=None,
                   help="backend to play on; default: the one it was trained on")
    p.add_argument("--device", default="cpu", help="torch device; default cpu")
    p.add_argument("--seed", type=int, default=0, help="seed of the episodes' initial states")
    p.add_argument("--gif", default="", help="write a GIF of one episode here (torch backend tasks)")
    p.add_argument("--gif-steps", type=int, default=500, help="at most this many GIF frames; default 500")
    p.add_argument("--curve", default="", help="write the run's learning curve (metrics.jsonl) as a PNG here")
    p.add_argument("--export", default="", help="write the policy as TorchScript here (.pt)")
    p.add_argument("--onnx", default="", help="write the policy as ONNX here (needs `pip install onnx onnxscript`)")
    args = p.parse_args(argv)
    if args.episodes < 1:
        p.error(f"--episodes must be >= 1, got {args.episodes}")
    if args.gif_steps < 1:
        p.error(f"--gif-steps must be >= 1, got {args.gif_steps}")
    if not os.path.isfile(args.checkpoint):
        p.error(f"checkpoint {args.checkpoint!r} does not exist")
    return args


def main(argv=None) -> int:  # type: ignore[no-untyped-def]
    args = parse(argv)
    if args.sim == "isaacgym":
        import isaacgym  # noqa: F401  (must be imported before torch)

    from isaac_rl.app import checkpoint
    from isaac_rl.app.build import make_trained_algorithm
    from isaac_rl.runtime.evaluate import evaluate
    from isaac_rl.tools.export import export_onnx, export_torchscript, policy_module

    state = checkpoint.read(args.checkpoint, args.device, "export" if args.export or args.onnx else "play")
    cfg = state["config"]
    sim = args.sim or cfg["sim"]

    env, algo = make_trained_algorithm(cfg, state["trainer"]["agent"], sim, args.episodes, args.device, args.seed)
    result = evaluate(env, algo.act, seed=args.seed)
    result.update(episodes=args.episodes, sim=sim, task=cfg["task"]["name"])
    example = env.reset(args.seed)
    env.close()
    if args.export or args.onnx:
        module = policy_module(algo).to(args.device)
        if args.export:
            export_torchscript(module, example, args.export)
            result["export"] = args.export
        if args.onnx:
            export_onnx(module, example, args.onnx)
            result["onnx"] = args.onnx
    if args.gif:
        from isaac_rl.tools.render import record_gif
        if sim != "torch":
            raise SystemExit(f"--gif draws the torch backend's state; this run uses --sim {sim} (use --sim torch)")
        gif_env, gif_algo = make_trained_algorithm(cfg, state["trainer"]["agent"], "torch", 1, args.device, args.seed)
        result["gif_frames"] = record_gif(gif_env, cfg["task"]["name"], gif_algo.act, args.gif,
                                          max_steps=args.gif_steps, seed=args.seed)
        result["gif"] = args.gif
    if args.curve:
        from isaac_rl.tools.render import plot_learning_curve
        metrics = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(args.checkpoint))), "metrics.jsonl")
        result["curve_points"] = plot_learning_curve(metrics, args.curve)
        result["curve"] = args.curve
    print(json.dumps(result), flush=True)
    return 0


def cli() -> int:
    """:func:`main` with user errors (a bad checkpoint) as one line on stderr and exit code 2."""
    from isaac_rl.core.errors import UserError
    try:
        return main()
    except UserError as err:
        sys.stderr.write(f"[isaac_rl] error: {err}\n")
        return err.exit_code


if __name__ == "__main__":
    sys.exit(cli())
