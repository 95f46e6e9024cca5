"""The lessons' verdicts one scale up on the CPU: 4 layers x 256 wide, the TinyStories sample, bpe-4096.

Lessons 05-12 measure every verdict on 1-2 x 128 models for 300 updates of synthetic text.
`python -m slmlab.scale_up` checks the four that matter most for the student's answer at
4 x 4 x 256 (block 128, 8 sequences = 1,024 tokens per update, 300 updates, float32) on the
TinyStories sample ($SLMLAB_DATA_DIR/tinystories_sample.txt, 0.7 epochs), each row against
what the lesson measured at its own scale:

- (a) **the lr** (08): 3e-4, 1e-3, 3e-3, 1e-2, each with min_lr lr/10: the order and where the
  best lr sits (08: best 0.01 at 2 x 128; the GPU study: 1e-3 at 6 x 384);
- (b) **batch size at equal tokens** (09): 2, 8 and 32 sequences per update, each on 307,200
  tokens (1,200, 300 and 75 updates);
- (c) **dropout's cost** (06): 0 against 0.1, best val;
- (d) **the tokenizer at equal wall time** (04): bpe-4096 against GPT-2's tokenizer in bits per
  byte. Both train at a constant lr after warmup, so the val of a longer run at any update is
  the val of a run that stopped there; their seconds per update are measured interleaved in
  one process (turns of the same tokens, the fastest turn of each counts), so load hits both
  alike, and both curves are read at the same number of seconds.

The other verdicts compare losses at equal updates or tokens, which load does not change. The
base (lr 3e-3, the lessons' own lr; batch 8; dropout 0) is trained with two seeds: their
difference is the yardstick (a difference counts when it is more than twice it).

Every run is slmlab.experiments.run (cached: a second call reads them back, an interrupted
one resumes); the seconds per update are cached beside them. The command writes
slmlab/measured/scale_up_cpu.json and the table between the markers in RESULTS.md (replacing
the previous one), after every run, so a run cut short leaves what it finished.
`--tiny` runs a seconds-sized stand-in on synthetic text (the tests). `load()` reads the
committed result; notebook 11 prints it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import files, runfolder
from .config import Config
from .diagnostics import bits_per_byte
from .presets import preset

__all__ = [
    "LRS",
    "BASE_LR",
    "BATCHES",
    "SEEDS",
    "PROXY",
    "RESULT",
    "BEGIN",
    "END",
    "base_config",
    "plan",
    "verdicts",
    "table",
    "write_table",
    "load",
    "main",
]

LRS = (3e-4, 1e-3, 3e-3, 1e-2)
BASE_LR = 3e-3  # the lessons' own lr (slmlab.presets' cpu lesson setup)
BATCHES = (2, 8, 32)  # sequences of 128 per update
BASE_BATCH = 8
DROPOUTS = (0.0, 0.1)
SEEDS = (1337, 2024)
TOKENIZERS = ("bpe-4096", "gpt2")  # the base's, and the one it is compared with
TOKENIZER_STEPS = {"bpe-4096": 300, "gpt2": 75}  # about equal seconds on a CPU (gpt2's output layer: ~3.4x)
TOKENIZER_EVERY = {"bpe-4096": 25, "gpt2": 15}  # evals: both at update 75
K = 2.0  # a difference counts when it is more than K x the seed spread
_MEASURED = Path(__file__).parent / "measured"
RESULT = _MEASURED / "scale_up_cpu.json"
RESULTS_MD = Path(__file__).resolve().parent.parent / "RESULTS.md"
BEGIN = "<!-- scale-up table: written by python -m slmlab.scale_up; edits between the markers are replaced -->"
END = "<!-- scale-up table end -->"

# What the lessons measured at their own scale (committed outputs at a899aa8, cpu profile, float32).
PROXY = {
    "lr": {
        "lesson": "08",
        "states": "the val falls with the lr up to 0.01, the sweep's best, at the edge of the good range",
        "final_val": {3e-4: 3.654, 1e-3: 2.054, 3e-3: 0.941, 1e-2: 0.780},
        "best": 1e-2,
        "gpu_best": 1e-3,
        "gpu_final_val": {3e-4: 4.664, 1e-3: 4.227, 3e-3: 5.259, 1e-2: 5.116},
        "scale": "2 x 128, 300 updates of 1,024 tokens, synthetic text, one seed",
    },
    "batch": {
        "lesson": "09",
        "states": "at equal tokens the smallest batch wins and 4x fewer, larger updates lose",
        "final_val": {4: 0.717, 16: 0.922, 64: 2.468},
        "scale": "2 x 128, block 64, 307,200 tokens, synthetic text, two seeds",
    },
    "dropout": {
        "lesson": "06",
        "states": "with plenty of data dropout only costs: 0.1 is worse than none",
        "best_val": {0.0: 0.925, 0.1: 1.210},
        "gpu_final_val": {0.0: 4.062, 0.1: 4.227},
        "scale": "2 x 128, 300 updates, 0.6 epochs of synthetic text, two seeds",
    },
    "tokenizer": {
        "lesson": "04",
        "states": "a 4,096-merge BPE beats GPT-2's tokenizer at equal wall time (cheaper updates); "
        "at equal updates only by its lower start",
        "equal_time_bpb": -1.05,
        "equal_updates_bpb": -0.71,
        "scale": "the recipe's 6 x 384 on 4 x 128 tokens per update, 15 updates (45 for bpe-4096 in the same time)",
    },
}


# ---------------------------------------------------------------------------
# What is trained


def base_config(tiny: bool = False) -> Config:
    """The base run: 4 x 4 x 256, block 128, 8 x 128 tokens per update, 300 updates at lr 3e-3
    (warmup 20, cosine to lr/10), dropout 0, float32, on the TinyStories sample with bpe-4096.
    tiny: a 1 x 32 model on 100 kB of synthetic text, for the tests."""
    cfg = preset("cpu").replace(
        n_layer=4,
        n_head=4,
        n_embd=256,
        block_size=128,
        dropout=0.0,
        corpus="tinystories",
        tokenizer=TOKENIZERS[0],
        micro_batch_size=BASE_BATCH,
        grad_accum_steps=1,
        max_steps=300,
        warmup_steps=20,
        lr=BASE_LR,
        min_lr=BASE_LR / 10,
        eval_interval=50,
        eval_batches=10,
        log_interval=10,
        dtype="float32",
        device="cpu",
        seed=SEEDS[0],
        name="scale-up",
    )
    if tiny:
        cfg = cfg.replace(
            n_layer=1,
            n_head=2,
            n_embd=32,
            block_size=32,
            corpus="synthetic",
            corpus_bytes=30_000,
            tokenizer="char",
            max_steps=8,
            warmup_steps=2,
            eval_interval=4,
            eval_batches=2,
            name="scale-up-tiny",
        )
    return cfg


def _tokenizers(tiny: bool) -> tuple[str, str]:
    return ("char", "bpe-256") if tiny else TOKENIZERS


def at_batch(cfg: Config, batch: int) -> Config:
    """`cfg` at `batch` sequences per update on the base's tokens (09's equal tokens): warmup at
    most a quarter of the run, evals as often in tokens and on as many sequences."""
    t = cfg.train
    c = cfg.replace(micro_batch_size=batch)
    n = max(4, cfg.tokens_per_step * t.max_steps // c.tokens_per_step)
    f = n / t.max_steps
    return c.replace(
        max_steps=n,
        warmup_steps=min(t.warmup_steps, max(1, n // 4)),
        eval_interval=max(1, round(t.eval_interval * f)),
        eval_batches=max(1, t.eval_batches * t.micro_batch_size // batch),
    )


def tokenizer_arm(cfg: Config, tokenizer: str, tiny: bool) -> Config:
    """`cfg` with `tokenizer` and a constant lr after warmup (min_lr = lr): its val at any
    update is that of a run stopped there. bpe-4096 300 updates, gpt2 75 (about the same
    seconds), both evaluated at update 75 (equal updates)."""
    name = TOKENIZERS[0] if tokenizer == _tokenizers(tiny)[0] else TOKENIZERS[1]
    steps, every = TOKENIZER_STEPS[name], TOKENIZER_EVERY[name]
    if tiny:
        steps, every = max(4, steps // 30), 1
    return cfg.replace(tokenizer=tokenizer, vocab_size=None, max_steps=steps, min_lr=cfg.train.lr, eval_interval=every)


LR_ORDER = (3e-3, 1e-2, 1e-3, 3e-4)  # the lessons' lr and its neighbours first


def plan(tiny: bool = False, more_seeds: bool = False, base_lr: float = BASE_LR) -> list[tuple[str, str, Config]]:
    """(group, name, config) of every run, most important first (a run cut short keeps what
    finished): the lr sweep, then at `base_lr` (main passes the sweep's best) dropout 0.1, the
    base's second seed, the tokenizer arms and the batch sizes; more_seeds adds a second seed of
    the lr, dropout and batch runs at the end."""
    sweep = base_config(tiny)
    base = sweep.replace(lr=base_lr, min_lr=base_lr / 10)
    s2 = SEEDS[1]
    runs = [("lr", f"lr {lr:g}", sweep.replace(lr=lr, min_lr=lr / 10)) for lr in LR_ORDER]
    runs += [("dropout", f"dropout {p:g}", base.replace(dropout=p)) for p in DROPOUTS if p]
    runs += [("seed", f"base, seed {s2}", base.replace(seed=s2))]
    runs += [("tokenizer", tok, tokenizer_arm(base, tok, tiny)) for tok in _tokenizers(tiny)]
    runs += [("batch", f"batch {b}", at_batch(base, b)) for b in BATCHES if b != base.train.micro_batch_size]
    if more_seeds:
        runs += [(g, f"{n}, seed {s2}", c.replace(seed=s2)) for g, n, c in runs if g in ("lr", "dropout", "batch")]
        runs = [r for r in runs if not (r[0] == "lr" and r[2].train.lr == base_lr and r[2].train.seed == s2)]
    return runs


def best_lr(runs: list[dict]) -> float | None:
    """The lr of the sweep (first seed) with the lowest final val, once every lr has run."""
    final = {r["lr"]: r["final_val"] for r in runs if r["group"] == "lr" and r["seed"] == SEEDS[0]}
    return min(final, key=final.get) if set(final) >= set(LRS) else None


def _record(group: str, name: str, r) -> dict:
    """What the table and notebook 11 need of one cached run."""
    h, c = r.history, r.config
    bpt = h.meta.get("val_bytes_per_token")
    best = h.best_val()
    return {
        "group": group,
        "name": name,
        "seed": c.train.seed,
        "lr": c.train.lr,
        "min_lr": c.train.min_lr,
        "batch": c.train.micro_batch_size,
        "dropout": c.model.dropout,
        "tokenizer": c.data.tokenizer,
        "vocab_size": h.meta.get("vocab_size"),
        "steps": len(h.steps),
        "tokens_per_step": c.tokens_per_step,
        "final_val": h.final_val(),
        "best_val": best[1] if best else None,
        "final_train": h.evals[-1].get("train_loss") if h.evals else None,
        "val_bytes_per_token": bpt,
        "evals": [[e["step"], e["val_loss"]] for e in h.evals],
        "seconds": h.meta.get("seconds"),
        "complete": r.complete,
        "folder": r.dir.name,
        "env": _env(r.dir),
    }


def _env(folder: Path) -> dict:
    """The run folder's env.json (when it last trained: time, device and threads), or {}."""
    try:
        return files.read_json(folder / runfolder.ENV)
    except (OSError, ValueError):
        return {}


# ---------------------------------------------------------------------------
# Seconds per update, measured interleaved


def seconds_per_update(configs: dict[str, Config], rounds: int = 3, per_turn: int = 2) -> dict[str, float]:
    """Seconds of one training update of each config, measured side by side in this process:
    the configs take turns of `per_turn` updates (equal tokens per update: equal tokens per
    turn), `rounds` times; the fastest turn of each counts (load only ever slows a turn down)."""
    from .data import prepare
    from .train import Trainer

    trainers = {k: Trainer(c, data=prepare(c.data), progress=False) for k, c in configs.items()}
    for tr in trainers.values():
        tr.train_step()  # allocations and first-call costs, untimed
    secs: dict[str, list[float]] = {k: [] for k in configs}
    for _ in range(rounds):
        for k, tr in trainers.items():
            t0 = time.perf_counter()
            for _ in range(per_turn):
                tr.train_step()
            secs[k].append((time.perf_counter() - t0) / per_turn)
    return {k: min(s) for k, s in secs.items()}


def _cached_speed(configs: dict[str, Config], tiny: bool) -> dict:
    """seconds_per_update of the tokenizer arms, kept in the runs folder beside the runs (a
    re-run reads it back)."""
    from .experiments import config_key
    from .paths import runs_dir

    key = "-".join(config_key(c) for c in configs.values())
    path = runs_dir() / f"scale-up-speed-{key}.json"
    if path.is_file():
        return files.read_json(path)
    t0 = time.perf_counter()
    s = seconds_per_update(configs, rounds=2 if tiny else 3, per_turn=1 if tiny else 2)
    out = {
        "seconds_per_update": s,
        "rounds": 2 if tiny else 3,
        "per_turn": 1 if tiny else 2,
        "measured_s": time.perf_counter() - t0,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    files.atomic_write_text(path, json.dumps(out, indent=1))
    return out


# ---------------------------------------------------------------------------
# Verdicts


def _bpb(nats: float, bytes_per_token: float) -> float:
    return bits_per_byte(nats, 1, bytes_per_token)  # one token of the split's mean bytes


def val_at(rec: dict, step: float) -> float:
    """The run's val at `step`, linear between its evals (nan outside them)."""
    steps, vals = zip(*rec["evals"], strict=True) if rec["evals"] else ((), ())
    if not steps or step < steps[0] - 1e-9 or step > steps[-1] + 1e-9:
        return math.nan
    return float(np.interp(step, steps, vals))


def _pick(runs: list[dict], group: str, seed: int = SEEDS[0], **match) -> list[dict]:
    return [r for r in runs if r["group"] == group and r["seed"] == seed and all(r[k] == v for k, v in match.items())]


def _mean(runs: list[dict], metric: str, **match) -> tuple[float, int]:
    """Mean of `metric` over the seeds of the runs that match (the base's seeds count for the
    base's settings: its lr, batch, dropout and tokenizer)."""
    vals = [r[metric] for r in runs if r[metric] is not None and all(r[k] == v for k, v in match.items())]
    vals = [v for v in vals if v is not None]
    return (float(np.mean(vals)), len(vals)) if vals else (math.nan, 0)


def _non_tok(runs: list[dict]) -> list[dict]:
    """The runs of the cosine schedule (all but the tokenizer arms)."""
    return [r for r in runs if r["group"] != "tokenizer"]


def seed_spread(runs: list[dict], metric: str = "final_val", **match) -> tuple[float, int]:
    """The largest difference between two seeds of one setting (among the runs whose fields
    equal `match`: the settings one verdict compares), and how many settings had two."""
    groups: dict[tuple, list[float]] = {}
    for r in _non_tok(runs):
        if any(r[k] != v for k, v in match.items()):
            continue
        groups.setdefault((r["lr"], r["batch"], r["dropout"], r["tokenizer"]), []).append(r[metric])
    spreads = [max(v) - min(v) for v in groups.values() if len(v) > 1]
    return (max(spreads), len(spreads)) if spreads else (math.nan, 0)


def _cmp(d: float, spread: float) -> str:
    if math.isnan(d):
        return "not measured"
    if math.isnan(spread) or spread == 0:
        return f"{d:+.3f} (one seed: no yardstick)"
    return f"{d:+.3f} ({abs(d) / spread:.1f}x the seed spread {spread:.3f})"


def _clear(d: float, spread: float) -> bool:
    return not math.isnan(d) and abs(d) > K * (0 if math.isnan(spread) else spread)


def proxy_text(key: str) -> str:
    """What the lesson (and, where it ran, the GPU study) measured, for the table."""
    p = PROXY[key]
    if key == "lr":
        return (
            "final val "
            + ", ".join(f"{lr:g}: {v:.3f}" for lr, v in p["final_val"].items())
            + f"; best {p['best']:g} (GPU study, 6 x 384, 100 updates: best {p['gpu_best']:g})"
        )
    if key == "batch":
        return "final val " + ", ".join(f"batch {b}: {v:.3f}" for b, v in p["final_val"].items())
    if key == "dropout":
        b, g = p["best_val"], p["gpu_final_val"]
        return (
            f"best val 0: {b[0.0]:.3f}, 0.1: {b[0.1]:.3f} (0.1 costs {b[0.1] - b[0.0]:+.3f}); "
            f"GPU study, 6 x 384, 100 updates: {g[0.1] - g[0.0]:+.3f}"
        )
    return (
        f"bpe-4096 vs gpt2: {p['equal_time_bpb']:+.2f} bits per byte at equal time, "
        f"{p['equal_updates_bpb']:+.2f} at equal updates"
    )


def verdict_lr(runs: list[dict], spread: float) -> dict:
    p = PROXY["lr"]
    rs = _non_tok(runs)
    m = {lr: _mean(rs, "final_val", lr=lr, batch=BASE_BATCH, dropout=0.0)[0] for lr in LRS}
    if any(math.isnan(v) for v in m.values()):
        return _missing("lr", p)
    best = min(m, key=m.get)
    order = sorted(m, key=m.get)
    proxy_order = sorted(p["final_val"], key=p["final_val"].get)
    second = order[1]
    held = best == p["best"] and order == proxy_order
    here = (
        "final val "
        + ", ".join(f"{lr:g}: {v:.3f}" for lr, v in m.items())
        + f"; best {best:g}, next {second:g} by {_cmp(m[second] - m[best], spread)}"
    )
    if held:
        word = "held"
    else:
        steps = int(round(math.log10(p["best"] / best) / math.log10(10**0.5)))
        where = f"{abs(steps)} grid step{'s' if abs(steps) != 1 else ''} {'down' if steps > 0 else 'up'}"
        word = f"moved: best lr {best:g}, {where} from 08's {p['best']:g}" if best != p["best"] else "moved: the order"
        if best == p["gpu_best"]:
            word += " (the GPU study's best at 6 x 384)"
        if not _clear(m[second] - m[best], spread):
            word += f"; {best:g} and {second:g} within {K:g}x the seed spread"
    return {
        "key": "lr",
        "claim": f"(a) the lr order and the best lr ({p['lesson']})",
        "states": p["states"],
        "proxy": proxy_text("lr"),
        "here": here,
        "verdict": word,
        "held": held,
        "numbers": {"final_val": {str(k): v for k, v in m.items()}, "best": best, "order": order},
    }


def verdict_batch(runs: list[dict], spread: float, base_lr: float | None) -> dict:
    p = PROXY["batch"]
    rs = _non_tok(runs)
    mid = BASE_BATCH
    small, large = BATCHES[0], BATCHES[-1]
    m = {b: _mean(rs, "final_val", lr=base_lr, batch=b, dropout=0.0)[0] for b in (small, mid, large)}
    if any(math.isnan(v) for v in m.values()):
        return _missing("batch", p)
    small_wins, large_loses = m[mid] - m[small], m[large] - m[mid]
    held = _clear(small_wins, spread) and small_wins > 0 and _clear(large_loses, spread) and large_loses > 0
    parts = []
    if not (_clear(small_wins, spread) and small_wins > 0):
        parts.append(f"batch {small} does not win clearly ({_cmp(-small_wins, spread)} against {mid})")
    if not (_clear(large_loses, spread) and large_loses > 0):
        parts.append(f"batch {large} does not lose clearly ({_cmp(large_loses, spread)} against {mid})")
    return {
        "key": "batch",
        "claim": f"(b) batch size at equal tokens ({p['lesson']})",
        "states": p["states"],
        "proxy": proxy_text("batch"),
        "here": "final val "
        + ", ".join(f"batch {b}: {v:.3f}" for b, v in m.items())
        + f"; {small} vs {mid} {_cmp(-small_wins, spread)}, {large} vs {mid} {_cmp(large_loses, spread)}",
        "verdict": "held" if held else "moved: " + "; ".join(parts),
        "held": held,
        "numbers": {"final_val": {str(k): v for k, v in m.items()}},
    }


def verdict_dropout(runs: list[dict], spread_best: float, base_lr: float | None) -> dict:
    p = PROXY["dropout"]
    rs = _non_tok(runs)
    m = {d: _mean(rs, "best_val", lr=base_lr, batch=BASE_BATCH, dropout=d)[0] for d in DROPOUTS}
    if any(math.isnan(v) for v in m.values()):
        return _missing("dropout", p)
    cost = m[0.1] - m[0.0]
    held = cost > 0 and _clear(cost, spread_best)
    pc = p["best_val"][0.1] - p["best_val"][0.0]
    return {
        "key": "dropout",
        "claim": f"(c) dropout's cost, 0 vs 0.1 ({p['lesson']})",
        "states": p["states"],
        "proxy": proxy_text("dropout"),
        "here": f"best val 0: {m[0.0]:.3f}, 0.1: {m[0.1]:.3f}: 0.1 costs {_cmp(cost, spread_best)}",
        "verdict": "held"
        if held
        else ("moved: dropout 0.1 helps" if cost < 0 and _clear(cost, spread_best) else "moved: no clear cost"),
        "held": held,
        "numbers": {"best_val": {str(k): v for k, v in m.items()}, "cost": cost, "proxy_cost": pc},
    }


def verdict_tokenizer(runs: list[dict], speed: dict | None, spread: float, tiny: bool) -> dict:
    p = PROXY["tokenizer"]
    a, b = _tokenizers(tiny)
    ra, rb = (next(iter(_pick(runs, "tokenizer", tokenizer=t)), None) for t in (a, b))
    if ra is None or rb is None or not speed:
        return _missing("tokenizer", p)
    sa, sb = (speed["seconds_per_update"][t] for t in (a, b))
    t_eq = min(ra["steps"] * sa, rb["steps"] * sb)  # the seconds both curves reach
    na, nb = t_eq / sa, t_eq / sb
    bpb = {t: _bpb(val_at(r, n), r["val_bytes_per_token"]) for t, r, n in ((a, ra, na), (b, rb, nb))}
    eq_time = bpb[a] - bpb[b]
    n_up = min(ra["steps"], rb["steps"])
    eq_up = _bpb(val_at(ra, n_up), ra["val_bytes_per_token"]) - _bpb(val_at(rb, n_up), rb["val_bytes_per_token"])
    start = {t: _bpb(math.log(r["vocab_size"]), r["val_bytes_per_token"]) for t, r in ((a, ra), (b, rb))}
    spread_bpb = _bpb(spread, ra["val_bytes_per_token"])  # nan stays nan
    held = eq_time < 0 and _clear(eq_time, spread_bpb)
    return {
        "key": "tokenizer",
        "claim": f"(d) the tokenizer at equal wall time ({p['lesson']})",
        "states": p["states"],
        "proxy": proxy_text("tokenizer"),
        "here": f"{a} vs {b}: {_cmp(eq_time, spread_bpb)} bits per byte at equal time ({t_eq:.0f} s: "
        f"{na:.0f} vs {nb:.0f} updates, {sb / sa:.1f}x cheaper updates); {eq_up:+.3f} at {n_up} updates "
        f"(uniform start {start[a] - start[b]:+.3f})",
        "verdict": "held"
        if held
        else (f"moved: {b} is better at equal time" if _clear(eq_time, spread_bpb) else "moved: no clear gain"),
        "held": held,
        "numbers": {
            "seconds_per_update": {a: sa, b: sb},
            "equal_time_s": t_eq,
            "updates_at_equal_time": {a: na, b: nb},
            "bpb_at_equal_time": bpb,
            "equal_time_bpb": eq_time,
            "equal_updates": n_up,
            "equal_updates_bpb": eq_up,
            "uniform_start_bpb": start,
            "seed_spread_bpb": spread_bpb,
        },
    }


def _missing(key: str, p: dict) -> dict:
    names = {"lr": "(a) the lr order and the best lr", "batch": "(b) batch size at equal tokens"}
    names |= {"dropout": "(c) dropout's cost, 0 vs 0.1", "tokenizer": "(d) the tokenizer at equal wall time"}
    return {
        "key": key,
        "claim": f"{names[key]} ({p['lesson']})",
        "states": p["states"],
        "proxy": proxy_text(key),
        "here": "not run yet",
        "verdict": "not run",
        "held": None,
        "numbers": {},
    }


def verdicts(result: dict) -> list[dict]:
    """One row per verdict from the runs (and speed) of `result`; a verdict whose runs are not
    all there says 'not run'."""
    runs = result["runs"]
    base_lr = best_lr(runs)
    # each verdict's yardstick: the seed spread of the settings it compares (as 06 and 09 measure it)
    lr_spread = seed_spread(runs, "final_val", batch=BASE_BATCH, dropout=0.0)[0]
    batch_spread = seed_spread(runs, "final_val", lr=base_lr, dropout=0.0)[0]
    dropout_spread = seed_spread(runs, "best_val", lr=base_lr, batch=BASE_BATCH)[0]
    base_spread = seed_spread(runs, "final_val", lr=base_lr, batch=BASE_BATCH, dropout=0.0)[0]
    return [
        verdict_lr(runs, lr_spread),
        verdict_batch(runs, batch_spread, base_lr),
        verdict_dropout(runs, dropout_spread, base_lr),
        verdict_tokenizer(runs, result.get("speed"), base_spread, result.get("tiny", False)),
    ]


# ---------------------------------------------------------------------------
# The table in RESULTS.md


def table(result: dict) -> str:
    """The markdown table and its note."""
    rows = [
        "| verdict | as the lesson states it | the lesson measured | 4 x 256 measured | held / moved |",
        "| --- | --- | --- | --- | --- |",
    ]
    for v in result["verdicts"]:
        rows.append(f"| {v['claim']} | {v['states']} | {v['proxy']} | {v['here']} | **{v['verdict']}** |")
    c = result["config"]
    spread, n = seed_spread(result["runs"], "final_val")
    sp = result.get("speed") or {}
    times = sorted(r["env"].get("time", "") for r in result["runs"] if r.get("env"))
    when = f"{times[0]} to {times[-1]}" if times else "(no record)"
    devices = {r["env"].get("device", "?") for r in result["runs"] if r.get("env")}
    train_min = sum(r["seconds"] or 0 for r in result["runs"]) / 60
    note = [
        "",
        f"{len(result['runs'])} of {result['planned']} runs"
        + (" (unfinished: each row uses the runs that finished)" if not result["finished"] else "")
        + f", {train_min:.0f} min of training in all (runs started {when}) on {result['host']['cpus']} "
        f"{result['host']['machine']} cores ({', '.join(sorted(devices))}), from `{result['command']}` "
        "(re-running reads them back).",
        f"Model {c['n_layer']} x {c['n_head']} x {c['n_embd']}, block {c['block_size']}, "
        f"{c['micro_batch_size']} x {c['block_size']} tokens per update, {c['max_steps']} updates, warmup "
        f"{c['warmup_steps']}, cosine to lr/10, dropout {c['dropout']:g}, on {c['corpus']} with {c['tokenizer']}. "
        + (
            f"Where a row does not vary the lr: the sweep's best, {result['base_lr']:g} (the lessons ran theirs at "
            "3e-3, below their best 0.01). "
            if result.get("base_lr")
            else ""
        )
        + "Each row's yardstick is the largest difference between two seeds of one of the settings it compares "
        + (
            f"({n} setting(s) had two seeds, each shown as their mean; the largest spread of any, {spread:.3f} nats "
            f"of final val); a difference counts above {K:g}x it."
            if n
            else "(none had two seeds yet)."
        ),
    ]
    if sp:
        s = sp["seconds_per_update"]
        note.append(
            "The tokenizer row: both arms at a constant lr after warmup, so a curve's val at an update is that of "
            "a run stopped there; their seconds per update ("
            + ", ".join(f"{t} {v:.3f} s" for t, v in s.items())
            + f") were measured in one process, taking turns of {sp['per_turn']} updates {sp['rounds']} times, "
            "the fastest turn of each, so load slowed both alike; each curve is read (linearly between its evals, "
            f"every {TOKENIZER_EVERY[TOKENIZERS[0]]} and {TOKENIZER_EVERY[TOKENIZERS[1]]} updates) at the update it "
            "reaches in the same seconds. Bits per byte of each tokenizer's own val text."
        )
    return "\n".join(rows + ["\n".join(note)])


def write_table(path: Path, text: str, heading: str) -> None:
    """Put `text` between BEGIN and END in the file at `path` (replacing what was there), or
    append `heading`, BEGIN, text, END when the markers are absent."""
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in old and END in old:
        new = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: block, old, count=1, flags=re.S)
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + f"{heading}\n\n{block}\n"
    files.atomic_write_text(path, new)


HEADING = (
    "## The lessons' verdicts one scale up (`slmlab.scale_up`, notebook 11 section 9)\n\n"
    "Lessons 05-12 measure on 1-2 x 128 models for 300 updates of synthetic text. This checks four of\n"
    "their verdicts at 4 x 256 on the TinyStories sample with bpe-4096, on a CPU. Re-run with:\n"
    "`SLMLAB_DATA_DIR=<folder with tinystories_sample.txt> python -m slmlab.scale_up` (cached runs:\n"
    "a second call only rewrites the table and slmlab/measured/scale_up_cpu.json)."
)


def load(path: Path = RESULT) -> dict:
    """The committed result (slmlab/measured/scale_up_cpu.json)."""
    return files.read_json(path)


# ---------------------------------------------------------------------------
# The command


def _say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def main(argv: list[str] | None = None, log: Callable[[str], None] = _say) -> int:
    ap = argparse.ArgumentParser(prog="python -m slmlab.scale_up", description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="a seconds-sized stand-in on synthetic text (tests)")
    ap.add_argument("--more-seeds", action="store_true", help="a second seed of every lr, dropout and batch run")
    ap.add_argument("--json", help=f"where the result goes (default {RESULT}; with --tiny: the runs folder)")
    ap.add_argument("--results-md", help="the file the table goes into (default RESULTS.md; --tiny: the runs folder)")
    args = ap.parse_args(argv)
    from .experiments import run
    from .paths import runs_dir

    tiny_dir = runs_dir() / "scale-up-tiny"
    out = Path(args.json or (tiny_dir / "scale_up.json" if args.tiny else RESULT))
    md = Path(args.results_md or (tiny_dir / "RESULTS.md" if args.tiny else RESULTS_MD))
    start = time.perf_counter()
    specs = plan(args.tiny, args.more_seeds)
    base = base_config(args.tiny)
    result = {
        "command": " ".join(
            ["python -m slmlab.scale_up"] + ["--tiny"] * args.tiny + ["--more-seeds"] * args.more_seeds
        ),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "finished": None,
        "tiny": args.tiny,
        "host": {
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "load_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan,
        },
        "config": base.flat(),
        "planned": len(specs),
        "proxy": {
            k: {kk: (_str_keys(vv) if isinstance(vv, dict) else vv) for kk, vv in v.items()} for k, v in PROXY.items()
        },
        "runs": [],
        "base_lr": None,
        "speed": None,
    }

    def save() -> None:
        result["elapsed_s"] = time.perf_counter() - start
        result["verdicts"] = verdicts(result)
        out.parent.mkdir(parents=True, exist_ok=True)
        files.atomic_write_text(out, json.dumps(result, indent=1, default=float) + "\n")
        write_table(md, table(result), HEADING)

    for i in range(len(specs)):
        group, name, cfg = specs[i]
        t0 = time.perf_counter()
        r = run(cfg, label=name, progress=False)
        rec = _record(group, name, r)
        result["runs"].append(rec)
        if i + 1 == len(LR_ORDER):  # the sweep is done: the rest at its best lr
            result["base_lr"] = best_lr(result["runs"])
            specs = specs[: i + 1] + plan(args.tiny, args.more_seeds, result["base_lr"])[i + 1 :]
        log(
            f"{i + 1}/{len(specs)} {group} {name} seed {rec['seed']}: final val {rec['final_val']:.3f}, "
            f"best {rec['best_val']:.3f}, {rec['steps']} updates, {time.perf_counter() - t0:.0f} s"
        )
        if group == "tokenizer" and (i + 1 == len(specs) or specs[i + 1][0] != group):
            arms = {c.data.tokenizer: c for g, _, c in specs if g == "tokenizer"}
            result["speed"] = _cached_speed(arms, args.tiny)
            log(
                "seconds per update, interleaved: "
                + ", ".join(f"{t} {s:.3f}" for t, s in result["speed"]["seconds_per_update"].items())
            )
        save()  # after every run: a run cut short leaves what finished
    result["finished"] = time.strftime("%Y-%m-%d %H:%M %Z")
    save()
    for v in result["verdicts"]:
        log(f"{v['claim']}: {v['verdict']} | {v['here']}")
    log(f"done in {time.perf_counter() - start:.0f} s; wrote {out} and the table in {md}")
    return 0


def _str_keys(d: dict) -> dict:
    return {str(k): v for k, v in d.items()}


if __name__ == "__main__":
    sys.exit(main())
