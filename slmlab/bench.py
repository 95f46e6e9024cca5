"""`python -m slmlab bench`: how fast does the real training step run here?

Holds
- `BENCH_CONFIGS`: named model + batch shapes (`nanogpt-baby`: nanoGPT's CPU
  recipe for Tiny Shakespeare by characters; `student`: the student's 6x6x384
  model at GPT-2's vocab 50257; `student-4096`: the same with a trained BPE of
  4096 tokens; `tiny`: seconds, for tests).
- `run_case`: one measurement. It builds a real `Trainer` on random tokens of
  the right vocabulary (no corpus needed) and times `Trainer.train_step()`, the
  very code a training run executes, so there is no second training loop to drift.
  Every case runs in its own process (`measure(case)` is what that process
  runs), so peak memory and torch.compile caches belong to that case alone.
- `cpu_peak_flops` (torch.matmul with the trainer's threads, measured here;
  --quick measures smaller sizes, once each) and
  `gpu_peak_flops` (the datasheet's dense figure, by GPU name): the
  denominators of MFU, model FLOPs utilization = achieved / peak.
- `TARGETS` and `run_targets`: whole training runs to a quality bar, each
  beside its baseline in the same bench run (`speedrun`: the speedrun preset vs
  nanoGPT's CPU recipe for Tiny Shakespeare, both through our Trainer, time to
  val <= 1.8857; `tinystories`: the tinystories-cpu preset vs nanoGPT's CPU-sized
  model on GPT-2 tokens, bits per byte after 10 minutes; `smoke`: seconds, for
  tests). The ratios in the report come from runs of one bench, side by side.
- `main(args)`: the CLI (`--out`, `--configs`, `--steps`, `--quick`,
  `--targets`); writes bench.json (every number) and bench.md (tables) into --out.

A case is written NAME[:DTYPE][:eager|compile]; NAME alone expands to fp32 and
bf16 (fp16 on GPUs without bf16), eager and compiled. Timings vary with what
else runs on the machine: compare cases of one run, not runs of two days.
It leaves the model and the step to slmlab.model / slmlab.train, and bits per
byte to slmlab.diagnostics.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .config import Config, DataConfig, ModelConfig, TrainConfig
from .data import TokenData
from .device import cpu_has_bf16, default_threads, pick_device
from .files import atomic_write_text, write_json
from .tokenizers import token_dtype

__all__ = ["BENCH_CONFIGS", "GPU_PEAKS", "TARGETS", "bench_config", "random_data", "run_case",
           "cpu_peak_flops", "gpu_peak_flops", "mfu", "parse_cases", "target_configs",
           "run_target_case", "run_targets", "main"]

# name -> (n_layer, n_head, n_embd, block_size, micro_batch_size, vocab_size)
BENCH_CONFIGS: dict[str, tuple[int, int, int, int, int, int]] = {
    "nanogpt-baby": (4, 4, 128, 64, 12, 65),  # nanoGPT train_shakespeare_char "macbook" recipe
    "student": (6, 6, 384, 128, 32, 50257),  # the student's notebook, GPT-2 tokens
    "student-4096": (6, 6, 384, 128, 32, 4096),  # the same model, a trained BPE of 4096
    "tiny": (2, 2, 32, 32, 4, 65),  # seconds: for tests
}
DEFAULT_CONFIGS = ("nanogpt-baby", "student", "student-4096")
DEFAULT_STEPS = {"nanogpt-baby": 50, "student": 4, "student-4096": 8, "tiny": 5}

# Dense tensor-core peaks from the datasheets, TFLOP/s: (bf16 or fp16, tf32 / fp32).
# Checked in order: the first name that is a substring of the device name wins.
GPU_PEAKS: list[tuple[str, float, float]] = [
    ("H200", 989.0, 494.0), ("GH200", 989.0, 494.0), ("H100 PCIe", 756.0, 378.0),
    ("H100", 989.0, 494.0), ("A100", 312.0, 156.0), ("L40S", 362.0, 183.0),
    ("A6000", 155.0, 77.4), ("L4", 121.0, 60.0), ("A10", 125.0, 62.5),
    ("RTX 4090", 165.0, 82.6), ("RTX 3090", 71.0, 35.6), ("V100", 125.0, 15.7),
    ("T4", 65.0, 8.1),
]


# ---------------------------------------------------------------------------
# What one case trains


def bench_config(name: str, dtype: str = "float32", compile: bool = False,
                 device: str = "auto") -> Config:
    """The Config a bench case trains: shapes from BENCH_CONFIGS, dropout 0, no evals."""
    if name not in BENCH_CONFIGS:
        raise ValueError(f"bench config {name!r} is unknown; use one of {', '.join(BENCH_CONFIGS)}")
    n_layer, n_head, n_embd, block, batch, vocab = BENCH_CONFIGS[name]
    return Config(
        name=f"bench-{name}",
        model=ModelConfig(n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block,
                          vocab_size=vocab, dropout=0.0),
        data=DataConfig(corpus="synthetic", tokenizer="char"),
        train=TrainConfig(lr=1e-3, min_lr=1e-4, warmup_steps=10, max_steps=1_000_000,
                          micro_batch_size=batch, eval_interval=1_000_000, dtype=dtype,
                          compile=compile, device=device),
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
    manifest = {"corpus": "random", "tokenizer": f"random-{vocab_size}", "entropy_floor": None,
                "vocab_size": vocab_size, "n_val_tokens": len(val), "val_bytes": len(val)}
    return TokenData(train=train, val=val, tokenizer=_RandomTokenizer(vocab_size),
                     manifest=manifest, dir=Path("."))


# ---------------------------------------------------------------------------
# Peaks and MFU


def mfu(flops_per_token: float, tokens_per_s: float, peak_flops: float | None) -> float | None:
    """Model FLOPs utilization: achieved FLOP/s (6N + attention per token) over the peak."""
    if not peak_flops:
        return None
    return flops_per_token * tokens_per_s / peak_flops


def cpu_peak_flops(dtype: str = "float32", threads: int | None = None, seconds: float = 1.0,
                   sizes: tuple[int, ...] = (512, 1024, 2048)) -> float:
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
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return rss / (2**20 if sys.platform == "darwin" else 2**10)


def run_case(name: str, dtype: str, compile: bool, steps: int, device: str = "auto") -> dict:
    """Time `steps` optimizer updates of a real Trainer after two untimed ones.

    ms_per_step is the median step (tokens_per_s follows from it), ms_per_step_min
    the fastest: on a shared machine the two bracket what a quiet one does.
    """
    from .train import Trainer  # bench sits above train in the import flow

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
    return {"config": name, "dtype": dtype, "compile": compile, "device": trainer.device.type,
            "device_name": trainer.device.name, "threads": trainer.device.threads,
            "n_params": trainer.model.num_params(), "vocab_size": cfg.model.vocab_size,
            "tokens_per_step": tokens, "flops_per_token": trainer.model.flops_per_token(),
            "steps": steps, "ms_per_step": 1000 * sec, "ms_per_step_min": 1000 * best,
            "cpu_ms_per_step": 1000 * cpu,
            "tokens_per_s": tokens / sec, "tokens_per_s_best": tokens / best,
            "first_step_s": first, "compile_s": max(0.0, first - sec) if compile else 0.0,
            "peak_memory_mb": _peak_memory_mb(trainer.device.type), "loss": float(loss.item())}


def measure(case: dict) -> dict:
    """One case dict (a speed case, or kind='target') measured in this process."""
    case = dict(case)
    fn = run_target_case if case.pop("kind", "speed") == "target" else run_case
    return fn(**case)


def _child() -> None:
    """Entry point of a case's own process: JSON case on stdin, JSON result on stdout."""
    print("BENCH_RESULT " + json.dumps(measure(json.loads(sys.stdin.read()))), flush=True)


def _run_in_subprocess(case: dict) -> dict:
    cmd = [sys.executable, "-c", "from slmlab.bench import _child; _child()"]
    proc = subprocess.run(cmd, input=json.dumps(case), capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            return json.loads(line.removeprefix("BENCH_RESULT "))
    err = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {**case, "error": err}


# ---------------------------------------------------------------------------
# Targets: whole runs to a quality bar, each beside its baseline in one bench


@dataclass(frozen=True)
class Target:
    """Ours vs a baseline, judged by `metric` ("val_loss" nats or "bpb") against `bar`."""

    ours: str  # a preset name
    metric: str  # val_loss | bpb
    bar: float  # the quality to reach (lower is better)
    seconds: float | None  # a wall-time limit per run (None: run to max_steps)
    note: str


TARGETS: dict[str, Target] = {
    "speedrun": Target("speedrun", "val_loss", 1.8857, None,
                       "Tiny Shakespeare chars: time to val <= 1.8857 (nanoGPT's 2000-step "
                       "figure); baseline nanoGPT's CPU recipe, fp32, in our Trainer"),
    "tinystories": Target("tinystories-cpu", "bpb", 1.09, 600.0,
                          "TinyStories: bits per byte after 10 minutes; baseline nanoGPT's "
                          "CPU-sized model on GPT-2 tokens"),
    "smoke": Target("smoke", "val_loss", 10.0, None, "seconds: for tests"),
}


def target_configs(name: str) -> tuple[Config, Config]:
    """(ours, baseline) for target `name`; both evaluate alike so their numbers compare."""
    from .config import preset

    if name not in TARGETS:
        raise ValueError(f"bench target {name!r} is unknown; use one of {', '.join(TARGETS)}")
    ours = preset(TARGETS[name].ours)
    if name == "speedrun":  # nanoGPT config/train_shakespeare_char.py with its CPU overrides
        base = ours.replace(n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.0,
                            lr=1e-3, min_lr=1e-4, warmup_steps=100, max_steps=2000,
                            micro_batch_size=12, beta2=0.99, dtype="float32")
    elif name == "tinystories":  # nanoGPT-sized for a CPU, GPT-2's tokenizer, fp32
        base = ours.replace(n_layer=4, n_head=4, n_embd=128, block_size=128, dropout=0.0,
                            tokenizer="gpt2", lr=1e-3, min_lr=1e-4, warmup_steps=100,
                            micro_batch_size=16, dtype="float32")
    else:
        base = ours.replace(lr=ours.train.lr / 3, min_lr=ours.train.min_lr / 3)
    return ours.replace(name=f"{name}: ours"), base.replace(name=f"{name}: baseline")


def run_target_case(config: dict, metric: str, bar: float, seconds: float | None) -> dict:
    """Train `config` (wall-time limit `seconds`); when did it first reach `bar`, where did it end?"""
    from .callbacks import TimeLimit  # bench sits above train in the import flow
    from .diagnostics import bits_per_byte
    from .train import train

    cfg = Config.from_dict(config)
    hist = train(cfg, callbacks=[TimeLimit(seconds)] if seconds else [], progress=False)
    n_tokens, n_bytes = hist.meta["n_val_tokens"], hist.meta["val_bytes"]

    def score(e: dict) -> float:
        return e["val_loss"] if metric == "val_loss" else bits_per_byte(e["val_loss"], n_tokens, n_bytes)

    hit = next((e for e in hist.evals if score(e) <= bar), None)
    last = hist.evals[-1]
    return {"name": cfg.name, "metric": metric, "bar": bar, "steps": hist.steps[-1]["step"],
            "seconds": hist.meta["seconds"], "final_val_loss": last["val_loss"],
            "final_train_loss": last["train_loss"], "final_score": score(last),
            "reached": hit is not None, "seconds_to_bar": hit["seconds"] if hit else None,
            "step_to_bar": hit["step"] if hit else None, "dtype": hist.meta["dtype"],
            "threads": hist.meta["threads"], "n_params": hist.meta["n_params"],
            "evals": [[e["step"], round(e["seconds"], 2), round(score(e), 4)] for e in hist.evals]}


def run_targets(names: list[str], log=print) -> list[dict]:
    """Each target's two runs, one after the other, each in its own process."""
    out = []
    for name in names:
        t = TARGETS[name]
        ours, base = target_configs(name)
        rows = {}
        for role, cfg in (("ours", ours), ("baseline", base)):
            rows[role] = _run_in_subprocess({"kind": "target", "config": cfg.to_dict(),
                                             "metric": t.metric, "bar": t.bar, "seconds": t.seconds})
        row = {"target": name, "note": t.note, **rows}
        o, b = rows["ours"], rows["baseline"]
        if "error" not in o and "error" not in b:
            if o["reached"] and b["reached"]:
                row["speedup"] = b["seconds_to_bar"] / o["seconds_to_bar"]
            elif o["reached"]:  # the baseline never got there: its whole run is a lower bound
                row["speedup_at_least"] = b["seconds"] / o["seconds_to_bar"]
            row["score_ratio"] = o["final_score"] / b["final_score"]
        out.append(row)
        log(_target_rows(row))
    return out


_THEAD = ("| target | run | steps | seconds | final (metric) | bar | reached at s (step) |\n"
          "| --- | --- | ---: | ---: | ---: | ---: | ---: |")


def _target_rows(row: dict) -> str:
    lines = []
    for role in ("ours", "baseline"):
        r = row[role]
        if "error" in r:
            lines.append(f"| {row['target']} | {role} | error: {r['error']} | | | | |")
            continue
        at = f"{r['seconds_to_bar']:.1f} ({r['step_to_bar']})" if r["reached"] else "not reached"
        lines.append(f"| {row['target']} | {role} ({r['dtype']}) | {r['steps']} | {r['seconds']:.1f} "
                     f"| {r['final_score']:.4f} ({r['metric']}) | {r['bar']} | {at} |")
    ratios = []
    if "speedup" in row:
        ratios.append(f"time to the bar: ours {row['speedup']:.2f}x faster")
    if "speedup_at_least" in row:
        ratios.append(f"time to the bar: ours over {row['speedup_at_least']:.2f}x faster (the baseline "
                      f"did not reach it in its whole run)")
    if "score_ratio" in row:
        ratios.append(f"final {row['ours']['metric']}: ours / baseline = {row['score_ratio']:.3f}")
    return "\n".join(lines) + ("\n\n" + "; ".join(ratios) if ratios else "")


# ---------------------------------------------------------------------------
# Many cases, the report


def parse_cases(spec: str | None, device: str, quick: bool) -> list[tuple[str, str, bool]]:
    """'student:bfloat16:eager,nanogpt-baby' -> [(config, dtype, compile), ...]."""
    names = [s.strip() for s in spec.split(",") if s.strip() and s.strip() != "none"] if spec else (
        ["tiny"] if quick else list(DEFAULT_CONFIGS))
    half = "bfloat16" if device != "cuda" or torch.cuda.is_bf16_supported() else "float16"
    cases = []
    for item in names:
        name, *rest = item.split(":")
        bench_config(name)  # refuses unknown names now, not in a subprocess
        dtypes = [r for r in rest if r in ("float32", "bfloat16", "float16")] or ["float32", half]
        modes = [r == "compile" for r in rest if r in ("eager", "compile")]
        modes = modes or ([False] if quick else [False, True])
        cases += [(name, d, c) for d in dtypes for c in modes]
    return cases


def _peaks(device: str, quick: bool) -> dict:
    if device == "cuda":
        name = torch.cuda.get_device_name()
        return {d: gpu_peak_flops(name, d) for d in ("float32", "bfloat16", "float16")}
    kw = {"seconds": 0.0, "sizes": (256, 512)} if quick else {"seconds": 1.5}
    return {"float32": cpu_peak_flops("float32", **kw),
            "bfloat16": cpu_peak_flops("bfloat16", **kw), "float16": None}


def run(cases: list[tuple[str, str, bool]], steps: int, device: str, quick: bool,
        log=print) -> dict:
    """Measure peaks, then every case in its own process; return the bench.json dict.
    With no cases, no peaks are measured (a targets-only bench)."""
    peaks = _peaks(device, quick) if cases else {}
    results = []
    for name, dtype, comp in cases:
        n = steps or (2 if quick else DEFAULT_STEPS.get(name, 5))
        r = _run_in_subprocess({"name": name, "dtype": dtype, "compile": comp, "steps": n,
                                "device": device})
        if "error" not in r:
            r["peak_flops"] = peaks.get(dtype)
            r["mfu"] = mfu(r["flops_per_token"], r["tokens_per_s"], r["peak_flops"])
        results.append(r)
        log(_row(r))
    return {"torch": torch.__version__, "device": device, "threads": default_threads(),
            "cpu_bf16_native": cpu_has_bf16(), "peak_flops": peaks,
            "time": time.strftime("%Y-%m-%d %H:%M:%S"), "load_avg": os.getloadavg(),
            "results": results}


_HEAD = ("| config | vocab | dtype | compile | ms/step (median) | ms/step (best) | CPU ms/step "
         "| tokens/s | MFU | compile s | peak MB |\n"
         "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")


def _row(r: dict) -> str:
    if "error" in r:
        return f"| {r['name']} | | {r['dtype']} | {r['compile']} | error: {r['error']} | | | | | | |"
    m = f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "n/a"
    c = f"{r['compile_s']:.1f}" if r["compile"] else "-"
    return (f"| {r['config']} | {r['vocab_size']} | {r['dtype']} | {'on' if r['compile'] else 'off'} "
            f"| {r['ms_per_step']:.1f} | {r['ms_per_step_min']:.1f} | {r['cpu_ms_per_step']:.1f} "
            f"| {r['tokens_per_s']:,.0f} | {m} | {c} "
            f"| {r['peak_memory_mb']:,.0f} |")


def to_markdown(report: dict) -> str:
    """bench.md: the peaks, then one table row per case."""
    peaks = ", ".join(f"{k} {v / 1e9:,.0f} GFLOP/s" for k, v in report["peak_flops"].items() if v)
    lines = [f"# slmlab bench ({report['time']})", "",
             f"device {report['device']}, {report['threads']} threads, torch {report['torch']}, "
             f"native CPU bf16: {report['cpu_bf16_native']}, load average at the end "
             f"{report['load_avg'][0]:.2f}", f"peaks (MFU denominators): {peaks}", "",
             "compile s = first step minus a steady step; CPU ms = CPU time of all the "
             "case's threads per step (it grows little when other programs share the cores, "
             "wall time does); peak MB = peak RSS of the case's process on CPU, "
             "torch.cuda.max_memory_allocated on GPU.", "", _HEAD]
    lines += [_row(r) for r in report["results"]]
    if report.get("targets"):
        lines += ["", "## Targets (whole runs, ours beside a baseline, in this bench run)", "",
                  "seconds = wall time of the run, evaluations included; 'reached at' = the "
                  "first evaluation at or below the bar.", ""]
        for row in report["targets"]:
            lines += [f"**{row['target']}**: {row['note']}", "", _THEAD, _target_rows(row), ""]
    return "\n".join(lines) + "\n"


def main(args) -> int:
    """CLI: python -m slmlab bench [--out DIR] [--configs A,B:bfloat16:eager|none] [--steps N]
    [--quick] [--targets speedrun,tinystories|none]."""
    device = pick_device(os.environ.get("SLMLAB_DEVICE", "auto"))
    cases = parse_cases(getattr(args, "configs", None), device, args.quick)
    print(f"{len(cases)} case(s) on {device}\n{_HEAD}", flush=True)
    targets = parse_targets(getattr(args, "targets", None), args.quick)
    log = lambda s: print(s, flush=True)
    report = run(cases, args.steps or 0, device, args.quick, log=log)
    if targets:
        log(f"\n{len(targets)} target(s): {', '.join(targets)}\n{_THEAD}")
        report["targets"] = run_targets(targets, log=log)
        report["load_avg"] = os.getloadavg()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "bench.json", report)
    atomic_write_text(out / "bench.md", to_markdown(report))
    print(f"wrote {out / 'bench.json'} and {out / 'bench.md'}")
    rows = report["results"] + [r[k] for r in report.get("targets", []) for k in ("ours", "baseline")]
    return 0 if all("error" not in r for r in rows) else 1


def parse_targets(spec: str | None, quick: bool) -> list[str]:
    """'speedrun,tinystories' -> names; None -> speedrun (none with --quick); 'none' -> []."""
    if spec is None:
        return [] if quick else ["speedrun"]
    names = [s.strip() for s in spec.split(",") if s.strip() and s.strip() != "none"]
    for n in names:
        if n not in TARGETS:
            raise ValueError(f"bench target {n!r} is unknown; use one of {', '.join(TARGETS)} or none")
    return names
