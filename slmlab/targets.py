"""The races of `make bench`: whole training runs to a quality bar, ours beside baselines.

Holds
- `TARGETS`: `speedrun` (Tiny Shakespeare by characters: wall time from launch to val <= 1.8857
  on 50 val batches, nanoGPT's 2000-step figure), `tinystories` (bits per byte on held-out
  TinyStories text after the preset's time_budget) and `smoke` (seconds, for tests).
- `target_configs(name)`: ours (a preset) and the baseline (nanoGPT's recipe, run by our Trainer).
- `run_target_case`: one run in its own process. The parent notes the time it launched the
  process, so "from launch" counts Python's start, the imports, the data and the model build
  as well as the training and the evaluations, as a user's `python -m slmlab train` would.
- `held_out_bpb`: bits per byte of a model on stories no run read (corpora.tinystories_held_out).
- `race_nanogpt(repo)`: nanoGPT's own train.py (a checkout given with `--nanogpt DIR` or
  $SLMLAB_NANOGPT), launched the way its README's CPU recipe says, timed from launch to the first
  printed val at or below the bar. Its files are copied to a temporary folder and its own
  prepare.py builds the data there from the Tiny Shakespeare text on this machine.
- `run_targets`: each target in each dtype this machine computes natively (fp32 always; bf16
  where the CPU has it, or the GPU; a skipped row says why), the baselines, and the ratios.

The bench's speed cases and report are slmlab.bench's; training is slmlab.train's; the
subprocess protocol each race runs through is slmlab.child's.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from .callbacks import Callback
from .child import in_child
from .config import Config
from .device import native_dtypes, pick_device
from .presets import preset

__all__ = [
    "TARGETS",
    "Target",
    "target_configs",
    "parse_targets",
    "run_target_case",
    "run_targets",
    "held_out_bpb",
    "race_nanogpt",
    "NANOGPT_CPU_ARGS",
    "target_rows",
    "TARGET_HEAD",
]

HELD_OUT_BYTES = 200_000  # TinyStories text held out of every bench run: ~230 stories


@dataclass(frozen=True)
class Target:
    """Ours vs baselines, judged by `metric` ("val_loss" nats on the val split, or "held_out_bpb")
    against `bar` (lower is better), in each of `dtypes` the machine runs natively."""

    ours: str  # a preset name
    metric: str  # val_loss | held_out_bpb
    bar: float
    note: str
    dtypes: tuple[str, ...] = ("float32", "bfloat16")


TARGETS: dict[str, Target] = {
    "speedrun": Target(
        "speedrun",
        "val_loss",
        1.8857,
        "Tiny Shakespeare chars: wall time from launch to val <= 1.8857 (nanoGPT's "
        "2000-step figure) on 50 val batches; baselines nanoGPT's CPU recipe in our "
        "Trainer and, given a checkout, nanoGPT's own train.py",
    ),
    "tinystories": Target(
        "tinystories-cpu",
        "held_out_bpb",
        1.00,
        "TinyStories: bits per byte on held-out stories after the time budget; "
        "baseline nanoGPT's CPU-sized model on GPT-2 tokens, same trainer and "
        "minutes",
        dtypes=("float32",),
    ),
    "smoke": Target("smoke", "val_loss", 10.0, "seconds: for tests", dtypes=("float32",)),
}

# nanoGPT README's "I only have a macbook" run of config/train_shakespeare_char.py
NANOGPT_CPU_ARGS = (
    "config/train_shakespeare_char.py",
    "--device=cpu",
    "--compile=False",
    "--eval_iters=20",
    "--log_interval=1",
    "--block_size=64",
    "--batch_size=12",
    "--n_layer=4",
    "--n_head=4",
    "--n_embd=128",
    "--max_iters=2000",
    "--lr_decay_iters=2000",
    "--dropout=0.0",
)
_NANOGPT_FILES = (
    "train.py",
    "model.py",
    "configurator.py",
    "config/train_shakespeare_char.py",
    "data/shakespeare_char/prepare.py",
)


def parse_targets(spec: str | None, quick: bool) -> list[str]:
    """'speedrun,tinystories' -> names; None -> speedrun (none with --quick); 'none' -> []."""
    if spec is None:
        return [] if quick else ["speedrun"]
    names = [s.strip() for s in spec.split(",") if s.strip() and s.strip() != "none"]
    for n in names:
        if n not in TARGETS:
            raise ValueError(f"bench target {n!r} is unknown; use one of {', '.join(TARGETS)} or none")
    return names


def target_configs(name: str) -> tuple[Config, Config]:
    """(ours, baseline) for target `name`; both evaluate alike so their numbers compare."""
    if name not in TARGETS:
        raise ValueError(f"bench target {name!r} is unknown; use one of {', '.join(TARGETS)}")
    ours = preset(TARGETS[name].ours)
    if name == "speedrun":  # nanoGPT config/train_shakespeare_char.py with its CPU overrides
        base = ours.replace(
            n_layer=4,
            n_head=4,
            n_embd=128,
            block_size=64,
            dropout=0.0,
            lr=1e-3,
            min_lr=1e-4,
            warmup_steps=100,
            max_steps=2000,
            micro_batch_size=12,
            beta2=0.99,
            weight_decay=0.1,
            dtype="float32",
            optimizer="adamw",
            eval_interval=250,
            eval_batches=50,
        )
    elif name == "tinystories":  # nanoGPT-sized for a CPU, GPT-2's tokenizer, the same minutes
        base = ours.replace(
            n_layer=4,
            n_head=4,
            n_embd=128,
            block_size=128,
            dropout=0.0,
            tokenizer="gpt2",
            lr=1e-3,
            min_lr=1e-4,
            warmup_steps=100,
            micro_batch_size=16,
            dtype="float32",
            optimizer="adamw",
        )
    else:
        base = ours.replace(lr=ours.train.lr / 3, min_lr=ours.train.min_lr / 3)
    return ours.replace(name=f"{name}: ours"), base.replace(name=f"{name}: baseline")


# ---------------------------------------------------------------------------
# One run, in its own process


class _LoopStart(Callback):
    """Notes the wall clock (time.time(), comparable across processes) when the loop starts."""

    unix = 0.0

    def on_train_start(self, trainer) -> None:
        self.unix = time.time()


def run_target_case(config: dict, metric: str, bar: float, launched: float, held_out: dict | None = None) -> dict:
    """Train `config` in this process (launched at unix time `launched`): when did it first reach
    `bar`, counted from launch, and where did it end? held_out: {"docs": [...]} to score."""
    from .diagnostics import bits_per_byte  # targets sit above train in the import flow
    from .train import Trainer

    cfg = Config.from_dict(config)
    start = _LoopStart()
    trainer = Trainer(cfg, callbacks=[start], progress=False)
    hist = trainer.run()
    startup = start.unix - launched
    n_tokens, n_bytes = hist.meta["n_val_tokens"], hist.meta["val_bytes"]
    val_bpb = [bits_per_byte(e["val_loss"], n_tokens, n_bytes) for e in hist.evals]
    last = hist.evals[-1]
    out = {
        "name": cfg.name,
        "metric": metric,
        "bar": bar,
        "steps": hist.steps[-1]["step"],
        "startup_s": startup,
        "seconds": hist.meta["seconds"],
        "final_val_loss": last["val_loss"],
        "final_train_loss": last["train_loss"],
        "final_val_bpb": val_bpb[-1],
        "dtype": hist.meta["dtype"],
        "threads": hist.meta["threads"],
        "n_params": hist.meta["n_params"],
        "time_budget": cfg.train.time_budget,
        "evals": [
            [e["step"], round(startup + e["seconds"], 2), round(e["val_loss"], 4), round(b, 4)]
            for e, b in zip(hist.evals, val_bpb, strict=True)
        ],
    }
    if metric == "val_loss":
        hit = next((e for e in hist.evals if e["val_loss"] <= bar), None)
        out.update(
            final_score=last["val_loss"],
            reached=hit is not None,
            seconds_to_bar=startup + hit["seconds"] if hit else None,
            step_to_bar=hit["step"] if hit else None,
        )
    else:
        score = held_out_bpb(
            trainer.model, trainer.data.tokenizer, held_out["docs"], cfg.model.block_size, trainer.device
        )
        out.update(
            final_score=score,
            reached=score <= bar,
            seconds_to_bar=None,
            step_to_bar=None,
            held_out_stories=len(held_out["docs"]),
        )
    return out


@torch.no_grad()
def held_out_bpb(
    model: torch.nn.Module, tokenizer, docs: list[str], block_size: int, device, batch_size: int = 32
) -> float:
    """Bits per byte of `model` on `docs`, tokenized as training text is (EOT after each story):
    every token after the first predicted once, in windows of block_size, in the model's
    autocast; bytes are the stories' UTF-8 bytes, without EOTs (the val split's convention)."""
    ids = torch.from_numpy(tokenizer.encode_docs(docs).astype(np.int64))  # (N,)
    n_bytes = sum(len(d.encode("utf-8")) for d in docs)
    starts = range(0, len(ids) - 1, block_size)
    full = [s for s in starts if s + block_size + 1 <= len(ids)]
    rest = [s for s in starts if s + block_size + 1 > len(ids)]  # the one shorter window at the end
    was_training = model.training
    model.eval()
    on = next(model.parameters()).device
    nats = sum(
        _nats(model, torch.stack([ids[s : s + block_size + 1] for s in full[i : i + batch_size]]), on, device)
        for i in range(0, len(full), batch_size)
    )
    nats += sum(_nats(model, ids[s:].unsqueeze(0), on, device) for s in rest)
    model.train(was_training)
    return nats / (math.log(2) * n_bytes)


def _nats(model, win: torch.Tensor, on, device) -> float:
    """Summed next-token cross-entropy over (B, T+1) windows of ids."""
    win = win.to(on)
    with device.autocast():
        logits, _ = model(win[:, :-1])  # (B, T, V)
    return F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), win[:, 1:].reshape(-1), reduction="sum").item()


def _in_subprocess(case: dict) -> dict:
    out = in_child("slmlab.targets:run_target_case", {**case, "launched": time.time()})
    return out if isinstance(out, dict) else {"name": case["config"]["name"], "error": out}


# ---------------------------------------------------------------------------
# nanoGPT's own train.py


_NANOGPT_EVAL = re.compile(r"step (\d+): train loss ([\d.]+), val loss ([\d.]+)")


def race_nanogpt(repo: str | Path, bar: float, text: Path, log=print) -> dict:
    """Run nanoGPT's train.py (README CPU recipe) from `repo` on the Tiny Shakespeare file `text`:
    seconds from launch to its first printed val <= bar."""
    repo = Path(repo)
    missing = [f for f in _NANOGPT_FILES if not (repo / f).is_file()]
    if missing:
        raise ValueError(
            f"--nanogpt {repo}: no {', '.join(missing)} there; give a checkout of "
            f"karpathy/nanoGPT (git clone https://github.com/karpathy/nanoGPT)"
        )
    commit = (
        subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        or "unknown"
    )
    with tempfile.TemporaryDirectory(prefix="slmlab-nanogpt-") as tmp:
        work = Path(tmp)
        for f in _NANOGPT_FILES:
            (work / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(repo / f, work / f)
        shutil.copy(text, work / "data/shakespeare_char/input.txt")  # so prepare.py downloads nothing
        subprocess.run([sys.executable, "data/shakespeare_char/prepare.py"], cwd=work, check=True, capture_output=True)
        log(f"nanoGPT {commit[:7]}: python train.py {' '.join(NANOGPT_CPU_ARGS)}")
        evals, t0 = [], time.time()
        proc = subprocess.Popen(
            [sys.executable, "train.py", *NANOGPT_CPU_ARGS],
            cwd=work,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        tail = []
        for line in proc.stdout:
            tail = (tail + [line.rstrip()])[-5:]
            m = _NANOGPT_EVAL.search(line)
            if m:
                evals.append([int(m[1]), time.time() - t0, float(m[3])])
        proc.wait()
        seconds = time.time() - t0
    if proc.returncode or not evals:
        return {"name": "nanoGPT train.py", "error": f"exit {proc.returncode}: {' | '.join(tail)}"}
    hit = next((e for e in evals if e[2] <= bar), None)
    return {
        "name": "nanoGPT train.py",
        "commit": commit,
        "metric": "val_loss",
        "bar": bar,
        "dtype": "float32",
        "threads": torch.get_num_threads(),
        "steps": evals[-1][0],
        "startup_s": None,
        "seconds": seconds,
        "final_score": evals[-1][2],
        "final_val_loss": evals[-1][2],
        "reached": hit is not None,
        "seconds_to_bar": hit[1] if hit else None,
        "step_to_bar": hit[0] if hit else None,
        "evals": evals,
        "args": list(NANOGPT_CPU_ARGS),
    }


# ---------------------------------------------------------------------------
# All of a target's runs, and the ratios


def run_targets(
    names: list[str], nanogpt: str | Path | None = None, log=print, subprocess_fn=_in_subprocess
) -> list[dict]:
    """Each target's runs one after the other, each in its own process; a row per target."""
    from .corpora import DataMissingError, source, tinystories_held_out  # only when a target trains

    device = pick_device(os.environ.get("SLMLAB_DEVICE", "auto"))
    out = []
    for name in names:
        t = TARGETS[name]
        ours, base = target_configs(name)
        held = None
        if t.metric == "held_out_bpb":
            try:
                h = tinystories_held_out(ours.data.corpus_bytes, HELD_OUT_BYTES)
            except DataMissingError as e:  # no TinyStories here: say so, race the rest
                out.append(
                    {"target": name, "note": t.note, "runs": [], "ratios": [], "skipped": [f"{name} skipped: {e}"]}
                )
                log(target_rows(out[-1]))
                continue
            ours, base = (c.replace(corpus_bytes=h.run_corpus_bytes) for c in (ours, base))
            held = {"docs": h.docs}
            log(f"held out: {h.source}")
        dtypes, skipped = native_dtypes(t.dtypes, device)
        case = {"metric": t.metric, "bar": t.bar, "held_out": held}
        runs = [
            subprocess_fn({**case, "config": ours.replace(dtype=d, name=f"{ours.name} ({d})").to_dict()})
            for d in dtypes
        ]
        runs.append(subprocess_fn({**case, "config": base.to_dict()}))
        if name == "speedrun" and nanogpt:
            runs.append(race_nanogpt(nanogpt, t.bar, source("shakespeare").files(0)[0][0], log=log))
        row = {
            "target": name,
            "note": t.note,
            "runs": runs,
            "skipped": skipped,
            "ratios": _ratios(runs[: len(dtypes)], runs[len(dtypes) :], t.metric),
        }
        out.append(row)
        log(target_rows(row))
    return out


def _ratios(ours: list[dict], baselines: list[dict], metric: str) -> list[dict]:
    """Ours / baseline, for every pair that ran: the time to the bar (speedrun) or the score."""
    out = []
    for o in ours:
        for b in baselines:
            if "error" in o or "error" in b:
                continue
            r = {"ours": o["name"], "baseline": b["name"]}
            if metric == "val_loss" and o["reached"] and b["reached"]:
                r["time_ratio"] = o["seconds_to_bar"] / b["seconds_to_bar"]
            elif metric == "val_loss" and o["reached"]:  # theirs never got there: at most this
                r["time_ratio_at_most"] = o["seconds_to_bar"] / b["seconds"]
            r["score_ratio"] = o["final_score"] / b["final_score"]
            out.append(r)
    return out


TARGET_HEAD = (
    "| target | run | dtype | steps | startup s | seconds | final (metric) | bar "
    "| reached at s from launch (step) |\n"
    "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
)


def target_rows(row: dict) -> str:
    """A target's table rows, then its skipped dtypes and ratios."""
    lines = []
    for r in row["runs"]:
        if "error" in r:
            lines.append(f"| {row['target']} | {r['name']} | | error: {r['error']} | | | | | |")
            continue
        at = (
            f"{r['seconds_to_bar']:.1f} ({r['step_to_bar']})"
            if r["seconds_to_bar"]
            else ("yes (end)" if r["reached"] else "not reached")
        )
        start = f"{r['startup_s']:.1f}" if r["startup_s"] is not None else "in seconds"
        lines.append(
            f"| {row['target']} | {r['name']} | {r['dtype']} | {r['steps']} | {start} "
            f"| {r['seconds']:.1f} | {r['final_score']:.4f} ({r['metric']}) | {r['bar']} | {at} |"
        )
    notes = list(row["skipped"])
    for q in row["ratios"]:
        if "time_ratio" in q:
            notes.append(f"{q['ours']}: {q['time_ratio']:.3f}x the time of {q['baseline']} to the bar")
        elif "time_ratio_at_most" in q:
            notes.append(
                f"{q['ours']}: at most {q['time_ratio_at_most']:.3f}x the time of "
                f"{q['baseline']} (which never reached the bar)"
            )
        notes.append(f"{q['ours']}: final score {q['score_ratio']:.3f}x {q['baseline']}'s")
    return "\n".join(lines) + ("\n\n" + "\n".join(f"- {n}" for n in notes) if notes else "")
