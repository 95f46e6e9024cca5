"""The student's recipe at a lesson's scale: counts shrink, the lr stays, their schedule replays."""

import pytest

from slmlab import recipes
from slmlab.presets import preset


def test_counts_shrink_and_the_lr_stays():
    scale = recipes.lesson_scale(micro=100)
    h = recipes.here(recipes.THEIRS, scale)
    assert (h["max_iters"], h["warmup"], h["batch"], h["block"], h["accum"]) == (200, 10, 8, 64, 2)
    assert (h["lr"], h["min_lr"]) == (1e-4, 5e-4)  # the min_lr > lr bug kept, to be replayed
    assert set(recipes.CLAIM) == set(recipes.CHAT) == set(recipes.THEIRS)


def test_a_translated_run_replays_their_rising_schedule(tmp_path, monkeypatch):
    monkeypatch.setenv("SLMLAB_RUNS_DIR", str(tmp_path))
    r = recipes.translated_run(preset("smoke"), recipes.THEIRS, 0, recipes.lesson_scale(micro=1000))
    lrs = [s["lr"] for s in r.history.steps]
    assert r.config.train.max_steps == len(lrs) == 10  # 20 micro-steps of accumulation 2
    assert lrs[-1] > lrs[len(lrs) // 2] > 1e-4 * 0.5  # their cosine climbs toward min_lr 5e-4
    assert r.config.train.grad_accum_steps == 2 and r.config.model.block_size == 64
    assert r.config.train.min_lr == pytest.approx(1e-4)  # slmlab refuses min_lr > lr; the replay has it
