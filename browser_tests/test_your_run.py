"""Notebook 04's "your run" box (slmlab.clinic.RunClinic), used in JupyterLab in a real (headless) Chromium.

A small notebook holds the box as 04 section 10 makes it. The test pastes the published log's
first prints into the text area and presses "Read my run", then uploads the log as a file
through the FileUpload's own file picker and presses again, in the same kernel (no restart),
and then pastes junk (what is in the box wins over an earlier upload). Each time it waits for
what a student must see: the findings (the
doctor's barely_trained, the lint's min_lr_above_lr for an uploaded script), the format read
from the uploaded file's name, the one-line refusal. Screenshots in build/browser/ (conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent

LOG = """\
Epoch 500: train loss 9.4434, val loss 9.4478
The current learning rate: 0.00007
Epoch 1000: train loss 8.4843, val loss 8.4880
The current learning rate: 0.00010
"""
SCRIPT = "learning_rate = 1e-4\nmax_iters = 20000\nwarmup_steps = 1000\nmin_lr = 5e-4\n"
CELL = """\
from slmlab.clinic import RunClinic

clinic = RunClinic(vocab_size=50257, grad_accum_steps=32)
clinic"""
KERNEL_IDLE = "() => window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'"


@pytest.fixture
def clinic_page(lab, page, tmp_path):
    nb = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}
    )  # no kernel dialog
    nb.cells = [nbformat.v4.new_code_cell(CELL)]
    nbformat.write(nb, lab.root / "your_run_browser.ipynb")
    page.goto(lab.open_url("your_run_browser.ipynb"), wait_until="domcontentloaded")
    page.wait_for_selector("#jupyterlab-splash", state="detached")
    page.wait_for_function(KERNEL_IDLE, timeout=120_000, polling=250)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_selector(".jp-OutputArea .widget-textarea textarea", timeout=120_000)
    return page


def _read(page, expect: str):
    """Press the button and wait until the box's output shows `expect`; return that output's text."""
    page.get_by_role("button", name="Read my run").click()
    out = page.locator(".jp-OutputArea .widget-output")
    out.filter(has_text=expect).wait_for(timeout=60_000)
    return out.inner_text()


def test_your_run_pasted_uploaded_and_junk(clinic_page, out_dir, tmp_path):
    page = clinic_page
    box = page.locator(".jp-OutputArea .widget-textarea textarea")
    box.fill(LOG)
    text = _read(page, "barely_trained")
    assert "after 31 updates" in text and "Vizuara" in text
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-OutputArea .widget-output img')].some(i => i.naturalWidth > 0)",
        timeout=60_000,
    )
    page.screenshot(path=str(out_dir / "your-run-pasted.png"), full_page=True)

    log_file, script_file = tmp_path / "my_log.txt", tmp_path / "train.py"
    log_file.write_text(LOG)
    script_file.write_text(SCRIPT)
    box.fill("")
    for label, path in (("log file", log_file), ("script or config", script_file)):
        with page.expect_file_chooser() as chooser:  # the FileUpload opens the browser's own picker
            page.locator(".jp-OutputArea .widget-upload", has_text=label).click()
        chooser.value.set_files(str(path))
        page.locator(".jp-OutputArea .widget-upload", has_text=f"{label} (1)").wait_for()
    text = _read(page, "min_lr_above_lr")
    assert "my_log.txt" in text and "barely_trained" in text
    page.screenshot(path=str(out_dir / "your-run-uploaded.png"), full_page=True)

    box.fill("hello, this is not a log")  # the box wins over the earlier upload
    text = _read(page, "could not read it")
    assert len(text.strip().splitlines()) == 1
    page.screenshot(path=str(out_dir / "your-run-junk.png"), full_page=True)
