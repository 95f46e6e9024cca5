"""Colab and a Mac, mocked (neither runs here): the guard cell's Colab lines, the Dashboard with
Colab's widget manager or its fallback, and MPS chosen with fp32 and its pitfalls named."""

import subprocess
import sys
import types
import warnings
from pathlib import Path

import pytest
import torch

from slmlab import course, widgets
from slmlab import device as dev
from slmlab.config import preset

ROOT = Path(__file__).resolve().parents[1]


def _guard() -> str:
    text = (ROOT / "notebooks" / "00_start_here.py").read_text(encoding="utf-8")
    cell = text.split("# %%")[2].split("\n", 1)[1]
    return cell[: cell.index("\nfrom slmlab")].rstrip() + "\n"


def test_the_guard_gives_colab_its_own_lines_without_a_second_jupyter():
    script = (
        "import sys, types\nsys.modules['slmlab'] = None\n"
        "sys.modules['google'] = types.ModuleType('google')\n"
        "sys.modules['google.colab'] = types.ModuleType('google.colab')\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        f"r = InteractiveShell.instance().run_cell({_guard() + 'print(1)'!r})\n"
        "print('error:', type(r.error_in_exec).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    shown = [line for line in (out.stdout + out.stderr).splitlines() if line != "error: UsageError"]
    assert shown == [
        "UsageError: slmlab is not installed in this Colab runtime. In a cell run `!git clone "
        "<the slmlab repository's URL> /content/slmlab` and `%pip install -q -e /content/slmlab`, "
        "then Runtime > Restart session, and run this cell again."
    ], shown
    assert "[lab]" not in shown[0] and "jupyter" not in shown[0].lower()  # Colab's own Jupyter stays


@pytest.fixture
def colab(monkeypatch):
    """A fake google.colab whose output.enable_custom_widget_manager records its calls (or fails)."""
    calls = []
    output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append("on"))
    colab = types.ModuleType("google.colab")
    colab.output = output
    google = types.ModuleType("google")
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    return output, calls


def _shown(dash, monkeypatch) -> list:
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    dash._ipython_display_()
    return shown


def test_the_dashboard_turns_on_colab_s_widget_manager(colab, monkeypatch):
    _, calls = colab
    dash = widgets.Dashboard(preset("smoke"), sliders={"lr": [1e-3, 3e-3]})
    assert _shown(dash, monkeypatch) == [dash.widget] and calls == ["on"]


def test_without_colab_s_widget_manager_the_dashboard_falls_back_with_one_note(colab, monkeypatch, capsys):
    output, _ = colab

    def broken():
        raise RuntimeError("no custom widget manager in this Colab")

    output.enable_custom_widget_manager = broken
    dash = widgets.Dashboard(preset("smoke"), sliders={"lr": [1e-3, 3e-3]})
    shown = _shown(dash, monkeypatch)
    from matplotlib.figure import Figure

    assert len(shown) == 1 and isinstance(shown[0], Figure)  # a static figure, not the widget
    assert capsys.readouterr().out == widgets.COLAB_FALLBACK + "\n"
    assert "dash.start(block=True)" in widgets.COLAB_FALLBACK


def test_outside_colab_the_widget_shows_as_before(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert widgets.colab_widgets()


# A Mac: MPS present, no CUDA.
@pytest.fixture
def mac(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)


def test_mps_is_chosen_with_fp32_by_default(mac):
    assert dev.pick_device("auto") == "mps"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fp32: no warning
        d = dev.setup()
    assert (d.type, d.dtype, d.name, d.index, d.use_scaler) == ("mps", torch.float32, "Apple GPU", None, False)
    assert d.autocast().__class__.__name__ == "nullcontext"


def test_bf16_on_mps_is_allowed_when_asked_for_and_warns_with_the_pitfall(mac):
    with pytest.warns(UserWarning, match="dtype=bfloat16 on MPS.*NaN or -inf.*older macOS.*device='cpu'"):
        d = dev.setup(dtype="bfloat16")
    assert d.dtype == torch.bfloat16


def test_every_lesson_on_mps_says_where_to_look_when_a_loss_looks_impossible(mac, monkeypatch, capsys):
    monkeypatch.setenv("SLMLAB_PROFILE", "smoke")
    lesson = course.start("00_start_here")
    assert lesson.device.type == "mps" and dev.MPS_NOTE in lesson.notes
    assert f"note: {dev.MPS_NOTE}" in capsys.readouterr().out
    assert "On a Mac" in dev.MPS_NOTE and "device='cpu'" in dev.MPS_NOTE


def test_the_readme_names_the_mps_pitfalls():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    mac = readme[readme.index("## On a Mac") :]
    mac = mac[: mac.index("\n## ", 1)]
    for words in ("fp32", "bf16", "differ", "device='cpu'", "not measured"):
        assert words.lower() in mac.lower(), words
