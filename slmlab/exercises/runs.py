"""Checks of the lessons that read many runs: 10 (naming a broken run from its statistics),
11 (which model size wins in a budget) and 12 (the grid's size, verdicts on settings).

The runs themselves come from the notebook (experiments.run, search); these only compare.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._harness import _verdict

__all__ = ["check_diagnosis", "check_size_winner", "check_grid_size", "check_verdicts"]


# --- 10: naming a broken run from its statistics


def check_diagnosis(
    fn: Callable[[Any], str], cases: Mapping[str, Any], *, hints: Mapping[str, str] | None = None
) -> bool:
    """fn(stats) -> the name of what is broken in that run (one of the names in `cases`).

    cases: {true name: what fn reads (a run's TrainingStats)}, runs the student has not looked
    at (another seed of the ones they studied); hints: {true name: where that breakage shows},
    printed for each run fn names wrong.
    """
    names = list(cases)

    def problems():
        wrong = []
        for truth, stats in cases.items():
            got = fn(stats)
            if got not in names:
                return f"return one of {', '.join(map(repr, names))}; got {got!r} for the {truth!r} run"
            if got != truth:
                hint = (hints or {}).get(truth)
                wrong.append(f"the {truth!r} run is not {got!r}" + (f" ({hint})" if hint else ""))
        return "; ".join(wrong) or None

    return _verdict(fn, problems, correct=f"correct: all {len(names)} runs named from their statistics")


# --- 11: which model size wins in a compute budget


def check_size_winner(
    prediction: str | None, run: Callable[[str], Any], choices: Sequence[str], *, tolerance: float
) -> bool:
    """prediction: the choice (e.g. "2x128") expected to end with the lowest val loss, written
    BEFORE running; run(choice) trains or loads that run and returns a Run; choices: smallest
    model first. A pick within `tolerance` (the seed spread) of the winner's val counts: a tie.

    Prints each choice's updates, final train and val loss and its val drop over the last
    quarter of the run, then the verdict: a pick bigger than the winner is told it got too
    few updates (still falling), a smaller one that its train loss is as high as its val.
    """
    if prediction is None:
        print(f"not attempted yet: set prediction to one of {', '.join(map(repr, choices))}, then run the cell")
        return False
    if prediction not in choices:
        print(f"not yet: {prediction!r} is not one of the choices {', '.join(map(repr, choices))}")
        return False
    try:
        rows = {c: _size_row(run(c)) for c in choices}
    except Exception as e:  # a run that crashed: say how, don't raise
        print(f"not yet: a run raised {type(e).__name__}: {e}")
        return False
    print(f"{'model':>8} {'updates':>8} {'train':>7} {'val':>7} {'val drop, last 25%':>19}")
    for c, r in rows.items():
        print(f"{c:>8} {r['updates']:>8} {r['train']:>7.3f} {r['val']:>7.3f} {r['drop']:>19.3f}")
    winner = min(rows, key=lambda c: rows[c]["val"])
    problem = _size_problem(prediction, winner, rows, list(choices), tolerance)
    tie = "" if prediction == winner else f" (within the seed spread {tolerance:.3f} of {winner})"
    print(f"correct: {prediction}{tie}" if problem is None else f"not yet: {problem}")
    return problem is None


def _size_row(r: Any) -> dict:
    """Updates, final train and val, and how far val fell over the last quarter of the run."""
    evals = r.history.evals
    updates = r.config.train.max_steps
    earlier = [e for e in evals if e["step"] <= 0.75 * updates] or evals[:1]
    return {
        "updates": updates,
        "train": evals[-1]["train_loss"],
        "val": evals[-1]["val_loss"],
        "drop": earlier[-1]["val_loss"] - evals[-1]["val_loss"],
    }


def _size_problem(pick: str, winner: str, rows: dict, order: list, tolerance: float) -> str | None:
    p, w = rows[pick], rows[winner]
    behind = p["val"] - w["val"]
    if behind <= tolerance:
        return None
    head = f"{pick} ended at val {p['val']:.3f}, {behind:.3f} nats above {winner}'s {w['val']:.3f}"
    if order.index(pick) > order.index(winner):
        return (
            f"{head}: bigger, it got only {p['updates']} updates in this budget ({winner}: "
            f"{w['updates']}), and its val still fell {p['drop']:.3f} in the last quarter: under-trained"
        )
    return (
        f"{head}: it had {p['updates']} updates ({winner}: {w['updates']}), yet its train loss "
        f"{p['train']:.3f} is as high as its val and fell only {p['drop']:.3f} in the last quarter: "
        f"too small to use them (it underfits)"
    )


# --- 12: hyperparameter search


def check_grid_size(fn: Callable[[Mapping[str, Sequence]], int]) -> bool:
    """fn({setting: [values]}) -> how many trials a grid search over those values runs."""

    def cases():
        for values in (
            {"lr": [1e-3, 1e-2]},
            {"lr": [1e-3, 3e-3, 1e-2], "dropout": [0.0, 0.1]},
            {"lr": [1, 2], "warmup": [0, 20, 40], "batch": [8, 16, 32, 64], "wd": [0.0]},
        ):
            got, want = fn(values), math.prod(len(v) for v in values.values())
            if got == want:
                continue
            counts = " x ".join(str(len(v)) for v in values.values())
            if got == sum(len(v) for v in values.values()):
                return (
                    f"for {len(values)} settings with {counts} values you gave {got}, their sum: a grid "
                    f"tries every combination, so multiply ({want})"
                )
            return f"for {len(values)} settings with {counts} values you gave {got}, expected {want}"
        return None

    return _verdict(fn, cases)


VERDICT_WORDS = ("helps", "hurts", "nothing")


def check_verdicts(
    prediction: Mapping[str, str | None],
    measured: Mapping[str, str],
    *,
    deltas: Mapping[str, float] | None = None,
    margin: float | None = None,
) -> bool:
    """prediction: change -> "helps" / "hurts" / "nothing", written BEFORE the runs; measured:
    the same keys -> the verdict the runs gave; deltas, margin (optional): each change's val
    minus the baseline's, and the margin that decided, printed beside each miss."""
    if all(v is None for v in prediction.values()):
        print(f"not attempted yet: write {', '.join(map(repr, VERDICT_WORDS))} for each change, then run the cell")
        return False
    problems = [
        f"{k!r} is not a change measured here (those are {', '.join(measured)})"
        for k in prediction
        if k not in measured
    ]
    problems += [f"no prediction for {k}" for k in measured if prediction.get(k) is None]
    problems += [
        f"{prediction[k]!r} for {k} is not one of {', '.join(map(repr, VERDICT_WORDS))}"
        for k in measured
        if prediction.get(k) is not None and prediction[k] not in VERDICT_WORDS
    ]
    if problems:
        print("not yet: " + "; ".join(problems))
        return False
    misses = [k for k in measured if prediction[k] != measured[k]]
    for k in misses:
        size = f" (val {deltas[k]:+.3f} against a margin of {margin:.3f})" if deltas and k in deltas and margin else ""
        print(f"{k}: you said {prediction[k]}, it {'did nothing' if measured[k] == 'nothing' else measured[k]}{size}")
    right = len(measured) - len(misses)
    print(f"correct: all {right} verdicts" if not misses else f"not yet: {right} of {len(measured)} right")
    return not misses
