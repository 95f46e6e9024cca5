"""Every figure the course draws, as functions that return a matplotlib Figure.

Holds `curves` (train and val loss of one or more runs, with the loss ladder
drawn as labelled lines), `overlay` (one metric of several runs on one axis),
`isolation` (one hyperparameter against a result, seeds as error bars),
`schedule` (learning-rate curves), `stats_over_time`, `histograms` and
`heatmap` (activation / gradient / update-ratio statistics), `ladder` (the
rungs in nats and bits per byte) and `sizes` (one result per model size, with a
fitted law and reference lines).

No function calls plt.show(): a notebook shows the Figure as the cell's value
(or with display(fig)), a script saves it with fig.savefig(path). Figures are
closed in pyplot as they are made, so a notebook shows each once and a loop of
plots holds no memory. Functions that draw one axis take `ax=` to draw into a
figure of your own (then they return ax.figure and close nothing).

Inputs: a run is a History, a Run or a run folder (slmlab.history.as_history);
several are a list or a dict label -> run. A ladder is a diagnostics.Ladder or
a dict name -> nats. It leaves the numbers to others: records, metrics and the
EMA to slmlab.history, the ladder, statistics and schedules to
slmlab.diagnostics, the live dashboard figure to slmlab.widgets.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from .config import Config
from .history import History, as_history, metric, run_label, smooth

__all__ = [
    "curves",
    "overlay",
    "isolation",
    "schedule",
    "stats_over_time",
    "histograms",
    "heatmap",
    "ladder",
    "sizes",
    "UPDATE_RATIO_GUIDE",
]

UPDATE_RATIO_GUIDE = -3.0  # log10(update / weight): about 1e-3 per step is healthy (Karpathy)


# ---------------------------------------------------------------------------
# Small shared pieces: figures, runs


def _axes(ax=None, figsize=(8, 4.5)):
    """(fig, ax): the given ax, or a fresh figure already closed in pyplot."""
    if ax is not None:
        return ax.figure, ax
    fig = plt.figure(figsize=figsize, layout="constrained")
    plt.close(fig)  # shown once as a cell's value; never twice, never leaked
    return fig, fig.add_subplot()


def _items(obj: Any) -> tuple[list, list[str | None]]:
    """(runs, labels) from one run, a list of them, or a dict label -> run."""
    if isinstance(obj, Mapping):
        return list(obj.values()), [str(k) for k in obj]
    if isinstance(obj, (list, tuple)):
        return list(obj), [None] * len(obj)
    return [obj], [None]


def _label(item: Any, i: int) -> str:
    """A run's own label (Run.label, else the history's label), else 'run i'."""
    label = getattr(item, "label", None) or as_history(item).label
    return str(label) if label else f"run {i + 1}"


def _config_of(item: Any) -> dict:
    """All config fields of a run in one flat dict."""
    cfg = getattr(item, "config", None)
    return (cfg if isinstance(cfg, Config) else Config.from_dict(as_history(item).config)).flat()


_X_LABELS = {"step": "optimizer step", "tokens": "tokens seen", "seconds": "seconds"}


def _colors(n: int) -> list:
    import seaborn as sns

    return sns.color_palette("tab10" if n <= 10 else "husl", max(n, 1))[:n]


def _to_numpy(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):  # torch tensor, on any device, any dtype
        values = values.detach().float().cpu().numpy()
    return np.asarray(values, dtype=float)


def _finish(ax, *, xlabel=None, ylabel=None, title=None, logx=False, logy=False, legend=True):
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
        lo, hi = ax.get_ylim()
        if 0 < lo and hi / lo < 30:  # a short log range (losses): 2, 3, 4 rather than 2x10^0
            plain = FuncFormatter(lambda v, _: f"{v:g}")
            ax.yaxis.set_major_formatter(plain)
            ax.yaxis.set_minor_formatter(plain)
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best")


# ---------------------------------------------------------------------------
# The ladder: reference losses drawn under every curve


def _rungs(ladder: Any) -> list[tuple[str, float, float | None]]:
    """[(name, nats, bits per byte or None)] with nats known, in the ladder's order."""
    if ladder is None:
        return []
    if isinstance(ladder, Mapping):
        rungs = [(str(k), v, None) for k, v in ladder.items()]
    elif hasattr(ladder, "rungs"):
        rungs = [(r.name, r.nats, r.bits_per_byte) for r in ladder.rungs]
    else:
        raise TypeError(f"expected a diagnostics.Ladder or a dict name -> nats, got {type(ladder).__name__}")
    # a rung without a finite value (an entropy floor the corpus does not know) is left out
    return [(n, float(v), b) for n, v, b in rungs if v is not None and math.isfinite(v)]


def _draw_rungs(ax, ladder: Any, bits_per_byte: bool = False) -> None:
    """Each rung as a dotted line with its name and value at the right edge (in bits per byte:
    the rungs that know theirs)."""
    rungs = _rungs(ladder)
    if bits_per_byte:
        rungs = [(n, b, b) for n, _, b in rungs if b is not None]
    for _, nats, _ in rungs:
        ax.axhline(nats, color="0.45", ls=":", lw=1, zorder=0.5)
    if not rungs:
        return
    lo, hi = ax.get_ylim()
    to_frac = (
        (lambda v: (math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo)))
        if ax.get_yscale() == "log"
        else (lambda v: (v - lo) / (hi - lo))
    )
    placed = _spread(sorted(to_frac(n) for _, n, _ in rungs), gap=0.045)
    for (name, nats, _), y in zip(sorted(rungs, key=lambda r: r[1]), placed, strict=True):
        ax.text(
            1.01,
            y,
            f"{name} {nats:.2f}",
            transform=ax.transAxes,
            fontsize=7,
            color="0.3",
            va="center",
            ha="left",
            clip_on=False,
        )


def _spread(ys: list[float], gap: float) -> list[float]:
    """Push sorted label positions apart so no two are closer than `gap`."""
    out = list(ys)
    for i in range(1, len(out)):
        out[i] = max(out[i], out[i - 1] + gap)
    return out


# ---------------------------------------------------------------------------
# Loss curves


def curves(
    history_or_histories: Any,
    ladder: Any = None,
    *,
    x: str = "step",
    logy: bool = False,
    beta: float = 0.9,
    raw: bool = True,
    eval_train: bool = True,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    ax=None,
    figsize=(8, 4.5),
) -> Figure:
    """Train loss (per step, EMA-smoothed) and val loss (eval points) against step or tokens.

    ladder: rungs drawn as labelled dotted lines (uniform, unigram, ...).
    raw: also draw the unsmoothed step loss, faint. eval_train: the train loss
    measured at each eval (same batches count as val) as hollow markers.
    x: 'step' | 'tokens' | 'seconds'. Several histories get one colour each.
    """
    items, names = _items(history_or_histories)
    labels = list(labels) if labels is not None else names
    fig, ax = _axes(ax, figsize)
    for i, (item, color) in enumerate(zip(items, _colors(len(items)), strict=True)):
        name = labels[i] or (_label(item, i) if len(items) > 1 else "")
        _draw_run(ax, as_history(item), name, color, x=x, beta=beta, raw=raw, eval_train=eval_train)
    if not any(as_history(i).steps or as_history(i).evals for i in items):  # a log may hold evals only
        ax.text(0.5, 0.5, "no steps yet", transform=ax.transAxes, ha="center", color="0.5")
    _finish(ax, xlabel=_X_LABELS.get(x, x), ylabel="loss (nats per token)", title=title, logy=logy)
    _draw_rungs(ax, ladder)
    return fig


def _draw_run(ax, h: History, name: str, color, *, x: str, beta: float, raw: bool, eval_train: bool) -> None:
    prefix = f"{name} " if name else ""
    xs, loss = h.series("loss", x)
    if len(xs):
        if raw:
            ax.plot(xs, loss, color=color, alpha=0.2, lw=0.8)
        ax.plot(xs, smooth(loss, beta), color=color, lw=1.4, label=f"{prefix}train (smoothed)")
    ex, val = h.series("val_loss", x)
    if len(ex):
        ax.plot(ex, val, "o-", color=color, lw=2, ms=4, label=f"{prefix}val")
    tx, tr = h.series("train_loss", x)
    if eval_train and len(tx):
        ax.plot(tx, tr, "o", mfc="none", color=color, ms=5, label=f"{prefix}train (at eval)")
    if h.stop_reason and len(xs):
        ax.annotate(
            f"{h.stop_reason}",
            (xs[-1], np.nanmax(loss[-1:]) if math.isfinite(loss[-1]) else np.nanmax(loss)),
            fontsize=7,
            color=color,
            xytext=(3, 6),
            textcoords="offset points",
        )


# ---------------------------------------------------------------------------
# Several runs


def _run_label(item: Any, i: int, given: str | None, label_by: Any) -> str:
    """label_by: None (the run's own label), a config field, a list of fields, or a callable."""
    if callable(label_by):
        return str(label_by(item))
    if label_by is None:
        return given or _label(item, i)
    fields = [label_by] if isinstance(label_by, str) else list(label_by)
    cfg = _config_of(item)
    missing = [f for f in fields if f not in cfg]
    if missing:
        raise KeyError(f"label_by: run {i + 1} has no config field {missing[0]!r}; use one of {', '.join(sorted(cfg))}")
    return run_label({f: cfg[f] for f in fields})


_LINE_STYLES = ("-", "--", "-.", ":")  # overlay(dashes=True): one per run, in turn


def overlay(
    runs: Any,
    key: str = "val_loss",
    label_by: Any = None,
    *,
    x: str = "step",
    ladder: Any = None,
    logy: bool = False,
    beta: float | None = None,
    bits_per_byte: bool = False,
    title: str | None = None,
    dashes: bool = False,
    ax=None,
    figsize=(8, 4.5),
) -> Figure:
    """One metric of several runs on one axis.

    runs: Runs / Histories / run folders, a list of them or a dict label -> run.
    key: any record field: val_loss, train_loss (evals), loss, lr, grad_norm (steps).
    label_by: see `_run_label`. beta: EMA smoothing; default 0.9 for per-step keys, none for evals.
    bits_per_byte: a loss key in bits per byte of each run's own val text (runs with different
    tokenizers side by side), and the rungs that know theirs.
    dashes: each run its own line style as well as its colour, so a run that ends where another
    does (two changes with the same effect) is not hidden under it.
    """
    items, names = _items(runs)
    fig, ax = _axes(ax, figsize)
    styles = _LINE_STYLES if dashes else ("-",)
    for i, (item, color) in enumerate(zip(items, _colors(len(items)), strict=True)):
        h = as_history(item)
        on_evals = any(r.get(key) is not None for r in h.evals)
        xs, ys = h.series(key, x)
        if bits_per_byte:
            ys = ys / math.log(2) / h.meta["val_bytes_per_token"]
        b = beta if beta is not None else (0.0 if on_evals else 0.9)
        ax.plot(
            xs,
            smooth(ys, b) if b else ys,
            marker="o" if on_evals else None,
            ls=styles[i % len(styles)],
            ms=3,
            color=color,
            label=_run_label(item, i, names[i], label_by),
        )
    if not items:
        ax.text(0.5, 0.5, "no runs yet", transform=ax.transAxes, ha="center", color="0.5")
    _finish(
        ax,
        xlabel=_X_LABELS.get(x, x),
        ylabel=f"{key} (bits per byte)" if bits_per_byte else key,
        title=title,
        logy=logy,
    )
    _draw_rungs(ax, ladder, bits_per_byte)
    return fig


def isolation(
    runs: Any,
    field: str,
    metric: str | Callable = "best_val",
    *,
    ladder: Any = None,
    logx: bool | None = None,
    title: str | None = None,
    ax=None,
    figsize=(6.5, 4.5),
) -> Figure:
    """One hyperparameter (x) against one result (y); seeds sharing a value give error bars.

    metric: 'best_val' | 'final_val' | 'final_train' | 'gap' (final val - train,
    both at the last eval), another record field (its last value) or a
    callable(history) -> float: see slmlab.history.metric. Error bars: the
    standard deviation over the runs that share a value. logx: default on when
    the values are positive and span 10x or more. Non-numeric values
    (tokenizer names, say) are placed as categories in the order met.
    """
    groups: dict[Any, list[float]] = {}
    for i, item in enumerate(_items(runs)[0]):
        groups.setdefault(_field_value(item, field, i), []).append(_metric(as_history(item), metric))
    fig, ax = _axes(ax, figsize)
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in groups)
    keys = sorted(groups) if numeric else list(groups)
    xs = np.array(keys, dtype=float) if numeric else np.arange(len(keys))
    _draw_groups(ax, xs, [groups[k] for k in keys])
    if not numeric:
        ax.set_xticks(xs, [str(k) for k in keys])
    if logx is None:
        logx = numeric and len(xs) > 1 and xs.min() > 0 and xs.max() / xs.min() >= 10 - 1e-9
    name = metric if isinstance(metric, str) else getattr(metric, "__name__", "metric")
    _finish(ax, xlabel=field, ylabel=name.replace("_", " "), title=title, logx=logx)
    if logx and numeric and xs.max() / xs.min() < 100:  # under 2 decades matplotlib labels minor
        ax.set_xticks(xs, [f"{k:g}" for k in keys])  # ticks too (4x10^0 6x10^0 ...): label the values
        ax.xaxis.set_minor_formatter(NullFormatter())
    _draw_rungs(ax, ladder)
    return fig


_metric = metric  # isolation's parameter is called metric too


def _field_value(item: Any, field: str, i: int) -> Any:
    cfg = _config_of(item)
    if field not in cfg:
        raise KeyError(f"isolation: run {i + 1} has no config field {field!r}; use one of {', '.join(sorted(cfg))}")
    return cfg[field]


def _draw_groups(ax, xs: np.ndarray, values: list[list[float]]) -> None:
    """Every run as a faint dot; the mean per value as a line, std as error bars."""
    means = np.array([np.nanmean(v) if np.isfinite(v).any() else np.nan for v in values])
    stds = np.array([np.nanstd(v, ddof=1) if np.isfinite(v).sum() > 1 else 0.0 for v in values])
    for x, v in zip(xs, values, strict=True):
        ax.plot([x] * len(v), v, "o", color="C0", alpha=0.35, ms=4)
    ax.errorbar(
        xs,
        means,
        yerr=stds if stds.any() else None,
        fmt="o-",
        color="C0",
        capsize=4,
        lw=1.8,
        label="mean ± std over seeds" if stds.any() else None,
    )


# ---------------------------------------------------------------------------
# Learning-rate schedules


def schedule(
    lrs_by_step: Any,
    *,
    marks: Mapping[str, float] | None = None,
    logy: bool = False,
    xlabel: str = "optimizer step",
    title: str | None = None,
    ax=None,
    figsize=(8, 4),
) -> Figure:
    """Learning-rate curves, several on one axis.

    lrs_by_step: an array (lr per step), a dict name -> array or name -> (x, lrs)
    (e.g. {"per micro-step": (micro_steps / grad_accum, lrs), "fixed": lrs}),
    a slmlab.diagnostics.Schedule (of a config: diagnostics.schedule(cfg)), or a
    dict name -> Schedule (each drawn per update and, with grad accumulation,
    per micro-step on the same update axis); a dict may mix these kinds.
    marks: horizontal reference lines, e.g. {"lr": 1e-4, "min_lr": 5e-4}.
    """
    fig, ax = _axes(ax, figsize)
    lines = _schedules(lrs_by_step)
    marks = marks or {}
    colors = _colors(len(lines) + len(marks))
    for (name, (xs, ys)), color in zip(lines.items(), colors, strict=False):
        ax.plot(xs, ys, color=color, lw=1.6, label=name)
    for (name, value), color in zip(marks.items(), colors[::-1], strict=False):
        ax.axhline(value, color=color, ls="--", lw=1, alpha=0.8, label=f"{name} = {value:.3g}")
    _finish(ax, xlabel=xlabel, ylabel="learning rate", title=title, logy=logy)
    return fig


def _schedules(obj: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Normalize every accepted input to {name: (x, lr)}."""
    if hasattr(obj, "lr_micro"):  # diagnostics.Schedule
        obj = {obj.label: obj}
    if not isinstance(obj, Mapping):
        obj = {"lr": obj}
    out = {}
    for name, v in obj.items():
        if hasattr(v, "lr_micro"):
            out.update(_schedule_lines(str(name), v))
        elif isinstance(v, tuple) and len(v) == 2:
            out[str(name)] = (_to_numpy(v[0]), _to_numpy(v[1]))
        else:
            ys = _to_numpy(v)
            out[str(name)] = (np.arange(len(ys)), ys)
    return out


def _schedule_lines(name: str, s: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A diagnostics.Schedule on the update axis: per update, and per micro-step when it differs."""
    k = max(1, int(s.grad_accum_steps))
    lines = {f"{name} (per update)": (_to_numpy(s.update_steps), _to_numpy(s.lr))}
    micro = _to_numpy(s.lr_micro)
    per_update = np.repeat(_to_numpy(s.lr), k)
    n = min(len(micro), len(per_update))
    if k > 1 and not np.allclose(micro[:n], per_update[:n]):  # the student's bug shows here
        lines[f"{name} (per micro-step)"] = (_to_numpy(s.micro_steps) / k, micro)
    return lines


# ---------------------------------------------------------------------------
# Activation / gradient / update statistics


def _group_key(recs: list[dict], by: str | Sequence[str] | None) -> tuple[str, ...]:
    """The fields that name a line: `by`, else 'name', else 'layer' (+ 'head')."""
    if by is not None:
        return (by,) if isinstance(by, str) else tuple(by)
    if any("name" in r for r in recs):
        return ("name",)
    return tuple(k for k in ("layer", "head") if any(k in r for r in recs))


def _group_of(r: dict, keys: tuple[str, ...]) -> Any:
    if len(keys) == 1:
        return r.get(keys[0], "")
    return ", ".join(f"{k} {r.get(k, '')}" for k in keys)


def _grouped(
    records: Sequence[dict], key: str, by: str | Sequence[str] | None
) -> dict[Any, tuple[np.ndarray, np.ndarray]]:
    """{group: (steps, values)} from records holding `key`, in first-seen group order."""
    recs = [r for r in records if isinstance(r.get(key), (int, float, np.floating))]
    if not recs:
        seen = sorted({k for r in records for k in r})
        raise ValueError(f"no record has a number under {key!r}; keys seen: {', '.join(seen)}")
    if not all("step" in r for r in recs):
        raise ValueError("stats records need a 'step' field (as TrainingStats writes them)")
    keys = _group_key(recs, by)
    groups: dict[Any, list] = {}
    for r in recs:
        groups.setdefault(_group_of(r, keys) if keys else "", []).append((r["step"], float(r[key])))
    return {g: tuple(np.array(c, dtype=float) for c in zip(*sorted(v), strict=True)) for g, v in groups.items()}


def _auto_guide(key: str, values: np.ndarray) -> tuple[float | None, bool]:
    """(guide line, log y): update ratios get -3 in log10, 1e-3 on a log axis otherwise."""
    k = key.lower()
    if "ratio" not in k and "update" not in k:
        return None, False
    if "log" in k or (len(values) and np.nanmax(values) <= 0):
        return UPDATE_RATIO_GUIDE, False
    return 10**UPDATE_RATIO_GUIDE, True


def stats_over_time(
    records: Sequence[dict],
    key: str,
    *,
    by: str | Sequence[str] | None = None,
    guide: float | str | None = "auto",
    logy: bool | None = None,
    title: str | None = None,
    ax=None,
    figsize=(8, 4.5),
) -> Figure:
    """One line per layer / parameter: a statistic against the step.

    records: a list of dicts (a TrainingStats list) each with a 'step', a group
    name (`by`: a field or a tuple of fields; else 'name', else 'layer' and
    'head' together, whichever are present) and a number under `key`. Records
    without `key` are skipped, so one list may mix kinds.
    guide: a y value drawn as a dashed line; 'auto' draws -3 for log10 update
    ratios (1e-3 on a log axis when the ratios are not in log10).
    """
    groups = _grouped(records, key, by)
    values = np.concatenate([v for _, v in groups.values()])
    auto_guide, auto_logy = _auto_guide(key, values)
    guide = auto_guide if guide == "auto" else guide
    fig, ax = _axes(ax, figsize)
    import seaborn as sns

    palette = sns.color_palette("viridis", len(groups))
    for (name, (steps, vals)), color in zip(groups.items(), palette, strict=True):
        ax.plot(steps, vals, color=color, lw=1.2, label=str(name) if name != "" else None)
    if guide is not None:
        ax.axhline(guide, color="crimson", ls="--", lw=1.2, label=f"guide {guide:g}")
    _finish(
        ax, xlabel="optimizer step", ylabel=key, title=title, logy=auto_logy if logy is None else logy, legend=False
    )
    if len(groups) <= 16:
        ax.legend(fontsize=7, loc="best", ncol=1 + len(groups) // 9)
    return fig


def histograms(
    tensors_by_name: Any,
    *,
    bins: int = 60,
    cols: int = 4,
    logy: bool = False,
    sharex: bool = False,
    title: str | None = None,
    figsize=None,
) -> Figure:
    """One small histogram per tensor (activations, gradients, weights), mean and std in the title.

    tensors_by_name: a dict name -> tensor / array, or one tensor. Non-finite
    values are left out and counted in the title.
    """
    named = tensors_by_name if isinstance(tensors_by_name, Mapping) else {"values": tensors_by_name}
    if not named:
        raise ValueError("histograms: nothing to draw; pass a dict name -> tensor")
    cols = max(1, min(cols, len(named)))
    rows = math.ceil(len(named) / cols)
    fig = plt.figure(figsize=figsize or (3.2 * cols, 2.4 * rows), layout="constrained")
    plt.close(fig)
    axes = fig.subplots(rows, cols, squeeze=False, sharex=sharex).ravel()
    for ax, (name, t) in zip(axes, named.items(), strict=False):
        _histogram(ax, name, _to_numpy(t).ravel(), bins, logy)
    for ax in axes[len(named) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return fig


def _histogram(ax, name: str, v: np.ndarray, bins: int, logy: bool) -> None:
    finite = v[np.isfinite(v)]
    bad = len(v) - len(finite)
    if len(finite):
        counts, edges = np.histogram(finite, bins=bins)
        ax.stairs(counts, edges, fill=True, alpha=0.7)
        head = f"{name}\nmean {finite.mean():.3g}, std {finite.std():.3g}"
    else:
        head = f"{name}\n(no finite values)"
    ax.set_title(head + (f", {bad} nan/inf" if bad else ""), fontsize=8)
    ax.tick_params(labelsize=7)
    if logy:
        ax.set_yscale("log")


def heatmap(
    matrix: Any,
    *,
    key: str | None = None,
    by: str | Sequence[str] | None = None,
    xlabels: Sequence | None = None,
    ylabels: Sequence | None = None,
    cmap: str | None = None,
    center: float | None = None,
    annot: bool | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    ax=None,
    figsize=None,
) -> Figure:
    """A 2-D matrix as a seaborn heatmap (attention probabilities, per-layer statistics).

    matrix: a 2-D tensor / array / list of lists; or a list of stats records (see
    `stats_over_time`) with `key=`, pivoted to groups (rows) x steps (columns).
    For log10 update ratios the colours centre on -3. annot: numbers in the
    cells, by default only when there are at most 100 cells.
    """
    import seaborn as sns

    if key is not None:
        matrix, ylabels, xlabels, center, cmap = _pivot(matrix, key, by, center, cmap)
        xlabel = xlabel or "optimizer step"
    data = _to_numpy(matrix)
    data = data[None, :] if data.ndim == 1 else data
    if data.ndim != 2:
        raise ValueError(
            f"heatmap: expected a 2-D matrix, got shape {tuple(data.shape)}; pick one slice, e.g. probs[0, head]"
        )
    fig, ax = _axes(ax, figsize or (min(12, 2 + 0.5 * data.shape[1]), min(9, 1.5 + 0.4 * data.shape[0])))
    with warnings.catch_warnings():  # seaborn 0.13 calls a colormap method matplotlib retires
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        _sns_heatmap(
            sns,
            data,
            ax,
            key=key,
            cmap=cmap,
            center=center,
            vmin=vmin,
            vmax=vmax,
            annot=annot,
            xlabels=xlabels,
            ylabels=ylabels,
        )
    _finish(ax, xlabel=xlabel, ylabel=ylabel, title=title, legend=False)
    ax.grid(False)
    return fig


def _sns_heatmap(sns, data, ax, *, key, cmap, center, vmin, vmax, annot, xlabels, ylabels) -> None:
    sns.heatmap(
        data,
        ax=ax,
        cmap=cmap or ("RdBu_r" if center is not None else "viridis"),
        center=center,
        vmin=vmin,
        vmax=vmax,
        annot=data.size <= 100 if annot is None else annot,
        fmt=".2g",
        xticklabels=False if xlabels is not None else "auto",
        yticklabels=False if ylabels is not None else "auto",
        cbar_kws={"label": key} if key else None,
    )
    for labels, set_ticks in ((xlabels, ax.set_xticks), (ylabels, ax.set_yticks)):
        if labels is not None:  # at most ~24 labels per axis, evenly thinned
            labels, k = list(labels), max(1, math.ceil(len(labels) / 24))
            set_ticks(np.arange(0, len(labels), k) + 0.5, labels[::k])


def _pivot(records: Sequence[dict], key: str, by: str | Sequence[str] | None, center, cmap):
    groups = _grouped(records, key, by)
    steps = sorted({s for xs, _ in groups.values() for s in xs})
    col = {s: j for j, s in enumerate(steps)}
    m = np.full((len(groups), len(steps)), np.nan)
    for i, (xs, vs) in enumerate(groups.values()):
        for s, v in zip(xs, vs, strict=True):
            m[i, col[s]] = v
    guide, _ = _auto_guide(key, m[np.isfinite(m)])
    if guide == UPDATE_RATIO_GUIDE and center is None:
        center, cmap = guide, cmap or "RdBu_r"
    return m, [str(g) for g in groups], [f"{s:g}" for s in steps], center, cmap


# ---------------------------------------------------------------------------
# The ladder as its own figure


def ladder(
    ladder: Any,
    *,
    marks: Mapping[str, float] | float | None = None,
    title: str | None = "loss ladder",
    ax=None,
    figsize=(8, 3.5),
) -> Figure:
    """Rungs as horizontal bars in nats (bottom axis) and bits per byte (top axis).

    marks: your own losses to place on the ladder, e.g. {"your val": 9.0}
    (a bare number is labelled "you"). The top axis appears when the ladder
    knows bits per byte (a diagnostics.Ladder's rungs do).
    """
    rungs = sorted(_rungs(ladder), key=lambda r: r[1])
    if not rungs:
        raise ValueError(
            "ladder: no rung with a finite value in nats; pass a ladder from slmlab.diagnostics or a dict name -> nats"
        )
    fig, ax = _axes(ax, figsize)
    ys = np.arange(len(rungs))
    ax.barh(ys, [r[1] for r in rungs], color=_colors(len(rungs)), alpha=0.8)
    ax.set_yticks(ys, [r[0] for r in rungs])
    for y, (_, nats, bpb) in zip(ys, rungs, strict=True):
        text = f" {nats:.2f} nats" + (f" · {bpb:.2f} bpb" if bpb is not None else "")
        ax.text(nats, y, text, va="center", fontsize=8)
    marks = marks if isinstance(marks, Mapping) or marks is None else {"you": marks}
    _draw_marks(ax, marks or {})
    _bpb_axis(ax, rungs)
    ax.set_xlim(0, max([r[1] for r in rungs] + list((marks or {}).values())) * 1.3)
    _finish(ax, xlabel="loss (nats per token)", title=title)
    return fig


_MARK_COLORS = ("crimson", "darkorange", "purple", "teal")


def _draw_marks(ax, marks: Mapping[str, float]) -> None:
    for (name, value), color in zip(marks.items(), itertools.cycle(_MARK_COLORS), strict=False):
        ax.axvline(value, color=color, ls="--", lw=1.5, label=f"{name}: {value:.2f}")


def _bpb_axis(ax, rungs: list) -> None:
    """A top axis in bits per byte: bpb is nats times one constant for a given val set."""
    known = [(n, b) for _, n, b in rungs if b is not None and n > 0]
    if not known:
        return
    k = known[0][1] / known[0][0]
    top = ax.secondary_xaxis("top", functions=(lambda n: n * k, lambda b: b / k))
    top.set_xlabel("bits per byte")


# ---------------------------------------------------------------------------
# Model sizes against a result


def sizes(
    points: Sequence[Mapping],
    x: str,
    y: str = "val",
    *,
    group: str | None = None,
    law: Any = None,
    vlines: Mapping[str, float] | None = None,
    ladder: Any = None,
    logx: bool = True,
    xlabel: str | None = None,
    ylabel: str = "final val loss",
    title: str | None = None,
    ax=None,
    figsize=(6.5, 4.5),
) -> Figure:
    """One dot per run at (point[x], point[y]), a line through the mean per x of each group.

    points: dicts, e.g. {"label": "2x128", "n_params": 393856, "val": 0.94, "sweep": "width"};
    runs sharing a label (seeds) are averaged into one labelled point. group: the key whose
    value gives each line its colour (None: one line). law: anything with .predict(x) (a
    slmlab.scaling.PowerLaw), drawn dashed over the points' x range. vlines: name -> x,
    reference lines (Chinchilla's 20 tokens per parameter, say).
    """
    if not points:
        raise ValueError("sizes: no points; pass dicts with the keys x and y name")
    missing = [k for k in (x, y) if any(k not in p for p in points)]
    if missing:
        raise KeyError(f"sizes: a point has no {missing[0]!r}; keys: {', '.join(sorted(points[0]))}")
    fig, ax = _axes(ax, figsize)
    groups: dict[Any, list[Mapping]] = {}
    for p in points:
        groups.setdefault(p.get(group) if group else None, []).append(p)
    for (name, ps), color in zip(groups.items(), _colors(len(groups)), strict=True):
        _draw_size_group(ax, ps, x, y, None if name is None else str(name), color)
    if law is not None:
        xs = np.geomspace(min(p[x] for p in points), max(p[x] for p in points), 50)
        ax.plot(xs, law.predict(xs), "--", color="0.3", lw=1.2, label=getattr(law, "label", "fit"))
    for (name, value), color in zip((vlines or {}).items(), itertools.cycle(_MARK_COLORS), strict=False):
        ax.axvline(value, color=color, ls="--", lw=1.2, label=name)
    _finish(ax, xlabel=xlabel or x.replace("_", " "), ylabel=ylabel, title=title, logx=logx)
    if logx:
        ax.xaxis.set_minor_formatter(NullFormatter())  # under 2 decades the minor labels overlap
    _draw_rungs(ax, ladder)
    return fig


def _draw_size_group(ax, ps: list[Mapping], x: str, y: str, name: str | None, color) -> None:
    """Every run faint, the mean per label solid and labelled, a line through them by x."""
    by_label: dict[str, list[Mapping]] = {}
    for p in ps:
        by_label.setdefault(str(p.get("label", p[x])), []).append(p)
    means = sorted(
        (float(np.mean([p[x] for p in v])), float(np.mean([p[y] for p in v])), k) for k, v in by_label.items()
    )
    ax.plot([p[x] for p in ps], [p[y] for p in ps], "o", color=color, alpha=0.35, ms=4)
    ax.plot([m[0] for m in means], [m[1] for m in means], "o-", color=color, lw=1.6, ms=6, label=name)
    for mx, my, label in means:
        ax.annotate(label, (mx, my), xytext=(4, 4), textcoords="offset points", fontsize=7, color=color)
