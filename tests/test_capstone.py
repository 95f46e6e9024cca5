"""slmlab.capstone: the budget config, the n-gram samples, the sample recorder (it changes no
training, and a cached run gives its text back) and the leaderboard files (one row per name
and config, atomic, merged across students), and `python -m slmlab leaderboard`."""

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from slmlab import capstone, experiments
from slmlab.callbacks import Callback
from slmlab.cli import main
from slmlab.data import prepare
from slmlab.model import GPT
from slmlab.presets import preset
from slmlab.train import train

TINY = preset("smoke", max_steps=20, eval_interval=5, eval_batches=2, log_interval=5)


@pytest.fixture(scope="module")
def data():
    return prepare(TINY.data)


# ---------------------------------------------------------------------------
# The budget


def test_budget_config_keeps_smoke_falls_back_with_the_profiles_size_and_sets_a_budget():
    smoke = capstone.budget_config(SimpleNamespace(smoke=True, profile="smoke", cfg=TINY))
    assert smoke == TINY.replace(time_budget=capstone.BUDGET_SECONDS["smoke"])
    cpu = preset("cpu")  # what start gives when TinyStories is missing: synthetic, 2 MB
    got = capstone.budget_config(SimpleNamespace(smoke=False, profile="cpu", cfg=cpu))
    want = preset("tinystories-cpu")
    budget = want.train.time_budget or capstone.BUDGET_SECONDS["cpu"]  # the preset's own first
    assert (got.model, got.train) == (want.model, want.replace(time_budget=budget).train) and budget > 0
    assert (got.data.corpus, got.data.corpus_bytes, got.data.tokenizer) == ("synthetic", 2_000_000, "bpe-4096")
    on_disk = capstone.budget_config(SimpleNamespace(smoke=False, profile="cpu", cfg=cpu.replace(corpus="tinystories")))
    assert on_disk.data == want.data
    assert (capstone.budget_tokenizer("cpu"), capstone.budget_tokenizer("smoke")) == ("bpe-4096", "char")


# ---------------------------------------------------------------------------
# Samples from the ladder's rungs


def test_ngram_samples_follow_the_counts_of_train():
    train_ids = np.array([0, 1, 2, 0, 1, 2, 0, 1, 3, 0, 1, 2])  # 1 always follows 0; 4 never occurs
    V = 5
    uni = capstone.ngram_sample(train_ids, V, 1, 300, start=0, seed=1)
    assert set(uni) <= {0, 1, 2, 3} and uni.count(3) < uni.count(0)
    big = capstone.ngram_sample(train_ids, V, 2, 200, start=0, seed=1)
    pairs = set(zip(train_ids[:-1].tolist(), train_ids[1:].tolist()))
    assert all(p in pairs for p in zip([0] + big[:-1], big)), "every bigram step is a pair seen in train"
    assert capstone.ngram_sample(train_ids, V, 2, 50, start=0, seed=1) == big[:50]  # seeded
    flat = capstone.ngram_sample(train_ids, V, 0, 2000, start=0, seed=1)
    assert set(flat) == set(range(V))
    with pytest.raises(ValueError, match="use 0 .uniform., 1 .unigram. or 2"):
        capstone.ngram_sample(train_ids, V, 3, 5, start=0)


def test_a_token_never_followed_in_train_falls_back_to_the_unigram_counts():
    got = capstone.ngram_sample(np.array([0, 1, 0, 1, 2]), 3, 2, 20, start=2, seed=0)
    assert got and set(got) <= {0, 1, 2}


def test_sample_text_leaves_the_random_state_and_the_mode_alone(data):
    torch.manual_seed(0)
    model = GPT(TINY.replace(vocab_size=data.vocab_size).model).train()
    state = torch.get_rng_state()
    a = capstone.sample_text(model, data.tokenizer, 12, seed=3)
    assert torch.equal(state, torch.get_rng_state()) and model.training
    assert a == capstone.sample_text(model.eval(), data.tokenizer, 12, seed=3) and not model.training


def test_the_eval_standard_error_needs_two_batches(data):
    cfg = TINY.replace(vocab_size=data.vocab_size)
    model = GPT(cfg.model)
    se = capstone.eval_standard_error(model, data, cfg)
    assert 0 < se < 1  # an untrained model: every batch near ln V
    with pytest.raises(ValueError, match="one batch has no spread"):
        capstone.eval_standard_error(model, data, cfg.replace(eval_batches=1))


class Modes(Callback):
    """Whether the model was in train mode at every update."""

    def __init__(self):
        self.training = []

    def on_update(self, trainer):
        self.training.append(trainer.model.training)


def test_the_recorder_changes_no_loss_and_samples_each_threshold_crossed_once(data):
    plain = train(TINY, data=data, progress=False)
    rec, modes = capstone.SampleRecorder([9.0, 0.01], n_tokens=10), Modes()
    watched = train(TINY, data=data, progress=False, callbacks=[rec, modes])
    assert [r["loss"] for r in watched.steps] == [r["loss"] for r in plain.steps]
    assert all(modes.training)
    (got,) = rec.recorded()  # val starts below 9 nats; 0.01 is never reached
    assert got["threshold"] == 9.0 and got["step"] == TINY.train.eval_interval and got["text"]


def test_a_cached_run_gives_the_recorded_samples_back(data):
    first = capstone.SampleRecorder([9.0, 3.0], n_tokens=10)
    experiments.run(TINY, callbacks=[first], progress=False)
    again = capstone.SampleRecorder([9.0, 3.0], n_tokens=10)
    experiments.run(TINY, callbacks=[again], progress=False)
    assert again.recorded() == first.recorded() and first.recorded()


# ---------------------------------------------------------------------------
# The leaderboard


def row(name, config, bpb, **more):
    return {
        "name": name,
        "config": config,
        "bits_per_byte": bpb,
        "val": bpb * 2.77,
        "updates": 100,
        "seconds": 600.0,
        "verdict": "worse",
        **more,
    }


def test_a_rerun_replaces_its_row_and_leaves_no_temporary_file(tmp_path):
    board = tmp_path / "board.jsonl"
    capstone.record_result(board, row("ada", "cfg-a", 1.20))
    capstone.record_result(board, row("ada", "cfg-b", 1.15))
    rows = capstone.record_result(board, row("ada", "cfg-a", 1.10))
    assert [(r["config"], r["bits_per_byte"]) for r in rows] == [("cfg-b", 1.15), ("cfg-a", 1.10)]
    assert [p.name for p in tmp_path.iterdir()] == ["board.jsonl"]
    with pytest.raises(ValueError, match="needs 'bits_per_byte'"):
        capstone.record_result(board, {"name": "ada", "config": "x"})


def test_the_teacher_merges_files_and_folders_best_first_latest_row_wins(tmp_path):
    (tmp_path / "class").mkdir()
    capstone.record_result(tmp_path / "class" / "ada.jsonl", row("ada", "a", 1.30, recorded="2026-01-01T10:00:00"))
    capstone.record_result(tmp_path / "class" / "bob.jsonl", row("bob", "b", 1.10))
    copy = tmp_path / "ada-later.jsonl"  # ada's same run, recorded again later with a better eval
    capstone.record_result(copy, row("ada", "a", 1.20, recorded="2026-01-02T10:00:00"))
    rows = capstone.read_leaderboards([tmp_path / "class", copy])
    assert [(r["name"], r["bits_per_byte"]) for r in rows] == [("bob", 1.10), ("ada", 1.20)]
    table = capstone.format_leaderboard(rows).splitlines()
    assert "bob" in table[1] and "ada" in table[2] and len(table) == 3
    assert capstone.format_leaderboard([]) == "no results yet"


def test_a_file_that_is_no_leaderboard_is_named(tmp_path):
    bad = tmp_path / "notes.jsonl"
    bad.write_text('{"step": 1}\n')
    with pytest.raises(ValueError, match="row 1 is not a leaderboard row"):
        capstone.read_leaderboards([bad])
    with pytest.raises(ValueError, match="no such file"):
        capstone.read_leaderboards([tmp_path / "missing.jsonl"])


def test_python_m_slmlab_leaderboard_prints_the_merged_table(tmp_path, capsys):
    capstone.record_result(tmp_path / "a.jsonl", row("ada", "a", 1.25, changes={"lr": 0.003}))
    capstone.record_result(tmp_path / "b.jsonl", row("bob", "b", 1.05))
    assert main(["leaderboard", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[1].split()[1] == "bob" and "lr=0.003" in printed[2]
    assert main(["leaderboard", str(tmp_path / "nope.jsonl")]) == 2
    assert "error: leaderboard" in capsys.readouterr().err


def test_the_checklist_links_every_lesson_it_names():
    text = capstone.checklist(
        [
            ("Keep the best.", "Best val 1.2.", "05_data_size.ipynb, §4; 06_dropout.ipynb"),
            ("Lint.", "", "04_val_loss_9_clinic.ipynb, §2"),
        ]
    )
    first, second = text.splitlines()
    assert first == (
        "- [ ] **Keep the best.** Best val 1.2. ([05_data_size.ipynb](05_data_size.ipynb), §4; "
        "[06_dropout.ipynb](06_dropout.ipynb))"
    )
    assert second.endswith("([04_val_loss_9_clinic.ipynb](04_val_loss_9_clinic.ipynb), §2)")


# ---------------------------------------------------------------------------
# The checklist for the next run: 04's order, and the doctor's word on the data

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
FIXES_IN_04S_ORDER = (
    "1. The lr first",
    "2. Warm up from 0",
    "3. min_lr below lr",
    "4. Fit the tokenizer",
    "5. Smaller",
)


def budget_history(val, train, n_train_tokens):
    """A capstone-shaped history: six evals 250 updates apart, 2,048 tokens an update, ended by time."""
    from slmlab.history import History

    steps = [{"kind": "step", "step": s, "loss": 3.0, "lr": 2e-4, "tokens": s * 2048} for s in range(250, 1501, 250)]
    evals = [
        {"kind": "eval", "step": st["step"], "val_loss": v, "train_loss": tr, "tokens": st["tokens"]}
        for st, v, tr in zip(steps, val, train)
    ]
    meta = {
        "n_train_tokens": n_train_tokens,
        "vocab_size": 4353,
        "val_bytes": 193_959,
        "n_val_tokens": 48_430,
        "n_params": 5_261_568,
        "tokens_per_step": 2048,
    }
    return History(steps, evals, preset("tinystories-cpu").to_dict(), meta, "time")


def items_for(h):
    from slmlab.diagnostics import diagnose

    cfg = preset("tinystories-cpu").replace(time_budget=600.0)
    findings = diagnose(h)
    return capstone.next_run_items(cfg, h, findings, bits_per_byte=1.15, eval_se=0.02, bigram=4.27), findings


def test_the_next_run_checklist_follows_04s_order_and_agrees_with_the_doctor():
    data_limited = budget_history([4.2, 3.69, 3.45, 3.32, 3.24, 3.196], [4.15, 3.55, 3.2, 2.95, 2.72, 2.54], 463_935)
    items, findings = items_for(data_limited)
    whats = [what for what, _, _ in items]
    assert whats[0] == "Count optimizer updates, not loop iterations."
    at = [next(i for i, w in enumerate(whats) if w.startswith(fix)) for fix in FIXES_IN_04S_ORDER]
    assert at == sorted(at), whats  # lr, warmup, min_lr + per-update stepping, tokenizer, evals
    assert "memorizing" in {f.code for f in findings}
    data = next(item for item in items if "data-limited" in item[0])
    assert "6.6 times" in data[1] and "0.656 nats below val" in data[1] and "`memorizing`" in data[1]
    text = " ".join(" ".join(item) for item in items)
    assert "time_budget" not in text and "more time first" not in text
    underfit = budget_history([4.2, 3.8, 3.6, 3.5, 3.44, 3.40], [4.19, 3.78, 3.57, 3.46, 3.40, 3.35], 4_000_000)
    items, findings = items_for(underfit)
    codes = {f.code for f in findings}
    assert "still_improving" in codes and "memorizing" not in codes
    assert not any("data-limited" in what for what, _, _ in items)
    assert any("more time first" in what and "0.8 times" in measured for what, measured, _ in items)


def section_titles(notebook: str) -> dict[int, set[str]]:
    """{section number: its '## N. Title' title and every '### Title' inside it} of a notebook's source."""
    titles: dict[int, set[str]] = {}
    number = None
    for line in (NOTEBOOKS / notebook.replace(".ipynb", ".py")).read_text(encoding="utf-8").splitlines():
        if (m := re.match(r"# ## (\d+)\. (.+)$", line)) is not None:
            number = int(m[1])
            titles[number] = {m[2].strip()}
        elif (m := re.match(r"# ### (.+)$", line)) is not None and number is not None:
            titles[number].add(m[1].strip())
    return titles


def test_every_reference_of_the_checklist_names_a_section_that_exists():
    items, _ = items_for(budget_history([4.2, 3.7, 3.4, 3.3, 3.2, 3.1], [4.2, 3.6, 3.2, 2.9, 2.7, 2.5], 463_935))
    for _, _, where in items:
        for ref in where.split(";"):
            notebook, _, section = (part.strip() for part in ref.partition(","))
            m = re.match(r"§(\d+) (.+)$", section)
            assert m, f"{ref!r}: write 'NN_topic.ipynb, §N Title'"
            titles = section_titles(notebook)
            assert m[2] in titles.get(int(m[1]), set()), f"{notebook} has no §{m[1]} {m[2]!r}: {titles.get(int(m[1]))}"
