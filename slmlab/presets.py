"""Named presets, the profile switch and the lesson setups: the configs the course runs.

- `preset(name, **changes)`: a fresh `Config` of a named preset (`PRESETS`: smoke, cpu,
  gpu, student, speedrun, tinystories-cpu), with fields changed by flat name.
- `profile(default)`: the profile a notebook runs in (`PROFILES`: smoke, cpu, gpu), from
  $SLMLAB_PROFILE.
- `lesson_setup(name, profile)`: the changes a family of notebooks makes to its profile's
  preset (`LESSON_SETUPS`), kept here once so that those notebooks share cached runs.

The dataclasses, `validate` and `ConfigError` are slmlab.config's; this module builds on
them and imports nothing else of slmlab. Presets say what they are for and why they have
their shape; the measurements behind them (seconds, scores, the variants tried) are dated in
RESULTS.md at the top of the repository, beside the command that re-runs them, and each
docstring names its entry.
"""

from __future__ import annotations

import os
from typing import Any

from .config import Config, ConfigError, DataConfig, ModelConfig, TrainConfig

__all__ = ["PRESETS", "PROFILES", "preset", "profile", "LESSON_SETUPS", "lesson_setup"]


# ---------------------------------------------------------------------------
# Presets and profiles

PROFILES = ("smoke", "cpu", "gpu")


def _smoke() -> Config:
    """Seconds on any machine: proves the code runs, teaches nothing."""
    return Config(
        name="smoke",
        model=ModelConfig(n_layer=2, n_head=2, n_embd=32, block_size=32),
        data=DataConfig(corpus="synthetic", tokenizer="char", corpus_bytes=100_000),
        train=TrainConfig(
            lr=3e-3,
            min_lr=3e-4,
            warmup_steps=5,
            max_steps=40,
            micro_batch_size=8,
            eval_interval=20,
            eval_batches=4,
            log_interval=5,
            dtype="float32",
        ),
    )


def _cpu() -> Config:
    """A 2-core laptop: a few minutes, and the effects the course teaches show."""
    return Config(
        name="cpu",
        model=ModelConfig(n_layer=4, n_head=4, n_embd=128, block_size=128),
        data=DataConfig(corpus="synthetic", tokenizer="bpe-512", corpus_bytes=2_000_000),
        train=TrainConfig(
            lr=2e-3,
            min_lr=2e-4,
            warmup_steps=50,
            max_steps=1000,
            micro_batch_size=16,
            eval_interval=100,
            eval_batches=20,
        ),
    )


def _gpu() -> Config:
    """TinyStories at the real scale of the student's model, on one GPU."""
    return Config(
        name="gpu",
        model=ModelConfig(n_layer=6, n_head=6, n_embd=384, block_size=256, dropout=0.1),
        data=DataConfig(corpus="tinystories", tokenizer="bpe-4096", corpus_bytes=500_000_000),
        train=TrainConfig(
            lr=1e-3,
            min_lr=1e-4,
            warmup_steps=200,
            max_steps=5000,
            micro_batch_size=64,
            grad_accum_steps=2,
            eval_interval=250,
            eval_batches=50,
            compile=True,
        ),
    )


def _student() -> Config:
    """The student's notebook, its bugs fixed: 6x6x384, GPT-2 vocab, TinyStories.

    Their 20000 'iterations' were micro-steps with grad-accum 32: 625 updates.
    Their lr 1e-4 with min_lr 5e-4 is kept as lr 5e-4 / min_lr 1e-4 here,
    since min_lr > lr is refused.
    """
    return Config(
        name="student",
        model=ModelConfig(n_layer=6, n_head=6, n_embd=384, block_size=128, dropout=0.1),
        data=DataConfig(corpus="tinystories", tokenizer="gpt2", corpus_bytes=500_000_000),
        train=TrainConfig(
            lr=5e-4,
            min_lr=1e-4,
            warmup_steps=31,
            max_steps=625,
            micro_batch_size=32,
            grad_accum_steps=32,
            eval_interval=25,
            eval_batches=50,
            grad_clip=0.5,
        ),
    )


def _speedrun() -> Config:
    """Tiny Shakespeare by characters to val <= 1.8857 (nanoGPT's 2000-step figure), fast.

    nanoGPT's "I only have a macbook" recipe is 4 layers x 128 wide, block 64, batch 12,
    lr 1e-3, AdamW, 2000 steps (1.54M tokens). This is the same model trained on a third of
    the tokens: batch 24 for 340 steps (0.52M tokens), Muon (lr 0.03) on the blocks' matrices
    and AdamW at lr 6e-3 on the embeddings and norms, warmup 50, and one evaluation, at the
    end, on 50 batches. Muon needs fewer steps than AdamW here, and at width 128 its
    Newton-Schulz is cheap, so nanoGPT's own shape won. `make bench` races it against
    nanoGPT's recipe (and, with --nanogpt, nanoGPT's own train.py). The race's seconds and
    ratios, in fp32, bf16 and on AVX2 only, and every variant measured, kept or not, are in
    RESULTS.md, "`speedrun`", entry 2026-12-02 (issue 15).
    """
    return Config(
        name="speedrun",
        model=ModelConfig(n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.0),
        data=DataConfig(corpus="shakespeare", tokenizer="char"),
        train=TrainConfig(
            lr=6e-3,
            min_lr=6e-4,
            warmup_steps=50,
            max_steps=340,
            micro_batch_size=24,
            eval_interval=340,
            eval_batches=50,
            beta2=0.99,
            log_interval=50,
            optimizer="muon",
            muon_lr=0.03,
        ),
    )


def _tinystories_cpu() -> Config:
    """TinyStories on a 2-core CPU in 10 minutes: a BPE of 4096 merges, 2 layers x 384 wide.

    The run is given its wall time, not a step count: time_budget=600 runs the cosine on the
    share of the ten minutes spent and ends the run there, so a fast CPU and a slow one each
    end with a spent schedule (a step count sized for one machine left the other's cosine
    unfinished); max_steps is only a cap. A BPE fitted to the corpus instead of GPT-2's 50,257
    tokens keeps the output layer small, and a wide, shallow model does more per FLOP on a
    CPU; dropout stays at 0.1. `python -m slmlab bench --targets tinystories` scores it on
    held-out stories beside nanoGPT's CPU-sized model on GPT-2 tokens given the same minutes;
    the variants tried, and how far it falls short of 1.00 bits per byte, are in RESULTS.md,
    "`tinystories-cpu`", entry 2026-12-02 (issue 15).
    """
    return Config(
        name="tinystories-cpu",
        model=ModelConfig(n_layer=2, n_head=6, n_embd=384, block_size=128, dropout=0.1),
        data=DataConfig(corpus="tinystories", tokenizer="bpe-4096", corpus_bytes=500_000_000),
        train=TrainConfig(
            lr=2e-3,
            min_lr=2e-4,
            warmup_steps=100,
            max_steps=100_000,
            micro_batch_size=16,
            eval_interval=250,
            eval_batches=40,
            log_interval=50,
            time_budget=600.0,
        ),
    )


PRESETS = {
    "smoke": _smoke,
    "cpu": _cpu,
    "gpu": _gpu,
    "student": _student,
    "speedrun": _speedrun,
    "tinystories-cpu": _tinystories_cpu,
}


def preset(name: str, **changes: Any) -> Config:
    """A fresh copy of a named preset, with fields changed by flat name."""
    if name not in PRESETS:
        raise ConfigError(f"preset {name!r} is unknown; use one of {', '.join(PRESETS)}")
    cfg = PRESETS[name]()
    return cfg.replace(**changes) if changes else cfg


# ---------------------------------------------------------------------------
# Lesson setups: the changes a family of notebooks makes to its profile's preset.
# Notebooks that share a setup share cached runs, so it lives here, once.

# The cpu lessons 05-09 share one model and budget: 2 layers x 128 wide, block 64, 300 updates
# of 16 x 64 = 1,024 tokens: a run in seconds that ends far below the bigram rung on the
# synthetic data, where half as wide does not. They pin float32: at this size bf16 autocast is
# slower on a CPU even where it is native, and every laptop then gets the same numbers (the
# seconds and val of each choice: RESULTS.md, "The cpu lesson setup", entry 2026-12-02).
# Identical configs share cached runs, so 08's lr=3e-3 run is 05's full-data run.
_LESSON_CPU = dict(
    n_layer=2,
    n_head=4,
    n_embd=128,
    block_size=64,  # micro-batch: the preset's 16
    max_steps=300,
    warmup_steps=20,
    lr=3e-3,
    min_lr=3e-4,
    eval_interval=25,
    eval_batches=10,
    log_interval=5,
    dtype="float32",
)

LESSON_SETUPS: dict[str, dict[str, dict[str, Any]]] = {
    # 05 data size, 06 dropout, 07 weight decay
    "small-sweep": {
        "smoke": dict(max_steps=20, eval_interval=5),
        "cpu": dict(_LESSON_CPU),
        "gpu": dict(max_steps=2000, eval_interval=100),
    },
    # 08 learning rate and warmup
    "lr-sweep": {
        "smoke": {},
        "cpu": dict(_LESSON_CPU),
        "gpu": dict(max_steps=600, warmup_steps=60, eval_interval=100),
    },
    # 12 hyperparameter search: one layer, so a study of many trials fits in minutes (at
    # this budget one layer ends no worse than two: notebook 12 measures both). A val every
    # 75 updates, not 25: the pruner reads from update 75 (a quarter of the run) and the
    # objective is the best val, which every complete trial of 12's studies reached at its
    # last update. Evals change no training, so the studies replay the same (RESULTS.md,
    # "12's trials", entry 2026-12-04) while a trial skips 8 of its 12 evals. And val only
    # (eval_train=False): the pruner, the objective and 12's ablation read val alone, so an
    # eval costs half (the same val bit for bit; no train-vs-val gap is recorded).
    "search": {
        "smoke": dict(eval_train=False),
        "cpu": dict(_LESSON_CPU, n_layer=1, eval_interval=75, eval_train=False),
        "gpu": dict(max_steps=600, warmup_steps=60, eval_interval=100, eval_train=False),
    },
    # 09 batch size and accumulation: no dropout, so batch size is the only change
    "batch-sweep": {
        "smoke": dict(dropout=0.0),
        "cpu": dict(_LESSON_CPU, dropout=0.0),
        "gpu": dict(dropout=0.0, max_steps=600, warmup_steps=60, eval_interval=100),
    },
}


def lesson_setup(name: str, profile_name: str) -> dict[str, Any]:
    """The flat field changes of lesson setup `name` under `profile_name` (a copy)."""
    if name not in LESSON_SETUPS:
        raise ConfigError(f"lesson setup {name!r} is unknown; use one of {', '.join(LESSON_SETUPS)}")
    if profile_name not in LESSON_SETUPS[name]:
        raise ConfigError(
            f"lesson setup {name!r} has no {profile_name!r} profile; use one of {', '.join(LESSON_SETUPS[name])}"
        )
    return dict(LESSON_SETUPS[name][profile_name])


def profile(default: str = "cpu") -> str:
    """The profile a notebook runs in: $SLMLAB_PROFILE, else `default`."""
    name = os.environ.get("SLMLAB_PROFILE", default).strip().lower() or default
    if name not in PROFILES:
        raise ConfigError(f"SLMLAB_PROFILE={name!r} is unknown; use one of {', '.join(PROFILES)}")
    return name
