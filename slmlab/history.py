"""What a run leaves behind: the `History` record, its history.jsonl file, and what is read from it.

Holds
- `History`: the step and eval records of one run, its config (as a dict), meta
  (vocab size, device, label, ...) and why it stopped; `save` / `load` of
  history.jsonl (one JSON object per line, a meta line first);
- `series(key)`: the one reader of a record field as arrays, used by plots and the doctor;
- the metrics runs are compared by (`best_val`, `final_val`, `final_train`, `gap`,
  or the last value of any eval field): `metric(history, name)`; and `smooth`,
  the one EMA of a noisy series (the curves' train loss, the lr finder's loss);
- `as_history(obj)`: a History from a History, a Run or a run folder / history.jsonl path;
- the stop reasons (`STOPPED`, `TIME`, `NAN`, `EARLY_STOP`, `HEALTH_CHECK`), and
  the two sentences every view prints about a run: `best_text` and `run_label`.

It imports only files and config: the trainer writes Histories, diagnostics,
experiments, plots and widgets read them, and none of them needs the trainer for it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import files
from .config import Config
from .runfolder import HISTORY

__all__ = [
    "History",
    "as_history",
    "metric",
    "METRICS",
    "smooth",
    "best_text",
    "run_label",
    "STOPPED",
    "TIME",
    "NAN",
    "EARLY_STOP",
    "HEALTH_CHECK",
    "ENDED_ON_ITS_OWN",
]

# Why a run ended before max_steps (History.stop_reason; None: it ran to max_steps).
STOPPED = "stopped"  # by hand: the Stop button, Ctrl-C, trainer.request_stop()
TIME = "time"  # a TimeLimit callback: the wall-time budget ran out
NAN = "nan"  # the loss became NaN or inf
EARLY_STOP = "early_stop"  # early_stop_patience evals without a new best val
HEALTH_CHECK = "health_check"  # a strict HealthChecks callback found the model broken
ENDED_ON_ITS_OWN = (TIME, NAN, EARLY_STOP, HEALTH_CHECK)  # finished runs: running again changes nothing


@dataclass
class History:
    """Per-step and per-eval records of one run (the rows of history.jsonl)."""

    steps: list[dict] = field(default_factory=list)  # kind=step: step, loss, lr, grad_norm, tokens, seconds
    evals: list[dict] = field(default_factory=list)  # kind=eval: step, train_loss, val_loss, tokens, seconds
    config: dict = field(default_factory=dict)  # Config.to_dict()
    meta: dict = field(default_factory=dict)  # vocab_size, entropy_floor, device, label, ...
    stop_reason: str | None = None  # None: ran to max_steps; else one of the reasons above

    # --- metrics

    def best_val(self) -> tuple[int, float] | None:
        """(step, val_loss) of the lowest finite val loss (the first, on ties), or None before any eval."""
        good = [e for e in self.evals if math.isfinite(e["val_loss"])]
        if not good:
            return None
        best = min(good, key=lambda e: e["val_loss"])
        return best["step"], best["val_loss"]

    def final_val(self) -> float | None:
        return self.evals[-1]["val_loss"] if self.evals else None

    def gap(self) -> float | None:
        """val - train at the last eval (both measured the same way, in eval mode)."""
        if not self.evals or self.evals[-1].get("train_loss") is None:
            return None
        return self.evals[-1]["val_loss"] - self.evals[-1]["train_loss"]

    @property
    def label(self) -> str:
        return self.meta.get("label") or self.config.get("name", "run")

    def series(self, key: str, x: str = "step") -> tuple[np.ndarray, np.ndarray]:
        """(x, values) of `key` from the eval records, else the step records; None values skipped.

        x: 'step', 'tokens' (tokens seen; from the records, else step x tokens_per_step)
        or 'seconds'. Eval fields: val_loss, train_loss and whatever callbacks add;
        step fields: loss, lr, grad_norm.
        """
        rows = self.evals if any(r.get(key) is not None for r in self.evals) else self.steps
        rows = [r for r in rows if r.get(key) is not None]
        xs = np.array([self.x_of(r, x) for r in rows], dtype=float)
        return xs, np.array([r[key] for r in rows], dtype=float)

    def x_of(self, rec: Mapping, x: str) -> float:
        """Where record `rec` sits on axis `x` ('step', 'tokens' or 'seconds', as in series)."""
        if x == "step":
            return rec["step"]
        if x == "seconds":
            return rec["seconds"]
        if x == "tokens":
            return rec["tokens"] if rec.get("tokens") is not None else rec["step"] * self.tokens_per_step
        raise ValueError(f"x={x!r}: use 'step', 'tokens' or 'seconds'")

    @property
    def tokens_per_step(self) -> int:
        return self.meta.get("tokens_per_step") or Config.from_dict(self.config).tokens_per_step

    # --- history.jsonl: one JSON object per line

    def rows(self) -> list[dict]:
        head = {"kind": "meta", "config": self.config, "meta": self.meta, "stop_reason": self.stop_reason}
        merged = sorted(self.steps + self.evals, key=lambda r: (r["step"], r["kind"] == "eval"))
        return [head, *merged]

    def save(self, path: str | Path) -> None:
        files.write_jsonl(path, self.rows())

    @classmethod
    def load(cls, path: str | Path) -> History:
        """Read history.jsonl (or the one in the run folder `path`)."""
        path = Path(path)
        path = path / HISTORY if path.is_dir() else path
        if not path.is_file():
            raise FileNotFoundError(f"no history at {path}; give a run folder or its history.jsonl")
        h = cls()
        for row in files.read_jsonl(path):
            kind = row.get("kind")
            if kind == "meta":
                h.config, h.meta, h.stop_reason = row["config"], row["meta"], row.get("stop_reason")
            elif kind == "step":
                h.steps.append(row)
            elif kind == "eval":
                h.evals.append(row)
        return h

    def state(self) -> dict:
        """Plain lists and dicts (for a checkpoint); History(**state) rebuilds it."""
        return {
            "steps": self.steps,
            "evals": self.evals,
            "config": self.config,
            "meta": self.meta,
            "stop_reason": self.stop_reason,
        }


def as_history(obj: Any) -> History:
    """The History of a History, a Run (anything with a `.history`) or a run folder / history.jsonl."""
    if isinstance(obj, History):
        return obj
    if isinstance(obj, (str, os.PathLike)):
        return History.load(obj)
    inner = getattr(obj, "history", None)
    if isinstance(inner, History):
        return inner
    raise TypeError(
        f"expected a History, a Run or a run folder, got {type(obj).__name__}; "
        f"pass run.history or the path of a run folder"
    )


# ---------------------------------------------------------------------------
# Metrics: one number per run, to compare runs by


def _best(h: History) -> float:
    best = h.best_val()
    return best[1] if best else math.nan


def _or_nan(x: float | None) -> float:
    return math.nan if x is None else float(x)


METRICS: dict[str, Callable[[History], float]] = {
    "best_val": _best,
    "final_val": lambda h: _or_nan(h.final_val()),
    "final_train": lambda h: _or_nan(h.evals[-1].get("train_loss") if h.evals else None),
    "gap": lambda h: _or_nan(h.gap()),
}


def metric(h: History, name: str | Callable[[History], float]) -> float:
    """One number of a run: a name of METRICS, the last value of any record field
    (e.g. a callback's 'matrix_norm'), or a callable(history) -> float. NaN when missing."""
    if callable(name):
        return float(name(h))
    if name in METRICS:
        return METRICS[name](h)
    _, values = h.series(name)
    if not len(values) and not any(name in r for r in h.evals + h.steps):
        raise ValueError(
            f"metric={name!r}: use one of {', '.join(METRICS)}, a record field, or a callable(history) -> float"
        )
    return float(values[-1]) if len(values) else math.nan


def smooth(values, beta: float = 0.9) -> np.ndarray:
    """Bias-corrected exponential moving average (TensorBoard's); NaN stays NaN and is skipped."""
    values = np.asarray(values, dtype=float)
    out = np.full(len(values), np.nan)
    avg, n = 0.0, 0
    for i, v in enumerate(values):
        if math.isfinite(v):
            avg, n = beta * avg + (1 - beta) * v, n + 1
            out[i] = avg / (1 - beta**n)
    return out


# ---------------------------------------------------------------------------
# What views print about a run


def best_text(h: History, digits: int = 3) -> str:
    """'best val 2.345 at step 40' (or 'no eval yet'): the line every view prints."""
    best = h.best_val()
    return f"best val {best[1]:.{digits}f} at step {best[0]}" if best else "no eval yet"


def _value_text(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def run_label(values: Mapping[str, Any]) -> str:
    """'lr=0.001, dropout=0.1': how sweeps, the dashboard and plots name a run by its settings."""
    return ", ".join(f"{k}={_value_text(v)}" for k, v in values.items())
