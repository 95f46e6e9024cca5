"""Known answers for the doctor on logs from the wild: every format of the readers' registry
(tests/fixtures/logs/, written here in each format), pasted as a quote, with timestamps or
a rank prefix, and every judgement the curve rules make on them (noise is not divergence,
overfitting from two evals, NaN after a save or a resume, a loss pinned at ln V, a printed
lr of 0, a loss above ln V, no validation, spike shapes, a spike after a resume). No
training: each test reads a few small texts."""

import math
from pathlib import Path

import numpy as np
import pytest

from slmlab import diagnostics as d
from slmlab.diagnostics.readers import READERS, read_text

LOGS = Path(__file__).resolve().parent / "fixtures" / "logs"
V = 50257


def codes(findings) -> dict:
    return {f.code: f for f in findings}


def doctor(text, **kw):
    return codes(d.read_any(text, **kw)[1].findings)


# ---------------------------------------------------------------------------
# Formats: one known answer each


@pytest.mark.parametrize(
    "name, fmt, n_steps, n_evals, first, last_val, unit",
    [
        ("llms_from_scratch.txt", "llms_from_scratch", 0, 18, ("eval", 0, 9.933), 6.452, "step"),
        ("litgpt.txt", "litgpt", 11, 3, ("step", 0, (10.9463 + 10.9512 + 10.9390) / 3), 6.3511, "update"),
        ("lightning_metrics.csv", "lightning_csv", 12, 3, ("step", 49, 4.512), 2.998, "update"),
        ("lightning_bar.txt", "progress_bar", 21, 1, ("step", 0, 4.5), 2.7, "iter"),
        ("tqdm.txt", "progress_bar", 11, 0, ("step", 0, 4.5), None, "iter"),
        ("mlx.txt", "mlx", 6, 3, ("eval", 1, 2.87), 1.702, "iter"),
        ("handwritten.txt", "handwritten", 0, 4, ("eval", 500, 1.49), 1.22, "iter"),
        ("trainer_state_no_eval.json", "trainer_state", 5, 0, ("step", 30, 2.41), None, "step"),
    ],
)
def test_each_format_is_read_by_content(name, fmt, n_steps, n_evals, first, last_val, unit, tmp_path):
    text = (LOGS / name).read_text()
    h, rep = d.read_log(LOGS / name)
    assert (rep.format, rep.n_steps, rep.n_evals, rep.step_unit) == (fmt, n_steps, n_evals, unit)
    kind, step, loss = first
    rec = (h.evals if kind == "eval" else h.steps)[0]
    assert rec["step"] == step and rec["val_loss" if kind == "eval" else "loss"] == pytest.approx(loss)
    assert (h.evals[-1]["val_loss"] if h.evals else None) == (pytest.approx(last_val) if last_val else None)
    renamed = tmp_path / "log.dat"  # by content, not by name
    renamed.write_text(text)
    assert d.read_log(renamed)[1].format == fmt


def test_every_registered_reader_has_a_fixture_or_a_test():
    tested = {
        "llms_from_scratch",
        "litgpt",
        "lightning_csv",
        "progress_bar",
        "mlx",
        "handwritten",
        "trainer_state",
        "vizuara",
        "nanogpt",
        "table",
        "jsonl",
    }  # vizuara ... jsonl: test_readers.py
    assert {r.name for r in READERS} == tested
    assert set(d.FORMATS) == tested | {"ipynb", "slmlab"}


def test_format_details():
    h, _ = d.read_log(LOGS / "lightning_metrics.csv")
    assert h.steps[0]["lr"] == 3e-4 and h.meta["epochs"] == 3  # lr-AdamW; epoch rows read past
    h, _ = d.read_log(LOGS / "litgpt.txt")
    assert [e["step"] for e in h.evals] == [0, 5, 10]  # `iter 20: val loss` is at the step of iter 20
    assert h.meta["events"][0]["kind"] == "save"
    h, rep = d.read_log(LOGS / "llms_from_scratch.txt")
    assert rep.skipped == 9 and "generated samples" in rep.summary()  # the sample text between the lines
    assert h.evals[-1]["train_loss"] == 0.391
    h, _ = d.read_log(LOGS / "mlx.txt")
    assert h.steps[0]["lr"] == 1e-5 and h.evals[0]["train_loss"] is None
    h, rep = d.read_log(LOGS / "mlx.txt", grad_accum_steps=2)
    assert h.evals[-1]["step"] == 50 and rep.step_unit == "update"
    h, _ = d.read_log(LOGS / "trainer_state_no_eval.json")
    assert h.meta["epochs"] == 20.0


VIZ = (
    "Epoch 500: train loss 9.4434, val loss 9.4478\nThe current learning rate: 0.00007\n"
    "Epoch 1000: train loss 8.4843, val loss 8.4880\nThe current learning rate: 0.00010\n"
)


@pytest.mark.parametrize(
    "prefix",
    [
        "> ",
        ">> ",
        "[rank0]: ",
        "> [rank0]: ",
        "2024-05-01 12:00:01,123 INFO ",
        "[2024-05-01 12:00:01] ",
        "12:00:01 - ",
        "INFO:__main__:",
    ],
)
def test_pasted_prefixes_are_read_through(prefix):
    text = "".join(prefix + line + "\n" for line in VIZ.splitlines())
    h, rep = read_text(text)
    assert rep.format == "vizuara" and rep.n_evals == 2 and rep.skipped == 0
    assert h.evals[0]["lr"] == pytest.approx(7e-5)
    quoted = "".join(prefix + line + "\n" for line in (LOGS / "llms_from_scratch.txt").read_text().splitlines())
    assert read_text(quoted)[1].format == "llms_from_scratch"


def test_quoted_csv_and_nanogpt_with_rank_prefix():
    h, rep = read_text("> step,train_loss,val_loss\n> 100,3.0,3.1\n> 200,2.5,2.6\n")
    assert rep.format == "table" and [e["val_loss"] for e in h.evals] == [3.1, 2.6]
    h, rep = read_text("[rank0]: step 0: train loss 4.28, val loss 4.28\n[rank0]: iter 10: loss 3.24, time 50ms\n")
    assert rep.format == "nanogpt" and (rep.n_evals, rep.n_steps) == (1, 1)


def test_read_any_takes_text_bytes_and_paths(tmp_path):
    h1, c1 = d.read_any(VIZ, vocab_size=V, grad_accum_steps=32)
    h2, c2 = d.read_any(VIZ.encode(), vocab_size=V, grad_accum_steps=32)
    p = tmp_path / "log.txt"
    p.write_text(VIZ)
    h3, c3 = d.read_any(str(p), vocab_size=V, grad_accum_steps=32)
    assert h1.evals == h2.evals == h3.evals and [e["step"] for e in h1.evals] == [15, 31]
    assert c1.read.path == "pasted text" and "barely_trained" in codes(c1.findings)
    assert c3.text().startswith(f"read {p} as the Vizuara")
    with pytest.raises(ValueError, match="the doctor reads"):  # as_text: a line that names a file stays text
        d.read_any(str(p), as_text=True)


@pytest.mark.parametrize(
    "junk",
    ["hello, my model does not learn", "", b"\x00\x01\x02" * 50, '{"learning_rate": 1e-4}', "loss went down then up"],
)
def test_junk_is_one_line_saying_what_was_expected(junk):
    with pytest.raises(ValueError) as e:
        d.read_any(junk)
    msg = str(e.value)
    assert "\n" not in msg and "the doctor reads" in msg and "LLMs-from-scratch prints" in msg, msg


# ---------------------------------------------------------------------------
# Judgements


def nano(losses, start=0, every=10, extra=None):
    """nanoGPT-like step lines; extra: {index: line printed before that step}."""
    out = []
    for i, x in enumerate(losses):
        if extra and i in extra:
            out.append(extra[i])
        out.append(f"iter {start + every * i}: loss {x}, time 50.0ms")
    return "\n".join(out) + "\n"


def test_noise_is_not_divergence_and_two_evals_can_show_overfitting():
    """A small-batch fine-tune: single-step losses jump around, two evals show val far above train, rising."""
    rng = np.random.default_rng(0)
    lines = []
    for i in range(200):
        lines.append(f"iter {i}: loss {max(0.05, 2.0 * math.exp(-i / 50) + 0.5 * rng.standard_normal() + 0.4):.3f}")
        if i in (100, 199):
            lines.append(f"step {i}: val loss {3.6 if i == 100 else 3.9:.3f}")
    f = doctor("\n".join(lines) + "\n", vocab_size=V)
    assert "diverged" not in f and "lr_too_high" not in f, list(f)
    assert f["overfitting"].data["best_step"] == 100 and "best eval was 3.600 at iter 100" in f["overfitting"].message
    assert f["overfitting"].data["evals"] == 2


def test_llms_from_scratch_run_is_overfitting_at_its_best_step():
    f = codes(d.checkup(LOGS / "llms_from_scratch.txt", vocab_size=V).findings)
    assert f["overfitting"].data["best_step"] == 55 and "step 55" in f["overfitting"].message


@pytest.mark.parametrize(
    "event, words",
    [
        ("saving checkpoint to out", "right after a checkpoint save"),
        ("Resuming training from out/ckpt.pt", "right after a resume"),
    ],
)
def test_nan_is_named_with_its_step_and_the_save_or_resume_before_it(event, words):
    losses = [4.0, 3.6, 3.3, 3.1, 3.0, 2.9, "nan", "nan"]
    f = doctor(nano(losses, extra={6: event}), vocab_size=V)
    assert "NaN/inf at step 60" in f["diverged"].message and words in f["diverged"].message
    assert f["diverged"].data["nonfinite_step"] == 60
    f = doctor(nano(losses, extra={2: event}), vocab_size=V)  # long before the NaN: not named
    assert "right after" not in f["diverged"].message


def test_a_loss_pinned_at_ln_v_means_nothing_learns():
    u = math.log(V)
    f = doctor(nano([f"{u + 0.004 * (-1) ** i:.4f}" for i in range(40)]), vocab_size=V)
    assert f["not_learning"].severity == "error" and f["not_learning"].data["records"] == 40
    assert "lr actually applied" in f["not_learning"].message and "frozen" in f["not_learning"].message
    falling = [f"{u - 0.05 * i:.4f}" for i in range(40)]
    assert "not_learning" not in doctor(nano(falling), vocab_size=V)


def lr_lines(lrs, losses=None):
    losses = losses or [4 - 0.05 * i for i in range(len(lrs))]
    return "\n".join(f"iter {100 * i}: loss {x:.3f}, lr {lr:.5f}" for i, (x, lr) in enumerate(zip(losses, lrs))) + "\n"


def test_a_printed_lr_of_zero_is_the_schedule():
    f = doctor(lr_lines([0.0] + [1e-3] * 19))
    assert f["lr_zero"].severity == "info" and "warmup that starts from 0" in f["lr_zero"].message
    f = doctor(lr_lines([1e-3] * 10 + [0.0] * 10))
    assert f["lr_zero"].severity == "warning" and f["lr_zero"].data["to_the_end"]
    assert "schedule" in f["lr_zero"].message and "5e-06 as 0.00000" in f["lr_zero"].message
    assert "lr_zero" not in doctor(lr_lines([1e-3] * 20))


def test_a_loss_above_ln_v_is_not_a_healthy_softmax():
    f = doctor(nano([f"{11.9 - 0.01 * i:.3f}" for i in range(20)]), vocab_size=V)
    assert f["above_uniform"].severity == "error" and "vocabulary size" in f["above_uniform"].message
    assert "MPS" in f["above_uniform"].message
    assert "above_uniform" not in doctor(nano([f"{10.9 - 0.1 * i:.3f}" for i in range(20)]), vocab_size=V)


def test_a_run_without_validation_says_what_cannot_be_told():
    f = codes(d.checkup(LOGS / "trainer_state_no_eval.json").findings)
    assert f["no_validation"].severity == "warning" and "memorization" in f["no_validation"].message
    assert "20 passes" in f["no_validation"].message and "cannot tell" in f["no_validation"].message
    f = codes(d.checkup(LOGS / "tqdm.txt").findings)
    assert f["no_validation"].severity == "info" and "does not show memorization" in f["no_validation"].message


def spiky(shape_at: dict, n=120):
    """A smooth falling loss with spikes: {index: (height, records until back, or None: never)}."""
    rng = np.random.default_rng(1)
    y = 3.0 * np.exp(-np.arange(n) / 40) + 1.5 + 0.01 * rng.standard_normal(n)
    for i, (height, back) in shape_at.items():
        end = n if back is None else i + back
        y[i:end] += height
    return [f"{x:.4f}" for x in y]


def test_spike_shapes_are_named():
    f = doctor(nano(spiky({40: (1.5, 1), 70: (1.5, 15), 100: (1.0, None)})))
    assert f["lr_too_high"].data["shapes"] == ["fast-recovering", "slow-recovering", "non-recovering"]
    assert "1 fast-recovering, 1 slow-recovering, 1 non-recovering" in f["lr_too_high"].message


def test_a_spike_after_resume():
    losses = spiky({60: (1.2, 8)})
    f = doctor(nano(losses, extra={60: "Resuming training from out/ckpt.pt"}))
    assert f["spike_after_resume"].data["step"] == 600 and f["spike_after_resume"].data["shape"] == "slow-recovering"
    assert "optimizer" in f["spike_after_resume"].message
    assert "spike_after_resume" not in doctor(
        nano(spiky({})),
    )


def test_the_vizuara_judgement_stays(shared_data):
    log = Path(shared_data) / "student_runs" / "vizuara_slm_log.txt"
    h, c = d.read_any(log, vocab_size=V, grad_accum_steps=32)
    f = codes(c.findings)
    assert set(f) == {"lr_rising", "still_improving", "ladder_position"}
    assert (
        f["still_improving"].message.startswith("far from trained")
        and "this is not overfitting" in f["still_improving"].message
    )
    assert "7e-05 at update 15" in f["lr_rising"].message and "0.0005 at update 609" in f["lr_rising"].message
