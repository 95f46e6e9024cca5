"""Log formats: one parser per format a student pastes; readers.py registers them.

Each `parse_*` takes a `Text` (the raw text, its lines with quote and rank prefixes
stripped, the same lines with timestamps and log levels stripped too, and the whole
text as JSON when it is one JSON value) and returns a `Parsed` (records, the line
numbers it skipped, what its step number counts, and events such as a checkpoint
save or a resume) or None when the text is not in its format. Nothing here decides
which format a text is, reads a file, or builds the History: that is readers.py's.
Nothing executes anything: the text is matched, or parsed as JSON.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field

__all__ = ["Text", "Parsed", "role", "clean_lines"]


@dataclass
class Parsed:
    """What one reader got out of a text: records and the line numbers it could not use."""

    format: str
    steps: list[dict] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    unit: str = "step"  # what the printed step number counts
    meta: dict = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)  # {"kind": "save" | "resume", "line": n}

    @property
    def n(self) -> int:
        return len(self.steps) + len(self.evals)


# what a line carries in front of the record when it is pasted: a markdown quote, a
# distributed rank, a timestamp, a log level and logger name (in any order, repeated)
_QUOTE_RE = re.compile(r"^\s*(?:>\s?|\[rank\s*\d+\]\s*:?\s*|rank\s*\d+\s*:\s*)+", re.I)
_STAMP_RE = re.compile(
    r"^\s*(?:"
    r"\[?\d{4}-\d\d-\d\d[ T]\d\d:\d\d(?::\d\d)?(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\]?\s*[-|:]?\s*"
    r"|\[?\d\d:\d\d:\d\d(?:[.,]\d+)?\]?\s*[-|]?\s*"
    r"|\[?(?:INFO|DEBUG|WARNING|WARN)\]?(?::[\w.]+(?=:))*\s*[:|-]?\s*"
    r"|[\w.]+\s+-\s+(?:INFO|DEBUG|WARNING)\s+-\s+"
    r"|[\w.]+:(?:INFO|DEBUG|WARNING):\s*"
    r")+"
)


def strip_quote(line: str) -> str:
    """A line without a markdown quote (`> `) or a `[rank0]:` prefix."""
    return _QUOTE_RE.sub("", line, count=1)


def clean_lines(text: str) -> list[str]:
    """The text's lines (\\r splits progress-bar refreshes too) without quote, rank,
    timestamp and log-level prefixes: what the printed-format parsers match."""
    return [_STAMP_RE.sub("", strip_quote(ln), count=1) for ln in text.splitlines()]


@dataclass
class Text:
    """One text to read, in the forms the parsers want (built once, by readers.py)."""

    raw: str  # as given
    lines: list[str]  # split into lines, quote and rank prefixes stripped (tables read these)
    clean: list[str]  # the same lines, timestamps and log levels stripped too (printed formats)
    obj: object = None  # the whole text as one JSON value, or None

    @classmethod
    def of(cls, raw: str) -> Text:
        lines = [strip_quote(ln) for ln in raw.splitlines()]
        obj = None
        if raw.lstrip()[:1] in ("{", "["):
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError:
                obj = None
        return cls(raw, lines, [_STAMP_RE.sub("", ln, count=1) for ln in lines], obj)


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
    if joined == "lr" or joined.endswith(("learning_rate", "learningrate")) or (w and "lr" in (w[0], w[-1])):
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


_SAVE_RE = re.compile(
    r"\b(?:sav(?:e|ed|ing)|wr(?:ote|iting))\b.{0,40}\b(?:checkpoint|ckpt|model|state)|"
    r"\bcheckpoint\b.{0,20}\bsaved\b",
    re.I,
)
_RESUME_RE = re.compile(r"\b(?:resum(?:e|ed|ing)|restor(?:e|ed|ing))\b|\bload(?:ed|ing)?\b.{0,20}\bcheckpoint", re.I)


def _not_a_record(p: Parsed, n: int, line: str) -> None:
    """A line that is not a record: skipped; it may name the vocabulary size, a save or a resume."""
    p.skipped.append(n)
    if "vocab_size" not in p.meta and (v := _VOCAB_RE.search(line)):
        p.meta["vocab_size"], p.meta["vocab_size_line"] = int(v.group(1)), n
    if _RESUME_RE.search(line):
        p.events.append({"kind": "resume", "line": n})
    elif _SAVE_RE.search(line):
        p.events.append({"kind": "save", "line": n})


def _add(p: Parsed, kind: str, rec: dict, n: int) -> dict:
    rec["_line"] = n  # readers.py places the events by it, then drops it
    (p.evals if kind == "eval" else p.steps).append(rec)
    return rec


def parse_printed(lines: list[str]) -> Parsed:
    """Records from printed lines; an lr-only line sets the lr of the record just above it."""
    p, words, last, vizuara_lines = Parsed("nanogpt"), [], None, 0
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        m = _STEP_RE.search(line)
        f = _fields(line[m.end() :]) if m else _fields(line)
        got = _record(int(m.group(2)), f) if m else None
        if got:
            last = _add(p, *got, n)
            words.append(m.group(1).lower())
            vizuara_lines += bool(_VIZUARA_RE.match(line))
        elif not m and set(f) == {"lr"} and last is not None and "lr" not in last:
            last["lr"] = f["lr"]  # Vizuara: "The current learning rate: Z" follows its epoch line
        else:
            _not_a_record(p, n, line)
    if words:
        top = max(set(words), key=words.count)
        p.unit = _unit_of(top)
        if top == "epoch" or vizuara_lines:
            p.format, p.unit = "vizuara", "micro-step"
    return p


def parse_vizuara(t: Text) -> Parsed | None:
    """The Vizuara notebook: `Epoch N: train loss X, val loss Y` then `The current learning rate: Z`."""
    p = parse_printed(t.clean)
    return p if p.format == "vizuara" else None


def parse_nanogpt(t: Text) -> Parsed | None:
    """nanoGPT's stdout and the many prints like it (`step N: train loss X, val loss Y`)."""
    p = parse_printed(t.clean)
    return p if p.format == "nanogpt" else None


def _matching(t: Text, pattern: re.Pattern, fmt: str, unit: str, record) -> Parsed | None:
    """Records from the lines `pattern` matches (record(match, line) -> (kind, rec) or None);
    None when no line matches."""
    p = Parsed(fmt, unit=unit)
    for n, line in enumerate(t.clean, 1):
        if not line.strip():
            continue
        m = pattern.search(line)
        got = record(m, line) if m else None
        if got:
            _add(p, *got, n)
        else:
            _not_a_record(p, n, line)
    return p if p.n else None


# LLMs-from-scratch (Raschka), ch05 train_model_simple: an eval every eval_freq steps,
# then a generated sample (its text is skipped)
_LFS_RE = re.compile(r"^\s*Ep (\d+) \(Step (\d+)\): Train loss " + _NUM + r", Val loss " + _NUM, re.I)


def parse_llms_from_scratch(t: Text) -> Parsed | None:
    def rec(m, _):
        return "eval", {
            "kind": "eval",
            "step": int(m.group(2)),
            "val_loss": float(m.group(4)),
            "train_loss": float(m.group(3)),
            "epoch": int(m.group(1)),
        }

    p = _matching(t, _LFS_RE, "llms_from_scratch", "step", rec)
    if p is not None:
        p.meta["skipped_kind"] = "the generated samples and other prints"
    return p


# mlx-lm's LoRA trainer: `Iter 10: Train loss 2.345, Learning Rate 1.000e-05, It/sec ...`
# and `Iter 200: Val loss 1.987, Val took 3.2s`
_MLX_RE = re.compile(r"^\s*Iter (\d+): (?:Train|Val) loss " + _NUM)


def parse_mlx(t: Text) -> Parsed | None:
    def rec(m, line):
        return _record(int(m.group(1)), _fields(line[line.index(":") + 1 :]))

    return _matching(t, _MLX_RE, "mlx", "iter", rec)


# litgpt: `iter 12 step 3: loss 9.1234, iter time: 123.45ms (optimizer.step)`,
# `Epoch 1 | iter 100 step 25 | loss train: 2.345, val: n/a | iter time: 500.00 ms (step)`,
# `iter 600: val loss 1.9720, val time: 1234.56ms`
_LITGPT_RE = re.compile(r"\biter\s+(\d+)\s*\|?\s*step\s+(\d+)\b", re.I)
_LITGPT_VAL_RE = re.compile(r"\biter\s+(\d+)\s*:\s*val loss\s*:?\s*" + _NUM, re.I)


def parse_litgpt(t: Text) -> Parsed | None:
    """Steps are litgpt's optimizer steps; the micro-batch losses of one step are averaged."""
    p, by_step, at = Parsed("litgpt", unit="update"), {}, []  # at: (iter, step) of train lines
    for n, line in enumerate(t.clean, 1):
        m, v = _LITGPT_RE.search(line), _LITGPT_VAL_RE.search(line)
        if m:
            it, step = int(m.group(1)), int(m.group(2))
            f = _fields(line[m.end() :])
            at.append((it, step))
            if "val" in f:
                _add(p, "eval", {"kind": "eval", "step": step, "val_loss": f["val"], "train_loss": None}, n)
            loss = f.get("train", f.get("loss"))
            if loss is None:
                _not_a_record(p, n, line)
                continue
            rec = by_step.setdefault(step, {"kind": "step", "step": step, "_sum": 0.0, "_n": 0, "_line": n})
            rec["_sum"] += loss
            rec["_n"] += 1
        elif v:
            it = int(v.group(1))
            step = max((s for i, s in at if i <= it), default=it)
            _add(p, "eval", {"kind": "eval", "step": step, "val_loss": float(v.group(2)), "train_loss": None}, n)
        elif line.strip():
            _not_a_record(p, n, line)
    for rec in by_step.values():
        rec["loss"] = rec.pop("_sum") / rec.pop("_n")
        p.steps.append(rec)
    return p if at and p.n else None


# tqdm and Lightning progress bars: `Epoch 0:  45%|████▌     | 450/1000 [00:30<00:37, 14.8it/s,
# loss=2.31, v_num=0, lr=0.0003]`; a refresh (\r) is a line of its own
_BAR_RE = re.compile(
    r"(?:Epoch\s+(\d+)\s*:)?[^|]*?\d+%\|[^|]*\|\s*(\d+)/(\d+|\?)\s*\[([^\]]*)\]"
    r"|(\d+)it\s*\[([^\]]*)\]",
    re.I,
)
_POSTFIX_RE = re.compile(r"([a-z][\w/\-.]*)=" + _NUM, re.I)


def parse_progress_bar(t: Text) -> Parsed | None:
    """The last refresh at each count; an eval where the bar's val loss changes."""
    p, steps, last_val = Parsed("progress_bar", unit="iter"), {}, None
    for n, line in enumerate(t.lines, 1):
        got = False
        for m in _BAR_RE.finditer(line):
            epoch, done, total, inside = m.group(1), m.group(2) or m.group(5), m.group(3), m.group(4) or m.group(6)
            f = {}
            for name, num in _POSTFIX_RE.findall(inside):
                if (r := role(name)) and r not in f and not name.lower().endswith("_epoch"):
                    f[r] = float(num)
            step = int(done) + (int(epoch) * int(total) if epoch and total and total.isdigit() else 0)
            loss = f.get("train", f.get("loss"))
            if loss is not None:
                steps[step] = {
                    "kind": "step",
                    "step": step,
                    "loss": loss,
                    "_line": n,
                    **({"lr": f["lr"]} if "lr" in f else {}),
                }
                got = True
            if "val" in f and f["val"] != last_val:
                last_val = f["val"]
                _add(p, "eval", {"kind": "eval", "step": step, "val_loss": f["val"], "train_loss": None}, n)
                got = True
        if not got and line.strip():
            _not_a_record(p, n, line)
    p.steps = list(steps.values())
    if p.n:
        p.meta["skipped_kind"] = "bars without a loss, warnings and other prints"
    return p if p.n else None


# a short table written by hand: `500 iterations: val 1.49`, `- 1k steps: train 1.9, val 2.1`
_HAND_RE = re.compile(
    r"^\s*(?:[-*•]\s*)?(?:(?:after|at)\s+)?(\d[\d,_]*)\s*(k)?\s*"
    r"(iterations?|iters?|its|steps?|updates?|epochs?|batches)\s*[:=|,\-–—]?\s*(.*)$",
    re.I,
)


def parse_handwritten(t: Text) -> Parsed | None:
    units = []

    def rec(m, _):
        step = int(m.group(1).replace(",", "").replace("_", "")) * (1000 if m.group(2) else 1)
        got = _record(step, _fields(m.group(4)))
        if got:
            units.append(_unit_of(m.group(3)))
        return got

    p = _matching(t, _HAND_RE, "handwritten", "step", rec)
    if p is not None:
        p.unit = max(set(units), key=units.count)
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


def _parse_rows(rows: list[tuple[int, dict]], cols: dict[str, str], fmt: str) -> Parsed:
    p = Parsed(fmt, unit=_unit_of(_words(cols["step"])[-1].replace("global", "step")))
    for n, row in rows:
        try:
            got = _row_record(row, cols, n)
        except (ValueError, TypeError):
            got = None
        if got is None:
            p.skipped.append(n)
            continue
        _add(p, *got, n)
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


def _parse_table(lines: list[str]) -> Parsed | None:
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


def _parse_jsonl(lines: list[str]) -> Parsed | None:
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


def _parse_dicts(rows: list[tuple[int, dict]], bad: list[int], fmt: str, what: str) -> Parsed | None:
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


_HF_META = (
    "max_steps",
    "num_train_epochs",
    "train_batch_size",
    "logging_steps",
    "eval_steps",
    "best_metric",
    "best_model_checkpoint",
    "global_step",
)


def _parse_trainer_state(state: dict) -> Parsed:
    """log_history: {loss, learning_rate, grad_norm, step} are steps, {eval_loss, step} evals.

    Its steps are optimizer updates (global_step). The trainer's `loss` is the mean
    training loss since the last log, with dropout on: not an eval-mode train loss,
    so evals get no train_loss.
    """
    p = Parsed("trainer_state", unit="step")
    for i, e in enumerate(state.get("log_history") or [], 1):
        try:
            step = _step_number(e.get("step"))
            if e.get("eval_loss") is not None:
                p.evals.append({"kind": "eval", "step": step, "val_loss": _number(e["eval_loss"]), "train_loss": None})
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
    epochs = [e.get("epoch") for e in state.get("log_history") or [] if isinstance(e, dict)]
    if epochs and _is_number(epochs[-1]):
        p.meta["epochs"] = float(epochs[-1])  # passes over the training data when the log ends
    p.meta["skipped_what"] = "entry"
    return p


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def parse_trainer_state(t: Text) -> Parsed | None:
    """A Hugging Face trainer_state.json: its log_history (with or without eval entries)."""
    if isinstance(t.obj, dict) and isinstance(t.obj.get("log_history"), list):
        return _parse_trainer_state(t.obj)
    return None


def parse_table(t: Text) -> Parsed | None:
    return _parse_table(t.lines)


def parse_jsonl(t: Text) -> Parsed | None:
    """JSON lines of dicts, or one JSON list of dicts."""
    if isinstance(t.obj, list) and t.obj and all(isinstance(r, dict) for r in t.obj):
        return _parse_dicts(list(enumerate(t.obj, 1)), [], "jsonl", "entry")
    if t.obj is not None or t.raw.lstrip()[:1] != "{":
        return None
    return _parse_jsonl(t.lines)


# ---------------------------------------------------------------------------
# PyTorch Lightning's CSVLogger metrics.csv: sparse rows (a train row, a val row, an epoch row)


def parse_lightning_csv(t: Text) -> Parsed | None:
    """`epoch,step,train_loss_step,val_loss,train_loss_epoch,...`: `step` is the global step
    (optimizer updates); a row with the step loss is a step, a row with val an eval, and
    the epoch-summary rows (`*_epoch` only) are read past."""
    start = next((i for i, ln in enumerate(t.lines) if ln.strip()), None)
    if start is None or "," not in t.lines[start]:
        return None
    names = _split(t.lines[start], ",")
    if "step" not in names or "epoch" not in names:
        return None
    roles = {n: role(n) for n in names}
    train = [n for n in names if roles[n] in ("train", "loss") and not n.endswith("_epoch")]
    train.sort(key=lambda n: not n.endswith("_step"))
    val = sorted((n for n in names if roles[n] == "val"), key=lambda n: n.endswith("_step"))
    lr = next((n for n in names if roles[n] == "lr"), None)
    if not (train or val) or not any(n.endswith(("_step", "_epoch")) for n in names) and not val:
        return None
    p, epochs = Parsed("lightning_csv", unit="update"), []
    for i in range(start + 1, len(t.lines)):
        if not t.lines[i].strip():
            continue
        cells = _split(t.lines[i], ",")
        try:
            row = dict(zip(names, cells, strict=True))
            step = _step_number(row["step"])
            got = False
            if train and (x := _number(row[train[0]])) is not None:
                rec = {"kind": "step", "step": step, "loss": x}
                if lr and (y := _number(row[lr])) is not None:
                    rec["lr"] = y
                _add(p, "step", rec, i + 1)
                got = True
            if val and (x := _number(row[val[0]])) is not None:
                _add(p, "eval", {"kind": "eval", "step": step, "val_loss": x, "train_loss": None}, i + 1)
                got = True
            if (e := _number(row["epoch"])) is not None:
                epochs.append(e)
            if not got and not any(_number(row[n]) is not None for n in names if n.endswith("_epoch")):
                p.skipped.append(i + 1)
        except (ValueError, TypeError):
            p.skipped.append(i + 1)
    p.meta["columns"] = {"step": "step", **({"train": train[0]} if train else {}), **({"val": val[0]} if val else {})}
    if epochs:
        p.meta["epochs"] = max(epochs) + 1
    return p if p.n else None


# ---------------------------------------------------------------------------
# a Jupyter notebook: what its cells printed


def printed_outputs(nb: dict) -> list[str]:
    """The lines the notebook's code cells printed (stream outputs), in order."""
    out = []
    for cell in nb["cells"]:
        for o in cell.get("outputs", []) if isinstance(cell, dict) else []:
            if isinstance(o, dict) and o.get("output_type") == "stream":
                text = o.get("text", "")
                out += ("".join(text) if isinstance(text, list) else str(text)).splitlines()
    return out
