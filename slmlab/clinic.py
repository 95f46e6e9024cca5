"""Your run, read: a student's pasted or uploaded log and script, diagnosed in one call, and the
widget of notebook 04's "your run" section.

- `read_your_run(log, script=None, *, vocab_size, grad_accum_steps, name)` -> `YourRun`: the
  format read, the History with optimizer updates on its x axis, the sum of the printed lr
  over the first 15 updates, the doctor's and the lint's findings ranked together, and a
  one-paragraph answer for this case. `log` and `script` are text or bytes (an upload); junk
  raises ValueError with one line that says what was expected.
- `YourRun.figure(ladder, bytes_per_token)`: the val curve on the loss ladder, in nats per
  token with bits per byte beside.
- `RunClinic`: a text area and a file upload for the log, one upload for the script or
  config, the vocabulary and the gradient accumulation, a button; the result shown below.

The reading and the judging are slmlab.diagnostics' (read_any, lint_file); this module puts
their answers together (and writes a pasted script to a temporary file for the lint). It sits
with the views (plots, widgets) and is imported by none of slmlab.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .diagnostics import lint_file, read_any
from .diagnostics.findings import Finding, rank
from .history import History

__all__ = ["YourRun", "read_your_run", "lr_sum", "RunClinic"]

FIRST_UPDATES = 15  # the published run's first print: the sum of the lr up to it


@dataclass
class YourRun:
    """What read_your_run found."""

    history: History  # steps and evals; steps are optimizer updates when grad_accum_steps was given
    read: str  # the reader's report: the format, the points, the assumptions
    findings: list[Finding] = field(default_factory=list)  # the doctor's and the lint's, ranked
    lr_sum: float | None = None  # the sum of the lr over the first FIRST_UPDATES updates, if printed
    answer: str = ""  # one paragraph for this case
    vocab_size: int | None = None

    def text(self) -> str:
        """The report as the widget and a terminal print it."""
        lines = [self.read, ""]
        if self.lr_sum is not None:
            lines.append(
                f"sum of your lr over the first {FIRST_UPDATES} updates, from the lr your log printed: "
                f"about {self.lr_sum:.2e} ({self.lr_sum / 0.02:.1%} of the 0.02 scale of GPT-2's weights "
                f"at init; AdamW moves a weight by about the lr per update)"
            )
        lines += [str(f) for f in self.findings] + ["", self.answer]
        return "\n".join(lines)

    def figure(self, ladder=None, bytes_per_token: float | None = None):
        """Train and val against optimizer updates on the ladder's rungs; a bits-per-byte axis
        on the right when bytes_per_token (of the val text, in this tokenizer) is known."""
        from . import plots

        rungs = ladder if ladder is not None else ({"uniform": math.log(self.vocab_size)} if self.vocab_size else None)
        fig = plots.curves(self.history, rungs, title="your run")
        ax = fig.axes[0]
        ax.set(xlabel="optimizer updates", ylabel="loss (nats per token)")
        if bytes_per_token:
            k = 1 / (math.log(2) * bytes_per_token)
            ax.secondary_yaxis("right", functions=(lambda n: n * k, lambda b: b / k)).set_ylabel("bits per byte")
        return fig


# ---------------------------------------------------------------------------
# Reading


def _as_text(data: str | bytes) -> str:
    if isinstance(data, bytes):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("the file is not UTF-8 text: upload the log as printed (.txt, .csv, .json)") from None
    return data


def _suffix(text: str, name: str | None) -> str:
    """A file suffix the readers and the lint go by: the upload's own, else one guessed from the text."""
    if name and Path(name).suffix:
        return Path(name).suffix
    head = text.lstrip()[:1]
    if head in "{[":
        try:
            obj = json.loads(text)
        except ValueError:
            return ".txt"
        return ".ipynb" if isinstance(obj, dict) and "cells" in obj else ".json"
    return ".txt"


def _written(folder: Path, text: str, name: str | None, default: str) -> Path:
    path = folder / (
        (Path(name).name if name else default) + ("" if name and Path(name).suffix else _suffix(text, name))
    )
    path.write_text(text, encoding="utf-8")
    return path


def lr_sum(history: History, first: int = FIRST_UPDATES) -> float | None:
    """The sum of the lr over updates 1..first, from the lrs the log printed (held constant between
    prints, the first printed one held back to update 1); None when no lr was printed."""
    pts = sorted({r["step"]: r["lr"] for r in [*history.evals, *history.steps] if r.get("lr") is not None}.items())
    if not pts:
        return None
    steps, lrs = (np.array(v, dtype=float) for v in zip(*pts, strict=True))
    at = np.arange(1, first + 1)
    idx = np.clip(np.searchsorted(steps, at, side="left"), 0, len(steps) - 1)  # the next print's lr
    return float(lrs[idx].sum())


def read_your_run(
    log: str | bytes,
    script: str | bytes | None = None,
    *,
    vocab_size: int | None = None,
    grad_accum_steps: int | None = None,
    log_name: str | None = None,
    script_name: str | None = None,
) -> YourRun:
    """Read a pasted or uploaded log (and a script, notebook or JSON config), and diagnose it."""
    text = _as_text(log).strip()
    if not text:
        raise ValueError("nothing to read: paste your training log (the lines with the losses) or upload it")
    try:
        history, check = read_any(
            text,
            vocab_size=vocab_size,
            grad_accum_steps=grad_accum_steps or None,
            name=log_name or "your log",
            as_text=True,
        )
    except ValueError as e:
        raise ValueError(str(e).splitlines()[0]) from None
    found = list(check.findings)
    if script is not None and _as_text(script).strip():
        with tempfile.TemporaryDirectory(prefix="slmlab-your-run-") as tmp:
            found += lint_file(_written(Path(tmp), _as_text(script), script_name, "your_script"))
    run = YourRun(history, check.read.summary(), rank(found), lr_sum(history), vocab_size=vocab_size)
    run.answer = _answer(run)
    return run


def _answer(run: YourRun) -> str:
    """One paragraph: the doctor's verdict in words, the first thing to fix, and where to read on."""
    evals = run.history.evals
    serious = [f for f in run.findings if f.severity in ("error", "warning")]
    parts = []
    if evals:
        last = evals[-1]
        where = f"after {last['step']} updates" if "update" in run.read else f"at step {last['step']}"
        parts.append(f"Your last val is {last['val_loss']:.2f} {where}.")
        if run.vocab_size:
            parts.append(f"A uniform guess over {run.vocab_size:,} tokens scores {math.log(run.vocab_size):.2f}.")
    codes = {f.code for f in run.findings}
    if "barely_trained" in codes:
        parts.append(
            "Your model has barely started: it needs many more updates at a working lr "
            "(about 1e-3 with warmup from 0), not regularization (04, the answer)."
        )
    fixes = [f for f in serious if f.code != "barely_trained"]
    if fixes:
        parts.append(
            f"First fix: {fixes[0].code} ({fixes[0].severity}"
            + (f", {fixes[0].where}" if fixes[0].where else "")
            + "), the first finding above."
        )
    elif not serious:
        parts.append("Neither the doctor nor the lint found anything to fix.")
    parts.append("If this is not the stopped-early case, 04 section 9 has the triage.")
    return " ".join(parts)


# ---------------------------------------------------------------------------
# The widget


def _upload_content(upload) -> tuple[bytes | None, str | None]:
    """(bytes, name) of a FileUpload's first file (ipywidgets 8: a tuple of dicts); (None, None)."""
    value = upload.value
    if not value:
        return None, None
    item = value[0] if isinstance(value, (tuple, list)) else next(iter(value.values()))
    return bytes(item["content"]), item.get("name")


class RunClinic:
    """Paste or upload your log (and your script or config), press Read: the format read, your curve
    on the ladder, the findings ranked, and the answer for your case. Works without a kernel restart."""

    def __init__(
        self, ladder=None, *, vocab_size: int = 50257, grad_accum_steps: int = 32, bytes_per_token: float | None = None
    ):
        import ipywidgets as w

        self.ladder, self.bytes_per_token = ladder, bytes_per_token
        self.log = w.Textarea(
            placeholder="paste your training log here (or upload it below)",
            layout=w.Layout(width="100%", height="140px"),
        )
        self.log_file = w.FileUpload(description="log file", accept=".txt,.log,.csv,.tsv,.json,.jsonl")
        self.script_file = w.FileUpload(description="script or config", accept=".py,.ipynb,.json")
        self.vocab = w.IntText(value=vocab_size, description="vocab size")
        self.accum = w.IntText(value=grad_accum_steps, description="grad accum")
        self.button = w.Button(description="Read my run", button_style="primary")
        self.out = w.Output()
        self.button.on_click(lambda _: self.read())
        self.widget = w.VBox(
            [
                self.log,
                w.HBox([self.log_file, self.script_file]),
                w.HBox([self.vocab, self.accum, self.button]),
                self.out,
            ]
        )
        self.result: YourRun | None = None

    def read(self) -> YourRun | None:
        """What the button does: read, diagnose, show. A bad input shows one line. The output is
        appended to the Output widget directly, so it works from a callback and headless alike."""
        self.out.outputs = ()
        data, name = _upload_content(self.log_file)
        script, script_name = _upload_content(self.script_file)
        try:
            pasted = self.log.value.strip()  # what is in the box wins over an earlier upload
            self.result = read_your_run(
                self.log.value if pasted or data is None else data,
                script,
                vocab_size=self.vocab.value or None,
                grad_accum_steps=self.accum.value or None,
                log_name=None if pasted else name,
                script_name=script_name,
            )
        except ValueError as e:
            self.result = None
            self.out.append_stdout(f"could not read it: {e}\n")
            return None
        self.out.append_stdout(self.result.text() + "\n")
        if self.result.history.evals or self.result.history.steps:
            self.out.append_display_data(self.result.figure(self.ladder, self.bytes_per_token))
        return self.result

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
