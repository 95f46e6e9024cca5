"""The loss doctor: what a finished (or published) run's curves say, ranked.

`diagnose(history, ladder)` reads a History (or a Run, a run folder, or a curve built
by `history_from_evals`) and returns Findings, each with the numbers behind it and
the notebook that teaches the fix. The rules read one typed input, `Curves` (the
arrays of the History, its config in lint's words, the ladder's rungs, the stop
reason, the step unit and the log's save / resume events); one small rule per
finding (`_dr_*`), listed in `_DOCTOR_RULES`, the one place a rule is added.
Thresholds are written where they are used, except the noise floor every rule
shares (`MIN_EFFECT_NATS`). Per-step noise is judged on smoothed losses
(`robust_smooth`) and on the evals, never on single steps. The student's published
curve is `STUDENT_PUBLISHED` / `student_history()`; `clipped_fraction(history)` is
the one measure of how often clipping fired. Reading a file is checkup.py's (and
readers.py's); the symptoms inside a run (TrainingStats) are symptoms.py's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..history import NAN, TIME, History, as_history
from .config_lint import STUDENT_CONFIG, normalize_config
from .findings import Finding, fmt_number, rank
from .loss_ladder import STUDENT_PUBLISHED, Ladder, ladder_dict, place_on_ladder

__all__ = [
    "Curves",
    "diagnose",
    "history_from_evals",
    "student_history",
    "clipped_fraction",
    "curves",
    "passes_over_data",
]

MIN_EFFECT_NATS = 0.02  # changes smaller than this are read as noise, whatever the curve


# ---------------------------------------------------------------------------
# The rules' input


@dataclass(frozen=True)
class Curves:
    """What every rule reads: one run's curves and what is known around them."""

    steps: np.ndarray  # the step of each train-loss record (History.steps)
    loss: np.ndarray  # its train loss (train mode, one batch or a running mean)
    grad_norm: np.ndarray  # pre-clip gradient norms, of the records that logged one
    eval_steps: np.ndarray  # the step of each eval
    val: np.ndarray  # val loss at each eval
    train: np.ndarray  # eval-mode train loss, of the evals that measured it
    lr_steps: np.ndarray  # the step of each printed lr
    lr: np.ndarray  # the lr printed there
    cfg: dict  # the run's config in lint's flat words (lr, min_lr, ...); {} when unknown
    rungs: dict  # the ladder, {rung: nats}: uniform (ln V), unigram, bigram, entropy floor
    stop: str | None  # why the run stopped (history.NAN, TIME, ...) or None
    unit: str  # what a step counts, one word: "update", "micro-step", "iter", "step"
    meta: dict  # the History's meta (vocab_size, epochs, format, ...)
    events: tuple = ()  # checkpoint saves and resumes: {kind, line, after_step, before_step}
    epochs: float | None = None  # passes over the train tokens at the last record; None when unknown


def curves(history, ladder: Ladder | dict | None = None) -> Curves:
    """The Curves of a History (or Run, or run folder), with the ladder's rungs."""
    h = as_history(history)
    meta = h.meta or {}
    x, loss = h.series("loss")
    _, gn = h.series("grad_norm")
    ex, val = h.series("val_loss")
    tx, train = h.series("train_loss")
    lx, lr = h.series("lr")
    return Curves(
        x,
        loss,
        gn,
        ex,
        val,
        train,
        lx,
        lr,
        normalized_config(h),
        ladder_dict(ladder, meta),
        h.stop_reason,
        str(meta.get("step_unit") or "step").split()[0],
        meta,
        tuple(meta.get("events") or ()),
        passes_over_data(h),
    )


def passes_over_data(h: History) -> float | None:
    """How many times the run read its train tokens by its last record: tokens seen over
    meta's n_train_tokens (slmlab's runs), else a log's own epoch count (meta's epochs), else None."""
    meta = h.meta or {}
    n_train, last = meta.get("n_train_tokens"), (h.evals or h.steps or [None])[-1]
    if n_train and last is not None:
        try:
            return float(h.x_of(last, "tokens")) / float(n_train)
        except (KeyError, TypeError, ValueError):  # no tokens recorded, and no config that says tokens_per_step
            pass
    epochs = meta.get("epochs")  # a Hugging Face trainer_state's epoch at its last record
    return float(epochs) if epochs else None


def normalized_config(h: History) -> dict:
    """The run's config in lint's flat words (slmlab's or the student's), or {} when unreadable."""
    try:
        return normalize_config(h.config) if h.config else {}
    except Exception:  # an unknown dict shape: the doctor still reads the curves
        return {}


def finite(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) where y is finite."""
    ok = np.isfinite(y)
    return x[ok], y[ok]


def _box_smooth(y: np.ndarray, frac: float = 0.1) -> np.ndarray:
    """Centered running mean over ~frac of the points (at least 1)."""
    w = max(1, int(len(y) * frac)) | 1
    if len(y) < 3 or w == 1:
        return y.copy()
    pad = np.pad(y, w // 2, mode="edge")
    return np.convolve(pad, np.ones(w) / w, mode="valid")


def robust_smooth(y: np.ndarray, frac: float = 0.05) -> np.ndarray:
    """A running median (at least 5 points wide), then a running mean: one noisy
    step, or a few, cannot move it; a lasting change does."""
    w = max(5, int(len(y) * frac)) | 1
    if len(y) < w:
        return np.full(len(y), float(np.median(y))) if len(y) else y.copy()
    pad = np.pad(y, w // 2, mode="edge")
    med = np.median(np.lib.stride_tricks.sliding_window_view(pad, w), axis=1)
    return _box_smooth(med, frac)


def _noise_sd(y: np.ndarray) -> float:
    """Robust noise level of a smooth curve: MAD of second differences / sqrt(6)."""
    if len(y) < 4:
        return 0.0
    d2 = np.diff(y, 2)
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / math.sqrt(6))


# ---------------------------------------------------------------------------
# The doctor


def diagnose(history, ladder: Ladder | dict | None = None) -> list[Finding]:
    """Read a History (or a Run, a run folder, or history_from_evals(...)); ranked findings.

    ladder: a Ladder or {rung: nats}; without it the doctor knows ln V and the
    entropy floor from the history's meta, and says less.
    """
    c = curves(history, ladder)
    return rank([f for rule in _DOCTOR_RULES if (f := rule(c)) is not None])


# ---------------------------------------------------------------------------
# Rules: a broken run (NaN, impossible losses, nothing learning)


def _event_before(c: Curves, step: float, kinds=("save", "resume")) -> dict | None:
    """The save or resume logged just before `step` (at most one record between), or None."""
    every = np.union1d(c.steps, c.eval_steps)
    for e in reversed(c.events):
        if e["kind"] in kinds and e.get("before_step") is not None and e["before_step"] <= step:
            lo = e["after_step"] if e.get("after_step") is not None else -1
            between = int(((every > lo) & (every < step)).sum())
            return e if between <= 1 else None
    return None


_AFTER_EVENT = {
    "save": (
        "a checkpoint save",
        "saving should not change training: look at what the save code does besides "
        "saving (model.eval() left on, the model moved to CPU or to another dtype, a reloaded "
        "checkpoint that is corrupt)",
    ),
    "resume": (
        "a resume",
        "what came back with the weights is the suspect: the optimizer's moments, the "
        "GradScaler's scale, the lr schedule's position (save and load them together with the step)",
    ),
}


def _dr_diverged(c: Curves) -> Finding | None:
    notes, data = [], {}
    bad, bad_val = ~np.isfinite(c.loss), ~np.isfinite(c.val)
    if bad.any() or bad_val.any() or c.stop == NAN:
        at = c.steps[bad][0] if bad.any() else (c.eval_steps[bad_val][0] if bad_val.any() else None)
        notes.append(f"the loss became NaN/inf{f' at step {int(at)}' if at is not None else ''}")
        if at is not None:
            data["nonfinite_step"] = int(at)
            e = _event_before(c, at)
            if e is not None:
                what, why = _AFTER_EVENT[e["kind"]]
                notes.append(f"right after {what} (line {e['line']} of the log): {why}")
                data["after_event"] = e["kind"]
    x, y = finite(c.steps, c.loss)
    rise = 0.0
    if len(y) >= 5:
        s = robust_smooth(y)
        low = np.minimum.accumulate(s)  # the best smoothed loss so far
        i = int(np.argmax(s - low))
        rise = float(s[i] - low[i])
        if rise > max(1.0, 0.25 * low[i]):
            back = " and came back down" if s[-1] < low[i] + 1.0 else ""
            notes.append(
                f"the smoothed train loss blew up to {s[i]:.4g} at {c.unit} {int(x[i])}, "
                f"{rise:.3g} nats above its best so far ({low[i]:.3f}){back}; it ends at {s[-1]:.3f}"
            )
    if not notes:
        return None
    lr = c.cfg.get("lr")
    return Finding(
        "diverged",
        "error",
        "; ".join(notes)
        + ". The updates are too large: lower lr"
        + (f" (it was {fmt_number(lr)})" if lr else "")
        + ", keep gradient clipping on, or warm up longer.",
        {"rise": rise, "nonfinite_steps": int(bad.sum()), "lr": lr, **data},
        "08_learning_rate_and_warmup",
    )


def _first_losses(c: Curves) -> tuple[np.ndarray, np.ndarray, str]:
    """(steps, losses, what) of the curve that starts earliest: step losses, else val."""
    x, y = finite(c.steps, c.loss)
    ex, v = finite(c.eval_steps, c.val)
    if len(y) >= 3 and (not len(v) or x[0] <= ex[0]):
        return x, y, "train loss"
    return (ex, v, "val loss") if len(v) else (x, y, "train loss")


def above_uniform_margin(u: float) -> float:
    """How far above ln V a loss may start and still be a healthy softmax's (random logits at init)."""
    return max(0.5, 0.05 * u)


def _dr_above_uniform(c: Curves) -> Finding | None:
    """A loss above ln V (+ a margin): worse than a uniform guess from the start, which a
    softmax at init (small random logits) cannot be."""
    u = c.rungs.get("uniform")
    x, y, what = _first_losses(c)
    if u is None or not len(y):
        return None
    start = float(np.min(y[:3]))  # the lowest of the first three: a fast early climb is not this
    if start <= u + above_uniform_margin(u):
        return None
    V = math.exp(u)
    return Finding(
        "above_uniform",
        "error",
        f"the {what} starts at {start:.3f}, {start - u:.2f} nats above ln V = {u:.3f} (a uniform guess "
        f"over {V:,.0f} tokens), where a freshly initialized softmax sits: no healthy model starts "
        f"there. Check the vocabulary size the doctor was given (--vocab-size), the loss (summed "
        f"over tokens instead of averaged, or logits scaled up at init), and the device (some "
        f"PyTorch versions compute wrong results on Apple's MPS: run a few steps on CPU and "
        f"compare; README, On a Mac).",
        {"start": start, "uniform": u, "step": int(x[0])},
        "02_build_a_gpt",
    )


PINNED_NATS = 0.01  # a loss this close to ln V is a uniform guess


def _dr_not_learning(c: Curves) -> Finding | None:
    """The loss pinned at ln V for many records: nothing moves the weights."""
    u = c.rungs.get("uniform")
    x, y, what = _first_losses(c)
    if u is None or len(y) < 3:
        return None
    near = np.abs(y - u) <= PINNED_NATS
    longest, run, end = 0, 0, 0
    for i, ok in enumerate(near):
        run = run + 1 if ok else 0
        if run > longest:
            longest, end = run, i
    enough = 3 if what == "val loss" else 10
    if longest < enough or longest < 0.3 * len(y):
        return None
    a, b = int(x[end - longest + 1]), int(x[end])
    lr_zero = bool(len(c.lr) and (c.lr[(c.lr_steps >= a) & (c.lr_steps <= b)] <= 0).any())
    lr_txt = " The printed lr is 0 there: see lr_zero." if lr_zero else ""
    return Finding(
        "not_learning",
        "error",
        f"the {what} stays within {PINNED_NATS} of ln V = {u:.3f} (a uniform guess) for {longest} "
        f"records in a row ({c.unit}s {a:,} to {b:,}): nothing is learning. Check, in order: the lr "
        f"actually applied (print optimizer.param_groups[0]['lr']), that the parameters are in the "
        f"optimizer and require grad (not frozen), that optimizer.step() runs, and the labels (the "
        f"inputs shifted by one, not all ignore_index).{lr_txt}",
        {"records": longest, "from_step": a, "to_step": b, "uniform": u, "lr_zero": lr_zero},
        "03_train_and_sample",
    )


def _dr_lr_zero(c: Curves) -> Finding | None:
    """A printed lr of 0: the schedule's value (a warmup from 0, the end of a decay to 0, a
    schedule that ran out early), or a print with too few decimals."""
    x, lr = finite(c.lr_steps, c.lr)
    zero = lr <= 0
    if not zero.any():
        return None
    n, where = int(zero.sum()), ", ".join(f"{int(s):,}" for s in x[zero][:3]) + (" ..." if zero.sum() > 3 else "")
    if n == 1 and zero[0]:
        return Finding(
            "lr_zero",
            "info",
            f"the printed lr is 0 at the first print ({c.unit} {int(x[0]):,}): that is the schedule, "
            f"a warmup that starts from 0; the next prints rise from it.",
            {"zero_prints": 1, "first_step": int(x[0])},
            "08_learning_rate_and_warmup",
        )
    tail = bool(zero[-1])
    last = (
        f"from {c.unit} {int(x[zero][0]):,} to the end, so the weights stopped changing there; "
        if tail and zero[np.argmax(zero) :].all()
        else f"at {c.unit}s {where}; "
    )
    return Finding(
        "lr_zero",
        "warning",
        f"the printed lr is 0 in {n} of {len(lr)} prints, {last}that is the schedule's value: a decay "
        f"to min_lr 0 that has ended, or a schedule counted in the wrong unit (stepped per micro-step, "
        f"or sized for fewer steps than the run) that ran out early. Or the print has too few "
        f"decimals: f'{{lr:.5f}}' prints any lr below 5e-06 as 0.00000; print it as {{lr:.2e}}.",
        {"zero_prints": n, "prints": int(len(lr)), "to_the_end": tail},
        "08_learning_rate_and_warmup",
    )


# ---------------------------------------------------------------------------
# Rules: spikes, and what they look like


def _spike_list(x: np.ndarray, y: np.ndarray, w: int = 8) -> list[dict]:
    """Jumps above the running median of the previous w points, each with its shape:
    fast- (back within 5 records), slow- (back later) or non-recovering."""
    if len(y) <= w + 2:
        return []
    scale = 1.4826 * np.median(np.abs(np.diff(y))) + 1e-12
    out, i = [], w
    while i < len(y):
        before = float(np.median(y[i - w : i]))
        jump = float(y[i] - before)
        if jump > max(0.25, 6 * scale):
            back = np.flatnonzero(y[i + 1 :] <= before + max(0.1, 0.2 * jump))
            j = i + 1 + int(back[0]) if len(back) else None
            shape = "non-recovering" if j is None else "fast-recovering" if j - i <= 5 else "slow-recovering"
            out.append(
                {"step": int(x[i]), "jump": jump, "shape": shape, "back_at": int(x[j]) if j is not None else None}
            )
            i = (j if j is not None else len(y)) + 1
        else:
            i += 1
    return out


def _shapes(spikes: list[dict]) -> str:
    """'2 fast-recovering, 1 non-recovering'."""
    names = ("fast-recovering", "slow-recovering", "non-recovering")
    return ", ".join(f"{n} {s}" for s in names if (n := sum(p["shape"] == s for p in spikes)))


def _dr_spike_after_resume(c: Curves) -> Finding | None:
    x, y = finite(c.steps, c.loss)
    for e in c.events:
        if e["kind"] != "resume" or e.get("before_step") is None or len(y) < 6:
            continue
        pre, post = y[x <= (e["after_step"] if e.get("after_step") is not None else -1)], y[x >= e["before_step"]]
        if len(pre) < 3 or not len(post):
            continue
        ref = float(np.median(pre[-8:]))
        scale = 1.4826 * np.median(np.abs(np.diff(y))) + 1e-12
        jump = float(post[:2].max() - ref)
        if jump <= max(0.25, 6 * scale):
            continue
        back = np.flatnonzero(post <= ref + max(0.1, 0.2 * jump))
        shape = "non-recovering" if not len(back) else "fast-recovering" if back[0] <= 5 else "slow-recovering"
        return Finding(
            "spike_after_resume",
            "warning",
            f"the loss jumped {jump:.2f} nats (from {ref:.3f} to {ref + jump:.3f}) right after the resume "
            f"at line {e['line']} of the log ({c.unit} {e['before_step']:,}), a {shape} spike: the run "
            f"came back with its weights but not all of its state. Save and load the optimizer (AdamW's "
            f"moments), the lr scheduler, the GradScaler and the step together with the model, and "
            f"continue the data where it stopped.",
            {"jump": jump, "step": int(e["before_step"]), "shape": shape, "line": e["line"]},
            "03_train_and_sample",
        )
    return None


# ---------------------------------------------------------------------------
# Rules: a run without validation


MEMORIZING_NATS = 0.5  # a train loss per token below this on natural text is memorized text


def _dr_no_validation(c: Curves) -> Finding | None:
    x, y = finite(c.steps, c.loss)
    if len(c.val) or not len(y):
        return None
    end = float(robust_smooth(y)[-1])
    epochs = c.meta.get("epochs") or c.meta.get("num_train_epochs")
    floor = c.rungs.get("entropy floor")
    cannot = (
        "this log has no validation loss, so it cannot tell whether the model generalizes or "
        "memorizes, whether it overfits, or where to stop early: hold out a val split and evaluate it"
    )
    if floor is not None and end < floor - MIN_EFFECT_NATS:
        why, sev = (
            (
                f"the train loss ends at {end:.3f}, below the text's entropy floor ({floor:.3f}): it can "
                f"only get there by memorizing its training text"
            ),
            "warning",
        )
    elif end < MEMORIZING_NATS:
        ep = f" after {epochs:.3g} passes over the data" if epochs else ""
        why, sev = (
            (
                f"the train loss ends at {end:.3f} nats per token{ep}: that low on natural text is "
                f"memorization of the training set, not language modeling"
            ),
            "warning",
        )
    else:
        ep = f" ({epochs:.3g} passes over the data)" if epochs else ""
        why, sev = (
            (
                f"the train loss ends at {end:.3f}{ep}, in the range text allows, so it does not show "
                f"memorization by itself"
            ),
            "info",
        )
    return Finding(
        "no_validation",
        sev,
        f"{cannot}; {why}.",
        {"final_train": end, "epochs": epochs, "entropy_floor": floor},
        "05_data_size",
    )


def _dr_barely_trained(c: Curves) -> Finding | None:
    r = c.rungs
    _, val = finite(c.eval_steps, c.val)
    if not len(val) or "uniform" not in r:
        return None
    v, u, uni = float(val[-1]), r["uniform"], r.get("unigram")
    if v > 1.1 * u:
        return None  # worse than guessing: broken or diverged (see diverged), not "barely trained"
    near_uniform = v >= 0.75 * u
    above_unigram = uni is not None and v >= uni - MIN_EFFECT_NATS
    train = float(c.train[-1]) if len(c.train) else None
    if not (near_uniform or above_unigram) or (train is not None and train < 0.8 * v):
        return None
    what = [f"val {v:.3f} is {v / u:.0%} of a uniform guess (ln V = {u:.2f})"]
    if uni is not None:
        what.append(
            f"{'above' if v >= uni else 'about'} a unigram model ({uni:.2f}), which knows only token frequencies"
        )
    if train is not None:
        what.append(f"train {train:.3f} is just as high, so this is not overfitting")
    step = int(c.eval_steps[np.isfinite(c.val)][-1])
    return Finding(
        "barely_trained",
        "error",
        "; ".join(what) + f" (after {step:,} {c.unit}s). The model has "
        f"barely started: it needs many more updates at a working lr, not regularization.",
        {"val": v, "uniform": u, "unigram": uni, "train": train, "step": step},
        "04_val_loss_9_clinic",
    )


def _dr_above_bigram(c: Curves) -> Finding | None:
    """Val ends above the bigram rung, on a run that is past 'barely trained': the model has
    learned token frequencies but still predicts worse than a table of which token follows which."""
    r = c.rungs
    _, val = finite(c.eval_steps, c.val)
    big, u = r.get("bigram"), r.get("uniform")
    if not len(val) or big is None or float(val[-1]) <= big + MIN_EFFECT_NATS:
        return None
    v = float(val[-1])
    if (u is not None and v > 1.1 * u) or _dr_barely_trained(c) is not None:
        return None  # broken (diverged), or already reported as barely trained
    step = int(c.eval_steps[np.isfinite(c.val)][-1])
    return Finding(
        "above_bigram",
        "warning",
        f"val {v:.3f} ends {v - big:.2f} nats above the bigram rung ({big:.2f}) after {step:,} "
        f"{c.unit}s: a table of which token follows which, counted from the training text, still "
        f"predicts better than this model. It is under-trained for this budget: train longer or at a "
        f"better lr before reading finer effects (regularization, schedules) off it.",
        {"val": v, "bigram": big, "above": v - big, "step": step},
        "03_train_and_sample",
    )


FAR_FROM_TRAINED_NATS = 0.1  # a run 25% longer would still gain this much: it stopped mid-descent


def _late_gain(c: Curves) -> tuple[float, float] | None:
    """(slope in nats per step, projected gain) when val is still falling at the end by more
    than its noise: the gain is what a run 25% longer would get at the slower of the last
    segment's slope and the fit over the last quarter of the evals; None otherwise."""
    x, v = finite(c.eval_steps, c.val)
    if len(v) < 3 or np.argmin(v) < len(v) - 2:
        return None
    k = max(3, len(v) // 4)
    fit = float(np.polyfit(x[-k:], v[-k:], 1)[0])  # nats per step over the last k evals
    last = float((v[-1] - v[-2]) / max(x[-1] - x[-2], 1))  # the last segment
    slope = max(fit, last)  # the slower of the two: a curve bends, so don't over-promise
    gain = -slope * 0.25 * x[-1]  # what a run 25% longer would gain at that slope
    if slope >= 0 or gain < max(0.01, 2 * _noise_sd(v), 0.005 * v[-1]):
        return None
    return slope, gain


def _dr_still_improving(c: Curves) -> Finding | None:
    late = _late_gain(c)
    if late is None or _memorizing(c) is not None:
        return None  # a run that memorizes while val falls gets `memorizing`, not "train longer"
    slope, gain = late
    x, v = finite(c.eval_steps, c.val)
    unit = c.unit
    far = "far from trained: " if gain >= FAR_FROM_TRAINED_NATS else ""
    return Finding(
        "still_improving",
        "warning",
        f"{far}val is still falling at the end: {-slope * 1000:.3g} nats per 1000 {unit}s lately "
        f"(val {v[-1]:.3f} at {unit} {int(x[-1]):,}); 25% more {unit}s would gain up to "
        f"~{gain:.2f} nats. {_not_overfitting(c)}{_longer(c)} before changing anything else.",
        {"slope_per_1000": slope * 1000, "val": float(v[-1]), "projected_gain": gain},
        "03_train_and_sample",
    )


def _longer(c: Curves) -> str:
    """How to train longer: a run its time ran out on needs more time, not more max_steps."""
    if c.stop == TIME:
        return (
            "Train longer (it ended on its time limit: a larger time_budget, or a smaller model "
            "that takes more updates in the same time)"
        )
    return "Train longer (more max_steps)"


def _not_overfitting(c: Curves) -> str:
    """'Val is at or near its lowest and +0.001 nats from train: not overfitting.' (the gap when known)."""
    if len(c.train) and len(c.train) == len(c.val) and np.isfinite(c.train[-1]):
        gap = float(c.val[-1] - c.train[-1])
        return (
            f"Val is at or near its lowest and {gap:+.3f} nats from train ({c.train[-1]:.3f}): "
            f"this is not overfitting. "
        )
    return "Val is at or near its lowest: this is not overfitting. "


FAR_GAP_NATS = 0.3  # val this far above train (and 15% of val) is far above it


MEMORIZING_GAP_NATS = FAR_GAP_NATS  # val this far above train, both in eval mode, is memorized text
GAP_GROWTH_NATS = 0.1  # a gap that grew this much over the last evals is still opening


def _memorizing(c: Curves) -> dict | None:
    """The numbers of a run that memorizes while val is still at its lowest, or None: val
    MEMORIZING_GAP_NATS or more above train (both in eval mode) at the last eval, with more
    than one pass over the train tokens, or (passes unknown) a gap that grew GAP_GROWTH_NATS
    or more over the last evals. Fewer passes than one: a gap is the val text's difference,
    not memorization. Val already rising is `overfitting`'s."""
    x, v = finite(c.eval_steps, c.val)
    if len(v) < 2 or len(c.train) != len(c.val) or not np.isfinite(c.train[-3:]).all():
        return None
    gaps = (c.val - c.train)[np.isfinite(c.val)]
    k = min(4, len(gaps))
    gap, growth = float(gaps[-1]), float(gaps[-1] - gaps[-k])
    growing = k >= 3 and growth >= GAP_GROWTH_NATS and bool((np.diff(gaps[-k:]) > -MIN_EFFECT_NATS).all())
    if gap < MEMORIZING_GAP_NATS or (c.epochs is not None and c.epochs <= 1) or (c.epochs is None and not growing):
        return None
    if _dr_overfitting(c) is not None:
        return None
    return {
        "gap": gap,
        "val": float(v[-1]),
        "train": float(c.train[-1]),
        "epochs": c.epochs,
        "gap_growth": growth,
        "growth_evals": k,
        "best_val": float(v.min()),
        "best_step": int(x[int(np.argmin(v))]),
    }


def _dr_memorizing(c: Curves) -> Finding | None:
    """Memorization before val turns up: train pulls away from val while val still falls (or
    is flat at its best). Training longer on the same text buys less with every pass."""
    m = _memorizing(c)
    if m is None:
        return None
    u = c.unit
    passes = (
        f"after {m['epochs']:.1f} passes over the {c.meta['n_train_tokens']:,} train tokens"
        if m["epochs"] is not None and c.meta.get("n_train_tokens")
        else f"after {m['epochs']:.1f} passes over the train data"
        if m["epochs"] is not None
        else f"and the gap grew {m['gap_growth']:+.3f} over the last {m['growth_evals']} evals"
    )
    late = _late_gain(c)
    if late is not None:
        m.update(slope_per_1000=late[0] * 1000, projected_gain=late[1])
        val_txt = (
            f"val is still falling ({-late[0] * 1000:.3g} nats per 1000 {u}s lately; 25% more {u}s would "
            f"gain up to ~{late[1]:.2f} nats)"
        )
    else:
        val_txt = f"val is at or near its lowest ({m['best_val']:.3f} at {u} {m['best_step']:,})"
    return Finding(
        "memorizing",
        "warning",
        f"train {m['train']:.3f} is {m['gap']:.3f} nats below val {m['val']:.3f} (both in eval mode) "
        f"{passes}, while {val_txt}: the model has begun to memorize its training text before val "
        f"turns up. This run is limited by its data more than by its time: more updates re-read the "
        f"same tokens, and each pass buys less. Fix, in this order: more distinct text (05); keep the "
        f"best checkpoint and stop at the best eval (05); dropout or weight decay to narrow the gap "
        f"(06, 07). Training longer on the same text is not the first fix.",
        m,
        "05_data_size",
    )


def _dr_overfitting(c: Curves) -> Finding | None:
    x, v = finite(c.eval_steps, c.val)
    if len(v) < 2:
        return None
    ib = int(np.argmin(v))
    rise = float(v[-1] - v[ib])
    if len(v) == 2 or rise < max(MIN_EFFECT_NATS, 2 * _noise_sd(v), 0.01 * v[ib]):
        return _far_and_rising(c, x, v)
    if ib == len(v) - 1:
        return None
    data = {"best_step": int(x[ib]), "best_val": float(v[ib]), "final_val": float(v[-1]), "rise": rise}
    gap_txt = ""
    if len(c.train) == len(c.val) and np.isfinite(c.train).all():
        gaps = c.val - c.train
        data.update(gap_at_best=float(gaps[ib]), gap_final=float(gaps[-1]))
        if gaps[-1] <= gaps[ib]:
            return None  # val rose with train: not memorization (see diverged / lr_too_high)
        gap_txt = f"; the val-train gap grew from {gaps[ib]:.3f} to {gaps[-1]:.3f}"
    return Finding(
        "overfitting",
        "warning",
        f"val reached its best {v[ib]:.3f} at {c.unit} {int(x[ib]):,} and rose {rise:.3f} to "
        f"{v[-1]:.3f}{gap_txt}: the model memorizes its training tokens. Fix: more data "
        f"(05), early stopping at the best step (05), dropout (06), weight decay (07).",
        data,
        "05_data_size",
    )


def _far_and_rising(c: Curves, x: np.ndarray, v: np.ndarray) -> Finding | None:
    """Few evals: val far above train and rising at the last ones is overfitting too."""
    got = _train_at_evals(c)
    if got is None or len(got[0]) != len(c.val) or v[-1] - v[-2] < MIN_EFFECT_NATS:
        return None
    train = got[0][np.isfinite(c.val)]
    gap = float(v[-1] - train[-1])
    if not np.isfinite(gap) or gap < max(FAR_GAP_NATS, 0.15 * v[-1]) or train[-1] >= train[-2] + MIN_EFFECT_NATS:
        return None
    ib = int(np.argmin(v))
    measured = "in eval mode" if got[1] == "eval" else "the smoothed training-step loss"
    return Finding(
        "overfitting",
        "warning",
        f"val {v[-1]:.3f} is {gap:.2f} nats above train ({train[-1]:.3f}, {measured}) and rose "
        f"{v[-1] - v[-2]:.3f} since the eval before while train kept falling: the model memorizes its "
        f"training tokens. The best eval was {v[ib]:.3f} at {c.unit} {int(x[ib]):,}: keep that "
        f"checkpoint (early stopping). Fix: more data (05), fewer passes over it, dropout (06), "
        f"weight decay (07).",
        {
            "best_step": int(x[ib]),
            "best_val": float(v[ib]),
            "final_val": float(v[-1]),
            "gap_final": gap,
            "rise": float(v[-1] - v[-2]),
            "evals": int(len(v)),
        },
        "05_data_size",
    )


OVERSHOOT_NATS = 0.5  # a climb this far above the starting loss counts as overshooting


def _overshoot(y: np.ndarray) -> float:
    """How far the loss climbed above where it started (an untrained model sits at ln V:
    rising above that means the first updates threw the weights past any minimum); 0 when
    the climb is within the step-to-step noise (a noisy fine-tune's single steps)."""
    y = y[np.isfinite(y)]
    if len(y) < 2:
        return 0.0
    rise = float(y.max() - y[0])
    scale = 1.4826 * float(np.median(np.abs(np.diff(y))))
    return rise if rise > 4 * scale else 0.0


def _dr_lr_too_high(c: Curves) -> Finding | None:
    x, y = c.steps, c.loss
    first_bad = np.flatnonzero(~np.isfinite(y))
    x, y = (x[: first_bad[0]], y[: first_bad[0]]) if len(first_bad) else (x, y)
    spikes = _spike_list(x, y)
    n, biggest = len(spikes), max((p["jump"] for p in spikes), default=0.0)
    rise = _overshoot(y)
    gn = c.grad_norm[np.isfinite(c.grad_norm)]
    gn_spikes = int((gn > 10 * np.median(gn)).sum()) if len(gn) > 10 else 0
    diverged = len(first_bad) > 0 or c.stop == NAN
    if n < 2 and rise <= OVERSHOOT_NATS and not (diverged and (n or gn_spikes)):
        return None
    lr = c.cfg.get("lr")
    climbed = f"the loss climbed {rise:.2f} nats above its starting value; " if rise > OVERSHOOT_NATS else ""
    shapes = f" ({_shapes(spikes)})" if spikes else ""
    return Finding(
        "lr_too_high",
        "warning",
        f"{climbed}{n} loss spikes in {len(y)} logged steps{shapes}, largest +{biggest:.2f} nats above "
        f"the running median, {gn_spikes} gradient-norm spikes (>10x median)"
        + (f" at lr {fmt_number(lr)}" if lr else "")
        + ": the updates overshoot. Fix: lower lr "
        "(halve it), a longer warmup, keep grad_clip on (1.0).",
        {
            "spikes": n,
            "largest_spike": biggest,
            "grad_norm_spikes": gn_spikes,
            "lr": lr,
            "rise_above_start": rise,
            "shapes": [p["shape"] for p in spikes],
            "spike_steps": [p["step"] for p in spikes],
        },
        "08_learning_rate_and_warmup",
    )


def _dr_lr_too_low(c: Curves) -> Finding | None:
    r, cfg = c.rungs, c.cfg
    x, y = finite(c.steps, c.loss)
    warm = float(cfg.get("warmup_steps", 0) or 0)
    x, y = x[x > warm], y[x > warm]
    if len(y) < 12 or "uniform" not in r or len(_spike_list(x, y)) >= 2 or _overshoot(c.loss) > OVERSHOOT_NATS:
        return None  # spikes or a climb above the start: the lr is too high, not too low
    s, third = _box_smooth(y, 0.2), len(y) // 3
    early = (s[0] - s[third]) / max(x[third] - x[0], 1)  # nats per step, first third
    late = (s[-third - 1] - s[-1]) / max(x[-1] - x[-third - 1], 1)  # last third
    target = max(r.get("unigram", 0.5 * r["uniform"]), r.get("entropy floor", 0.0))
    headroom = float(s[-1] - target)
    _, v = finite(c.eval_steps, c.val)
    if len(v) >= 3 and v[-1] > v.min() + MIN_EFFECT_NATS:
        return None  # val is rising: memorizing, not crawling (see overfitting)
    steps_needed = headroom / late if late > 0 else math.inf
    if headroom <= 0 or steps_needed < 2 * x[-1] or (late > 0 and early > 2.5 * late):
        return None
    lr = cfg.get("lr")
    above = f"still {headroom:.2f} nats above {target:.2f} (unigram, or half of ln V, or the floor)"
    if late <= 0:
        how = f"the train loss did not fall: {s[0] - s[-1]:+.3f} nats over {int(x[-1] - x[0])} steps, {above}"
    else:
        how = (
            f"the train loss falls slowly and in a straight line ({early * 1000:.3g} then {late * 1000:.3g} "
            f"nats per 1000 steps, no bend), {above}: at this rate it needs ~{steps_needed:,.0f} more steps"
        )
    return Finding(
        "lr_too_low",
        "warning",
        how + (f" at lr {fmt_number(lr)}" if lr else "") + ". Fix: raise lr (try 3-10x; the lr finder suggests one).",
        {"early_slope_per_1000": early * 1000, "late_slope_per_1000": late * 1000, "headroom": headroom, "lr": lr},
        "08_learning_rate_and_warmup",
    )


def _dr_eval_noise(c: Curves) -> Finding | None:
    """Eval error from the batch-to-batch spread of the step losses, and eval-to-eval jitter."""
    cfg = c.cfg
    x, v = finite(c.eval_steps, c.val)
    if len(v) < 4:
        return None
    nb, accum = cfg.get("eval_batches"), cfg.get("grad_accum_steps", 1) or 1
    _, y = finite(c.steps, c.loss)
    se = _noise_sd(y) * math.sqrt(accum / nb) if nb and len(y) >= 10 else 0.0  # micro-batch sd / sqrt(nb)
    jitter = _noise_sd(v[len(v) // 3 :])
    noise = max(se, jitter)
    half = v[len(v) // 2 :]
    trend = abs(float(half[-1] - half[0])) / max(len(half) - 1, 1)  # nats per eval, second half
    if noise < max(MIN_EFFECT_NATS, trend):
        return None
    target = max(trend, 0.01)
    need = int(math.ceil(nb * (noise / target) ** 2)) if nb else None
    return Finding(
        "eval_too_noisy",
        "warning",
        f"one eval is uncertain by ~{noise:.3f} nats (step losses spread {_noise_sd(y):.3f} per "
        f"update -> {se:.3f} for {nb} eval batches; eval-to-eval jitter {jitter:.3f}), more than "
        f"val's trend of {trend:.3f} per eval: single evals cannot tell better from worse, and "
        f"early stopping picks noise."
        + (
            f" eval_batches={nb}; about {need} would bring it to {target:.3f} (error ~ 1/sqrt(batches))."
            if need
            else " Average more eval batches."
        ),
        {
            "noise_sd": noise,
            "batch_se": se,
            "jitter": jitter,
            "trend_per_eval": trend,
            "eval_batches": nb,
            "suggested": need,
        },
        "03_train_and_sample",
    )


def _train_at_evals(c: Curves) -> tuple[np.ndarray, str] | None:
    """Train loss at the eval steps: the eval's own (eval mode), else the smoothed step loss."""
    if len(c.train) == len(c.val) and len(c.val) >= 2:
        return c.train, "eval"
    x, y = finite(c.steps, c.loss)
    if len(y) >= 10 and len(c.val) >= 2:
        return np.interp(c.eval_steps, x, _box_smooth(y)), "steps"
    return None


def _dr_val_below_train(c: Curves) -> Finding | None:
    drop = c.cfg.get("dropout", 0) or 0
    got = _train_at_evals(c)
    if got is None:
        return None
    train, source = got
    gaps = (c.val - train)[-3:]
    gap = float(np.mean(gaps))
    if not np.isfinite(gap) or gap > -max(MIN_EFFECT_NATS, 0.01 * float(abs(train[-1]))) or (gaps > 0).any():
        return None
    if source == "steps" and not c.cfg:  # a log read without its config: dropout unknown
        return Finding(
            "val_below_train",
            "info",
            f"val is {-gap:.3f} nats below the training-step loss. The steps run in train mode "
            f"(with dropout, if the run had it) and val does not, so this gap may be dropout's; "
            f"without dropout it would mean the val text is easier than train, or leaks into it. "
            f"Compare both splits in eval mode to judge.",
            {"gap": gap, "dropout": None, "compared_with": source},
            "06_dropout",
        )
    if source == "steps" and drop:
        return Finding(
            "val_below_train",
            "info",
            f"val is {-gap:.3f} nats below the training-step loss: with dropout={drop} the steps run "
            f"with units dropped and val does not, so this gap is dropout's, not a sign that val "
            f"is easier. Compare both splits in eval mode (the evals' train_loss) to judge.",
            {"gap": gap, "dropout": drop, "compared_with": source},
            "06_dropout",
        )
    return Finding(
        "val_below_train",
        "warning" if gap < -0.1 else "info",
        f"val is {-gap:.3f} nats BELOW train, both measured "
        f"{'in eval mode' if source == 'eval' else 'without dropout'}: the val text is easier "
        f"than train, or val documents leak into train (duplicates across the split). Check "
        f"the split before trusting val as a measure of generalization.",
        {"gap": gap, "dropout": drop, "compared_with": source},
        "01_data_and_tokenizers",
    )


def _dr_position(c: Curves) -> Finding | None:
    _, v = finite(c.eval_steps, c.val)
    r = c.rungs
    if not len(v) or not r:
        return None
    return Finding(
        "ladder_position",
        "info",
        f"final val {v[-1]:.3f} sits {place_on_ladder(float(v[-1]), r)}.",
        {"val": float(v[-1]), "rungs": dict(r)},
        "00_start_here",
    )


LR_RISE = 1.2  # an lr that grew this much over the second half of a run is rising, not decaying


def _dr_lr_rising(c: Curves) -> Finding | None:
    """The lr still climbing through the second half of the run, past any warmup: a decay
    whose floor (min_lr, CosineAnnealingLR's eta_min) is above lr decays upward to it."""
    x, lr = finite(c.lr_steps, c.lr)
    warm = float(c.cfg.get("warmup_steps", 0) or 0)
    x, lr = x[x > warm], lr[x > warm]
    if len(lr) < 6:
        return None
    h = len(lr) // 2
    if lr[-1] < 0.98 * lr.max() or lr[-1] < LR_RISE * lr[h] or lr[-1] <= lr[0]:
        return None
    u, cfg = c.unit, c.cfg
    path = " -> ".join(f"{fmt_number(float(lr[i]))} at {u} {int(x[i]):,}" for i in (0, h, len(lr) - 1))
    floor = (
        f" (this run: lr {fmt_number(cfg['lr'])}, min_lr {fmt_number(cfg['min_lr'])})"
        if cfg.get("lr") and cfg.get("min_lr")
        else ""
    )
    return Finding(
        "lr_rising",
        "error",
        f"the lr rose instead of decaying: {path}, {lr[-1] / lr[0]:.1f}x its first value and "
        f"{lr[-1] / lr[h]:.2f}x over the second half, still rising at the end, long after a warmup "
        f"should have finished. A cosine decay whose floor min_lr (CosineAnnealingLR's eta_min) "
        f"is above lr climbs up to that floor{floor}. Fix: min_lr below lr (about lr/10); "
        f"`python -m slmlab lint` on the training script checks the scheduler's settings.",
        {
            "first_lr": float(lr[0]),
            "mid_lr": float(lr[h]),
            "final_lr": float(lr[-1]),
            "first_step": int(x[0]),
            "final_step": int(x[-1]),
            "rise": float(lr[-1] / lr[0]),
        },
        "08_learning_rate_and_warmup",
    )


_DOCTOR_RULES = [
    _dr_diverged,
    _dr_above_uniform,
    _dr_not_learning,
    _dr_lr_rising,
    _dr_lr_zero,
    _dr_barely_trained,
    _dr_above_bigram,
    _dr_lr_too_high,
    _dr_spike_after_resume,
    _dr_overfitting,
    _dr_memorizing,
    _dr_no_validation,
    _dr_lr_too_low,
    _dr_still_improving,
    _dr_eval_noise,
    _dr_val_below_train,
    _dr_position,
]


# ---------------------------------------------------------------------------
# Curves from numbers, and the student's


def history_from_evals(
    val_by_step: dict[int, float],
    *,
    train_by_step: dict[int, float] | None = None,
    vocab_size: int | None = None,
    config: dict | None = None,
    meta: dict | None = None,
) -> History:
    """A History of eval points only, from {step: val_loss} (and train): what diagnose() reads."""
    evals = [
        {
            "kind": "eval",
            "step": int(s),
            "val_loss": float(v),
            "train_loss": float(train_by_step[s]) if train_by_step and s in train_by_step else None,
        }
        for s, v in sorted(val_by_step.items())
    ]
    return History([], evals, dict(config or {}), {"vocab_size": vocab_size, **(meta or {})})


def student_history() -> History:
    """The student's published val curve; steps are their loop iterations (micro-steps)."""
    return history_from_evals(
        STUDENT_PUBLISHED,
        vocab_size=50257,
        config=dict(STUDENT_CONFIG),
        meta={
            "corpus": "tinystories",
            "tokenizer": "gpt2",
            "step_unit": "iteration (a micro-step; 32 per optimizer update)",
            "label": "student (published)",
        },
    )


def clipped_fraction(history, grad_clip: float | None = None) -> float | None:
    """Share of logged steps whose gradient norm (before clipping) exceeded grad_clip
    (default: the run's own); None without a clip or without steps."""
    history = as_history(history)
    clip = grad_clip if grad_clip is not None else normalized_config(history).get("grad_clip")
    _, gn = history.series("grad_norm")
    if not clip or not len(gn):
        return None
    return float((gn > clip).mean())
