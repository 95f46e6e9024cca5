"""slmlab.history: the record, its file, the one series reader, metrics and the shared texts."""

import math

import numpy as np
import pytest

from slmlab.history import History, as_history, best_text, metric, run_label, smooth


def made_up():
    steps = [
        {
            "kind": "step",
            "step": s,
            "loss": 5.0 - 0.1 * s,
            "lr": 1e-3,
            "grad_norm": 1.0,
            "tokens": 100 * s,
            "seconds": 0.5 * s,
        }
        for s in range(1, 11)
    ]
    evals = [
        {"kind": "eval", "step": 5, "train_loss": 4.4, "val_loss": 4.6, "wnorm": 3.0},
        {"kind": "eval", "step": 10, "train_loss": 3.9, "val_loss": 4.7, "wnorm": 2.0},
    ]
    return History(steps, evals, {"name": "cfg-name", "train": {"micro_batch_size": 2}}, {"label": "lr=0.001"}, None)


def test_series_metrics_and_texts():
    h = made_up()
    x, v = h.series("val_loss")
    assert x.tolist() == [5, 10] and v.tolist() == [4.6, 4.7]
    assert h.series("loss", x="tokens")[0][-1] == 1000 and h.series("lr", x="seconds")[0][0] == 0.5
    assert h.best_val() == (5, 4.6) and h.final_val() == 4.7
    assert metric(h, "gap") == pytest.approx(0.8) and metric(h, "final_train") == 3.9
    assert metric(h, "wnorm") == 2.0  # a callback's eval field: its last value
    assert metric(h, lambda hh: len(hh.steps)) == 10
    with pytest.raises(ValueError, match="metric='median'"):
        metric(h, "median")
    assert math.isnan(metric(History(), "best_val"))
    assert best_text(h) == "best val 4.600 at step 5" and best_text(History()) == "no eval yet"
    assert run_label({"lr": 1e-3, "n_layer": 2}) == "lr=0.001, n_layer=2"
    assert h.label == "lr=0.001" and History(config={"name": "x"}).label == "x"


def test_file_round_trip_and_as_history(tmp_path):
    h = made_up()
    h.save(tmp_path / "history.jsonl")
    again = as_history(tmp_path)  # a run folder
    assert (again.steps, again.evals, again.meta) == (h.steps, h.evals, h.meta)
    assert as_history(h) is h
    with pytest.raises(TypeError, match="History"):
        as_history({"steps": [], "evals": []})  # plain dicts are not histories
    with pytest.raises(FileNotFoundError, match="no history"):
        History.load(tmp_path / "nowhere")


def test_smooth_is_bias_corrected_and_keeps_nan():
    out = smooth([2.0, 2.0, float("nan"), 2.0])
    assert out[0] == pytest.approx(2.0) and math.isnan(out[2]) and out[3] == pytest.approx(2.0)
    ramp = smooth(np.arange(10.0), beta=0.5)
    assert np.all(ramp < np.arange(10.0) + 1e-12) and ramp[-1] > 8  # lags behind, catches up
