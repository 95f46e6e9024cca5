"""Diagnostics: what a loss number means, what is wrong with a config or a run.

Holds, in this order:
- `Finding` and `format_findings`: the one shape every check below reports in
  (code, severity, message with the numbers and the fix, data, notebook);
- the **loss ladder** (`ladder`): uniform ln V, unigram and bigram
  cross-entropy on val with add-k counts from train, the synthetic corpus's
  entropy floor, the student's published point; nats/token and bits per byte;
- the **config lint** (`lint`) for slmlab configs and for the student
  notebook's own words (`STUDENT_CONFIG`);
- the **schedule checker** (`schedule`, `student_schedule`): lr per optimizer
  update and per micro-step, the student's rebuilt with real torch schedulers;
- the **loss doctor** (`diagnose`) for a History or a published curve
  (`STUDENT_PUBLISHED`, `history_from_evals`);
- **health checks** (`loss_at_init`, `overfit_one_batch`);
- **training statistics** (`TrainingStats`, a trainer Callback);
- the **lr finder** (`lr_find`).

It reads histories, models and token files; it draws nothing (slmlab.plots)
and knows no widgets. The CLI (`doctor`, `lint`, `ladder`) prints
`format_findings(...)` and `Ladder.as_table()`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import Config, ModelConfig
from .data import BatchSampler
from .model import GPT
from .train import Callback, History, lr_at

__all__ = [
    "Finding", "format_findings", "rank", "has_errors",
    "Rung", "Ladder", "ladder", "bits_per_byte", "unigram_cross_entropy", "bigram_cross_entropy",
    "lint", "STUDENT_CONFIG", "CHAT_CONFIG", "normalize_config",
    "Schedule", "schedule", "student_schedule",
    "diagnose", "history_from_evals", "student_history", "STUDENT_PUBLISHED", "clipped_fraction",
    "InitCheck", "OverfitCheck", "loss_at_init", "overfit_one_batch",
    "TrainingStats", "SATURATION_THRESHOLD", "LRFinderResult", "lr_find",
]

# ---------------------------------------------------------------------------
# Findings: what every check reports

SEVERITIES = ("error", "warning", "info")


@dataclass
class Finding:
    """One thing a check found: what, why, the fix, and the numbers behind it."""

    code: str  # stable name, e.g. "min_lr_above_lr"; tests and notebooks match on it
    severity: str  # "error" (wrong), "warning" (likely hurts), "info" (good to know)
    message: str  # what is wrong, why, and the fix, with the numbers
    data: dict = field(default_factory=dict)  # the numbers behind the message
    notebook: str | None = None  # the course notebook that teaches the fix

    def __str__(self) -> str:
        where = f"  [see {self.notebook}]" if self.notebook else ""
        return f"{self.severity.upper():7s} {self.code}: {self.message}{where}"


# order inside one severity: the most important problem first
_PRIORITY = ["diverged", "min_lr_above_lr", "scheduler_per_micro_step", "clip_before_unscale",
             "block_size_mismatch", "barely_trained", "lr_too_high", "overfitting", "lr_too_low",
             "still_improving", "eval_too_noisy", "val_below_train"]


def rank(findings: list[Finding]) -> list[Finding]:
    """Errors first, then warnings, then infos; known codes in _PRIORITY order."""
    def key(f: Finding) -> tuple[int, int]:
        prio = _PRIORITY.index(f.code) if f.code in _PRIORITY else len(_PRIORITY)
        return SEVERITIES.index(f.severity), prio
    return sorted(findings, key=key)


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


def format_findings(findings: list[Finding]) -> str:
    """One paragraph per finding, ranked; what the CLI prints."""
    if not findings:
        return "no findings"
    return "\n".join(str(f) for f in rank(findings))


def _tokens(n: float) -> str:
    return f"{n / 1e6:,.1f}M" if n >= 1e6 else f"{n:,.0f}"


def _fmt(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1e-2 or abs(x) >= 1e4 else f"{x:.4g}"


# ---------------------------------------------------------------------------
# Loss ladder: what a loss number means for this corpus and tokenizer

STUDENT_PUBLISHED = {500: 9.45, 1000: 8.49, 2000: 6.68, 5000: 4.29, 19500: 2.39}  # val by iteration
_K_GRID = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001, 1e-4)


@dataclass
class Rung:
    """One reference loss."""

    name: str  # "uniform", "unigram", "bigram", "entropy floor", "student @ iter 500"
    nats: float  # cross-entropy in nats per token (what train/val loss print)
    bits_per_byte: float | None  # the same in bits per UTF-8 byte: compares tokenizers
    note: str  # how it was computed


@dataclass
class Ladder:
    """Reference losses for one corpus + tokenizer, highest (worst) first."""

    rungs: list[Rung]
    vocab_size: int
    n_val_tokens: int
    val_bytes: int | None  # UTF-8 bytes of the val text; None: no bits per byte
    k: dict  # add-k used: {"unigram": k, "bigram": k}
    corpus: str = ""
    tokenizer: str = ""

    def __getitem__(self, name: str) -> Rung:
        for r in self.rungs:
            if r.name == name:
                return r
        raise KeyError(f"no rung {name!r}; rungs: {', '.join(r.name for r in self.rungs)}")

    def get(self, name: str, default: float | None = None) -> float | None:
        """The rung's nats, or default when this ladder has no such rung."""
        return next((r.nats for r in self.rungs if r.name == name), default)

    def to_dict(self) -> dict[str, float]:
        return {r.name: r.nats for r in self.rungs}

    def bits_per_byte(self, nats: float) -> float | None:
        """Any loss on this val split in bits per byte."""
        return bits_per_byte(nats, self.n_val_tokens, self.val_bytes) if self.val_bytes else None

    def where(self, loss: float) -> str:
        """'between unigram (3.01) and bigram (2.40)': a loss placed on the ladder."""
        above = [r for r in self.rungs if r.nats >= loss]
        below = [r for r in self.rungs if r.nats < loss]
        if not above:
            return f"above every rung, worse than {self.rungs[0].name} ({self.rungs[0].nats:.2f})"
        if not below:
            return f"below every rung, better than {self.rungs[-1].name} ({self.rungs[-1].nats:.2f})"
        hi, lo = above[-1], below[0]
        return f"between {hi.name} ({hi.nats:.2f}) and {lo.name} ({lo.nats:.2f})"

    def as_table(self) -> str:
        head = f"loss ladder: {self.corpus} / {self.tokenizer} (V={self.vocab_size:,}, " \
               f"{self.n_val_tokens:,} val tokens)"
        lines = [head, f"{'rung':22s} {'nats/token':>10s} {'bits/byte':>9s}  note"]
        for r in self.rungs:
            bpb = f"{r.bits_per_byte:9.3f}" if r.bits_per_byte is not None else f"{'-':>9s}"
            lines.append(f"{r.name:22s} {r.nats:10.3f} {bpb}  {r.note}")
        return "\n".join(lines)


def bits_per_byte(nats: float, n_tokens: int, n_bytes: int) -> float:
    """nats per token -> bits per byte: nats * tokens / (ln 2 * bytes)."""
    return nats * n_tokens / (math.log(2) * n_bytes)


def unigram_cross_entropy(train: np.ndarray, val: np.ndarray, vocab_size: int, k: float = 1.0) -> float:
    """Cross-entropy (nats/token) on val of token frequencies counted on train, add-k."""
    counts = np.bincount(np.asarray(train), minlength=vocab_size).astype(np.float64)  # (V,)
    logp = np.log(counts + k) - np.log(counts.sum() + k * vocab_size)  # (V,)
    return float(-logp[np.asarray(val)].mean())


def _pair_counts(train: np.ndarray, vocab_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse bigram counts: sorted pair codes prev*V+next, their counts, context counts."""
    train = np.asarray(train)
    codes = train[:-1].astype(np.int64) * vocab_size + train[1:]  # (N-1,)
    uniq, counts = np.unique(codes, return_counts=True)  # only pairs that occur: fine for V=50257
    ctx = np.bincount(train[:-1], minlength=vocab_size).astype(np.float64)  # (V,)
    return uniq, counts, ctx


def _bigram_from_counts(pairs, val: np.ndarray, vocab_size: int, k: float) -> float:
    uniq, counts, ctx = pairs
    val = np.asarray(val)
    codes = val[:-1].astype(np.int64) * vocab_size + val[1:]  # (M-1,)
    idx = np.minimum(np.searchsorted(uniq, codes), len(uniq) - 1)
    c_ab = np.where(uniq[idx] == codes, counts[idx], 0).astype(np.float64)
    logp = np.log(c_ab + k) - np.log(ctx[val[:-1]] + k * vocab_size)
    return float(-logp.mean())


def bigram_cross_entropy(train: np.ndarray, val: np.ndarray, vocab_size: int, k: float = 0.01) -> float:
    """Cross-entropy (nats/token) on val[1:] of p(next | prev) counted on train, add-k."""
    return _bigram_from_counts(_pair_counts(train, vocab_size), val, vocab_size, k)


def _choose_k(train: np.ndarray, vocab_size: int, order: int) -> float:
    """The add-k (from _K_GRID) that scores best on the last 10% of train, counted on the rest.

    Val is never looked at, so the rung stays an honest held-out number.
    """
    cut = int(len(train) * 0.9)
    fit, held = np.asarray(train[:cut]), np.asarray(train[cut:])
    if order == 1:
        scores = {k: unigram_cross_entropy(fit, held, vocab_size, k) for k in _K_GRID}
    else:
        pairs = _pair_counts(fit, vocab_size)
        scores = {k: _bigram_from_counts(pairs, held, vocab_size, k) for k in _K_GRID}
    return min(scores, key=scores.get)


def ladder(data, *, k: float | str = "auto") -> Ladder:
    """The loss ladder of a TokenData (slmlab.data.prepare) on its val split.

    k: add-k smoothing for the unigram and bigram counts; "auto" picks, for each,
    the k of (1, 0.3, ..., 1e-4) that does best on the last 10% of train.
    """
    train, val, V, m = np.asarray(data.train), np.asarray(data.val), int(data.vocab_size), data.manifest
    if len(train) < 20 or len(val) < 2:
        raise ValueError(f"too few tokens for a ladder (train {len(train)}, val {len(val)}); "
                         f"use more data (corpus_bytes or data_fraction)")
    k1 = _choose_k(train, V, 1) if k == "auto" else float(k)
    k2 = _choose_k(train, V, 2) if k == "auto" else float(k)
    n_val, val_bytes = len(val), m.get("val_bytes")
    bpb = (lambda x: bits_per_byte(x, n_val, val_bytes)) if val_bytes else (lambda x: None)
    rungs = [Rung("uniform", math.log(V), bpb(math.log(V)), f"ln V: a uniform guess over {V:,} tokens"),
             Rung("unigram", (u := unigram_cross_entropy(train, val, V, k1)), bpb(u),
                  f"token frequencies from train, add-k k={k1:g}"),
             Rung("bigram", (b := bigram_cross_entropy(train, val, V, k2)), bpb(b),
                  f"p(next | previous token) from train, add-k k={k2:g}")]
    if m.get("entropy_floor") is not None:
        f = float(m["entropy_floor"])
        rungs.append(Rung("entropy floor", f, bpb(f), "exact entropy of the synthetic generator: "
                                                      "no model can go below it on average"))
    if m.get("tokenizer") == "gpt2":
        s = STUDENT_PUBLISHED[500]
        rungs.append(Rung("student @ iter 500", s, bpb(s), "the student's published val loss at iteration "
                          "500 (15 optimizer updates; TinyStories, GPT-2 tokens)"))
    rungs.sort(key=lambda r: -r.nats)
    return Ladder(rungs, V, n_val, val_bytes, {"unigram": k1, "bigram": k2},
                  corpus=str(m.get("corpus", "")), tokenizer=str(m.get("tokenizer", "")))


def _ladder_dict(ladder_or_dict, meta: dict) -> dict[str, float]:
    """Rung name -> nats from a Ladder, a plain dict, or (at least) the history's meta."""
    if isinstance(ladder_or_dict, Ladder):
        out = ladder_or_dict.to_dict()
    else:
        out = dict(ladder_or_dict or {})
    if "uniform" not in out and meta.get("vocab_size"):
        out["uniform"] = math.log(meta["vocab_size"])
    if "entropy floor" not in out and meta.get("entropy_floor") is not None:
        out["entropy floor"] = float(meta["entropy_floor"])
    return out


# ---------------------------------------------------------------------------
# Config lint: the student's bugs, caught before training
#
# A config comes in three shapes, all normalized to one flat dict of slmlab names
# (lr, min_lr, warmup_steps and max_steps in OPTIMIZER UPDATES, ...) plus facts:
# a slmlab Config, Config.to_dict(), or a dict in the student notebook's words.

STUDENT_CONFIG: dict[str, Any] = {
    # the numbers in the student's notebook (its names)
    "learning_rate": 1e-4, "max_iters": 20000, "warmup_steps": 1000, "min_lr": 5e-4,
    "eval_iters": 500, "batch_size": 32, "block_size": 128, "gradient_accumulation_steps": 32,
    "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.95, "grad_clip": 0.5,
    "n_layer": 6, "n_head": 6, "n_embd": 384, "dropout": 0.1, "vocab_size": 50257,
    "model_block_size": 128,  # GPTConfig(block_size=...) is set apart from the training block_size
    # facts about how its code uses them
    "scheduler_steps_per": "micro_step",  # scheduler.step() on every loop iteration
    "weight_decay_on_all_params": True,  # AdamW(model.parameters(), weight_decay=0.1)
    "amp_dtype": "float16",  # torch.amp autocast fp16 + GradScaler
    "clip_before_unscale": True,  # clip_grad_norm_ before scaler.unscale_ / scaler.step
    "eot_between_documents": False,  # stories concatenated with no <|endoftext|>
    "warmup_start_factor": 1 / 3,  # LinearLR's default start_factor
    "resume": False,  # no checkpoint holds optimizer + step
}

# The chat answer's new numbers (C17-C24), the rest of the notebook unchanged.
CHAT_CONFIG: dict[str, Any] = {**STUDENT_CONFIG, "learning_rate": 6e-4, "max_iters": 50000,
                               "warmup_steps": 5000, "min_lr": 1e-5, "eval_iters": 200,
                               "batch_size": 64, "block_size": 256, "gradient_accumulation_steps": 16}

_NOTEBOOK_WORDS = {"learning_rate": "lr", "batch_size": "micro_batch_size",
                   "gradient_accumulation_steps": "grad_accum_steps"}


def normalize_config(config) -> dict:
    """A flat dict: slmlab names, schedule lengths in optimizer updates, and facts."""
    if isinstance(config, Config):
        return _from_slmlab(config)
    if not isinstance(config, dict):
        raise TypeError(f"lint/schedule take a slmlab Config or a dict, not {type(config).__name__}")
    if "max_iters" in config or "learning_rate" in config or "eval_iters" in config:
        return _from_notebook(config)
    return _from_slmlab(_to_config(config), extra=config)


def _to_config(config) -> Config:
    """A Config from a Config, Config.to_dict(), or a flat dict of slmlab field names."""
    if isinstance(config, Config):
        return config
    if {"model", "data", "train"} & set(config):
        return Config.from_dict(config)
    names = set(Config().flat())
    return Config().replace(**{k: v for k, v in config.items() if k in names})


def _from_slmlab(cfg: Config, extra: dict | None = None) -> dict:
    c = cfg.flat()
    c.update(style="slmlab", scheduler_steps_per="update", weight_decay_on_all_params=False,
             amp_dtype=cfg.train.dtype, clip_before_unscale=False, eot_between_documents=True,
             model_block_size=cfg.model.block_size, block_size_set_twice=False,
             eval_iters_as_interval=False, warmup_start_factor=1 / (cfg.train.warmup_steps + 1),
             resume=True, preset=cfg.name)
    if c["vocab_size"] is None:
        c["vocab_size"] = _vocab_guess(cfg.data.tokenizer)
    c.update({k: v for k, v in (extra or {}).items() if k not in c})
    return c


def _vocab_guess(tokenizer: str) -> int | None:
    if tokenizer == "gpt2":
        return 50257
    if tokenizer.startswith("bpe-") and tokenizer[4:].isdigit():
        return int(tokenizer[4:])  # about N: close enough for a parameter count
    return None


def _from_notebook(d: dict) -> dict:
    """The student notebook's words: max_iters counts loop iterations = micro-batches."""
    c = {_NOTEBOOK_WORDS.get(k, k): v for k, v in d.items()}
    accum = int(c.get("grad_accum_steps", 1))
    per_micro = c.get("scheduler_steps_per") == "micro_step"
    c["max_iters"] = int(c.get("max_iters", 0))
    c["max_steps"] = c["max_iters"] // accum
    c["warmup_iters"] = int(c.get("warmup_steps", 0))  # in scheduler steps
    c["warmup_steps"] = c["warmup_iters"] / accum if per_micro else c["warmup_iters"]
    if "eval_iters" in c and "eval_interval" not in c:
        c.update(eval_iters_as_interval=True, eval_interval=c["eval_iters"] / accum,
                 eval_batches=c["eval_iters"])
    c["block_size_set_twice"] = "model_block_size" in c
    c.setdefault("model_block_size", c.get("block_size"))
    c["style"] = "notebook"
    return c


def lint(config, *, n_train_tokens: int | None = None) -> list[Finding]:
    """Check a config before training; ranked findings, errors first.

    n_train_tokens (or the dict's own "n_train_tokens"): lets the budget say how
    many epochs the run makes over the data.
    """
    c = normalize_config(config)
    if n_train_tokens is not None:
        c["n_train_tokens"] = n_train_tokens
    found = [f for check in _LINT_CHECKS if (f := check(c)) is not None]
    return rank(found + [_budget(c)])


def _lint_min_lr(c: dict) -> Finding | None:
    lr, min_lr = c.get("lr"), c.get("min_lr")
    if lr is None or min_lr is None or min_lr <= lr:
        return None
    return Finding("min_lr_above_lr", "error",
                   f"min_lr={_fmt(min_lr)} is above lr={_fmt(lr)}: after warmup the cosine phase RAISES "
                   f"the learning rate from {_fmt(lr)} toward {_fmt(min_lr)} (x{min_lr / lr:.3g}) "
                   f"instead of lowering it. Fix: min_lr <= lr, usually lr/10.",
                   {"lr": lr, "min_lr": min_lr}, "08_learning_rate_and_warmup")


def _lint_scheduler(c: dict) -> Finding | None:
    accum = int(c.get("grad_accum_steps", 1))
    if c.get("scheduler_steps_per") != "micro_step" or accum <= 1:
        return None
    return Finding("scheduler_per_micro_step", "error",
                   f"the lr scheduler steps on every micro-step, the optimizer every {accum}: "
                   f"max_iters={c['max_iters']} iterations are only {c['max_steps']} optimizer updates, "
                   f"warmup {c['warmup_iters']} 'steps' lasts {c['warmup_steps']:.3g} updates, and the "
                   f"schedule runs {accum}x faster than the updates. Fix: call scheduler.step() "
                   f"right after optimizer.step() and count warmup and max in optimizer updates.",
                   {"grad_accum_steps": accum, "max_iters": c["max_iters"], "max_steps": c["max_steps"],
                    "warmup_updates": c["warmup_steps"]}, "08_learning_rate_and_warmup")


def _lint_eval_iters(c: dict) -> Finding | None:
    if not c.get("eval_iters_as_interval"):
        return None
    n = int(c["eval_iters"])
    cost = 2 * n / (3 * n)  # 2 splits x n forward passes per n fwd+bwd iterations (~3 forwards each)
    return Finding("eval_iters_as_interval", "warning",
                   f"eval_iters={n} is used twice: as the number of iterations between evaluations AND "
                   f"as the number of batches per evaluation. Changing it to 'evaluate more often' "
                   f"also averages fewer batches (a noisier val loss); with both splits measured the "
                   f"evals cost ~{cost:.0%} of the training compute whatever the value. Fix: two "
                   f"numbers, eval_interval (updates between evals) and eval_batches (batches per eval).",
                   {"eval_iters": n, "eval_cost_fraction": cost}, "03_train_and_sample")


def _lint_clip(c: dict) -> Finding | None:
    if not (c.get("clip_before_unscale") and c.get("amp_dtype") == "float16" and c.get("grad_clip", 0)):
        return None
    clip, scale = c["grad_clip"], 65536.0
    return Finding("clip_before_unscale", "error",
                   f"with fp16 the GradScaler multiplies the loss (by {scale:.0f} at start), and the "
                   f"gradients are clipped while still scaled: grad_clip={clip} then cuts every step, to "
                   f"a true norm of about {clip / scale:.2g}, so real spikes are never caught. Fix: "
                   f"scaler.unscale_(optimizer) before clip_grad_norm_, then scaler.step(optimizer).",
                   {"grad_clip": clip, "initial_scale": scale}, "03_train_and_sample")


def _lint_block_size(c: dict) -> Finding | None:
    model_bs, bs = c.get("model_block_size"), c.get("block_size")
    if model_bs is not None and bs is not None and model_bs != bs:
        return Finding("block_size_mismatch", "error",
                       f"the model's block_size={model_bs} differs from the training block_size={bs}: "
                       + ("batches are longer than the position table, the forward pass crashes. "
                          if bs > model_bs else "the model never sees its last positions. ")
                       + "Fix: one block_size for model and data.",
                       {"block_size": bs, "model_block_size": model_bs}, "09_batch_size_and_accumulation")
    if c.get("block_size_set_twice"):
        return Finding("block_size_mismatch", "warning",
                       f"block_size={bs} is set twice, once for the model and once for the batches: "
                       f"change only one (as 'block 256' asks) and the run crashes or wastes positions. "
                       f"Fix: one block_size that both read.",
                       {"block_size": bs, "model_block_size": model_bs}, "09_batch_size_and_accumulation")
    return None


def _lint_decay(c: dict) -> Finding | None:
    if not (c.get("weight_decay_on_all_params") and c.get("weight_decay", 0) > 0):
        return None
    return Finding("decay_on_norms_and_biases", "warning",
                   f"weight_decay={c['weight_decay']} is applied to every parameter, LayerNorm gains and "
                   f"biases included: decay pulls the norm gains toward 0. Fix: two parameter groups, "
                   f"decay on matmul weights and embeddings (dim >= 2) only.",
                   {"weight_decay": c["weight_decay"]}, "07_weight_decay")


def _lint_eot(c: dict) -> Finding | None:
    if c.get("eot_between_documents", True):
        return None
    return Finding("no_eot_between_documents", "warning",
                   "documents are joined with no end-of-text token: the model is trained to continue "
                   "one story into the next with no signal that a new one begins, and cannot learn to "
                   "stop. Fix: append <|endoftext|> (id 50256 for GPT-2) after every document.",
                   {}, "01_data_and_tokenizers")


def _lint_warmup(c: dict) -> Finding | None:
    warm, total = float(c.get("warmup_steps", 0)), float(c.get("max_steps", 0))
    if total <= 0 or warm <= 0.2 * total:
        return None
    sev = "error" if warm >= total else "warning"
    return Finding("warmup_too_long", sev,
                   f"warmup lasts {warm:.4g} of {total:.4g} optimizer updates ({warm / total:.0%}): the run "
                   f"spends that share below its peak lr. Warmup of 1-10% of the run (a few hundred updates "
                   f"at most at this scale) is the usual choice. Fix: shorten warmup_steps.",
                   {"warmup_steps": warm, "max_steps": total, "fraction": warm / total},
                   "08_learning_rate_and_warmup")


def _lint_vocab(c: dict) -> Finding | None:
    V, C, L = c.get("vocab_size"), c.get("n_embd"), c.get("n_layer")
    if not (V and C and L):
        return None
    emb, body = V * C, 12 * L * C * C
    T = int(c.get("block_size") or 0)
    head_share = 2 * V * C / (2 * V * C + 24 * L * C * C + 4 * L * T * C)  # forward FLOPs per token
    if emb <= body:
        return None
    return Finding("vocab_dominates_params", "warning",
                   f"the {V:,}-token embedding holds {emb / 1e6:.1f}M parameters, more than the "
                   f"{L} transformer blocks ({body / 1e6:.1f}M, {emb / (emb + body):.0%} of all), and "
                   f"the output layer is ~{head_share:.0%} of the forward FLOPs per token. "
                   f"Most of that buys rare tokens. Fix for a small model: a smaller vocabulary "
                   f"(bpe-4096 trained on the corpus) or a wider model.",
                   {"embedding_params": emb, "block_params": body, "head_flop_share": head_share},
                   "01_data_and_tokenizers")


def _lint_small_extras(c: dict) -> Finding | None:
    f = c.get("warmup_start_factor")
    if c.get("style") == "notebook" and f is not None and f > 0.05:
        return Finding("warmup_starts_high", "info",
                       f"LinearLR warmup starts at lr x {f:.3g}, not near 0 (its default start_factor is "
                       f"1/3): the first updates already run at a third of the peak lr.",
                       {"start_factor": f}, "08_learning_rate_and_warmup")
    return None


def _lint_resume(c: dict) -> Finding | None:
    if c.get("resume", True):
        return None
    return Finding("no_resume", "info", "no checkpoint holds model, optimizer, scaler and step: a run "
                   "that stops (Colab timeout, crash) starts again from zero.", {}, "03_train_and_sample")


def _budget(c: dict) -> Finding:
    B, A, T = int(c.get("micro_batch_size", 0)), int(c.get("grad_accum_steps", 1)), int(c.get("block_size", 0))
    per_update, updates = B * A * T, int(c.get("max_steps", 0))
    total = per_update * updates
    data = {"tokens_per_update": per_update, "optimizer_updates": updates, "total_tokens": total}
    msg = (f"{B} x {A} x {T} = {per_update:,} tokens per update, {updates:,} optimizer updates, "
           f"{_tokens(total)} tokens in all")
    n_train = c.get("n_train_tokens")
    if n_train:
        data["epochs"] = total / n_train
        msg += f", {total / n_train:.3g} epochs over {_tokens(n_train)} train tokens"
    return Finding("budget", "info", msg + ".", data, "09_batch_size_and_accumulation")


_LINT_CHECKS = [_lint_min_lr, _lint_scheduler, _lint_eval_iters, _lint_clip, _lint_block_size,
                _lint_decay, _lint_eot, _lint_warmup, _lint_vocab, _lint_small_extras, _lint_resume]


# ---------------------------------------------------------------------------
# Schedule checker: the lr the optimizer really sees


@dataclass
class Schedule:
    """Learning rate per optimizer update and per micro-step (arrays; plots draws them)."""

    update_steps: np.ndarray  # 0 .. max_steps-1
    lr: np.ndarray  # lr used at each optimizer update
    micro_steps: np.ndarray  # 0 .. max_steps*grad_accum_steps-1
    lr_micro: np.ndarray  # the scheduler's lr at each micro-step (what its plot shows)
    grad_accum_steps: int
    label: str


def schedule(config, *, label: str | None = None) -> Schedule:
    """The lr of a config: slmlab's lr_at, or the student's scheduler when the dict says so."""
    c = normalize_config(config)
    if c["style"] == "notebook":
        return student_schedule(lr=c["lr"], min_lr=c["min_lr"], warmup=c["warmup_iters"],
                                max_iters=c["max_iters"], grad_accum_steps=c.get("grad_accum_steps", 1),
                                per_micro_step=c.get("scheduler_steps_per") == "micro_step",
                                start_factor=c.get("warmup_start_factor", 1 / 3), label=label)
    cfg = _to_config(config)
    t = cfg.train
    lr = np.array([lr_at(s, t) for s in range(t.max_steps)])
    micro = np.repeat(lr, t.grad_accum_steps)
    return Schedule(np.arange(t.max_steps), lr, np.arange(len(micro)), micro, t.grad_accum_steps,
                    label or f"{cfg.name}: warmup {t.warmup_steps} + cosine to {t.min_lr:g}")


def student_schedule(lr: float = 1e-4, min_lr: float = 5e-4, warmup: int = 1000, max_iters: int = 20000,
                     grad_accum_steps: int = 32, *, per_micro_step: bool = True,
                     start_factor: float = 1 / 3, label: str | None = None) -> Schedule:
    """The student's schedule rebuilt with real torch schedulers.

    LinearLR(start_factor, total_iters=warmup) then CosineAnnealingLR(T_max=max_iters-warmup,
    eta_min=min_lr) chained by SequentialLR(milestones=[warmup]); stepped every loop iteration
    (per_micro_step) while the optimizer steps every grad_accum_steps iterations.
    """
    from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR

    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sched = SequentialLR(opt, [LinearLR(opt, start_factor=start_factor, total_iters=warmup),
                               CosineAnnealingLR(opt, T_max=max(1, max_iters - warmup), eta_min=min_lr)],
                         milestones=[warmup])
    n_sched = max_iters if per_micro_step else max_iters // grad_accum_steps
    lrs = np.empty(n_sched)
    for i in range(n_sched):
        lrs[i] = opt.param_groups[0]["lr"]
        opt.step()  # no gradient: a no-op that keeps torch's order check quiet
        sched.step()
    micro = lrs if per_micro_step else np.repeat(lrs, grad_accum_steps)
    upd = micro[grad_accum_steps - 1::grad_accum_steps]  # lr at each optimizer.step()
    return Schedule(np.arange(len(upd)), upd, np.arange(len(micro)), micro, grad_accum_steps,
                    label or f"student: LinearLR + cosine(eta_min={min_lr:g}), stepped per "
                             f"{'micro-step' if per_micro_step else 'update'}")


# ---------------------------------------------------------------------------
# Loss doctor: what a finished (or published) run says


@dataclass
class CurveHistory:
    """A History-like record built from eval points only (e.g. a published curve)."""

    steps: list[dict]
    evals: list[dict]
    config: dict
    meta: dict
    stop_reason: str | None = None


def history_from_evals(val_by_step: dict[int, float], *, train_by_step: dict[int, float] | None = None,
                       vocab_size: int | None = None, config: dict | None = None,
                       meta: dict | None = None) -> CurveHistory:
    """A History-like object that diagnose() reads, from {step: val_loss} (and train)."""
    evals = [{"kind": "eval", "step": int(s), "val_loss": float(v),
              "train_loss": float(train_by_step[s]) if train_by_step and s in train_by_step else None}
             for s, v in sorted(val_by_step.items())]
    return CurveHistory([], evals, dict(config or {}), {"vocab_size": vocab_size, **(meta or {})})


def student_history() -> CurveHistory:
    """The student's published val curve; steps are their loop iterations (micro-steps)."""
    return history_from_evals(STUDENT_PUBLISHED, vocab_size=50257, config=dict(STUDENT_CONFIG),
                              meta={"corpus": "tinystories", "tokenizer": "gpt2",
                                    "step_unit": "iteration (a micro-step; 32 per optimizer update)",
                                    "label": "student (published)"})


def _curves(h) -> dict:
    """Arrays out of any History-like object: step loss, eval val/train, lr, grad norms."""
    def arr(rows, key):
        keep = [r for r in rows if r.get(key) is not None]
        return (np.array([r["step"] for r in keep], dtype=float),
                np.array([r[key] for r in keep], dtype=float))
    out = {}
    out["s_x"], out["s_loss"] = arr(h.steps, "loss")
    _, out["s_gn"] = arr(h.steps, "grad_norm")
    out["e_x"], out["val"] = arr(h.evals, "val_loss")
    out["t_x"], out["train"] = arr(h.evals, "train_loss")
    return out


def _flat_config(h) -> dict:
    cfg = getattr(h, "config", None) or {}
    try:
        return normalize_config(cfg) if cfg else {}
    except Exception:  # an unknown dict shape: the doctor still reads the curves
        return {}


def _smooth(y: np.ndarray, frac: float = 0.1) -> np.ndarray:
    """Centered running mean over ~frac of the points (at least 1)."""
    w = max(1, int(len(y) * frac)) | 1
    if len(y) < 3 or w == 1:
        return y.copy()
    pad = np.pad(y, w // 2, mode="edge")
    return np.convolve(pad, np.ones(w) / w, mode="valid")


def _noise_sd(y: np.ndarray) -> float:
    """Robust noise level of a smooth curve: MAD of second differences / sqrt(6)."""
    if len(y) < 4:
        return 0.0
    d2 = np.diff(y, 2)
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / math.sqrt(6))


def diagnose(history, ladder: Ladder | dict | None = None) -> list[Finding]:
    """Read a History (or a run folder, or history_from_evals(...)); ranked findings.

    ladder: a Ladder or {rung: nats}; without it the doctor knows ln V and the
    entropy floor from the history's meta, and says less.
    """
    if isinstance(history, (str, Path)):
        p = Path(history)
        history = History.load(p / "history.jsonl" if p.is_dir() else p)
    meta = getattr(history, "meta", {}) or {}
    ctx = {"c": _curves(history), "cfg": _flat_config(history), "meta": meta,
           "rungs": _ladder_dict(ladder, meta), "stop": getattr(history, "stop_reason", None)}
    found = [f for rule in _DOCTOR_RULES if (f := rule(ctx)) is not None]
    return rank(found)


def _finite_tail(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(y)
    return x[ok], y[ok]


def _dr_diverged(ctx) -> Finding | None:
    c, notes = ctx["c"], []
    bad, bad_val = ~np.isfinite(c["s_loss"]), ~np.isfinite(c["val"])
    if bad.any() or bad_val.any() or ctx["stop"] == "nan":
        at = c["s_x"][bad][0] if bad.any() else (c["e_x"][bad_val][0] if bad_val.any() else None)
        notes.append(f"the loss became NaN/inf{f' at step {int(at)}' if at is not None else ''}")
    x, y = _finite_tail(c["s_x"], c["s_loss"])
    rise = 0.0
    if len(y) >= 5:
        s = _smooth(y, 0.05)
        low = np.minimum.accumulate(s)  # the best loss so far
        i = int(np.argmax(s - low))
        rise = float(s[i] - low[i])
        if rise > max(1.0, 0.25 * low[i]):
            back = " and came back down" if s[-1] < low[i] + 1.0 else ""
            notes.append(f"the smoothed train loss blew up to {s[i]:.4g} at step {int(x[i])}, "
                         f"{rise:.3g} nats above its best so far ({low[i]:.3f}){back}; it ends at {s[-1]:.3f}")
    if not notes:
        return None
    lr = ctx["cfg"].get("lr")
    return Finding("diverged", "error", "; ".join(notes) + ". The updates are too large: lower lr"
                   + (f" (it was {_fmt(lr)})" if lr else "") + ", keep gradient clipping on, or warm up longer.",
                   {"rise": rise, "nonfinite_steps": int(bad.sum()), "lr": lr}, "08_learning_rate_and_warmup")


def _dr_barely_trained(ctx) -> Finding | None:
    c, r = ctx["c"], ctx["rungs"]
    _, val = _finite_tail(c["e_x"], c["val"])
    if not len(val) or "uniform" not in r:
        return None
    v, u, uni = float(val[-1]), r["uniform"], r.get("unigram")
    if v > 1.1 * u:
        return None  # worse than guessing: broken or diverged (see diverged), not "barely trained"
    near_uniform = v >= 0.75 * u
    above_unigram = uni is not None and v >= uni - 0.02
    train = float(c["train"][-1]) if len(c["train"]) else None
    if not (near_uniform or above_unigram) or (train is not None and train < 0.8 * v):
        return None
    what = [f"val {v:.3f} is {v / u:.0%} of a uniform guess (ln V = {u:.2f})"]
    if uni is not None:
        what.append(f"{'above' if v >= uni else 'about'} a unigram model ({uni:.2f}), which knows only "
                    f"token frequencies")
    if train is not None:
        what.append(f"train {train:.3f} is just as high, so this is not overfitting")
    step = int(c["e_x"][np.isfinite(c["val"])][-1])
    return Finding("barely_trained", "error", "; ".join(what) + f" (after {step:,} {_unit(ctx)}s). The model has "
                   f"barely started: it needs many more updates at a working lr, not regularization.",
                   {"val": v, "uniform": u, "unigram": uni, "train": train, "step": step},
                   "04_val_loss_9_clinic")


def _dr_still_improving(ctx) -> Finding | None:
    x, v = _finite_tail(ctx["c"]["e_x"], ctx["c"]["val"])
    if len(v) < 3 or np.argmin(v) < len(v) - 2:
        return None
    k = max(3, len(v) // 4)
    fit = float(np.polyfit(x[-k:], v[-k:], 1)[0])  # nats per step over the last k evals
    last = float((v[-1] - v[-2]) / max(x[-1] - x[-2], 1))  # the last segment
    slope = max(fit, last)  # the slower of the two: a curve bends, so don't over-promise
    gain = -slope * 0.25 * x[-1]  # what a run 25% longer would gain at that slope
    if slope >= 0 or gain < max(0.01, 2 * _noise_sd(v), 0.005 * v[-1]):
        return None
    unit = _unit(ctx)
    return Finding("still_improving", "warning",
                   f"val is still falling at the end: {-slope * 1000:.3g} nats per 1000 {unit}s lately "
                   f"(val {v[-1]:.3f} at {unit} {int(x[-1]):,}); 25% more {unit}s would gain up to "
                   f"~{gain:.2f} nats. Train longer (more max_steps) before changing anything else.",
                   {"slope_per_1000": slope * 1000, "val": float(v[-1]), "projected_gain": gain},
                   "03_train_and_sample")


def _unit(ctx) -> str:
    return str(ctx["meta"].get("step_unit") or "step").split()[0]


def _dr_overfitting(ctx) -> Finding | None:
    c = ctx["c"]
    x, v = _finite_tail(c["e_x"], c["val"])
    if len(v) < 3:
        return None
    ib = int(np.argmin(v))
    rise = float(v[-1] - v[ib])
    if ib == len(v) - 1 or rise < max(0.02, 2 * _noise_sd(v), 0.01 * v[ib]):
        return None
    data = {"best_step": int(x[ib]), "best_val": float(v[ib]), "final_val": float(v[-1]), "rise": rise}
    gap_txt = ""
    if len(c["train"]) == len(c["val"]) and np.isfinite(c["train"]).all():
        gaps = c["val"] - c["train"]
        data.update(gap_at_best=float(gaps[ib]), gap_final=float(gaps[-1]))
        if gaps[-1] <= gaps[ib]:
            return None  # val rose with train: not memorization (see diverged / lr_too_high)
        gap_txt = f"; the val-train gap grew from {gaps[ib]:.3f} to {gaps[-1]:.3f}"
    return Finding("overfitting", "warning",
                   f"val reached its best {v[ib]:.3f} at step {int(x[ib]):,} and rose {rise:.3f} to "
                   f"{v[-1]:.3f}{gap_txt}: the model memorizes its training tokens. Fix: more data "
                   f"(05), early stopping at the best step (05), dropout (06), weight decay (07).",
                   data, "05_data_size")


def _spikes(y: np.ndarray, w: int = 8) -> tuple[int, float]:
    """(count, largest) of jumps above the running median of the previous w points."""
    if len(y) <= w + 2:
        return 0, 0.0
    med = np.array([np.median(y[i - w:i]) for i in range(w, len(y))])
    jump = y[w:] - med
    scale = 1.4826 * np.median(np.abs(np.diff(y))) + 1e-12
    big = jump > np.maximum(0.25, 6 * scale)
    return int(big.sum()), float(jump.max())


def _dr_lr_too_high(ctx) -> Finding | None:
    c = ctx["c"]
    y = c["s_loss"]
    first_bad = np.flatnonzero(~np.isfinite(y))
    y = y[:first_bad[0]] if len(first_bad) else y
    n, biggest = _spikes(y)
    gn = c["s_gn"][np.isfinite(c["s_gn"])]
    gn_spikes = int((gn > 10 * np.median(gn)).sum()) if len(gn) > 10 else 0
    diverged = len(first_bad) > 0 or ctx["stop"] == "nan"
    if n < 2 and not (diverged and (n or gn_spikes)):
        return None
    lr = ctx["cfg"].get("lr")
    return Finding("lr_too_high", "warning",
                   f"{n} loss spikes in {len(y)} logged steps (largest +{biggest:.2f} nats above the running "
                   f"median), {gn_spikes} gradient-norm spikes (>10x median)"
                   + (f" at lr {_fmt(lr)}" if lr else "") + ": the updates overshoot. Fix: lower lr "
                   "(halve it), a longer warmup, keep grad_clip on (1.0).",
                   {"spikes": n, "largest_spike": biggest, "grad_norm_spikes": gn_spikes, "lr": lr},
                   "08_learning_rate_and_warmup")


def _dr_lr_too_low(ctx) -> Finding | None:
    c, r, cfg = ctx["c"], ctx["rungs"], ctx["cfg"]
    x, y = _finite_tail(c["s_x"], c["s_loss"])
    warm = float(cfg.get("warmup_steps", 0) or 0)
    x, y = x[x > warm], y[x > warm]
    if len(y) < 12 or "uniform" not in r or _spikes(y)[0] >= 2:
        return None
    s, third = _smooth(y, 0.2), len(y) // 3
    early = (s[0] - s[third]) / max(x[third] - x[0], 1)  # nats per step, first third
    late = (s[-third - 1] - s[-1]) / max(x[-1] - x[-third - 1], 1)  # last third
    target = max(r.get("unigram", 0.5 * r["uniform"]), r.get("entropy floor", 0.0))
    headroom = float(s[-1] - target)
    _, v = _finite_tail(c["e_x"], c["val"])
    if len(v) >= 3 and v[-1] > v.min() + 0.02:
        return None  # val is rising: memorizing, not crawling (see overfitting)
    steps_needed = headroom / late if late > 0 else math.inf
    if headroom <= 0 or steps_needed < 2 * x[-1] or (late > 0 and early > 2.5 * late):
        return None
    lr = cfg.get("lr")
    above = f"still {headroom:.2f} nats above {target:.2f} (unigram, or half of ln V, or the floor)"
    if late <= 0:
        how = f"the train loss did not fall: {s[0] - s[-1]:+.3f} nats over {int(x[-1] - x[0])} steps, {above}"
    else:
        how = (f"the train loss falls slowly and in a straight line ({early * 1000:.3g} then {late * 1000:.3g} "
               f"nats per 1000 steps, no bend), {above}: at this rate it needs ~{steps_needed:,.0f} more steps")
    return Finding("lr_too_low", "warning", how + (f" at lr {_fmt(lr)}" if lr else "")
                   + ". Fix: raise lr (try 3-10x; the lr finder suggests one).",
                   {"early_slope_per_1000": early * 1000, "late_slope_per_1000": late * 1000,
                    "headroom": headroom, "lr": lr}, "08_learning_rate_and_warmup")


def _dr_eval_noise(ctx) -> Finding | None:
    """Eval error from the batch-to-batch spread of the step losses, and eval-to-eval jitter."""
    c, cfg = ctx["c"], ctx["cfg"]
    x, v = _finite_tail(c["e_x"], c["val"])
    if len(v) < 4:
        return None
    nb, accum = cfg.get("eval_batches"), cfg.get("grad_accum_steps", 1) or 1
    _, y = _finite_tail(c["s_x"], c["s_loss"])
    se = _noise_sd(y) * math.sqrt(accum / nb) if nb and len(y) >= 10 else 0.0  # micro-batch sd / sqrt(nb)
    jitter = _noise_sd(v[len(v) // 3:])
    noise = max(se, jitter)
    half = v[len(v) // 2:]
    trend = abs(float(half[-1] - half[0])) / max(len(half) - 1, 1)  # nats per eval, second half
    if noise < max(0.02, trend):
        return None
    target = max(trend, 0.01)
    need = int(math.ceil(nb * (noise / target) ** 2)) if nb else None
    return Finding("eval_too_noisy", "warning",
                   f"one eval is uncertain by ~{noise:.3f} nats (step losses spread {_noise_sd(y):.3f} per "
                   f"update -> {se:.3f} for {nb} eval batches; eval-to-eval jitter {jitter:.3f}), more than "
                   f"val's trend of {trend:.3f} per eval: single evals cannot tell better from worse, and "
                   f"early stopping picks noise."
                   + (f" eval_batches={nb}; about {need} would bring it to {target:.3f} (error ~ "
                      f"1/sqrt(batches))." if need else " Average more eval batches."),
                   {"noise_sd": noise, "batch_se": se, "jitter": jitter, "trend_per_eval": trend,
                    "eval_batches": nb, "suggested": need}, "03_train_and_sample")


def _dr_val_below_train(ctx) -> Finding | None:
    c, cfg = ctx["c"], ctx["cfg"]
    if len(c["train"]) != len(c["val"]) or len(c["val"]) < 2:
        return None
    gaps = (c["val"] - c["train"])[-3:]
    gap = float(np.mean(gaps))
    if not np.isfinite(gap) or gap > -max(0.02, 0.01 * float(c["train"][-1])) or (gaps > 0).any():
        return None
    drop = cfg.get("dropout", 0) or 0
    why = (f"with dropout={drop} the train loss is only lower in eval mode; if your train curve comes from "
           f"training steps, dropout alone explains it" if drop else
           "with no dropout this means the val text is easier than train, or val documents leak into "
           "train (duplicates across the split)")
    return Finding("val_below_train", "info" if gap > -0.1 else "warning",
                   f"val is {-gap:.3f} nats BELOW train over the last evals: {why}. Check the split "
                   f"before trusting val as a measure of generalization.",
                   {"gap": gap, "dropout": drop}, "06_dropout" if drop else "05_data_size")


def _dr_position(ctx) -> Finding | None:
    _, v = _finite_tail(ctx["c"]["e_x"], ctx["c"]["val"])
    r = ctx["rungs"]
    if not len(v) or not r:
        return None
    lad = Ladder([Rung(n, x, None, "") for n, x in sorted(r.items(), key=lambda t: -t[1])], 0, 0, None, {})
    return Finding("ladder_position", "info", f"final val {v[-1]:.3f} sits {lad.where(float(v[-1]))}.",
                   {"val": float(v[-1]), "rungs": dict(r)}, "00_start_here")


_DOCTOR_RULES = [_dr_diverged, _dr_barely_trained, _dr_lr_too_high, _dr_overfitting, _dr_lr_too_low,
                 _dr_still_improving, _dr_eval_noise, _dr_val_below_train, _dr_position]


def clipped_fraction(history, grad_clip: float | None = None) -> float | None:
    """Share of logged steps whose gradient norm (before clipping) exceeded grad_clip."""
    clip = grad_clip if grad_clip is not None else _flat_config(history).get("grad_clip")
    gn = np.array([r["grad_norm"] for r in history.steps if r.get("grad_norm") is not None], dtype=float)
    if not clip or not len(gn):
        return None
    return float((gn > clip).mean())


# ---------------------------------------------------------------------------
# Health checks: is the model wired right before a long run?


@dataclass
class InitCheck:
    """Loss of an untrained model vs ln V (a uniform guess)."""

    passed: bool
    loss: float  # mean over the batches
    expected: float  # ln V
    tolerance: float  # |loss - ln V| allowed
    losses: list[float]  # one per batch (the "curve")
    message: str


@dataclass
class OverfitCheck:
    """Can the model memorize one small batch? It must, or something is broken."""

    passed: bool
    initial: float
    final: float
    target: float  # final must be below this
    losses: list[float]  # loss per step (the curve)
    message: str


def _as_model(model_or_cfg, data) -> GPT:
    """A fresh GPT for a Config/ModelConfig, or a deep copy of a given model (left untouched)."""
    if isinstance(model_or_cfg, torch.nn.Module):
        return copy.deepcopy(model_or_cfg)
    mcfg = model_or_cfg.model if isinstance(model_or_cfg, Config) else model_or_cfg
    if not isinstance(mcfg, ModelConfig):
        raise TypeError("pass a GPT, a Config or a ModelConfig")
    if mcfg.vocab_size is None:
        mcfg = dataclasses.replace(mcfg, vocab_size=data.vocab_size)
    torch.manual_seed(0)
    return GPT(mcfg)


def _device_of(model: torch.nn.Module) -> str:
    return next(model.parameters()).device.type


def loss_at_init(model_or_cfg, data, *, batches: int = 4, micro_batch_size: int = 8,
                 tolerance: float | None = None, seed: int = 0) -> InitCheck:
    """Val loss of an untrained model; it should be ln V (GPT-2 init gives small logits).

    tolerance default: 0.05 * ln V + 0.05 nats (ln V of the model's output size).
    """
    model = _as_model(model_or_cfg, data).eval()
    V, T = model.cfg.vocab_size, model.cfg.block_size
    sampler = BatchSampler(data.val, T, micro_batch_size, seed, _device_of(model))
    with torch.no_grad():
        losses = [float(model(*sampler.next())[1]) for _ in range(batches)]
    loss, expected = float(np.mean(losses)), math.log(V)
    tol = 0.05 * expected + 0.05 if tolerance is None else tolerance
    ok = abs(loss - expected) <= tol
    msg = (f"loss at init {loss:.3f} vs ln V = {expected:.3f} (|diff| {abs(loss - expected):.3f}, allowed "
           f"{tol:.3f}): " + ("OK, the model starts as a uniform guess" if ok else
                              "FAIL: the init is too large or the loss is wired wrong (check logits scale, "
                              "the init std, and that targets are the inputs shifted by one)"))
    return InitCheck(ok, loss, expected, tol, losses, msg)


def overfit_one_batch(model_or_cfg, data, *, steps: int = 150, lr: float = 3e-3, micro_batch_size: int = 4,
                      block_size: int | None = None, target: float | None = None,
                      seed: int = 0) -> OverfitCheck:
    """Train a copy on ONE batch with AdamW (dropout off); the loss must fall near 0.

    target default: 20% of the initial loss (a wired-up model gets far lower).
    """
    model = _as_model(model_or_cfg, data).eval()  # eval: no dropout; gradients still flow
    T = min(block_size or model.cfg.block_size, model.cfg.block_size)
    x, y = BatchSampler(data.train, T, micro_batch_size, seed, _device_of(model)).next()  # (B, T)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.0, foreach=True)
    losses = []
    for _ in range(steps):
        _, loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    tgt = 0.2 * losses[0] if target is None else target
    ok = bool(np.isfinite(losses[-1]) and losses[-1] < tgt)
    msg = (f"one batch of {micro_batch_size}x{T} tokens, {steps} steps at lr {lr:g}: loss {losses[0]:.3f} -> "
           f"{losses[-1]:.3f} (target < {tgt:.3f}): " + ("OK, the model can learn" if ok else
           "FAIL: a model that cannot memorize one batch has a bug (masking, targets, optimizer)"))
    return OverfitCheck(ok, losses[0], losses[-1], tgt, losses, msg)


# ---------------------------------------------------------------------------
# Training statistics: a Callback that samples every `every` updates

SATURATION_THRESHOLD = -3.0  # GELU pre-activations below this are "saturated" (see TrainingStats)


class TrainingStats(Callback):
    """Activation, attention, gradient and update statistics, sampled every `every` updates.

    Each list holds one dict per (step, layer/head/parameter), ready for a DataFrame:
    - activations: step, layer, mean, std (GELU outputs), pre_std (its inputs), saturated:
      the share of GELU pre-activations below SATURATION_THRESHOLD (-3). There GELU is flat:
      |gelu(x)| < 0.005 and |gelu'(x)| < 0.012, so the unit is off and passes almost no
      gradient (GELU has no upper saturation: large positive inputs pass through).
    - attention: step, layer, head, entropy (nats, mean over batch and positions) and
      uniform (the mean of ln(t+1): entropy of attending evenly to all visible positions).
    - grads: step, name (per block / embedding / final norm), grad_norm before clipping.
    - updates: step, name (each parameter), log10_ratio = log10(rms(update) / rms(weight)),
      the real AdamW update; rms, not std, so LayerNorm gains (all ones at init) have a ratio
      too; for the zero-mean weight matrices it equals Karpathy's std ratio, whose guide
      line is -3 (much lower: learning slowly; much higher: unstable).
    - clipping: step, grad_norm, clipped (every logged step); see `clipped_fraction`.
    Only the first micro-batch of a sampled step is watched; eval passes never are.
    """

    def __init__(self, every: int = 10, *, activations: bool = True, attention: bool = True,
                 grads: bool = True, updates: bool = True):
        self.every, self.want = max(1, int(every)), dict(act=activations, att=attention,
                                                          grad=grads, upd=updates)
        self.activations: list[dict] = []
        self.attention: list[dict] = []
        self.grads: list[dict] = []
        self.updates: list[dict] = []
        self.clipping: list[dict] = []
        self._handles: list = []
        self._todo: dict[str, set[int]] = {"act": set(), "att": set()}  # layers still to watch
        self._pending_grads: dict[int, dict] = {}  # step -> norms, until its record arrives
        self._before: dict | None = None
        self._step = 0
        self.grad_clip = 0.0

    # --- trainer hooks

    def on_train_start(self, trainer) -> None:
        self.grad_clip = trainer.cfg.train.grad_clip
        for i, block in enumerate(trainer.model.blocks):
            self._handles.append(block.mlp.act.register_forward_hook(self._act_hook(i)))
            self._handles.append(block.attn.register_forward_hook(self._att_hook(i)))

    def on_step_start(self, trainer) -> None:
        self._step = trainer.step + 1  # the step number this update's record will carry
        if not self._sampled(self._step):
            return
        layers = set(range(len(trainer.model.blocks)))
        self._todo = {"act": layers if self.want["act"] else set(), "att": set(layers) if self.want["att"] else set()}
        for block in trainer.model.blocks:
            block.attn.record_probs = self.want["att"]

    def on_after_backward(self, trainer) -> None:
        if not self._sampled(self._step):
            return
        if self.want["grad"]:
            self._pending_grads[self._step] = _group_grad_norms(trainer.model)
        if self.want["upd"]:
            self._before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}

    def on_update(self, trainer) -> None:
        self._disarm(trainer)
        if self._before is None:
            return
        for n, p in trainer.model.named_parameters():
            old = self._before[n]
            r = float(_rms(p.detach() - old) / (_rms(old) + 1e-12))
            if r > 0 and math.isfinite(r):
                self.updates.append({"step": self._step, "name": n, "log10_ratio": math.log10(r)})
        self._before = None

    def on_step_end(self, trainer, record: dict) -> None:
        gn = record.get("grad_norm")
        clipped = bool(self.grad_clip and gn is not None and gn > self.grad_clip)
        self.clipping.append({"step": record["step"], "grad_norm": gn, "clipped": clipped})
        pending = self._pending_grads.pop(record["step"], None)
        if pending is not None:
            self._flush_grads(record["step"], pending, gn)

    def on_train_end(self, trainer) -> None:
        self._disarm(trainer)
        for h in self._handles:
            h.remove()
        self._handles = []

    # --- helpers

    @property
    def clipped_fraction(self) -> float | None:
        return float(np.mean([c["clipped"] for c in self.clipping])) if self.clipping else None

    def _sampled(self, step: int) -> bool:
        return step == 1 or step % self.every == 0

    def _disarm(self, trainer) -> None:
        self._todo = {"act": set(), "att": set()}
        for block in trainer.model.blocks:
            block.attn.record_probs = False

    def _act_hook(self, layer: int):
        def hook(module, inputs, act):  # inputs[0]: GELU input (B, T, 4C); act: its output
            if layer not in self._todo["act"] or not torch.is_grad_enabled():
                return
            self._todo["act"].discard(layer)
            with torch.no_grad():
                pre, act = inputs[0].detach().float(), act.detach().float()  # (B, T, 4C)
                self.activations.append({
                    "step": self._step, "layer": layer, "mean": float(act.mean()), "std": float(act.std()),
                    "pre_std": float(pre.std()), "saturated": float((pre < SATURATION_THRESHOLD).float().mean())})
        return hook

    def _att_hook(self, layer: int):
        def hook(module, inputs, output):
            if layer not in self._todo["att"] or not torch.is_grad_enabled():
                return
            self._todo["att"].discard(layer)
            module.record_probs = False  # back to the fast kernel for the other micro-batches
            if module.last_probs is not None:
                self._record_entropy(layer, module.last_probs)
        return hook

    def _record_entropy(self, layer: int, probs: torch.Tensor) -> None:
        with torch.no_grad():
            p = probs.float()  # (B, H, T, T)
            ent = -(p * torch.log(p.clamp_min(1e-12))).sum(-1).mean(dim=(0, 2))  # (H,)
            T = p.size(-1)
            uniform = float(torch.log(torch.arange(1, T + 1, dtype=torch.float32)).mean())
        for h, e in enumerate(ent.tolist()):
            self.attention.append({"step": self._step, "layer": layer, "head": h, "entropy": e,
                                   "uniform": uniform})

    def _flush_grads(self, step: int, pending: dict, pre_clip_total: float | None) -> None:
        """Norms were taken after clipping; clipping scales all alike, so undo it exactly."""
        post = pending.pop("_total")
        scale = pre_clip_total / post if pre_clip_total and post > 0 and math.isfinite(pre_clip_total) else 1.0
        for name, norm in pending.items():
            self.grads.append({"step": step, "name": name, "grad_norm": float(norm) * scale})


def _rms(t: torch.Tensor) -> torch.Tensor:
    return t.float().pow(2).mean().sqrt()


def _group_grad_norms(model: torch.nn.Module) -> dict:
    """Gradient norm per group: 'embedding', 'block 0'..., 'final norm'; plus '_total' (tensors)."""
    sq: dict[str, torch.Tensor] = {}
    for n, p in model.named_parameters():
        if p.grad is None:
            continue
        parts = n.split(".")
        name = f"block {parts[1]}" if parts[0] == "blocks" else {"wte": "embedding", "wpe": "embedding",
                                                                  "ln_f": "final norm"}.get(parts[0], parts[0])
        sq[name] = sq.get(name, 0) + p.grad.detach().float().pow(2).sum()
    total = torch.sqrt(sum(sq.values())) if sq else torch.zeros(())
    out = {k: float(torch.sqrt(v)) for k, v in sq.items()}
    out["_total"] = float(total)
    return out


# ---------------------------------------------------------------------------
# LR finder: an exponential lr ramp on a copy of the model


@dataclass
class LRFinderResult:
    lrs: np.ndarray  # lr at each step of the ramp
    losses: np.ndarray  # raw loss at each step
    smoothed: np.ndarray  # bias-corrected exponential moving average of the loss
    suggestion: float  # lr_at_min / 10: the rule this finder uses (Smith 2017, fastai's lr_min)
    lr_at_min: float  # lr where the smoothed loss was lowest
    steepest: float  # lr where the smoothed loss fell fastest (per log lr); often noisier
    rule: str = "a tenth of the lr at the smoothed-loss minimum"


def lr_find(model_or_cfg, data, *, lr_min: float = 1e-6, lr_max: float = 1.0, steps: int = 60,
            micro_batch_size: int = 8, beta: float = 0.8, stop_factor: float = 4.0,
            weight_decay: float = 0.1, seed: int = 0) -> LRFinderResult:
    """Raise the lr exponentially from lr_min to lr_max, one batch per step, on a deep copy.

    The given model is never touched (its weights are the same after the call).
    Stops early when the smoothed loss exceeds stop_factor x its minimum.
    """
    model = _as_model(model_or_cfg, data).train()
    sampler = BatchSampler(data.train, model.cfg.block_size, micro_batch_size, seed, _device_of(model))
    opt = torch.optim.AdamW(model.parameters(), lr=lr_min, betas=(0.9, 0.95), weight_decay=weight_decay,
                            foreach=True)
    lrs = lr_min * (lr_max / lr_min) ** (np.arange(steps) / max(steps - 1, 1))
    losses, smoothed, avg = [], [], 0.0
    for i, lr in enumerate(lrs):
        for g in opt.param_groups:
            g["lr"] = float(lr)
        _, loss = model(*sampler.next())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        avg = beta * avg + (1 - beta) * losses[-1]
        smoothed.append(avg / (1 - beta ** (i + 1)))
        if not math.isfinite(losses[-1]) or smoothed[-1] > stop_factor * min(smoothed):
            break
    return _lr_result(lrs[:len(losses)], np.array(losses), np.array(smoothed))


def _lr_result(lrs: np.ndarray, losses: np.ndarray, smoothed: np.ndarray) -> LRFinderResult:
    ok = np.isfinite(smoothed)
    i_min = int(np.argmin(np.where(ok, smoothed, np.inf)))
    slope = np.gradient(smoothed[:i_min + 1], np.log(lrs[:i_min + 1])) if i_min >= 2 else np.zeros(1)
    i_steep = int(np.argmin(slope)) if i_min >= 2 else 0
    return LRFinderResult(lrs, losses, smoothed, float(lrs[i_min] / 10), float(lrs[i_min]),
                          float(lrs[i_steep]))
