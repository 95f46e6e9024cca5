"""ipywidgets for training by hand: the `Dashboard`, and `LivePlot`, the figure it redraws.

A Dashboard shows sliders for the hyperparameters a notebook chooses, Train
and Stop buttons, a progress bar, a live figure (this run's curves with the
loss ladder, and the val loss of every earlier run) and a status line.
Training runs in a background thread, so the notebook stays usable; one run
at a time (a second Train is refused in the status line); Stop asks the
trainer to end after the current step, and the trainer writes a checkpoint.

Headless use (nbval, tests, notebooks run top to bottom) drives the same
object through methods, so CI runs the real code path:

    dash = Dashboard(preset("cpu"), sliders={"lr": [1e-4, 3e-4, 1e-3, 3e-3],
                                             "dropout": (0.0, 0.5, 0.1)}, ladder=lad)
    dash                      # in a notebook: the widget
    dash.set(lr=1e-3)         # moves the slider; any other config field works too
    dash.start(block=True)    # or start() + wait(); stop() presses Stop
    dash.runs, dash.status    # finished runs (for overlays), the status line
    dash.figure()             # a static Figure of what it shows now, for saved copies

Runs go through slmlab.experiments.run (cached by config; a stopped run
resumes when started again with the same values). The thread, the trainer and
Stop are `BackgroundRun`'s (dash.control): the part without widgets, which tests
and other front ends can drive directly. `LivePlot` redraws a figure
in place at most every few seconds (never in the smoke profile, so CI stays
fast). The figures are slmlab.plots'; the loop is slmlab.train's; this module
only wires them up.
"""

from __future__ import annotations

import html
import math
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import ipywidgets as w
from matplotlib.figure import Figure

from . import experiments, plots
from .callbacks import Callback
from .config import Config, ConfigError, validate
from .history import History, best_text, run_label
from .presets import profile

__all__ = ["BackgroundRun", "Dashboard", "LivePlot", "slider_for", "colab_widgets"]

COLAB_FALLBACK = (
    "note: this Colab runtime cannot show the Dashboard's widgets (its custom widget manager "
    "did not start): drive it with dash.set(lr=...), dash.start(block=True), then "
    "display(dash.figure())"
)


def colab_widgets() -> bool:
    """True where ipywidgets 8 can render: anywhere but Colab, and on Colab once its custom widget
    manager is on (Colab's own manager renders only its bundled ipywidgets 7); False when that fails."""
    if "google.colab" not in sys.modules:
        return True
    try:
        from google.colab import output

        output.enable_custom_widget_manager()
        return True
    except Exception:  # an older or changed Colab: the fallback, not a traceback
        return False


# ---------------------------------------------------------------------------
# Sliders from short specs


def _option_text(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def slider_for(field: str, spec: Any, current: Any) -> w.ValueWidget:
    """A widget for one config field.

    spec: a list of values -> SelectionSlider (numbers, e.g. a log-spaced lr
    grid) or Dropdown (anything else); a (min, max, step) tuple -> IntSlider or
    FloatSlider; a ready ipywidgets widget -> used as is. The config's current
    value is always selectable, so the first run reproduces the base config.
    """
    style, layout = {"description_width": "110px"}, w.Layout(width="420px")
    if isinstance(spec, w.ValueWidget):
        return spec
    if isinstance(spec, list) and spec:
        options = _with_value(spec, current)
        kind = w.SelectionSlider if all(_is_number(v) for v in options) else w.Dropdown
        return kind(
            options=[(_option_text(v), v) for v in options],
            value=current,
            description=field,
            style=style,
            layout=layout,
            continuous_update=False,
        )
    if isinstance(spec, tuple) and len(spec) == 3 and all(_is_number(v) for v in spec):
        lo, hi, step = spec
        kind = w.IntSlider if all(isinstance(v, int) for v in (*spec, current)) else w.FloatSlider
        extra = {} if kind is w.IntSlider else {"readout_format": ".3g"}
        return kind(
            min=min(lo, current),
            max=max(hi, current),
            step=step,
            value=current,
            description=field,
            style=style,
            layout=layout,
            continuous_update=False,
            **extra,
        )
    raise ConfigError(
        f"sliders[{field!r}]={spec!r}: give a list of values, e.g. [1e-4, 3e-4, 1e-3], "
        f"or a (min, max, step) tuple, e.g. (0.0, 0.5, 0.1)"
    )


def _with_value(options: Sequence, value: Any) -> list:
    """The options plus `value` (sorted when all are numbers)."""
    out = list(options) if value in options else [*options, value]
    return sorted(out) if all(_is_number(v) for v in out) else out


def _set_widget(widget: w.ValueWidget, value: Any) -> None:
    """Move a widget to `value`, adding the option / widening the range when needed."""
    if isinstance(widget, (w.SelectionSlider, w.Dropdown)):
        values = [o[1] if isinstance(o, tuple) else o for o in widget.options]
        if value not in values:
            widget.options = [(_option_text(v), v) for v in _with_value(values, value)]
    elif isinstance(widget, (w.IntSlider, w.FloatSlider)):
        widget.max = max(widget.max, value)
        widget.min = min(widget.min, value)
    widget.value = value


def _value_of(widget: w.ValueWidget) -> Any:
    v = widget.value
    return round(v, 12) if isinstance(v, float) else v  # FloatSlider's 0.30000000000000004


# ---------------------------------------------------------------------------
# The callback that feeds the dashboard from the training thread


class _Feed(Callback):
    def __init__(self, dash: Dashboard):
        self.dash, self.trained = dash, False

    def on_train_start(self, trainer) -> None:
        self.trained = True  # False at the end: the run came from the cache
        self.dash._attach(trainer)

    def on_log(self, trainer, records: list[dict]) -> None:
        self.dash._on_step(trainer, records[-1])

    def on_eval(self, trainer, record: dict) -> None:
        self.dash._live.update()


def _run_with_experiments(cfg: Config, *, label: str, callbacks: Sequence) -> experiments.Run:
    return experiments.run(cfg, label=label, callbacks=callbacks, progress=False)


# ---------------------------------------------------------------------------
# One run in the background: the part of the dashboard that is not widgets


class BackgroundRun:
    """One training run at a time on a background thread, which can be stopped.

    runner(cfg, label=, callbacks=) trains and returns a Run. The callbacks given to
    start() must call attach(trainer) in on_train_start (the Dashboard's feed does), so
    that stop() reaches the trainer. `trainer` is the Trainer while it trains (None
    before it exists and after); `error` is what made the last run fail.
    """

    def __init__(self, runner: Callable):
        self._runner = runner
        self._thread: threading.Thread | None = None
        self._stop_asked = False
        self.trainer = None
        self.error: BaseException | None = None
        self.label = ""

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, cfg: Config, label: str, callbacks: Sequence, on_end: Callable) -> bool:
        """Train cfg in a new thread; on_end(run or None) runs in it when the run ends.
        False when a run is already going (the caller says so)."""
        if self.running:
            return False
        self.label, self._stop_asked, self.error, self.trainer = label, False, None, None
        self._thread = threading.Thread(
            target=self._work, args=(cfg, label, callbacks, on_end), daemon=True, name="slmlab-dashboard"
        )
        self._thread.start()
        return True

    def attach(self, trainer) -> None:
        """The run's trainer exists: a Stop pressed before this reaches it now."""
        self.trainer = trainer
        if self._stop_asked:
            trainer.request_stop("stopped")

    def stop(self) -> bool:
        """Ask the run to end after its current step (it keeps a checkpoint); False when idle."""
        if not self.running:
            return False
        self._stop_asked = True
        trainer = self.trainer
        if trainer is not None:
            trainer.request_stop("stopped")
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the run to end (at most `timeout` seconds); True when none is going.
        An interrupt (Ctrl-C, the notebook's stop button) presses Stop and waits."""
        t = self._thread
        if t is None:
            return True
        try:
            t.join(timeout)
        except KeyboardInterrupt:
            self.stop()
            t.join()
        return not t.is_alive()

    def _work(self, cfg: Config, label: str, callbacks: Sequence, on_end: Callable) -> None:
        run = None
        try:
            run = self._runner(cfg, label=label, callbacks=callbacks)
        except Exception as e:  # the caller shows it; start(block=True) of the Dashboard raises it
            self.error = e
        finally:
            self.trainer = None
            on_end(run)


# ---------------------------------------------------------------------------
# The dashboard


class Dashboard:
    """Sliders, Train / Stop, live curves with the ladder, and an overlay of runs.

    base_cfg: the config every run starts from. sliders: field -> spec (see
    `slider_for`). ladder: drawn under the curves (slmlab.diagnostics). runs:
    earlier runs to overlay. x / logy: the curves' axis. redraw_every: seconds
    between live redraws (none in the smoke profile; one at the end of a run).
    runner: callable(cfg, *, label, callbacks) -> Run; default
    slmlab.experiments.run (cached by config).
    """

    def __init__(
        self,
        base_cfg: Config,
        sliders: Mapping[str, Any] | None = None,
        *,
        ladder: Any = None,
        runs: Sequence = (),
        x: str = "step",
        logy: bool = False,
        redraw_every: float = 2.0,
        runner: Callable | None = None,
        title: str | None = None,
    ):
        self.base_cfg = validate(base_cfg)
        self.ladder, self.x, self.logy = ladder, x, logy
        self.runs: list = list(runs)  # finished runs, oldest first; the overlay draws them all
        self.overrides: dict[str, Any] = {}  # fields set with set() that have no slider
        self.control = BackgroundRun(runner or _run_with_experiments)  # the thread, the trainer, Stop
        self._lock = threading.Lock()
        self.sliders = {f: slider_for(f, spec, base_cfg.get(f)) for f, spec in (sliders or {}).items()}
        self._build(title or f"Train {base_cfg.name}")
        self._live = LivePlot(self._draw, self._image, min_interval=redraw_every)
        self._status_text = ""
        self._set_status("ready: pick values and press Train")

    # --- widgets

    def _build(self, title: str) -> None:
        self._train_btn = w.Button(description="Train", button_style="success", icon="play")
        self._stop_btn = w.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self._train_btn.on_click(lambda _: self._click_train())
        self._stop_btn.on_click(lambda _: self.stop())
        self._progress = w.IntProgress(
            min=0, max=self.base_cfg.train.max_steps, value=0, layout=w.Layout(width="260px")
        )
        self._progress_text = w.Label("")
        self._status_label = w.HTML()
        self._image = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.widget = w.VBox(
            [
                w.HTML(f"<b>{title}</b>"),
                *self.sliders.values(),
                w.HBox([self._train_btn, self._stop_btn, self._progress, self._progress_text]),
                self._status_label,
                self._image,
            ]
        )

    def _ipython_display_(self) -> None:
        from IPython.display import display

        if colab_widgets():
            display(self.widget)
            return
        print(COLAB_FALLBACK)  # the same object, driven by its methods; its figure instead of the widget
        display(self.figure())

    def _click_train(self) -> None:
        try:
            self.start()
        except ConfigError as e:  # a bad slider combination: say it, do not raise into the UI
            self._set_status(f"cannot start: {e}")

    def _set_status(self, text: str) -> None:
        self._status_text = text
        self._status_label.value = f"<span style='font-family:monospace'>{_html(text)}</span>"

    @property
    def status(self) -> str:
        """The status line: ready, training ..., refused, stopping, done ..., failed ..."""
        return self._status_text

    # --- what the next run will be

    def values(self) -> dict[str, Any]:
        """The slider values plus fields set with set(): the changes to base_cfg."""
        return {**{f: _value_of(s) for f, s in self.sliders.items()}, **self.overrides}

    def config(self) -> Config:
        """The config the next run trains (ConfigError when the values do not fit)."""
        return validate(self.base_cfg.replace(**self.values()))

    def label(self) -> str:
        """The next run's label: slider values and set() fields, e.g. 'lr=0.001, dropout=0.1'."""
        return run_label(self.values()) or self.base_cfg.name

    def set(self, **changes: Any) -> Dashboard:
        """Change the next run: slider fields move their slider, others are kept aside."""
        for key, value in changes.items():
            self.base_cfg.get(key)  # ConfigError for an unknown field, with the close names
            if key in self.sliders:
                _set_widget(self.sliders[key], value)
            else:
                self.overrides[key] = value
        return self

    def live_redraws(self, every: float = 2.0) -> Dashboard:
        """Redraw the live figure at most every `every` seconds while a run trains, in any
        profile (the smoke profile otherwise draws it only when a run ends)."""
        if every < 0:
            raise ValueError(f"every={every}: give the seconds between redraws, 0 or more")
        self._live.skip_redraws, self._live.min_interval = False, float(every)
        return self

    # --- run control

    @property
    def running(self) -> bool:
        return self.control.running

    @property
    def error(self) -> BaseException | None:
        """What made the last run fail, if it failed."""
        return self.control.error

    @property
    def last_run(self):
        return self.runs[-1] if self.runs else None

    def start(self, block: bool = False) -> bool:
        """Start a run in a background thread; False (and a status line) when one is going.

        block=True waits for the end and raises what made the run fail, if anything.
        """
        with self._lock:
            if self.running:
                self._set_status(
                    f"a run is already going ({self.control.label}): wait for it to end, or press Stop first"
                )
                return False
            cfg, label, feed = self.config(), self.label(), _Feed(self)
            self._buttons(running=True)
            self._progress.max, self._progress.value = cfg.train.max_steps, 0
            self._set_status(f"training {label} ...")
            self.control.start(cfg, label, [feed], on_end=lambda run: self._ended(run, feed))
        if block:
            self.wait()
            if self.error is not None:
                raise self.error
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the run to end (at most `timeout` seconds); True when none is going.

        An interrupt (Ctrl-C, the notebook's stop button) presses Stop and waits.
        """
        return self.control.wait(timeout)

    def stop(self) -> bool:
        """Ask the run to end after its current step (it keeps a checkpoint); False when idle."""
        if not self.control.stop():
            self._set_status("nothing to stop: no run is going")
            return False
        self._set_status(f"stopping {self.control.label} after this step ...")
        return True

    # --- what the background run reports

    def _ended(self, run, feed: _Feed) -> None:
        self._buttons(running=False)  # before the status line: "done" means Train can be pressed
        if run is None:
            e = self.error
            self._set_status(f"failed: {type(e).__name__}: {e}")
        else:
            self._keep(run)
            self._set_status(_summary(run, trained=feed.trained))
        self._live.update(force=True)

    def _keep(self, run) -> None:
        """Add a finished run; a resumed run replaces its earlier, stopped self."""
        d = getattr(run, "dir", None)
        self.runs = [r for r in self.runs if d is None or getattr(r, "dir", None) != d]
        self.runs.append(run)

    def _attach(self, trainer) -> None:
        self.control.attach(trainer)
        self._progress.max, self._progress.value = trainer.cfg.train.max_steps, trainer.step

    def _on_step(self, trainer, rec: dict) -> None:
        self._progress.value = rec["step"]
        speed = rec["tokens"] / rec["seconds"] if rec.get("seconds") else 0.0
        self._progress_text.value = (
            f"step {rec['step']}/{trainer.cfg.train.max_steps} · loss {rec['loss']:.3f} · {speed:,.0f} tok/s"
        )
        self._live.update()

    def _buttons(self, running: bool) -> None:
        self._train_btn.disabled, self._stop_btn.disabled = running, not running

    # --- the live figure

    def figure(self) -> Figure:
        """A static picture of what the dashboard shows now: the current (or last) run's
        curves with the ladder, and the val loss of every run. A saved notebook keeps a
        widget only as a line of text (VBox(...)), so a notebook shows this below it:
        `display(dash.figure())`."""
        return self._live.figure()

    def _draw(self, fig) -> None:
        """Left: this run (or the last one) with the ladder. Right: val loss of every run."""
        left, right = fig.subplots(1, 2)
        trainer = self.control.trainer
        live = trainer.history if trainer is not None else None
        shown = live if live is not None else (self.runs[-1] if self.runs else History())
        name = self.control.label if live is not None else getattr(shown, "label", "")
        wrap = lambda text: textwrap.fill(text, 45)  # noqa: E731  a run's label lists every setting it changed
        plots.curves(shown, self.ladder, ax=left, x=self.x, logy=self.logy, title=wrap(name) if name else None)
        runs = list(self.runs) + ([live] if live is not None else [])
        plots.overlay(
            runs,
            "val_loss",
            ax=right,
            x=self.x,
            logy=self.logy,
            ladder=self.ladder,
            label_by=lambda r: wrap(f"now: {self.control.label}" if r is live else r.label),
            title="val loss, every run",
        )


def _summary(run, trained: bool) -> str:
    h = run.history
    how = "done" if trained else "loaded from cache"
    end = f"stopped ({h.stop_reason})" if h.stop_reason else "ran to max_steps"
    return f"{how}: {run.label} · {best_text(h)} · {end}"


def _html(text: str) -> str:
    return html.escape(text)


# ---------------------------------------------------------------------------
# The live figure: redrawn in place while a run trains


class LivePlot:
    """Redraw a figure in place while something runs (d2l's Animator, throttled).

    draw(fig) fills a fresh Figure each time (it may call curves(..., ax=...)).
    update() redraws at most once every `min_interval` seconds and sends a PNG
    to `target`: an object with `.value` (ipywidgets.Image), a callable taking
    the PNG bytes, or None (an IPython display handle, updated in place).
    In the smoke profile only forced updates draw, so CI stays fast. Safe to
    call from a training thread: figures are built without pyplot, a draw
    already under way makes a concurrent update a no-op, and a failing draw
    warns once (kept in `last_error`) instead of ending the run.
    """

    def __init__(
        self,
        draw: Callable[[Figure], Any],
        target: Any = None,
        *,
        min_interval: float = 2.0,
        figsize=(11, 4),
        dpi: int = 80,
    ):
        self.draw, self.target = draw, target
        self.min_interval, self.figsize, self.dpi = min_interval, figsize, dpi
        self.skip_redraws = profile() == "smoke"
        self.n_draws = 0  # how many times the figure was drawn
        self.last_png: bytes | None = None
        self.last_error: Exception | None = None  # the last draw's failure, if any
        self._last = -math.inf
        self._cost = 0.0  # seconds the last draw took
        self._lock = threading.Lock()
        self._handle = None

    def update(self, force: bool = False) -> bool:
        """Redraw if due (or forced); True when a figure was drawn.

        Due: `min_interval` seconds since the last draw, and at least 4x what
        that draw cost, so redraws never take more than ~20% of the run.
        """
        wait = max(self.min_interval, 4 * self._cost)
        due = time.monotonic() - self._last >= wait and not self.skip_redraws
        if not (force or due) or not self._lock.acquire(blocking=force):
            return False
        try:
            t0 = time.monotonic()
            self.last_png = self.render()
            self._send(self.last_png)
            self._last, self.n_draws = time.monotonic(), self.n_draws + 1
            self._cost = self._last - t0
        except Exception as e:  # a plot must never end a training run: warn once, keep going
            if self.last_error is None:
                warnings.warn(f"live plot failed: {type(e).__name__}: {e}", stacklevel=2)
            self.last_error = e
            return False
        finally:
            self._lock.release()
        return True

    def figure(self) -> Figure:
        """What the next redraw would show, as a Figure (Agg, no pyplot: works in any thread)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        fig = Figure(figsize=self.figsize, dpi=self.dpi, layout="constrained")
        FigureCanvasAgg(fig)
        self.draw(fig)
        return fig

    def render(self) -> bytes:
        """The figure as PNG bytes."""
        import io

        buf = io.BytesIO()
        self.figure().savefig(buf, format="png")
        return buf.getvalue()

    def _send(self, png: bytes) -> None:
        if self.target is None:
            self._display(png)
        elif hasattr(self.target, "value"):
            self.target.value = png
        else:
            self.target(png)

    def _display(self, png: bytes) -> None:
        try:
            from IPython.display import Image, display
        except ImportError:  # plain Python: nowhere to show it; last_png keeps it
            return
        if self._handle is None:
            self._handle = display(Image(png), display_id=True)
        else:
            self._handle.update(Image(png))
