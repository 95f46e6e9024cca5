"""Notebook 03's Dashboard, clicked in JupyterLab in a real (headless) Chromium.

A copy of notebooks/03_train_and_sample.ipynb (the course's file is never opened, so
JupyterLab cannot save over it) gets two cells at its end: one makes the dashboard's
next run long enough to press Stop in and turns its live redraws on (the smoke profile
skips them), one presses Train from code while a run goes. The test runs every cell
above those two, moves the lr SelectionSlider with the keyboard, clicks Train, waits
for the live curve, checks that a second start is refused (the Train button is
disabled, and Dashboard.start says why in the status line), clicks Stop, checks the
run folder on disk, and restarts the kernel. A second test opens the saved notebook
trusted: its widgets are saved as text only (slmlab.notebooks.normalize), so no "model not
found" appears. Each stage is a screenshot in build/browser/
(conftest.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent

NOTEBOOK = "03_train_and_sample"
LONG_RUN = 4000  # updates: far more than the test waits for, so Stop ends the run
SETUP_CELL = f"""\
# browser test only: a run long enough to press Stop in, its live figure redrawn
dash.live_redraws(every=0.5).set(max_steps={LONG_RUN})
print("browser test: ready")"""
REFUSE_CELL = """\
second = dash.start()
print(f"second start: {second} | {dash.status}")"""

# JavaScript run in the page; window.jupyterapp is JupyterLab (--LabApp.expose_app_in_browser)
NB = "window.jupyterapp.shell.currentWidget"
KERNEL_IDLE = "() => window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'"
RUN_STATE = f"""() => {{
  const cells = {NB}.content.widgets.filter(c => c.model.type === 'code');
  const outs = cells.flatMap(c => c.model.outputs.toJSON());
  const err = outs.find(o => o.output_type === 'error');
  const text = outs.map(o => [].concat(o.text || '').join('')).join('');
  return {{error: err ? err.ename + ': ' + err.evalue : null, ready: text.includes('browser test: ready')}};
}}"""

# The end of a run redraws the figure once more, after the status line says done: wait for a
# picture newer than the one shown at Stop, and then 2 s with no newer one.
LAST_REDRAW = """([img, old]) => {
  const seen = window.__lastSrc || (window.__lastSrc = {src: img.src, t: Date.now()});
  if (img.src !== seen.src) { seen.src = img.src; seen.t = Date.now(); }
  return img.src !== old && Date.now() - seen.t > 2000;
}"""


@pytest.fixture
def notebook(lab):
    """The copy of notebook 03, with the test's two cells at the end."""
    nb = nbformat.read(REPO / "notebooks" / f"{NOTEBOOK}.ipynb", as_version=4)
    nb.cells += [nbformat.v4.new_code_cell(SETUP_CELL), nbformat.v4.new_code_cell(REFUSE_CELL)]
    name = f"{NOTEBOOK}_browser.ipynb"
    nbformat.write(nb, lab.root / name)
    return name, len(nb.cells)


def _shot(page, out_dir, name: str, target=None) -> None:
    (target or page).screenshot(path=str(out_dir / f"{name}.png"))


def _run_all_above_last(page, n_cells: int, timeout_s: float = 240) -> None:
    """Run every cell above the last one; fail with the first error a cell raised."""
    page.evaluate(
        f"() => {{ {NB}.content.activeCellIndex = {n_cells - 1}; "
        f"window.jupyterapp.commands.execute('notebook:run-all-above'); }}"
    )
    handle = page.wait_for_function(
        f"() => {{ const s = ({RUN_STATE})(); return (s.error || s.ready) ? s : null; }}",
        timeout=timeout_s * 1000,
        polling=500,
    )
    state = handle.json_value()
    assert state["error"] is None, f"a cell of {NOTEBOOK} failed in JupyterLab: {state['error']}"


def _run_last_cell(page, n_cells: int) -> None:
    """Run the last cell (clicks in a widget make its own cell the active one)."""
    page.evaluate(
        f"() => {{ {NB}.content.activeCellIndex = {n_cells - 1}; "
        f"window.jupyterapp.commands.execute('notebook:run-cell'); }}"
    )


def _slider(dash, field: str):
    return dash.locator(".widget-slider").filter(has=dash.page.locator(".widget-label", has_text=field))


def _run_folder(runs, lr: float):
    """The run folder whose config trained `lr` for LONG_RUN updates."""
    for cfg_file in runs.rglob("config.json"):
        cfg = json.loads(cfg_file.read_text())
        train = cfg.get("train", {})
        if train.get("max_steps") == LONG_RUN and train.get("lr") == pytest.approx(lr):
            return cfg_file.parent
    return None


def _open(page, lab, name: str) -> None:
    """Open a notebook with a fresh workspace and wait for its kernel to be idle."""
    page.goto(lab.open_url(name), wait_until="domcontentloaded")
    page.wait_for_selector("#jupyterlab-splash", state="detached")
    page.wait_for_function(KERNEL_IDLE, timeout=120_000, polling=250)
    page.wait_for_selector(".jp-Notebook .jp-Cell")


def _saved_dashboard(page):
    """The output area of notebook 03's `dash` cell."""
    return page.locator(".jp-CodeCell").filter(has_text="dash = Dashboard(").locator(".jp-OutputArea")


def _move(page, slider) -> str:
    """Move a SelectionSlider one option with the keyboard (its readout is not editable)."""
    readout = slider.locator(".widget-readout")
    before = readout.inner_text()
    slider.locator(".noUi-handle").focus()
    for key in ("ArrowRight", "ArrowLeft"):  # left when it already stood at the last option
        page.keyboard.press(key)
        if readout.inner_text() != before:
            return readout.inner_text()
    raise AssertionError(f"the slider did not move from {before}")


def test_dashboard_in_jupyterlab(lab, page, notebook, out_dir):
    name, n_cells = notebook
    _open(page, lab, name)
    _shot(page, out_dir, "01-opened")
    _shot(page, out_dir, "01-saved-dashboard", _saved_dashboard(page))
    assert page.get_by_text("model not found").count() == 0, "the saved notebook shows widget errors"

    _run_all_above_last(page, n_cells)
    dash = page.locator(".jp-OutputArea-output").filter(has=page.locator("button.widget-button", has_text="Train"))
    train = dash.locator("button.widget-button", has_text="Train")
    stop = dash.locator("button.widget-button", has_text="Stop")
    status = dash.locator(".widget-html").last
    assert dash.count() == 1, "notebook 03 shows one dashboard, rendered as widgets"
    assert page.get_by_text("Error displaying widget").count() == 0
    dash.scroll_into_view_if_needed()
    _shot(page, out_dir, "02-cells-run")

    lr = _move(page, _slider(dash, "lr"))
    assert _slider(dash, "max_steps").locator(".widget-readout").inner_text() == str(LONG_RUN)
    _shot(page, out_dir, "03-slider-moved", dash)

    image = dash.locator("img")
    empty_src = image.get_attribute("src")
    train.click()
    page.wait_for_function(
        "([el, lr]) => el.innerText.includes(`training lr=${lr}`)", arg=[status.element_handle(), lr]
    )
    dash.locator(".widget-label", has_text="step ").filter(has_text="loss").wait_for()
    first_src = image.get_attribute("src")  # then one more redraw: the curve has points
    page.wait_for_function(
        "([img, a, b]) => img.src !== a && img.src !== b && img.naturalWidth > 0",
        arg=[image.element_handle(), empty_src, first_src],
    )
    _shot(page, out_dir, "04-training-live", dash)

    assert train.is_disabled(), "Train is pressable while a run goes"
    train.click(force=True)  # a disabled button ignores it
    _run_last_cell(page, n_cells)  # Dashboard.start() from code: refused, said in the status line
    page.get_by_text("second start: False").wait_for()
    assert "a run is already going" in status.inner_text()
    _shot(page, out_dir, "05-second-train-refused", dash)
    _shot(page, out_dir, "05-second-start-printed", page.locator(".jp-Cell").last)

    src_at_stop = image.get_attribute("src")
    stop.click()
    page.wait_for_function("el => el.innerText.startsWith('done:')", arg=status.element_handle())
    text = status.inner_text()
    assert "stopped" in text, f"the run was not stopped: {text}"
    page.wait_for_function(  # the buttons' state reaches the page in its own message: wait for it
        "([t, s]) => !t.disabled && s.disabled", arg=[train.element_handle(), stop.element_handle()], timeout=10_000
    )
    page.wait_for_function(LAST_REDRAW, arg=[image.element_handle(), src_at_stop], polling=250)
    _shot(page, out_dir, "06-stopped", dash)

    folder = _run_folder(lab.runs, float(lr))
    assert folder is not None, f"no run folder with lr={lr}, max_steps={LONG_RUN} in {lab.runs}"
    assert (folder / "ckpt.pt").is_file(), f"{folder} has no checkpoint after Stop"
    records = [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]
    steps = sum(r.get("kind") == "step" for r in records)
    assert 0 < steps < LONG_RUN, f"{steps} records: the run was not stopped early"

    page.evaluate(f"() => {NB}.sessionContext.session.kernel.restart()")
    page.wait_for_function(KERNEL_IDLE, polling=250)
    page.wait_for_timeout(2000)  # the widget manager clears its models on a restart
    assert page.get_by_text("model not found").count() == 0, "a restart broke the widgets shown"
    train.and_(page.locator(".jupyter-widgets-disconnected")).wait_for()  # shown, cut off
    _shot(page, out_dir, "07-restarted", dash)


def test_trusted_saved_notebook_shows_no_widget_error(lab, page, out_dir):
    name = f"{NOTEBOOK}_trusted.ipynb"
    shutil.copy(REPO / "notebooks" / f"{NOTEBOOK}.ipynb", lab.root / name)
    subprocess.run([sys.executable, "-m", "jupyter", "trust", str(lab.root / name)], check=True, capture_output=True)
    _open(page, lab, name)
    saved = _saved_dashboard(page)
    saved.scroll_into_view_if_needed()
    page.wait_for_timeout(2000)  # the widget manager says 'model not found' once restored
    _shot(page, out_dir, "08-trusted-saved-dashboard", saved)
    assert page.get_by_text("model not found").count() == 0, saved.inner_text()
