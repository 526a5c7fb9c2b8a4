"""Play, render and export a checkpoint: ``python scripts/play.py runs/<experiment>/nn/last.pt --episodes 20`` (the
same as the ``isaac-rl-play`` console command; see :mod:`isaac_rl.app.play`)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from isaac_rl.app.cli import play  # noqa: E402

if __name__ == "__main__":
    play()
