"""The student's recipe and the chat answer's new config, in the student's own units, and their
translation to a lesson's scale: notebook 12's ablation (section 7) and its solution.

- `THEIRS`, `CHAT`: lr, min_lr, max_iters and warmup (micro-steps, as their notebook counts),
  eval_iters, batch, block and accum (gradient accumulation); `CLAIM`: the course's number of
  each change the chat answer made (C17-C24, notebook 04).
- `lesson_scale(micro)`: how each setting shrinks to a lesson: counts by `micro` of their
  micro-steps per micro-step here, the batch to a quarter, the block to a half, accumulation
  by 16, eval_iters to eval batches of the recipe's tokens; the lr as it is.
- `here(settings, scale)`: their settings at that scale.
- `translated_config(cfg, settings, seed, scale)`: the settings at the scale as a config, and
  the callback that replays their schedule (the min_lr > lr bug included) at every update;
  `translated_run(...)`: that one cached run, labelled by its seed.

Their schedule is slmlab.diagnostics' `student_schedule`; runs are slmlab.experiments'.
"""

from __future__ import annotations

from collections.abc import Mapping

from .callbacks import ReplayLR
from .config import Config
from .diagnostics import student_schedule
from .experiments import Run, run

__all__ = ["THEIRS", "CHAT", "CLAIM", "lesson_scale", "here", "translated_config", "translated_run"]

THEIRS = dict(lr=1e-4, min_lr=5e-4, max_iters=20_000, warmup=1000, eval_iters=500, batch=32, block=128, accum=32)
CHAT = dict(lr=6e-4, max_iters=50_000, warmup=5000, min_lr=1e-5, eval_iters=200, batch=64, block=256, accum=16)
CLAIM = dict(
    lr="C17", max_iters="C18", warmup="C19", min_lr="C20", eval_iters="C21", batch="C22", block="C23", accum="C24"
)


def lesson_scale(micro: int) -> dict[str, float]:
    """Each setting's factor: `micro` of their micro-steps make one here (100: 20,000 -> 200)."""
    return dict(
        lr=1, min_lr=1, max_iters=1 / micro, warmup=1 / micro, eval_iters=1 / 25, batch=1 / 4, block=1 / 2, accum=1 / 16
    )  # eval_iters -> eval batches here, of the recipe's 8 x 64 tokens


def here(settings: Mapping[str, float], scale: Mapping[str, float]) -> dict:
    """Their settings at `scale`: counts scaled and rounded, the lr and min_lr as they are."""
    return {k: v if scale[k] == 1 else round(v * scale[k]) for k, v in settings.items()}


def translated_config(
    cfg: Config, settings: Mapping[str, float], seed: int, scale: Mapping[str, float]
) -> tuple[Config, list[ReplayLR]]:
    """`settings` on `cfg` at `scale`, and the callback that replays their schedule (min_lr > lr
    included) at every update: run()'s config and callbacks. Every run reads as many val tokens as
    the recipe's eval_iters batches."""
    h, r = here(settings, scale), here(THEIRS, scale)
    lrs = student_schedule(
        lr=h["lr"], min_lr=h["min_lr"], warmup=h["warmup"], max_iters=h["max_iters"], grad_accum_steps=h["accum"]
    ).lr  # their LinearLR + cosine, stepped per micro-step
    eval_tokens = r["eval_iters"] * r["batch"] * r["block"]
    c = cfg.replace(
        name="recipe-12",
        lr=h["lr"],
        min_lr=min(h["lr"], h["min_lr"]),
        max_steps=len(lrs),
        warmup_steps=max(1, h["warmup"] // h["accum"]),
        micro_batch_size=h["batch"],
        block_size=h["block"],
        grad_accum_steps=h["accum"],
        dropout=0.1,
        grad_clip=0.5,
        eval_interval=max(1, len(lrs) // 10),
        eval_batches=eval_tokens // (h["batch"] * h["block"]),
        seed=seed,
    )
    return c, [ReplayLR(lrs)]


def translated_run(cfg: Config, settings: Mapping[str, float], seed: int, scale: Mapping[str, float]) -> Run:
    """`settings` trained on `cfg` at `scale` (translated_config), labelled by its seed."""
    c, callbacks = translated_config(cfg, settings, seed, scale)
    return run(c, label=f"seed {seed}", callbacks=callbacks, progress=False)
