"""Symptoms: the doctor inside a run, from what stats.TrainingStats recorded.

`diagnose_stats(stats, history)` reads the activations, attention, gradients and
updates a TrainingStats callback recorded against the thresholds in stats.py and
returns its symptoms (Findings), the earliest first, each with the step it showed
at. One small rule per symptom (`_st_*`). The curves are doctor.py's; reading a
file is checkup.py's.
"""

from __future__ import annotations

import numpy as np

from ..history import as_history
from .doctor import finite, normalized_config
from .findings import Finding, fmt_number
from .stats import (
    ATTENTION_COLLAPSED_NATS,
    EXPLODING_FACTOR,
    GELU_SATURATED_SHARE,
    RESIDUAL_RMS_HIGH,
    SATURATION_THRESHOLD,
    UPDATE_RATIO_HIGH,
    VANISHING_GRAD_NORM,
)

__all__ = ["diagnose_stats"]


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
    return Finding(
        "attention_collapsed",
        "warning",
        f"from step {r['step']}, {len(heads)} attention head(s) put almost all their weight on one "
        f"position (entropy {r['entropy']:.2f} nats in layer {r['layer']} head {r['head']}, against "
        f"{r['uniform']:.2f} for attending evenly): the query-key products are huge, so softmax is one-hot "
        f"and passes almost no gradient. Usual cause: weights initialized far too large (init std); "
        f"GPT-2's is 0.02.",
        {
            "rule": "_st_attention_collapsed",
            "step": r["step"],
            "layer": r["layer"],
            "head": r["head"],
            "entropy": r["entropy"],
            "heads": len(heads),
        },
        "10_activations_and_gradients",
    )


def _st_gelu_saturated(rec, hist) -> Finding | None:
    r = _first(rec.get("activations", []), lambda r: r["saturated"] > GELU_SATURATED_SHARE)
    if r is None:
        return None
    peak = max(rec["activations"], key=lambda a: a["saturated"])
    dead = max(a.get("dead", 0.0) for a in rec["activations"])
    return Finding(
        "gelu_saturated",
        "warning",
        f"from step {r['step']}, {r['saturated']:.0%} of layer {r['layer']}'s GELU inputs are below "
        f"{SATURATION_THRESHOLD:g}, where GELU is flat (peak {peak['saturated']:.0%} at step "
        f"{peak['step']}; at most {dead:.0%} of the units off for a whole batch): those units pass "
        f"almost no gradient. Their inputs have std {r['pre_std']:.3g} (near 1 or below is healthy): "
        f"weights too large at init, or an input that is not normalized.",
        {
            "rule": "_st_gelu_saturated",
            "step": r["step"],
            "layer": r["layer"],
            "share": r["saturated"],
            "peak": peak["saturated"],
            "dead": dead,
        },
        "10_activations_and_gradients",
    )


def _st_vanishing(rec, hist) -> Finding | None:
    blocks = [g for g in rec.get("grads", []) if g["name"].startswith("block")]
    r = _first(blocks, lambda g: g["grad_norm"] < VANISHING_GRAD_NORM)
    if r is None:
        return None
    return Finding(
        "vanishing_gradients",
        "warning",
        f"at step {r['step']} the gradient of {r['name']} has norm {r['grad_norm']:.2g}, below "
        f"{VANISHING_GRAD_NORM:g}: the loss barely depends on that block's weights. Without a "
        f"LayerNorm, tiny activations (GPT-2's init gives the stream an rms of ~0.03) make tiny logits "
        f"and tiny gradients; check the norms are in the model.",
        {"rule": "_st_vanishing", "step": r["step"], "name": r["name"], "grad_norm": r["grad_norm"]},
        "10_activations_and_gradients",
    )


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
    x, gn = finite(*_total_grad_norms(rec, hist))
    if len(gn) < 5:
        return None
    med = float(np.median(gn))
    big = np.flatnonzero(gn > EXPLODING_FACTOR * med)
    if not len(big):
        return None
    i, top = int(big[0]), int(np.argmax(gn))
    clip = normalized_config(hist).get("grad_clip") if hist is not None else None
    clip_txt = (
        "; clipping was off, so those steps went through at full size"
        if clip == 0
        else f"; clipping at {fmt_number(clip)} cut them down"
        if clip
        else ""
    )
    return Finding(
        "exploding_gradients",
        "warning",
        f"the gradient norm jumped to {gn[i]:.3g} at step {int(x[i])}, more than {EXPLODING_FACTOR:g}x its "
        f"median {med:.3g} ({len(big)} such steps; largest {gn[top]:.3g} at step {int(x[top])}){clip_txt}. "
        f"Too high an lr, weights far too large, or a missing norm; keep grad_clip on.",
        {
            "rule": "_st_exploding",
            "step": int(x[i]),
            "grad_norm": float(gn[i]),
            "median": med,
            "count": int(len(big)),
            "largest": float(gn[top]),
            "grad_clip": clip,
        },
        "10_activations_and_gradients",
    )


def _st_update_ratio_high(rec, hist) -> Finding | None:
    by_step: dict[int, list[float]] = {}
    for u in rec.get("updates", []):
        by_step.setdefault(u["step"], []).append(u["log10_ratio"])
    med = {s: float(np.median(v)) for s, v in sorted(by_step.items())}
    step = next((s for s, m in med.items() if m > UPDATE_RATIO_HIGH), None)
    if step is None:
        return None
    return Finding(
        "update_ratio_high",
        "warning",
        f"at step {step} the median update moved a parameter by 10^{med[step]:.2f} = {10 ** med[step]:.0%} "
        f"of its own size in one step (log10 ratio above {UPDATE_RATIO_HIGH:g}; a healthy AdamW run of "
        f"notebook 10 peaks near -1.5, makemore's guide is -3): the weights are rewritten faster than "
        f"they can settle. Lower lr.",
        {"rule": "_st_update_ratio_high", "step": step, "log10_ratio": med[step]},
        "10_activations_and_gradients",
    )


def _st_residual_high(rec, hist) -> Finding | None:
    r = _first(rec.get("residual", []), lambda r: r["rms"] > RESIDUAL_RMS_HIGH)
    if r is None:
        return None
    peak = max(rec["residual"], key=lambda a: a["rms"])
    return Finding(
        "residual_high",
        "warning",
        f"from step {r['step']} the residual stream after block {r['layer']} has rms {r['rms']:.3g}, above "
        f"{RESIDUAL_RMS_HIGH:g} (peak {peak['rms']:.3g} at step {peak['step']}): with a LayerNorm in front "
        f"of every block and of the output layer the stream's scale would not matter; without one, the "
        f"next block and the logits get inputs this large.",
        {"rule": "_st_residual_high", "step": r["step"], "layer": r["layer"], "rms": r["rms"], "peak": peak["rms"]},
        "10_activations_and_gradients",
    )


_STATS_RULES = [
    _st_attention_collapsed,
    _st_gelu_saturated,
    _st_vanishing,
    _st_exploding,
    _st_update_ratio_high,
    _st_residual_high,
]
