"""The loss doctor: what a finished (or published) run says, ranked.

`diagnose(history, ladder)` reads a History (or a Run, a run folder, or a curve
built by `history_from_evals`) and returns Findings, each with the numbers behind
it and the notebook that teaches the fix. One small rule per finding (`_dr_*`);
thresholds are written where they are used, except the noise floor every rule
shares (`MIN_EFFECT_NATS`). The student's published curve is
`STUDENT_PUBLISHED` / `student_history()`. `clipped_fraction(history)` is the
one measure of how often clipping fired. Records are slmlab.history's.
`checkup(path, vocab_size=, tokenizer=, grad_accum_steps=)` is `python -m slmlab
doctor PATH`: a student's own log read by readers.read_log (which leaves parsing
to itself), the rungs it can draw without the data, and the findings (with those of
the training statistics, when a run folder recorded them).
`diagnose_stats(stats, history)` reads what stats.TrainingStats recorded inside a
run (activations, attention, gradients, updates) against the thresholds in stats.py
and returns its symptoms, the earliest first, each with the step it showed at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import read_json
from ..history import NAN, History, as_history
from ..runfolder import records_dir
from ..tokenizers import vocab_size_of
from .config_lint import STUDENT_CONFIG, normalize_config
from .findings import Finding, fmt_number, format_findings, rank
from .loss_ladder import STUDENT_PUBLISHED, Ladder, ladder_dict, place_on_ladder
from .readers import ReadReport, read_log
from .stats import (
    ATTENTION_COLLAPSED_NATS,
    EXPLODING_FACTOR,
    GELU_SATURATED_SHARE,
    RESIDUAL_RMS_HIGH,
    SATURATION_THRESHOLD,
    UPDATE_RATIO_HIGH,
    VANISHING_GRAD_NORM,
)

# ---------------------------------------------------------------------------
# Loss doctor: what a finished (or published) run says


MIN_EFFECT_NATS = 0.02  # changes smaller than this are read as noise, whatever the curve


def history_from_evals(val_by_step: dict[int, float], *, train_by_step: dict[int, float] | None = None,
                       vocab_size: int | None = None, config: dict | None = None,
                       meta: dict | None = None) -> History:
    """A History of eval points only, from {step: val_loss} (and train): what diagnose() reads."""
    evals = [{"kind": "eval", "step": int(s), "val_loss": float(v),
              "train_loss": float(train_by_step[s]) if train_by_step and s in train_by_step else None}
             for s, v in sorted(val_by_step.items())]
    return History([], evals, dict(config or {}), {"vocab_size": vocab_size, **(meta or {})})


def student_history() -> History:
    """The student's published val curve; steps are their loop iterations (micro-steps)."""
    return history_from_evals(STUDENT_PUBLISHED, vocab_size=50257, config=dict(STUDENT_CONFIG),
                              meta={"corpus": "tinystories", "tokenizer": "gpt2",
                                    "step_unit": "iteration (a micro-step; 32 per optimizer update)",
                                    "label": "student (published)"})


def _curves(h: History) -> dict:
    """The arrays the rules read: step loss and grad norm, eval val and train (History.series)."""
    out = {}
    out["s_x"], out["s_loss"] = h.series("loss")
    _, out["s_gn"] = h.series("grad_norm")
    out["e_x"], out["val"] = h.series("val_loss")
    out["t_x"], out["train"] = h.series("train_loss")
    out["lr_x"], out["lr"] = h.series("lr")
    return out


def _normalized_config(h: History) -> dict:
    """The run's config in lint's flat words (slmlab's or the student's), or {} when unreadable."""
    try:
        return normalize_config(h.config) if h.config else {}
    except Exception:  # an unknown dict shape: the doctor still reads the curves
        return {}


def _box_smooth(y: np.ndarray, frac: float = 0.1) -> np.ndarray:
    """Centered running mean over ~frac of the points (at least 1)."""
    w = max(1, int(len(y) * frac)) | 1
    if len(y) < 3 or w == 1:
        return y.copy()
    pad = np.pad(y, w // 2, mode="edge")
    return np.convolve(pad, np.ones(w) / w, mode="valid")


def _noise_sd(y: np.ndarray) -> float:
    """Robust noise level of a smooth curve: MAD of second differences / sqrt(6)."""
    if len(y) < 4:
        return 0.0
    d2 = np.diff(y, 2)
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / math.sqrt(6))


def diagnose(history, ladder: Ladder | dict | None = None) -> list[Finding]:
    """Read a History (or a Run, a run folder, or history_from_evals(...)); ranked findings.

    ladder: a Ladder or {rung: nats}; without it the doctor knows ln V and the
    entropy floor from the history's meta, and says less.
    """
    history = as_history(history)
    meta = history.meta or {}
    ctx = {"c": _curves(history), "cfg": _normalized_config(history), "meta": meta,
           "rungs": ladder_dict(ladder, meta), "stop": history.stop_reason}
    found = [f for rule in _DOCTOR_RULES if (f := rule(ctx)) is not None]
    return rank(found)


def _finite_tail(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(y)
    return x[ok], y[ok]


def _dr_diverged(ctx) -> Finding | None:
    c, notes = ctx["c"], []
    bad, bad_val = ~np.isfinite(c["s_loss"]), ~np.isfinite(c["val"])
    if bad.any() or bad_val.any() or ctx["stop"] == NAN:
        at = c["s_x"][bad][0] if bad.any() else (c["e_x"][bad_val][0] if bad_val.any() else None)
        notes.append(f"the loss became NaN/inf{f' at step {int(at)}' if at is not None else ''}")
    x, y = _finite_tail(c["s_x"], c["s_loss"])
    rise = 0.0
    if len(y) >= 5:
        s = _box_smooth(y, 0.05)
        low = np.minimum.accumulate(s)  # the best loss so far
        i = int(np.argmax(s - low))
        rise = float(s[i] - low[i])
        if rise > max(1.0, 0.25 * low[i]):
            back = " and came back down" if s[-1] < low[i] + 1.0 else ""
            notes.append(f"the smoothed train loss blew up to {s[i]:.4g} at step {int(x[i])}, "
                         f"{rise:.3g} nats above its best so far ({low[i]:.3f}){back}; it ends at {s[-1]:.3f}")
    if not notes:
        return None
    lr = ctx["cfg"].get("lr")
    return Finding("diverged", "error", "; ".join(notes) + ". The updates are too large: lower lr"
                   + (f" (it was {fmt_number(lr)})" if lr else "") + ", keep gradient clipping on, or warm up longer.",
                   {"rise": rise, "nonfinite_steps": int(bad.sum()), "lr": lr}, "08_learning_rate_and_warmup")


def _dr_barely_trained(ctx) -> Finding | None:
    c, r = ctx["c"], ctx["rungs"]
    _, val = _finite_tail(c["e_x"], c["val"])
    if not len(val) or "uniform" not in r:
        return None
    v, u, uni = float(val[-1]), r["uniform"], r.get("unigram")
    if v > 1.1 * u:
        return None  # worse than guessing: broken or diverged (see diverged), not "barely trained"
    near_uniform = v >= 0.75 * u
    above_unigram = uni is not None and v >= uni - MIN_EFFECT_NATS
    train = float(c["train"][-1]) if len(c["train"]) else None
    if not (near_uniform or above_unigram) or (train is not None and train < 0.8 * v):
        return None
    what = [f"val {v:.3f} is {v / u:.0%} of a uniform guess (ln V = {u:.2f})"]
    if uni is not None:
        what.append(f"{'above' if v >= uni else 'about'} a unigram model ({uni:.2f}), which knows only "
                    f"token frequencies")
    if train is not None:
        what.append(f"train {train:.3f} is just as high, so this is not overfitting")
    step = int(c["e_x"][np.isfinite(c["val"])][-1])
    return Finding("barely_trained", "error", "; ".join(what) + f" (after {step:,} {_unit(ctx)}s). The model has "
                   f"barely started: it needs many more updates at a working lr, not regularization.",
                   {"val": v, "uniform": u, "unigram": uni, "train": train, "step": step},
                   "04_val_loss_9_clinic")


def _dr_above_bigram(ctx) -> Finding | None:
    """Val ends above the bigram rung, on a run that is past 'barely trained': the model has
    learned token frequencies but still predicts worse than a table of which token follows which."""
    c, r = ctx["c"], ctx["rungs"]
    _, val = _finite_tail(c["e_x"], c["val"])
    big, u = r.get("bigram"), r.get("uniform")
    if not len(val) or big is None or float(val[-1]) <= big + MIN_EFFECT_NATS:
        return None
    v = float(val[-1])
    if (u is not None and v > 1.1 * u) or _dr_barely_trained(ctx) is not None:
        return None  # broken (diverged), or already reported as barely trained
    step = int(c["e_x"][np.isfinite(c["val"])][-1])
    return Finding("above_bigram", "warning",
                   f"val {v:.3f} ends {v - big:.2f} nats above the bigram rung ({big:.2f}) after {step:,} "
                   f"{_unit(ctx)}s: a table of which token follows which, counted from the training text, still "
                   f"predicts better than this model. It is under-trained for this budget: train longer or at a "
                   f"better lr before reading finer effects (regularization, schedules) off it.",
                   {"val": v, "bigram": big, "above": v - big, "step": step}, "03_train_and_sample")


FAR_FROM_TRAINED_NATS = 0.1  # a run 25% longer would still gain this much: it stopped mid-descent


def _dr_still_improving(ctx) -> Finding | None:
    x, v = _finite_tail(ctx["c"]["e_x"], ctx["c"]["val"])
    if len(v) < 3 or np.argmin(v) < len(v) - 2:
        return None
    k = max(3, len(v) // 4)
    fit = float(np.polyfit(x[-k:], v[-k:], 1)[0])  # nats per step over the last k evals
    last = float((v[-1] - v[-2]) / max(x[-1] - x[-2], 1))  # the last segment
    slope = max(fit, last)  # the slower of the two: a curve bends, so don't over-promise
    gain = -slope * 0.25 * x[-1]  # what a run 25% longer would gain at that slope
    if slope >= 0 or gain < max(0.01, 2 * _noise_sd(v), 0.005 * v[-1]):
        return None
    unit = _unit(ctx)
    far = "far from trained: " if gain >= FAR_FROM_TRAINED_NATS else ""
    return Finding("still_improving", "warning",
                   f"{far}val is still falling at the end: {-slope * 1000:.3g} nats per 1000 {unit}s lately "
                   f"(val {v[-1]:.3f} at {unit} {int(x[-1]):,}); 25% more {unit}s would gain up to "
                   f"~{gain:.2f} nats. {_not_overfitting(ctx)}{_longer(ctx)} before changing anything else.",
                   {"slope_per_1000": slope * 1000, "val": float(v[-1]), "projected_gain": gain},
                   "03_train_and_sample")


def _longer(ctx) -> str:
    """How to train longer: a run its time ran out on needs more time, not more max_steps."""
    if ctx["stop"] == "time":
        return ("Train longer (it ended on its time limit: a larger time_budget, or a smaller model "
                "that takes more updates in the same time)")
    return "Train longer (more max_steps)"


def _not_overfitting(ctx) -> str:
    """'Val is at or near its lowest and +0.001 nats from train: not overfitting.' (the gap when known)."""
    c = ctx["c"]
    if len(c["train"]) and len(c["train"]) == len(c["val"]) and np.isfinite(c["train"][-1]):
        gap = float(c["val"][-1] - c["train"][-1])
        return (f"Val is at or near its lowest and {gap:+.3f} nats from train ({c['train'][-1]:.3f}): "
                f"this is not overfitting. ")
    return "Val is at or near its lowest: this is not overfitting. "


def _unit(ctx) -> str:
    return str(ctx["meta"].get("step_unit") or "step").split()[0]


def _dr_overfitting(ctx) -> Finding | None:
    c = ctx["c"]
    x, v = _finite_tail(c["e_x"], c["val"])
    if len(v) < 3:
        return None
    ib = int(np.argmin(v))
    rise = float(v[-1] - v[ib])
    if ib == len(v) - 1 or rise < max(MIN_EFFECT_NATS, 2 * _noise_sd(v), 0.01 * v[ib]):
        return None
    data = {"best_step": int(x[ib]), "best_val": float(v[ib]), "final_val": float(v[-1]), "rise": rise}
    gap_txt = ""
    if len(c["train"]) == len(c["val"]) and np.isfinite(c["train"]).all():
        gaps = c["val"] - c["train"]
        data.update(gap_at_best=float(gaps[ib]), gap_final=float(gaps[-1]))
        if gaps[-1] <= gaps[ib]:
            return None  # val rose with train: not memorization (see diverged / lr_too_high)
        gap_txt = f"; the val-train gap grew from {gaps[ib]:.3f} to {gaps[-1]:.3f}"
    return Finding("overfitting", "warning",
                   f"val reached its best {v[ib]:.3f} at {_unit(ctx)} {int(x[ib]):,} and rose {rise:.3f} to "
                   f"{v[-1]:.3f}{gap_txt}: the model memorizes its training tokens. Fix: more data "
                   f"(05), early stopping at the best step (05), dropout (06), weight decay (07).",
                   data, "05_data_size")


OVERSHOOT_NATS = 0.5  # a climb this far above the starting loss counts as overshooting


def _spikes(y: np.ndarray, w: int = 8) -> tuple[int, float]:
    """(count, largest) of jumps above the running median of the previous w points."""
    if len(y) <= w + 2:
        return 0, 0.0
    med = np.array([np.median(y[i - w:i]) for i in range(w, len(y))])
    jump = y[w:] - med
    scale = 1.4826 * np.median(np.abs(np.diff(y))) + 1e-12
    big = jump > np.maximum(0.25, 6 * scale)
    return int(big.sum()), float(jump.max())


def _overshoot(y: np.ndarray) -> float:
    """How far the loss climbed above where it started (an untrained model sits at ln V:
    rising above that means the first updates threw the weights past any minimum)."""
    y = y[np.isfinite(y)]
    return float(y.max() - y[0]) if len(y) > 1 else 0.0


def _dr_lr_too_high(ctx) -> Finding | None:
    c = ctx["c"]
    y = c["s_loss"]
    first_bad = np.flatnonzero(~np.isfinite(y))
    y = y[:first_bad[0]] if len(first_bad) else y
    n, biggest = _spikes(y)
    rise = _overshoot(y)
    gn = c["s_gn"][np.isfinite(c["s_gn"])]
    gn_spikes = int((gn > 10 * np.median(gn)).sum()) if len(gn) > 10 else 0
    diverged = len(first_bad) > 0 or ctx["stop"] == NAN
    if n < 2 and rise <= OVERSHOOT_NATS and not (diverged and (n or gn_spikes)):
        return None
    lr = ctx["cfg"].get("lr")
    climbed = f"the loss climbed {rise:.2f} nats above its starting value; " if rise > OVERSHOOT_NATS else ""
    return Finding("lr_too_high", "warning",
                   f"{climbed}{n} loss spikes in {len(y)} logged steps (largest +{biggest:.2f} nats above the "
                   f"running median), {gn_spikes} gradient-norm spikes (>10x median)"
                   + (f" at lr {fmt_number(lr)}" if lr else "") + ": the updates overshoot. Fix: lower lr "
                   "(halve it), a longer warmup, keep grad_clip on (1.0).",
                   {"spikes": n, "largest_spike": biggest, "grad_norm_spikes": gn_spikes, "lr": lr,
                    "rise_above_start": rise},
                   "08_learning_rate_and_warmup")


def _dr_lr_too_low(ctx) -> Finding | None:
    c, r, cfg = ctx["c"], ctx["rungs"], ctx["cfg"]
    x, y = _finite_tail(c["s_x"], c["s_loss"])
    warm = float(cfg.get("warmup_steps", 0) or 0)
    x, y = x[x > warm], y[x > warm]
    if len(y) < 12 or "uniform" not in r or _spikes(y)[0] >= 2 or _overshoot(c["s_loss"]) > OVERSHOOT_NATS:
        return None  # spikes or a climb above the start: the lr is too high, not too low
    s, third = _box_smooth(y, 0.2), len(y) // 3
    early = (s[0] - s[third]) / max(x[third] - x[0], 1)  # nats per step, first third
    late = (s[-third - 1] - s[-1]) / max(x[-1] - x[-third - 1], 1)  # last third
    target = max(r.get("unigram", 0.5 * r["uniform"]), r.get("entropy floor", 0.0))
    headroom = float(s[-1] - target)
    _, v = _finite_tail(c["e_x"], c["val"])
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
        how = (f"the train loss falls slowly and in a straight line ({early * 1000:.3g} then {late * 1000:.3g} "
               f"nats per 1000 steps, no bend), {above}: at this rate it needs ~{steps_needed:,.0f} more steps")
    return Finding("lr_too_low", "warning", how + (f" at lr {fmt_number(lr)}" if lr else "")
                   + ". Fix: raise lr (try 3-10x; the lr finder suggests one).",
                   {"early_slope_per_1000": early * 1000, "late_slope_per_1000": late * 1000,
                    "headroom": headroom, "lr": lr}, "08_learning_rate_and_warmup")


def _dr_eval_noise(ctx) -> Finding | None:
    """Eval error from the batch-to-batch spread of the step losses, and eval-to-eval jitter."""
    c, cfg = ctx["c"], ctx["cfg"]
    x, v = _finite_tail(c["e_x"], c["val"])
    if len(v) < 4:
        return None
    nb, accum = cfg.get("eval_batches"), cfg.get("grad_accum_steps", 1) or 1
    _, y = _finite_tail(c["s_x"], c["s_loss"])
    se = _noise_sd(y) * math.sqrt(accum / nb) if nb and len(y) >= 10 else 0.0  # micro-batch sd / sqrt(nb)
    jitter = _noise_sd(v[len(v) // 3:])
    noise = max(se, jitter)
    half = v[len(v) // 2:]
    trend = abs(float(half[-1] - half[0])) / max(len(half) - 1, 1)  # nats per eval, second half
    if noise < max(MIN_EFFECT_NATS, trend):
        return None
    target = max(trend, 0.01)
    need = int(math.ceil(nb * (noise / target) ** 2)) if nb else None
    return Finding("eval_too_noisy", "warning",
                   f"one eval is uncertain by ~{noise:.3f} nats (step losses spread {_noise_sd(y):.3f} per "
                   f"update -> {se:.3f} for {nb} eval batches; eval-to-eval jitter {jitter:.3f}), more than "
                   f"val's trend of {trend:.3f} per eval: single evals cannot tell better from worse, and "
                   f"early stopping picks noise."
                   + (f" eval_batches={nb}; about {need} would bring it to {target:.3f} (error ~ "
                      f"1/sqrt(batches))." if need else " Average more eval batches."),
                   {"noise_sd": noise, "batch_se": se, "jitter": jitter, "trend_per_eval": trend,
                    "eval_batches": nb, "suggested": need}, "03_train_and_sample")


def _train_at_evals(c: dict) -> tuple[np.ndarray, str] | None:
    """Train loss at the eval steps: the eval's own (eval mode), else the smoothed step loss."""
    if len(c["train"]) == len(c["val"]) and len(c["val"]) >= 2:
        return c["train"], "eval"
    x, y = _finite_tail(c["s_x"], c["s_loss"])
    if len(y) >= 10 and len(c["val"]) >= 2:
        return np.interp(c["e_x"], x, _box_smooth(y)), "steps"
    return None


def _dr_val_below_train(ctx) -> Finding | None:
    c, drop = ctx["c"], ctx["cfg"].get("dropout", 0) or 0
    got = _train_at_evals(c)
    if got is None:
        return None
    train, source = got
    gaps = (c["val"] - train)[-3:]
    gap = float(np.mean(gaps))
    if not np.isfinite(gap) or gap > -max(MIN_EFFECT_NATS, 0.01 * float(abs(train[-1]))) or (gaps > 0).any():
        return None
    if source == "steps" and not ctx["cfg"]:  # a log read without its config: dropout unknown
        return Finding("val_below_train", "info",
                       f"val is {-gap:.3f} nats below the training-step loss. The steps run in train mode "
                       f"(with dropout, if the run had it) and val does not, so this gap may be dropout's; "
                       f"without dropout it would mean the val text is easier than train, or leaks into it. "
                       f"Compare both splits in eval mode to judge.",
                       {"gap": gap, "dropout": None, "compared_with": source}, "06_dropout")
    if source == "steps" and drop:
        return Finding("val_below_train", "info",
                       f"val is {-gap:.3f} nats below the training-step loss: with dropout={drop} the steps run "
                       f"with units dropped and val does not, so this gap is dropout's, not a sign that val "
                       f"is easier. Compare both splits in eval mode (the evals' train_loss) to judge.",
                       {"gap": gap, "dropout": drop, "compared_with": source}, "06_dropout")
    return Finding("val_below_train", "warning" if gap < -0.1 else "info",
                   f"val is {-gap:.3f} nats BELOW train, both measured "
                   f"{'in eval mode' if source == 'eval' else 'without dropout'}: the val text is easier "
                   f"than train, or val documents leak into train (duplicates across the split). Check "
                   f"the split before trusting val as a measure of generalization.",
                   {"gap": gap, "dropout": drop, "compared_with": source}, "01_data_and_tokenizers")


def _dr_position(ctx) -> Finding | None:
    _, v = _finite_tail(ctx["c"]["e_x"], ctx["c"]["val"])
    r = ctx["rungs"]
    if not len(v) or not r:
        return None
    return Finding("ladder_position", "info", f"final val {v[-1]:.3f} sits {place_on_ladder(float(v[-1]), r)}.",
                   {"val": float(v[-1]), "rungs": dict(r)}, "00_start_here")


LR_RISE = 1.2  # an lr that grew this much over the second half of a run is rising, not decaying


def _dr_lr_rising(ctx) -> Finding | None:
    """The lr still climbing through the second half of the run, past any warmup: a decay
    whose floor (min_lr, CosineAnnealingLR's eta_min) is above lr decays upward to it."""
    x, lr = _finite_tail(ctx["c"]["lr_x"], ctx["c"]["lr"])
    warm = float(ctx["cfg"].get("warmup_steps", 0) or 0)
    x, lr = x[x > warm], lr[x > warm]
    if len(lr) < 6:
        return None
    h = len(lr) // 2
    if lr[-1] < 0.98 * lr.max() or lr[-1] < LR_RISE * lr[h] or lr[-1] <= lr[0]:
        return None
    u, cfg = _unit(ctx), ctx["cfg"]
    path = " -> ".join(f"{fmt_number(float(lr[i]))} at {u} {int(x[i]):,}" for i in (0, h, len(lr) - 1))
    floor = (f" (this run: lr {fmt_number(cfg['lr'])}, min_lr {fmt_number(cfg['min_lr'])})"
             if cfg.get("lr") and cfg.get("min_lr") else "")
    return Finding("lr_rising", "error",
                   f"the lr rose instead of decaying: {path}, {lr[-1] / lr[0]:.1f}x its first value and "
                   f"{lr[-1] / lr[h]:.2f}x over the second half, still rising at the end, long after a warmup "
                   f"should have finished. A cosine decay whose floor min_lr (CosineAnnealingLR's eta_min) "
                   f"is above lr climbs up to that floor{floor}. Fix: min_lr below lr (about lr/10); "
                   f"`python -m slmlab lint` on the training script checks the scheduler's settings.",
                   {"first_lr": float(lr[0]), "mid_lr": float(lr[h]), "final_lr": float(lr[-1]),
                    "first_step": int(x[0]), "final_step": int(x[-1]), "rise": float(lr[-1] / lr[0])},
                   "08_learning_rate_and_warmup")


_DOCTOR_RULES = [_dr_diverged, _dr_lr_rising, _dr_barely_trained, _dr_above_bigram, _dr_lr_too_high,
                 _dr_overfitting,                 _dr_lr_too_low, _dr_still_improving, _dr_eval_noise, _dr_val_below_train, _dr_position]


# ---------------------------------------------------------------------------
# The doctor on a file: read it as the student has it, draw the rungs it can, diagnose


@dataclass
class Checkup:
    """What `python -m slmlab doctor PATH` prints: what was read, the ladder, the findings."""

    history: History  # what the reader made of the file
    read: ReadReport  # the format, the points, the skipped lines
    rungs: dict[str, float]  # the ladder the findings place the loss on (maybe empty)
    ladder_note: str  # which rungs were drawn, from what, and which were not
    findings: list[Finding]  # ranked

    def text(self) -> str:
        return "\n".join([self.read.summary(), f"ladder: {self.ladder_note}",
                          "findings, most important first:", format_findings(self.findings)])


def checkup(path, *, vocab_size: int | None = None, tokenizer: str | None = None,
            grad_accum_steps: int | None = None, data_ladder: bool = True) -> Checkup:
    """Read a training log or run folder (readers.read_log), place it on the ladder, diagnose it.

    vocab_size or tokenizer ('gpt2', 'bpe-N') draws the uniform rung ln V; an slmlab run
    folder's own data gives the whole ladder (data_ladder=False skips tokenizing it).
    grad_accum_steps turns printed micro-steps into optimizer updates.
    """
    history, report = read_log(path, grad_accum_steps)
    rungs, note = _rungs(history, report, vocab_size, tokenizer, data_ladder)
    return Checkup(history, report, rungs, note, diagnose(history, rungs) + _recorded_stats(path, history))


def _recorded_stats(path, history: History) -> list[Finding]:
    """diagnose_stats on what TrainingStats recorded in a run folder (callbacks/training_stats-*.json)."""
    folder = Path(path)
    recorded = sorted(records_dir(folder).glob("training_stats-*.json")) if folder.is_dir() else []
    return diagnose_stats(read_json(recorded[0]), history) if recorded else []


def _vocab(vocab_size, tokenizer, meta: dict) -> tuple[int | None, str]:
    """(V, where it came from): --vocab-size, --tokenizer, or what the run or log said."""
    if vocab_size is not None and tokenizer is not None:
        raise ValueError("give --vocab-size or --tokenizer, not both")
    if vocab_size is not None:
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 2:
            raise ValueError(f"--vocab-size {vocab_size!r}: give the tokenizer's vocabulary size, a whole "
                             f"number >= 2 (50257 for GPT-2)")
        return vocab_size, "--vocab-size"
    if tokenizer is not None:
        v = vocab_size_of(tokenizer)
        if v is None:
            why = "a char vocabulary depends on the text" if tokenizer == "char" else "not a tokenizer slmlab knows"
            raise ValueError(f"--tokenizer {tokenizer}: {why}; give gpt2 or bpe-N (N merges), or --vocab-size V")
        return v, f"--tokenizer {tokenizer}"
    if meta.get("vocab_size"):
        line = meta.get("vocab_size_line")
        return int(meta["vocab_size"]), f"line {line} of the log" if line else "the run's meta"
    return None, ""


def _rungs(history: History, report: ReadReport, vocab_size, tokenizer, data_ladder: bool):
    """({rung: nats}, what the ladder line says)."""
    if data_ladder and report.format == "slmlab" and history.config and vocab_size is None and tokenizer is None:
        lad, err = _run_ladder(history)
        if lad is not None:
            drawn = ", ".join(f"{r.name} {r.nats:.3f}" for r in lad.rungs)
            return lad.to_dict(), f"{drawn} (the run's own data: {lad.corpus} / {lad.tokenizer})"
    else:
        err = None
    V, where = _vocab(vocab_size, tokenizer, history.meta or {})
    if V is None:
        return {}, ("no rung drawn: the uniform rung (ln V) needs the vocabulary size (--vocab-size V, or "
                    "--tokenizer gpt2 | bpe-N), the unigram and bigram rungs need the tokenized data; the "
                    "findings that place a loss on the ladder (barely_trained, ladder_position) are left out")
    u = math.log(V)
    note = (f"uniform ln V = {u:.3f} (V = {V:,}, from {where}); the unigram and bigram rungs need the "
            f"tokenized data (a run folder, or `python -m slmlab ladder --corpus ... --tokenizer ...`)")
    if err:
        note += f"; the run's data gave no ladder ({err})"
    _, val = history.series("val_loss")
    if len(val) and np.isfinite(val[0]) and val[0] > 1.5 * u:
        note += f"; the first val {val[0]:.2f} is far above ln V: is the vocabulary size right?"
    return {"uniform": u}, note


def _run_ladder(history: History):
    """(Ladder of an slmlab run's own data, None) or (None, why not)."""
    from ..config import Config
    from ..data import prepare
    from .loss_ladder import ladder

    try:
        return ladder(prepare(Config.from_dict(history.config).data)), None
    except (ValueError, OSError, RuntimeError, KeyError, TypeError) as e:
        return None, str(e).split("\n")[0]


def clipped_fraction(history, grad_clip: float | None = None) -> float | None:
    """Share of logged steps whose gradient norm (before clipping) exceeded grad_clip
    (default: the run's own); None without a clip or without steps."""
    history = as_history(history)
    clip = grad_clip if grad_clip is not None else _normalized_config(history).get("grad_clip")
    _, gn = history.series("grad_norm")
    if not clip or not len(gn):
        return None
    return float((gn > clip).mean())


# ---------------------------------------------------------------------------
# The doctor inside a run: what TrainingStats recorded, against the thresholds of stats.py


def diagnose_stats(stats, history=None) -> list[Finding]:
    """Symptoms in a run's TrainingStats (or its recorded() dict), the earliest first.

    history (a History, Run or run folder) adds the pre-clip gradient norm of every logged
    step (stats sample one step in `every`) and whether clipping was on. Each finding's data
    holds the `step` it first showed at; a healthy run gets none.
    """
    rec = stats.recorded() if hasattr(stats, "recorded") else stats
    hist = as_history(history) if history is not None else None
    found = [f for rule in _STATS_RULES if (f := rule(rec, hist)) is not None]
    order = [r.__name__ for r in _STATS_RULES]  # ties at one step: the rule listed first
    return sorted(found, key=lambda f: (f.data["step"], order.index(f.data["rule"])))


def _first(records: list[dict], test) -> dict | None:
    """The first record (by step) that passes test."""
    return next((r for r in sorted(records, key=lambda r: r["step"]) if test(r)), None)


def _st_attention_collapsed(rec, hist) -> Finding | None:
    r = _first(rec.get("attention", []), lambda r: r["entropy"] < ATTENTION_COLLAPSED_NATS)
    if r is None:
        return None
    heads = [a for a in rec["attention"] if a["step"] == r["step"] and a["entropy"] < ATTENTION_COLLAPSED_NATS]
    return Finding("attention_collapsed", "warning",
                   f"from step {r['step']}, {len(heads)} attention head(s) put almost all their weight on one "
                   f"position (entropy {r['entropy']:.2f} nats in layer {r['layer']} head {r['head']}, against "
                   f"{r['uniform']:.2f} for attending evenly): the query-key products are huge, so softmax is one-hot "
                   f"and passes almost no gradient. Usual cause: weights initialized far too large (init std); "
                   f"GPT-2's is 0.02.",
                   {"rule": "_st_attention_collapsed", "step": r["step"], "layer": r["layer"], "head": r["head"],
                    "entropy": r["entropy"], "heads": len(heads)}, "10_activations_and_gradients")


def _st_gelu_saturated(rec, hist) -> Finding | None:
    r = _first(rec.get("activations", []), lambda r: r["saturated"] > GELU_SATURATED_SHARE)
    if r is None:
        return None
    peak = max(rec["activations"], key=lambda a: a["saturated"])
    dead = max(a.get("dead", 0.0) for a in rec["activations"])
    return Finding("gelu_saturated", "warning",
                   f"from step {r['step']}, {r['saturated']:.0%} of layer {r['layer']}'s GELU inputs are below "
                   f"{SATURATION_THRESHOLD:g}, where GELU is flat (peak {peak['saturated']:.0%} at step "
                   f"{peak['step']}; at most {dead:.0%} of the units off for a whole batch): those units pass "
                   f"almost no gradient. Their inputs have std {r['pre_std']:.3g} (near 1 or below is healthy): "
                   f"weights too large at init, or an input that is not normalized.",
                   {"rule": "_st_gelu_saturated", "step": r["step"], "layer": r["layer"], "share": r["saturated"],
                    "peak": peak["saturated"], "dead": dead}, "10_activations_and_gradients")


def _st_vanishing(rec, hist) -> Finding | None:
    blocks = [g for g in rec.get("grads", []) if g["name"].startswith("block")]
    r = _first(blocks, lambda g: g["grad_norm"] < VANISHING_GRAD_NORM)
    if r is None:
        return None
    return Finding("vanishing_gradients", "warning",
                   f"at step {r['step']} the gradient of {r['name']} has norm {r['grad_norm']:.2g}, below "
                   f"{VANISHING_GRAD_NORM:g}: the loss barely depends on that block's weights. Without a "
                   f"LayerNorm, tiny activations (GPT-2's init gives the stream an rms of ~0.03) make tiny logits "
                   f"and tiny gradients; check the norms are in the model.",
                   {"rule": "_st_vanishing", "step": r["step"], "name": r["name"], "grad_norm": r["grad_norm"]},
                   "10_activations_and_gradients")


def _total_grad_norms(rec, hist) -> tuple[np.ndarray, np.ndarray]:
    """(steps, pre-clip total gradient norm): every logged step from the history, else the samples."""
    if hist is not None and hist.steps:
        return hist.series("grad_norm")
    by_step: dict[int, float] = {}
    for g in rec.get("grads", []):
        by_step[g["step"]] = by_step.get(g["step"], 0.0) + g["grad_norm"] ** 2
    steps = np.array(sorted(by_step), dtype=float)
    return steps, np.sqrt([by_step[int(s)] for s in steps])


def _st_exploding(rec, hist) -> Finding | None:
    x, gn = _finite_tail(*_total_grad_norms(rec, hist))
    if len(gn) < 5:
        return None
    med = float(np.median(gn))
    big = np.flatnonzero(gn > EXPLODING_FACTOR * med)
    if not len(big):
        return None
    i, top = int(big[0]), int(np.argmax(gn))
    clip = _normalized_config(hist).get("grad_clip") if hist is not None else None
    clip_txt = ("; clipping was off, so those steps went through at full size" if clip == 0 else
                f"; clipping at {fmt_number(clip)} cut them down" if clip else "")
    return Finding("exploding_gradients", "warning",
                   f"the gradient norm jumped to {gn[i]:.3g} at step {int(x[i])}, more than {EXPLODING_FACTOR:g}x its "
                   f"median {med:.3g} ({len(big)} such steps; largest {gn[top]:.3g} at step {int(x[top])}){clip_txt}. "
                   f"Too high an lr, weights far too large, or a missing norm; keep grad_clip on.",
                   {"rule": "_st_exploding", "step": int(x[i]), "grad_norm": float(gn[i]), "median": med,
                    "count": int(len(big)), "largest": float(gn[top]), "grad_clip": clip},
                   "10_activations_and_gradients")


def _st_update_ratio_high(rec, hist) -> Finding | None:
    by_step: dict[int, list[float]] = {}
    for u in rec.get("updates", []):
        by_step.setdefault(u["step"], []).append(u["log10_ratio"])
    med = {s: float(np.median(v)) for s, v in sorted(by_step.items())}
    step = next((s for s, m in med.items() if m > UPDATE_RATIO_HIGH), None)
    if step is None:
        return None
    return Finding("update_ratio_high", "warning",
                   f"at step {step} the median update moved a parameter by 10^{med[step]:.2f} = {10 ** med[step]:.0%} "
                   f"of its own size in one step (log10 ratio above {UPDATE_RATIO_HIGH:g}; a healthy AdamW run of "
                   f"notebook 10 peaks near -1.5, makemore's guide is -3): the weights are rewritten faster than "
                   f"they can settle. Lower lr.",
                   {"rule": "_st_update_ratio_high", "step": step, "log10_ratio": med[step]},
                   "10_activations_and_gradients")


def _st_residual_high(rec, hist) -> Finding | None:
    r = _first(rec.get("residual", []), lambda r: r["rms"] > RESIDUAL_RMS_HIGH)
    if r is None:
        return None
    peak = max(rec["residual"], key=lambda a: a["rms"])
    return Finding("residual_high", "warning",
                   f"from step {r['step']} the residual stream after block {r['layer']} has rms {r['rms']:.3g}, above "
                   f"{RESIDUAL_RMS_HIGH:g} (peak {peak['rms']:.3g} at step {peak['step']}): with a LayerNorm in front "
                   f"of every block and of the output layer the stream's scale would not matter; without one, the "
                   f"next block and the logits get inputs this large.",
                   {"rule": "_st_residual_high", "step": r["step"], "layer": r["layer"], "rms": r["rms"],
                    "peak": peak["rms"]}, "10_activations_and_gradients")


_STATS_RULES = [_st_attention_collapsed, _st_gelu_saturated, _st_vanishing, _st_exploding, _st_update_ratio_high,
                _st_residual_high]
