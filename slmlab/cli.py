"""`python -m slmlab ...`: the course's tools for a terminal (and torchrun).

Commands: train, sample, prepare, ladder, lint, doctor, bench, gpu-check, leaderboard. Each is a thin
layer over the library: it parses arguments, calls one function, prints.
A bad value, or a path that names nothing or the wrong kind of thing, ends the
program with one clear line on stderr, exit code 2, and nothing written.
Your own corpus (--corpus file:PATH) is read whole, up to USER_CORPUS_BYTES; when
a run reads less of a corpus than is on disk, a note on stderr says how much.
Under `torchrun --nproc_per_node=N -m slmlab train ...` every rank runs the same
command (slmlab.distributed); rank 0 alone prints notes, the global batch, the summary,
and the errors every rank meets alike (a bad value); other errors name their rank.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .runfolder import BEST, CKPT, HISTORY, is_run_folder, weights

__all__ = ["main"]

USER_CORPUS_BYTES = 100_000_000  # --corpus file:PATH reads this much of it unless --set corpus_bytes


def _config_from_args(args):
    from .config import validate
    from .corpora import FILE_PREFIX
    from .presets import preset

    cfg = preset(args.profile or "smoke")
    if getattr(args, "corpus", None):
        cfg = cfg.replace(corpus=args.corpus)
        if args.corpus.startswith(FILE_PREFIX):  # not the preset's cap: the user asked for this text
            cfg = cfg.replace(corpus_bytes=USER_CORPUS_BYTES)
    if getattr(args, "tokenizer", None):
        cfg = cfg.replace(tokenizer=args.tokenizer)
    for assignment in getattr(args, "set", None) or []:
        cfg = cfg.set_from_string(assignment)
    cfg = validate(cfg)
    _say_what_is_cut(cfg.data)
    return cfg


def _say_what_is_cut(data_cfg) -> None:
    """A note on stderr when the run reads less of the corpus than this machine holds."""
    from .corpora import source
    from .distributed import is_main_process

    if not is_main_process():
        return

    on_disk = source(data_cfg.corpus).bytes_on_disk()
    if on_disk is not None and on_disk > data_cfg.corpus_bytes:
        print(
            f"note: {data_cfg.corpus} holds {on_disk:,} bytes; this run reads the first "
            f"{data_cfg.corpus_bytes:,} (corpus_bytes; change it with --set corpus_bytes=N)",
            file=sys.stderr,
        )


# ---------------------------------------------------------------------------
# paths the user names


_RUN_FILES = {CKPT: "checkpoint", BEST: "best checkpoint", HISTORY: "history"}


def _run_folder(path: str, flag: str, needs: str) -> Path:
    """The run folder `path` names (a file inside it also does), holding the file `needs`."""
    p = Path(path)
    if p.is_file() and p.name in _RUN_FILES:
        p = p.parent
    what = f"{_RUN_FILES[needs]} ({needs})"
    if not p.exists():
        raise ValueError(
            f"{flag} {path}: no such folder, so no {what} to read; give a run "
            f"folder (one that `python -m slmlab train --out DIR` wrote)"
        )
    if not p.is_dir():
        raise ValueError(
            f"{flag} {path} is a file, not a run folder; give the folder that `python -m slmlab train --out DIR` wrote"
        )
    if not (p / needs).is_file():
        raise ValueError(
            f"{flag} {path} holds no {what}: not a run folder, or its run saved "
            f"nothing yet; give the folder that `python -m slmlab train --out DIR` wrote"
        )
    return p


def _new_run_folder(path: str) -> str:
    """--out: a new or empty folder, never a file or another run (that would be overwritten)."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"--out {path} is a file; give a folder for the run (it is created)")
    if is_run_folder(p):
        raise ValueError(f"--out {path} already holds a run; continue it with --resume {path}, or give a new folder")
    return path


# ---------------------------------------------------------------------------
# commands


def cmd_train(args) -> int:
    from . import distributed
    from .train import train

    if args.resume:
        given = [
            flag
            for flag, v in (
                ("--profile", args.profile),
                ("--corpus", args.corpus),
                ("--tokenizer", args.tokenizer),
                ("--set", args.set),
                ("--out", args.out),
            )
            if v
        ]
        if given:
            raise ValueError(
                f"--resume continues the run as it was saved; drop {', '.join(given)} "
                f"(or start a new run with --out instead)"
            )
        out = str(_run_folder(args.resume, "--resume", CKPT))
        run = {"resume": out}
    else:
        cfg = _config_from_args(args)
        out = _new_run_folder(args.out or _default_out(cfg))
        run = {"cfg": cfg, "out_dir": out}
    with distributed.session():  # torchrun: joins the run's process group, leaves it at the end
        hist = train(**run, progress=not args.quiet, callbacks=[_say_global_batch()])
    if not distributed.is_main_process():
        return 0
    best = hist.best_val()
    stop = f", stopped: {hist.stop_reason}" if hist.stop_reason else ""
    msg = hist.meta.get("stop_message")
    print(
        f"{len(hist.steps)} steps in {hist.meta.get('seconds', 0):.1f} s{stop}; "
        + (f"best val {best[1]:.4f} at step {best[0]}" if best else "no eval")
        + f"; run folder: {out}"
    )
    if msg:
        print(msg)
    return 0


def _say_global_batch():
    """A callback: under torchrun, rank 0 prints at the start what one update trains on over all ranks."""
    from .callbacks import Callback
    from .distributed import batch_text

    class SayGlobalBatch(Callback):
        def on_train_start(self, trainer) -> None:
            if trainer.dist.world_size > 1 and trainer.dist.is_main:
                print(batch_text(trainer.cfg, trainer.dist), flush=True)

    return SayGlobalBatch()


def _default_out(cfg) -> str:
    import time

    from .paths import runs_dir

    return str(runs_dir() / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}")


def cmd_sample(args) -> int:
    import torch

    from .checkpoint import load_model
    from .data import prepare

    model, cfg = load_model(_run_folder(args.run_dir, "sample", weights(args.which)), args.which)
    tok = prepare(cfg.data).tokenizer
    ids = tok.encode(args.prompt) if args.prompt else [tok.eot_id]
    g = torch.Generator().manual_seed(args.seed)
    for i in range(args.n):
        out = model.generate(
            torch.tensor([ids]), args.tokens, temperature=args.temperature, top_k=args.top_k or None, generator=g
        )
        print(f"--- sample {i + 1}\n{tok.decode(out[0].tolist())}")
    return 0


def cmd_prepare(args) -> int:
    from .data import prepare

    cfg = _config_from_args(args)
    data = prepare(cfg.data, rebuild=args.rebuild)
    m = data.manifest
    print(
        f"{m.get('corpus')} / {m.get('tokenizer')}: {m.get('n_train_tokens'):,} train + "
        f"{m.get('n_val_tokens'):,} val tokens, vocab {data.vocab_size}; in {data.dir}"
    )
    return 0


def cmd_ladder(args) -> int:
    from .data import prepare
    from .diagnostics import ladder

    cfg = _config_from_args(args)
    print(ladder(prepare(cfg.data)).as_table())
    return 0


def cmd_lint(args) -> int:
    from .diagnostics import format_findings, lint_file

    findings = lint_file(args.file, n_train_tokens=args.train_tokens)  # .json, .py or .ipynb
    print(format_findings(findings))
    return 1 if any(f.severity == "error" for f in findings) else 0


def cmd_doctor(args) -> int:
    from .diagnostics import checkup

    print(
        checkup(
            args.path, vocab_size=args.vocab_size, tokenizer=args.tokenizer, grad_accum_steps=args.grad_accum
        ).text()
    )
    return 0


def cmd_leaderboard(args) -> int:
    from .capstone import format_leaderboard, read_leaderboards

    print(format_leaderboard(read_leaderboards(args.files)))
    return 0


def cmd_bench(args) -> int:
    from .bench import main as bench_main

    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise ValueError(f"--out {args.out} is a file; give a folder for bench.json and bench.md")
    return bench_main(args)


def cmd_gpu_check(args) -> int:
    from .gpu_check import run

    return run(args)


# ---------------------------------------------------------------------------
# parser


def _add_config_args(p: argparse.ArgumentParser) -> None:
    from .corpora import CORPORA

    p.add_argument("--profile", help="preset: smoke (the default), cpu, gpu, student, ...")
    p.add_argument(
        "--corpus",
        help=f"{' | '.join(CORPORA)} | file:PATH (your .txt file or folder, "
        f"read whole up to {USER_CORPUS_BYTES:,} bytes)",
    )
    p.add_argument("--tokenizer", help="char | bpe-N | gpt2")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", help="change one config field")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m slmlab", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a GPT")
    _add_config_args(t)
    t.add_argument("--out", help="run folder (default: a new one under $SLMLAB_RUNS_DIR)")
    t.add_argument("--resume", help="continue the run saved in this folder")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="sample text from a trained run")
    s.add_argument("run_dir")
    s.add_argument("--prompt", default="")
    s.add_argument("--tokens", type=int, default=200)
    s.add_argument("--temperature", type=float, default=0.8)
    s.add_argument("--top-k", type=int, default=50)
    s.add_argument("--n", type=int, default=1)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--which", choices=("ckpt", "best"), default="ckpt")
    s.set_defaults(func=cmd_sample)

    pr = sub.add_parser("prepare", help="tokenize a corpus into token files")
    _add_config_args(pr)
    pr.add_argument("--rebuild", action="store_true")
    pr.set_defaults(func=cmd_prepare)

    la = sub.add_parser("ladder", help="the loss ladder of a corpus + tokenizer")
    _add_config_args(la)
    la.set_defaults(func=cmd_ladder)

    li = sub.add_parser(
        "lint", help="check a config (JSON) or a training script (.py, .ipynb, read, never run) for the known bugs"
    )
    li.add_argument("file", help="config.json, train.py or notebook.ipynb")
    li.add_argument(
        "--train-tokens",
        type=int,
        help="tokens in the training set: the budget then says how many epochs the run makes over them",
    )
    li.set_defaults(func=cmd_lint)

    d = sub.add_parser("doctor", help="diagnose a run: a run folder, or your own training log")
    d.add_argument(
        "path",
        help="a run folder, or a log: printed output (.txt: nanoGPT, Vizuara, "
        "LLMs-from-scratch, litgpt, mlx-lm, progress bars, a hand-written table; quoted or "
        "timestamped), CSV/TSV, Lightning's metrics.csv, trainer_state.json",
    )
    d.add_argument("--vocab-size", type=int, help="the tokenizer's vocabulary (50257 for GPT-2): draws ln V")
    d.add_argument("--tokenizer", help="gpt2 | bpe-N: the vocabulary size from the tokenizer's name")
    d.add_argument(
        "--grad-accum",
        type=int,
        help="micro-steps per optimizer update, when the log "
        "counts micro-steps or loop iterations (the Vizuara notebook's 'Epoch N': 32)",
    )
    d.set_defaults(func=cmd_doctor)

    lb = sub.add_parser("leaderboard", help="merge and print the capstone challenge's leaderboard files")
    lb.add_argument(
        "files", nargs="+", help="leaderboard .jsonl files (notebook 13 prints where its file is), or folders of them"
    )
    lb.set_defaults(func=cmd_leaderboard)

    b = sub.add_parser("bench", help="speed benchmark (tokens/s, MFU, memory)")
    b.add_argument("--out", default="bench", help="folder for bench.json and bench.md")
    b.add_argument("--configs", help="comma-separated bench config names, or none")
    b.add_argument("--steps", type=int, default=0, help="timed steps per case (0: default)")
    b.add_argument("--quick", action="store_true", help="a few steps per case (for tests)")
    b.add_argument(
        "--targets",
        help="whole runs to a quality bar beside a baseline: speedrun "
        "(default), tinystories (about 25 minutes), smoke, or none",
    )
    b.add_argument(
        "--nanogpt",
        help="a karpathy/nanoGPT checkout: the speedrun also races its own train.py (default: $SLMLAB_NANOGPT)",
    )
    b.set_defaults(func=cmd_bench)

    g = sub.add_parser(
        "gpu-check",
        help="check a GPU once: dtypes, GradScaler, compile, fused AdamW, resume, "
        "torchrun, the presets' speed; a report (on a CPU: what it can, and what it skipped)",
    )
    from .gpu_check import add_arguments

    add_arguments(g)
    g.set_defaults(func=cmd_gpu_check)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .config import ConfigError

    try:
        return args.func(args)
    except (ConfigError, ValueError, OSError, RuntimeError) as e:
        if os.environ.get("SLMLAB_DEBUG"):
            raise
        line = _error_line(e)
        if line:
            print(line, file=sys.stderr)
        return 2


def _error_line(e: Exception) -> str | None:
    """'error: ...'; under torchrun a bad value is said once (by rank 0), any other error by its rank."""
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return f"error: {e}"
    if isinstance(e, ValueError):  # ConfigError too: every rank meets it alike
        return f"error: {e}" if rank == 0 else None
    who = f"rank {rank} of {world}"
    return f"error: {e}" if str(e).startswith(who) else f"error: {who}: {e}"
