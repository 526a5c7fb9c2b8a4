"""isaac_rl: GPU-vectorised DQN/DDPG for cart-pole tasks (torch, Isaac Gym, gymnasium backends)."""

from setuptools import find_packages, setup

ONNXSCRIPT = "onnxscript; python_version >= '3.9'"

setup(
    name="isaac_rl",
    version="0.1.0",
    description="Massively parallel off-policy RL (DQN, DDPG) with tensor-resident envs and replay",
    packages=find_packages(include=["isaac_rl", "isaac_rl.*", "tasks", "tasks.*"]),
    package_data={"tasks": ["assets/*.urdf"]},
    python_requires=">=3.8",
    install_requires=[
        "torch>=1.13",
        "numpy",
        "gymnasium>=1.1",     # CPU fallback backend and parity tests; >= 1.1 for same-step autoreset
        "hydra-core>=1.2",    # IsaacGymEnvs-style CLI overrides
        "pyyaml",
        "tensorboard",        # TensorBoard event files (torch.utils.tensorboard)
        "tqdm",               # progress bar on a terminal
    ],
    # Every extra installs and imports on every Python of python_requires (CI installs them on 3.8 and 3.11).
    # onnxscript only from Python 3.9: the last release for 3.8 (0.2.7) fails at import there ("'ABCMeta' object is
    # not subscriptable"), and torch._dynamo imports it when present, which broke compile=True and the tests. It is
    # not needed there: torch.onnx.export needs onnxscript only from torch 2.5, and Python 3.8 gets torch <= 2.4.1.
    extras_require={
        "wandb": ["wandb"],
        "viz": ["pillow", "matplotlib", "imageio-ffmpeg"],  # frames, --curve PNGs, MP4 videos (bundled ffmpeg)
        "export": ["onnx", ONNXSCRIPT],            # play.py --onnx
        "dev": ["pytest", "ruff", "vermin", "mypy", "isaacgym-stubs", "wandb", "pillow", "matplotlib", "imageio-ffmpeg",
                "onnx", ONNXSCRIPT, "onnxruntime"],
    },
)
