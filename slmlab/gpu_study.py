"""The student's recipe at its own scale on one GPU: a check of the card, then the runs, in one script.

`python -m slmlab.gpu_study --out DIR --budget SECONDS --sample TINYSTORIES.txt` writes
DIR/gpu_study.json (after every run, so a run cut short still leaves its results) and prints
one line per step of the plan. Its parts, in the order they run:

1. **The card** (`check_card`): name, torch and CUDA versions, a bf16 matmul's measured
   FLOP/s beside the datasheet peak, then a real Trainer on the student's model at its own
   scale in bf16 (eager and compiled), fp16 with a live GradScaler, and fp32 (TF32): tokens/s
   and MFU of each, and whether the fp16 run's loss tracks the bf16 one.
2. **The corpus** (`corpus`): no network there, so no TinyStories. An interpolated trigram
   source (slmlab.ngram) fitted to the 2 MB TinyStories sample in GPT-2 tokens, sampled on the
   GPU: text the runs cannot exhaust, with the sample's tokens and a known floor (nats/token).
3. **The runs** (`plan`), most important first, each skipped when the time left would not
   hold it (estimated from the tokens/s the card check measured): the recipe for its 625
   updates of 1,024 x 128 tokens with its own lr at every update (its schedule's bugs replayed,
   `student_schedule`), val at the updates its log printed; the recipe with all of notebook
   04's fixes for the same 625 updates; each fix alone for the first 100 updates, two seeds;
   then the lr ordering and dropout's cost at this scale.

Each update is 1,024 sequences of 128 tokens as in the recipe; the study takes them as
micro-batches of `MICRO` sequences (fewer, larger kernels on a GPU); the mean gradient over
the 1,024 is the same. slmlab's AdamW decays matrices only, where the recipe decays every
parameter (notebook 04's reproduction does the same).

`load()` reads the committed result (slmlab/measured/); notebook 04 and RESULTS.md quote it.
It sits above train in the import flow, beside bench; nothing in slmlab imports it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .bench import gpu_peak_flops
from .callbacks import Callback, ReplayLR, TrainerView
from .data import TokenData
from .diagnostics import student_schedule
from .ngram import TrigramSource
from .presets import preset
from .tokenizers import GPT2_VOCAB, get_tokenizer
from .train import Trainer, eval_record

__all__ = [
    "PUBLISHED_STEPS",
    "MICRO",
    "RESULTS",
    "load",
    "runs",
    "history",
    "val_at",
    "mean_val",
    "plan",
    "recipe_config",
    "main",
]

ACCUM, THEIR_BATCH, BLOCK = 32, 32, 128  # the recipe: 32 micro-batches of 32 x 128 per update
SEQS = ACCUM * THEIR_BATCH  # 1,024 sequences per update
MICRO = 256  # sequences per micro-batch here (4 per update)
FULL = 625  # the recipe's 20,000 micro-steps / 32
PUBLISHED_STEPS = [it // ACCUM for it in range(500, 20_000, 500)]  # the updates its log printed at
SHORT = 100  # each fix alone, as notebook 04 measures them, for this many updates
SEEDS = (1337, 2024)
_MEASURED = Path(__file__).parent / "measured"
# The committed H200 run (2026-12-04): the whole plan, then the full runs again with the second seed.
RESULTS = (_MEASURED / "gpu_study_h200.json", _MEASURED / "gpu_study_h200_seed2024.json")


def load(paths=RESULTS) -> dict:
    """The committed results of this study, one dict: the first file's card and corpus, every
    file's runs (each run keeps the file it came from under "file")."""
    study: dict = {"runs": [], "files": []}
    for p in paths:
        part = json.loads(Path(p).read_text(encoding="utf-8"))
        for key in ("card", "corpus", "started", "runs_compiled"):
            study.setdefault(key, part.get(key))
        study["files"].append(
            {
                "file": Path(p).name,
                "started": part.get("started"),
                "elapsed_s": part.get("elapsed_s"),
                "speed": part.get("card", {}).get("speed"),
                "skipped": part.get("skipped", []),
            }
        )
        study["runs"] += [{**r, "file": Path(p).name} for r in part["runs"] if "error" not in r]
    return study


def runs(study: dict, name: str, group: str | None = None) -> list[dict]:
    """The runs called `name` (in `group`), in seed order."""
    return sorted(
        (r for r in study["runs"] if r["name"] == name and group in (None, r["group"])), key=lambda r: r["seed"]
    )


def val_at(run: dict, step: int) -> float:
    """The run's val loss after update `step` (nan when it was not evaluated there)."""
    return next((e["val_loss"] for e in run["evals"] if e["step"] == step), math.nan)


def mean_val(study: dict, name: str, step: int, group: str | None = None) -> tuple[float, float, int]:
    """(mean, half the range, seeds) of the val of the runs called `name` after update `step`, one
    run per seed (a seed's 100-update run and its 625-update run share their first 100 updates)."""
    by_seed = {}
    for r in runs(study, name, group):
        if not math.isnan(v := val_at(r, step)):
            by_seed.setdefault(r["seed"], v)
    vals = list(by_seed.values())
    if not vals:
        return math.nan, math.nan, 0
    return float(np.mean(vals)), (max(vals) - min(vals)) / 2, len(vals)


def history(run: dict, study: dict | None = None, up_to: int | None = None):
    """A run of the study as a slmlab History (its evals and its thinned step records, to update
    `up_to` if given), for plots."""
    from .history import History

    c = (study or {}).get("corpus") or {}
    meta = {
        "label": f"{run['name']}, seed {run['seed']}",
        "vocab_size": GPT2_VOCAB,
        "corpus": "tinystories-trigram",
        "tokenizer": "gpt2",
        "entropy_floor": c.get("floor_nats"),
        "val_bytes_per_token": c["val_bytes"] / c["val_tokens"] if c else None,
        "seconds": run["wall_s"],
    }
    last = up_to if up_to is not None else math.inf
    evals = [{"kind": "eval", **e} for e in run["evals"] if e["step"] <= last]
    steps = [{"kind": "step", **s} for s in run["curve"] if s["step"] <= last]
    return History(steps, evals, {"train": run["config"]}, meta)


# ---------------------------------------------------------------------------
# What is trained


def recipe_config(seed: int, max_steps: int, micro: int = MICRO, tiny: bool = False, **changes):
    """The recipe's model and batch (6 x 384, block 128, GPT-2's vocabulary, dropout 0.1, clip 0.5,
    1,024 x 128 tokens per update), with slmlab's schedule fields (replaced by ReplayLR where the
    recipe's lrs are replayed). tiny: a CPU-sized stand-in for the tests."""
    cfg = preset("student").replace(
        corpus="file:tinystories-trigram",
        tokenizer="gpt2",
        vocab_size=GPT2_VOCAB,
        micro_batch_size=micro,
        grad_accum_steps=SEQS // micro,
        max_steps=max_steps,
        lr=1e-4,
        min_lr=1e-5,
        warmup_steps=0,
        eval_interval=max_steps,
        eval_batches=4,
        log_interval=25,
        dtype="bfloat16",
        seed=seed,
        name="gpu-study",
    )
    if tiny:
        cfg = cfg.replace(
            n_layer=1,
            n_head=2,
            n_embd=32,
            block_size=16,
            micro_batch_size=4,
            grad_accum_steps=2,
            eval_batches=2,
            dtype="float32",
            device="cpu",
        )
    return cfg.replace(**changes)


FIXES = {  # name -> the recipe's lrs with one fix (notebook 04 section 4)
    "scheduler stepped per update": dict(per_micro_step=False),
    "min_lr 1e-5 (below lr)": dict(min_lr=1e-5),
    "warmup from 0, 2 updates": dict(start_factor=1e-3, warmup=2 * ACCUM),
    "lr 1e-3 (10x)": dict(lr=1e-3),
}
ALL_FIXES = dict(lr=1e-3, min_lr=1e-4, warmup_steps=2)  # 04's "together", slmlab's own schedule


@dataclass
class Spec:
    """One run of the plan."""

    name: str
    group: str  # full | fix | scale
    seed: int
    steps: int
    changes: dict = field(default_factory=dict)  # config fields
    replay: dict | None = field(default_factory=dict)  # student_schedule kwargs; None: slmlab's schedule


def plan(full: int = FULL, short: int = SHORT, full_seed: int = SEEDS[0]) -> list[Spec]:
    """Every run, most important first: full-length runs of `full` updates (seed `full_seed`),
    the others `short`."""
    specs = [
        Spec("recipe", "full", full_seed, full),
        Spec("all of 04's fixes", "full", full_seed, full, dict(ALL_FIXES), None),
        Spec("recipe", "fix", SEEDS[1], short),
    ]
    for seed in SEEDS:
        specs += [Spec(name, "fix", seed, short, {}, kw) for name, kw in FIXES.items()]
    sched = dict(warmup_steps=max(1, short // 10))
    specs += [
        Spec(f"lr {lr:g}", "scale", SEEDS[0], short, dict(sched, lr=lr, min_lr=lr / 10), None)
        for lr in (3e-4, 3e-3, 1e-2, 1e-3)
    ]
    specs += [
        Spec(f"dropout {p:g}", "scale", SEEDS[0], short, dict(sched, lr=1e-3, min_lr=1e-4, dropout=p), None)
        for p in (0.0, 0.2)
    ]
    return specs


class EvalAt(Callback):
    """Evaluate after the given updates (the recipe's print points), keeping the time evals take
    apart from training time; the records join trainer.history.evals like the Trainer's own."""

    def __init__(self, steps):
        self.steps, self.seconds = set(steps), 0.0

    def on_update(self, trainer: TrainerView) -> None:
        if trainer.step not in self.steps:
            return
        t0 = time.perf_counter()
        trainer.history.evals.append(eval_record(trainer))
        self.seconds += time.perf_counter() - t0


# ---------------------------------------------------------------------------
# The corpus


def corpus(sample: Path, n_train: int, n_val: int, device: str, seed: int = 0) -> tuple[TokenData, dict]:
    """Train and val tokens sampled from a trigram source fitted to the TinyStories sample."""
    enc = get_tokenizer("gpt2")
    text = sample.read_text(encoding="utf-8")
    docs = [d.strip() for d in text.split("<|endoftext|>") if d.strip()]
    ids = np.concatenate([np.array(t + [enc.eot_id]) for t in enc.encoding.encode_ordinary_batch(docs)])
    t0 = time.perf_counter()
    src = TrigramSource.fit(ids, GPT2_VOCAB, enc.eot_id, device=device)
    train, train_floor = src.sample(n_train, seed=seed + 1)
    val, floor = src.sample(n_val, seed=seed + 2, chains=max(1, n_val // 1000))
    nbytes = np.array([len(enc.encoding.decode_single_token_bytes(i)) for i in range(GPT2_VOCAB)])
    nbytes[enc.eot_id] = 0  # EOTs are tokens, not bytes (as slmlab.data counts them)
    manifest = {
        "corpus": "tinystories-trigram",
        "tokenizer": "gpt2",
        "entropy_floor": floor,
        "vocab_size": GPT2_VOCAB,
        "n_train_tokens": len(train),
        "n_val_tokens": len(val),
        "val_bytes": int(nbytes[val].sum()),
    }
    info = {
        "sample_tokens": len(ids),
        "sample_distinct": int(len(np.unique(ids))),
        "train_tokens": len(train),
        "val_tokens": len(val),
        "floor_nats": floor,
        "train_floor_nats": train_floor,
        "distinct_train": int((np.bincount(train, minlength=GPT2_VOCAB) > 0).sum()),
        "val_bytes": manifest["val_bytes"],
        "seconds": time.perf_counter() - t0,
        "weights": list(src.weights),
        "val_text_head": enc.encoding.decode(val[:120].tolist()),
    }
    data = TokenData(
        train=train.astype(np.uint16), val=val.astype(np.uint16), tokenizer=enc, manifest=manifest, dir=Path(".")
    )
    return data, info


# ---------------------------------------------------------------------------
# The card


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def matmul_flops(n: int = 8192, reps: int = 20) -> float | None:
    """Measured bf16 FLOP/s of an n x n x n matmul on the GPU; None without one."""
    if not torch.cuda.is_available():
        return None
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    _sync()
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync()
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def time_updates(cfg, data: TokenData, updates: int = 5, warm: int = 2) -> dict:
    """A real Trainer's updates, timed after `warm` untimed ones (compile, allocations)."""
    tr = Trainer(cfg, data=data, progress=False)
    t0 = time.perf_counter()
    losses = []
    for _ in range(warm):
        losses.append(float(tr.train_step().loss))
    first = time.perf_counter() - t0
    _sync()
    t0 = time.perf_counter()
    for _ in range(updates):
        r = tr.train_step()
    _sync()
    sec = (time.perf_counter() - t0) / updates
    losses.append(float(r.loss))
    tps = cfg.tokens_per_step / sec
    out = {
        "dtype": cfg.train.dtype,
        "compile": cfg.train.compile,
        "micro_batch": cfg.train.micro_batch_size,
        "s_per_update": sec,
        "tokens_per_s": tps,
        "warm_s": first,
        "loss_last": losses[-1],
        "flops_per_token": tr.model.flops_per_token(),
        "n_params": tr.model.num_params(),
    }
    if tr.scaler.is_enabled():
        out["grad_scale"] = float(tr.scaler.get_scale())
    if torch.cuda.is_available():
        out["peak_memory_gb"] = torch.cuda.max_memory_allocated() / 2**30
        torch.cuda.reset_peak_memory_stats()
    return out


def fp16_tracks_bf16(data: TokenData, tiny: bool, updates: int) -> dict:
    """The same seed trained `updates` updates at lr 1e-3 in bf16 and in fp16 with a GradScaler
    (loss scaled, unscaled before clipping): the losses of each, the scale at the end and how
    many updates the scaler skipped (inf/nan gradients: the scale halves)."""
    out = {}
    for dtype in ("bfloat16", "float16"):
        cfg = recipe_config(SEEDS[0], updates + 1, tiny=tiny, lr=1e-3, min_lr=1e-4, warmup_steps=2, dtype=dtype)
        try:
            tr = Trainer(cfg, data=data, progress=False)
        except ValueError as e:  # fp16 on a CPU (the tests): refused, and said so
            out[dtype] = {"error": str(e)}
            continue
        losses, scales = [], []
        for _ in range(updates):
            losses.append(tr.train_step().loss)
            scales.append(float(tr.scaler.get_scale()) if tr.scaler.is_enabled() else 1.0)
        skipped = sum(1 for s0, s1 in zip(scales, scales[1:], strict=False) if s1 < s0)
        out[dtype] = {
            "losses": [float(x) for x in losses],
            "scaler": tr.scaler.is_enabled(),
            "final_scale": scales[-1],
            "skipped_updates": skipped,
        }
    return out


def check_card(data: TokenData, tiny: bool = False, quick: bool = False) -> dict:
    """The card's facts, a measured matmul peak, and the Trainer at the recipe's shape in each dtype."""
    info = {"torch": torch.__version__, "python": platform.python_version(), "cuda": torch.version.cuda}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info.update(
            gpu=p.name,
            capability=list(torch.cuda.get_device_capability()),
            memory_gb=p.total_memory / 2**30,
            sms=p.multi_processor_count,
            datasheet_bf16_flops=gpu_peak_flops(p.name, "bfloat16"),
            datasheet_tf32_flops=gpu_peak_flops(p.name, "float32"),
        )
        try:
            info["driver"] = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=20,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    info["measured_bf16_matmul_flops"] = matmul_flops()
    cases = [
        ("bfloat16", False, MICRO),
        ("bfloat16", True, MICRO),
        ("float16", False, MICRO),
        ("float32", False, MICRO),
        ("bfloat16", False, THEIR_BATCH),
    ]  # the last: their micro-batch
    if tiny:  # no compile on a CPU test (inductor's C++ build takes a minute)
        cases = [c for c in cases if not c[1]]
    if quick:  # a later call: only the runs' own case (it also compiles their graph)
        cases = cases[1:2] if not tiny else [c for c in cases if c[0] == "float32"]
    info["speed"] = []
    for dtype, comp, micro in cases:
        cfg = recipe_config(
            SEEDS[0], 100, micro=micro, tiny=tiny, lr=1e-3, min_lr=1e-4, warmup_steps=2, compile=comp, dtype=dtype
        )
        try:
            r = time_updates(cfg, data, updates=2 if tiny else 5, warm=1 if tiny else 2)
        except Exception as e:  # a broken path is a finding, not the end of the study
            r = {"dtype": dtype, "compile": comp, "micro_batch": micro, "error": f"{type(e).__name__}: {e}"[:300]}
        peak = info.get("datasheet_tf32_flops" if dtype == "float32" else "datasheet_bf16_flops")
        if peak and "tokens_per_s" in r:
            r["mfu"] = r["flops_per_token"] * r["tokens_per_s"] / peak
        r["case"] = "runs" if micro == MICRO else "their micro-batch"
        info["speed"].append(r)
        _say(
            f"speed {dtype} compile={comp} micro={micro}: "
            + (f"{r['tokens_per_s']:,.0f} tokens/s, warm-up {r['warm_s']:.1f} s" if "tokens_per_s" in r else r["error"])
        )
    if not quick:
        info["fp16_vs_bf16"] = fp16_tracks_bf16(data, tiny, updates=3 if tiny else 20)
    return info


# ---------------------------------------------------------------------------
# The runs


def train_spec(spec: Spec, data: TokenData, compile: bool, tiny: bool) -> dict:
    """Train one Spec; return what the notebook draws: evals, a thinned step record, times."""
    cfg = recipe_config(spec.seed, spec.steps, tiny=tiny, compile=compile, **spec.changes)
    callbacks = []
    if spec.replay is not None:
        lrs = student_schedule(**spec.replay).lr
        callbacks.append(ReplayLR(lrs))
    points = {s for s in [*PUBLISHED_STEPS, SHORT] if s < spec.steps}  # the Trainer evaluates at the end
    ev = EvalAt(points)
    t0 = time.perf_counter()
    h = Trainer(cfg, data=data, callbacks=[*callbacks, ev], progress=False).run()
    wall = time.perf_counter() - t0
    train_s = h.steps[-1]["seconds"] - ev.seconds  # to the last update, less the evals on the way
    tokens = len(h.steps) * cfg.tokens_per_step
    evals = sorted(h.evals, key=lambda e: e["step"])
    return {
        "name": spec.name,
        "group": spec.group,
        "seed": spec.seed,
        "steps": len(h.steps),
        "config": cfg.flat(),
        "replay": spec.replay,
        "evals": [{k: e[k] for k in ("step", "train_loss", "val_loss", "tokens", "seconds")} for e in evals],
        "curve": [{k: s[k] for k in ("step", "loss", "lr", "grad_norm")} for s in h.steps[::5]],
        "wall_s": wall,
        "train_s": train_s,
        "eval_s": ev.seconds,
        "tokens": tokens,
        "tokens_per_s": tokens / train_s,
        "flops_per_token": h.meta["flops_per_token"],
        "stop_reason": h.stop_reason,
    }


def _say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m slmlab.gpu_study", description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder for gpu_study.json")
    ap.add_argument("--budget", type=float, default=420.0, help="seconds for the whole script")
    ap.add_argument("--sample", required=True, help="the TinyStories sample (text with <|endoftext|>)")
    ap.add_argument("--train-tokens", type=int, default=120_000_000)
    ap.add_argument("--tiny", action="store_true", help="a CPU-sized model and corpus: tests the script")
    ap.add_argument("--groups", default="full,fix,scale", help="which groups of the plan to run")
    ap.add_argument("--full-seed", type=int, default=SEEDS[0], help="the seed of the full-length runs")
    ap.add_argument("--quick-card", action="store_true", help="time only the runs' own case")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    deadline = start + args.budget
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    for knob in ("cache_size_limit", "recompile_limit"):  # many runs, each its own compiled graph
        if hasattr(torch._dynamo.config, knob):
            setattr(torch._dynamo.config, knob, 64)
    result = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "budget_s": args.budget,
        "tiny": args.tiny,
        "host_cpus": os.cpu_count(),
        "argv": sys.argv[1:],
        "runs": [],
        "skipped": [],
    }

    def save():
        result["elapsed_s"] = time.perf_counter() - start
        tmp = out / "gpu_study.json.tmp"
        tmp.write_text(json.dumps(result, indent=1, default=float), encoding="utf-8")
        tmp.replace(out / "gpu_study.json")

    n_val = 200_000 if args.tiny else 2_000_000
    data, result["corpus"] = corpus(Path(args.sample), args.train_tokens, n_val, device)
    _say(
        f"corpus: {result['corpus']['train_tokens']:,} train tokens, floor {result['corpus']['floor_nats']:.3f} "
        f"nats/token, {result['corpus']['seconds']:.1f} s"
    )
    save()
    result["card"] = check_card(data, tiny=args.tiny, quick=args.quick_card)
    save()
    speeds = {
        (s["dtype"], s["compile"]): s.get("tokens_per_s", 0) for s in result["card"]["speed"] if s["case"] == "runs"
    }
    dt = "float32" if args.tiny else "bfloat16"
    compiled = speeds.get((dt, True), 0) > 1.1 * speeds.get((dt, False), 0)
    tps = max(speeds.get((dt, compiled), 0), 1.0)
    result["runs_compiled"], result["runs_tokens_per_s_estimate"] = compiled, tps
    _say(f"runs: compile={compiled}, {tps:,.0f} tokens/s")
    groups = args.groups.split(",")
    specs = [s for s in plan(*((16, 4) if args.tiny else (FULL, SHORT)), full_seed=args.full_seed) if s.group in groups]
    for spec in specs:
        cfg = recipe_config(spec.seed, spec.steps, tiny=args.tiny)
        estimate = 1.12 * spec.steps * cfg.tokens_per_step / tps + 4
        if time.perf_counter() + estimate > deadline:
            result["skipped"].append(
                {"name": spec.name, "seed": spec.seed, "group": spec.group, "estimate_s": estimate}
            )
            _say(f"skip {spec.name} seed {spec.seed}: ~{estimate:.0f} s, {deadline - time.perf_counter():.0f} s left")
            continue
        try:
            r = train_spec(spec, data, compiled, args.tiny)
        except Exception as e:
            r = {"name": spec.name, "group": spec.group, "seed": spec.seed, "error": f"{type(e).__name__}: {e}"[:400]}
        result["runs"].append(r)
        save()
        last = r["evals"][-1] if r.get("evals") else {}
        _say(
            f"{spec.group} {spec.name} seed {spec.seed}: "
            + (
                f"val {last.get('val_loss', math.nan):.3f} at {last.get('step')}, {r['wall_s']:.0f} s, "
                f"{r['tokens_per_s']:,.0f} tokens/s"
                if "error" not in r
                else r["error"]
            )
        )
    save()
    _say(f"done in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
