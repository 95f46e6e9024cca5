"""04's "your run": a pasted or uploaded log (and script) read, diagnosed and answered, headless."""

import datetime
import math

import pytest

from slmlab.clinic import RunClinic, lr_sum, read_your_run

# the Vizuara notebook's prints, as the student's log has them (numbers of the published run)
LOG = """\
/usr/lib/python3/torch/optim/lr_scheduler.py:227: UserWarning: Detected call of `lr_scheduler.step()`
  warnings.warn(
Epoch 500: train loss 9.4434, val loss 9.4478
The current learning rate: 0.00007
Epoch 1000: train loss 8.4843, val loss 8.4880
The current learning rate: 0.00010
"""
SCRIPT = """\
learning_rate = 1e-4
max_iters = 20000
warmup_steps = 1000
min_lr = 5e-4
gradient_accumulation_steps = 32
"""


def test_a_pasted_log_and_script_are_read_judged_and_answered():
    r = read_your_run(LOG, SCRIPT, vocab_size=50257, grad_accum_steps=32, script_name="train.py")
    assert [e["step"] for e in r.history.evals] == [15, 31]  # updates, not loop iterations
    assert "Vizuara" in r.read and "your log" in r.read
    codes = [f.code for f in r.findings]
    assert "barely_trained" in codes and "min_lr_above_lr" in codes
    assert r.lr_sum == pytest.approx(15 * 7e-5)  # the printed lr at update 15 held for updates 1-15
    assert "barely started" in r.answer and "8.49 after 31 updates" in r.answer
    assert "First fix: min_lr_above_lr" in r.answer


def test_uploaded_bytes_and_names_go_to_the_right_reader():
    csv = b"step,train_loss,val_loss\n100,5.1,5.3\n200,4.2,4.6\n"
    r = read_your_run(csv, vocab_size=4096, log_name="metrics.csv")
    assert [e["val_loss"] for e in r.history.evals] == [5.3, 4.6]
    assert r.lr_sum is None and "uniform guess over 4,096 tokens scores 8.32" in r.answer


@pytest.mark.parametrize(
    "junk, says", [("", "nothing to read"), ("hello\nworld", "no line of it"), (b"\xff\xfe\x00", "not UTF-8")]
)
def test_junk_gets_one_line(junk, says):
    with pytest.raises(ValueError, match=says) as e:
        read_your_run(junk)
    assert "\n" not in str(e.value)


def test_lr_sum_holds_each_printed_lr_back_to_the_print_before():
    from slmlab.history import History

    h = History([], [{"step": 5, "lr": 1e-4}, {"step": 15, "lr": 2e-4}], {}, {})
    assert lr_sum(h) == pytest.approx(5 * 1e-4 + 10 * 2e-4)
    assert lr_sum(History([], [{"step": 5, "val_loss": 3.0}], {}, {})) is None


def test_the_widget_reads_what_was_pasted_or_uploaded_without_a_restart():
    clinic = RunClinic(vocab_size=50257, grad_accum_steps=32)
    clinic.log.value = "not a log"
    assert clinic.read() is None  # one line shown, nothing raised
    assert "could not read it" in clinic.out.outputs[0]["text"]
    clinic.log.value = LOG  # the same widget, again
    r = clinic.read()
    assert r is not None and r.history.evals[-1]["step"] == 31
    assert any("barely_trained" in o.get("text", "") for o in clinic.out.outputs)
    clinic.log.value = ""
    clinic.log_file.value = (
        {
            "name": "log.txt",
            "type": "text/plain",
            "size": len(LOG),
            "content": memoryview(LOG.encode()),
            "last_modified": datetime.datetime.now(datetime.timezone.utc),
        },
    )
    assert clinic.read().history.evals[0]["val_loss"] == pytest.approx(9.4478)
    assert math.isfinite(clinic.result.lr_sum)
