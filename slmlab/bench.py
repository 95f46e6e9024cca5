"""`python -m slmlab bench`: how fast does the real training step run here?

Holds
- `BENCH_CONFIGS`: named model + batch shapes (`nanogpt-baby`: nanoGPT's CPU
  recipe for Tiny Shakespeare by characters; `student`: the student's 6x6x384
  model at GPT-2's vocab 50257; `student-4096`: the same with a trained BPE of
  4096 tokens; `tiny`: seconds, for tests).
- `run_case`: one measurement. It builds a real `Trainer` on random tokens of
  the right vocabulary (no corpus needed) and times `Trainer.train_step()`, the
  very code a training run executes, so there is no second training loop to drift.
  Every case runs in its own process (slmlab.child's protocol runs `run_case` there),
  so peak memory and torch.compile caches belong to that case alone.
- `cpu_peak_flops` (torch.matmul with the trainer's threads, measured here;
  --quick measures smaller sizes, once each) and
  `gpu_peak_flops` (the datasheet's dense figure, by GPU name): the
  denominators of MFU, model FLOPs utilization = achieved / peak.
- `cpu_flags()`: the CPU's SIMD flags that decide its speed (AVX2, AVX-512, bf16, AMX).
- `main(args)`: the CLI (`--out`, `--configs`, `--steps`, `--quick`, `--targets`,
  `--nanogpt`); writes bench.json (every number) and bench.md (tables) into --out. The
  targets (whole runs to a quality bar beside baselines, ratios from runs of one bench)
  are slmlab.targets'.

A case is written NAME[:DTYPE][:eager|compile]; NAME alone expands to fp32 and
bf16 where it is native (fp16 on GPUs without bf16, none on CPUs without), eager and
compiled. Timings vary with what else runs on the machine: compare cases of one run, not
runs of two days.
It leaves the model and the step to slmlab.model / slmlab.train, and bits per
byte to slmlab.diagnostics.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from .child import in_child
from .config import Config, DataConfig, ModelConfig, TrainConfig
from .data import TokenData
from .device import cpu_has_bf16, default_threads, native_dtypes, pick_device
from .files import atomic_write_text, write_json
from .targets import TARGET_HEAD, parse_targets, run_targets, target_rows
from .tokenizers import token_dtype

__all__ = [
    "BENCH_CONFIGS",
    "GPU_PEAKS",
    "bench_config",
    "random_data",
    "run_case",
    "cpu_peak_flops",
    "gpu_peak_flops",
    "mfu",
    "parse_cases",
    "cpu_flags",
    "main",
]

# name -> (n_layer, n_head, n_embd, block_size, micro_batch_size, vocab_size)
BENCH_CONFIGS: dict[str, tuple[int, int, int, int, int, int]] = {
    "nanogpt-baby": (4, 4, 128, 64, 12, 65),  # nanoGPT train_shakespeare_char "macbook" recipe
    "student": (6, 6, 384, 128, 32, 50257),  # the student's notebook, GPT-2 tokens
    "student-4096": (6, 6, 384, 128, 32, 4096),  # the same model, a trained BPE of 4096
    "tiny": (2, 2, 32, 32, 4, 65),  # seconds: for tests
    "lesson-trial": (1, 4, 128, 64, 16, 769),  # a trial of notebook 12 at batch 16 (bpe-512: 769 ids)
}
DEFAULT_CONFIGS = ("nanogpt-baby", "student", "student-4096")
DEFAULT_STEPS = {"nanogpt-baby": 50, "student": 4, "student-4096": 8, "tiny": 5, "lesson-trial": 60}

# Dense tensor-core peaks from the datasheets, TFLOP/s: (bf16 or fp16, tf32 / fp32).
# Checked in order: the first name that is a substring of the device name wins.
GPU_PEAKS: list[tuple[str, float, float]] = [
    ("H200", 989.0, 494.0),
    ("GH200", 989.0, 494.0),
    ("H100 PCIe", 756.0, 378.0),
    ("H100", 989.0, 494.0),
    ("A100", 312.0, 156.0),
    ("L40S", 362.0, 183.0),
    ("A6000", 155.0, 77.4),
    ("L4", 121.0, 60.0),
    ("A10", 125.0, 62.5),
    ("RTX 4090", 165.0, 82.6),
    ("RTX 3090", 71.0, 35.6),
    ("V100", 125.0, 15.7),
    ("T4", 65.0, 8.1),
]


# ---------------------------------------------------------------------------
# What one case trains


def bench_config(name: str, dtype: str = "float32", compile: bool = False, device: str = "auto") -> Config:
    """The Config a bench case trains: shapes from BENCH_CONFIGS, dropout 0, no evals."""
    if name not in BENCH_CONFIGS:
        raise ValueError(f"bench config {name!r} is unknown; use one of {', '.join(BENCH_CONFIGS)}")
    n_layer, n_head, n_embd, block, batch, vocab = BENCH_CONFIGS[name]
    return Config(
        name=f"bench-{name}",
        model=ModelConfig(
            n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block, vocab_size=vocab, dropout=0.0
        ),
        data=DataConfig(corpus="synthetic", tokenizer="char"),
        train=TrainConfig(
            lr=1e-3,
            min_lr=1e-4,
            warmup_steps=10,
            max_steps=1_000_000,
            micro_batch_size=batch,
            eval_interval=1_000_000,
            dtype=dtype,
            compile=compile,
            device=device,
        ),
    )


class _RandomTokenizer:
    """Stands in for a tokenizer: the bench needs only the vocabulary size."""

    encoding = None

    def __init__(self, vocab_size: int):
        self.name, self.vocab_size, self.eot_id = f"random-{vocab_size}", vocab_size, vocab_size - 1


def random_data(vocab_size: int, n_tokens: int = 200_000, seed: int = 0) -> TokenData:
    """Uniform random tokens: the step costs the same whatever the tokens say."""
    rng = np.random.default_rng(seed)
    dtype = token_dtype(vocab_size)
    train = rng.integers(0, vocab_size, size=n_tokens).astype(dtype)  # (n_tokens,)
    val = rng.integers(0, vocab_size, size=n_tokens // 10).astype(dtype)
    manifest = {
        "corpus": "random",
        "tokenizer": f"random-{vocab_size}",
        "entropy_floor": None,
        "vocab_size": vocab_size,
        "n_val_tokens": len(val),
        "val_bytes": len(val),
    }
    return TokenData(train=train, val=val, tokenizer=_RandomTokenizer(vocab_size), manifest=manifest, dir=Path("."))


# ---------------------------------------------------------------------------
# Peaks and MFU


def mfu(flops_per_token: float, tokens_per_s: float, peak_flops: float | None) -> float | None:
    """Model FLOPs utilization: achieved FLOP/s (6N + attention per token) over the peak."""
    if not peak_flops:
        return None
    return flops_per_token * tokens_per_s / peak_flops


def cpu_peak_flops(
    dtype: str = "float32", threads: int | None = None, seconds: float = 1.0, sizes: tuple[int, ...] = (512, 1024, 2048)
) -> float:
    """Best torch.matmul FLOP/s over square `sizes`, with `threads` threads, for ~`seconds` in all
    (each size runs at least once after a warm-up)."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads or default_threads())
    dt = getattr(torch, dtype)
    best = 0.0
    try:
        for n in sizes:
            a, b = torch.randn(n, n).to(dt), torch.randn(n, n).to(dt)  # (n, n)
            a @ b  # warm up
            k, t0 = 0, time.perf_counter()
            while (el := time.perf_counter() - t0) < seconds / len(sizes) or k < 1:
                a @ b
                k += 1
            best = max(best, 2 * n**3 * k / el)
    finally:
        torch.set_num_threads(old)
    return best


def gpu_peak_flops(name: str, dtype: str) -> float | None:
    """Datasheet dense peak of the GPU called `name` for `dtype`; None when unknown."""
    for key, half, tf32 in GPU_PEAKS:
        if key.lower() in name.lower():
            return (tf32 if dtype == "float32" else half) * 1e12
    return None


# ---------------------------------------------------------------------------
# One case, measured in this process


def _sync(t: torch.Tensor) -> float:
    if t.is_cuda:
        torch.cuda.synchronize()
    return float(t.item())


def _peak_memory_mb(device_type: str) -> float:
    if device_type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    try:
        import resource  # Unix only: imported here, so that bench runs on Windows too
    except ImportError:
        return float("nan")  # Windows: the peak is not measured (bench.md says nan)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / (2**20 if sys.platform == "darwin" else 2**10)


def run_case(name: str, dtype: str, compile: bool, steps: int, device: str = "auto", keep_memory: bool = True) -> dict:
    """Time `steps` optimizer updates of a real Trainer after two untimed ones.

    ms_per_step is the median step (tokens_per_s follows from it), ms_per_step_min
    the fastest: on a shared machine the two bracket what a quiet one does.
    keep_memory=False: glibc's malloc as it comes (SLMLAB_KEEP_MEMORY=0, in this fresh process).
    """
    from . import device as slmlab_device
    from .train import Trainer  # bench sits above train in the import flow

    if not keep_memory:
        os.environ["SLMLAB_KEEP_MEMORY"] = "0"  # read once, by the Trainer's device setup
    cfg = bench_config(name, dtype, compile, device)
    trainer = Trainer(cfg, data=random_data(cfg.model.vocab_size), progress=False)
    t0 = time.perf_counter()
    loss = trainer.train_step().loss  # pays for compile, allocations, lazy init
    _sync(loss)
    first = time.perf_counter() - t0
    _sync(trainer.train_step().loss)
    times, cpu0 = [], time.process_time()
    for _ in range(steps):  # each step timed alone: the median shrugs off a busy moment
        t0 = time.perf_counter()
        loss = trainer.train_step().loss
        _sync(loss)  # free on CPU (it computes synchronously); on GPU one sync per step
        times.append(time.perf_counter() - t0)
    cpu = (time.process_time() - cpu0) / steps  # CPU seconds of all threads: grows little with load
    sec, best = float(np.median(times)), min(times)
    tokens = cfg.tokens_per_step
    return {
        "config": name,
        "dtype": dtype,
        "compile": compile,
        "device": trainer.device.type,
        "device_name": trainer.device.name,
        "threads": trainer.device.threads,
        "n_params": trainer.model.num_params(),
        "vocab_size": cfg.model.vocab_size,
        "tokens_per_step": tokens,
        "flops_per_token": trainer.model.flops_per_token(),
        "steps": steps,
        "ms_per_step": 1000 * sec,
        "ms_per_step_min": 1000 * best,
        "cpu_ms_per_step": 1000 * cpu,
        "tokens_per_s": tokens / sec,
        "tokens_per_s_best": tokens / best,
        "first_step_s": first,
        "compile_s": max(0.0, first - sec) if compile else 0.0,
        "peak_memory_mb": _peak_memory_mb(trainer.device.type),
        "memory_kept": bool(slmlab_device.keep_freed_memory()) if trainer.device.type == "cpu" else None,
        "loss": float(loss.item()),
    }


def malloc_ab(name: str = "lesson-trial", repeats: int = 5, steps: int = 0, log=print) -> dict:
    """The CPU step of case `name` (fp32, eager) with glibc's malloc as it comes and with the
    freed memory kept (slmlab.device.keep_freed_memory), alternating, each in its own process:
    {"glibc_ms": [...], "kept_ms": [...], "ratio": median kept / median glibc, "loss_equal"}."""
    n = steps or DEFAULT_STEPS.get(name, 5)
    out: dict = {"config": name, "steps": n, "glibc_ms": [], "kept_ms": [], "losses": []}
    for _ in range(repeats):
        for keep in (False, True):
            r = _run_in_subprocess(
                {"name": name, "dtype": "float32", "compile": False, "steps": n, "device": "cpu", "keep_memory": keep}
            )
            if "error" in r:
                return {**out, "error": r["error"]}
            out["kept_ms" if r["memory_kept"] else "glibc_ms"].append(r["ms_per_step"])
            out["losses"].append(r["loss"])
    if out["glibc_ms"] and out["kept_ms"]:
        out["ratio"] = float(np.median(out["kept_ms"]) / np.median(out["glibc_ms"]))
    out["loss_equal"] = len(set(out["losses"])) == 1  # the same steps: the allocator changes no number
    log(_malloc_line(out))
    return out


def _malloc_line(m: dict) -> str:
    if "error" in m:
        return f"allocator ({m['config']}): error: {m['error']}"
    if "ratio" not in m:  # not glibc: nothing to compare
        return f"allocator ({m['config']}): the freed memory is not kept here (not glibc's malloc)"
    ms = lambda xs: ", ".join(f"{x:.1f}" for x in xs)  # noqa: E731
    return (
        f"allocator ({m['config']}, float32, {m['steps']} steps a case): glibc's malloc as it comes "
        f"{ms(m['glibc_ms'])} ms/step, freed memory kept {ms(m['kept_ms'])} ms/step: kept / as it comes "
        f"{m['ratio']:.2f}x (medians); the same losses: {m['loss_equal']}"
    )


def _run_in_subprocess(case: dict) -> dict:
    out = in_child("slmlab.bench:run_case", case)
    return out if isinstance(out, dict) else {**case, "error": out}


# ---------------------------------------------------------------------------
# Many cases, the report


def parse_cases(spec: str | None, device: str, quick: bool) -> list[tuple[str, str, bool]]:
    """'student:bfloat16:eager,nanogpt-baby' -> [(config, dtype, compile), ...]."""
    names = (
        [s.strip() for s in spec.split(",") if s.strip() and s.strip() != "none"]
        if spec
        else (["tiny"] if quick else list(DEFAULT_CONFIGS))
    )
    native, _ = native_dtypes(("float32", "bfloat16"), device)  # bf16 only where it is native
    cases = []
    for item in names:
        name, *rest = item.split(":")
        bench_config(name)  # refuses unknown names now, not in a subprocess
        dtypes = [r for r in rest if r in ("float32", "bfloat16", "float16")] or native
        modes = [r == "compile" for r in rest if r in ("eager", "compile")]
        modes = modes or ([False] if quick else [False, True])
        cases += [(name, d, c) for d in dtypes for c in modes]
    return cases


_SPEED_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx512_fp16")


def cpu_flags() -> str:
    """The CPU model and the SIMD flags that decide its fp32 / bf16 speed, from /proc/cpuinfo
    ('n/a' elsewhere): 'Intel(R) Xeon(R) ...: avx2 fma avx512f avx512_bf16 amx_bf16'."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "n/a"
    model = next(
        (ln.split(":", 1)[1].strip() for ln in info.splitlines() if ln.startswith("model name")), "unknown CPU"
    )
    flags = next((ln.split(":", 1)[1].split() for ln in info.splitlines() if ln.startswith("flags")), [])
    have = [f for f in _SPEED_FLAGS if f in flags]
    return f"{model}: {' '.join(have) or 'none of ' + ' '.join(_SPEED_FLAGS)}"


def _peaks(device: str, quick: bool) -> dict:
    if device == "cuda":
        name = torch.cuda.get_device_name()
        return {d: gpu_peak_flops(name, d) for d in ("float32", "bfloat16", "float16")}
    kw = {"seconds": 0.0, "sizes": (256, 512)} if quick else {"seconds": 1.5}
    return {"float32": cpu_peak_flops("float32", **kw), "bfloat16": cpu_peak_flops("bfloat16", **kw), "float16": None}


def run(cases: list[tuple[str, str, bool]], steps: int, device: str, quick: bool, log=print) -> dict:
    """Measure peaks, then every case in its own process; return the bench.json dict.
    With no cases, no peaks are measured (a targets-only bench)."""
    peaks = _peaks(device, quick) if cases else {}
    results = []
    for name, dtype, comp in cases:
        n = steps or (2 if quick else DEFAULT_STEPS.get(name, 5))
        r = _run_in_subprocess({"name": name, "dtype": dtype, "compile": comp, "steps": n, "device": device})
        if "error" not in r:
            r["peak_flops"] = peaks.get(dtype)
            r["mfu"] = mfu(r["flops_per_token"], r["tokens_per_s"], r["peak_flops"])
        results.append(r)
        log(_row(r))
    malloc = {}
    if device == "cpu" and cases:  # the allocator's share of a small model's CPU step, side by side
        malloc = malloc_ab("tiny", repeats=1, steps=2, log=log) if quick else malloc_ab(log=log)
    return {
        "torch": torch.__version__,
        "device": device,
        "threads": default_threads(),
        "cpu_bf16_native": cpu_has_bf16(),
        "peak_flops": peaks,
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
        "load_avg": os.getloadavg(),
        "results": results,
        **({"malloc": malloc} if malloc else {}),
    }


_HEAD = (
    "| config | vocab | dtype | compile | ms/step (median) | ms/step (best) | CPU ms/step "
    "| tokens/s | MFU | compile s | peak MB |\n"
    "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
)


def _row(r: dict) -> str:
    if "error" in r:
        return f"| {r['name']} | | {r['dtype']} | {r['compile']} | error: {r['error']} | | | | | | |"
    m = f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "n/a"
    c = f"{r['compile_s']:.1f}" if r["compile"] else "-"
    return (
        f"| {r['config']} | {r['vocab_size']} | {r['dtype']} | {'on' if r['compile'] else 'off'} "
        f"| {r['ms_per_step']:.1f} | {r['ms_per_step_min']:.1f} | {r['cpu_ms_per_step']:.1f} "
        f"| {r['tokens_per_s']:,.0f} | {m} | {c} "
        f"| {r['peak_memory_mb']:,.0f} |"
    )


def to_markdown(report: dict) -> str:
    """bench.md: the peaks, then one table row per case."""
    peaks = ", ".join(f"{k} {v / 1e9:,.0f} GFLOP/s" for k, v in report["peak_flops"].items() if v)
    lines = [
        f"# slmlab bench ({report['time']})",
        "",
        f"device {report['device']}, {report['threads']} threads, torch {report['torch']}, "
        f"native CPU bf16: {report['cpu_bf16_native']}, load average at the end "
        f"{report['load_avg'][0]:.2f}",
        f"peaks (MFU denominators): {peaks}",
        "",
        "compile s = first step minus a steady step; CPU ms = CPU time of all the "
        "case's threads per step (it grows little when other programs share the cores, "
        "wall time does); peak MB = peak RSS of the case's process on CPU, "
        "torch.cuda.max_memory_allocated on GPU.",
        "",
        _HEAD,
    ]
    lines += [_row(r) for r in report["results"]]
    if report.get("malloc"):
        lines += ["", _malloc_line(report["malloc"])]
    if report.get("targets"):
        lines += [
            "",
            "## Targets (whole runs, ours beside baselines, in this bench run)",
            "",
            f"CPU flags: {report.get('cpu_flags', 'n/a')}",
            "",
            "startup s = from launching the run's process to its first update (Python, "
            "imports, data, model); seconds = the training loop, evaluations included; "
            "'reached at' = the first evaluation at or below the bar, in seconds from launch.",
            "",
        ]
        for row in report["targets"]:
            lines += [f"**{row['target']}**: {row['note']}", "", TARGET_HEAD, target_rows(row), ""]
    return "\n".join(lines) + "\n"


def main(args) -> int:
    """CLI: python -m slmlab bench [--out DIR] [--configs A,B:bfloat16:eager|none] [--steps N]
    [--quick] [--targets speedrun,tinystories|none]."""
    device = pick_device(os.environ.get("SLMLAB_DEVICE", "auto"))
    cases = parse_cases(getattr(args, "configs", None), device, args.quick)
    print(f"{len(cases)} case(s) on {device}\n{_HEAD}", flush=True)
    targets = parse_targets(getattr(args, "targets", None), args.quick)
    nanogpt = getattr(args, "nanogpt", None) or os.environ.get("SLMLAB_NANOGPT")
    log = lambda s: print(s, flush=True)
    report = run(cases, args.steps or 0, device, args.quick, log=log)
    report["cpu_flags"] = cpu_flags()
    if targets:
        log(f"\n{len(targets)} target(s): {', '.join(targets)}\n{TARGET_HEAD}")
        report["targets"] = run_targets(targets, nanogpt=nanogpt, log=log)
        report["load_avg"] = os.getloadavg()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "bench.json", report)
    atomic_write_text(out / "bench.md", to_markdown(report))
    print(f"wrote {out / 'bench.json'} and {out / 'bench.md'}")
    rows = report["results"] + [r for t in report.get("targets", []) for r in t["runs"]]
    return 0 if all("error" not in r for r in rows) else 1
