"""Each exercise check says 'not attempted yet' for a stub, 'correct' for a right answer,
and what is wrong for a typical mistake.

The right answers are written without the checks' own references: hand-computed tables
for the few cases a check asks about, or a second way to compute the same thing. So the
'correct' branch can fail on its own when a check's reference is wrong.
"""

import math
from collections import Counter

import pytest
import torch
from torch.nn import functional as F

from slmlab import exercises as ex
from slmlab.config import TrainConfig
from slmlab.train import lr_at


def stub(*a, **k):
    raise NotImplementedError


def uniform_loss(v):
    """The cross-entropy of flat logits, measured, not ln V written down."""
    return F.cross_entropy(torch.zeros(1, v, dtype=torch.float64), torch.tensor([0])).item()


def pair_counts(ids):
    counts = {}
    for i in range(len(ids) - 1):
        counts[ids[i], ids[i + 1]] = counts.get((ids[i], ids[i + 1]), 0) + 1
    return counts


def attention(q, k, v, causal=True):
    att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
    if causal:
        T = q.size(-2)
        att = att.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    return att.softmax(-1) @ v


# lr=1e-3, min_lr=1e-4, warmup_steps=10, max_steps=100, worked out by hand:
# warmup (steps 0-9) rises as lr * (step + 1) / 11; from step 10 a cosine runs over the
# 90 steps to 100: at step 50 it is 40/90 of the way, an angle of 80 degrees
# (cos = 0.1736482), at step 99 it is 89/90, 178 degrees (cos = -0.9993908);
# lr = min_lr + (lr - min_lr) * (1 + cos) / 2; from max_steps on, min_lr.
HAND_LR = {
    0: 1e-3 / 11,  # 9.0909e-5
    5: 6e-3 / 11,  # 5.4545e-4
    9: 10e-3 / 11,  # 9.0909e-4
    10: 1e-3,  # the peak, cos 0 = 1
    50: 1e-4 + 9e-4 * 1.17364817766693 / 2,  # 6.2814e-4
    99: 1e-4 + 9e-4 * 0.0006091729809042 / 2,  # 1.0027e-4
    100: 1e-4,
}


def hand_lr(step, lr, min_lr, warmup, max_steps):
    assert (lr, min_lr, warmup, max_steps) == (1e-3, 1e-4, 10, 100), "add hand values for these"
    return HAND_LR[step]


def test_the_trainer_schedule_is_the_hand_computed_one():
    t = TrainConfig(lr=1e-3, min_lr=1e-4, warmup_steps=10, max_steps=100)
    for step, want in HAND_LR.items():
        assert lr_at(step, t) == pytest.approx(want, rel=1e-12, abs=0), step


# (micro-steps, accumulation, batch, block) -> (updates, tokens per update), by hand
HAND_UPDATES = {
    (20000, 32, 32, 128): (625, 131_072),  # the student's run: 20000 / 32; 32 x 128 x 32
    (50000, 16, 64, 256): (3125, 262_144),  # the chat answer's config: 50000 / 16; 64 x 256 x 16
}


def hand_updates(c):
    key = (c["max_iters"], c["gradient_accumulation_steps"], c["batch_size"], c["block_size"])
    return HAND_UPDATES[key]


# (val losses, patience) -> the eval at which early stopping stops, picked by hand
HAND_BEST_STEP = {
    ((5, 4, 3, 3.1, 3.2, 2.0), 2): 4,  # best 3 at index 2, then two evals without a new best
    ((5, 4, 3, 2, 1), 1): 4,  # always a new best: runs to the last eval
    ((3, 3, 3, 3), 3): 3,  # an equal loss is no new best: the third of them stops it
    ((2, 3, 1, 4, 5), 2): 4,  # a new best 1 at index 2 resets the count; 4, 5 stop it
}


def hand_best_step(vals, patience):
    return HAND_BEST_STEP[tuple(vals), patience]


# (warmup micro-steps, accumulation) -> warmup in optimizer updates, by hand (whole updates)
HAND_WARMUP = {(1000, 32): 31, (5000, 16): 312, (64, 1): 64, (10, 4): 2}


def dropout(x, p, training):
    if not training:
        return x
    return x * (torch.rand_like(x) >= p) / (1 - p)


def accumulate(model, x, y, k, scale=True):
    for xs, ys in zip(x.chunk(k), y.chunk(k)):
        loss = model(xs, ys)[1]
        (loss / k if scale else loss).backward()


def split_by_name(model):
    """Decay the weights of Linear and Embedding layers: every name but LayerNorms and biases."""
    names = [n for n, _ in model.named_parameters()]
    no = [n for n in names if n.endswith(".bias") or n.startswith("ln_") or ".ln_" in n]
    return [n for n in names if n not in no], no


CASES = [
    (ex.check_uniform_loss, uniform_loss, lambda v: math.log2(v), "expected"),
    (ex.check_pair_counts, pair_counts, lambda ids: Counter(ids), "expected"),  # counts ids, not pairs
    (ex.check_causal_attention, attention, lambda q, k, v: attention(q, k, v, causal=False), "later positions"),
    (ex.check_lr_schedule, hand_lr, lambda s, lr, m, w, n: lr, "at step 0"),
    (ex.check_updates_and_tokens, hand_updates,
     lambda c: (c["max_iters"], c["batch_size"] * c["block_size"]), "expected"),
    (ex.check_best_step, hand_best_step, lambda vals, p: vals.index(min(vals)), "expected"),
    (ex.check_dropout, dropout, lambda x, p, t: x * (torch.rand_like(x) >= p) if t else x, "scale"),
    (ex.check_decay_split, split_by_name, lambda m: ([n for n, _ in m.named_parameters()], []),
     "should not decay"),
    (ex.check_warmup_lengths, lambda w, a: HAND_WARMUP[w, a], lambda w, a: w, "expected"),
    (ex.check_accumulated_loss, accumulate, lambda m, x, y, k: accumulate(m, x, y, k, scale=False), "divide"),
]


@pytest.mark.parametrize("check,right,wrong,hint", CASES, ids=[c[0].__name__ for c in CASES])
def test_check_says_not_attempted_correct_or_what_is_wrong(capsys, check, right, wrong, hint):
    assert check(stub) is False
    assert capsys.readouterr().out.strip() == "not attempted yet"
    assert check(right) is True
    assert capsys.readouterr().out.strip() == "correct"
    assert check(wrong) is False
    out = capsys.readouterr().out.strip()
    assert out.startswith("not yet:") and hint in out
