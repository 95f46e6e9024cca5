"""The checkup: the doctor on a student's own file or pasted log, as `doctor PATH` prints it.

`checkup(path, vocab_size=, tokenizer=, grad_accum_steps=)` is `python -m slmlab
doctor PATH`: the log read by readers.read_log (which leaves parsing to itself), the
rungs it can draw without the data (ln V from the vocabulary size; a run folder's
own data gives the whole ladder), and the findings of doctor.diagnose (with those of
symptoms.diagnose_stats when a run folder recorded TrainingStats).
`read_any(text_or_path, vocab_size=, grad_accum_steps=) -> (History, Checkup)` is
the same for whatever a widget holds: a path, pasted text, or an upload's bytes.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import read_json
from ..history import History
from ..runfolder import records_dir
from ..tokenizers import vocab_size_of
from .doctor import diagnose
from .findings import Finding, format_findings
from .readers import ReadReport, read_log, read_text
from .symptoms import diagnose_stats

__all__ = ["Checkup", "checkup", "read_any"]


@dataclass
class Checkup:
    """What `python -m slmlab doctor PATH` prints: what was read, the ladder, the findings."""

    history: History  # what the reader made of the file
    read: ReadReport  # the format, the points, the skipped lines
    rungs: dict[str, float]  # the ladder the findings place the loss on (maybe empty)
    ladder_note: str  # which rungs were drawn, from what, and which were not
    findings: list[Finding]  # ranked

    def text(self) -> str:
        return "\n".join(
            [
                self.read.summary(),
                f"ladder: {self.ladder_note}",
                "findings, most important first:",
                format_findings(self.findings),
            ]
        )


def checkup(
    path,
    *,
    vocab_size: int | None = None,
    tokenizer: str | None = None,
    grad_accum_steps: int | None = None,
    data_ladder: bool = True,
) -> Checkup:
    """Read a training log or run folder (readers.read_log), place it on the ladder, diagnose it.

    vocab_size or tokenizer ('gpt2', 'bpe-N') draws the uniform rung ln V; an slmlab run
    folder's own data gives the whole ladder (data_ladder=False skips tokenizing it).
    grad_accum_steps turns printed micro-steps into optimizer updates.
    """
    history, report = read_log(path, grad_accum_steps)
    return _checkup(history, report, path, vocab_size, tokenizer, data_ladder)


def _checkup(history, report, path, vocab_size, tokenizer, data_ladder) -> Checkup:
    rungs, note = _rungs(history, report, vocab_size, tokenizer, data_ladder)
    stats = _recorded_stats(path, history) if path is not None else []
    return Checkup(history, report, rungs, note, diagnose(history, rungs) + stats)


MAX_PATH_CHARS = 4096  # a str longer than this, or with a line break, is a log's text, not a path


def read_any(
    text_or_path,
    *,
    vocab_size: int | None = None,
    grad_accum_steps: int | None = None,
    tokenizer: str | None = None,
    name: str = "pasted text",
    as_text: bool = False,
) -> tuple[History, Checkup]:
    """The doctor on anything a "your run" cell holds: (History, Checkup).

    text_or_path: a path (str or Path) to a log file or run folder; the text of a log
    (a str with a line break in it, pasted into a text area); or bytes (an upload's
    content, e.g. ipywidgets FileUpload's `value[0]["content"]`). vocab_size (or
    tokenizer) draws ln V; grad_accum_steps turns micro-steps into optimizer updates.
    The Checkup holds what was read (`.read.summary()`), the ladder note, the ranked
    findings, and `.text()`, what `doctor PATH` prints. A text no reader reads raises
    ValueError with one line saying what was expected: show str(error) to the student.
    as_text=True: a str is the log's text even without a line break (a pasted line that
    happens to name a file is read as a log line, not opened).
    """
    if isinstance(text_or_path, (bytes, bytearray, memoryview)):
        history, report = read_text(bytes(text_or_path), grad_accum_steps, name=name)
        return history, _checkup(history, report, None, vocab_size, tokenizer, False)
    if not as_text and (
        isinstance(text_or_path, os.PathLike)
        or (
            isinstance(text_or_path, str)
            and "\n" not in text_or_path
            and len(text_or_path) < MAX_PATH_CHARS
            and text_or_path.strip()
            and Path(text_or_path.strip()).exists()
        )
    ):
        c = checkup(
            Path(text_or_path).expanduser() if isinstance(text_or_path, os.PathLike) else text_or_path.strip(),
            vocab_size=vocab_size,
            tokenizer=tokenizer,
            grad_accum_steps=grad_accum_steps,
        )
        return c.history, c
    if not isinstance(text_or_path, str):
        raise TypeError(
            f"read_any takes a path, the text of a log or an upload's bytes, not {type(text_or_path).__name__}"
        )
    history, report = read_text(text_or_path, grad_accum_steps, name=name)
    return history, _checkup(history, report, None, vocab_size, tokenizer, False)


def _recorded_stats(path, history: History) -> list[Finding]:
    """diagnose_stats on what TrainingStats recorded in a run folder (callbacks/training_stats-*.json)."""
    folder = Path(path)
    recorded = sorted(records_dir(folder).glob("training_stats-*.json")) if folder.is_dir() else []
    return diagnose_stats(read_json(recorded[0]), history) if recorded else []


def _vocab(vocab_size, tokenizer, meta: dict) -> tuple[int | None, str]:
    """(V, where it came from): --vocab-size, --tokenizer, or what the run or log said."""
    if vocab_size is not None and tokenizer is not None:
        raise ValueError("give --vocab-size or --tokenizer, not both")
    if vocab_size is not None:
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 2:
            raise ValueError(
                f"--vocab-size {vocab_size!r}: give the tokenizer's vocabulary size, a whole "
                f"number >= 2 (50257 for GPT-2)"
            )
        return vocab_size, "--vocab-size"
    if tokenizer is not None:
        v = vocab_size_of(tokenizer)
        if v is None:
            why = "a char vocabulary depends on the text" if tokenizer == "char" else "not a tokenizer slmlab knows"
            raise ValueError(f"--tokenizer {tokenizer}: {why}; give gpt2 or bpe-N (N merges), or --vocab-size V")
        return v, f"--tokenizer {tokenizer}"
    if meta.get("vocab_size"):
        line = meta.get("vocab_size_line")
        return int(meta["vocab_size"]), f"line {line} of the log" if line else "the run's meta"
    return None, ""


def _rungs(history: History, report: ReadReport, vocab_size, tokenizer, data_ladder: bool):
    """({rung: nats}, what the ladder line says)."""
    if data_ladder and report.format == "slmlab" and history.config and vocab_size is None and tokenizer is None:
        lad, err = _run_ladder(history)
        if lad is not None:
            drawn = ", ".join(f"{r.name} {r.nats:.3f}" for r in lad.rungs)
            return lad.to_dict(), f"{drawn} (the run's own data: {lad.corpus} / {lad.tokenizer})"
    else:
        err = None
    V, where = _vocab(vocab_size, tokenizer, history.meta or {})
    if V is None:
        return {}, (
            "no rung drawn: the uniform rung (ln V) needs the vocabulary size (--vocab-size V, or "
            "--tokenizer gpt2 | bpe-N), the unigram and bigram rungs need the tokenized data; the "
            "findings that place a loss on the ladder (barely_trained, ladder_position) are left out"
        )
    u = math.log(V)
    note = (
        f"uniform ln V = {u:.3f} (V = {V:,}, from {where}); the unigram and bigram rungs need the "
        f"tokenized data (a run folder, or `python -m slmlab ladder --corpus ... --tokenizer ...`)"
    )
    if err:
        note += f"; the run's data gave no ladder ({err})"
    _, val = history.series("val_loss")
    if len(val) and np.isfinite(val[0]) and val[0] > 1.5 * u:
        note += f"; the first val {val[0]:.2f} is far above ln V: is the vocabulary size right?"
    return {"uniform": u}, note


def _run_ladder(history: History):
    """(Ladder of an slmlab run's own data, None) or (None, why not)."""
    from ..config import Config
    from ..data import prepare
    from .loss_ladder import ladder

    try:
        return ladder(prepare(Config.from_dict(history.config).data)), None
    except (ValueError, OSError, RuntimeError, KeyError, TypeError) as e:
        return None, str(e).split("\n")[0]
