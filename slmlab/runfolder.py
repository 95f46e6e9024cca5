"""The run folder: the names of its files, what counts as one, removing one.

A run folder holds CONFIG (config.json, the config as trained), ENV (env.json, what
it ran on), HISTORY (history.jsonl), CKPT (ckpt.pt, the latest state: resume reads
it), BEST (best.pt, the weights at the best val) and RECORDS (callbacks/, one
<record_name>.json per recording callback).

What goes into the files is slmlab.checkpoint's and slmlab.history's; which folder a
cached run uses is slmlab.experiments'. It imports nothing of slmlab.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["CONFIG", "ENV", "HISTORY", "CKPT", "BEST", "RECORDS", "weights", "is_run_folder",
           "records_dir", "record_file", "remove"]

CONFIG, ENV, HISTORY, CKPT, BEST = "config.json", "env.json", "history.jsonl", "ckpt.pt", "best.pt"
RECORDS = "callbacks"


def weights(which: str) -> str:
    """The checkpoint file of `which` ('ckpt': latest, 'best': best val)."""
    return f"{which}.pt"


def is_run_folder(path: str | Path) -> bool:
    """A folder a run saved into (a history or a checkpoint)."""
    p = Path(path)
    return p.is_dir() and ((p / HISTORY).is_file() or (p / CKPT).is_file())


def records_dir(folder: str | Path) -> Path:
    return Path(folder) / RECORDS


def record_file(folder: str | Path, record_name: str) -> Path:
    return records_dir(folder) / f"{record_name}.json"


def remove(folder: str | Path, *, records: bool = True) -> None:
    """Delete what a run wrote (its callback records too, unless records=False)."""
    for name in (CKPT, BEST, HISTORY, CONFIG, ENV):
        (Path(folder) / name).unlink(missing_ok=True)
    for f in records_dir(folder).glob("*.json") if records else ():
        f.unlink()
