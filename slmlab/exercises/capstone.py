"""The check of lesson 13, the class challenge: beat the notebook's run in the same budget.

`check_capstone` validates the student's config against the notebook's (the same val text,
scored as often, within the budget), trains it through the notebook's `train`, compares bits
per byte with the reference run and writes the result to the leaderboard (slmlab.capstone).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._harness import _attempt

__all__ = ["check_capstone"]


# --- 13: the class challenge: beat the notebook's run in the same budget

# what decides the val text, and how often and on how many batches it is scored: a run evaluated
# more often, on fewer batches, would pick its best from more and noisier numbers
_SCORED_THE_SAME = ("corpus", "corpus_bytes", "val_fraction", "data_seed", "eval_interval", "eval_batches")


def check_capstone(
    fn: Callable,
    *,
    base: Any,
    reference: Any,
    train: Callable[[Any], Any],
    budget: float,
    name: str,
    board: Any = None,
    tolerance: float = 0.0,
) -> bool:
    """fn(cfg) -> the student's Config for the challenge, made from the notebook's `base` config;
    train(config) -> its Run (the notebook's experiments.run: a cached run loads);
    reference: the notebook's own Run of `base`; budget: the wall seconds a run may train;
    name: the student's name on the leaderboard; board: its file (capstone.default_board() when
    None); tolerance: bits per byte within which two results count as a tie (the eval noise).

    Compares best val in bits per byte (it compares tokenizers too) on the same val text, prints
    both runs, then: "not attempted yet", "not yet: over budget ..." (a time_budget above
    `budget`, or a run that trained longer), "not yet: worse ...", "not
    yet: a tie ..." or "better ...". Every run that trained gets a row in the leaderboard (one
    per name and config: a re-run replaces it), beside the notebook's own. True only when better.
    """
    from .. import capstone
    from ..config import Config

    ran, cfg = _attempt(
        fn,
        lambda: fn(base),
        "not attempted yet: return your config from my_config (e.g. cfg.replace(...)), then run the cell",
    )
    if not ran:
        return False
    problem = _capstone_config_problem(cfg, base, name, Config, budget)
    if problem:
        print(f"not yet: {problem}")
        return False
    try:
        mine = train(cfg)
    except Exception as e:  # a run that crashed or a bad value: say how, don't raise
        print(f"not yet: your run raised {type(e).__name__}: {e}")
        return False
    rows = {"notebook": _capstone_row(reference, budget), "yours": _capstone_row(mine, budget)}
    print(f"{'run':>9} {'updates':>8} {'seconds':>8} {'best val':>9} {'bits/byte':>10}")
    for who, r in rows.items():
        print(f"{who:>9} {r['updates']:>8} {r['seconds']:>8.0f} {r['val']:>9.3f} {r['bits_per_byte']:>10.4f}")
    verdict, message = _capstone_verdict(rows["yours"], rows["notebook"], budget, tolerance)
    path = board if board is not None else capstone.default_board()
    changes = {k: v for k, v in cfg.flat().items() if base.flat()[k] != v}
    capstone.record_result(path, {**rows["notebook"], "name": "(notebook)", "verdict": "reference", "changes": {}})
    board_rows = capstone.record_result(path, {**rows["yours"], "name": name, "verdict": verdict, "changes": changes})
    rank = 1 + sum(r["bits_per_byte"] < rows["yours"]["bits_per_byte"] for r in board_rows)
    print(f"leaderboard {_shown(path)}: {len(board_rows)} rows; yours is #{rank}")
    print(message)
    return verdict == "better"


def _capstone_config_problem(cfg: Any, base: Any, name: Any, config_type: type, budget: float) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return f"name={name!r}: give your name (text) for the leaderboard"
    if not isinstance(cfg, config_type):
        return f"my_config returned {type(cfg).__name__}, not a Config: return e.g. cfg.replace(lr=3e-3)"
    if not 0 < cfg.train.time_budget <= budget:
        return (
            f"over budget: your config's time_budget is {cfg.train.time_budget:g} s (0: no limit), the "
            f"challenge's {budget:g} s; keep the notebook's time_budget"
        )
    moved = [k for k in _SCORED_THE_SAME if cfg.get(k) != base.get(k)]
    if moved:
        return (
            f"you changed {', '.join(moved)}: the challenge is scored on the notebook's val text and "
            f"evals, so keep {', '.join(_SCORED_THE_SAME)} (data_fraction, the tokenizer and the rest "
            f"are yours)"
        )
    if cfg.flat() == base.flat():
        return "my_config returns the notebook's own config: change at least one setting"
    return None


def _capstone_row(run: Any, budget: float) -> dict:
    """What the leaderboard keeps of a run: its best val, in nats and bits per byte, and its cost."""
    from ..diagnostics import bits_per_byte

    h = run.history
    best = h.best_val()
    if best is None:
        raise ValueError(f"{run.label}: the run has no eval, so no val loss to compare")
    meta = h.meta
    return {
        "config": run.dir.name,
        "val": best[1],
        "best_step": best[0],
        "bits_per_byte": bits_per_byte(best[1], meta["n_val_tokens"], meta["val_bytes"]),
        "updates": h.steps[-1]["step"] if h.steps else 0,
        "seconds": h.steps[-1]["seconds"] if h.steps else 0.0,
        "budget": budget,
        "val_bytes": meta["val_bytes"],
        "corpus": meta.get("corpus"),
        "tokenizer": meta.get("tokenizer"),
    }


def _capstone_verdict(mine: dict, ref: dict, budget: float, tolerance: float) -> tuple[str, str]:
    """(verdict, message): over budget, worse, tie or better."""
    per_update = mine["seconds"] / max(mine["updates"], 1)
    if mine["seconds"] > budget + max(0.01 * budget, 2 * per_update):  # a budget ends the run within ~one update
        return "over budget", (
            f"not yet: over budget: your run trained for {mine['seconds']:.0f} s, the "
            f"budget is {budget:.0f} s; keep the notebook's time_budget"
        )
    if mine["val_bytes"] != ref["val_bytes"]:
        return "not comparable", (
            f"not yet: your val text has {mine['val_bytes']:,} bytes, the notebook's "
            f"{ref['val_bytes']:,}: score on the notebook's val split"
        )
    diff = mine["bits_per_byte"] - ref["bits_per_byte"]
    if diff > tolerance:
        return "worse", (
            f"not yet: worse: {mine['bits_per_byte']:.4f} bits per byte against the notebook's "
            f"{ref['bits_per_byte']:.4f} (+{diff:.4f}); the checklist above says what each lesson "
            f"measured: change one thing with a reason"
        )
    if diff >= -tolerance:
        return "tie", (
            f"not yet: a tie: {diff:+.4f} bits per byte from the notebook's "
            f"{ref['bits_per_byte']:.4f}, within the eval noise ({tolerance:.4f})"
        )
    return "better", (
        f"better: {mine['bits_per_byte']:.4f} bits per byte against the notebook's "
        f"{ref['bits_per_byte']:.4f} ({diff:+.4f}, more than the eval noise {tolerance:.4f}); "
        f"a second seed says whether it holds"
    )


def _shown(path) -> str:
    """The leaderboard's path as a student shares it: inside the runs folder, relative to it."""
    from pathlib import Path

    from ..paths import runs_dir

    try:
        return f"{Path(path).resolve().relative_to(runs_dir().resolve())} in the runs folder"
    except ValueError:  # a board of their own, elsewhere
        return str(path)
