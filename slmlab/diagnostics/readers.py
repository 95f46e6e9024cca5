"""Readers: a training log as the student has it, turned into a History the doctor reads.

`read_log(path, grad_accum_steps=None) -> (History, ReadReport)` reads, by content
(not by the file's name):
- the Vizuara notebook's prints (`Epoch N: train loss X, val loss Y`, then
  `The current learning rate: Z`); its "Epoch" counts loop iterations, that is
  micro-steps, so `grad_accum_steps` turns them into optimizer updates (N // accum);
- nanoGPT's train.py stdout (`step N: train loss X, val loss Y`, `iter N: loss X,
  time Yms, mfu Z%`) and the variants people print (Step / Iter, `|` or `=`
  between fields, extra fields such as perplexity, bpb, ms/iter or lr, lines
  prefixed by `#`, `>` or a timestamp);
- a CSV / TSV (or JSON lines) with a header naming a step column and train / val
  loss columns, matched loosely (`step`, `iter`, `global_step`, `train_loss`,
  `eval_loss`, `val/loss`, `learning_rate`, ...);
- a Hugging Face Trainer `trainer_state.json` (its `log_history`), or a checkpoint
  folder holding one;
- a Jupyter notebook (.ipynb, read as JSON): the printed formats in its cells' outputs;
- slmlab's own history.jsonl or run folder (`History.load`).
Lines that are not records (warnings, tracebacks, progress bars) are skipped and
counted; the ReadReport names the format, the points read and the lines skipped.
A file none of these readers can read is one ValueError line naming the formats.
Nothing here executes the file: it is read as text (or JSON) and matched.
Steps in the History are optimizer updates where the format says so; meta's
`step_unit` says what they are otherwise. The doctor (doctor.py) reads the History.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..history import History
from ..runfolder import HISTORY

__all__ = ["read_log", "ReadReport", "FORMATS", "known_formats"]

FORMATS = {  # name -> what it is, as the report and the one-line error say it
    "vizuara": "the Vizuara notebook's prints (Epoch N: train loss X, val loss Y; The current learning rate: Z)",
    "nanogpt": "nanoGPT's stdout (step N: train loss X, val loss Y; iter N: loss X, time Yms)",
    "table": "a CSV/TSV with a header (step, train_loss, val_loss, lr)",
    "jsonl": "JSON lines of {step, loss, val_loss, lr}",
    "trainer_state": "a Hugging Face trainer_state.json (log_history)",
    "ipynb": "a Jupyter notebook's printed outputs (any of the printed formats above)",
    "slmlab": "an slmlab run folder or history.jsonl",
}
SHOWN_SKIPPED = 5  # how many skipped line numbers the report lists
MAX_BYTES = 200_000_000  # a log larger than this is not a log


def format_name(fmt: str) -> str:
    """'the Vizuara notebook's prints': a format's name without its example."""
    return FORMATS[fmt].split(" (")[0]


def known_formats() -> str:
    """The formats, in one line (what an unreadable file's error ends with)."""
    return "; ".join(FORMATS.values())


@dataclass
class ReadReport:
    """What a reader read: the format, the points, the lines it skipped."""

    path: str  # the file (or folder) read
    format: str  # a key of FORMATS
    n_steps: int = 0  # train-loss records (History.steps)
    n_evals: int = 0  # eval records (History.evals)
    skipped: int = 0  # lines (rows, entries) that were not records
    skipped_at: list[int] = field(default_factory=list)  # the first SHOWN_SKIPPED of them (1-based)
    skipped_what: str = "line"  # "line" or "entry" (of a JSON list)
    step_unit: str = "step"  # what a History step counts here
    notes: list[str] = field(default_factory=list)  # what the reader assumed, and how to change it

    @property
    def n_points(self) -> int:
        return self.n_steps + self.n_evals

    def summary(self) -> str:
        """'read log.txt as ...: 39 evals, 0 step losses' and the notes below it."""
        unit = f"; its steps count {self.step_unit}s" if self.step_unit != "step" else ""
        lines = [f"read {self.path} as {format_name(self.format)}: {_count(self.n_evals, 'eval')}, "
                 f"{_count(self.n_steps, 'step loss', 'step losses')}{unit}"]
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
        return (f"skipped {self.skipped} {what}{plural} that {'are' if many else 'is'} not log records "
                f"({what}{plural} {where}): warnings, tracebacks, progress bars or damaged rows")


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


@dataclass
class _Parsed:
    """What one reader got out of a text: records and the line numbers it could not use."""

    format: str
    steps: list[dict] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    unit: str = "step"  # what the printed step number counts
    meta: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.steps) + len(self.evals)


# ---------------------------------------------------------------------------
# field names: what a column or a printed field means


_VAL_WORDS = {"val", "valid", "validation", "eval", "evaluation", "dev"}
_TRAIN_WORDS = {"train", "training", "trn"}
_STEP_WORDS = ("global_step", "step", "steps", "iteration", "iterations", "iter", "iters", "it", "epoch", "epochs")


def _words(name: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w]


def role(name: str) -> str | None:
    """What a field name holds: 'val', 'train', 'loss' (a step's loss), 'lr', 'grad_norm', or None.

    Loose on purpose: 'val loss', 'val_loss', 'eval/loss', 'Validation Loss' and a bare
    'val' are all val; anything that is not a loss (val_ppl, mfu, ms/iter) is None.
    """
    w = _words(name)
    joined = "_".join(w)
    if joined == "lr" or joined.endswith(("learning_rate", "learningrate")) or (w and w[-1] == "lr"):
        return "lr"
    if joined in ("grad_norm", "gradnorm", "gnorm", "grad_norm_total", "norm"):
        return "grad_norm"
    if "loss" not in w and len(w) != 1:
        return None
    if _VAL_WORDS & set(w):
        return "val"
    if _TRAIN_WORDS & set(w):
        return "train"
    return "loss" if w == ["loss"] else None


def _step_rank(name: str) -> int | None:
    """How good a step column `name` is (lower: better), or None when it is none."""
    w = _words(name)
    joined = "_".join(w)
    if joined.endswith("global_step"):
        return 0
    if len(w) > 2:
        return None
    for i, s in enumerate(_STEP_WORDS):
        if s in w:
            return 1 + 2 * i + (len(w) > 1)  # 'step' before 'step_time', both before 'epoch'
    return None


def _unit_of(step_word: str) -> str:
    w = step_word.lower().rstrip("s")
    return "epoch" if w == "epoch" else "iter" if w.startswith("it") else "step"


def _number(s) -> float | None:
    """A cell or JSON value as a float (nan and inf kept: they mean diverged); None when empty."""
    if s is None or isinstance(s, bool):
        return None
    if isinstance(s, (int, float)):
        return float(s)
    s = str(s).strip().rstrip("%")
    if not s:
        return None
    return float(s)  # ValueError: not a number (the caller skips the row)


def _step_number(s) -> int:
    x = _number(s)
    if x is None or not math.isfinite(x) or x < 0 or x != int(x):
        raise ValueError(f"step {s!r} is not a whole number")
    return int(x)


# ---------------------------------------------------------------------------
# printed logs: Vizuara's and nanoGPT's prints, and their variants


_NUM = r"(nan|[-+]?inf(?:inity)?|[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)"
_STEP_RE = re.compile(r"\b(epoch|step|iteration|iter|it)\s*[:=#]?\s*(\d+)(?:\s*/\s*\d+)?(?![\d.])", re.I)
_FIELD_RE = re.compile(r"([a-z][a-z_ /\-]*?)\s*[:=]?\s*" + _NUM, re.I)
_VOCAB_RE = re.compile(r"vocab(?:ulary)?[_ ]size\D{0,16}?(\d{2,7})", re.I)
_VIZUARA_RE = re.compile(r"^\s*Epoch \d+: train loss \S+, val loss \S+\s*$")


def _fields(text: str) -> dict[str, float]:
    """{role: value} of the fields printed in `text` (the first of each role)."""
    out: dict[str, float] = {}
    for name, num in _FIELD_RE.findall(text):
        r = role(name.strip())
        if r and r not in out:
            out[r] = float(num)
    return out


def _record(step: int, f: dict[str, float]) -> tuple[str, dict] | None:
    """('eval' | 'step', record) from one printed line's fields, or None when it holds no loss."""
    if "val" in f:
        train = f.get("train", f.get("loss"))
        rec = {"kind": "eval", "step": step, "val_loss": f["val"], "train_loss": train}
    elif "train" in f or "loss" in f:
        rec = {"kind": "step", "step": step, "loss": f.get("train", f.get("loss"))}
        if "grad_norm" in f:
            rec["grad_norm"] = f["grad_norm"]
    else:
        return None
    if "lr" in f:
        rec["lr"] = f["lr"]
    return rec["kind"], rec


def _parse_printed(lines: list[str]) -> _Parsed:
    """Records from printed lines; an lr-only line sets the lr of the record just above it."""
    p, words, last, vizuara_lines = _Parsed("nanogpt"), [], None, 0
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        m = _STEP_RE.search(line)
        f = _fields(line[m.end():]) if m else _fields(line)
        got = _record(int(m.group(2)), f) if m else None
        if got:
            kind, rec = got
            (p.evals if kind == "eval" else p.steps).append(rec)
            words.append(m.group(1).lower())
            vizuara_lines += bool(_VIZUARA_RE.match(line))
            last = rec
        elif not m and set(f) == {"lr"} and last is not None and "lr" not in last:
            last["lr"] = f["lr"]  # Vizuara: "The current learning rate: Z" follows its epoch line
        else:
            p.skipped.append(n)
            if "vocab_size" not in p.meta and (v := _VOCAB_RE.search(line)):
                p.meta["vocab_size"], p.meta["vocab_size_line"] = int(v.group(1)), n
    if words:
        top = max(set(words), key=words.count)
        p.unit = _unit_of(top)
        if top == "epoch" or vizuara_lines:
            p.format, p.unit = "vizuara", "micro-step"
    return p


# ---------------------------------------------------------------------------
# tables: CSV / TSV with a header, JSON lines, JSON lists of dicts


def _columns(names: list[str]) -> dict[str, str] | None:
    """{'step': name, 'val': name, 'train': name, 'loss': name, 'lr': name, ...} or None
    when the names hold no step column or no loss column."""
    ranked = [(r, n) for n in names if (r := _step_rank(n)) is not None]
    if not ranked:
        return None
    cols = {"step": min(ranked)[1]}
    for n in names:
        r = role(n)
        if r and r not in cols and n != cols["step"]:
            cols[r] = n
    return cols if {"val", "train", "loss"} & set(cols) else None


def _row_record(row: dict, cols: dict[str, str], line_no: int) -> tuple[str, dict] | None:
    """('eval' | 'step', record) of one table row; None when the row holds no loss."""
    step = _step_number(row.get(cols["step"]))
    val = _number(row.get(cols["val"])) if "val" in cols else None
    train = _number(row.get(cols["train"])) if "train" in cols else None
    loss = _number(row.get(cols["loss"])) if "loss" in cols else None
    lr = _number(row.get(cols["lr"])) if "lr" in cols else None
    if val is not None:
        rec = {"kind": "eval", "step": step, "val_loss": val, "train_loss": train if train is not None else loss}
    elif train is not None or loss is not None:
        rec = {"kind": "step", "step": step, "loss": train if train is not None else loss}
        gn = _number(row.get(cols["grad_norm"])) if "grad_norm" in cols else None
        if gn is not None:
            rec["grad_norm"] = gn
    else:
        return None
    if lr is not None:
        rec["lr"] = lr
    return rec["kind"], rec


def _parse_rows(rows: list[tuple[int, dict]], cols: dict[str, str], fmt: str) -> _Parsed:
    p = _Parsed(fmt, unit=_unit_of(_words(cols["step"])[-1].replace("global", "step")))
    for n, row in rows:
        try:
            got = _row_record(row, cols, n)
        except (ValueError, TypeError):
            got = None
        if got is None:
            p.skipped.append(n)
            continue
        kind, rec = got
        (p.evals if kind == "eval" else p.steps).append(rec)
    p.meta["columns"] = dict(cols)
    return p


def _split(line: str, delim: str | None) -> list[str]:
    """A table line's cells; delim None: split on runs of spaces."""
    cells = line.split() if delim is None else next(csv.reader([line], delimiter=delim))
    return [c.strip().strip('"') for c in cells]


def _sniff(header: str) -> str | None | bool:
    """The delimiter that splits the header into a step column and a loss column
    (None: runs of spaces), or False when none does."""
    best = None
    for d in ("\t", ",", ";", "|", None):
        names = _split(header, d)
        if len(names) >= 2 and not any(re.search(r"(^|[^\w.])[-+]?\.?\d", c) for c in names) and _columns(names):
            if best is None or len(names) > best[1]:
                best = (d, len(names))
    return best[0] if best else False


def _parse_table(lines: list[str]) -> _Parsed | None:
    """A CSV / TSV whose first line (after blank and # lines) is a header; None when it is not."""
    start = next((i for i, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith("#")), None)
    if start is None or (delim := _sniff(lines[start])) is False:
        return None
    names = _split(lines[start], delim)
    cols = _columns(names)
    rows, bad = [], []
    for i in range(start + 1, len(lines)):
        if not lines[i].strip():
            continue
        cells = _split(lines[i], delim)
        if len(cells) != len(names):
            bad.append(i + 1)
            continue
        rows.append((i + 1, dict(zip(names, cells))))
    p = _parse_rows(rows, cols, "table")
    p.skipped = sorted(p.skipped + bad)
    return p


def _parse_jsonl(lines: list[str]) -> _Parsed | None:
    """JSON lines of dicts (not slmlab's: those start with a meta line); None when none parse."""
    rows, bad = [], []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        (rows.append((n, row)) if isinstance(row, dict) else bad.append(n))
    return _parse_dicts(rows, bad, "jsonl", "line")


def _parse_dicts(rows: list[tuple[int, dict]], bad: list[int], fmt: str, what: str) -> _Parsed | None:
    names = list(dict.fromkeys(k for _, r in rows for k in r))
    cols = _columns(names)
    if not rows or cols is None:
        return None
    p = _parse_rows(rows, cols, fmt)
    p.skipped = sorted(p.skipped + bad)
    p.meta["skipped_what"] = what
    return p


# ---------------------------------------------------------------------------
# Hugging Face trainer_state.json


_HF_META = ("max_steps", "num_train_epochs", "train_batch_size", "logging_steps", "eval_steps",
            "best_metric", "best_model_checkpoint", "global_step")


def _parse_trainer_state(state: dict) -> _Parsed:
    """log_history: {loss, learning_rate, grad_norm, step} are steps, {eval_loss, step} evals.

    Its steps are optimizer updates (global_step). The trainer's `loss` is the mean
    training loss since the last log, with dropout on: not an eval-mode train loss,
    so evals get no train_loss.
    """
    p = _Parsed("trainer_state", unit="step")
    for i, e in enumerate(state.get("log_history") or [], 1):
        try:
            step = _step_number(e.get("step"))
            if e.get("eval_loss") is not None:
                p.evals.append({"kind": "eval", "step": step, "val_loss": _number(e["eval_loss"]),
                                "train_loss": None})
            elif e.get("loss") is not None:
                rec = {"kind": "step", "step": step, "loss": _number(e["loss"])}
                for key, src in (("lr", "learning_rate"), ("grad_norm", "grad_norm")):
                    if _number(e.get(src)) is not None:
                        rec[key] = _number(e[src])
                p.steps.append(rec)
            else:
                p.skipped.append(i)  # the end-of-training summary (train_runtime, train_loss, ...)
        except (ValueError, TypeError, AttributeError):
            p.skipped.append(i)
    p.meta.update({k: state[k] for k in _HF_META if state.get(k) is not None})
    p.meta["skipped_what"] = "entry"
    return p


# ---------------------------------------------------------------------------
# a Jupyter notebook: what its cells printed


def _printed_outputs(nb: dict) -> list[str]:
    """The lines the notebook's code cells printed (stream outputs), in order."""
    out = []
    for cell in nb["cells"]:
        for o in cell.get("outputs", []) if isinstance(cell, dict) else []:
            if isinstance(o, dict) and o.get("output_type") == "stream":
                text = o.get("text", "")
                out += ("".join(text) if isinstance(text, list) else str(text)).splitlines()
    return out


def _parse_notebook(nb: dict) -> _Parsed:
    """The printed formats, read from the notebook's outputs (line numbers count output lines)."""
    p = _parse_printed(_printed_outputs(nb))
    p.meta["printed_format"], p.format = p.format, "ipynb"
    p.meta["skipped_what"] = "output line"
    return p


# ---------------------------------------------------------------------------
# reading a path


def _fail(path, why: str) -> ValueError:
    return ValueError(f"cannot read {path}: {why}; the doctor reads {known_formats()}")


def _folder_file(p: Path) -> Path:
    """The file in a folder the doctor reads: history.jsonl (slmlab) or trainer_state.json (HF)."""
    for name in (HISTORY, "trainer_state.json"):
        if (p / name).is_file():
            return p / name
    raise ValueError(f"{p} is a folder that holds no history (history.jsonl) and no trainer_state.json; "
                     f"give a run folder, or the log file itself (the doctor reads {known_formats()})")


def _text(p: Path) -> str:
    """The file as text; ValueError for a missing, empty, huge or binary file."""
    if not p.exists():
        raise ValueError(f"{p}: no such file or folder; give your training log (the printed output "
                         f"saved as a .txt), a CSV, a trainer_state.json or a run folder")
    size = p.stat().st_size
    if size == 0:
        raise _fail(p, "the file is empty")
    if size > MAX_BYTES:
        raise _fail(p, f"{size:,} bytes is too large for a log")
    raw = p.read_bytes()
    text = raw.decode("utf-8-sig", errors="replace")
    if b"\x00" in raw[:65536] or text.count("\ufffd") > max(2, len(text) // 100):
        raise _fail(p, "it is binary, not text (a checkpoint or an archive?)")
    return text


def _parse_json(text: str) -> _Parsed | None:
    """A trainer_state.json, a JSON list of dicts, or None when the text is not one JSON value."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return None
    if isinstance(obj, dict) and "log_history" in obj:
        return _parse_trainer_state(obj)
    if isinstance(obj, dict) and isinstance(obj.get("cells"), list):
        return _parse_notebook(obj)
    if isinstance(obj, list) and obj and all(isinstance(r, dict) for r in obj):
        return _parse_dicts(list(enumerate(obj, 1)), [], "jsonl", "entry")
    return None


def _is_slmlab(text: str) -> bool:
    first = text.lstrip().split("\n", 1)[0]
    try:
        row = json.loads(first)
    except json.JSONDecodeError:
        return False
    return isinstance(row, dict) and row.get("kind") == "meta"


def _best_parse(text: str) -> _Parsed | None:
    """A whole JSON document when it is one the readers know; else every line reader that
    fits the text, and the one that read the most records wins."""
    first = text.lstrip()[:1]
    if first and first in "{[" and (whole := _parse_json(text)) is not None and whole.n:
        return whole
    lines = text.splitlines()
    candidates = [_parse_jsonl(lines) if first == "{" else None, _parse_table(lines), _parse_printed(lines)]
    found = [c for c in candidates if c is not None and c.n]
    return max(found, key=lambda c: (c.n, -len(c.skipped))) if found else None


def _why_not(text: str) -> str:
    """Why no reader read the text, in words."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        obj = None
    if isinstance(obj, dict) and not obj.get("log_history"):
        return ("it is a JSON object with no log_history (a config? `python -m slmlab lint FILE` checks "
                "configs)")
    return "no line of it is a training record (a step number with a train or val loss)"


def _check_accum(grad_accum_steps) -> int | None:
    if grad_accum_steps is None:
        return None
    if isinstance(grad_accum_steps, bool) or not isinstance(grad_accum_steps, int) or grad_accum_steps < 1:
        raise ValueError(f"grad_accum_steps={grad_accum_steps!r}: give a whole number >= 1 "
                         f"(the micro-steps per optimizer update)")
    return grad_accum_steps


def read_log(path, grad_accum_steps: int | None = None) -> tuple[History, ReadReport]:
    """Read a training log (any format of FORMATS) into a History, and say what was read.

    grad_accum_steps: micro-steps per optimizer update, for logs that count micro-steps
    (the Vizuara notebook's "Epoch N"; a table whose steps are micro-steps): steps
    become N // grad_accum_steps. Formats that count updates (nanoGPT, trainer_state,
    slmlab) keep their steps and say so.
    """
    accum = _check_accum(grad_accum_steps)
    p = Path(path)
    if p.is_dir():
        p = _folder_file(p)
    text = _text(p)
    if _is_slmlab(text):
        return _slmlab(p, accum)
    parsed = _best_parse(text)
    if parsed is None:
        raise _fail(p, _why_not(text))
    return _history(parsed, p, accum)


def _slmlab(p: Path, accum: int | None) -> tuple[History, ReadReport]:
    h = History.load(p)
    rep = ReadReport(str(p), "slmlab", len(h.steps), len(h.evals), step_unit="update")
    if accum:
        rep.notes.append(f"--grad-accum {accum} ignored: slmlab's steps are optimizer updates already")
    return h, rep


def _history(parsed: _Parsed, p: Path, accum: int | None) -> tuple[History, ReadReport]:
    """The History of a parse, its steps turned into updates where asked; and the report."""
    unit, notes = parsed.unit, []
    if parsed.meta.get("printed_format"):
        notes.append(f"its outputs read as {format_name(parsed.meta['printed_format'])}")
    micro = parsed.format == "vizuara" or parsed.meta.get("printed_format") == "vizuara"
    if accum and (micro or parsed.format in ("table", "jsonl")):
        for rec in parsed.steps + parsed.evals:
            rec["micro_step"], rec["step"] = rec["step"], rec["step"] // accum
        notes.append(f"steps are optimizer updates: the printed {unit} number // {accum} (--grad-accum)")
        unit = "update"
    elif accum:
        notes.append(f"--grad-accum {accum} ignored: {format_name(parsed.format)} counts "
                     f"optimizer updates already")
    elif micro:
        notes.append("steps are as printed: the notebook's \"Epoch N\" counts loop iterations, which are "
                     "micro-steps in this recipe (gradient_accumulation_steps of them make one optimizer "
                     "update); give --grad-accum N (grad_accum_steps=N) to count updates")
        unit = "micro-step (as printed)"
    meta = {"source": str(p), "format": parsed.format, "step_unit": unit, "label": p.name,
            "grad_accum_steps": accum, **parsed.meta}
    h = History(sorted(parsed.steps, key=lambda r: r["step"]), sorted(parsed.evals, key=lambda r: r["step"]),
                {}, meta)
    what = parsed.meta.get("skipped_what", "line")
    rep = ReadReport(str(p), parsed.format, len(h.steps), len(h.evals), len(parsed.skipped),
                     parsed.skipped[:SHOWN_SKIPPED], what, unit.split()[0], notes)
    return h, rep
