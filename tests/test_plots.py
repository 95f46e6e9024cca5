"""slmlab.plots: every figure renders (Agg), from real tiny runs and from made-up records."""

import io
import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from slmlab import plots, presets
from slmlab.history import History

# --- helpers


def render(fig) -> bytes:
    """The figure as PNG: proves it draws, not only that it was built."""
    assert isinstance(fig, Figure)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.getvalue()[:4] == b"\x89PNG"
    return buf.getvalue()


def texts(fig) -> str:
    """Every text on the figure: titles, labels, legend entries, annotations."""
    return " ".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))


def fake_history(lr=1e-3, seed=0, n=60, dropout=0.0, nan_at=None):
    """A made-up History: loss falls like exp(-lr * step), seeds add noise."""
    rng = np.random.default_rng(seed)
    curve = lambda s: 8 * math.exp(-s * lr * 30) + 2 + 0.05 * seed
    steps = [
        {
            "kind": "step",
            "step": s,
            "loss": curve(s) + 0.1 * rng.standard_normal(),
            "lr": lr,
            "grad_norm": 1.0,
            "tokens": s * 256,
            "seconds": 0.1 * s,
        }
        for s in range(1, n + 1)
    ]
    if nan_at:
        steps[nan_at]["loss"] = float("nan")
    evals = [
        {
            "kind": "eval",
            "step": s,
            "train_loss": curve(s),
            "val_loss": curve(s) + 0.3,
            "tokens": s * 256,
            "seconds": 0.1 * s,
        }
        for s in range(0, n + 1, 10)
    ]
    cfg = {
        "name": "fake",
        "model": {"block_size": 32, "dropout": dropout},
        "train": {"lr": lr, "seed": seed, "micro_batch_size": 8, "grad_accum_steps": 1},
        "data": {"tokenizer": "char"},
    }
    return History(steps, evals, cfg, {}, "nan" if nan_at else None)


LADDER = {"uniform": math.log(65), "unigram": 3.3, "bigram": 2.6, "entropy floor": 1.9}


@pytest.fixture(scope="module")
def real_runs():
    """Two smoke runs (a few seconds each) through slmlab.experiments."""
    from slmlab import experiments

    base = presets.preset("smoke", max_steps=20, eval_interval=10, log_interval=5)
    return [experiments.run(base.replace(lr=lr), label=f"lr={lr:g}", progress=False) for lr in (3e-3, 1e-3)]


@pytest.fixture(scope="module")
def real_ladder(real_runs):
    from slmlab import data, diagnostics

    return diagnostics.ladder(data.prepare(real_runs[0].config.data))


# --- from real runs


def test_curves_of_a_real_run_with_its_ladder(real_runs, real_ladder):
    fig = plots.curves(real_runs[0], real_ladder)
    render(fig)
    assert "uniform" in texts(fig) and "val" in texts(fig)
    assert plt.get_fignums() == []  # closed in pyplot: shown once, never leaked


def test_curves_overlay_isolation_of_real_runs(real_runs, real_ladder, tmp_path):
    render(plots.curves(real_runs, real_ladder, x="tokens", logy=True))
    render(plots.curves(real_runs[0].dir))  # a run folder works too
    fig = plots.overlay(real_runs, "val_loss", label_by="lr", ladder=real_ladder)
    assert "lr=0.003" in texts(fig)
    render(fig)
    render(plots.overlay(real_runs, "grad_norm"))
    lines = lambda f: f.axes[0].get_lines()[: len(real_runs)]  # noqa: E731 - the runs' lines, not the rungs
    assert {line.get_linestyle() for line in lines(fig)} == {"-"}
    dashed = plots.overlay(real_runs, "val_loss", ladder=real_ladder, dashes=True)
    assert len({line.get_linestyle() for line in lines(dashed)}) == min(len(real_runs), 4)  # none hides another
    assert all(line.get_marker() == "o" for line in lines(dashed))  # evals keep their dots
    fig = plots.overlay(real_runs[:1], "val_loss", ladder=real_ladder, bits_per_byte=True)
    h = real_runs[0].history
    want = np.array([e["val_loss"] for e in h.evals]) / np.log(2) / h.meta["val_bytes_per_token"]
    assert np.allclose(fig.axes[0].get_lines()[0].get_ydata(), want)  # each run in its own bytes
    assert "bits per byte" in fig.axes[0].get_ylabel()
    render(plots.isolation(real_runs, "lr", "final_val"))
    render(plots.ladder(real_ladder, marks={"this run": real_runs[0].history.final_val()}))


def test_schedule_from_config_and_diagnostics():
    from slmlab import diagnostics

    render(plots.schedule(diagnostics.schedule(presets.preset("smoke"))))
    fig = plots.schedule(
        {"student": diagnostics.student_schedule(max_iters=640, warmup=64)}, marks={"lr": 1e-4, "min_lr": 5e-4}
    )
    assert "per micro-step" in texts(fig)
    render(fig)


def test_training_stats_plots_from_a_real_run():
    from slmlab import diagnostics, train

    stats = diagnostics.TrainingStats(every=5)
    train.train(presets.preset("smoke", max_steps=10, eval_interval=10), callbacks=[stats], progress=False)
    fig = plots.stats_over_time(stats.updates, "log10_ratio")
    assert any(np.allclose(line.get_ydata(), plots.UPDATE_RATIO_GUIDE) for line in fig.axes[0].get_lines())
    render(fig)
    render(plots.stats_over_time(stats.attention, "entropy"))  # one line per layer and head
    render(plots.heatmap(stats.activations, key="std"))
    render(plots.heatmap(stats.updates, key="log10_ratio"))


# --- from made-up records


def test_curves_single_several_and_empty():
    fig = plots.curves(fake_history(), LADDER, title="t")
    assert "entropy floor 1.90" in texts(fig)
    render(fig)
    fig = plots.curves({"a": fake_history(1e-3), "b": fake_history(3e-3)}, x="tokens", logy=True)
    assert "a val" in texts(fig) and "b train (smoothed)" in texts(fig)
    render(fig)
    assert "no steps yet" in texts(plots.curves(History()))
    render(plots.curves(fake_history(nan_at=30)))


def test_curves_draws_into_a_given_ax():
    fig, ax = plt.subplots()
    try:
        assert plots.curves(fake_history(), ax=ax) is fig
    finally:
        plt.close(fig)


def test_bad_inputs_say_what_to_pass():
    with pytest.raises(TypeError, match="History"):
        plots.curves(42)
    with pytest.raises(KeyError, match="no config field 'warmup'"):
        plots.overlay([fake_history()], label_by="warmup")
    with pytest.raises(ValueError, match="metric"):
        plots.isolation([fake_history()], "lr", metric="median")
    with pytest.raises(ValueError, match="2-D"):
        plots.heatmap(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="keys seen"):
        plots.stats_over_time([{"step": 1, "name": "a", "x": 1.0}], "y")


def test_isolation_seeds_become_error_bars_and_log_x():
    runs = [fake_history(lr, seed) for lr in (1e-4, 1e-3, 1e-2) for seed in (0, 1, 2)]
    fig = plots.isolation(runs, "lr", "best_val")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"  # the values span 100x
    assert "mean ± std over seeds" in texts(fig)
    render(fig)
    fig = plots.isolation([fake_history(dropout=d) for d in (0.0, 0.1, 0.2)], "dropout", "gap")
    assert fig.axes[0].get_xscale() == "linear"
    render(fig)
    render(plots.isolation([fake_history(), fake_history()], "tokenizer"))  # categories


def test_schedule_arrays_and_pairs():
    micro = np.linspace(1e-4, 5e-4, 64)
    fig = plots.schedule({"per micro-step": (np.arange(64) / 32, micro), "fixed": [1e-3, 5e-4]}, logy=True)
    assert fig.axes[0].get_yscale() == "log"
    render(fig)
    render(plots.schedule(torch.linspace(0, 1e-3, 10)))


def test_stats_histograms_heatmap_synthetic():
    recs = [
        {"step": s, "layer": layer, "head": h, "entropy": 1.0 + 0.1 * h}
        for s in (0, 10)
        for layer in range(2)
        for h in range(2)
    ]
    fig = plots.stats_over_time(recs, "entropy")
    assert len(fig.axes[0].get_lines()) == 4  # one per (layer, head)
    render(fig)
    raw = [{"step": s, "name": "w", "update_ratio": 1e-3 * (s + 1)} for s in range(5)]
    assert plots.stats_over_time(raw, "update_ratio").axes[0].get_yscale() == "log"
    fig = plots.histograms({"a": torch.randn(500), "b": np.array([1.0, np.nan, 2.0])}, cols=2)
    assert "1 nan/inf" in texts(fig)
    render(fig)
    render(plots.histograms(torch.randn(100)))
    render(plots.heatmap(torch.rand(2, 4, 4)[0], xlabels=list("abcd"), title="attention"))


def test_ladder_figure_with_bits_per_byte_and_marks():
    from slmlab.diagnostics import Ladder, Rung

    rungs = [Rung("uniform", 4.17, 6.02, ""), Rung("unigram", 3.3, 4.76, ""), Rung("floor", None, None, "")]
    fig = plots.ladder(Ladder(rungs, 65, 1000, 1000, {}), marks=9.0)
    assert "bits per byte" in texts(fig) and "you: 9.00" in texts(fig)
    render(fig)
    with pytest.raises(ValueError, match="no rung"):
        plots.ladder({})
