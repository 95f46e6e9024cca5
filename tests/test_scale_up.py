"""slmlab.scale_up: the plan at 4 x 256, the --tiny command end to end (runs, cached speed, JSON,
the table replaced between its markers), the verdict rules on made-up runs, and the committed
result notebook 11 reads."""

import json
import math

import pytest

from slmlab import scale_up as su


def test_the_plan_is_4x256_on_the_tinystories_sample_with_bpe_4096():
    specs = su.plan()
    base = su.base_config()
    m, d, t = base.model, base.data, base.train
    assert (m.n_layer, m.n_embd, m.dropout, t.dtype) == (4, 256, 0.0, "float32")
    assert (d.corpus, d.tokenizer) == ("tinystories", "bpe-4096")
    assert [g for g, _, _ in specs[:4]] == ["lr"] * 4 and specs[0][2].train.lr == su.BASE_LR  # the sweep first
    assert sorted(c.train.lr for g, _, c in specs if g == "lr") == sorted(su.LRS)
    batch = {c.train.micro_batch_size: c for g, _, c in specs if g in ("batch", "lr") and c.train.lr == su.BASE_LR}
    assert {b: c.total_tokens for b, c in batch.items()} == {b: base.total_tokens for b in su.BATCHES}  # equal tokens
    tok = {c.data.tokenizer: c for g, _, c in specs if g == "tokenizer"}
    assert set(tok) == set(su.TOKENIZERS) and all(c.train.min_lr == c.train.lr for c in tok.values())  # constant lr
    assert all(75 % c.train.eval_interval == 0 for c in tok.values())  # both evaluated at update 75
    assert len(su.plan(more_seeds=True)) == len(specs) + len(su.LRS) - 1 + 1 + len(su.BATCHES) - 1


def _run(group, seed=1337, lr=su.BASE_LR, batch=su.BASE_BATCH, dropout=0.0, tok="bpe-4096", final=1.0, **kw):
    return {
        "group": group,
        "seed": seed,
        "lr": lr,
        "batch": batch,
        "dropout": dropout,
        "tokenizer": tok,
        "final_val": final,
        "best_val": kw.get("best", final),
        **{k: v for k, v in kw.items() if k != "best"},
    }


def _made_up(lr_vals, batch_vals, dropout_best, spread=0.02):
    """Runs with these final vals; the other groups at the sweep's best lr, as main runs them."""
    best = min(lr_vals, key=lr_vals.get)
    runs = [_run("lr", lr=lr, final=v) for lr, v in lr_vals.items()]
    runs.append(_run("seed", seed=2024, lr=best, final=lr_vals[best] + spread))
    runs.append(_run("dropout", lr=best, dropout=0.1, final=dropout_best, best=dropout_best))
    runs += [_run("batch", lr=best, batch=b, final=v) for b, v in batch_vals.items() if b != su.BASE_BATCH]
    return {"runs": runs, "speed": None, "tiny": False}


def test_the_runs_after_the_sweep_train_at_its_best_lr():
    assert su.best_lr(_made_up({3e-4: 3.0, 1e-3: 2.5, 3e-3: 2.0}, {}, 2.0)["runs"]) is None  # the sweep unfinished
    assert su.best_lr(_made_up({3e-4: 3.0, 1e-3: 1.9, 3e-3: 2.0, 1e-2: 2.4}, {}, 2.0)["runs"]) == 1e-3
    specs = su.plan(base_lr=1e-3)
    assert {c.train.lr for g, _, c in specs if g != "lr"} == {1e-3}
    assert {c.train.min_lr for g, _, c in specs if g not in ("lr", "tokenizer")} == {1e-4}
    assert su.plan()[:4] == specs[:4]  # the sweep itself does not depend on it


def test_verdicts_say_held_when_the_lessons_order_holds_and_moved_when_it_does_not():
    held = _made_up({3e-4: 3.0, 1e-3: 2.5, 3e-3: 2.0, 1e-2: 1.8}, {2: 1.5, 32: 2.6}, 2.3)
    v = {r["key"]: r for r in su.verdicts(held)}  # the rest at lr 0.01, the best
    assert v["lr"]["held"] and v["batch"]["held"] and v["dropout"]["held"]
    assert v["tokenizer"]["verdict"] == "not run"
    moved = _made_up({3e-4: 3.0, 1e-3: 2.03, 3e-3: 2.0, 1e-2: 2.4}, {2: 1.99, 32: 2.6}, 1.99)
    v = {r["key"]: r for r in su.verdicts(moved)}
    assert not v["lr"]["held"] and v["lr"]["verdict"].startswith("moved: best lr 0.003, 1 grid step down")
    assert "within 2x the seed spread" in v["lr"]["verdict"]  # 1e-3 is 0.02 above the base's mean, spread 0.02
    assert not v["batch"]["held"] and "batch 2 does not win clearly" in v["batch"]["verdict"]
    assert v["dropout"]["verdict"] == "moved: no clear cost"


def test_the_tokenizer_is_compared_at_equal_seconds_from_the_interleaved_speed():
    ln = math.log
    a = _run("tokenizer", tok="bpe-4096", steps=300, vocab_size=4353, val_bytes_per_token=4.0)
    a["evals"] = [[s, 6.0 - s / 100] for s in range(25, 301, 25)]
    b = _run("tokenizer", tok="gpt2", steps=75, vocab_size=50257, val_bytes_per_token=4.5)
    b["evals"] = [[s, 8.0 - s / 50] for s in range(15, 76, 15)]
    res = _made_up({3e-4: 3.0, 1e-3: 2.5, 3e-3: 2.0, 1e-2: 1.8}, {2: 1.5, 32: 2.6}, 2.3)
    res["runs"] += [a, b]
    res["speed"] = {"seconds_per_update": {"bpe-4096": 1.0, "gpt2": 3.0}}
    v = su.verdicts(res)[3]["numbers"]
    assert v["equal_time_s"] == 225 and v["updates_at_equal_time"] == {"bpe-4096": 225, "gpt2": 75}
    assert v["bpb_at_equal_time"]["bpe-4096"] == pytest.approx((6.0 - 2.25) / ln(2) / 4.0)
    assert v["bpb_at_equal_time"]["gpt2"] == pytest.approx((8.0 - 1.5) / ln(2) / 4.5)
    assert v["equal_updates"] == 75 and v["equal_updates_bpb"] == pytest.approx(5.25 / ln(2) / 4 - 6.5 / ln(2) / 4.5)


def test_the_tiny_command_writes_the_json_and_replaces_its_table(tmp_path):
    md = tmp_path / "RESULTS.md"
    md.write_text("# Results\n\nsome text\n\n## later section\n", encoding="utf-8")
    out = tmp_path / "scale_up.json"
    assert su.main(["--tiny", "--json", str(out), "--results-md", str(md)], log=lambda _: None) == 0
    r = json.loads(out.read_text(encoding="utf-8"))
    assert r["finished"] and len(r["runs"]) == r["planned"] == len(su.plan(tiny=True))
    assert [v["key"] for v in r["verdicts"]] == ["lr", "batch", "dropout", "tokenizer"]
    assert all(v["verdict"] != "not run" for v in r["verdicts"])
    assert set(r["speed"]["seconds_per_update"]) == {"char", "bpe-256"}
    text = md.read_text(encoding="utf-8")
    assert text.startswith("# Results\n\nsome text\n\n## later section\n") and text.count(su.BEGIN) == 1
    # a second call reads every run from the cache and replaces the table, not appends one
    md.write_text(text.replace("| **", "| **stale ") + "\ntail\n", encoding="utf-8")
    assert su.main(["--tiny", "--json", str(out), "--results-md", str(md)], log=lambda _: None) == 0
    again = md.read_text(encoding="utf-8")
    assert again.count(su.BEGIN) == again.count(su.END) == 1 and "stale" not in again and again.endswith("\ntail\n")
    assert json.loads(out.read_text(encoding="utf-8"))["speed"] == r["speed"]  # the cached measurement


def test_the_committed_result_is_the_full_plan_at_4x256():
    r = su.load()
    assert not r["tiny"] and r["config"]["n_embd"] == 256 and r["config"]["tokenizer"] == "bpe-4096"
    assert [v["key"] for v in r["verdicts"]] == ["lr", "batch", "dropout", "tokenizer"]
    done = [v for v in r["verdicts"] if v["verdict"] != "not run"]
    assert done and all(v["verdict"] == "held" or v["verdict"].startswith("moved") for v in done)


def test_the_lessons_numbers_it_quotes_are_in_the_lessons_outputs():
    """PROXY copies the small-run losses of 06, 08 and 09 into the scale-up table: a re-run of
    those lessons that moves one must move it here too."""
    import json
    from pathlib import Path

    from slmlab.scale_up import PROXY

    root = Path(__file__).resolve().parent.parent / "notebooks"
    for name, p in PROXY.items():
        (path,) = root.glob(f"{p['lesson']}_*.ipynb")
        cells = json.loads(path.read_text())["cells"]
        text = "\n".join(
            "".join(o.get("text", "")) for c in cells if c["cell_type"] == "code" for o in c.get("outputs", [])
        )
        for key in ("final_val", "best_val"):
            for setting, loss in p.get(key, {}).items():
                assert f"{loss:.3f}" in text, f"{name}: {key} {loss} at {setting} is not in {path.name}'s outputs"
