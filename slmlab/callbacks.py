"""Callbacks: how diagnostics, plots and widgets watch (or steer) a run without forking the loop.

Holds the `Callback` base class with its hooks and its contract with cached runs,
and the stock callbacks: `StopAt` (stop after update N, as the Stop button would),
`TimeLimit` (stop after N seconds, with a last eval),
`EarlyStopping` (stop after `patience` evals without a new best val), `KeepBest`
(best.pt at each new best val), `ProgressBar` (tqdm) and `TimeBudget` (a time_budget's
end). The Trainer adds the last four itself from the config.

`TrainerView` is what a callback may use of the trainer, written as a `typing.Protocol`:
the hooks are typed against it, not against the Trainer class, so a type checker holds a
callback to the contract (and tests/test_callbacks.py checks that the Trainer meets it and
that slmlab's own callbacks use nothing else). This module knows nothing of the loop
beyond that view.

The contract with `slmlab.experiments.run`, which caches runs by config:
- an observer (the default: progress, live plots, widgets) watches and changes
  nothing; a cached run does not replay it;
- a recorder sets `record_name` and implements `recorded()` (JSON-able data) and
  `restore(data)`: run() saves what it recorded in the run folder and gives it
  back on a cache hit, so a second execution of a notebook sees the same numbers;
- a callback that changes training (an lr override, a different decay) sets
  `changes_training = True` and a `cache_tag`, which becomes part of the cache
  key; without a tag run() refuses it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from . import files, runfolder
from .checkpoint import best_state
from .history import EARLY_STOP, TIME
from .optim import set_lr

if TYPE_CHECKING:
    import torch

    from .config import Config
    from .data import TokenData
    from .device import Device
    from .distributed import Alone, Dist
    from .history import History
    from .schedule import Schedule

__all__ = [
    "TrainerView",
    "Callback",
    "StopAt",
    "TimeLimit",
    "ReplayLR",
    "EarlyStopping",
    "KeepBest",
    "ProgressBar",
    "TimeBudget",
]


@runtime_checkable
class TrainerView(Protocol):
    """What a callback may use of the trainer it watches (slmlab.train.Trainer meets it).

    Read: the config, the step, the history so far, the model and its optimizer, the device,
    the data, the schedule, the run folder, the clock and the ranks. Act: set an lr in
    `optimizer.param_groups` (on_step_start), append to `history`, `evaluate()` the model,
    and `request_stop`. Anything else of the Trainer (its sampler, scaler, the loop's own
    methods) is the loop's, and may change without notice.
    """

    cfg: Config  # the run's validated config (vocab_size filled in from the tokenizer)
    step: int  # finished optimizer updates
    history: History  # every record so far (steps, evals, the stop reason)
    model: torch.nn.Module  # the raw model (not compiled, not DDP-wrapped): its weights
    optimizer: torch.optim.Optimizer  # its param_groups' "lr" is the lr of this update
    out_dir: Path | None  # the run folder (None: not saved; under torchrun, on rank 0 only)
    device: Device  # where the run trains: type, dtype, threads
    data: TokenData  # the tokens (train, val) and the tokenizer
    schedule: Schedule  # the lr schedule, and a time_budget's clock (out_of_time)
    tokens_per_step: int  # tokens in one update, over all ranks
    dist: Alone | Dist  # the ranks: is_main, rank, world_size (print or write on rank 0 only)

    def seconds(self) -> float:
        """Wall time of the run so far, earlier sessions of a resumed run included."""
        ...

    def evaluate(self) -> dict:
        """Val (and train) loss of the model now, on the config's eval batches."""
        ...

    def request_stop(self, reason: str = ..., *, final_eval: bool = False) -> None:
        """End the loop after this update (the first reason wins); final_eval: eval there."""
        ...


class Callback:
    """Override what you need. `trainer.step` counts finished optimizer updates.

    Order inside one update: the schedule sets the lr -> on_step_start (may set
    another lr in trainer.optimizer.param_groups; the lr used is what the history
    records) -> forward/backward of every micro-batch -> on_after_backward
    (gradients unscaled, clipped, still there) -> optimizer step -> on_update.
    Step records reach on_log in batches, at log intervals (that is when the loop
    syncs with the device): on_log(trainer, records) gets the new ones, each with
    its own step number, while trainer.step may already be further on.
    """

    record_name: str | None = None  # a recorder: the name of its file in the run folder
    changes_training: bool = False  # True: the run's result depends on this callback
    cache_tag: str | None = None  # for changes_training: what makes its runs differ (part of the key)

    def on_train_start(self, trainer: TrainerView) -> None: ...
    def on_step_start(self, trainer: TrainerView) -> None: ...
    def on_after_backward(self, trainer: TrainerView) -> None: ...
    def on_update(self, trainer: TrainerView) -> None: ...
    def on_log(self, trainer: TrainerView, records: list[dict]) -> None: ...
    def on_eval(self, trainer: TrainerView, record: dict) -> None: ...
    def on_train_end(self, trainer: TrainerView) -> None: ...

    def recorded(self) -> Any:
        """A recorder's data, JSON-able (lists, dicts, numbers, text)."""
        raise NotImplementedError(
            f"{type(self).__name__} sets record_name, so it must define recorded() and restore(data)"
        )

    def restore(self, data: Any) -> None:
        """Put back what recorded() returned (a cached run replays nothing else)."""
        raise NotImplementedError(
            f"{type(self).__name__} sets record_name, so it must define recorded() and restore(data)"
        )


class StopAt(Callback):
    """Stop a run after optimizer update `step` (stop_reason "stopped"), as a Stop button pressed
    there would: the run folder keeps a checkpoint, so `train(resume=...)` goes on from it.
    An observer: a cached run of the same config is the whole run, so use it with `train`."""

    def __init__(self, step: int):
        self.step = step

    def on_update(self, trainer: TrainerView) -> None:
        if trainer.step == self.step:
            trainer.request_stop()


class TimeLimit(Callback):
    """Stop a run after `seconds` of wall time (stop_reason "time") and evaluate there: equal-time
    comparisons. Where it stops depends on the machine, so it is part of a cached run's key."""

    changes_training = True

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.cache_tag = f"time-limit-{seconds:g}s"
        self._t0 = 0.0

    def on_train_start(self, trainer: TrainerView) -> None:
        self._t0 = time.perf_counter()

    def on_update(self, trainer: TrainerView) -> None:
        if time.perf_counter() - self._t0 >= self.seconds:
            trainer.request_stop(TIME, final_eval=True)


class ReplayLR(Callback):
    """Train with `lrs[step]` at optimizer update `step`, whatever the config's schedule says: how
    a run with another schedule (a buggy one, say, from diagnostics.student_schedule) is trained.
    Past the end of `lrs` its last value holds. The history records the lr actually used."""

    changes_training = True

    def __init__(self, lrs):
        self.lrs = [float(lr) for lr in lrs]
        if not self.lrs:
            raise ValueError("ReplayLR needs at least one learning rate")
        self.cache_tag = "replay-lr-" + ",".join(f"{lr:.6g}" for lr in self.lrs)

    def on_step_start(self, trainer: TrainerView) -> None:  # after the schedule set its lr
        set_lr(trainer.optimizer, self.lrs[min(trainer.step, len(self.lrs) - 1)])


def _is_new_best(trainer: TrainerView, record: dict) -> bool:
    best = trainer.history.best_val()
    return best is not None and best[0] == record["step"]


class EarlyStopping(Callback):
    """Stop after `patience` evals in a row without a new best val (stop_reason "early_stop").

    It keeps no state of its own: the best so far is read from trainer.history,
    so a resumed run stops exactly where the uninterrupted one would.
    """

    def __init__(self, patience: int):
        self.patience = patience

    def on_eval(self, trainer: TrainerView, record: dict) -> None:
        best = trainer.history.best_val()
        steps = [e["step"] for e in trainer.history.evals]
        since = len(steps) - 1 - steps.index(best[0]) if best else len(steps)
        if since >= self.patience:
            trainer.request_stop(EARLY_STOP)


class KeepBest(Callback):
    """Write best.pt (weights, config, step, val_loss) into the run folder at each new best val."""

    def on_eval(self, trainer: TrainerView, record: dict) -> None:
        if trainer.out_dir is None or not _is_new_best(trainer, record):
            return
        files.atomic_torch_save(best_state(trainer, record["val_loss"]), trainer.out_dir / runfolder.BEST)


class ProgressBar(Callback):
    """A tqdm bar over the optimizer updates (over the seconds, for a time_budget run), with the
    last loss and lr."""

    def __init__(self):
        self._bar = None
        self._budget = 0.0

    def on_train_start(self, trainer: TrainerView) -> None:
        from tqdm.auto import tqdm

        self._budget = trainer.cfg.train.time_budget
        total, done, unit = (
            (round(self._budget), int(trainer.seconds()), "s")
            if self._budget
            else (trainer.cfg.train.max_steps, trainer.step, "step")
        )
        self._bar = tqdm(total=total, initial=done, desc=trainer.cfg.name, unit=unit, leave=False)

    def on_log(self, trainer: TrainerView, records: list[dict]) -> None:
        last = records[-1]
        done = min(int(last["seconds"]), self._bar.total) if self._budget else last["step"]
        self._bar.update(done - self._bar.n)
        where = {"step": last["step"]} if self._budget else {}
        self._bar.set_postfix(**where, loss=f"{last['loss']:.3f}", lr=f"{last['lr']:.2e}")

    def on_train_end(self, trainer: TrainerView) -> None:
        self._bar.close()


class TimeBudget(Callback):
    """The end of a time_budget run: stop (stop_reason "time", with a last eval) after the update
    or the eval after which what is left of the budget would not hold one more eval
    (trainer.schedule.out_of_time). The Trainer adds it last, so any other stop asked at the
    same update comes first."""

    def on_update(self, trainer: TrainerView) -> None:
        self._check(trainer)

    def on_eval(self, trainer: TrainerView, record: dict) -> None:
        self._check(trainer)  # this eval was the last one the budget holds

    @staticmethod
    def _check(trainer: TrainerView) -> None:
        if trainer.schedule.out_of_time():
            trainer.request_stop(TIME, final_eval=True)
