"""slmlab.gpu_study: the plan, the recipe's shape, one tiny run of it on the CPU, and the committed
H200 results that notebook 04 section 8 reads."""

import json
import math
import os

import pytest

from slmlab import gpu_study as g
from slmlab.bench import random_data
from slmlab.diagnostics import read_log, student_schedule


def test_the_recipe_at_its_own_scale():
    c = g.recipe_config(1337, 625)
    m, t = c.model, c.train
    assert (m.n_layer, m.n_head, m.n_embd, m.block_size, m.vocab_size, m.dropout) == (6, 6, 384, 128, 50257, 0.1)
    assert t.micro_batch_size * t.grad_accum_steps == 32 * 32  # their 32 micro-batches of 32
    assert c.tokens_per_step == 131_072 and c.total_tokens == 81_920_000
    assert t.grad_clip == 0.5 and t.dtype == "bfloat16"


def test_the_plan_runs_the_full_recipe_and_its_fixes_first():
    specs = g.plan()
    assert [(s.name, s.group, s.steps) for s in specs[:2]] == [
        ("recipe", "full", 625),
        ("all of 04's fixes", "full", 625),
    ]
    assert specs[1].replay is None and specs[0].replay == {}  # slmlab's schedule vs theirs replayed
    fixes = [(s.name, s.seed) for s in specs if s.group == "fix"]
    assert {n for n, _ in fixes} == {"recipe", *g.FIXES} and len(fixes) == 1 + 2 * len(g.FIXES)
    assert all(s.steps == 100 for s in specs[2:])


def test_published_steps_are_the_updates_their_log_printed_at(shared_data):
    h, _ = read_log(os.path.join(shared_data, "student_runs", "vizuara_slm_log.txt"), grad_accum_steps=32)
    assert [e["step"] for e in h.evals] == g.PUBLISHED_STEPS


def test_a_tiny_run_replays_their_lr_and_evaluates_at_their_print_points():
    data = random_data(50257, n_tokens=20_000)
    r = g.train_spec(g.Spec("recipe", "full", 1337, 16), data, compile=False, tiny=True)
    assert [e["step"] for e in r["evals"]] == [15, 16]  # their first print, then the end
    lrs = student_schedule().lr
    assert all(s["lr"] == pytest.approx(lrs[s["step"] - 1]) for s in r["curve"])
    assert r["tokens"] == 16 * g.recipe_config(1337, 16, tiny=True).tokens_per_step
    assert r["tokens_per_s"] > 0 and r["eval_s"] > 0 and math.isfinite(r["evals"][-1]["val_loss"])


def test_the_committed_h200_results_hold_what_notebook_04_says():
    s = g.load()
    assert s["card"]["gpu"] == "NVIDIA H200" and s["runs_compiled"]
    assert all("error" not in r for r in s["runs"]) and len(s["runs"]) == 19
    rec15, spread, seeds = g.mean_val(s, "recipe", 15)
    assert seeds == 2 and spread < 0.05 and abs(rec15 - 9.448) < 0.2  # the published val 9.45 at update 15
    assert g.mean_val(s, "all of 04's fixes", 625)[0] < g.mean_val(s, "recipe", 625)[0] - 0.1
    at100 = {n: g.mean_val(s, n, 100)[0] for n in ["recipe", *g.FIXES]}
    assert min(at100, key=at100.get) == "lr 1e-3 (10x)" and max(at100, key=at100.get) == "scheduler stepped per update"
    fp = s["card"]["fp16_vs_bf16"]
    assert fp["float16"]["scaler"] and fp["float16"]["skipped_updates"] == 0
    # a seed's 100-update run and its 625-update run agree on their shared updates
    # (the GPU run is repeatable)
    short, long = (next(r for r in g.runs(s, "recipe", grp) if r["seed"] == 2024) for grp in ("fix", "full"))
    assert all(abs(g.val_at(long, e["step"]) - e["val_loss"]) < 0.01 for e in short["evals"])


def test_main_on_the_cpu_writes_its_json_as_it_goes(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("SLMLAB_DATA_DIR", shared_data)
    sample = os.path.join(shared_data, "tinystories_sample.txt")
    assert (
        g.main(
            [
                "--out",
                str(tmp_path),
                "--budget",
                "30",
                "--sample",
                sample,
                "--train-tokens",
                "20000",
                "--tiny",
                "--groups",
                "full",
                "--quick-card",
            ]
        )
        == 0
    )
    out = json.loads((tmp_path / "gpu_study.json").read_text())
    assert out["corpus"]["train_tokens"] == 20_000 and 0 < out["corpus"]["floor_nats"] < math.log(50257)
    assert [r["name"] for r in out["runs"]] + [r["name"] for r in out["skipped"]] == ["recipe", "all of 04's fixes"]
