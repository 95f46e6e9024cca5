"""Tests for slmlab.diagnostics.script_lint: a training script or notebook read with `ast`,
never run; the same finding codes as the JSON lint, each with the line it came from."""

import json
import re
from pathlib import Path

import pytest

from slmlab import cli
from slmlab.diagnostics import format_findings, lint_file, lint_script, read_script

# A correct script: parameter groups, warmup from ~0, eta_min below lr, the scheduler
# stepped with the optimizer, unscale_ before clipping, eval interval != eval batches.
CLEAN = """\
import torch
from torch.optim.lr_scheduler import LinearLR, SequentialLR, CosineAnnealingLR

learning_rate = 1e-3
max_iters = 4000  # optimizer updates
warmup_steps = 100
min_lr = learning_rate / 10
eval_interval = 100
eval_iters = 20
batch_size = 16
block_size = 2**7
gradient_accumulation_steps = 4
vocab_size = 512

config = GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=4, n_head=4, n_embd=128)
model = GPT(config)

decay = [p for p in model.parameters() if p.dim() >= 2]
no_decay = [p for p in model.parameters() if p.dim() < 2]
groups = [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]
optimizer = torch.optim.AdamW(groups, lr=learning_rate, betas=(0.9, 0.95))
warmup = LinearLR(optimizer, start_factor=0.01, total_iters=warmup_steps)
cosine = CosineAnnealingLR(optimizer, T_max=max_iters - warmup_steps, eta_min=min_lr)
scheduler = SequentialLR(optimizer, schedulers=[warmup, cosine], milestones=[warmup_steps])
scaler = torch.cuda.amp.GradScaler(enabled=True)
if resume:
    optimizer.load_state_dict(torch.load("ckpt.pt")["optimizer"])


def estimate_loss():
    losses = torch.zeros(eval_iters)
    for k in range(eval_iters):
        losses[k] = model(*get_batch("val"))[1]
    return losses.mean()


for it in range(max_iters * gradient_accumulation_steps):
    if it % eval_interval == 0:
        print(estimate_loss())
    X, Y = get_batch("train")
    logits, loss = model(X, Y)
    scaler.scale(loss / gradient_accumulation_steps).backward()
    if (it + 1) % gradient_accumulation_steps == 0:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        scheduler.step()
    if it % 1000 == 0:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, "ckpt.pt")
"""

ONE_BUG = {  # code: (old text, new text, text on the line the finding must name)
    "min_lr_above_lr": ("min_lr = learning_rate / 10", "min_lr = 5 * learning_rate", "min_lr = 5"),
    "scheduler_per_micro_step": (
        "        optimizer.zero_grad(set_to_none=True)\n        scheduler.step()",
        "        optimizer.zero_grad(set_to_none=True)\n    scheduler.step()",
        "scheduler.step()",
    ),
    "decay_on_norms_and_biases": ("AdamW(groups,", "AdamW(model.parameters(), weight_decay=0.1,", "AdamW("),
    "clip_before_unscale": ("        scaler.unscale_(optimizer)\n", "", "clip_grad_norm_"),
    "eval_iters_as_interval": ("it % eval_interval == 0", "it % eval_iters == 0", "% eval_iters =="),
    "block_size_mismatch": ("block_size=block_size,", "block_size=256,", "block_size=256"),
    "warmup_too_long": ("warmup_steps = 100", "warmup_steps = 3000", "warmup_steps = 3000"),
    "vocab_dominates_params": ("vocab_size = 512", "vocab_size = 50257", "vocab_size = 50257"),
    "warmup_starts_high": ("start_factor=0.01, ", "", "LinearLR(optimizer"),  # info
    "no_resume": (
        'if resume:\n    optimizer.load_state_dict(torch.load("ckpt.pt")["optimizer"])\n',
        "",
        "torch.save",
    ),  # info
}
INFOS = {"warmup_starts_high", "no_resume"}


def codes(findings, severities=("error", "warning")):
    return {f.code for f in findings if f.severity in severities}


def line_of(text: str, words: str) -> int:
    """The 1-based line of `text` holding `words` (exactly one)."""
    hits = [i for i, line in enumerate(text.splitlines(), start=1) if words in line]
    assert len(hits) == 1, (words, hits)
    return hits[0]


def write(tmp_path: Path, text: str, name: str = "train.py") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_correct_script_gets_none_of_the_findings(tmp_path):
    found = lint_script(write(tmp_path, CLEAN))
    assert codes(found) == set(), format_findings(found)
    assert codes(found, ("info",)) == {"budget", "script_read"}
    facts = read_script(tmp_path / "train.py")
    assert facts.config["loop_counts"] == "micro_step"
    assert facts.config["scheduler_steps_per"] == "update"
    assert facts.config["block_size"] == 128 and facts.config["min_lr"] == pytest.approx(1e-4)
    budget = next(f for f in found if f.code == "budget").data
    assert budget["optimizer_updates"] == 4000 and budget["tokens_per_update"] == 16 * 4 * 128


@pytest.mark.parametrize("code", sorted(ONE_BUG))
def test_each_bug_alone_is_found_on_its_line(code, tmp_path):
    old, new, on_line = ONE_BUG[code]
    assert old in CLEAN
    text = CLEAN.replace(old, new)
    found = lint_script(write(tmp_path, text))
    companions = {"clip_before_unscale": {"adam_eps_damps_updates"}}.get(code, set())
    assert codes(found) == (set() if code in INFOS else {code} | companions), format_findings(found)
    f = next(f for f in found if f.code == code)
    assert f.line == line_of(text, on_line)
    assert f"{code} (line {f.line}" in format_findings(found)


def test_the_students_script(shared_data, capsys):
    path = Path(shared_data) / "student_runs" / "vizuara_slm_train.py"
    text = path.read_text()
    expected = {  # code: what the line holds (found by a grep, then checked against the file)
        "min_lr_above_lr": r"^min_lr\s*=",
        "scheduler_per_micro_step": r"^\s+scheduler\.step\(\)",
        "decay_on_norms_and_biases": r"AdamW\(model\.parameters\(\)",
        "clip_before_unscale": r"clip_grad_norm_",
        "eval_iters_as_interval": r"%\s*eval_iters\s*==\s*0",
    }
    found = {f.code: f for f in lint_script(path)}
    for code, pattern in expected.items():
        lines = [i for i, line in enumerate(text.splitlines(), 1) if re.search(pattern, line)]
        assert len(lines) == 1 and found[code].line == lines[0], (code, lines, found[code].line)
    assert (found["min_lr_above_lr"].line, found["scheduler_per_micro_step"].line) == (9, 79)
    assert found["scheduler_per_micro_step"].data["max_steps"] == 20000 // 32
    assert found["decay_on_norms_and_biases"].data["weight_decay"] == 0.1
    assert found["warmup_starts_high"].data["start_factor"] == pytest.approx(1 / 3)
    assert cli.main(["lint", str(path)]) == 1  # errors: exit 1
    out = capsys.readouterr().out
    assert "min_lr_above_lr (line 9" in out and "without running it" in out


def test_a_notebook_names_cell_and_line_and_skips_cells_that_do_not_parse(tmp_path):
    head, loop = CLEAN.replace("min_lr = learning_rate / 10", "min_lr = 5e-3").split("\n\n\ndef ")
    cells = [
        {"cell_type": "markdown", "source": ["# my run\n"]},
        {"cell_type": "code", "source": ["!pip install tiktoken\n", "%matplotlib inline"]},
        {"cell_type": "code", "source": head.splitlines(keepends=True)},
        {"cell_type": "code", "source": "def broken(:\n"},
        {"cell_type": "code", "source": "def " + loop},
    ]
    path = write(tmp_path, json.dumps({"cells": cells, "nbformat": 4}), "run.ipynb")
    found = {f.code: f for f in lint_file(path)}
    assert set(found) >= {"min_lr_above_lr", "budget", "script_read"}
    line = line_of(head, "min_lr = 5e-3")
    assert found["min_lr_above_lr"].line == line
    assert found["min_lr_above_lr"].where.startswith(f"cell 3, line {line}")
    assert found["script_read"].data["skipped_cells"] == [4]
    assert "training loop at cell 5" in found["script_read"].message


def test_an_update_loop_with_inner_micro_steps(tmp_path):
    """nanoGPT's shape: each iteration accumulates in an inner loop, then steps once."""
    text = """\
learning_rate, min_lr = 6e-4, 6e-5
max_iters = 5 * 1000
gradient_accumulation_steps = 8
batch_size, block_size = 12, 1024
optimizer = model.configure_optimizers(0.1, learning_rate, (0.9, 0.95), "cuda")
scheduler = CosineAnnealingLR(optimizer, T_max=max_iters, eta_min=min_lr)
for it in range(max_iters):
    for micro_step in range(gradient_accumulation_steps):
        loss = model(*get_batch("train"))[1]
        loss.backward()
        SCHED
    optimizer.step()
    optimizer.zero_grad()
"""
    good = text.replace("SCHED", "pass") + "    scheduler.step()\n"
    found = lint_script(write(tmp_path, good))
    assert codes(found) == set()
    assert next(f for f in found if f.code == "budget").data["optimizer_updates"] == 5000
    bad = write(tmp_path, text.replace("SCHED", "scheduler.step()"), "bad.py")
    assert codes(lint_script(bad)) == {"scheduler_per_micro_step"}


def test_settings_fold_constants_and_read_dataclasses_and_dicts(tmp_path):
    text = """\
from dataclasses import dataclass

@dataclass
class TrainConfig:
    learning_rate: float = 3e-4
    min_lr: float = 2 * 3e-4
    max_iters: int = 5 * 1000

settings = {"batch_size": 2**4, "block_size": 64 + 64}
huge = 10**10**10
cfg = TrainConfig()
opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate)
sched = CosineAnnealingLR(opt, T_max=cfg.max_iters, eta_min=cfg.min_lr)
"""
    facts = read_script(write(tmp_path, text))
    c = facts.config
    assert (c["learning_rate"], c["min_lr"], c["max_iters"]) == (3e-4, 6e-4, 5000)
    assert (c["batch_size"], c["block_size"]) == (16, 128)
    assert c["weight_decay"] == 0.01  # torch's AdamW default, on every parameter
    found = {f.code: f for f in lint_script(tmp_path / "train.py")}
    assert found["min_lr_above_lr"].line == 6  # where min_lr's number is written
    assert found["decay_on_norms_and_biases"].line == 12


def test_the_schedulers_own_numbers_win_over_the_names(tmp_path):
    """eta_min is what the cosine phase reaches, whatever a min_lr variable says."""
    text = (
        "learning_rate = 1e-3\nmin_lr = 5e-3  # unused\n"
        "opt = torch.optim.AdamW(groups, lr=learning_rate)\n"
        "sched = CosineAnnealingLR(opt, T_max=1000, eta_min=ETA)\n"
    )
    assert "min_lr_above_lr" not in codes(lint_script(write(tmp_path, text.replace("ETA", "1e-5"))))
    found = {f.code: f for f in lint_script(write(tmp_path, text.replace("ETA", "2e-3")))}
    assert found["min_lr_above_lr"].data["min_lr"] == 2e-3 and found["min_lr_above_lr"].line == 4
    no_eta = text.replace(", eta_min=ETA", "")
    assert read_script(write(tmp_path, no_eta)).config["min_lr"] == 0.0  # torch's default


def test_eot_is_checked_where_the_script_tokenizes(tmp_path):
    data = "ids = []\nfor story in stories:\n    ids += enc.encode_ordinary(story)EOT\n"
    bad = lint_script(write(tmp_path, CLEAN + data.replace("EOT", "")))
    f = next(f for f in bad if f.code == "no_eot_between_documents")
    assert f.line == line_of(CLEAN + data, "encode_ordinary")
    good = lint_script(write(tmp_path, CLEAN + data.replace("EOT", " + [enc.eot_token]")))
    assert "no_eot_between_documents" not in codes(good, ("warning",))


def test_nothing_in_the_file_runs(tmp_path):
    marker = tmp_path / "ran.txt"
    text = (
        f"import no_such_module_anywhere\nopen({str(marker)!r}, 'w').write('ran')\n"
        "raise SystemExit(3)\nlearning_rate = 1e-4\nmin_lr = 1e-3\n"
        "while True:\n    pass\n"
    )
    found = lint_script(write(tmp_path, text))
    assert "min_lr_above_lr" in codes(found) and not marker.exists()


def test_unreadable_files_are_one_line(tmp_path, capsys):
    cases = {
        "syntax.py": ("def f(:\n    pass\n", "cannot parse syntax.py as Python"),
        "empty.py": ("import torch\n", "no training settings found"),
        "bad.ipynb": ("{not json", "cannot read bad.ipynb as a notebook"),
        "text.ipynb": (json.dumps({"cells": [{"cell_type": "code", "source": "def (:"}]}), "no code cell that parses"),
    }
    for name, (text, words) in cases.items():
        assert cli.main(["lint", str(write(tmp_path, text, name))]) == 2
        out, err = capsys.readouterr()
        assert out == "" and err.startswith("error: ") and err.count("\n") == 1 and words in err, err
    with pytest.raises(ValueError, match=r"at line 1\)"):  # the line that does not parse
        lint_file(tmp_path / "syntax.py")


def test_json_configs_still_lint(tmp_path):
    path = write(tmp_path, json.dumps({"learning_rate": 1e-4, "min_lr": 5e-4}), "cfg.json")
    found = lint_file(path)
    assert "min_lr_above_lr" in codes(found) and all(f.line is None for f in found)


# ---------------------------------------------------------------------------
# What each bug costs here


def test_the_students_scheduler_is_a_warning_that_names_the_625_updates(shared_data):
    path = Path(shared_data) / "student_runs" / "vizuara_slm_train.py"
    found = {f.code: f for f in lint_script(path)}
    f = found["scheduler_per_micro_step"]
    assert f.severity == "warning" and f.line == 79 and f.data["counted_in"] == "micro_step"
    assert "625 optimizer updates" in f.message and "spans the run as meant" in f.message
    assert "32x faster" not in f.message
    eps = found["adam_eps_damps_updates"]
    assert eps.line == 34 and eps.data["adam_eps"] == 1e-9 and "58% at 30M" in eps.message
    cost = found["eval_overhead"]
    assert cost.severity == "warning" and cost.data["eval_cost_fraction"] == pytest.approx(2 / 3)
    assert "~67% of the training compute" in cost.message


def test_scheduler_per_micro_step_is_an_error_when_the_schedule_counts_updates():
    from slmlab.diagnostics import lint

    base = {
        "learning_rate": 1e-3,
        "max_iters": 4000,
        "warmup_steps": 100,
        "min_lr": 1e-4,
        "gradient_accumulation_steps": 8,
        "batch_size": 16,
        "block_size": 128,
        "scheduler_steps_per": "micro_step",
    }
    f = {x.code: x for x in lint(base)}["scheduler_per_micro_step"]
    assert f.severity == "warning" and f.data["max_steps"] == 500
    f = {x.code: x for x in lint({**base, "loop_counts": "update"})}["scheduler_per_micro_step"]
    assert f.severity == "error" and "8x faster" in f.message and f.data["max_steps"] == 4000


def test_eval_overhead_is_computed_from_the_config():
    from slmlab.diagnostics import lint
    from slmlab.diagnostics.config_lint import eval_overhead, normalize_config
    from slmlab.presets import preset

    c = normalize_config(preset("cpu").replace(eval_interval=10, eval_batches=30))
    assert eval_overhead(c) == pytest.approx(2 * 30 / 3 / 10)
    assert {f.code: f for f in lint(c)}["eval_overhead"].data["eval_cost_fraction"] == pytest.approx(2.0)
    assert "eval_overhead" not in {f.code for f in lint(preset("cpu"))}  # 13%: not worth a line


def test_adam_eps_is_flagged_only_where_a_clipped_scaled_gradient_is_its_size():
    from slmlab.diagnostics import STUDENT_CONFIG, lint

    f = {x.code: x for x in lint(STUDENT_CONFIG)}["adam_eps_damps_updates"]
    assert f.data["update_kept"] == pytest.approx(0.58, abs=0.01) and "30.0M weights" in f.message
    assert "adam_eps_damps_updates" not in {x.code for x in lint({**STUDENT_CONFIG, "adam_eps": 1e-12})}
    assert "adam_eps_damps_updates" not in {x.code for x in lint({**STUDENT_CONFIG, "clip_before_unscale": False})}


def test_the_findings_table_keeps_every_finding_and_sorts_by_severity_then_the_given_order():
    from slmlab.diagnostics import SEVERITIES, STUDENT_CONFIG, findings_table, lint

    findings = lint(STUDENT_CONFIG)
    first = ("warmup_starts_high", "scheduler_per_micro_step", "min_lr_above_lr", "eval_overhead")
    shown = findings_table(findings, first=first)
    table = shown.frame()
    assert sorted(table["finding"]) == sorted(f.code for f in findings)  # none added, none dropped
    assert list(table.index) == list(range(1, len(findings) + 1))
    sev = [SEVERITIES.index(s) for s in table["severity"]]
    assert sev == sorted(sev)
    for s in SEVERITIES:  # inside one severity, the codes of `first` lead, in their order
        codes = list(table[table["severity"] == s]["finding"])
        named = [c for c in codes if c in first]
        assert named == sorted(named, key=first.index) and codes[: len(named)] == named
    row = table[table["finding"] == "min_lr_above_lr"].iloc[0]
    assert row["fix"].startswith("min_lr <= lr") and "Fix:" not in row["what"]
    assert row["what"] + " Fix: " + row["fix"] == {f.code: f for f in findings}["min_lr_above_lr"].message
    html = shown._repr_html_()  # a notebook shows every message whole
    escaped = [
        f.message.partition(" Fix: ")[0].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        for f in findings
    ]
    assert all(text in html for text in escaped)
    assert repr(shown).splitlines()[0].startswith("1. ERROR   min_lr_above_lr")
