"""The capstone (notebook 13): the best model in a fixed budget, what its losses read like,
and the class challenge's leaderboard.

- `budget_config(lesson)`: the run the capstone trains: the profile's budget preset
  (tinystories-cpu on a CPU, gpu on a GPU, smoke's own), on the corpus `course.start`
  picked (synthetic, at the profile's size, when TinyStories is not on the machine), with
  its `time_budget` (the preset's, else `BUDGET_SECONDS` of the profile): the wall time a
  run of the challenge gets; `budget_tokenizer()`, its tokenizer, for start's line.
- `ngram_sample(train, vocab_size, order, n_tokens, start, seed)`: text from the lower
  rungs of the loss ladder: uniform (order 0), unigram (1) and bigram (2), drawn from the
  token counts of the train split.
- `sample_text(model, tokenizer, ...)` and `SampleRecorder`, a recorder Callback that
  samples the model the first time val falls below each threshold (its own generator, so
  training is unchanged; a cached run gives the same text back).
- `eval_standard_error(model, data, cfg)`: how far one eval of a model can move with its batches.
- `next_run_items(cfg, history, findings, ...)`: the checklist for the next run, from this
  run's numbers: count updates, lint, the fixes in notebook 04's order (lr, warmup, min_lr and
  the per-update schedule with the higher lr, the tokenizer for speed, smaller evals), then
  the model's size, the data (data-limited when the doctor says `memorizing`, so the two
  agree), the best checkpoint, regularization, the ladder and the doctor;
  `checklist(items)`: those items as markdown, each linked to the lesson that measured it.
- The leaderboard: `record_result(path, row)` writes one row per (name, config) into a
  JSON-lines file (atomically; a re-run replaces its row), `read_leaderboards(paths)` merges
  several students' files and `format_leaderboard(rows)` prints them best first (in bits per
  byte, which compares runs across tokenizers). `python -m slmlab leaderboard FILES` is the
  teacher's view.

The check that compares a student's run with the notebook's is slmlab.exercises.check_capstone;
training is slmlab.train's, caching slmlab.experiments', the ladder slmlab.diagnostics'.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import files
from .callbacks import Callback
from .config import Config, validate
from .diagnostics import lint, passes_over_data
from .paths import runs_dir
from .presets import preset, profile
from .train import eval_batch_losses

__all__ = [
    "BUDGET_PRESETS",
    "BUDGET_SECONDS",
    "budget_config",
    "budget_tokenizer",
    "ngram_sample",
    "sample_text",
    "SampleRecorder",
    "eval_standard_error",
    "next_run_items",
    "checklist",
    "default_board",
    "record_result",
    "read_leaderboards",
    "format_leaderboard",
]

BUDGET_PRESETS = {"smoke": "smoke", "cpu": "tinystories-cpu", "gpu": "gpu"}  # profile -> what it trains
BUDGET_SECONDS = {"smoke": 5.0, "cpu": 600.0, "gpu": 600.0}  # a run's wall time, where its preset sets none


# ---------------------------------------------------------------------------
# The run and its budget


def budget_config(lesson) -> Config:
    """The capstone's config for `lesson` (course.start's): its profile's budget preset, on the
    corpus start picked, with a time_budget (the preset's own, else BUDGET_SECONDS[profile]).
    smoke keeps the lesson's own config (seconds, whatever the corpus)."""
    if lesson.smoke:
        cfg = lesson.cfg
    else:
        cfg = preset(BUDGET_PRESETS[lesson.profile])
        if lesson.cfg.data.corpus != cfg.data.corpus:  # start's fallback: synthetic, at the profile's size
            cfg = cfg.replace(corpus=lesson.cfg.data.corpus, corpus_bytes=lesson.cfg.data.corpus_bytes)
    return validate(cfg.replace(time_budget=cfg.train.time_budget or BUDGET_SECONDS[lesson.profile]))


def budget_tokenizer(profile_name: str | None = None) -> str:
    """The tokenizer of the budget preset of `profile_name` ($SLMLAB_PROFILE when None): what
    the notebook's start() line names, so it prints the tokenizer the run will use."""
    return preset(BUDGET_PRESETS[profile_name or profile()]).data.tokenizer


# ---------------------------------------------------------------------------
# What a loss reads like: samples from the ladder's rungs and from the model


def ngram_sample(train, vocab_size: int, order: int, n_tokens: int, start: int, seed: int = 0) -> list[int]:
    """n_tokens ids after `start`: uniform over the vocabulary (order 0), drawn from the train
    split's token counts (1), or from its counts of which token follows the previous one (2; a
    token never followed by anything in train falls back to the counts of order 1)."""
    if order not in (0, 1, 2):
        raise ValueError(f"order={order}: use 0 (uniform), 1 (unigram) or 2 (bigram)")
    rng = np.random.default_rng(seed)
    if order == 0:
        return rng.integers(vocab_size, size=n_tokens).tolist()
    train = np.asarray(train).astype(np.int64)  # (N,)
    unigram = np.bincount(train, minlength=vocab_size) / len(train)  # (V,)
    if order == 1:
        return rng.choice(vocab_size, size=n_tokens, p=unigram).tolist()
    codes, counts = np.unique(train[:-1] * vocab_size + train[1:], return_counts=True)  # sorted pairs
    out, prev = [], int(start)
    for _ in range(n_tokens):
        lo, hi = np.searchsorted(codes, [prev * vocab_size, (prev + 1) * vocab_size])
        if hi > lo:
            weights = counts[lo:hi] / counts[lo:hi].sum()
            prev = int(codes[lo + rng.choice(hi - lo, p=weights)] % vocab_size)
        else:
            prev = int(rng.choice(vocab_size, p=unigram))
        out.append(prev)
    return out


def sample_text(model: torch.nn.Module, tokenizer, n_tokens: int, seed: int = 0, temperature: float = 1.0) -> str:
    """A story the model writes from the end-of-text token, with its own generator: the global
    random state (and so training) is untouched, and the model gets its own mode back."""
    device = next(model.parameters()).device
    g = torch.Generator(device=device).manual_seed(seed)
    prompt = torch.tensor([[tokenizer.eot_id]], device=device)  # (1, 1)
    was_training = model.training
    try:
        out = model.generate(prompt, n_tokens, temperature=temperature, generator=g)  # (1, 1 + n_tokens)
    finally:
        model.train(was_training)
    return tokenizer.decode(out[0, 1:].tolist())


class SampleRecorder(Callback):
    """A recorder: at the first eval whose val loss is at or below each threshold, a sample of
    the model then (sample_text, same seed every time). recorded() is the list of
    {"threshold", "step", "val_loss", "text"}, one per threshold crossed; thresholds the run
    never reaches have none."""

    record_name = "capstone_samples"

    def __init__(self, thresholds: Sequence[float], *, n_tokens: int = 60, seed: int = 0, temperature: float = 1.0):
        self.thresholds = sorted((float(t) for t in thresholds), reverse=True)
        self.n_tokens, self.seed, self.temperature = n_tokens, seed, temperature
        self.samples: list[dict] = []

    def on_eval(self, trainer, record: dict) -> None:
        done = {s["threshold"] for s in self.samples}
        due = [t for t in self.thresholds if t not in done and record["val_loss"] <= t]
        if not due:
            return
        text = sample_text(trainer.model, trainer.data.tokenizer, self.n_tokens, self.seed, self.temperature)
        self.samples += [
            {"threshold": t, "step": record["step"], "val_loss": record["val_loss"], "text": text} for t in due
        ]

    def recorded(self) -> list[dict]:
        return list(self.samples)

    def restore(self, data: list[dict]) -> None:
        self.samples = list(data)


def eval_standard_error(model: torch.nn.Module, data, cfg: Config, device=None) -> float:
    """The standard error (nats) of one eval of `model`: the spread of its loss over the
    eval's own val batches (eval_batches of them, the Trainer's fixed ones) over sqrt(their number)."""
    t = cfg.train
    losses = eval_batch_losses(
        model, data.val, cfg.model.block_size, t.micro_batch_size, t.eval_batches, device
    ).double()  # (eval_batches,)
    if len(losses) < 2:
        raise ValueError(f"eval_batches={t.eval_batches}: one batch has no spread; use 2 or more")
    return float(losses.std() / len(losses) ** 0.5)


# ---------------------------------------------------------------------------
# The checklist for the next run


def next_run_items(
    cfg: Config, history, findings, *, bits_per_byte: float, eval_se: float, bigram: float | None = None
) -> list[tuple[str, str, str]]:
    """The checklist for the next run, as (what to do, what this run measured, where) items:
    first how to read a run (count updates, lint, the init check), then the fixes in notebook
    04's order (lr, warmup, min_lr with the per-update schedule and the higher lr, the
    tokenizer for speed, smaller evals), then the model's size, the data, the best checkpoint,
    regularization and the doctor. The data item follows the doctor: a run it calls
    `memorizing` is data-limited (more distinct text first), any other is told more time.

    history: the run's History; findings: diagnose(history, ladder)'s; bits_per_byte: the
    best val's; eval_se: one eval's standard error in nats; bigram: the bigram rung in nats."""
    m, t, meta = cfg.model, cfg.train, history.meta
    last_step, last_eval = history.steps[-1], history.evals[-1]
    updates, passes = last_step["step"], passes_over_data(history)  # the doctor's count
    best_step, best_val = history.best_val()
    gap = last_eval["val_loss"] - last_eval["train_loss"]
    why = {"time": "the time budget", None: "max_steps"}.get(history.stop_reason, history.stop_reason)
    bytes_per_token = meta["val_bytes"] / meta["n_val_tokens"]
    codes = {f.code for f in findings}
    serious = [f.code for f in findings if f.severity != "info"]
    linted = [f.code for f in lint(cfg) if f.severity != "info"]
    memorizing = "memorizing" in codes
    if memorizing:
        data = (
            "Your run is data-limited: get more distinct text before more time.",
            f"This run read its {meta['n_train_tokens']:,} train tokens {passes:.1f} times, and train ended "
            f"{gap:.3f} nats below val while val still fell: the doctor says `memorizing`. More time on "
            f"the same text buys less with every pass.",
            "05_data_size.ipynb, §3 Where overfitting starts",
        )
    else:
        data = (
            "Count the passes over your text; while train and val stay together, more time first.",
            f"This run read its {meta['n_train_tokens']:,} train tokens {passes:.1f} times; gap at the end "
            f"{gap:+.3f} nats" + ("; the doctor says `still_improving`." if "still_improving" in codes else "."),
            "05_data_size.ipynb, §3 Where overfitting starts; "
            "11_model_size.ipynb, §4 At fixed compute: which size wins?",
        )
    below = (
        ""
        if bigram is None
        else f"{abs(bigram - best_val):.2f} nats {'below' if best_val < bigram else 'above'} bigram; "
    )
    return [
        (
            "Count optimizer updates, not loop iterations.",
            f"This run: {updates} updates of {cfg.tokens_per_step:,} tokens ({t.micro_batch_size} x "
            f'{t.grad_accum_steps} micro-batches of {m.block_size}); the student\'s "20,000 iterations" were '
            f"625 updates.",
            "04_val_loss_9_clinic.ipynb, §1 The published run, on the axes that explain it",
        ),
        (
            "Lint the config and the script before training (`python -m slmlab lint`).",
            "This config: " + (", ".join(f"`{c}`" for c in linted) or "no error or warning") + ".",
            "04_val_loss_9_clinic.ipynb, §2 Their files, read as they are: the lint and the doctor",
        ),
        (
            "Check the loss at init and that one batch can be memorized.",
            f"At init: ln V = {math.log(meta['vocab_size']):.2f}.",
            "03_train_and_sample.ipynb, §4 Health checks before a long run",
        ),
        (
            "1. The lr first; search it at random, not on a grid.",
            f"This run: lr {t.lr:g}.",
            "08_learning_rate_and_warmup.ipynb, §2 An lr sweep: too low crawls, too high stalls; "
            "12_hyperparameter_search.ipynb, §4 Grid, random and TPE with the same budget",
        ),
        (
            "2. Warm up from 0, briefly.",
            f"This run: {t.warmup_steps} updates from 0.",
            "08_learning_rate_and_warmup.ipynb, §4 Warmup at a too-high lr",
        ),
        (
            "3. min_lr below lr, and the schedule stepped once per optimizer update, together with the "
            "higher lr, not alone; let it end with the budget.",
            f"This run: lr {t.lr:g} -> min_lr {t.min_lr:g} over {updates} updates, ended by {why}, "
            f"last lr {last_step['lr']:.2e}.",
            "04_val_loss_9_clinic.ipynb, §3 Their schedule, rebuilt with the real torch schedulers; "
            "12_hyperparameter_search.ipynb, §7 The chat answer's new config, one change at a time",
        ),
        (
            "4. Fit the tokenizer to your text, for speed; compare runs in bits per byte when tokenizers differ.",
            f"This run: {cfg.data.tokenizer}, V = {meta['vocab_size']:,}, {bytes_per_token:.2f} bytes per token; "
            f"best val {bits_per_byte:.4f} bits per byte.",
            "01_data_and_tokenizers.ipynb, §3 Tokens per byte, and the size of the vocabulary; "
            "01_data_and_tokenizers.ipynb, §5 The loss ladder per tokenizer, in bits per byte",
        ),
        (
            "5. Smaller evals: enough batches to see a difference, and no more.",
            f"{t.eval_batches} batches every {t.eval_interval} updates: one eval is good to {eval_se:.4f} nats.",
            "03_train_and_sample.ipynb, §5 How noisy is one evaluation?",
        ),
        (
            "Size the model for the budget: smaller gets more updates; wide before deep on a CPU.",
            f"This run: {m.n_layer} x {m.n_embd}, {meta['n_params']:,} parameters, {updates} updates.",
            "11_model_size.ipynb, §4 At fixed compute: which size wins?",
        ),
        data,
        (
            "Keep the best checkpoint; stop at the best eval.",
            f"Best val {best_val:.3f} at update {best_step} of {updates}.",
            "05_data_size.ipynb, §4 Early stopping keeps the best checkpoint",
        ),
        (
            "Regularize only when val and train part, after more text.",
            f"Gap at the end {gap:+.3f} nats"
            + ("; more text first, then dropout or weight decay." if memorizing else ": nothing to regularize yet."),
            '06_dropout.ipynb, §5 Verdict on C4, "raise dropout to 0.2-0.3"; '
            '07_weight_decay.ipynb, §7 Verdict on C3, "adjust weight decay"',
        ),
        (
            "Read the curve on the ladder, and ask the doctor.",
            f"{below}the doctor: " + (", ".join(f"`{c}`" for c in serious) or "nothing to fix") + ".",
            "00_start_here.ipynb, §4 What does a loss of 9 mean? The loss ladder; "
            "10_activations_and_gradients.ipynb, §7 The doctor names each run",
        ),
    ]


def checklist(items: Iterable[tuple[str, str, str]]) -> str:
    """Markdown: one line per (what to do, what this course measured, where), where is
    'NN_topic.ipynb, section' or several of them joined by '; ', each linked to its notebook."""
    lines = []
    for what, measured, where in items:
        refs = []
        for ref in where.split(";"):
            notebook, _, section = (part.strip() for part in ref.partition(","))
            refs.append(f"[{notebook}]({notebook})" + (f", {section}" if section else ""))
        lines.append(f"- [ ] **{what}** {measured} (" + "; ".join(refs) + ")")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# The leaderboard: JSON lines, one row per (name, config)


def default_board() -> Path:
    """Where the challenge's leaderboard file goes: <runs>/leaderboard/capstone.jsonl."""
    return runs_dir() / "leaderboard" / "capstone.jsonl"


def _key(row: dict) -> tuple[str, str]:
    return str(row["name"]), str(row["config"])


def record_result(path: str | Path, row: dict) -> list[dict]:
    """Add `row` to the leaderboard file at `path`, or replace the row of the same name and
    config (a re-run writes no duplicate). The whole file is rewritten atomically; returns its rows."""
    for field in ("name", "config", "bits_per_byte"):
        if field not in row:
            raise ValueError(f"a leaderboard row needs {field!r}; got {', '.join(row)}")
    path = Path(path)
    rows = _read_board(path) if path.is_file() else []
    row = {**row, "recorded": row.get("recorded") or time.strftime("%Y-%m-%dT%H:%M:%S")}
    rows = [r for r in rows if _key(r) != _key(row)] + [row]
    files.write_jsonl(path, rows)
    return rows


def _read_board(path: Path) -> list[dict]:
    try:
        rows = files.read_jsonl(path)
    except ValueError as e:
        raise ValueError(f"{e} (a leaderboard file: one JSON object per line)") from None
    for n, r in enumerate(rows, 1):
        if not isinstance(r, dict) or "name" not in r or "config" not in r or "bits_per_byte" not in r:
            raise ValueError(
                f"{path}: row {n} is not a leaderboard row (it needs name, config and "
                f"bits_per_byte); is this a capstone leaderboard file?"
            )
    return rows


def read_leaderboards(paths: Iterable[str | Path]) -> list[dict]:
    """All rows of several leaderboard files (a folder: its *.jsonl files), one per (name,
    config): the latest recorded wins. Best first, by bits per byte."""
    merged: dict[tuple[str, str], dict] = {}
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise ValueError(f"leaderboard {p}: no such file or folder")
        for f in sorted(p.glob("*.jsonl")) if p.is_dir() else [p]:
            for r in _read_board(f):
                old = merged.get(_key(r))
                if old is None or str(r.get("recorded", "")) >= str(old.get("recorded", "")):
                    merged[_key(r)] = r
    return sorted(merged.values(), key=lambda r: (float(r["bits_per_byte"]), str(r["name"])))


def format_leaderboard(rows: Sequence[dict]) -> str:
    """The rows as a table, best first, with what each run changed."""
    if not rows:
        return "no results yet"
    head = f"{'#':>3} {'name':24} {'bits/byte':>9} {'val':>7} {'updates':>7} {'seconds':>7} {'verdict':10} changes"
    lines = [head]
    for i, r in enumerate(sorted(rows, key=lambda r: float(r["bits_per_byte"])), 1):
        changes = ", ".join(f"{k}={_short(v)}" for k, v in (r.get("changes") or {}).items()) or "-"
        lines.append(
            f"{i:>3} {str(r['name'])[:24]:24} {float(r['bits_per_byte']):>9.4f} "
            f"{_num(r.get('val'), '.3f'):>7} {_num(r.get('updates'), 'd'):>7} "
            f"{_num(r.get('seconds'), '.0f'):>7} {str(r.get('verdict', '-')):10} {changes}"
        )
    return "\n".join(lines)


def _num(v: Any, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def _short(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else json.dumps(v) if not isinstance(v, str) else v
