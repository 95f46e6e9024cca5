"""Tests for slmlab.diagnostics: lint codes, ladder numbers, schedules, the doctor on real
failing runs and on made-up curves, health checks, training statistics, lr finder."""

import math
import os
import types
from collections import Counter

import numpy as np
import pytest
import torch

from slmlab import diagnostics as d
from slmlab.data import BatchSampler
from slmlab.diagnostics.loss_ladder import _K_GRID
from slmlab.model import GPT
from slmlab.presets import preset


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Smoke-sized models run fastest on one thread, and on a busy 2-core machine two
    spinning OpenMP threads made these runs 10-50x slower. Restored afterwards."""
    old_env, old_n = os.environ.get("SLMLAB_THREADS"), torch.get_num_threads()
    os.environ["SLMLAB_THREADS"] = "1"  # what slmlab.device.setup() (inside train) reads
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old_n)
    if old_env is None:
        os.environ.pop("SLMLAB_THREADS", None)
    else:
        os.environ["SLMLAB_THREADS"] = old_env


# ---------------------------------------------------------------------------
# Lint

STUDENT_CODES = {
    "min_lr_above_lr",
    "scheduler_per_micro_step",
    "eval_iters_as_interval",
    "clip_before_unscale",
    "block_size_mismatch",
    "decay_on_norms_and_biases",
    "no_eot_between_documents",
    "vocab_dominates_params",
    "warmup_starts_high",
    "no_resume",
    "budget",
    "eval_overhead",
    "adam_eps_damps_updates",
}

# the student's notebook with every bug fixed and a small vocabulary: nothing to say but the budget
CLEAN_NOTEBOOK = {
    "learning_rate": 1e-3,
    "max_iters": 4000,
    "warmup_steps": 100,
    "min_lr": 1e-4,
    "eval_interval": 100,
    "eval_batches": 20,
    "batch_size": 16,
    "block_size": 128,
    "gradient_accumulation_steps": 1,
    "weight_decay": 0.1,
    "grad_clip": 1.0,
    "n_layer": 4,
    "n_head": 4,
    "n_embd": 128,
    "vocab_size": 512,
    "scheduler_steps_per": "update",
    "weight_decay_on_all_params": False,
    "amp_dtype": "float16",
    "clip_before_unscale": False,
    "eot_between_documents": True,
    "warmup_start_factor": 0.0,
    "resume": True,
}

ONE_BUG = {
    "min_lr_above_lr": {"min_lr": 5e-3},
    "scheduler_per_micro_step": {"scheduler_steps_per": "micro_step", "gradient_accumulation_steps": 8},
    "eval_iters_as_interval": {"eval_iters": 500, "eval_interval": None, "eval_batches": None},
    "clip_before_unscale": {"clip_before_unscale": True},
    "block_size_mismatch": {"model_block_size": 64},
    "decay_on_norms_and_biases": {"weight_decay_on_all_params": True},
    "no_eot_between_documents": {"eot_between_documents": False},
    "warmup_too_long": {"warmup_steps": 2000},
    "vocab_dominates_params": {"vocab_size": 50257},
}


# findings that come with a bug as its cost: evals every eval_iters on eval_iters batches cost
# 2/3 of the compute; gradients clipped while scaled are of the size of AdamW's eps
COMPANIONS = {"eval_iters_as_interval": {"eval_overhead"}, "clip_before_unscale": {"adam_eps_damps_updates"}}


def codes(findings, severities=("error", "warning", "info")):
    return {f.code for f in findings if f.severity in severities}


def test_student_config_raises_every_code_it_deserves():
    found = d.lint(d.STUDENT_CONFIG)
    assert codes(found) == STUDENT_CODES
    assert d.has_errors(found) and found[0].severity == "error"  # ranked: errors first
    assert all(f.message and f.notebook for f in found)
    budget = next(f for f in found if f.code == "budget").data
    assert budget == {"tokens_per_update": 32 * 32 * 128, "optimizer_updates": 625, "total_tokens": 32 * 32 * 128 * 625}


def test_chat_config_crashes_on_block_size_and_keeps_the_scheduler_bug():
    found = {f.code: f for f in d.lint(d.CHAT_CONFIG, n_train_tokens=10**8)}
    assert found["block_size_mismatch"].severity == "error"  # block 256 with the model's 128
    assert "min_lr_above_lr" not in found  # min_lr 1e-5 fixes that one
    assert found["scheduler_per_micro_step"].data["max_steps"] == 50000 // 16
    assert found["budget"].data["epochs"] == pytest.approx(64 * 16 * 256 * 3125 / 1e8)


def test_clean_configs_raise_no_error_or_warning():
    assert codes(d.lint(CLEAN_NOTEBOOK), ("error", "warning")) == set()
    for name in ("smoke", "cpu", "gpu"):
        assert codes(d.lint(preset(name)), ("error", "warning")) == set(), name
    cpu = preset("cpu")
    assert codes(d.lint(cpu.to_dict()), ("error", "warning")) == set()  # Config.to_dict() form
    assert codes(d.lint({"lr": 1e-3, "min_lr": 1e-4}), ("error", "warning")) == set()  # flat slmlab names


@pytest.mark.parametrize("code", sorted(ONE_BUG))
def test_each_lint_code_alone(code):
    config = {k: v for k, v in {**CLEAN_NOTEBOOK, **ONE_BUG[code]}.items() if v is not None}
    found = d.lint(config)
    assert codes(found, ("error", "warning")) == {code} | COMPANIONS.get(code, set())


def test_lint_reads_slmlab_configs_too():
    bad = preset("cpu").replace(min_lr=1e-2, warmup_steps=500)  # not validated: lint reports instead
    assert {"min_lr_above_lr", "warmup_too_long"} <= codes(d.lint(bad))
    assert "vocab_dominates_params" in codes(d.lint(preset("student")))
    assert d.format_findings([]) == "no findings"
    assert "ERROR" in d.format_findings(d.lint(bad))


# ---------------------------------------------------------------------------
# Schedule


def test_student_schedule_shows_the_bug():
    # the student's config at 1/31 of its length (640 micro-steps, warmup 32): the same shape
    s = d.schedule({**d.STUDENT_CONFIG, "max_iters": 640, "warmup_steps": 32})
    assert len(s.lr_micro) == 640 and len(s.lr) == 20  # 32 micro-steps per optimizer update
    assert s.lr_micro[0] == pytest.approx(1e-4 / 3)  # LinearLR starts at lr/3, not 0
    assert s.lr_micro[32] == pytest.approx(1e-4)
    cosine = s.lr_micro[32:]
    assert np.all(np.diff(cosine) >= -1e-12)  # the cosine phase only RISES ...
    assert s.lr[-1] == pytest.approx(5e-4, rel=1e-3)  # ... to min_lr = 5x the peak
    assert s.lr[0] == pytest.approx(s.lr_micro[31])  # optimizer steps at every 32nd micro-step


def test_slmlab_schedule_is_lr_at_per_update():
    from slmlab.train import lr_at

    cfg = preset("cpu")
    s = d.schedule(cfg)
    assert len(s.lr) == cfg.train.max_steps
    assert s.lr[10] == lr_at(10, cfg.train)
    assert s.lr.max() == pytest.approx(cfg.train.lr) and s.lr[-1] >= cfg.train.min_lr
    assert np.all(np.diff(s.lr[cfg.train.warmup_steps :]) <= 0)


# ---------------------------------------------------------------------------
# Ladder


def plain_counts(train, val, V, k):
    """Unigram and bigram cross-entropy with plain Python dicts (the other way)."""
    uni = Counter(train.tolist())
    n = len(train)
    ce_uni = -sum(math.log((uni[t] + k) / (n + k * V)) for t in val.tolist()) / len(val)
    pairs = Counter(zip(train[:-1].tolist(), train[1:].tolist()))
    ctx = Counter(train[:-1].tolist())
    lp = [math.log((pairs[(a, b)] + k) / (ctx[a] + k * V)) for a, b in zip(val[:-1].tolist(), val[1:].tolist())]
    return ce_uni, -sum(lp) / len(lp)


def fake_data(train, val, V, **manifest):
    return types.SimpleNamespace(
        train=train, val=val, vocab_size=V, manifest={"corpus": "fake", "tokenizer": "char", **manifest}
    )


def test_ladder_numbers_match_dict_counting():
    rng = np.random.default_rng(0)
    V = 9
    train = rng.integers(0, V - 2, 3000).astype(np.uint16)  # tokens 7 and 8 never seen in train
    val = np.concatenate([rng.integers(0, V, 500), [8, 8]]).astype(np.uint16)
    lad = d.ladder(fake_data(train, val, V, val_bytes=1234, entropy_floor=1.5), k=0.5)
    uni, bi = plain_counts(train, val, V, 0.5)
    assert lad.get("unigram") == pytest.approx(uni, rel=1e-12)
    assert lad.get("bigram") == pytest.approx(bi, rel=1e-12)
    assert lad.get("uniform") == pytest.approx(math.log(V))
    assert lad["bigram"].bits_per_byte == pytest.approx(bi * len(val) / (math.log(2) * 1234))
    assert lad.get("entropy floor") == 1.5 and lad.get("student @ iter 500") is None
    assert [r.nats for r in lad.rungs] == sorted((r.nats for r in lad.rungs), reverse=True)
    assert "bigram" in lad.as_table() and "k=0.5" in lad.as_table()
    below, above = lad.versus(bi - 0.25), lad.versus(bi + 0.5, "unigram")  # one sign: loss - rung
    assert below.startswith("-0.250 nats, -") and below.endswith("bits/byte vs bigram")
    assert above.startswith(f"{bi + 0.5 - uni:+.3f} nats") and above.endswith("vs unigram")


def test_ladder_auto_k_large_vocab_and_student_rung():
    rng = np.random.default_rng(1)
    V = 50257
    z = (rng.zipf(1.3, 400_000) % V).astype(np.uint16)  # 400k tokens, GPT-2-sized vocabulary
    lad = d.ladder(fake_data(z[:350_000], z[350_000:], V, tokenizer="gpt2", val_bytes=200_000))
    assert lad.k["unigram"] in _K_GRID and lad.k["bigram"] in _K_GRID
    uni, _ = plain_counts(z[:350_000], z[350_000:], V, lad.k["unigram"])  # the other way, each k
    _, bi = plain_counts(z[:350_000], z[350_000:], V, lad.k["bigram"])
    assert lad.get("unigram") == pytest.approx(uni, rel=1e-9)
    assert lad.get("bigram") == pytest.approx(bi, rel=1e-9)
    assert lad.get("student @ iter 500") == 9.45
    assert lad.where(20.0).startswith("above every rung")


# ---------------------------------------------------------------------------
# Doctor on made-up and published curves


def curve(val, train=None, steps=None, every=100, config=None, vocab=65, step_losses=None):
    steps = steps or [every * (i + 1) for i in range(len(val))]
    h = d.history_from_evals(
        dict(zip(steps, val)),
        train_by_step=dict(zip(steps, train)) if train else None,
        vocab_size=vocab,
        config=config or preset("smoke").to_dict(),
    )
    if step_losses is not None:
        h.steps = [
            {"kind": "step", "step": i + 1, "loss": float(x), "grad_norm": 1.0} for i, x in enumerate(step_losses)
        ]
    return h


def test_published_curve_is_still_improving_and_early_points_are_barely_trained():
    found = codes(d.diagnose(d.student_history()))
    assert "still_improving" in found and "barely_trained" not in found
    by_code = {f.code: f for f in d.diagnose(d.student_history())}
    assert "more max_steps" in by_code["still_improving"].message
    timed = d.student_history()
    timed.stop_reason = "time"  # its time ran out: the advice is more time, not more steps
    by_code = {f.code: f for f in d.diagnose(timed)}
    assert "time_budget" in by_code["still_improving"].message
    early = d.history_from_evals({500: 9.45, 1000: 8.49}, vocab_size=50257)
    f = d.diagnose(early, {"unigram": 6.06})
    assert f[0].code == "barely_trained" and f[0].data["uniform"] == pytest.approx(math.log(50257))


def test_above_bigram_at_the_end_is_reported_once():
    rungs = {"uniform": 6.65, "unigram": 5.46, "bigram": 2.12}
    f = {x.code: x for x in d.diagnose(curve([5.0, 4.0, 3.3, 3.263], vocab=773), rungs)}  # 08's lr 0.003
    assert "above_bigram" in f and f["above_bigram"].severity == "warning", list(f)
    assert f["above_bigram"].data["above"] == pytest.approx(3.263 - 2.12) and "2.12" in f["above_bigram"].message
    assert "above_bigram" not in codes(d.diagnose(curve([5.0, 3.0, 2.0, 1.9], vocab=773), rungs))  # below it
    assert "above_bigram" not in codes(d.diagnose(curve([5.0, 3.0, 2.0, 2.5], vocab=773), {"uniform": 6.65}))
    early = codes(d.diagnose(curve([6.3, 6.0, 5.9], vocab=773), rungs))  # near uniform: barely_trained only
    assert "barely_trained" in early and "above_bigram" not in early, early
    assert "above_bigram" not in codes(d.diagnose(curve([6.0, 9.0, 9.5], vocab=773), rungs))  # worse than uniform


def test_made_up_overfitting_noise_and_val_below_train():
    val = [3.0, 2.5, 2.2, 2.1, 2.15, 2.25, 2.4]
    train = [3.0, 2.45, 2.1, 1.9, 1.7, 1.5, 1.3]
    f = {x.code: x for x in d.diagnose(curve(val, train))}
    assert "overfitting" in f and f["overfitting"].data["best_step"] == 400
    assert "still_improving" not in f
    rng = np.random.default_rng(0)
    noisy = list(2.0 + 0.08 * rng.standard_normal(12))
    f = {x.code: x for x in d.diagnose(curve(noisy))}
    assert "eval_too_noisy" in f and f["eval_too_noisy"].data["suggested"] > 4
    f = {x.code: x for x in d.diagnose(curve([2.0, 1.8, 1.7], [2.2, 2.0, 1.9]))}  # both in eval mode
    assert f["val_below_train"].severity == "warning" and f["val_below_train"].data["compared_with"] == "eval"
    steps = 1.4 + np.exp(-np.arange(1, 301) / 100)  # training-step loss, with dropout on: 1.77, 1.54, 1.45
    cfg = preset("smoke", dropout=0.2).to_dict()
    f = {x.code: x for x in d.diagnose(curve([1.6, 1.4, 1.3], steps=[100, 200, 300], config=cfg, step_losses=steps))}
    assert f["val_below_train"].notebook == "06_dropout" and f["val_below_train"].severity == "info"


def capstone_like(val, train, n_train_tokens=None, tokens_per_step=2048, every=250):
    """An eval-only history in the shape of 13's run: val and train in eval mode at each eval,
    the tokens seen at each, and (when given) how many train tokens the run had."""
    steps = [every * (i + 1) for i in range(len(val))]
    meta = {"tokens_per_step": tokens_per_step} | ({"n_train_tokens": n_train_tokens} if n_train_tokens else {})
    h = d.history_from_evals(
        dict(zip(steps, val)), train_by_step=dict(zip(steps, train)), vocab_size=4353, config=preset("smoke").to_dict()
    )
    h.meta.update(meta)
    for e in h.evals:
        e["tokens"] = e["step"] * tokens_per_step
    h.stop_reason = "time"
    return h


# 13's run on the 2 MB TinyStories sample (cpu profile): val still falls, train pulls away
MEMORIZING_VAL = [4.20, 3.69, 3.45, 3.32, 3.24, 3.196]
MEMORIZING_TRAIN = [4.15, 3.55, 3.20, 2.95, 2.72, 2.540]


def test_memorizing_while_val_still_falls_is_not_train_longer():
    h = capstone_like(MEMORIZING_VAL, MEMORIZING_TRAIN, n_train_tokens=463_935)  # 6.6 passes at the end
    f = {x.code: x for x in d.diagnose(h)}
    assert "memorizing" in f and not {"still_improving", "overfitting"} & set(f), list(f)
    m = f["memorizing"]
    assert m.data["epochs"] == pytest.approx(6 * 250 * 2048 / 463_935) and m.data["gap"] == pytest.approx(0.656)
    assert "more distinct text" in m.message and "6.6 passes" in m.message and "still falling" in m.message
    assert "time_budget" not in m.message and m.notebook == "05_data_size"
    unknown = capstone_like(MEMORIZING_VAL, MEMORIZING_TRAIN)  # passes unknown: the growing gap says it
    g = {x.code: x for x in d.diagnose(unknown)}
    assert "memorizing" in g and g["memorizing"].data["gap_growth"] == pytest.approx(0.656 - 0.25)
    # the same gap with less than one pass: not memorization (no train token was seen twice)
    once = capstone_like(MEMORIZING_VAL, MEMORIZING_TRAIN, n_train_tokens=10_000_000)
    assert {"still_improving"} <= codes(d.diagnose(once)) and "memorizing" not in codes(d.diagnose(once))
    # passes unknown and a gap that does not grow: a val text unlike train, not memorization
    flat = capstone_like(MEMORIZING_VAL, [v - 0.4 for v in MEMORIZING_VAL])
    assert "memorizing" not in codes(d.diagnose(flat))


def test_memorizing_does_not_fire_on_a_healthy_underfit_run_or_the_students_log():
    underfit = capstone_like([4.2, 3.8, 3.6, 3.5, 3.44, 3.40], [4.19, 3.78, 3.57, 3.46, 3.40, 3.35], 4_000_000)
    found = codes(d.diagnose(underfit))  # 0.77 passes, gap 0.05: more time is the right advice
    assert "still_improving" in found and "memorizing" not in found, found
    many_passes_small_gap = capstone_like([4.2, 3.8, 3.6, 3.5, 3.44, 3.40], [4.19, 3.78, 3.5, 3.3, 3.2, 3.15], 300_000)
    assert "memorizing" not in codes(d.diagnose(many_passes_small_gap))  # gap 0.25 < 0.3 after 10 passes
    # the student's recipe as its log printed it (train and val in eval mode, every 500 iterations; a few prints)
    printed = {
        500: (9.4434, 9.4478),
        1000: (8.4843, 8.4880),
        5000: (4.2813, 4.2910),
        10000: (3.1863, 3.1901),
        15000: (2.6693, 2.6762),
        17500: (2.4941, 2.5027),
        19000: (2.4027, 2.4082),
        19500: (2.3933, 2.3935),
    }
    student = d.history_from_evals(
        {s: v for s, (_, v) in printed.items()}, train_by_step={s: t for s, (t, _) in printed.items()}, vocab_size=50257
    )
    assert "memorizing" not in codes(d.diagnose(student))  # train within 0.01 of val
    assert "memorizing" not in codes(d.diagnose(d.student_history()))


def test_memorizing_does_not_fire_on_the_students_real_log(shared_data):
    from pathlib import Path

    log = Path(shared_data) / "student_runs" / "vizuara_slm_log.txt"
    for accum in (None, 32):  # steps as printed, and as optimizer updates (04 reads it both ways)
        found = codes(d.checkup(log, vocab_size=50257, grad_accum_steps=accum).findings)
        assert "still_improving" in found and "memorizing" not in found, found


def test_made_up_spiky_and_slow_curves():
    rng = np.random.default_rng(0)
    base = 3.0 * np.exp(-np.arange(200) / 60) + 1.0 + 0.02 * rng.standard_normal(200)
    spiky = base.copy()
    spiky[[50, 90, 130, 170]] += 1.5
    assert "lr_too_high" in codes(d.diagnose(curve([2.0], step_losses=spiky)))
    assert "lr_too_high" not in codes(d.diagnose(curve([2.0], step_losses=base)))
    slow = 4.0 - 0.002 * np.arange(200) + 0.01 * rng.standard_normal(200)
    found = codes(d.diagnose(curve([3.6], step_losses=slow, vocab=65)))
    assert "lr_too_low" in found
    assert "lr_too_low" not in codes(d.diagnose(curve([2.0], step_losses=base)))


# ---------------------------------------------------------------------------
# Real short runs, made to fail (smoke-sized model on the synthetic corpus)


@pytest.fixture(scope="module")
def data():
    from slmlab.data import prepare

    return prepare(preset("smoke").data)


def run(data, callbacks=(), **changes):
    from slmlab.train import train

    base = dict(max_steps=25, warmup_steps=0, eval_interval=5, eval_batches=4, log_interval=1)
    return train(preset("smoke", **{**base, **changes}), data=data, callbacks=callbacks, progress=False)


@pytest.fixture(scope="module")
def ladder(data):
    return d.ladder(data)


def test_doctor_on_real_diverging_run(data, ladder):
    h = run(data, lr=10.0, min_lr=1.0, grad_clip=0.0)
    found = d.diagnose(h, ladder)
    assert found[0].code == "diverged" and "it was 10" in found[0].message, d.format_findings(found)
    assert "barely_trained" not in codes(found)  # worse than a uniform guess is broken, not early


def test_doctor_on_real_crawling_run(data, ladder):
    h = run(data, lr=1e-6, min_lr=1e-7)
    found = codes(d.diagnose(h, ladder))
    assert {"barely_trained", "lr_too_low"} <= found, found
    assert not {"overfitting", "diverged", "lr_too_high"} & found


def random_token_data(V=16, n_train=300, n_val=5000):
    """Uniform random tokens: nothing to learn, so all a model learns of train is memorized."""
    from slmlab.data import TokenData

    rng = np.random.default_rng(0)
    manifest = {
        "corpus": "random",
        "tokenizer": "random",
        "val_bytes": n_val,
        "n_val_tokens": n_val,
        "entropy_floor": math.log(V),
    }
    return TokenData(
        rng.integers(0, V, n_train).astype(np.uint16),
        rng.integers(0, V, n_val).astype(np.uint16),
        types.SimpleNamespace(vocab_size=V, name="random"),
        manifest,
        None,
    )


def test_doctor_on_real_overfitting_run():
    h = run(
        random_token_data(),
        max_steps=60,
        lr=1e-2,
        min_lr=1e-2,
        eval_interval=6,
        eval_batches=8,
        block_size=16,
        micro_batch_size=16,
        log_interval=6,
    )
    found = {f.code: f for f in d.diagnose(h)}
    assert "overfitting" in found and found["overfitting"].data["gap_final"] > found["overfitting"].data["gap_at_best"]
    assert not {"lr_too_low", "still_improving", "diverged"} & set(found), list(found)


def small_text_run(max_steps: int):
    """900 training characters (0.3% of the smoke corpus) at lr 1e-2, an eval every 20 updates:
    (its history, its ladder)."""
    from slmlab.data import prepare

    changes = dict(data_fraction=0.003, micro_batch_size=16)
    small = prepare(preset("smoke", **changes).data)
    h = run(
        small, max_steps=max_steps, lr=1e-2, min_lr=1e-2, eval_interval=20, eval_batches=8, log_interval=20, **changes
    )
    return h, d.ladder(small)


def test_doctor_on_real_overfitting_run_on_synthetic_text():
    """200 updates (160 and fewer show no overfitting yet): val turns up after step ~120."""
    h, lad = small_text_run(200)
    found = {f.code: f for f in d.diagnose(h, lad)}
    assert "overfitting" in found, list(found)
    assert found["overfitting"].data["best_step"] < 200
    assert not {"lr_too_low", "diverged", "memorizing"} & set(found)


def test_doctor_on_real_memorizing_run_whose_val_still_falls():
    """The same text stopped at 120 updates, before val turns up: val falls at every eval
    after 40 while train pulls 0.6 nats away, after more than 30 passes."""
    h, lad = small_text_run(120)
    found = {f.code: f for f in d.diagnose(h, lad)}
    assert "memorizing" in found and not {"overfitting", "still_improving"} & set(found), list(found)
    assert found["memorizing"].data["epochs"] > 10 and found["memorizing"].data["gap"] > 0.3


def test_doctor_on_real_run_stopped_too_early(data, ladder):
    h = run(data, max_steps=100, lr=1e-2, min_lr=1e-2, eval_interval=10, eval_batches=8)
    found = {f.code: f for f in d.diagnose(h, ladder)}
    assert "still_improving" in found and found["still_improving"].data["slope_per_1000"] < 0, list(found)
    assert not {"overfitting", "diverged", "lr_too_high", "memorizing"} & set(found)


def test_doctor_on_real_run_with_too_high_an_lr(data, ladder):
    """lr 0.1 without clipping: the loss climbs above its start and never recovers, no NaN."""
    h = run(data, max_steps=40, lr=0.1, min_lr=0.1, grad_clip=0.0)
    assert all(math.isfinite(r["loss"]) for r in h.steps)
    found = {f.code: f for f in d.diagnose(h, ladder)}
    assert "lr_too_high" in found and "lr_too_low" not in found, list(found)


def easier_val_data(V=16, n=6000):
    """Train: half a repeating 0..V-1 pattern, half uniform noise; val: the pattern alone.
    A model learns the pattern, so its val loss ends far below its train loss."""
    from slmlab.data import TokenData

    rng = np.random.default_rng(1)
    pattern = np.arange(n) % V
    train = np.concatenate([pattern[: n // 2], rng.integers(0, V, n // 2)]).astype(np.uint16)
    val = pattern[:2000].astype(np.uint16)
    manifest = {
        "corpus": "pattern",
        "tokenizer": "random",
        "val_bytes": len(val),
        "n_val_tokens": len(val),
        "entropy_floor": None,
    }
    return TokenData(train, val, types.SimpleNamespace(vocab_size=V, name="random"), manifest, None)


def test_doctor_on_real_run_whose_val_is_easier_than_train():
    h = run(
        easier_val_data(),
        max_steps=60,
        lr=1e-2,
        min_lr=1e-3,
        block_size=16,
        eval_interval=10,
        eval_batches=8,
        log_interval=10,
    )
    assert h.evals[-1]["val_loss"] < h.evals[-1]["train_loss"] - 0.5
    found = {f.code: f for f in d.diagnose(h)}
    assert "val_below_train" in found and found["val_below_train"].severity == "warning", list(found)
    assert found["val_below_train"].data["compared_with"] == "eval"


def test_doctor_on_real_run_with_one_eval_batch(data, ladder):
    h = run(
        data, max_steps=30, lr=3e-3, min_lr=3e-3, eval_interval=3, eval_batches=1, micro_batch_size=2, log_interval=3
    )
    f = {x.code: x for x in d.diagnose(h, ladder)}
    assert "eval_too_noisy" in f and f["eval_too_noisy"].data["suggested"] > 10


@pytest.fixture(scope="module")
def normal_run(data):
    """A normal smoke run with the statistics callback on (sampled every 5 updates)."""
    stats = d.TrainingStats(every=5)
    return run(data, callbacks=[stats], lr=3e-3, min_lr=3e-4, warmup_steps=2, log_interval=5), stats


def test_doctor_does_not_misfire_on_a_normal_run(normal_run, ladder):
    found = codes(d.diagnose(normal_run[0], ladder))
    assert not {"diverged", "lr_too_high", "lr_too_low", "overfitting", "memorizing"} & found, found
    assert "ladder_position" in found
    assert d.clipped_fraction(normal_run[0]) is not None


def test_stats_callback_in_a_real_run(normal_run):
    stats = normal_run[1]
    assert sorted({a["step"] for a in stats.activations}) == [1, 5, 10, 15, 20, 25]
    assert {a["step"] for a in stats.attention} == {1, 5, 10, 15, 20, 25}
    assert {g["step"] for g in stats.grads} == {1, 5, 10, 15, 20, 25}
    assert {g["name"] for g in stats.grads} == {"embedding", "block 0", "block 1", "final norm"}
    assert 0 <= d.clipped_fraction(normal_run[0]) <= 1
    assert all(-8 < u["log10_ratio"] < 0 for u in stats.updates)


# ---------------------------------------------------------------------------
# Health checks, statistics, lr finder


def smoke_model(data):
    torch.manual_seed(0)
    return GPT(preset("smoke", vocab_size=data.vocab_size).model)


def test_loss_at_init_and_overfit_one_batch(data):
    model = smoke_model(data)
    ok = d.loss_at_init(model, data)
    assert ok.passed and abs(ok.loss - math.log(data.vocab_size)) < ok.tolerance
    with torch.no_grad():
        model.wte.weight.mul_(100)  # logits far too large: a wiring/init bug
    assert not d.loss_at_init(model, data).passed
    fit = d.overfit_one_batch(preset("smoke"), data, steps=60)
    assert fit.passed and fit.final < fit.initial and len(fit.losses) == 60
    assert not d.overfit_one_batch(preset("smoke"), data, steps=5, lr=1e-9).passed


def test_stats_on_a_zeroed_model_and_a_known_sgd_step(data):
    model = smoke_model(data)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "ln" not in n:
                p.zero_()
    cfg = preset("smoke", vocab_size=data.vocab_size, grad_clip=1.0)
    trainer = types.SimpleNamespace(model=model, cfg=cfg, step=0)
    stats = d.TrainingStats(every=1)
    stats.on_train_start(trainer)
    stats.on_step_start(trainer)
    x, y = BatchSampler(data.train, 32, 4, 0).next()
    model(x, y)[1].backward()
    for a in stats.activations:  # zero weights: GELU input is exactly 0 everywhere
        assert a["mean"] == 0 and a["std"] == 0 and a["saturated"] == 0
    for a in stats.attention:  # q = k = 0: every position attends evenly
        assert a["entropy"] == pytest.approx(a["uniform"], abs=1e-5)
    assert len(stats.activations) == 2 and len(stats.attention) == 2 * 2


def test_stats_see_saturation_and_match_a_hand_hook(data):
    """Scaled-up MLP input weights push half the GELU inputs far below -3 (saturated)."""
    model = smoke_model(data)
    cfg = preset("smoke", vocab_size=data.vocab_size)
    x, y = BatchSampler(data.train, 32, 4, 0).next()

    def measure(m):
        stats, seen = d.TrainingStats(every=1), []
        hook = m.blocks[0].mlp.c_fc.register_forward_hook(lambda mod, i, o: seen.append(o.detach()))
        trainer = types.SimpleNamespace(model=m, cfg=cfg, step=0)
        stats.on_train_start(trainer)
        stats.on_step_start(trainer)
        m(x, y)[1].backward()
        hook.remove()
        return stats.activations[0], seen[0]

    normal, pre = measure(model)
    assert normal["saturated"] == pytest.approx(float((pre < -3).float().mean()))
    assert normal["pre_std"] == pytest.approx(float(pre.std()), rel=1e-5)
    assert normal["saturated"] < 0.05
    with torch.no_grad():
        for b in model.blocks:
            b.mlp.c_fc.weight.mul_(200)
    blown, pre = measure(model)
    assert blown["saturated"] > 0.3 and blown["pre_std"] > 50 * normal["pre_std"]


def test_update_ratio_and_grad_norms_of_a_known_sgd_step(data):
    model = smoke_model(data)
    cfg = preset("smoke", vocab_size=data.vocab_size)
    trainer = types.SimpleNamespace(model=model, cfg=cfg, step=0)
    stats = d.TrainingStats(every=1)
    stats.on_train_start(trainer)
    stats.on_step_start(trainer)
    x, y = BatchSampler(data.train, 32, 4, 0).next()
    model(x, y)[1].backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    old = {n: p.detach().clone() for n, p in model.named_parameters()}
    total = float(torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1))  # clip hard
    stats.on_after_backward(trainer)
    torch.optim.SGD(model.parameters(), lr=0.5).step()
    trainer.step = 1
    stats.on_update(trainer)
    stats.on_log(trainer, [{"step": 1, "grad_norm": total}])
    stats.on_train_end(trainer)
    scale = min(1.0, 0.1 / total)
    rms = lambda t: float(t.pow(2).mean().sqrt())  # noqa: E731
    want = {n: math.log10(rms(0.5 * scale * grads[n]) / rms(old[n])) for n in grads if rms(grads[n]) > 0}
    got = {u["name"]: u["log10_ratio"] for u in stats.updates}
    for n, w in want.items():
        assert got[n] == pytest.approx(w, abs=5e-3), n  # float32: 1 + 1e-5 keeps ~3 digits of the step
    block0 = math.sqrt(sum(float(g.pow(2).sum()) for n, g in grads.items() if n.startswith("blocks.0.")))
    got_g = {g["name"]: g["grad_norm"] for g in stats.grads}
    assert got_g["block 0"] == pytest.approx(block0, rel=1e-4)  # the norm BEFORE clipping


def test_lr_finder_restores_nothing_it_did_not_touch(data):
    model = smoke_model(data)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    res = d.lr_find(model, data, steps=40, lr_min=1e-5, lr_max=3.0)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert 1e-5 <= res.lr_at_min <= 3.0 and res.suggestion == pytest.approx(res.lr_at_min / 10)
    assert len(res.lrs) == len(res.losses) == len(res.smoothed)
    assert res.smoothed.min() < res.smoothed[0]


def test_doctor_reads_a_run_folder(normal_run, tmp_path):
    normal_run[0].save(tmp_path / "history.jsonl")
    assert codes(d.diagnose(tmp_path)) == codes(d.diagnose(normal_run[0]))


def test_health_checks_run_by_the_trainer_when_asked(capsys):
    from slmlab.diagnostics import HealthChecks
    from slmlab.presets import preset
    from slmlab.train import train

    hc = HealthChecks(overfit_steps=60)
    h = train(preset("smoke", max_steps=5, eval_interval=5, warmup_steps=1), callbacks=[hc], progress=False)
    assert hc.init.passed and hc.overfit.passed
    assert len(hc.overfit.losses) == 60 and hc.overfit.final < hc.overfit.initial
    assert "loss at init" in capsys.readouterr().out
    assert len(h.steps) == 5
    strict = HealthChecks(overfit_steps=1, strict=True, verbose=False)  # 1 step cannot memorize
    h = train(preset("smoke", max_steps=5, eval_interval=5, warmup_steps=1), callbacks=[strict], progress=False)
    assert not strict.overfit.passed and h.stop_reason == "health_check" and not h.steps


def test_a_loss_that_climbs_above_its_start_and_sticks_is_lr_too_high_not_too_low():
    from slmlab.diagnostics import diagnose
    from slmlab.history import History

    # the shape of a real lr=0.1 run: 6.66 -> 7.78 in the first steps, then stuck near unigram
    loss = [6.66, 7.2, 7.78, 7.3, 6.9, 6.4, 6.0] + [5.5 - 0.002 * i for i in range(90)]
    h = History(
        steps=[{"kind": "step", "step": i + 1, "loss": v, "lr": 0.1, "grad_norm": 0.3} for i, v in enumerate(loss)],
        evals=[
            {"kind": "eval", "step": s, "train_loss": loss[s - 1], "val_loss": loss[s - 1]} for s in (25, 50, 75, 97)
        ],
        config={"train": {"lr": 0.1, "warmup_steps": 10}},
        meta={"vocab_size": 769},
    )
    codes = [f.code for f in diagnose(h, {"uniform": 6.645, "unigram": 5.46, "bigram": 2.12})]
    assert "lr_too_high" in codes and "lr_too_low" not in codes


def test_the_doctor_of_a_run_folder_reads_its_training_statistics():
    from slmlab import experiments, files

    r = experiments.run(
        preset("smoke", max_steps=10, eval_interval=5, warmup_steps=1),
        callbacks=[d.TrainingStats(every=5)],
        progress=False,
    )
    (recorded,) = (r.dir / "callbacks").glob("training_stats-*.json")
    assert "vanishing_gradients" not in codes(d.checkup(r.dir).findings)
    rec = files.read_json(recorded)
    for g in rec["grads"]:  # as if every block's gradient had vanished
        g["grad_norm"] = 1e-6
    files.write_json(recorded, rec)
    assert "vanishing_gradients" in codes(d.checkup(r.dir).findings)
