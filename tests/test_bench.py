"""The benchmark: its files and keys, its arithmetic, its case names. No timing is asserted."""

import contextlib
import importlib.util
import json
import math
import platform
import sys
import time
import types

import pytest
import torch

from slmlab import bench, device, targets


@pytest.mark.slow
def test_quick_bench_writes_json_and_table(tmp_path):
    args = types.SimpleNamespace(out=str(tmp_path / "b"), configs="tiny:float32:eager", steps=2, quick=True)
    assert bench.main(args) == 0
    report = json.loads((tmp_path / "b" / "bench.json").read_text())
    assert {"device", "threads", "peak_flops", "results", "torch"} <= set(report)
    (r,) = report["results"]
    for key in (
        "config",
        "dtype",
        "compile",
        "ms_per_step",
        "ms_per_step_min",
        "cpu_ms_per_step",
        "tokens_per_s",
        "mfu",
        "peak_memory_mb",
        "compile_s",
        "first_step_s",
        "flops_per_token",
    ):
        assert key in r, key
    assert r["config"] == "tiny" and r["dtype"] == "float32" and r["compile"] is False
    assert r["tokens_per_s"] > 0 and r["peak_memory_mb"] > 0 and 0 < r["mfu"] < 1
    md = (tmp_path / "b" / "bench.md").read_text()
    assert "| tiny | 65 | float32 | off |" in md and "tokens/s" in md
    m = report["malloc"]  # the allocator side by side: as glibc's malloc comes, and kept
    assert "allocator (tiny" in md and m["loss_equal"] is True
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert len(m["glibc_ms"]) == len(m["kept_ms"]) == 1 and m["ratio"] > 0


def test_a_case_with_glibcs_malloc_as_it_comes_keeps_no_memory():
    """keep_memory=False reaches the case's own process: its device setup leaves malloc alone."""
    case = {"name": "tiny", "dtype": "float32", "compile": False, "steps": 1, "device": "cpu"}
    plain = bench._run_in_subprocess({**case, "keep_memory": False})
    assert plain["memory_kept"] is False
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert bench._run_in_subprocess(case)["memory_kept"] is True


def test_bench_imports_and_runs_without_the_resource_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "resource", None)  # as on Windows: importing it fails
    spec = importlib.util.spec_from_file_location("slmlab._bench_without_resource", bench.__file__)
    alone = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(alone)  # a top-level `import resource` would fail here
    assert math.isnan(alone._peak_memory_mb("cpu"))  # the peak is unknown there, not an error


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


def test_case_names_expand_and_unknown_ones_are_refused(monkeypatch):
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: True)  # a CPU with native bf16
    assert bench.parse_cases("tiny", "cpu", quick=False) == [
        ("tiny", "float32", False),
        ("tiny", "float32", True),
        ("tiny", "bfloat16", False),
        ("tiny", "bfloat16", True),
    ]
    assert bench.parse_cases("student:bfloat16:eager", "cpu", quick=False) == [("student", "bfloat16", False)]
    assert bench.parse_cases(None, "cpu", quick=True) == [("tiny", "float32", False), ("tiny", "bfloat16", False)]
    with pytest.raises(ValueError, match="unknown"):
        bench.parse_cases("nanogpt-huge", "cpu", quick=False)
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: False)  # without: no bf16 case to grind through
    assert bench.parse_cases(None, "cpu", quick=True) == [("tiny", "float32", False)]


def test_bench_configs_match_the_recipes():
    baby = bench.bench_config("nanogpt-baby")
    assert (
        baby.model.n_layer,
        baby.model.n_embd,
        baby.model.block_size,
        baby.train.micro_batch_size,
        baby.model.vocab_size,
    ) == (4, 128, 64, 12, 65)
    student = bench.bench_config("student")
    assert (
        student.model.n_layer,
        student.model.n_head,
        student.model.n_embd,
        student.model.block_size,
        student.train.micro_batch_size,
        student.model.vocab_size,
    ) == (6, 6, 384, 128, 32, 50257)
    assert bench.random_data(70, n_tokens=1000).vocab_size == 70


# ---------------------------------------------------------------------------
# The fast paths of the trainer (code paths only; speed lives in `make bench`)


def test_adamw_is_fused_on_cpu_and_cuda_foreach_elsewhere():
    import torch

    from slmlab.device import Device
    from slmlab.presets import preset
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
    from slmlab.config import validate
    from slmlab.presets import preset

    sr = validate(preset("speedrun"))
    assert (sr.data.corpus, sr.data.tokenizer) == ("shakespeare", "char")
    ts = validate(preset("tinystories-cpu"))
    assert ts.data.corpus == "tinystories"


# ---------------------------------------------------------------------------
# Targets: whole runs beside a baseline (only the smoke one trains here)


def test_targets_parse_and_their_configs_are_the_recipes():
    assert targets.parse_targets(None, quick=False) == ["speedrun"]
    assert targets.parse_targets(None, quick=True) == []
    assert targets.parse_targets("none", quick=False) == []
    assert targets.parse_targets("speedrun,tinystories", quick=False) == ["speedrun", "tinystories"]
    with pytest.raises(ValueError, match="unknown"):
        targets.parse_targets("marathon", quick=False)
    ours, base = targets.target_configs("speedrun")
    assert ours.data == base.data and ours.train.eval_batches == base.train.eval_batches == 50
    assert (
        base.model.n_layer,
        base.model.n_embd,
        base.model.block_size,
        base.train.micro_batch_size,
        base.train.lr,
        base.train.max_steps,
        base.train.dtype,
        base.train.optimizer,
    ) == (4, 128, 64, 12, 1e-3, 2000, "float32", "adamw")
    ours, base = targets.target_configs("tinystories")
    assert base.data.tokenizer == "gpt2" and ours.data.corpus == base.data.corpus == "tinystories"
    assert base.train.time_budget == ours.train.time_budget  # the same minutes


@pytest.mark.slow
def test_smoke_target_runs_every_side_and_reports(tmp_path, monkeypatch):
    # in this process: the subprocess protocol is the nanoGPT race's test; here, the report
    monkeypatch.setattr(targets, "_in_subprocess", lambda case: targets.run_target_case(**case, launched=time.time()))
    args = types.SimpleNamespace(
        out=str(tmp_path / "b"), configs="none", steps=0, quick=True, targets="smoke", nanogpt=None
    )
    assert bench.main(args) == 0
    report = json.loads((tmp_path / "b" / "bench.json").read_text())
    (row,) = report["targets"]
    ours, base = row["runs"]
    for r in (ours, base):
        assert r["steps"] == 40 and r["reached"] and r["final_score"] < 10.0
        assert r["evals"][-1][0] == 40 and r["startup_s"] >= 0
        assert r["startup_s"] <= r["seconds_to_bar"] <= r["startup_s"] + r["seconds"] + 1e-6
    (ratio,) = row["ratios"]
    assert ratio["time_ratio"] > 0 and ratio["score_ratio"] > 0
    md = (tmp_path / "b" / "bench.md").read_text()
    assert "**smoke**" in md and "CPU flags:" in md and "x the time of" in md


def test_bf16_is_skipped_with_a_reason_where_the_cpu_lacks_it(monkeypatch):
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: False)
    run, skipped = device.native_dtypes(("float32", "bfloat16"), "cpu")
    assert run == ["float32"] and "no native bf16" in skipped[0]
    monkeypatch.setattr(device, "cpu_has_bf16", lambda: True)
    assert device.native_dtypes(("float32", "bfloat16"), "cpu") == (["float32", "bfloat16"], [])


def test_held_out_bpb_of_a_uniform_model_is_log2_vocab_per_byte():
    from slmlab.tokenizers import get_tokenizer

    docs = ["once upon a time there was a cat.", "the cat sat on the mat and was happy."]
    tok = get_tokenizer("char", docs)

    class Uniform(torch.nn.Module):  # logits all zero: every token costs ln V
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, idx):
            return torch.zeros(*idx.shape, tok.vocab_size) + 0 * self.w, None

    dev = types.SimpleNamespace(autocast=contextlib.nullcontext)
    n_pred = len(tok.encode_docs(docs)) - 1  # every token but the first is predicted once
    want = n_pred * math.log(tok.vocab_size) / math.log(2) / sum(len(d) for d in docs)
    for block in (4, 7, 200):  # windows that end exactly, one short window at the end, one window
        assert targets.held_out_bpb(Uniform(), tok, docs, block, dev, batch_size=3) == pytest.approx(want)


def test_tinystories_held_out_is_text_no_run_reads(tmp_path, monkeypatch):
    from slmlab import corpora

    stories = [f"Story {i}: the dog ran home." for i in range(400)]
    (tmp_path / "tinystories_sample.txt").write_text("".join(s + "\n<|endoftext|>\n" for s in stories))
    monkeypatch.setenv("SLMLAB_DATA_DIR", str(tmp_path))
    h = corpora.tinystories_held_out(corpus_bytes=500_000_000, n_bytes=2_000)
    run = corpora.load_corpus("tinystories", corpus_bytes=h.run_corpus_bytes)
    seen = set(run.train_docs) | set(run.val_docs)
    assert h.docs and not seen & set(h.docs)
    assert seen | set(h.docs) <= set(stories) and len(seen) + len(h.docs) >= 395  # nothing lost but a tail
    with pytest.raises(corpora.DataMissingError, match="too few"):
        corpora.tinystories_held_out(corpus_bytes=500_000_000, n_bytes=10_000_000)


def test_nanogpt_race_runs_its_train_py_and_times_the_first_val_under_the_bar(tmp_path):
    repo, text = tmp_path / "nanoGPT", tmp_path / "input.txt"
    text.write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n")
    for f in ("model.py", "configurator.py", "config/train_shakespeare_char.py"):
        (repo / f).parent.mkdir(parents=True, exist_ok=True)
        (repo / f).write_text("")
    (repo / "data/shakespeare_char").mkdir(parents=True)
    (repo / "data/shakespeare_char/prepare.py").write_text(  # a stand-in: checks its input is there
        "import os; assert os.path.exists(os.path.join(os.path.dirname(__file__), 'input.txt'))"
    )
    (repo / "train.py").write_text(
        "import sys\nassert '--device=cpu' in sys.argv\n"
        "print('step 0: train loss 4.1000, val loss 4.2000')\n"
        "print('step 250: train loss 1.9000, val loss 1.8800')\n"
        "print('step 500: train loss 1.7000, val loss 1.8000')\n"
    )
    r = targets.race_nanogpt(repo, 1.8857, text, log=lambda s: None)
    assert r["reached"] and r["step_to_bar"] == 250 and r["final_score"] == 1.8
    assert 0 <= r["seconds_to_bar"] <= r["seconds"]
    with pytest.raises(ValueError, match="no train.py"):
        targets.race_nanogpt(tmp_path, 1.8857, text)


def test_tinystories_without_its_text_is_skipped_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("SLMLAB_DATA_DIR", str(tmp_path))  # nothing there, and no download
    monkeypatch.setenv("SLMLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SLMLAB_ALLOW_DOWNLOAD", raising=False)
    ran = []
    (row,) = targets.run_targets(["tinystories"], log=lambda s: None, subprocess_fn=ran.append)
    assert ran == [] and row["runs"] == [] and "tinystories skipped" in row["skipped"][0]


def test_a_case_runs_in_a_child_process_and_its_error_comes_back_as_text():
    """slmlab.child's protocol, under bench and targets: JSON in, JSON out, the error as a line."""
    from slmlab.child import in_child

    assert in_child("builtins:dict", {"steps": 2, "name": "tiny"}) == {"steps": 2, "name": "tiny"}
    error = in_child("builtins:int", {"steps": 2})
    assert isinstance(error, str) and error.startswith("TypeError")
