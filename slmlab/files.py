"""Small file helpers: atomic writes, JSON / JSON lines, and the sha256 of a file.

Everything slmlab writes goes through `atomic_path`, so an interrupted write never
leaves a half-written file: the bytes go to a temporary file in the same folder,
which is then renamed over the target (atomic on POSIX and Windows).
`sha256_file` is the one way slmlab hashes a file: in blocks (never the whole file
in memory), optionally only its first bytes, optionally remembered in a small
record so that an unchanged big file is not read again.
It imports nothing else of slmlab.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_path",
    "atomic_write_text",
    "atomic_write_bytes",
    "atomic_torch_save",
    "write_json",
    "read_json",
    "write_jsonl",
    "read_jsonl",
    "sha256_file",
]

BLOCK = 1 << 20  # bytes read at a time while hashing or copying
SETTLED_NS = 2_000_000_000  # a file unchanged this long (2 s) can be remembered by its stamp


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside `path`; renamed onto `path` when the block ends without error.

    On any error (or Ctrl-C) the temporary file is removed and `path` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, default=_jsonable) + "\n" for r in rows))


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(
                        f"{path}:{n}: not a JSON line ({e.msg}); the file is damaged, delete the run folder and re-run"
                    ) from None
    return rows


def _jsonable(x: Any) -> Any:
    if hasattr(x, "item"):
        return x.item()
    return str(x)


# ---------------------------------------------------------------------------
# sha256 of a file


def sha256_file(path: str | os.PathLike, limit: int | None = None, *, memo: str | os.PathLike | None = None) -> str:
    """Hex sha256 of the file's first `limit` bytes (all of it when None), read in blocks.

    memo: a small JSON record that keeps the answer with the file's path, size and mtime;
    a later call that finds them unchanged reads nothing. A file changed less
    than 2 s ago is not remembered (a second edit within the same mtime tick would
    keep the stamp), so a fresh edit is always hashed again.
    """
    path = Path(path)
    st = path.stat()
    stamp = [str(path.resolve()), st.st_size, st.st_mtime_ns, limit]
    if memo is not None:
        remembered = _read_memo(Path(memo), stamp)
        if remembered is not None:
            return remembered
    h, left = hashlib.sha256(), limit
    with open(path, "rb") as f:
        while left is None or left > 0:
            block = f.read(BLOCK if left is None else min(BLOCK, left))
            if not block:
                break
            h.update(block)
            left = None if left is None else left - len(block)
    digest = h.hexdigest()
    if memo is not None and time.time_ns() - st.st_mtime_ns > SETTLED_NS:
        write_json(memo, {"stamp": stamp, "sha256": digest})
    return digest


def _read_memo(memo: Path, stamp: list) -> str | None:
    try:
        record = json.loads(memo.read_text(encoding="utf-8"))
        return record["sha256"] if record["stamp"] == stamp else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
