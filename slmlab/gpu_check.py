"""`python -m slmlab gpu-check`: what the CPU tests only mock, run once on a real GPU, in one report.

On CUDA it checks, in this order (each a row of the report, ok / FAIL / skipped, with its numbers):

1. **dtype choice**: `dtype=auto` picks bf16 at compute capability 8.0 and up, fp16 with a live
   GradScaler below (slmlab.device.pick_dtype beside what the card says);
2. **the card** (slmlab.gpu_study.check_card, reused as it is): a bf16 matmul's FLOP/s beside the
   datasheet, the student's model in bf16 eager and compiled, fp16 with its GradScaler, fp32
   (TF32): tokens/s and MFU of each, and whether fp16 tracks bf16 over 20 updates;
3. **fp16 forced with an overflow**: fp16 on whatever card (a bf16 one included), the loss scale
   pushed until the gradients overflow: that update must be skipped (weights and AdamW's step
   count untouched, the scale halved), and the next ones train;
4. **fused AdamW**: the Trainer's optimizer is the fused kernel, and it trains like the foreach
   one (same seed, same batches: the losses and weights agree to rounding);
5. **checkpoint and exact resume**: N updates straight, beside N/2, a checkpoint written and
   read back (weights_only), then N/2 more in a new Trainer: the losses and weights must agree
   as closely as two straight runs agree with each other (bit for bit on a CPU);
6. **one-process torchrun**: `torchrun --nproc_per_node=1` joins an nccl process group (gloo on a
   CPU), all-reduces, trains a DDP-wrapped model one update, and `-m slmlab train` runs under it;
7. **the presets**: tokens/s and MFU of the `student` and `gpu` presets (their own dtype and
   compile setting, uniform random tokens: a step costs the same whatever the tokens say)
   against the card's datasheet peak (slmlab.bench.GPU_PEAKS).

Without CUDA it runs what a CPU can at a tiny size (2, 4, 5 and 6, and 3 with fp32 and a
GradScaler on the CPU) and says what it skipped and why. It writes DIR/gpu_check.json and
DIR/gpu_check.md (default DIR: gpu-check), and prints one line per check.

It needs only torch, numpy, tiktoken and matplotlib (no tqdm, ipywidgets, Jupyter), no network
(the tokens are random, no corpus or tokenizer file is read), and it runs from a source tree:
`PYTHONPATH=path/to/slmlab-clone python -m slmlab gpu-check`. `--budget` (default 270 s) keeps
it under 5 minutes: a check that would not fit in what is left is skipped, and the report says so.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from . import gpu_study
from .bench import gpu_peak_flops, random_data
from .checkpoint import load_checkpoint, restore, trainer_state
from .config import preset
from .device import cuda_has_bf16, pick_dtype
from .files import atomic_torch_save, atomic_write_text
from .tokenizers import GPT2_VOCAB
from .train import Trainer

__all__ = ["CHECKS", "run_checks", "report_markdown", "main", "run", "add_arguments"]

OK, FAIL, SKIP = "ok", "FAIL", "skipped"
GPU_VOCAB = 4353  # the gpu preset's BPE of 4,096 merges: 256 bytes + 4,096 + EOT
# Seconds each check is expected to take on one modern GPU (the card check from gpu_study's H200
# run: 5 cases, one compiled, and 2 x 20 updates), used to skip what would not fit the budget.
ESTIMATE_S = {
    "dtype": 1,
    "card": 110,
    "fp16_overflow": 10,
    "fused_adamw": 10,
    "resume": 15,
    "torchrun": 45,
    "presets": 70,
}


def _cuda() -> bool:
    return torch.cuda.is_available()


def _device() -> str:
    return "cuda" if _cuda() else "cpu"


def _small(seed: int = 1337, steps: int = 100, **changes):
    """A small model on this machine's device for the correctness checks: gpu_study's tiny recipe,
    no dropout, fp32 on a CPU and the device's own choice (dtype=auto) on a GPU."""
    changes = {
        "dropout": 0.0,
        "device": _device(),
        "dtype": "auto" if _cuda() else "float32",
        "grad_clip": 1.0,
        "lr": 1e-3,
        "min_lr": 1e-4,
        "warmup_steps": 2,
        **changes,
    }
    return gpu_study.recipe_config(seed, steps, tiny=True, **changes)


def _params(tr: Trainer) -> list[torch.Tensor]:
    return [p.detach().float().cpu().clone() for p in tr.model.parameters()]


def _max_diff(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a, b, strict=True))


def _losses(tr: Trainer, n: int) -> list[float]:
    return [float(tr.train_step().loss) for _ in range(n)]


# ---------------------------------------------------------------------------
# The checks: each returns {"status", "detail", ...numbers}


def check_dtype(ctx: dict) -> dict:
    """dtype=auto on this card beside its compute capability."""
    if not _cuda():
        return {
            "status": SKIP,
            "detail": "no CUDA GPU: the CUDA dtype choice is tested with the card mocked "
            f"(tests/test_device.py); on this CPU dtype=auto is {pick_dtype('cpu')}",
        }
    cap = tuple(torch.cuda.get_device_capability())
    auto = pick_dtype("cuda")
    want = torch.bfloat16 if cap >= (8, 0) else torch.float16
    ok = auto == want and cuda_has_bf16() == (cap >= (8, 0))
    scaler = "with a GradScaler" if auto == torch.float16 else "no loss scaling"
    return {
        "status": OK if ok else FAIL,
        "capability": list(cap),
        "auto_dtype": str(auto),
        "detail": f"compute capability {cap[0]}.{cap[1]}: dtype=auto is {auto} ({scaler})"
        + ("" if ok else f"; expected {want}"),
    }


def check_card(ctx: dict) -> dict:
    """gpu_study's card check as it is (tiny on a CPU)."""
    card = gpu_study.check_card(ctx["recipe_data"], tiny=not _cuda())
    ctx["card"] = card
    errors = [s for s in card["speed"] if "error" in s]
    cpu_fp16 = [s for s in errors if not _cuda() and s["dtype"] == "float16"]  # refused on a CPU, by design
    bad = [s for s in errors if s not in cpu_fp16]
    fp = card.get("fp16_vs_bf16", {})
    tracks = None
    if "losses" in fp.get("float16", {}) and "losses" in fp.get("bfloat16", {}):
        tracks = max(abs(a - b) for a, b in zip(fp["float16"]["losses"], fp["bfloat16"]["losses"], strict=True))
    rows = [
        f"{s['dtype']}{' compiled' if s['compile'] else ''} ({s['case']}): "
        + (
            f"{s['tokens_per_s']:,.0f} tokens/s" + (f", MFU {s['mfu']:.1%}" if s.get("mfu") else "")
            if "tokens_per_s" in s
            else "skipped, fp16 is refused on a CPU"
            if s in cpu_fp16
            else "FAILED: " + s["error"][:120]
        )
        for s in card["speed"]
    ]
    if not _cuda():
        rows.insert(0, "on the CPU at a tiny size (no compile, no matmul peak: GPU only)")
    detail = "; ".join(rows)
    if tracks is not None:
        detail += f"; fp16 (GradScaler) tracks bf16 within {tracks:.3f} nats"
    elif not _cuda():
        detail += "; fp16 beside bf16 skipped (fp16 is refused on a CPU)"
    return {"status": FAIL if bad else OK, "detail": detail, "card": card, "fp16_vs_bf16_max_diff": tracks}


def check_fp16_overflow(ctx: dict) -> dict:
    """fp16 forced (on any card), the scale pushed up until the gradients overflow: one skipped update."""
    if _cuda():
        tr = Trainer(_small(dtype="float16"), data=ctx["small_data"], progress=False)
        big, how = 2.0**64, "fp16 autocast forced"
    else:  # a CPU refuses fp16: the same GradScaler logic on fp32, with a scale fp32 cannot hold
        tr = Trainer(_small(), data=ctx["small_data"], progress=False)
        tr.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
        big, how = 2.0**127, "no CUDA: fp32 with a CPU GradScaler"
    assert tr.scaler.is_enabled()
    before = _losses(tr, 2)
    opt_steps = _adam_steps(tr)
    weights = _params(tr)
    tr.scaler.update(new_scale=big)  # the next backward overflows
    overflow_loss = float(tr.train_step().loss)
    skipped = _max_diff(weights, _params(tr)) == 0.0 and _adam_steps(tr) == opt_steps
    scale_after = float(tr.scaler.get_scale())
    halved = scale_after == big * tr.scaler.get_backoff_factor()
    tr.scaler.update(new_scale=2.0**16)
    after = _losses(tr, 3)
    trains = all(math.isfinite(x) for x in after) and _max_diff(weights, _params(tr)) > 0
    ok = skipped and halved and trains
    return {
        "status": OK if ok else FAIL,
        "how": how,
        "losses_before": before,
        "overflow_loss": overflow_loss,
        "scale_pushed_to": big,
        "scale_after": scale_after,
        "update_skipped": skipped,
        "losses_after": after,
        "detail": f"{how}: scale {big:.3g} -> the update was {'skipped' if skipped else 'NOT skipped'}, "
        f"scale {'halved' if halved else 'not halved'} to {scale_after:.3g}; "
        f"{'training went on' if trains else 'training did not go on'} "
        f"(losses {', '.join(f'{x:.3f}' for x in after)})",
    }


def _adam_steps(tr: Trainer) -> float:
    steps = [s["step"] for s in tr.optimizer.state.values() if "step" in s]
    return float(steps[0]) if steps else 0.0


def check_fused_adamw(ctx: dict) -> dict:
    """The Trainer's fused AdamW beside the foreach kernel, same seed and batches."""
    fused = Trainer(_small(), data=ctx["small_data"], progress=False)
    is_fused = bool(fused.optimizer.defaults.get("fused"))
    a = _losses(fused, 4)
    wa = _params(fused)
    other = Trainer(_small(), data=ctx["small_data"], progress=False)
    groups = [{"params": g["params"], "weight_decay": g["weight_decay"]} for g in other.optimizer.param_groups]
    d = other.optimizer.defaults
    other.optimizer = torch.optim.AdamW(groups, lr=d["lr"], betas=d["betas"], foreach=True)
    b = _losses(other, 4)
    diff, loss_diff = _max_diff(wa, _params(other)), max(abs(x - y) for x, y in zip(a, b, strict=True))
    ok = is_fused and diff < 1e-3 and loss_diff < 1e-2
    return {
        "status": OK if ok else FAIL,
        "fused": is_fused,
        "max_weight_diff": diff,
        "max_loss_diff": loss_diff,
        "detail": f"on {_device()}: AdamW fused={is_fused}; 4 updates beside foreach: weights within "
        f"{diff:.2g}, losses within {loss_diff:.2g}",
    }


def check_resume(ctx: dict, steps: int = 6) -> dict:
    """N updates straight (twice: the run-to-run noise), and N/2 + checkpoint + N/2 in a new Trainer."""
    half = steps // 2
    straight = []
    for _ in range(2):
        tr = Trainer(_small(), data=ctx["small_data"], progress=False)
        straight.append((_losses(tr, steps), _params(tr)))
    first = Trainer(_small(), data=ctx["small_data"], progress=False)
    head = _losses(first, half)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "ckpt.pt"
        atomic_torch_save(trainer_state(first), path)
        ckpt = load_checkpoint(path)  # weights_only, as `--resume` reads it
        second = Trainer(_small(), data=ctx["small_data"], progress=False)
        restore(second, ckpt)
    resumed = head + _losses(second, steps - half)
    noise = max(
        _max_diff(straight[0][1], straight[1][1]),
        max(abs(x - y) for x, y in zip(straight[0][0], straight[1][0], strict=True)),
    )
    diff = max(
        _max_diff(straight[0][1], _params(second)),
        max(abs(x - y) for x, y in zip(straight[0][0], resumed, strict=True)),
    )
    exact = diff == 0.0
    ok = exact or diff <= noise
    how = (
        "bit for bit"
        if exact
        else f"within {diff:.2g}, as close as two straight runs ({noise:.2g})"
        if ok
        else f"differs by {diff:.2g}, more than two straight runs ({noise:.2g})"
    )
    return {
        "status": OK if ok else FAIL,
        "exact": exact,
        "max_diff": diff,
        "straight_runs_diff": noise,
        "straight": straight[0][0],
        "resumed": resumed,
        "detail": f"on {_device()}: {half} updates, a checkpoint written and read back, {steps - half} more "
        f"in a new Trainer, beside {steps} straight: {how}",
    }


def check_torchrun(ctx: dict) -> dict:
    """torchrun --nproc_per_node=1: a process group (nccl on CUDA), an all-reduce and a DDP update,
    then `-m slmlab train` under torchrun."""
    backend = "nccl" if _cuda() else "gloo"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]
        ).rstrip(os.pathsep),
        "OMP_NUM_THREADS": "1",
        "SLMLAB_THREADS": "1",
    }
    base = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc_per_node=1"]
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "worker.json"
        t0 = time.perf_counter()
        r = subprocess.run(
            [*base, "-m", "slmlab.gpu_check", "--torchrun-worker", str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        worker = json.loads(out.read_text()) if out.exists() else {}
        worker_s = time.perf_counter() - t0
        r2 = subprocess.run(
            [
                *base,
                "-m",
                "slmlab",
                "train",
                "--profile",
                "smoke",
                "--set",
                "max_steps=3",
                "--set",
                "eval_interval=3",
                "--set",
                "warmup_steps=1",
                "--set",
                f"device={_device()}",
                "--out",
                str(Path(d) / "run"),
                "--quiet",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
    ok_worker = (
        r.returncode == 0
        and worker.get("backend") == backend
        and worker.get("all_reduce") == 1.0
        and worker.get("ddp_update") is True
    )
    ok_cli = r2.returncode == 0 and "3 steps in " in r2.stdout
    detail = (
        f"torchrun, 1 process: {worker.get('backend', '?')} process group, all-reduce "
        f"{'ok' if worker.get('all_reduce') == 1.0 else 'FAILED'}, a DDP update "
        f"{'ok' if worker.get('ddp_update') else 'FAILED'} ({worker_s:.0f} s); `-m slmlab train` under "
        f"torchrun {'ok' if ok_cli else 'FAILED'}"
    )
    if not _cuda():
        detail += "; nccl skipped (no CUDA: gloo instead)"
    res = {"status": OK if ok_worker and ok_cli else FAIL, "backend": backend, "worker": worker, "detail": detail}
    if not ok_worker:
        res["worker_stderr"] = r.stderr[-1500:]
    if not ok_cli:
        res["train_stderr"] = r2.stderr[-1500:]
    return res


def torchrun_worker(out: str) -> int:
    """What the one torchrun process does (`--torchrun-worker OUT`): join, all-reduce, one DDP update."""
    import torch.distributed as dist

    cuda = _cuda()
    res = {"backend": None}
    kwargs = {"backend": "nccl" if cuda else "gloo"}
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        kwargs["device_id"] = torch.device("cuda", torch.cuda.current_device())
    dist.init_process_group(**kwargs)
    try:
        res["backend"] = dist.get_backend()
        dev = torch.device("cuda" if cuda else "cpu")
        t = torch.ones(1, device=dev)
        dist.all_reduce(t)
        res["all_reduce"] = float(t.item())
        model = torch.nn.Linear(16, 4).to(dev)
        ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if cuda else None)
        opt = torch.optim.AdamW(ddp.parameters(), lr=1e-2)
        w0 = model.weight.detach().clone()
        ddp(torch.randn(8, 16, device=dev)).square().mean().backward()
        opt.step()
        res["ddp_update"] = bool((model.weight.detach() != w0).any())
    finally:
        dist.destroy_process_group()
        Path(out).write_text(json.dumps(res), encoding="utf-8")
    return 0


def check_presets(ctx: dict) -> dict:
    """tokens/s and MFU of the student and gpu presets on this card (random tokens of their vocabulary)."""
    if not _cuda():
        return {
            "status": SKIP,
            "detail": "no CUDA GPU: the student and gpu presets' speeds need one (an update "
            "of the student's 131,072 tokens takes minutes on a CPU)",
        }
    name = torch.cuda.get_device_name()
    rows, bad = [], []
    for p, data in (("student", ctx["recipe_data"]), ("gpu", random_data(GPU_VOCAB, n_tokens=2_000_000))):
        cfg = preset(p, device="cuda")
        try:
            r = gpu_study.time_updates(cfg, data, updates=5, warm=2)
        except Exception as e:  # a broken preset is a finding, not the end of the check
            r = {"error": f"{type(e).__name__}: {e}"[:300]}
            bad.append(p)
        dtype = str(pick_dtype("cuda")).removeprefix("torch.")
        peak = gpu_peak_flops(name, dtype)
        if peak and "tokens_per_s" in r:
            r["mfu"] = r["flops_per_token"] * r["tokens_per_s"] / peak
        r.update(preset=p, auto_dtype=dtype, compile=cfg.train.compile, peak_flops=peak)
        rows.append(r)
    text = "; ".join(
        f"{r['preset']} ({r['auto_dtype']}{', compiled' if r['compile'] else ''}): "
        + (
            f"{r['tokens_per_s']:,.0f} tokens/s"
            + (f", MFU {r['mfu']:.1%}" if r.get("mfu") else ", MFU unknown (card not in GPU_PEAKS)")
            if "tokens_per_s" in r
            else r["error"]
        )
        for r in rows
    )
    return {"status": FAIL if bad else OK, "presets": rows, "detail": text}


CHECKS = {  # name -> (what it checks, function)
    "dtype": ("dtype=auto: bf16 at compute capability 8.0+, fp16 + GradScaler below", check_dtype),
    "card": ("the card: matmul peak, the student's model in each dtype, compile on/off (gpu_study)", check_card),
    "fp16_overflow": ("fp16 forced, the loss scale overflows: the update is skipped", check_fp16_overflow),
    "fused_adamw": ("fused AdamW trains like foreach AdamW", check_fused_adamw),
    "resume": ("checkpoint and exact resume on this device", check_resume),
    "torchrun": ("one-process torchrun: nccl (gloo on CPU), all-reduce, DDP, slmlab train", check_torchrun),
    "presets": ("tokens/s and MFU of the student and gpu presets", check_presets),
}


# ---------------------------------------------------------------------------
# Running them, the report


def _environment() -> dict:
    env = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cuda": torch.version.cuda,
        "device": _device(),
    }
    if _cuda():
        p = torch.cuda.get_device_properties(0)
        env.update(
            gpu=p.name, capability=list(torch.cuda.get_device_capability()), memory_gb=round(p.total_memory / 2**30, 1)
        )
    return env


def run_checks(only: list[str] | None = None, budget: float = 270.0, say=print) -> dict:
    """Run the checks (all, or `only`), skipping one whose estimate no longer fits `budget` seconds."""
    start = time.perf_counter()
    result = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "environment": _environment(),
        "budget_s": budget,
        "checks": {},
    }
    ctx = {
        "recipe_data": random_data(GPT2_VOCAB, n_tokens=2_000_000 if _cuda() else 20_000),
        "small_data": random_data(GPT2_VOCAB, n_tokens=20_000, seed=1),
    }
    for name, (what, fn) in CHECKS.items():
        if only and name not in only:
            continue
        left = budget - (time.perf_counter() - start)
        t0 = time.perf_counter()
        if _cuda() and ESTIMATE_S[name] > left:
            r = {
                "status": SKIP,
                "detail": f"out of time: about {ESTIMATE_S[name]} s, {left:.0f} s of the budget left (--budget)",
            }
        else:
            try:
                r = fn(ctx)
            except Exception as e:  # a broken path is a finding: the other checks still run
                r = {"status": FAIL, "detail": f"{type(e).__name__}: {e}"[:400]}
        r.update(what=what, seconds=round(time.perf_counter() - t0, 1))
        result["checks"][name] = r
        say(f"[{r['status']:>7}] {name}: {r['detail']}")
    result["elapsed_s"] = round(time.perf_counter() - start, 1)
    result["ok"] = all(r["status"] != FAIL for r in result["checks"].values())
    return result


def report_markdown(result: dict) -> str:
    """The report a person reads: the machine, one row per check, what was skipped and why."""
    env = result["environment"]
    where = (
        f"{env['gpu']} (compute capability {'.'.join(map(str, env['capability']))}, {env['memory_gb']} GB)"
        if "gpu" in env
        else "no CUDA GPU (the CPU, at a tiny size)"
    )
    lines = [
        f"# slmlab gpu-check, {result['started']}",
        "",
        f"{where}; torch {env['torch']}, CUDA {env['cuda']}, Python {env['python']}, {env['platform']}.",
        f"{len(result['checks'])} checks in {result['elapsed_s']:.0f} s: "
        + ("all ran without a failure." if result["ok"] else "**some FAILED** (below)."),
        "",
        "| check | status | seconds | what was measured |",
        "| --- | --- | --- | --- |",
    ]
    for name, r in result["checks"].items():
        detail = r["detail"].replace("|", "/").replace("\n", " ")
        lines.append(f"| {name}: {r['what']} | {r['status']} | {r['seconds']:.1f} | {detail} |")
    skipped = [(n, r["detail"]) for n, r in result["checks"].items() if r["status"] == SKIP]
    if skipped:
        lines += ["", "## Skipped", ""] + [f"- {n}: {d}" for n, d in skipped]
    lines += ["", "Every number is in gpu_check.json beside this file."]
    return "\n".join(lines) + "\n"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """gpu-check's options (also `python -m slmlab gpu-check`'s, in slmlab.cli)."""
    ap.add_argument("--out", default="gpu-check", help="folder for gpu_check.json and gpu_check.md")
    ap.add_argument("--budget", type=float, default=270.0, help="seconds for all the checks (default 270)")
    ap.add_argument("--only", help=f"comma-separated checks: {','.join(CHECKS)}")
    ap.add_argument("--torchrun-worker", metavar="OUT", help=argparse.SUPPRESS)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m slmlab.gpu_check", description=__doc__.splitlines()[0])
    add_arguments(ap)
    return run(ap.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """The checks with parsed options; 0 when none failed, 1 otherwise."""
    if args.torchrun_worker:
        return torchrun_worker(args.torchrun_worker)
    only = args.only.split(",") if args.only else None
    unknown = sorted(set(only or []) - set(CHECKS))
    if unknown:
        raise ValueError(f"--only {','.join(unknown)}: no such check; the checks are {', '.join(CHECKS)}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {args.out} is a file; give a folder for gpu_check.json and gpu_check.md")
    result = run_checks(only, args.budget)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "gpu_check.json", json.dumps(result, indent=1, default=float))
    atomic_write_text(out / "gpu_check.md", report_markdown(result))
    print(f"report: {out / 'gpu_check.md'} and gpu_check.json")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
