"""Downloads: a URL (or only its first bytes) into a file, and a cheap check on every later use.

- `http_get(url, max_bytes)`: the bytes of a URL in chunks, only the first max_bytes
  (an HTTP Range request; a server that ignores Range is simply read no further).
- `download(url, dest, ...)`: streams into a .part file that replaces dest only when
  complete, optionally cut after the last whole document and checked against a known
  sha256; dest.sha256.json records the sha256, size, mtime and whether it is the whole file.
- `checked(path, need_bytes)`: the file when intact and long enough, None when it must be
  fetched again; DamagedFileError when its bytes no longer match the record.

It knows no corpus: slmlab.corpora says what to fetch, from where, and into which file.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from .files import BLOCK, atomic_path, sha256_file, write_json

__all__ = ["http_get", "download", "checked", "truncate_after_last", "DamagedFileError"]

TIMEOUT_S = 60.0  # seconds without an answer before a download gives up


class DamagedFileError(RuntimeError):
    """A downloaded file whose bytes no longer match the sha256 recorded when it was fetched."""


def http_get(url: str, max_bytes: int | None, timeout: float = TIMEOUT_S) -> Iterator[bytes]:
    """The bytes of url in chunks, only the first max_bytes. Tests replace this."""
    headers = {"User-Agent": "slmlab"}
    if max_bytes is not None:
        headers["Range"] = f"bytes=0-{max_bytes - 1}"
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as r:
        left = max_bytes
        while left is None or left > 0:
            chunk = r.read(BLOCK if left is None else min(BLOCK, left))
            if not chunk:
                return
            left = None if left is None else left - len(chunk)
            yield chunk


def download(
    url: str, dest: Path, max_bytes: int | None = None, cut_at: str | None = None, expect_sha256: str | None = None
) -> Path:
    """url (its first max_bytes, cut after the last whole `cut_at`) into dest.

    expect_sha256: the known hash of the whole file; other bytes are refused (ValueError)
    and nothing is written.
    """
    with atomic_path(dest, suffix=".part") as tmp:
        n = 0
        with open(tmp, "wb") as f:
            for chunk in http_get(url, max_bytes):
                f.write(chunk)
                n += len(chunk)
        whole = max_bytes is None or n < max_bytes
        if not whole and cut_at is not None:  # a prefix: drop the unfinished last document
            truncate_after_last(tmp, cut_at.encode())
        sha = sha256_file(tmp)
        if expect_sha256 is not None and sha != expect_sha256:
            raise ValueError(
                f"downloaded {url} has sha256 {sha[:16]}..., expected "
                f"{expect_sha256[:16]}...: not the file slmlab knows"
            )
    st = dest.stat()
    write_json(
        _record(dest),
        {
            "url": url,
            "bytes": st.st_size,
            "whole": whole,
            "asked": max_bytes,
            "sha256": sha,
            "mtime_ns": st.st_mtime_ns,
        },
    )
    return dest


def truncate_after_last(path: Path, sep: bytes, window: int = BLOCK) -> None:
    """Cut the file just after the last `sep`, searching backwards a window at a time."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        end = size
        while end > 0:
            start = max(0, end - window)
            f.seek(start)
            block = f.read(end - start + len(sep) - 1)  # overlap: a sep across two windows
            at = block.rfind(sep)
            if at >= 0:
                f.truncate(start + at + len(sep))
                return
            end = start


def _record(path: Path) -> Path:
    return path.with_name(path.name + ".sha256.json")


def checked(path: Path, need_bytes: int | None = None) -> Path | None:
    """A downloaded file if it is intact and long enough; None when it must be fetched again.

    Cheap on every use: size and mtime against the record; only when they differ is the
    file hashed again, and bytes that no longer match the recorded sha256 are refused.
    A file with no record was put there by hand (or by an older slmlab): used as it is.
    need_bytes: the prefix a run needs; a shorter capped download is fetched again.
    """
    record = _record(path)
    if not path.is_file():
        return None
    if not record.is_file():
        return path
    info, st = json.loads(record.read_text()), path.stat()
    same = st.st_size == info["bytes"] and st.st_mtime_ns == info.get("mtime_ns")
    if not same and sha256_file(path) != info["sha256"]:
        raise DamagedFileError(
            f"{path} does not match the sha256 recorded when it was "
            f"downloaded (damaged or edited); delete it and its "
            f"{record.name} to download it again"
        )
    short = not info["whole"] and need_bytes is not None and (info["asked"] or 0) < need_bytes
    return None if short else path
