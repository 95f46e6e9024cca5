"""slmlab.widgets: the Dashboard driven headless, through the same object the buttons use; LivePlot.

Real smoke runs through slmlab.experiments; every wait has a timeout, and the run
that gets stopped is long enough (2000 steps) that it cannot end on its own first.
"""

import threading
import time

import ipywidgets as w
import pytest

from slmlab import plots, presets
from slmlab.config import ConfigError
from slmlab.history import History
from slmlab.widgets import Dashboard, LivePlot, slider_for

TIMEOUT = 120  # seconds: generous, for 2 busy cores


def smoke(**changes):
    return presets.preset("smoke", **{"max_steps": 10, "eval_interval": 5, **changes})


def wait_for(predicate, timeout=TIMEOUT):
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.05)


def test_start_refuses_a_second_run_and_stop_ends_with_a_checkpoint():
    dash = Dashboard(smoke(max_steps=2000, eval_interval=1000, seed=7))
    assert dash.start() is True
    n_threads = threading.active_count()
    assert dash.start() is False  # refused politely: a status line, no second thread
    assert "already going" in dash.status and threading.active_count() == n_threads
    wait_for(lambda: dash.control.trainer is not None and dash.control.trainer.step >= 1)
    assert dash.stop() is True and "stopping" in dash.status
    assert dash.wait(TIMEOUT) and not dash.running
    run = dash.last_run
    assert run.history.stop_reason == "stopped" and run.history.steps[-1]["step"] < 2000
    assert (run.dir / "ckpt.pt").is_file()
    assert "stopped" in dash.status and len(dash.runs) == 1
    assert dash.stop() is False and "nothing to stop" in dash.status
    assert not dash._train_btn.disabled and dash._stop_btn.disabled
    assert dash._live.last_error is None


def test_sliders_set_the_next_config_and_the_overlay_grows():
    earlier = History(evals=[{"kind": "eval", "step": 5, "val_loss": 3.5, "train_loss": 3.4}])
    dash = Dashboard(
        smoke(), sliders={"lr": [1e-3, 3e-3], "dropout": (0.0, 0.5, 0.1)}, runs=[earlier]
    )  # earlier runs seed the overlay
    assert isinstance(dash.sliders["lr"], w.SelectionSlider)
    assert isinstance(dash.sliders["dropout"], w.FloatSlider)
    assert dash.values() == {"lr": 3e-3, "dropout": 0.0}
    dash.set(lr=2e-3, dropout=0.1)  # 2e-3 is not on the slider: it is added
    assert dash.sliders["lr"].value == 2e-3 and dash.config().train.lr == 2e-3
    assert dash.config().model.dropout == pytest.approx(0.1)
    assert dash.start(block=True) is True
    assert dash.runs[-1].config.train.lr == 2e-3 and "done" in dash.status
    dash.set(lr=1e-3, max_steps=6)  # max_steps has no slider: kept aside for the next run
    dash.start(block=True)
    assert dash.runs[0] is earlier and [r.config.train.lr for r in dash.runs[1:]] == [2e-3, 1e-3]
    assert dash.runs[-1].config.train.max_steps == 6 and "max_steps=6" in dash.runs[-1].label
    assert dash._live.n_draws >= 2 and dash._live.last_error is None
    assert dash._live.last_png[:4] == b"\x89PNG"
    assert dash._image.value[:4] == b"\x89PNG"  # the figure reached the widget
    dash.start(block=True)  # the same values again: loaded from the cache, not duplicated
    assert "loaded from cache" in dash.status and len(dash.runs) == 3


def test_bad_values_are_refused_before_any_work():
    with pytest.raises(ConfigError, match="unknown config field"):
        Dashboard(smoke(), sliders={"learning_rate": [1e-3]})
    with pytest.raises(ConfigError, match="list of values"):
        slider_for("lr", 1e-3, 1e-3)
    dash = Dashboard(smoke(), sliders={"n_head": [1, 2, 3]})
    dash.set(n_head=3)  # 32 dims do not divide into 3 heads
    with pytest.raises(ConfigError, match="n_head"):
        dash.start()
    dash._train_btn.click()  # the button says it in the status line instead
    assert "cannot start" in dash.status and not dash.running


def test_a_failing_run_is_reported():
    def broken(cfg, *, label, callbacks):
        raise RuntimeError("disk full")

    dash = Dashboard(smoke(), runner=broken)
    with pytest.raises(RuntimeError, match="disk full"):
        dash.start(block=True)
    assert dash.status.startswith("failed: RuntimeError") and dash.runs == []
    assert isinstance(dash.widget, w.VBox)


def test_liveplot_throttles_and_skips_in_smoke(monkeypatch):
    import matplotlib.pyplot as plt

    got = []
    one_run = History(steps=[{"kind": "step", "step": s, "loss": 3.0 / s} for s in range(1, 20)])
    monkeypatch.setenv("SLMLAB_PROFILE", "smoke")
    live = LivePlot(lambda fig: plots.curves(one_run, ax=fig.add_subplot()), got.append)
    assert live.update() is False and live.n_draws == 0  # smoke: no intermediate redraws
    assert live.update(force=True) and got[0][:4] == b"\x89PNG"
    monkeypatch.setenv("SLMLAB_PROFILE", "cpu")
    live = LivePlot(lambda fig: fig.add_subplot().plot([1, 2]), got.append, min_interval=60)
    assert live.update() is True and live.update() is False  # the second is too soon
    assert live.n_draws == 1 and plt.get_fignums() == []


def test_a_background_run_stopped_before_its_trainer_exists_stops_at_once():
    from slmlab import experiments
    from slmlab.callbacks import Callback
    from slmlab.widgets import BackgroundRun

    class Attach(Callback):  # what the Dashboard's feed does first
        def on_train_start(self, trainer):
            control.attach(trainer)

    ended, gate = [], threading.Event()

    def runner(cfg, *, label, callbacks):  # the trainer is built only after Stop was pressed
        gate.wait(TIMEOUT)
        return experiments.run(cfg, label=label, callbacks=callbacks, progress=False)

    control = BackgroundRun(runner)
    assert control.start(smoke(max_steps=500, seed=11), "early stop", [Attach()], ended.append)
    assert control.start(smoke(), "second", [], ended.append) is False  # one run at a time
    assert control.stop() is True
    gate.set()
    assert control.wait(TIMEOUT) and not control.running and control.trainer is None
    (run,) = ended
    assert run.history.stop_reason == "stopped" and not run.history.steps  # not one update ran
    assert control.stop() is False and control.error is None


def test_live_redraws_turn_intermediate_redraws_on_in_smoke(monkeypatch):
    monkeypatch.setenv("SLMLAB_PROFILE", "smoke")
    dash = Dashboard(smoke())
    assert dash._live.update() is False  # smoke: only the end-of-run draw
    assert dash.live_redraws(every=0) is dash and dash._live.update() is True
    with pytest.raises(ValueError, match="seconds between redraws"):
        dash.live_redraws(every=-1)


def test_figure_is_a_static_picture_of_what_the_dashboard_shows():
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    earlier = History(evals=[{"kind": "eval", "step": 5, "val_loss": 3.5, "train_loss": 3.4}])
    dash = Dashboard(smoke(), runs=[earlier], ladder={"uniform": 4.0, "bigram": 3.0})
    before = dash.figure()  # before any run of its own: the earlier run, no error
    assert isinstance(before, Figure) and len(before.axes) == 2
    dash.start(block=True)
    fig = dash.figure()
    left, right = fig.axes
    assert len(left.get_lines()) >= 2  # the run's curves (train, val) besides the rungs
    assert len(right.get_legend().get_texts()) == len(dash.runs) == 2  # one val line per run
    assert fig.canvas.get_width_height() == (880, 320)  # the live figure's size, 11 x 4 in at 80 dpi
    assert plt.get_fignums() == []  # made without pyplot: nothing left open
