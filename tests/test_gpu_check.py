"""slmlab.gpu_check on a CPU: what it runs there, what it says it skipped, the report, the CLI, and
that it runs from a source tree with only torch, numpy, tiktoken and matplotlib. Its CUDA paths
have not run here (no GPU); gpu_study's parts of it ran on an H200 (tests/test_gpu_study.py)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from slmlab import gpu_check as gc
from slmlab.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU path (a GPU runs the real one)")


@pytest.fixture(scope="module")
def result():
    lines = []
    r = gc.run_checks(only=[n for n in gc.CHECKS if n != "torchrun"], say=lines.append)
    r["printed"] = lines
    return r


def test_on_a_cpu_it_runs_what_it_can_and_says_what_it_skipped(result):
    st = {n: c["status"] for n, c in result["checks"].items()}
    assert st == {
        "dtype": "skipped",
        "card": "ok",
        "fp16_overflow": "ok",
        "fused_adamw": "ok",
        "resume": "ok",
        "presets": "skipped",
    }
    assert result["ok"] and result["environment"]["device"] == "cpu"
    assert "no CUDA GPU" in result["checks"]["dtype"]["detail"]
    assert "need one" in result["checks"]["presets"]["detail"]
    assert len(result["printed"]) == 6 and result["printed"][0].startswith("[skipped] dtype: ")


def test_the_overflow_skips_exactly_one_update_and_training_goes_on(result):
    c = result["checks"]["fp16_overflow"]
    assert c["update_skipped"] and c["scale_after"] == c["scale_pushed_to"] / 2
    assert all(x == x and x < 20 for x in c["losses_after"])


def test_fused_adamw_and_resume_are_real_on_the_cpu(result):
    assert result["checks"]["fused_adamw"]["fused"] is True  # torch >= 2.4: the fused CPU kernel
    r = result["checks"]["resume"]
    assert r["exact"] and r["resumed"] == r["straight"] and "bit for bit" in r["detail"]


def test_the_card_check_is_gpu_study_s_own_at_a_tiny_size(result):
    card = result["checks"]["card"]["card"]
    assert card["measured_bf16_matmul_flops"] is None  # GPU only
    cases = {(s["dtype"], s["compile"]) for s in card["speed"]}
    assert ("float32", False) in cases and not any(c for _, c in cases)  # no compile on a CPU test
    assert "refused on a CPU" in result["checks"]["card"]["detail"]


def test_the_report_has_one_row_per_check_and_the_skips(result):
    md = gc.report_markdown(result)
    assert md.startswith("# slmlab gpu-check, ") and "no CUDA GPU (the CPU, at a tiny size)" in md
    rows = [line for line in md.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [r.split(":")[0].removeprefix("| ") for r in rows] == list(result["checks"])
    assert "## Skipped" in md and "- presets: no CUDA GPU" in md
    json.dumps(result, default=float)  # what gpu_check.json holds


def test_a_failing_check_is_a_row_not_the_end(monkeypatch):
    def broken(ctx):
        raise RuntimeError("boom")

    monkeypatch.setitem(gc.CHECKS, "dtype", ("dtype", broken))
    r = gc.run_checks(only=["dtype"], say=lambda s: None)
    assert not r["ok"] and r["checks"]["dtype"]["status"] == "FAIL" and "boom" in r["checks"]["dtype"]["detail"]


def test_the_cli_writes_both_reports_and_refuses_a_bad_check(tmp_path, capsys):
    assert cli_main(["gpu-check", "--out", str(tmp_path / "r"), "--only", "dtype,presets"]) == 0
    assert json.loads((tmp_path / "r" / "gpu_check.json").read_text())["checks"]["presets"]["status"] == "skipped"
    assert "| presets: " in (tmp_path / "r" / "gpu_check.md").read_text()
    assert cli_main(["gpu-check", "--only", "nope"]) == 2
    assert "no such check" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_with_one_process_on_gloo():
    r = gc.check_torchrun({})
    assert r["status"] == "ok", r
    assert r["worker"] == {"backend": "gloo", "all_reduce": 1.0, "ddp_update": True}
    assert "nccl skipped" in r["detail"]


# Only torch, numpy, tiktoken and matplotlib: everything else the course installs is blocked.
BLOCKED = (
    "tqdm",
    "ipywidgets",
    "IPython",
    "optuna",
    "seaborn",
    "pandas",
    "jupyterlab",
    "huggingface_hub",
    "nbformat",
    "pytest",
)


@pytest.mark.slow
def test_it_runs_from_the_source_tree_with_only_torch_numpy_tiktoken_matplotlib(tmp_path):
    site = tmp_path / "block"
    site.mkdir()
    # None in sys.modules: `import X` raises ModuleNotFoundError, importlib.util.find_spec says None
    (site / "sitecustomize.py").write_text(f"import sys\nsys.modules.update(dict.fromkeys({BLOCKED!r}))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [sys.executable, "-m", "slmlab", "gpu-check", "--out", str(tmp_path / "r"), "--only", "dtype,resume,presets"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "[     ok] resume:" in r.stdout and (tmp_path / "r" / "gpu_check.md").exists()
