"""The learning-rate schedule: which lr each optimizer update of a run gets.

Holds `lr_at` (linear warmup from near 0, then a cosine down to min_lr, a function of the
optimizer update, never of the micro-step) and `Schedule`, one run's schedule: lr_at by step,
or, with a time_budget, by the share of the budget spent, and when that budget runs out.
The loop that applies it is slmlab.train's; the optimizers that take the lr are
slmlab.optim's (`set_lr`). Of slmlab it imports only config.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .config import TrainConfig

__all__ = ["lr_at", "Schedule"]


def lr_at(step: int, tcfg: TrainConfig, progress: float | None = None) -> float:
    """The learning rate for optimizer update `step` (0-based).

    Linear warmup from lr/(warmup_steps+1) up to lr, then a cosine from lr at
    warmup_steps down to min_lr at max_steps. progress (0 -> 1) places a step after
    warmup on the cosine instead: a run with a time_budget passes the share of its
    post-warmup time spent (Schedule.progress), so its lr reaches min_lr when
    the time runs out, whatever the machine's speed.
    """
    if step < tcfg.warmup_steps:
        return tcfg.lr * (step + 1) / (tcfg.warmup_steps + 1)
    if progress is None:
        if step >= tcfg.max_steps:
            return tcfg.min_lr
        progress = (step - tcfg.warmup_steps) / (tcfg.max_steps - tcfg.warmup_steps)  # 0 -> 1
    progress = min(max(progress, 0.0), 1.0)
    return tcfg.min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (tcfg.lr - tcfg.min_lr)


class Schedule:
    """One run's lr per update (lr_at), and with a time_budget its clock.

    clock: the run's wall seconds so far, earlier sessions of a resumed run included.
    shared_clock: the same, read alike by every process of a data-parallel run (their mean),
    so all give the same lr and the replicas stay equal; default: clock.
    eval_seconds: how long the last eval took; the budget keeps that much for the final one.
    """

    def __init__(self, tcfg: TrainConfig, clock: Callable[[], float], shared_clock: Callable[[], float] | None = None):
        self.tcfg, self.clock, self.shared_clock = tcfg, clock, shared_clock or clock
        self.eval_seconds = 0.0

    def lr(self, step: int, meta: dict) -> float:
        """The lr of update `step`. meta: the run's history meta, which keeps when warmup ended."""
        return lr_at(step, self.tcfg, self.progress(step, meta))

    def progress(self, step: int, meta: dict) -> float | None:
        """With a time_budget, how far along the cosine update `step` is (0 -> 1); None without one
        (lr_at then counts steps) and during warmup. The share of the time after warmup spent, less
        the time one eval takes (kept for the final eval); max_steps still ends the cosine, if sooner."""
        t = self.tcfg
        if not t.time_budget or step < t.warmup_steps:
            return None
        now = self.shared_clock()
        start = meta.setdefault("warmup_end_seconds", now)  # kept in checkpoints: resume goes on
        by_time = (now - start) / max(t.time_budget - self.eval_seconds - start, 1e-9)
        by_steps = (step - t.warmup_steps) / (t.max_steps - t.warmup_steps)
        return max(by_time, by_steps)

    def out_of_time(self) -> bool:
        """A time_budget run ends when what is left would not hold one more eval."""
        budget = self.tcfg.time_budget
        return bool(budget) and self.clock() + self.eval_seconds >= budget
