"""Each exercise check says 'not attempted yet' for a stub, 'correct' for a right answer,
and what is wrong for a typical mistake.

The right answers are written without the checks' own references: hand-computed tables
for the few cases a check asks about, or a second way to compute the same thing. So the
'correct' branch can fail on its own when a check's reference is wrong.
"""

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from torch.nn import functional as F

from slmlab import exercises as ex
from slmlab.config import Config, TrainConfig
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
    (
        ex.check_updates_and_tokens,
        hand_updates,
        lambda c: (c["max_iters"], c["batch_size"] * c["block_size"]),
        "expected",
    ),
    (ex.check_best_step, hand_best_step, lambda vals, p: vals.index(min(vals)), "expected"),
    (ex.check_dropout, dropout, lambda x, p, t: x * (torch.rand_like(x) >= p) if t else x, "scale"),
    (ex.check_decay_split, split_by_name, lambda m: ([n for n, _ in m.named_parameters()], []), "should not decay"),
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


# ---------------------------------------------------------------------------
# 02: the GPT's modules. The right answers are written here in Karpathy's style (a Head
# with its own mask buffer, attention through F.scaled_dot_product_attention, the MLP as a
# Sequential-free chain), not from slmlab.model; each wrong answer is one switch away.


class Head(nn.Module):
    def __init__(self, n_embd, head_size, causal=True, scale=True):
        super().__init__()
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)
        self.register_buffer("tril", torch.tril(torch.ones(64, 64)))  # a buffer: not a parameter
        self.causal, self.scale = causal, scale

    def forward(self, x):
        T = x.shape[1]
        wei = self.query(x) @ self.key(x).transpose(-2, -1)
        if self.scale:
            wei = wei * self.key.out_features**-0.5
        if self.causal:
            wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))
        return F.softmax(wei, dim=-1) @ self.value(x)


class Attention(nn.Module):
    def __init__(self, cfg, causal=True, scale=True, split=True):
        super().__init__()
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.n_head, self.causal, self.scale, self.split = cfg.n_head, causal, scale, split

    def forward(self, x):
        B, T, C = x.shape
        H = self.n_head if self.split else 1
        q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in self.c_attn(x).split(C, dim=2))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal, scale=None if self.scale else 1.0)
        return self.c_proj(y.transpose(1, 2).reshape(B, T, C))


class Mlp(nn.Module):
    def __init__(self, cfg, act=None):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.act = act or nn.GELU()
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)

    def forward(self, x):
        return self.c_proj(self.act(self.c_fc(x)))


class PreLN(nn.Module):
    def __init__(self, cfg, order="pre"):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias), nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn, self.mlp, self.order = Attention(cfg), Mlp(cfg), order

    def forward(self, x):
        if self.order == "post":
            x = self.ln_1(x + self.attn(x))
            return self.ln_2(x + self.mlp(x))
        if self.order == "no residual":
            return self.mlp(self.ln_2(self.attn(self.ln_1(x))))
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Gpt(nn.Module):
    def __init__(self, cfg, tied=True, positions=True, block=PreLN):
        super().__init__()
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.ModuleList(block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        if tied:
            self.lm_head.weight = self.wte.weight
        self.positions = positions

    def forward(self, idx, targets=None):
        x = self.wte(idx)
        if self.positions:
            x = x + self.wpe(torch.arange(idx.shape[1]))
        for b in self.blocks:
            x = b(x)
        logits = self.lm_head(self.ln_f(x))
        loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss


class LeakyAttention(Attention):  # masks with 0 instead of -inf: the future still gets weight
    def forward(self, x):
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in self.c_attn(x).split(C, 2))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(q.size(-1))
        att = att.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), 0.0)
        return self.c_proj((att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C))


def with_(cls, **kw):
    """cls with keyword arguments fixed, under cls's own name (the checks name classes)."""
    return type(cls.__name__, (cls,), {"__init__": lambda self, *a: cls.__init__(self, *a, **kw)})


class BlockUsingStubAttention(PreLN):
    def __init__(self, cfg):
        nn.Module.__init__(self)
        self.attn = StubAttention(cfg)


class StubAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        raise NotImplementedError


class StubHead(nn.Module):
    def __init__(self, n_embd, head_size):
        super().__init__()
        raise NotImplementedError  # your code here


class LeakyBlock(PreLN):
    def __init__(self, cfg):
        super().__init__(cfg)
        self.attn = LeakyAttention(cfg)


PIECES = [
    (ex.check_head, Head, [(with_(Head, causal=False), "-inf"), (with_(Head, scale=False), "sqrt(head_size)")]),
    (
        ex.check_attention,
        Attention,
        [
            (with_(Attention, causal=False), "later positions"),
            (with_(Attention, scale=False), "not scaled"),
            (with_(Attention, split=False), "one head"),
            (LeakyAttention, "not 0"),
        ],
    ),
    (ex.check_mlp, Mlp, [(with_(Mlp, act=nn.ReLU()), "ReLU"), (with_(Mlp, act=nn.GELU("tanh")), "tanh")]),
    (
        ex.check_block,
        PreLN,
        [(with_(PreLN, order="post"), "post-LN"), (with_(PreLN, order="no residual"), "no residual")],
    ),
    (
        ex.check_gpt,
        Gpt,
        [
            (with_(Gpt, tied=False), "tie the output layer"),
            (with_(Gpt, positions=False), "position embeddings"),
            (with_(Gpt, block=LeakyBlock), "later tokens"),
            (with_(Gpt, block=with_(PreLN, order="post")), "your blocks"),
        ],
    ),
]


@pytest.mark.parametrize("check,right,wrongs", PIECES, ids=[c[0].__name__ for c in PIECES])
def test_module_checks_accept_an_independent_answer_and_name_each_mistake(capsys, check, right, wrongs):
    assert check(right) is True
    assert capsys.readouterr().out.strip().startswith("correct: your")
    for wrong, hint in wrongs:
        assert check(wrong) is False, wrong.__name__
        out = capsys.readouterr().out.strip()
        assert out.startswith("not yet:") and hint in out, out


def test_module_checks_say_not_attempted_or_which_piece_to_write_first(capsys):
    assert ex.check_head(StubHead) is False
    assert capsys.readouterr().out.strip() == "not attempted yet"
    assert ex.check_block(BlockUsingStubAttention) is False
    out = capsys.readouterr().out.strip()
    assert "uses your StubAttention, which still raises NotImplementedError" in out, out


# check_prediction: a run's result predicted, then measured. The "run" here is a table of
# results written by hand (what training would return), so the check's arithmetic is tested
# without training; the notebook's run trains.
MEASURED = {2e-4: 5.80, 2e-2: 3.10}  # lr -> val loss at step 40, against a baseline of 3.60
BASELINE = (2e-3, 3.60)


def test_check_prediction_trains_nothing_until_every_value_is_predicted(capsys):
    ran = []
    assert ex.check_prediction({2e-4: 5.5, 2e-2: None}, ran.append, baseline=BASELINE) is False
    assert capsys.readouterr().out.startswith("not attempted yet") and ran == []


def test_check_prediction_accepts_guesses_within_the_tolerance(capsys):
    ran = []

    def run(lr):
        ran.append(lr)
        return MEASURED[lr]

    assert ex.check_prediction({2e-4: 5.40, 2e-2: 3.50}, run, baseline=BASELINE, setting="lr") is True
    out = capsys.readouterr().out
    assert ran == [2e-4, 2e-2] and out.strip().endswith("correct")
    assert "0.0002      5.400      5.800" in out and "(baseline)      3.600" in out


@pytest.mark.parametrize(
    "guess,hint",
    [
        ({2e-4: 3.00, 2e-2: 3.10}, "you predicted 3.000, below the baseline's 3.600; it measured 5.800, above it"),
        (
            {2e-4: 4.50, 2e-2: 3.10},
            "the direction is right (above the baseline's 3.600), but it measured 5.800, "
            "not 4.500: off by 1.30, more than the 0.5 allowed",
        ),
        ({2e-4: 5.80, 2e-2: float("inf")}, "lr=0.02: you predicted it would diverge; it did not: 3.100"),
    ],
)
def test_check_prediction_says_which_side_and_how_far(capsys, guess, hint):
    assert ex.check_prediction(guess, MEASURED.get, baseline=BASELINE, setting="lr") is False
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert out.startswith("not yet:") and hint in out, out


def test_check_prediction_matches_a_predicted_divergence(capsys):
    assert ex.check_prediction({0.5: float("inf")}, lambda lr: float("nan"), baseline=BASELINE) is True
    assert ex.check_prediction({0.5: 4.0}, lambda lr: float("nan"), baseline=BASELINE) is False
    assert "the run diverged (loss nan)" in capsys.readouterr().out


def unigram_np(train, val, V, *, add=1.0, counted=None, total=None, log=np.log):
    """The add-one unigram cross-entropy with numpy; the keywords make the typical mistakes."""
    counts = np.bincount(np.asarray(counted if counted is not None else train), minlength=V) + add
    p = counts / (total if total is not None else len(counted if counted is not None else train) + add * V)
    with np.errstate(divide="ignore"):  # add=0: a token unseen in train has p = 0, loss inf
        return float(-log(p[np.asarray(val)]).mean())


@pytest.mark.parametrize(
    "wrong,hint",
    [
        (lambda t, v, V: unigram_np(t, v, V, add=0.0), "probability 0"),
        (lambda t, v, V: unigram_np(t, v, V, log=np.log2), "in bits"),
        (lambda t, v, V: unigram_np(t, v, V, counted=v), "you counted val_ids"),
        (lambda t, v, V: unigram_np(t, v, V, total=len(t)), "do not sum to 1"),
        (lambda t, v, V: -unigram_np(t, v, V), "must be positive"),
        (lambda t, v, V: unigram_np(t, v, V, add=0.5), "expected"),
    ],
)
def test_check_unigram_loss_names_each_mistake(capsys, wrong, hint):
    assert ex.check_unigram_loss(stub) is False
    assert capsys.readouterr().out.strip() == "not attempted yet"
    assert ex.check_unigram_loss(unigram_np) is True
    assert capsys.readouterr().out.strip() == "correct"
    assert ex.check_unigram_loss(wrong) is False
    out = capsys.readouterr().out.strip()
    assert out.startswith("not yet:") and hint in out, out


def test_the_unigram_check_is_the_ladder_rung_with_add_one():
    from slmlab.diagnostics import unigram_cross_entropy

    train, val = [0, 1, 1, 2, 5, 5, 5], [1, 2, 3, 5]
    assert unigram_np(train, val, 6) == pytest.approx(unigram_cross_entropy(np.array(train), np.array(val), 6, k=1.0))


# check_diagnosis: name a broken run from its statistics. The "statistics" here are small
# dicts written by hand; the notebook passes real TrainingStats of held-out runs.
RUNS = {
    "healthy": {"saturated": 0.0, "update": -3.0},
    "init std 1.0": {"saturated": 0.4, "update": -3.0},
    "lr x30": {"saturated": 0.0, "update": -1.5},
}


def by_rule(s):
    return "init std 1.0" if s["saturated"] > 0.1 else "lr x30" if s["update"] > -2 else "healthy"


def test_check_diagnosis_names_the_runs_it_got_wrong_with_their_hints(capsys):
    assert ex.check_diagnosis(stub, RUNS) is False
    assert capsys.readouterr().out.strip() == "not attempted yet"
    assert ex.check_diagnosis(by_rule, RUNS) is True
    assert capsys.readouterr().out.startswith("correct: all 3 runs")
    always_healthy = lambda s: "healthy"  # noqa: E731
    assert ex.check_diagnosis(always_healthy, RUNS, hints={"lr x30": "look at the update ratio"}) is False
    out = capsys.readouterr().out
    assert "'init std 1.0' run is not 'healthy'" in out and "'lr x30' run is not 'healthy' (look at the update" in out
    assert ex.check_diagnosis(lambda s: "broken", RUNS) is False
    assert "return one of 'healthy', 'init std 1.0', 'lr x30'; got 'broken'" in capsys.readouterr().out


def size_run(updates, vals, train):
    """A stand-in Run: evals at each quarter of `updates` with these val losses."""
    from types import SimpleNamespace

    evals = [{"step": updates * (i + 1) // len(vals), "val_loss": v, "train_loss": train} for i, v in enumerate(vals)]
    return SimpleNamespace(
        history=SimpleNamespace(evals=evals), config=SimpleNamespace(train=SimpleNamespace(max_steps=updates))
    )


SIZE_RUNS = {
    "2x64": size_run(960, [2.0, 1.6, 1.45, 1.40], 1.39),  # small: flat, train as high as val
    "2x128": size_run(300, [2.5, 1.5, 1.1, 0.94], 0.93),
    "2x256": size_run(86, [4.0, 3.0, 2.4, 1.97], 1.96),
}  # big: still falling fast


@pytest.mark.parametrize(
    "pick,ok,hint",
    [
        (None, False, "not attempted yet"),
        ("3x128", False, "is not one of the choices"),
        ("2x128", True, "correct: 2x128"),
        ("2x256", False, "2x256 ended at val 1.970, 1.030 nats above 2x128's 0.940: bigger, it got only 86 updates"),
        ("2x64", False, "yet its train loss 1.390 is as high as its val and fell only 0.050"),
    ],
)
def test_check_size_winner_says_why_a_pick_lost(capsys, pick, ok, hint):
    assert ex.check_size_winner(pick, SIZE_RUNS.get, list(SIZE_RUNS), tolerance=0.05) is ok
    out = capsys.readouterr().out
    assert hint in out, out


def test_check_size_winner_counts_a_tie_within_the_seed_spread(capsys):
    assert ex.check_size_winner("2x64", SIZE_RUNS.get, list(SIZE_RUNS), tolerance=0.5) is True
    assert "within the seed spread 0.500 of 2x128" in capsys.readouterr().out


def test_check_grid_size_multiplies_and_names_a_sum(capsys):
    from slmlab.exercises import check_grid_size

    def product(values):
        n = 1
        for v in values.values():
            n *= len(v)
        return n

    assert check_grid_size(product) and "correct" in capsys.readouterr().out
    assert not check_grid_size(lambda values: sum(len(v) for v in values.values()))
    assert "their sum: a grid tries every combination, so multiply" in capsys.readouterr().out
    assert not check_grid_size(lambda values: len(values))
    assert "with 2 values you gave 1, expected 2" in capsys.readouterr().out

    def stub(values):
        raise NotImplementedError

    assert not check_grid_size(stub) and "not attempted yet" in capsys.readouterr().out


AB_VERDICTS = {"C17": "helps", "C20": "hurts", "C21": "nothing"}


@pytest.mark.parametrize(
    "prediction,ok,hint",
    [
        ({"C17": None, "C20": None, "C21": None}, False, "not attempted yet"),
        ({"C17": "helps", "C20": None, "C21": "nothing"}, False, "no prediction for C20"),
        ({"C17": "better", "C20": "hurts", "C21": "nothing"}, False, "'better' for C17 is not one of"),
        ({"C17": "helps", "C20": "hurts", "C21": "nothing", "C99": "helps"}, False, "'C99' is not a change measured"),
        ({"C17": "helps", "C20": "hurts", "C21": "nothing"}, True, "correct: all 3 verdicts"),
        (
            {"C17": "helps", "C20": "helps", "C21": "hurts"},
            False,
            "C20: you said helps, it hurts (val +1.347 against a margin of 0.079)\nC21: you said hurts, it did nothing",
        ),
    ],
)
def test_check_verdicts_names_each_miss(capsys, prediction, ok, hint):
    assert ex.check_verdicts(prediction, AB_VERDICTS, deltas={"C20": 1.347}, margin=0.079) is ok
    out = capsys.readouterr().out
    assert hint in out, out
    if not ok and "you said" in hint:
        assert "not yet: 1 of 3 right" in out


# --- 13: the class challenge


def challenge_run(folder, val, seconds=600.0, updates=1000, val_bytes=4000):
    """A stand-in for a finished Run: 1000 val tokens over val_bytes bytes."""
    from pathlib import Path
    from types import SimpleNamespace

    from slmlab.history import History

    h = History(
        steps=[{"step": updates, "seconds": seconds}],
        evals=[{"step": updates, "val_loss": val}],
        meta={"n_val_tokens": 1000, "val_bytes": val_bytes, "corpus": "tinystories", "tokenizer": "bpe-4096"},
    )
    return SimpleNamespace(history=h, dir=Path(folder), label=folder)


CHALLENGE_BASE = Config.from_dict({"name": "tinystories-cpu", "train": {"time_budget": 600.0}})  # only changes matter
CHALLENGE_REF = challenge_run("ref", 3.0)  # 3.0 nats x 1000 tokens / (ln 2 x 4000 bytes) = 1.0820 bits per byte


@pytest.mark.parametrize(
    "fn, runs, verdict, said",
    [
        (stub, {}, False, "not attempted yet"),
        (lambda c: None, {}, False, "returned NoneType, not a Config"),
        (lambda c: c, {}, False, "returns the notebook's own config"),
        (lambda c: c.replace(val_fraction=0.2), {}, False, "you changed val_fraction"),
        (lambda c: c.replace(eval_interval=1, eval_batches=2), {}, False, "you changed eval_interval, eval_batches"),
        (lambda c: c.replace(time_budget=1200.0), {}, False, "over budget: your config's time_budget is 1200 s"),
        (lambda c: c.replace(time_budget=0.0), {}, False, "time_budget is 0 s (0: no limit), the challenge's 600 s"),
        (lambda c: c.replace(lr=3e-3), {3e-3: challenge_run("fast", 2.9)}, True, "better: 1.0460 bits per byte"),
        (lambda c: c.replace(lr=3e-3), {3e-3: challenge_run("slow", 3.2)}, False, "worse: 1.1542"),
        (lambda c: c.replace(lr=3e-3), {3e-3: challenge_run("tie", 3.01)}, False, "a tie: +0.0036"),
        (
            lambda c: c.replace(lr=3e-3),
            {3e-3: challenge_run("long", 2.5, seconds=900)},
            False,
            "over budget: your run trained for 900 s, the budget is 600 s",
        ),
        (
            lambda c: c.replace(lr=3e-3),
            {3e-3: challenge_run("other", 2.5, val_bytes=5000)},
            False,
            "your val text has 5,000 bytes",
        ),
    ],
)
def test_check_capstone_says_how_the_run_compares(tmp_path, capsys, fn, runs, verdict, said):
    board = tmp_path / "board.jsonl"
    got = ex.check_capstone(
        fn,
        base=CHALLENGE_BASE,
        reference=CHALLENGE_REF,
        train=lambda c: runs[c.train.lr],
        budget=600,
        name="ada",
        board=board,
        tolerance=0.01,
    )
    out = capsys.readouterr().out
    assert got is verdict and said in out, out
    assert board.is_file() == bool(runs)


def test_check_capstone_keeps_one_row_per_name_and_config(tmp_path, capsys):
    from slmlab import capstone

    board = tmp_path / "board.jsonl"
    runs = {3e-3: challenge_run("fast", 2.9), 1e-2: challenge_run("slow", 3.2)}

    def check(lr, name="ada"):
        return ex.check_capstone(
            lambda c: c.replace(lr=lr),
            base=CHALLENGE_BASE,
            reference=CHALLENGE_REF,
            train=lambda c: runs[c.train.lr],
            budget=600,
            name=name,
            board=board,
        )

    for lr, name in ((3e-3, "ada"), (3e-3, "ada"), (1e-2, "ada"), (3e-3, "bob")):
        check(lr, name)
    rows = capstone.read_leaderboards([board])
    assert [(r["name"], r["config"], r["verdict"]) for r in rows] == [
        ("ada", "fast", "better"),
        ("bob", "fast", "better"),
        ("(notebook)", "ref", "reference"),
        ("ada", "slow", "worse"),
    ]
    assert rows[0]["changes"] == {"lr": 3e-3} and "yours is #1" in capsys.readouterr().out.splitlines()[-2]
    assert not ex.check_capstone(
        lambda c: c.replace(lr=3e-3),
        base=CHALLENGE_BASE,
        reference=CHALLENGE_REF,
        train=runs.get,
        budget=600,
        name=" ",
        board=board,
    )
    assert "give your name" in capsys.readouterr().out


def test_the_leaderboard_is_shown_relative_to_the_runs_folder(tmp_path, monkeypatch):
    """A path a student can paste to their class: no home folder, no machine's layout."""
    from slmlab.exercises.capstone import _shown

    monkeypatch.setenv("SLMLAB_RUNS_DIR", str(tmp_path / "runs"))
    inside = tmp_path / "runs" / "leaderboard" / "capstone.jsonl"
    assert _shown(inside) == str(Path("leaderboard") / "capstone.jsonl") + " in the runs folder"
    assert _shown(tmp_path / "mine.jsonl") == str(tmp_path / "mine.jsonl")
