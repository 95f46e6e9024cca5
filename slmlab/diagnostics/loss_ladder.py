"""The loss ladder: what a loss number means for one corpus + tokenizer.

Uniform (ln V), unigram and bigram cross-entropy on the val split with add-k
counts from train (numpy; bigrams sparse through np.unique, so V=50257 is fine),
the synthetic corpus's exact entropy floor, and the student's published point
for GPT-2 tokens; every rung in nats per token and bits per byte.
`place_on_ladder(loss, rungs)` says where a loss sits among named losses, and
`ladder_dict` turns a Ladder, a dict or a history's meta into {rung: nats}.
Plotting the ladder is slmlab.plots'; the doctor (doctor.py) reads it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

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
        return place_on_ladder(loss, self.to_dict())

    def versus(self, loss: float, rung: str = "bigram") -> str:
        """'-0.389 nats, -0.170 bits/byte vs bigram': `loss` minus the rung, in nats and bits per
        byte. One sign everywhere: negative is below the rung (better), positive above it."""
        nats = loss - self[rung].nats
        bpb = self.bits_per_byte(loss)
        in_bytes = f", {bpb - self.bits_per_byte(self[rung].nats):+.3f} bits/byte" if bpb is not None else ""
        return f"{nats:+.3f} nats{in_bytes} vs {rung}"

    def as_table(self) -> str:
        head = (
            f"loss ladder: {self.corpus} / {self.tokenizer} (V={self.vocab_size:,}, {self.n_val_tokens:,} val tokens)"
        )
        lines = [head, f"{'rung':22s} {'nats/token':>10s} {'bits/byte':>9s}  note"]
        for r in self.rungs:
            bpb = f"{r.bits_per_byte:9.3f}" if r.bits_per_byte is not None else f"{'-':>9s}"
            lines.append(f"{r.name:22s} {r.nats:10.3f} {bpb}  {r.note}")
        return "\n".join(lines)


def place_on_ladder(loss: float, rungs: dict[str, float]) -> str:
    """'between unigram (3.01) and bigram (2.40)': a loss placed among named losses (nats)."""
    order = sorted(rungs.items(), key=lambda rung: -rung[1])  # worst first
    above = [r for r in order if r[1] >= loss]
    below = [r for r in order if r[1] < loss]
    if not above:
        return f"above every rung, worse than {order[0][0]} ({order[0][1]:.2f})"
    if not below:
        return f"below every rung, better than {order[-1][0]} ({order[-1][1]:.2f})"
    (hi, hi_nats), (lo, lo_nats) = above[-1], below[0]
    return f"between {hi} ({hi_nats:.2f}) and {lo} ({lo_nats:.2f})"


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


def ladder(data, *, k: float | str = "auto", student: bool = True) -> Ladder:
    """The loss ladder of a TokenData (slmlab.data.prepare) on its val split.

    k: add-k smoothing for the unigram and bigram counts; "auto" picks, for each,
    the k of (1, 0.3, ..., 1e-4) that does best on the last 10% of train.
    student: with GPT-2 tokens, add the student's published point as a rung (leave it
    out to place the student's own curve: a rung made of its own point says nothing).
    """
    train, val, V, m = np.asarray(data.train), np.asarray(data.val), int(data.vocab_size), data.manifest
    if len(train) < 20 or len(val) < 2:
        raise ValueError(
            f"too few tokens for a ladder (train {len(train)}, val {len(val)}); "
            f"use more data (corpus_bytes or data_fraction)"
        )
    k1 = _choose_k(train, V, 1) if k == "auto" else float(k)
    k2 = _choose_k(train, V, 2) if k == "auto" else float(k)
    n_val, val_bytes = len(val), m.get("val_bytes")
    bpb = (lambda x: bits_per_byte(x, n_val, val_bytes)) if val_bytes else (lambda x: None)
    rungs = [
        Rung("uniform", math.log(V), bpb(math.log(V)), f"ln V: a uniform guess over {V:,} tokens"),
        Rung(
            "unigram",
            (u := unigram_cross_entropy(train, val, V, k1)),
            bpb(u),
            f"token frequencies from train, add-k k={k1:g}",
        ),
        Rung(
            "bigram",
            (b := bigram_cross_entropy(train, val, V, k2)),
            bpb(b),
            f"p(next | previous token) from train, add-k k={k2:g}",
        ),
    ]
    if m.get("entropy_floor") is not None:
        f = float(m["entropy_floor"])
        rungs.append(
            Rung(
                "entropy floor",
                f,
                bpb(f),
                "exact entropy of the synthetic generator: no model can go below it on average",
            )
        )
    if student and m.get("tokenizer") == "gpt2":
        s = STUDENT_PUBLISHED[500]
        rungs.append(
            Rung(
                "student @ iter 500",
                s,
                bpb(s),
                "the student's published val loss at iteration 500 (15 optimizer updates; TinyStories, GPT-2 tokens)",
            )
        )
    rungs.sort(key=lambda r: -r.nats)
    return Ladder(
        rungs,
        V,
        n_val,
        val_bytes,
        {"unigram": k1, "bigram": k2},
        corpus=str(m.get("corpus", "")),
        tokenizer=str(m.get("tokenizer", "")),
    )


def ladder_dict(ladder_or_dict, meta: dict) -> dict[str, float]:
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
