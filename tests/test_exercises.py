"""Each exercise check says 'not attempted yet' for a stub, 'correct' for a right answer,
and what is wrong for a typical mistake."""

import math
from collections import Counter

import pytest
import torch

from slmlab import exercises as ex
from slmlab.config import TrainConfig
from slmlab.train import decay_groups, lr_at


def stub(*a, **k):
    raise NotImplementedError


def attention(q, k, v, causal=True):
    att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))
    if causal:
        T = q.size(-2)
        att = att.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    return att.softmax(-1) @ v


def best_step(vals, patience):
    best, since = math.inf, 0
    for i, v in enumerate(vals):
        best, since = (v, 0) if v < best else (best, since + 1)
        if since >= patience:
            return i
    return len(vals) - 1


def dropout(x, p, training):
    if not training:
        return x
    return x * (torch.rand_like(x) >= p) / (1 - p)


def accumulate(model, x, y, k, scale=True):
    for xs, ys in zip(x.chunk(k), y.chunk(k)):
        loss = model(xs, ys)[1]
        (loss / k if scale else loss).backward()


def split(model):
    d, n = decay_groups(model)
    ids = {id(p): name for name, p in model.named_parameters()}
    return [ids[id(p)] for p in d], [ids[id(p)] for p in n]


CASES = [
    (ex.check_uniform_loss, lambda v: math.log(v), lambda v: math.log2(v), "expected"),
    (ex.check_pair_counts, lambda ids: Counter(zip(ids, ids[1:])), lambda ids: Counter(ids), "expected"),
    (ex.check_causal_attention, attention, lambda q, k, v: attention(q, k, v, causal=False), "later positions"),
    (ex.check_lr_schedule, lambda s, lr, m, w, n: lr_at(s, TrainConfig(lr=lr, min_lr=m, warmup_steps=w, max_steps=n)),
     lambda s, lr, m, w, n: lr, "at step 0"),
    (ex.check_updates_and_tokens,
     lambda c: (c["max_iters"] // c["gradient_accumulation_steps"],
                c["batch_size"] * c["block_size"] * c["gradient_accumulation_steps"]),
     lambda c: (c["max_iters"], c["batch_size"] * c["block_size"]), "expected"),
    (ex.check_best_step, best_step, lambda vals, p: vals.index(min(vals)), "expected"),
    (ex.check_dropout, dropout, lambda x, p, t: x * (torch.rand_like(x) >= p) if t else x, "scale"),
    (ex.check_decay_split, split, lambda m: ([n for n, _ in m.named_parameters()], []), "should not decay"),
    (ex.check_warmup_lengths, lambda w, a: w // a, lambda w, a: w, "expected"),
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
