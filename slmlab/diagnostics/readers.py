"""Readers: a training log as the student has it, turned into a History the doctor reads.

`read_log(path, grad_accum_steps=None) -> (History, ReadReport)` reads a file, a run
folder, pasted text or uploaded bytes (`read_text`) by content, never by the file's
name. Every format is one `Reader` in `READERS`, the one place a format is added:
its name, what it is (with an example), its parser (log_formats.py) and what its
step number counts. The parsers that recognise a text read it; a reader with a
signature of its own (LLMs-from-scratch's `Ep N (Step N)`, litgpt's `iter N step M`,
mlx-lm's `Iter N: Train loss`, a progress bar, ...) wins over the generic ones
(nanoGPT-like prints, a CSV) unless they read twice as many records. Lines may be
pasted as a markdown quote (`> `), with a `[rank0]:` prefix, a timestamp or a log
level. Lines that are not records (warnings, tracebacks, generated samples) are
skipped and counted; a checkpoint save or a resume is kept as an event at its step
(meta["events"]), for the doctor to place a NaN or a spike against. A text no reader
reads is one ValueError line saying what was expected.
Steps in the History are optimizer updates where the format says so; meta's
`step_unit` says what they are otherwise, and grad_accum_steps turns micro-steps
(or a table's iterations) into updates. The doctor (doctor.py) reads the History.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..history import History
from ..runfolder import HISTORY
from . import log_formats as lf
from .log_formats import Parsed, Text, role  # noqa: F401  (role: tests and the CLI read field names with it)

__all__ = ["read_log", "read_text", "ReadReport", "FORMATS", "READERS", "Reader", "known_formats"]


@dataclass(frozen=True)
class Reader:
    """One log format: how it is named, recognised and read."""

    name: str  # the key of FORMATS, ReadReport.format and History.meta["format"]
    what: str  # what it is, with an example: the report and the one-line error say it
    parse: Callable[[Text], Parsed | None]  # log_formats' parser; None: not this format
    counts: str = "step"  # what its step number counts: "update" (kept), "iter" or "micro-step"
    #   (turned into updates by grad_accum_steps), "step" (as printed: updates, unless told)
    specific: bool = True  # it has a signature of its own (it wins over the generic readers)


READERS: tuple[Reader, ...] = (
    Reader(
        "trainer_state",
        "a Hugging Face trainer_state.json (log_history, with or without evals)",
        lf.parse_trainer_state,
        "update",
    ),
    Reader("jsonl", "JSON lines of {step, loss, val_loss, lr}", lf.parse_jsonl, "iter"),
    Reader(
        "lightning_csv",
        "PyTorch Lightning's metrics.csv (epoch, step, train_loss_step, val_loss)",
        lf.parse_lightning_csv,
        "update",
    ),
    Reader(
        "llms_from_scratch",
        "LLMs-from-scratch prints (Ep 1 (Step 000050): Train loss X, Val loss Y)",
        lf.parse_llms_from_scratch,
        "update",
    ),
    Reader(
        "litgpt",
        "litgpt's prints (iter 12 step 3: loss X, iter time: ...; iter 600: val loss Y)",
        lf.parse_litgpt,
        "update",
    ),
    Reader(
        "mlx", "mlx-lm's prints (Iter 10: Train loss X, Learning Rate ...; Iter 200: Val loss Y)", lf.parse_mlx, "iter"
    ),
    Reader(
        "progress_bar",
        "tqdm or Lightning progress bars (45%|...| 450/1000 [..., loss=2.31, lr=3e-4])",
        lf.parse_progress_bar,
        "iter",
    ),
    Reader(
        "vizuara",
        "the Vizuara notebook's prints (Epoch N: train loss X, val loss Y; The current learning rate: Z)",
        lf.parse_vizuara,
        "micro-step",
    ),
    Reader("handwritten", "a short table written by hand (500 iterations: val 1.49)", lf.parse_handwritten, "iter"),
    Reader(
        "nanogpt",
        "nanoGPT's stdout and prints like it (step N: train loss X, val loss Y; iter N: loss X, time Yms)",
        lf.parse_nanogpt,
        "step",
        specific=False,
    ),
    Reader("table", "a CSV/TSV with a header (step, train_loss, val_loss, lr)", lf.parse_table, "iter", specific=False),
)
_BY_NAME = {r.name: r for r in READERS}
FORMATS = {  # name -> what it is: every reader, and the two containers read around them
    **{r.name: r.what for r in READERS},
    "ipynb": "a Jupyter notebook's printed outputs (any of the printed formats above)",
    "slmlab": "an slmlab run folder or history.jsonl",
}
SHOWN_SKIPPED = 5  # how many skipped line numbers the report lists
MAX_BYTES = 200_000_000  # a log larger than this is not a log


def format_name(fmt: str) -> str:
    """'the Vizuara notebook's prints': a format's name without its example."""
    return FORMATS[fmt].split(" (")[0]


def known_formats() -> str:
    """The formats, by name, in one line (what an unreadable text's error ends with)."""
    return "; ".join(format_name(f) for f in FORMATS)


@dataclass
class ReadReport:
    """What a reader read: the format, the points, the lines it skipped."""

    path: str  # the file (or folder) read; "pasted text" for text
    format: str  # a key of FORMATS
    n_steps: int = 0  # train-loss records (History.steps)
    n_evals: int = 0  # eval records (History.evals)
    skipped: int = 0  # lines (rows, entries) that were not records
    skipped_at: list[int] = field(default_factory=list)  # the first SHOWN_SKIPPED of them (1-based)
    skipped_what: str = "line"  # "line" or "entry" (of a JSON list)
    step_unit: str = "step"  # what a History step counts here
    notes: list[str] = field(default_factory=list)  # what the reader assumed, and how to change it
    skipped_kind: str = "warnings, tracebacks, progress bars or damaged rows"  # what such lines usually are

    @property
    def n_points(self) -> int:
        return self.n_steps + self.n_evals

    def summary(self) -> str:
        """'read log.txt as ...: 39 evals, 0 step losses' and the notes below it."""
        unit = f"; its steps count {self.step_unit}s" if self.step_unit != "step" else ""
        lines = [
            f"read {self.path} as {format_name(self.format)}: {_count(self.n_evals, 'eval')}, "
            f"{_count(self.n_steps, 'step loss', 'step losses')}{unit}"
        ]
        if self.skipped:
            lines.append("  " + self.skipped_text())
        lines += [f"  {n}" for n in self.notes]
        return "\n".join(lines)

    def skipped_text(self) -> str:
        """'skipped 4 lines that are not log records (lines 1, 2, 5, 6): ...'."""
        many, what = self.skipped > 1, self.skipped_what
        where = ", ".join(str(n) for n in self.skipped_at)
        if self.skipped > len(self.skipped_at):
            where += f" and {self.skipped - len(self.skipped_at)} more"
        plural = "s" if many else ""
        return (
            f"skipped {self.skipped} {what}{plural} that {'are' if many else 'is'} not log records "
            f"({what}{plural} {where}): {self.skipped_kind}"
        )


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


# ---------------------------------------------------------------------------
# which reader: every reader that recognises the text reads it; the best read wins


def best_parse(text: str) -> Parsed | None:
    """The parse of the reader that read `text` best, or None when none read a record."""
    t = Text.of(text)
    if isinstance(t.obj, dict) and isinstance(t.obj.get("cells"), list):
        return _notebook(t.obj)
    found = []
    for r in READERS:
        try:
            p = r.parse(t)
        except (ValueError, TypeError, KeyError, IndexError):  # a reader that trips on a text is not it
            p = None
        if p is not None and p.n:
            found.append((r, p))
    if not found:
        return None
    generic = max((p.n for r, p in found if not r.specific), default=0)
    specific = [(r, p) for r, p in found if r.specific and 2 * p.n >= generic]
    pool = specific or found
    return max(pool, key=lambda rp: (rp[1].n, -len(rp[1].skipped)))[1]


def _notebook(nb: dict) -> Parsed | None:
    """The printed formats, read from the notebook's outputs (line numbers count output lines)."""
    p = best_parse("\n".join(lf.printed_outputs(nb)))
    if p is None:
        return None
    p.meta["printed_format"], p.format = p.format, "ipynb"
    p.meta["skipped_what"] = "output line"
    return p


def _why_not(text: str) -> str:
    """Why no reader read the text, in words."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        obj = None
    if isinstance(obj, dict) and not obj.get("log_history"):
        return "it is a JSON object with no log_history (a config? `python -m slmlab lint FILE` checks configs)"
    return "no line of it is a training record (a step number with a train or val loss)"


# ---------------------------------------------------------------------------
# reading a path, a text, or bytes


def _fail(path, why: str) -> ValueError:
    return ValueError(f"cannot read {path}: {why}; the doctor reads {known_formats()}")


def _folder_file(p: Path) -> Path:
    """The file in a folder the doctor reads: history.jsonl (slmlab) or trainer_state.json (HF)."""
    for name in (HISTORY, "trainer_state.json"):
        if (p / name).is_file():
            return p / name
    raise ValueError(
        f"{p} is a folder that holds no history (history.jsonl) and no trainer_state.json; "
        f"give a run folder, or the log file itself (the doctor reads {known_formats()})"
    )


def _decode(raw: bytes, where) -> str:
    """Bytes as text; ValueError for empty, huge or binary bytes."""
    if not raw:
        raise _fail(where, "it is empty")
    if len(raw) > MAX_BYTES:
        raise _fail(where, f"{len(raw):,} bytes is too large for a log")
    text = raw.decode("utf-8-sig", errors="replace")
    if b"\x00" in raw[:65536] or text.count("\ufffd") > max(2, len(text) // 100):
        raise _fail(where, "it is binary, not text (a checkpoint or an archive?)")
    return text


def _text(p: Path) -> str:
    """The file as text; ValueError for a missing, empty, huge or binary file."""
    if not p.exists():
        raise ValueError(
            f"{p}: no such file or folder; give your training log (the printed output "
            f"saved as a .txt), a CSV, a trainer_state.json or a run folder"
        )
    size = p.stat().st_size
    if size == 0:
        raise _fail(p, "the file is empty")
    if size > MAX_BYTES:
        raise _fail(p, f"{size:,} bytes is too large for a log")
    return _decode(p.read_bytes(), p)


def _is_slmlab(text: str) -> bool:
    first = text.lstrip().split("\n", 1)[0]
    try:
        row = json.loads(first)
    except json.JSONDecodeError:
        return False
    return isinstance(row, dict) and row.get("kind") == "meta"


def _check_accum(grad_accum_steps) -> int | None:
    if grad_accum_steps is None:
        return None
    if isinstance(grad_accum_steps, bool) or not isinstance(grad_accum_steps, int) or grad_accum_steps < 1:
        raise ValueError(
            f"grad_accum_steps={grad_accum_steps!r}: give a whole number >= 1 (the micro-steps per optimizer update)"
        )
    return grad_accum_steps


def read_log(path, grad_accum_steps: int | None = None) -> tuple[History, ReadReport]:
    """Read a training log file or run folder (any format of FORMATS) into a History, and
    say what was read.

    grad_accum_steps: micro-steps per optimizer update, for logs that count micro-steps or
    loop iterations (the Vizuara notebook's "Epoch N", a table, a progress bar, mlx-lm):
    steps become N // grad_accum_steps. Formats that count updates (nanoGPT, litgpt,
    trainer_state, Lightning's metrics.csv, slmlab) keep their steps and say so.
    """
    accum = _check_accum(grad_accum_steps)
    p = Path(path)
    if p.is_dir():
        p = _folder_file(p)
    text = _text(p)
    if _is_slmlab(text):
        return _slmlab(p, accum)
    return _read(text, str(p), p.name, accum)


def read_text(
    text: str | bytes, grad_accum_steps: int | None = None, *, name: str = "pasted text"
) -> tuple[History, ReadReport]:
    """read_log for a log that is not a file: pasted text, or the bytes of an upload."""
    accum = _check_accum(grad_accum_steps)
    if isinstance(text, (bytes, bytearray, memoryview)):
        text = _decode(bytes(text), name)
    if not text.strip():
        raise _fail(name, "it is empty")
    if _is_slmlab(text):  # an slmlab history.jsonl, uploaded: History.load reads it from a file
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / HISTORY).write_text(text)
            h, rep = _slmlab(Path(tmp) / HISTORY, accum)
        rep.path = name
        return h, rep
    return _read(text, name, name, accum)


def _read(text: str, where: str, label: str, accum: int | None) -> tuple[History, ReadReport]:
    parsed = best_parse(text)
    if parsed is None:
        raise _fail(where, _why_not(text))
    return _history(parsed, where, label, accum)


def _slmlab(p: Path, accum: int | None) -> tuple[History, ReadReport]:
    h = History.load(p)
    rep = ReadReport(str(p), "slmlab", len(h.steps), len(h.evals), step_unit="update")
    if accum:
        rep.notes.append(f"--grad-accum {accum} ignored: slmlab's steps are optimizer updates already")
    return h, rep


def _events(parsed: Parsed) -> list[dict]:
    """Each save / resume with the step of the record before it and after it (None at an end)."""
    lines = sorted((r["_line"], r["step"]) for r in parsed.steps + parsed.evals if "_line" in r)
    out = []
    for e in parsed.events:
        before = [s for n, s in lines if n < e["line"]]
        after = [s for n, s in lines if n > e["line"]]
        out.append(
            {
                "kind": e["kind"],
                "line": e["line"],
                "after_step": before[-1] if before else None,
                "before_step": after[0] if after else None,
            }
        )
    return out


def _history(parsed: Parsed, where: str, label: str, accum: int | None) -> tuple[History, ReadReport]:
    """The History of a parse, its steps turned into updates where asked; and the report."""
    fmt = parsed.meta.get("printed_format") or parsed.format
    counts = _BY_NAME[fmt].counts if fmt in _BY_NAME else "step"
    unit, notes = parsed.unit, []
    if parsed.meta.get("printed_format"):
        notes.append(f"its outputs read as {format_name(parsed.meta['printed_format'])}")
    events = _events(parsed)
    recs = parsed.steps + parsed.evals
    if accum and counts in ("micro-step", "iter"):
        for rec in recs:
            rec["micro_step"], rec["step"] = rec["step"], rec["step"] // accum
        for e in events:
            for k in ("after_step", "before_step"):
                e[k] = e[k] // accum if e[k] is not None else None
        notes.append(f"steps are optimizer updates: the printed {unit} number // {accum} (--grad-accum)")
        unit = "update"
    elif accum:
        notes.append(f"--grad-accum {accum} ignored: {format_name(fmt)} counts optimizer updates already")
    elif counts == "micro-step":
        notes.append(
            'steps are as printed: the notebook\'s "Epoch N" counts loop iterations, which are '
            "micro-steps in this recipe (gradient_accumulation_steps of them make one optimizer "
            "update); give --grad-accum N (grad_accum_steps=N) to count updates"
        )
        unit = "micro-step (as printed)"
    for rec in recs:
        rec.pop("_line", None)
    meta = {
        "source": where,
        "format": parsed.format,
        "step_unit": unit,
        "label": label,
        "grad_accum_steps": accum,
        **parsed.meta,
    }
    if events:
        meta["events"] = events
    h = History(sorted(parsed.steps, key=lambda r: r["step"]), sorted(parsed.evals, key=lambda r: r["step"]), {}, meta)
    what = parsed.meta.get("skipped_what", "line")
    rep = ReadReport(
        where,
        parsed.format,
        len(h.steps),
        len(h.evals),
        len(parsed.skipped),
        parsed.skipped[:SHOWN_SKIPPED],
        what,
        unit.split()[0],
        notes,
    )
    if parsed.meta.get("skipped_kind"):
        rep.skipped_kind = parsed.meta["skipped_kind"]
    return h, rep
