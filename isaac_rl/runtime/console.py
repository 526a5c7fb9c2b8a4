"""The trainer's console lines ("solved", "not verified", verification progress): one function, :func:`say`, whose
output a live progress bar can route around itself (:class:`isaac_rl.app.logger.RunLogger` installs ``tqdm.write``
while its bar is shown, so a line is printed whole above the bar instead of being glued to or overwritten by it)."""

from __future__ import annotations

import sys
from typing import Callable, Optional

_writer: Optional[Callable[[str], None]] = None


def say(line: str) -> None:
    """Print one line of the run's messages to stdout (through the live progress bar's writer when one is set)."""
    if _writer is not None:
        _writer(line)
        return
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def set_writer(writer: Optional[Callable[[str], None]]) -> None:
    """Route :func:`say` through ``writer`` (one line, no newline), or back to plain stdout with ``None``."""
    global _writer
    _writer = writer
