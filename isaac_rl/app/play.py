"""Load a checkpoint, run N deterministic episodes, and optionally draw a GIF, plot the learning curve and export
the policy.

    isaac-rl-play runs/CartPole-v1DQN_seed42/nn/last.pt --episodes 20     # or python scripts/play.py ...
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


def parse(argv=None) -> argparse.Namespace:  # type: ignore[no-untyped-def]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="a .pt file written by scripts/train.py (runs/<experiment>/nn/last.pt "
                   "or best.pt)")
    p.add_argument("--episodes", type=int, default=10, help="deterministic episodes (one per env); default 10")
    p.add_argument("--sim", choices=("torch", "gymnasium", "isaacgym"), default=None,
                   help="backend to play on; default: the one it was trained on")
    p.add_argument("--device", default="cpu", help="torch device; default cpu")
    p.add_argument("--seed", type=int, default=0, help="seed of the episodes' initial states")
    p.add_argument("--agent", type=int, default=0, help="which agent of a population checkpoint (nn/last.pt of a "
                   "population=K run); default 0")
    p.add_argument("--gif", default="", help="write a GIF of one episode here (torch backend tasks)")
    p.add_argument("--gif-steps", type=int, default=500, help="at most this many GIF or video steps; default 500")
    p.add_argument("--video", default="", help="write an MP4 of one episode here (GIF beside it without "
                   "imageio-ffmpeg; torch backend tasks)")
    p.add_argument("--curve", default="", help="write the run's learning curve (metrics.jsonl) as a PNG here")
    p.add_argument("--export", default="", help="write the policy as TorchScript here (.pt), with <file>.json beside")
    p.add_argument("--export-program", default="", help="write the policy as a torch.export program here (.pt2; "
                   "torch >= 2.1), with <file>.json beside")
    p.add_argument("--onnx", default="", help="write the policy as ONNX here (needs `pip install onnx onnxscript`)")
    args = p.parse_args(argv)
    if args.episodes < 1:
        p.error(f"--episodes must be >= 1, got {args.episodes}")
    if args.agent < 0:
        p.error(f"--agent must be >= 0, got {args.agent}")
    if args.gif_steps < 1:
        p.error(f"--gif-steps must be >= 1, got {args.gif_steps}")
    if not os.path.isfile(args.checkpoint):
        p.error(f"checkpoint {args.checkpoint!r} does not exist")
    return args


def main(argv=None) -> int:  # type: ignore[no-untyped-def]
    args = parse(argv)

    from isaac_rl.algorithms.population import agent_state
    from isaac_rl.app import checkpoint
    from isaac_rl.app.build import make_trained_algorithm
    from isaac_rl.app.population import agent_config
    from isaac_rl.runtime.evaluate import evaluate
    from isaac_rl.tools.export import deploy_sidecar, export_onnx, export_program, export_torchscript, policy_module

    exporting = args.export or args.export_program or args.onnx
    state = checkpoint.read(args.checkpoint, args.device, "export" if exporting else "play")
    cfg = state["config"]
    sim = args.sim or cfg["sim"]

    env, algo = make_trained_algorithm(cfg, state["trainer"]["agent"], sim, args.episodes, args.device, args.seed,
                                       agent=args.agent)
    if cfg["population"] > 1:  # the sidecar records the agent's own settings and seed
        cfg = agent_config(cfg, args.agent)
        state["trainer"]["agent"] = agent_state(state["trainer"]["agent"], args.agent, state["config"]["population"])
    result = evaluate(env, algo.act, seed=args.seed)
    result.update(episodes=args.episodes, sim=sim, task=cfg["task"]["name"], agent=args.agent)
    example = env.reset(args.seed)
    if exporting:
        module = policy_module(algo).to(args.device)
        targets = ((args.export, export_torchscript, "torchscript"),
                   (args.export_program, export_program, "torch.export"), (args.onnx, export_onnx, "onnx"))
        for path, write, fmt in targets:
            if path:
                write(module, example, path)
                deploy_sidecar(cfg, env, algo, path, fmt)
                result[{"torchscript": "export", "torch.export": "export_program", "onnx": "onnx"}[fmt]] = path
    env.close()
    if args.gif or args.video:
        from isaac_rl.tools.render import rollout_frames, write_gif, write_video
        if sim != "torch":
            raise SystemExit(f"--gif/--video draw the torch backend's state; this run uses --sim {sim} (use --sim "
                             "torch)")
        gif_env, gif_algo = make_trained_algorithm(cfg, state["trainer"]["agent"], "torch", 1, args.device, args.seed)
        frames = rollout_frames(gif_env, cfg["task"]["name"], gif_algo.act, max_steps=args.gif_steps, seed=args.seed)
        if args.gif:
            result["gif"], result["gif_frames"] = write_gif(frames, args.gif), len(frames)
        if args.video:
            result["video"], result["video_frames"] = write_video(frames, args.video), len(frames)
    if args.curve:
        from isaac_rl.tools.render import plot_learning_curve
        metrics = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(args.checkpoint))), "metrics.jsonl")
        result["curve_points"] = plot_learning_curve(metrics, args.curve)
        result["curve"] = args.curve
    print(json.dumps(result), flush=True)
    return 0


def cli() -> int:
    """:func:`main` with user errors (a bad checkpoint) as one line on stderr and exit code 2 (Isaac Gym, when asked
    for, is imported first by :func:`isaac_rl.app.cli.play`)."""
    from isaac_rl.core.errors import UserError
    try:
        return main()
    except UserError as err:
        sys.stderr.write(f"[isaac_rl] error: {err}\n")
        return err.exit_code

