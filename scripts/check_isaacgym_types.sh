#!/usr/bin/env bash
# Type-check the Isaac Gym backend against the public isaacgym-stubs package (pip install isaacgym-stubs).
# The published gymapi.pyi has two properties named `lambda` (a Python keyword) that mypy cannot parse, and there is no
# gymtorch stub; we fix both in a temporary copy, never in site-packages.
set -euo pipefail
cd "$(dirname "$0")/.."
site=$(python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/isaacgym"
sed -E 's/def lambda\(/def lambda_(/g' "$site/isaacgym-stubs/gymapi.pyi" > "$tmp/isaacgym/gymapi.pyi"
printf 'from typing import Any\n' > "$tmp/isaacgym/__init__.pyi"
printf 'import torch\ndef wrap_tensor(gym_tensor: Any) -> torch.Tensor: ...\ndef unwrap_tensor(torch_tensor: torch.Tensor) -> Any: ...\nfrom typing import Any\n' > "$tmp/isaacgym/gymtorch.pyi"
printf '[mypy]\nfollow_imports = silent\n[mypy-isaacgym.*]\nignore_errors = True\n' > "$tmp/mypy.ini"
MYPYPATH="$tmp" python -m mypy --config-file "$tmp/mypy.ini" --python-version 3.10 tasks/isaacgym_cartpole.py
echo "isaacgym types: ok"
