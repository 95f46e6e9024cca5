"""Checks of lessons 00-01: what a loss number means, and the heart of BPE training.

`check_uniform_loss`, `check_unigram_loss` (00) and `check_pair_counts` (01). The harness
that runs them is slmlab.exercises._harness.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import torch

from ._harness import _verdict

__all__ = ["check_uniform_loss", "check_unigram_loss", "check_pair_counts"]


# --- 00: what a loss number means


def check_uniform_loss(fn: Callable[[int], float]) -> bool:
    """fn(vocab_size) -> the cross-entropy (nats) of a uniform guess over the vocabulary."""

    def cases():
        for v in (2, 65, 4096, 50257):
            got = fn(v)
            if got is None or abs(float(got) - math.log(v)) > 1e-6:
                return f"for vocab_size={v} you gave {got}, expected {math.log(v):.4f} (ln V)"
        return None

    return _verdict(fn, cases)


def check_unigram_loss(fn: Callable[[list[int], list[int], int], float]) -> bool:
    """fn(train_ids, val_ids, vocab_size) -> cross-entropy (nats/token) on val of add-one unigram
    frequencies counted on train: p(i) = (count_i + 1) / (len(train) + vocab_size)."""

    def ce(counts: Counter, total: float, val: list[int], log=math.log) -> float:
        return -sum(log(p) for p in ((counts[i] + 1) / total for i in val)) / len(val)

    def cases():
        g = torch.Generator().manual_seed(0)
        drawn = torch.multinomial(torch.tensor([8.0, 4, 2, 1, 1, 0.5]), 300, replacement=True, generator=g)
        for train, val, V in (
            ([0, 1, 1, 2], [1, 2, 3], 5),  # token 3 never occurs in train
            (drawn[:240].tolist(), drawn[240:].tolist() + [7], 8),
        ):
            counts = Counter(train)
            want = ce(counts, len(train) + V, val)
            got = fn(list(train), list(val), V)
            if got is None or not isinstance(got, (int, float)) and not hasattr(got, "item"):
                return f"return one number (nats per token), got {got!r}"
            got = float(got)
            if abs(got - want) <= 1e-6:
                continue
            if not math.isfinite(got):
                return (
                    f"for train={train[:8]}, val={val[:8]}, V={V} you gave {got}: a val token that never "
                    f"occurs in train got probability 0; add 1 to every count"
                )
            wrong = {
                "that is in bits (log base 2): the loss is in nats, use the natural log": ce(
                    counts, len(train) + V, val, math.log2
                ),
                "you counted val_ids: the model's frequencies come from train_ids": ce(Counter(val), len(val) + V, val),
                "the probabilities do not sum to 1: divide by len(train_ids) + vocab_size": ce(counts, len(train), val),
                "the loss is minus the mean of ln p: it must be positive": -want,
            }
            for hint, value in wrong.items():
                if abs(value - got) <= 1e-6:
                    return f"for train={train[:8]}{'...' if len(train) > 8 else ''}, V={V}: {hint}"
            shown = f"train={train[:8]}{'...' if len(train) > 8 else ''}, val={val[:8]}, V={V}"
            return f"for {shown} expected {want:.4f}, got {got:.4f}"
        return None

    return _verdict(fn, cases)


# --- 01: the heart of BPE training


def check_pair_counts(fn: Callable[[list[int]], dict]) -> bool:
    """fn(ids) -> {(a, b): count} of adjacent pairs."""

    def cases():
        for ids in ([1, 2, 3, 1, 2], [5, 5, 5, 5], [7], list(range(20)) * 3):
            want = Counter(zip(ids, ids[1:]))
            got = fn(list(ids))
            if got is None or dict(got) != dict(want):
                return f"for {ids[:12]}{'...' if len(ids) > 12 else ''} expected {dict(want)}, got {got}"
        return None

    return _verdict(fn, cases)
