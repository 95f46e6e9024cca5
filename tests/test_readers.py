"""Tests for slmlab.diagnostics.readers and the doctor on a student's own log: every format
the readers know (written here, with known answers), unreadable and half-readable files,
the doctor's findings on made-up runs (barely trained, still improving, overfitting,
diverged, a rising lr), the `doctor` CLI's output and its one-line errors, and the real
published log (skipped without ../shared). No training: each test reads a few small files."""

import json
import math
from pathlib import Path

import pytest

from slmlab import cli
from slmlab import diagnostics as d
from slmlab.diagnostics.readers import read_log, role
from slmlab.history import History

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
WARNING = (
    "/usr/lib/python3/torch/optim/lr_scheduler.py:227: UserWarning: Detected call of "
    "`lr_scheduler.step()` before `optimizer.step()`.\n  warnings.warn("
)


def write(tmp_path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def codes(findings) -> dict:
    return {f.code: f for f in findings}


def vizuara_log(vals, lrs, every=500, warning_after=0) -> str:
    """The Vizuara notebook's prints: an epoch line, then its lr line; a 2-line warning inside."""
    out = []
    for i, (v, lr) in enumerate(zip(vals, lrs)):
        out.append(f"Epoch {every * (i + 1)}: train loss {v - 0.004:.4f}, val loss {v:.4f}")
        out.append(f"The current learning rate: {lr:.5f}")
        if i == warning_after:
            out.append(WARNING)
    return "\n".join(out) + "\n"


def still_improving_vals(n=20):
    return [2.0 + 8.0 * math.exp(-500 * (i + 1) / 3000) for i in range(n)]


# ---------------------------------------------------------------------------
# Readers: each format, with known answers


def test_vizuara_prints_as_micro_steps_or_updates(tmp_path):
    p = write(tmp_path, "log.txt", vizuara_log([9.45, 8.49, 7.53], [7e-5, 1e-4, 1e-4]))
    h, rep = read_log(p)
    assert rep.format == "vizuara" and (rep.n_evals, rep.n_steps) == (3, 0)
    assert rep.skipped == 2 and rep.skipped_at == [3, 4]  # the warning's two lines, after the first epoch
    assert [e["step"] for e in h.evals] == [500, 1000, 1500] and h.evals[0]["lr"] == pytest.approx(7e-5)
    assert h.evals[0]["train_loss"] == pytest.approx(9.446) and h.meta["step_unit"].startswith("micro-step")
    assert "--grad-accum" in rep.summary() and "lines 3, 4" in rep.summary()
    h, rep = read_log(p, grad_accum_steps=32)
    assert [e["step"] for e in h.evals] == [15, 31, 46] and h.evals[2]["micro_step"] == 1500
    assert rep.step_unit == "update" and "// 32" in rep.summary()


NANOGPT = """Overriding config with config/train_shakespeare_char.py:
# train a miniature character-level shakespeare model
learning_rate = 1e-3 # with baby networks can afford to go a bit higher
max_iters = 5000
min_lr = 1e-4 # learning_rate / 10 usually
tokens per iteration will be: 16,384
found vocab_size = 65 (inside data/shakespeare_char/meta.pkl)
number of parameters: 10.65M
step 0: train loss 4.2874, val loss 4.2823
iter 0: loss 4.2654, time 29845.38ms, mfu -100.00%
iter 10: loss 3.2438, time 50.35ms, mfu 7.40%
iter 20: loss 2.7807, time 51.02ms, mfu 7.39%
step 250: train loss 1.9645, val loss 2.0632
saving checkpoint to out-shakespeare-char
iter 250: loss 2.0379, time 4838.38ms, mfu 6.27%
"""


def test_nanogpt_stdout(tmp_path):
    h, rep = read_log(write(tmp_path, "out.txt", NANOGPT))
    assert rep.format == "nanogpt" and (rep.n_evals, rep.n_steps) == (2, 4)
    assert rep.skipped == 9 and rep.skipped_at == [1, 2, 3, 4, 5]  # config echo and setup lines
    assert [s["loss"] for s in h.steps] == [4.2654, 3.2438, 2.7807, 2.0379]
    assert h.evals[1] == {"kind": "eval", "step": 250, "val_loss": 2.0632, "train_loss": 1.9645}
    assert h.meta["vocab_size"] == 65 and h.meta["vocab_size_line"] == 7  # "found vocab_size = 65"
    assert all("lr" not in s for s in h.steps)  # the config echo's learning_rate set no record's lr


@pytest.mark.parametrize(
    "line, kind, want",
    [
        (
            "Step 100 | Train Loss: 2.31 | Val Loss: 2.45 | Val PPL: 11.6 | bpb 1.10",
            "eval",
            {"step": 100, "train_loss": 2.31, "val_loss": 2.45},
        ),
        ("# step 100: train loss 2.31, val loss 2.45, perplexity 11.6", "eval", {"step": 100, "val_loss": 2.45}),
        ("> iter 100: loss 2.31, time 30.5ms, mfu 12.3%", "step", {"step": 100, "loss": 2.31}),
        (
            "[2024-05-01 12:00:01] step 100: train_loss=2.31 val_loss=2.45 lr=3e-4",
            "eval",
            {"step": 100, "val_loss": 2.45, "lr": 3e-4},
        ),
        (
            "2024-05-01 12:00:01,123 INFO Iter 100/5000 | loss 2.31 | lr 6.0e-04 | 30.1 ms/iter",
            "step",
            {"step": 100, "loss": 2.31, "lr": 6e-4},
        ),
        ("step 100 train 2.31 val 2.45", "eval", {"step": 100, "train_loss": 2.31, "val_loss": 2.45}),
        ("iteration 100: loss nan, grad norm 1e+05", "step", {"step": 100, "grad_norm": 1e5}),
    ],
)
def test_nanogpt_variants(tmp_path, line, kind, want):
    h, rep = read_log(write(tmp_path, "log.txt", line + "\n"))
    rec = (h.evals if kind == "eval" else h.steps)[0]
    assert rep.n_points == 1 and rep.skipped == 0
    assert {k: rec[k] for k in want} == pytest.approx(want)
    if "nan" in line:
        assert math.isnan(rec["loss"])


@pytest.mark.parametrize(
    "header, delim, cols",
    [
        ("step,train_loss,val_loss,lr", ",", ("step", "train_loss", "val_loss")),
        ("iteration\tloss\teval_loss", "\t", ("iteration", "loss", "eval_loss")),
        ("Epoch,Train Loss,Validation Loss,Learning Rate", ",", ("Epoch", "Train Loss", "Validation Loss")),
        ("global_step;train/loss;val/loss;epoch", ";", ("global_step", "train/loss", "val/loss")),
        ("iter,train,val", ",", ("iter", "train", "val")),
        ("step   train_loss   val_loss", "   ", ("step", "train_loss", "val_loss")),  # spaces
    ],
)
def test_csv_header_variants(tmp_path, header, delim, cols):
    rows = [
        delim.join(["100", "3.0", "3.1", "1e-3"][: header.count(delim) + 1]),
        delim.join(["200", "2.5", "2.6", "9e-4"][: header.count(delim) + 1]),
    ]
    h, rep = read_log(write(tmp_path, "metrics.log", "\n".join([header, *rows]) + "\n"))  # by content
    assert rep.format == "table" and rep.n_evals == 2 and rep.skipped == 0
    assert [e["val_loss"] for e in h.evals] == [3.1, 2.6] and [e["train_loss"] for e in h.evals] == [3.0, 2.5]
    assert h.meta["columns"]["step"] == cols[0] and h.meta["columns"]["val"] == cols[2]


def test_role_reads_names_loosely():
    assert [role(n) for n in ("val_loss", "eval/loss", "Validation Loss", "val", "loss_val")] == ["val"] * 5
    assert [role(n) for n in ("train_loss", "Train Loss", "train")] == ["train"] * 3
    assert [role(n) for n in ("lr", "learning_rate", "The current learning rate", "min_lr")] == ["lr"] * 4
    assert [role(n) for n in ("val_ppl", "mfu", "ms/iter", "eval_runtime", "epoch")] == [None] * 5


def test_csv_with_train_only_rows_and_damaged_rows(tmp_path):
    text = "step,loss,val_loss\n1,4.0,\n2,3.8,\n3,oops,\n4,3.5,3.6\n5,3.4\n"
    h, rep = read_log(write(tmp_path, "m.csv", text))
    assert (rep.n_steps, rep.n_evals) == (2, 1) and h.evals[0]["train_loss"] == 3.5
    assert rep.skipped == 2 and rep.skipped_at == [4, 6]  # "oops", and a row one cell short
    assert "lines 4, 6" in rep.summary()


def trainer_state(tmp_path) -> Path:
    state = {
        "global_step": 300,
        "max_steps": 300,
        "best_metric": 2.9,
        "log_history": [
            {"epoch": 0.1, "grad_norm": 1.5, "learning_rate": 5e-5, "loss": 4.1, "step": 100},
            {"epoch": 0.1, "eval_loss": 3.6, "eval_runtime": 1.2, "step": 100},
            {"epoch": 0.2, "grad_norm": 1.1, "learning_rate": 3e-5, "loss": 3.4, "step": 200},
            {"epoch": 0.2, "eval_loss": 3.1, "step": 200},
            {"epoch": 0.3, "learning_rate": 1e-5, "loss": 3.0, "step": 300},
            {"epoch": 0.3, "eval_loss": 2.9, "step": 300},
            {"epoch": 0.3, "step": 300, "train_loss": 3.5, "train_runtime": 60.0},
        ],
    }
    folder = tmp_path / "checkpoint-300"
    folder.mkdir()
    (folder / "trainer_state.json").write_text(json.dumps(state, indent=2))
    return folder


def test_trainer_state_json_and_its_folder(tmp_path):
    folder = trainer_state(tmp_path)
    for path in (folder / "trainer_state.json", folder):
        h, rep = read_log(path)
        assert rep.format == "trainer_state" and (rep.n_steps, rep.n_evals) == (3, 3)
        assert rep.skipped == 1 and rep.skipped_at == [7] and "entry 7" in rep.summary()  # the summary entry
        assert h.steps[0] == {"kind": "step", "step": 100, "loss": 4.1, "lr": 5e-5, "grad_norm": 1.5}
        assert [e["val_loss"] for e in h.evals] == [3.6, 3.1, 2.9] and h.meta["max_steps"] == 300
    h, rep = read_log(folder, grad_accum_steps=4)
    assert h.evals[0]["step"] == 100 and "ignored" in rep.summary()  # HF steps are updates already


def test_json_lines_and_slmlab_history(tmp_path):
    rows = [{"step": 10, "loss": 3.0}, {"step": 20, "loss": 2.8, "val_loss": 2.9, "lr": 1e-3}]
    p = write(tmp_path, "log.jsonl", "\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    h, rep = read_log(p)
    assert rep.format == "jsonl" and (rep.n_steps, rep.n_evals) == (1, 1) and rep.skipped_at == [3]
    ours = History(
        [{"kind": "step", "step": 1, "loss": 3.0}],
        [{"kind": "eval", "step": 1, "val_loss": 3.1, "train_loss": 3.0}],
        {},
        {"vocab_size": 65},
    )
    ours.save(tmp_path / "run" / "history.jsonl")
    for path in (tmp_path / "run", tmp_path / "run" / "history.jsonl"):
        h, rep = read_log(path)
        assert rep.format == "slmlab" and h.evals == ours.evals and h.meta["vocab_size"] == 65


def test_a_notebook_is_read_from_its_printed_outputs(tmp_path):
    printed = vizuara_log([9.45, 8.49, 7.53], [7e-5, 1e-4, 1e-4]).splitlines(keepends=True)
    nb = {
        "nbformat": 4,
        "metadata": {},
        "cells": [
            {"cell_type": "markdown", "source": ["# Epoch 1: train loss 1, val loss 1"]},
            {
                "cell_type": "code",
                "source": ["for epoch in range(max_iters): ..."],
                "outputs": [
                    {"output_type": "stream", "name": "stderr", "text": ["  3%|3         | 500/20000\n"]},
                    {"output_type": "stream", "name": "stdout", "text": printed},
                ],
            },
        ],
    }
    h, rep = read_log(write(tmp_path, "slm.ipynb", json.dumps(nb, indent=1)), grad_accum_steps=32)
    assert rep.format == "ipynb" and rep.n_evals == 3 and [e["step"] for e in h.evals] == [15, 31, 46]
    assert h.evals[0]["lr"] == pytest.approx(7e-5) and rep.skipped == 3  # the progress bar, the warning
    assert "outputs read as the Vizuara notebook's prints" in rep.summary()


# ---------------------------------------------------------------------------
# Unreadable and half-readable files: one line, naming the formats


def one_line_error(path, words, **kw):
    with pytest.raises(ValueError) as e:
        read_log(path, **kw)
    msg = str(e.value)
    assert "\n" not in msg and words in msg, msg
    return msg


def test_unreadable_files_are_one_line_naming_the_formats(tmp_path):
    msg = one_line_error(write(tmp_path, "notes.txt", "hello\nthe model trained fine\n"), "no line of it")
    assert "Vizuara" in msg and "nanoGPT" in msg and "CSV" in msg and "trainer_state.json" in msg
    (tmp_path / "ckpt.bin").write_bytes(bytes(range(256)) * 40)
    one_line_error(tmp_path / "ckpt.bin", "binary")
    one_line_error(write(tmp_path, "empty.txt", ""), "empty")
    one_line_error(write(tmp_path, "config.json", json.dumps(d.STUDENT_CONFIG)), "slmlab lint FILE")
    one_line_error(tmp_path / "missing.txt", "no such file or folder")
    (tmp_path / "folder").mkdir()
    one_line_error(tmp_path / "folder", "holds no history (history.jsonl)")
    one_line_error(write(tmp_path, "log.txt", "step 1: loss 2\n"), "whole number", grad_accum_steps=0)


def test_a_python_script_is_read_never_run(tmp_path):
    marker = tmp_path / "ran"
    script = write(tmp_path, "train.py", f"open({str(marker)!r}, 'w').write('x')\nprint('step 1: loss 2')\n")
    h, rep = read_log(script)  # the print's text is a record line; nothing is executed
    assert not marker.exists() and rep.n_steps == 1 and rep.skipped == 1


def test_half_readable_log_says_which_lines_it_skipped(tmp_path):
    good = [f"step {100 * i}: train loss {3 - 0.1 * i:.2f}, val loss {3.05 - 0.1 * i:.2f}" for i in range(1, 9)]
    junk = [
        "Traceback (most recent call last):",
        '  File "train.py", line 42, in <module>',
        "RuntimeError: CUDA out of memory",
    ]
    h, rep = read_log(write(tmp_path, "log.txt", "\n".join(good[:4] + junk + good[4:]) + "\n"))
    assert rep.n_evals == 8 and rep.skipped == 3 and rep.skipped_at == [5, 6, 7]
    assert "skipped 3 lines" in rep.summary() and "lines 5, 6, 7" in rep.summary()


# ---------------------------------------------------------------------------
# The doctor on made-up logs with known answers


def test_barely_trained_run(tmp_path):
    p = write(tmp_path, "log.txt", vizuara_log([9.45, 8.49], [7e-5, 1e-4]))
    c = d.checkup(p, vocab_size=50257)
    f = codes(c.findings)
    assert c.findings[0].code == "barely_trained" and "not overfitting" in f["barely_trained"].message
    assert "uniform ln V = 10.825" in c.ladder_note
    assert "barely_trained" not in codes(d.checkup(p).findings)  # no vocab: no ladder, no claim
    assert "no rung drawn" in d.checkup(p).ladder_note


def test_still_improving_run_is_not_overfitting(tmp_path):
    vals = still_improving_vals()
    lines = [f"step {500 * (i + 1)}: train loss {v - 0.01:.4f}, val loss {v:.4f}" for i, v in enumerate(vals)]
    f = codes(d.checkup(write(tmp_path, "log.txt", "\n".join(lines)), vocab_size=50257).findings)
    assert "still_improving" in f and "not overfitting" in f["still_improving"].message
    assert f["still_improving"].message.startswith("far from trained")
    assert not {"overfitting", "barely_trained", "diverged", "lr_rising"} & set(f)


def test_overfitting_run_names_its_best_step(tmp_path):
    val = [4.0, 3.2, 2.8, 2.6, 2.55, 2.6, 2.7, 2.85]
    train = [4.0, 3.15, 2.7, 2.45, 2.3, 2.15, 2.0, 1.85]
    rows = [f"{500 * (i + 1)}\t{t}\t{v}" for i, (t, v) in enumerate(zip(train, val))]
    p = write(tmp_path, "metrics.tsv", "step\ttrain_loss\tval_loss\n" + "\n".join(rows) + "\n")
    f = codes(d.checkup(p, vocab_size=4096).findings)
    assert f["overfitting"].data["best_step"] == 2500 and "step 2,500" in f["overfitting"].message
    assert f["overfitting"].data["gap_final"] > f["overfitting"].data["gap_at_best"]
    assert "still_improving" not in f


def test_diverged_runs(tmp_path):
    losses = [4.0, 3.6, 3.3, 3.1, 3.0, 2.9, "nan", "nan"]
    p = write(tmp_path, "out.txt", "\n".join(f"iter {10 * i}: loss {x}, time 50ms" for i, x in enumerate(losses)))
    f = codes(d.checkup(p, vocab_size=65).findings)
    assert f["diverged"].severity == "error" and "NaN/inf at step 60" in f["diverged"].message
    blowup = [4.0 - 0.05 * i for i in range(30)] + [9.0 + i for i in range(10)]
    p = write(tmp_path, "out2.txt", "\n".join(f"iter {i}: loss {x:.3f}" for i, x in enumerate(blowup)))
    assert d.checkup(p, vocab_size=65).findings[0].code == "diverged"


def lr_log(lrs) -> str:
    return "\n".join(f"iter {100 * (i + 1)}: loss {4 - 0.05 * i:.3f}, lr {lr:.3e}" for i, lr in enumerate(lrs))


def test_rising_lr_and_a_normal_schedule(tmp_path):
    rising = [1e-4 + 4e-4 * i / 19 for i in range(20)]
    f = codes(d.checkup(write(tmp_path, "rise.txt", lr_log(rising))).findings)
    assert f["lr_rising"].severity == "error" and f["lr_rising"].notebook == "08_learning_rate_and_warmup"
    assert f["lr_rising"].data["rise"] == pytest.approx(5.0) and "0.0001 at iter 100" in f["lr_rising"].message
    warm_then_cosine = [3e-4, 6e-4] + [6e-5 + 2.7e-4 * (1 + math.cos(math.pi * i / 17)) for i in range(18)]
    assert "lr_rising" not in codes(d.checkup(write(tmp_path, "ok.txt", lr_log(warm_then_cosine))).findings)


def test_every_finding_names_a_lesson_that_exists(tmp_path):
    val = [4.0, 3.2, 2.8, 2.6, 2.55, 2.6, 2.7, 2.85]
    p = write(tmp_path, "log.txt", vizuara_log(val, [1e-4 + 1e-5 * i for i in range(len(val))]))
    found = d.checkup(p, vocab_size=65).findings
    found += d.checkup(write(tmp_path, "s.txt", vizuara_log([9.4, 8.5], [1e-4, 1e-4])), vocab_size=50257).findings
    assert found and all((NOTEBOOKS / f"{f.notebook}.py").is_file() for f in found), [f.notebook for f in found]


# ---------------------------------------------------------------------------
# The CLI: what it prints, and its one-line errors


def test_cli_doctor_on_a_log(tmp_path, capsys):
    p = write(tmp_path, "log.txt", vizuara_log(still_improving_vals(), [1e-4 + 2e-5 * i for i in range(20)]))
    assert cli.main(["doctor", str(p), "--vocab-size", "50257", "--grad-accum", "32"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"read {p} as the Vizuara notebook's prints: 20 evals")
    assert any(line.startswith("ladder: uniform ln V = 10.825") for line in out)
    found = [line for line in out if line.startswith(("ERROR", "WARNING", "INFO"))]
    assert found[0].startswith("ERROR   lr_rising") and all("[see 0" in line for line in found)
    assert any("still_improving" in line and "updates" in line for line in found)
    assert cli.main(["doctor", str(p)]) == 0
    out = capsys.readouterr().out
    assert "no rung drawn" in out and "give --grad-accum N" in out


BAD = [  # argv (with {names}), words the one line must hold
    ("doctor {missing}", "no such file or folder"),
    ("doctor {empty}", "holds no history (history.jsonl)"),
    ("doctor {junk}", "it is binary, not text"),
    ("doctor {notes}", "the doctor reads"),
    ("doctor {log} --vocab-size 65 --tokenizer gpt2", "not both"),
    ("doctor {log} --tokenizer char", "depends on the text"),
    ("doctor {log} --vocab-size 1", "--vocab-size 1"),
]


@pytest.mark.parametrize("argv, words", BAD)
def test_cli_doctor_errors_are_one_line(argv, words, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SLMLAB_DEBUG", raising=False)
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk.bin").write_bytes(b"\x00\x01PK\x03\x04" * 100)
    write(tmp_path, "notes.txt", "nothing to see\n")
    write(tmp_path, "log.txt", "step 500: val loss 9.45\n")
    names = {
        "missing": tmp_path / "nope.txt",
        "empty": tmp_path / "empty",
        "junk": tmp_path / "junk.bin",
        "notes": tmp_path / "notes.txt",
        "log": tmp_path / "log.txt",
    }
    assert cli.main([a.format(**names) for a in argv.split()]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: ") and err.count("\n") == 1 and words in err, err


# ---------------------------------------------------------------------------
# The real published log (../shared)


def test_real_log_full_and_cut(shared_data, tmp_path, capsys):
    log = Path(shared_data) / "student_runs" / "vizuara_slm_log.txt"
    c = d.checkup(log, vocab_size=50257)
    assert c.read.format == "vizuara" and c.read.n_evals == 39 and c.read.skipped == 4
    f = codes(c.findings)
    assert f["lr_rising"].data["first_lr"] == pytest.approx(7e-5) and f["lr_rising"].data["final_lr"] == 5e-4
    assert "still_improving" in f and "not overfitting" in f["still_improving"].message
    assert f["still_improving"].message.startswith("far from trained")
    assert not {"overfitting", "barely_trained", "diverged"} & set(f)
    cut = write(tmp_path, "cut.txt", "\n".join(log.read_text().splitlines()[:8]) + "\n")  # epochs 500, 1000
    f = codes(d.checkup(cut, vocab_size=50257, grad_accum_steps=32).findings)
    assert "barely_trained" in f and "after 31 updates" in f["barely_trained"].message
    assert cli.main(["doctor", str(log), "--vocab-size", "50257"]) == 0
    out = capsys.readouterr().out
    assert "39 evals" in out and "lr_rising" in out and "still_improving" in out and "overfitting:" not in out
