"""Run outputs on rank 0: console/progress bar, ``metrics.jsonl``, TensorBoard events and (optionally) wandb."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any, Dict, Mapping, Optional

from isaac_rl.core.errors import RunDirError
from isaac_rl.runtime import console

BAR_POSTFIX = (("charts/episodic_return", "return"), ("eval/mean_return", "eval"), ("charts/SPS", "SPS"))


class RunLogger:
    """Writes every ``log(metrics, step)`` call to all active sinks; metric values are host floats.

    Args:
        run_dir: ``runs/<experiment>``; ``metrics.jsonl`` and TensorBoard events go here.
        total_steps: Env steps of the whole run, for the progress bar.
        tensorboard: Write TensorBoard events (needs the ``tensorboard`` package).
        wandb_run: An active ``wandb`` run, or ``None``.
        progress: Show a tqdm progress bar (default: only when stderr is a terminal). While it is shown the
            trainer's lines (:func:`isaac_rl.runtime.console.say`) are printed above it with ``tqdm.write``; its
            postfix shows the latest training return, evaluation mean and SPS; a run that ends early (solved,
            stopped) closes it at the steps it ran, not at a fraction of ``total_steps`` with an ETA.
    """

    def __init__(self, run_dir: str, total_steps: int, tensorboard: bool = True, wandb_run: Any = None,
                 progress: Optional[bool] = None, start_step: int = 0) -> None:
        self._tb = None
        try:
            os.makedirs(run_dir, exist_ok=True)
            self._metrics = open(os.path.join(run_dir, "metrics.jsonl"), "a")
            if tensorboard:
                from torch.utils.tensorboard import SummaryWriter
                # A resume purges events an interrupted run logged after its checkpoint: one step series per tag.
                self._tb = SummaryWriter(os.path.join(run_dir, "summaries"), purge_step=start_step or None)
        except OSError as err:
            where = err.filename or run_dir
            raise RunDirError(f"cannot write the run's logs to {where}: {err.strerror or err} (fix its "
                              "permissions, or set train_dir= or experiment= to another folder)") from None
        self._wandb = wandb_run
        self._bar = None
        if progress if progress is not None else sys.stderr.isatty():
            from tqdm import tqdm
            self._bar = tqdm(total=total_steps, initial=start_step, unit="step", unit_scale=True, dynamic_ncols=True)
            console.set_writer(lambda line: tqdm.write(line, file=sys.stdout))
        self._shown: Dict[str, float] = {}
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
            self._shown.update({short: metrics[key] for key, short in BAR_POSTFIX if key in metrics})
            if any(key in metrics for key, _ in BAR_POSTFIX):
                self._bar.set_postfix({k: f"{v:.4g}" for k, v in self._shown.items()})
        elif "eval/mean_return" in metrics or "charts/episodic_return" in metrics:
            shown = " ".join(f"{k}={v:.4g}" for k, v in metrics.items())
            print(f"[isaac_rl] step {step:,}: {shown}", flush=True)
        self._last_step = step

    def close(self) -> None:
        """Flush and close every sink. A sink whose file is gone (the run folder deleted mid-run) closes quietly: the
        run reports that itself."""
        try:
            self._metrics.close()
        except OSError:
            pass
        if self._tb is not None:
            try:
                self._tb.close()
            except OSError:
                pass
        if self._bar is not None:
            if self._bar.n < self._bar.total:  # ended early (solved or stopped): the bar ends where the run did
                self._bar.total = self._bar.n
                self._bar.refresh()
            self._bar.close()
            console.set_writer(None)
        if self._wandb is not None:
            self._wandb.finish()
