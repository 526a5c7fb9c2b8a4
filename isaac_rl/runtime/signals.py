"""Stop requests: SIGINT (Ctrl-C), SIGTERM, SIGUSR1 (cluster preemption) and SIGHUP (closed terminal) set a flag that
the trainer polls on the host every iteration (no device sync); it then saves a checkpoint and ends the run cleanly."""

from __future__ import annotations

import signal
import sys
from typing import Any, Dict, Optional

STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGUSR1", "SIGHUP")
                     if hasattr(signal, name))


class StopFlag:
    """Callable flag: true once a stop signal arrived. A second SIGINT aborts at once (``KeyboardInterrupt``); the
    atomic checkpoint writes keep the previous checkpoint intact even then."""

    def __init__(self) -> None:
        self.signal: Optional[int] = None
        self._previous: Dict[int, Any] = {}
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        if self.signal is None:
            try:
                name = signal.Signals(signum).name
                hint = " (Ctrl-C again aborts without saving)" if signum == signal.SIGINT else ""
                sys.stderr.write(f"[isaac_rl] {name}: saving a checkpoint and stopping{hint}\n")
                sys.stderr.flush()
            except (OSError, ValueError):  # SIGHUP: the terminal may be gone
                pass
        self.signal = signum

    def __call__(self) -> bool:
        return self.signal is not None

    def restore(self) -> None:
        """Put back the handlers that were installed before."""
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
