"""Run outputs on rank 0: console/progress bar, ``metrics.jsonl``, TensorBoard events and (optionally) wandb."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Dict, Mapping, Optional


class RunLogger:
    """Writes every ``log(metrics, step)`` call to all active sinks; metric values are host floats.

    Args:
        run_dir: ``runs/<experiment>``; ``metrics.jsonl`` and TensorBoard events go here.
        total_steps: Env steps of the whole run, for the progress bar.
        tensorboard: Write TensorBoard events (needs the ``tensorboard`` package).
        wandb_run: An active ``wandb`` run, or ``None``.
        progress: Show a tqdm progress bar (default: only when stderr is a terminal).
    """

    def __init__(self, run_dir: str, total_steps: int, tensorboard: bool = True, wandb_run: Any = None,
                 progress: Optional[bool] = None, start_step: int = 0) -> None:
        os.makedirs(run_dir, exist_ok=True)
        self._metrics = open(os.path.join(run_dir, "metrics.jsonl"), "a")
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter
            # A resume purges events an interrupted run logged after its checkpoint: one step series per tag.
            self._tb = SummaryWriter(os.path.join(run_dir, "summaries"), purge_step=start_step or None)
        self._wandb = wandb_run
        self._bar = None
        if progress if progress is not None else sys.stderr.isatty():
            from tqdm import tqdm
            self._bar = tqdm(total=total_steps, initial=start_step, unit="step", unit_scale=True, dynamic_ncols=True)
        self._last_step = start_step
        self._start = time.time()

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        """Record host-float ``metrics`` at env step ``step``."""
        row: Dict[str, Any] = {"step": step, "time": round(time.time() - self._start, 3), **metrics}
        self._metrics.write(json.dumps(row) + "\n")
        self._metrics.flush()
        if self._tb is not None:
            for key, value in metrics.items():
                self._tb.add_scalar(key, value, step)
        if self._wandb is not None:
            self._wandb.log(dict(metrics), step=step)
        if self._bar is not None:
            self._bar.update(step - self._last_step)
            shown = {k.split("/")[-1]: round(v, 2) for k, v in metrics.items() if "return" in k or k.endswith("SPS")}
            self._bar.set_postfix(shown)
        elif "eval/mean_return" in metrics or "charts/episodic_return" in metrics:
            shown = " ".join(f"{k}={v:.4g}" for k, v in metrics.items())
            print(f"[isaac_rl] step {step:,}: {shown}", flush=True)
        self._last_step = step

    def close(self) -> None:
        """Flush and close every sink."""
        self._metrics.close()
        if self._tb is not None:
            self._tb.close()
        if self._bar is not None:
            self._bar.close()
        if self._wandb is not None:
            self._wandb.finish()
