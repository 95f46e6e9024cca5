"""The benchmark: its files and keys, its arithmetic, its case names. No timing is asserted."""

import json
import types

import pytest

from slmlab import bench


def test_quick_bench_writes_json_and_table(tmp_path):
    args = types.SimpleNamespace(out=str(tmp_path / "b"), configs="tiny:float32:eager",
                                 steps=2, quick=True)
    assert bench.main(args) == 0
    report = json.loads((tmp_path / "b" / "bench.json").read_text())
    assert {"device", "threads", "peak_flops", "results", "torch"} <= set(report)
    (r,) = report["results"]
    for key in ("config", "dtype", "compile", "ms_per_step", "ms_per_step_min", "cpu_ms_per_step",
                "tokens_per_s", "mfu", "peak_memory_mb", "compile_s", "first_step_s",
                "flops_per_token"):
        assert key in r, key
    assert r["config"] == "tiny" and r["dtype"] == "float32" and r["compile"] is False
    assert r["tokens_per_s"] > 0 and r["peak_memory_mb"] > 0 and 0 < r["mfu"] < 1
    md = (tmp_path / "b" / "bench.md").read_text()
    assert "| tiny | 65 | float32 | off |" in md and "tokens/s" in md


def test_mfu_arithmetic():
    # 1e6 FLOPs per token at 1e5 tokens/s = 1e11 FLOP/s, a tenth of a 1e12 peak
    assert bench.mfu(1e6, 1e5, 1e12) == pytest.approx(0.1)
    assert bench.mfu(1e6, 1e5, None) is None


def test_gpu_peaks_by_name_and_dtype():
    assert bench.gpu_peak_flops("NVIDIA H100 80GB HBM3", "bfloat16") == 989e12
    assert bench.gpu_peak_flops("NVIDIA H100 PCIe", "bfloat16") == 756e12
    assert bench.gpu_peak_flops("NVIDIA A100-SXM4-40GB", "float32") == 156e12  # TF32
    assert bench.gpu_peak_flops("Tesla T4", "float16") == 65e12
    assert bench.gpu_peak_flops("NVIDIA A10G", "bfloat16") == 125e12  # not A100's
    assert bench.gpu_peak_flops("Some Future GPU", "bfloat16") is None


def test_case_names_expand_and_unknown_ones_are_refused():
    assert bench.parse_cases("tiny", "cpu", quick=False) == [
        ("tiny", "float32", False), ("tiny", "float32", True),
        ("tiny", "bfloat16", False), ("tiny", "bfloat16", True)]
    assert bench.parse_cases("student:bfloat16:eager", "cpu", quick=False) == [
        ("student", "bfloat16", False)]
    assert bench.parse_cases(None, "cpu", quick=True) == [
        ("tiny", "float32", False), ("tiny", "bfloat16", False)]
    with pytest.raises(ValueError, match="unknown"):
        bench.parse_cases("nanogpt-huge", "cpu", quick=False)


def test_bench_configs_match_the_recipes():
    baby = bench.bench_config("nanogpt-baby")
    assert (baby.model.n_layer, baby.model.n_embd, baby.model.block_size,
            baby.train.micro_batch_size, baby.model.vocab_size) == (4, 128, 64, 12, 65)
    student = bench.bench_config("student")
    assert (student.model.n_layer, student.model.n_head, student.model.n_embd,
            student.model.block_size, student.train.micro_batch_size,
            student.model.vocab_size) == (6, 6, 384, 128, 32, 50257)
    assert bench.random_data(70, n_tokens=1000).vocab_size == 70


# ---------------------------------------------------------------------------
# The fast paths of the trainer (code paths only; speed lives in `make bench`)


def test_adamw_is_fused_on_cpu_and_cuda_foreach_elsewhere():
    import torch

    from slmlab.config import preset
    from slmlab.device import Device
    from slmlab.train import configure_optimizer

    model = torch.nn.Linear(4, 4)
    cpu = configure_optimizer(model, preset("smoke").train, Device("cpu", torch.float32, 1, "cpu"))
    assert cpu.defaults["fused"] is True
    mps = configure_optimizer(model, preset("smoke").train, Device("mps", torch.float32, 1, "mps"))
    assert mps.defaults["foreach"] is True and not mps.defaults["fused"]


def test_compile_falls_back_to_eager_without_a_backend(monkeypatch):
    import shutil

    import torch

    from slmlab import train as train_mod
    from slmlab.device import Device

    model = torch.nn.Linear(4, 4)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.warns(UserWarning, match="C\\+\\+ compiler"):
        assert train_mod.compile_model(model, Device("cpu", torch.float32, 1, "cpu")) is model
    fake_cuda = Device("cuda", torch.bfloat16, 1, "fake A100")
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.warns(UserWarning, match="triton"):
        assert train_mod.compile_model(model, fake_cuda) is model


def test_speed_presets_validate():
    from slmlab.config import preset, validate

    sr = validate(preset("speedrun"))
    assert (sr.data.corpus, sr.data.tokenizer) == ("shakespeare", "char")
    ts = validate(preset("tinystories-cpu"))
    assert ts.data.corpus == "tinystories"


# ---------------------------------------------------------------------------
# Targets: whole runs beside a baseline (only the smoke one trains here)


def test_targets_parse_and_their_configs_are_the_recipes():
    assert bench.parse_targets(None, quick=False) == ["speedrun"]
    assert bench.parse_targets(None, quick=True) == []
    assert bench.parse_targets("none", quick=False) == []
    assert bench.parse_targets("speedrun,tinystories", quick=False) == ["speedrun", "tinystories"]
    with pytest.raises(ValueError, match="unknown"):
        bench.parse_targets("marathon", quick=False)
    ours, base = bench.target_configs("speedrun")
    assert ours.data == base.data and ours.train.eval_interval == base.train.eval_interval
    assert (base.model.n_layer, base.model.n_embd, base.model.block_size, base.train.micro_batch_size,
            base.train.lr, base.train.max_steps, base.train.dtype) == (4, 128, 64, 12, 1e-3, 2000, "float32")
    ours, base = bench.target_configs("tinystories")
    assert base.data.tokenizer == "gpt2" and ours.data.corpus == base.data.corpus == "tinystories"


def test_smoke_target_runs_both_sides_and_reports(tmp_path, monkeypatch):
    # in this process: the subprocess protocol is the quick bench's test; here, the targets' report
    monkeypatch.setattr(bench, "_run_in_subprocess", bench.measure)
    args = types.SimpleNamespace(out=str(tmp_path / "b"), configs="none", steps=0, quick=True,
                                 targets="smoke")
    assert bench.main(args) == 0
    report = json.loads((tmp_path / "b" / "bench.json").read_text())
    (row,) = report["targets"]
    for role in ("ours", "baseline"):
        r = row[role]
        assert r["steps"] == 40 and r["reached"] and r["final_score"] < 10.0
        assert r["evals"][-1][0] == 40 and r["seconds_to_bar"] <= r["seconds"]
    assert row["speedup"] > 0 and row["score_ratio"] > 0
    assert "**smoke**" in (tmp_path / "b" / "bench.md").read_text()
