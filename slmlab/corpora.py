"""The corpus registry: which text a run trains on, split into train and val documents.

Four sources, one result (`Corpus`):
- "synthetic": stories from slmlab.synthetic, made here from (max_bytes, seed), with the
  exact ln p of each story carried along (train_logprobs, val_logprobs).
- "tinystories": TinyStories V2 (GPT-4) from $SLMLAB_DATA_DIR, else the download cache,
  else the Hugging Face hub (roneneldan/TinyStories); official train and valid files.
  A download fetches only the first max_bytes (whole stories), through a .part file,
  and records its sha256, checked on every later use.
- "shakespeare": Tiny Shakespeare (karpathy/char-rnn); val is the last 10% of the
  text by characters, as in nanoGPT, moved to the nearest speech boundary.
- "file:PATH": your own .txt file, or a folder of .txt files.

Every source is capped at max_bytes of training text (cut at a whole document), and
records the sha256 of the bytes it used, so `identity()` changes when the text does.
No network is touched when the file is already on disk; when it is not and the
download fails, DataMissingError says which file to put where.

Left to others: tokenizing, token files and batches (data.py), the entropy floor per
token (data.py, from the logprobs here), the stories themselves (synthetic.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from slmlab import synthetic
from slmlab.config import ConfigError

__all__ = ["Corpus", "load_corpus", "identity", "DataMissingError", "EOT",
           "TINYSTORIES_REPO", "TINYSTORIES_FILES", "SHAKESPEARE_URL", "split_documents",
           "available_offline"]

EOT = "<|endoftext|>"
TINYSTORIES_REPO = "roneneldan/TinyStories"
TINYSTORIES_FILES = ("TinyStoriesV2-GPT4-train.txt", "TinyStoriesV2-GPT4-valid.txt")
TINYSTORIES_SAMPLE = "tinystories_sample.txt"  # a train-only prefix (../shared/data)
SHAKESPEARE_FILE = "tinyshakespeare.txt"
SHAKESPEARE_URL = ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/"
                   "tinyshakespeare/input.txt")
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"  # 1,115,394 bytes
MIN_VAL_BYTES = 1_000_000  # the valid file is read up to max(this, max_bytes // 10)


class DataMissingError(RuntimeError):
    """The corpus is not on disk and could not be downloaded. The message says what to do."""


@dataclass
class Corpus:
    """Documents for training and validation, and where they came from."""

    name: str  # "synthetic" | "tinystories" | "shakespeare" | "file:PATH"
    train_docs: list[str]  # documents (stories / speeches / files) for training
    val_docs: list[str]  # held-out documents: the source's own val split, else seeded
    source: str  # where the text came from: path, URL, "generated (seed 1234)"
    train_logprobs: list[float] | None = None  # synthetic only: exact ln p(doc)
    val_logprobs: list[float] | None = None
    sha256: str = ""  # of the bytes used (for synthetic: of the generated texts)

    @property
    def n_docs(self) -> int:
        return len(self.train_docs) + len(self.val_docs)

    def __repr__(self) -> str:  # a corpus holds megabytes: never print them
        return (f"Corpus({self.name!r}, train_docs={len(self.train_docs)}, "
                f"val_docs={len(self.val_docs)}, source={self.source!r})")


# ---------------------------------------------------------------------------
# Public entry points


def load_corpus(name: str, *, max_bytes: int = 2_000_000, val_fraction: float = 0.1,
                seed: int = 1234) -> Corpus:
    """The corpus `name`, capped at max_bytes of training text."""
    _check_args(name, max_bytes, val_fraction)
    if name == "synthetic":
        return _synthetic(max_bytes, val_fraction, seed)
    if name == "tinystories":
        return _tinystories(max_bytes, val_fraction, seed)
    if name == "shakespeare":
        return _shakespeare(max_bytes, val_fraction)
    return _user_files(name, max_bytes, val_fraction, seed)


def identity(name: str, max_bytes: int = 2_000_000, val_fraction: float = 0.1,
             seed: int = 1234) -> str:
    """A string that changes when the corpus text (or its split) would change.

    Cheap for "synthetic" (the grammar's fingerprint, no generation). For files it
    hashes the bytes that load_corpus would read (downloading them if needed).
    """
    _check_args(name, max_bytes, val_fraction)
    head = f"{name}|max_bytes={max_bytes}|val_fraction={val_fraction}|seed={seed}"
    if name == "synthetic":
        return f"{head}|synthetic-v{synthetic.VERSION}-{synthetic.fingerprint()}"
    if name == "tinystories":
        train, valid = _tinystories_paths(max_bytes)
        shas = [_file_sha(train, max_bytes)] + ([_file_sha(valid, _val_cap(max_bytes))]
                                                if valid else [])
        return f"{head}|{'+'.join(shas)}"
    if name == "shakespeare":
        return f"{head}|{_file_sha(_shakespeare_path(), max_bytes)}"
    path = _user_path(name)
    files = _txt_files(path) if path.is_dir() else [path]
    return f"{head}|{'+'.join(_file_sha(f, max_bytes) for f in files)}"


def split_documents(n_docs: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices (train, val): the last val_fraction of a seeded shuffle is val.

    Both lists keep the original order. Needs at least 2 documents.
    """
    order = list(range(n_docs))
    random.Random(seed).shuffle(order)
    n_val = min(n_docs - 1, max(1, round(n_docs * val_fraction)))
    return sorted(order[:n_docs - n_val]), sorted(order[n_docs - n_val:])


def _check_args(name: str, max_bytes: int, val_fraction: float) -> None:
    if not isinstance(name, str) or not (name in ("synthetic", "tinystories", "shakespeare")
                                         or (name.startswith("file:") and name[5:])):
        raise ConfigError(f"corpus={name!r} is unknown; use synthetic, tinystories, shakespeare "
                          f"or file:path/to/text.txt")
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        raise ConfigError(f"corpus_bytes={max_bytes!r} must be a positive whole number, "
                          f"e.g. 2000000")
    if not 0.0 < val_fraction < 1.0:
        raise ConfigError(f"val_fraction={val_fraction} must be in (0, 1), e.g. 0.1")


# ---------------------------------------------------------------------------
# Synthetic stories


def _synthetic(max_bytes: int, val_fraction: float, seed: int) -> Corpus:
    stories = synthetic.generate(max_bytes, seed)
    train_idx, val_idx = split_documents(len(stories), val_fraction, seed)
    if not train_idx:
        raise ConfigError(f"corpus_bytes={max_bytes} gives only {len(stories)} story; "
                          f"use at least 5000 bytes for a train and a val story")
    sha = hashlib.sha256()
    for s in stories:
        sha.update(s.text.encode() + b"\0")
    return Corpus(
        name="synthetic",
        train_docs=[stories[i].text for i in train_idx],
        val_docs=[stories[i].text for i in val_idx],
        source=f"generated (seed {seed}, {max_bytes} bytes, synthetic v{synthetic.VERSION})",
        train_logprobs=[stories[i].logprob for i in train_idx],
        val_logprobs=[stories[i].logprob for i in val_idx],
        sha256=sha.hexdigest(),
    )


# ---------------------------------------------------------------------------
# Where files live: $SLMLAB_DATA_DIR, the cache, downloads


def _data_dir() -> Path | None:
    value = os.environ.get("SLMLAB_DATA_DIR", "").strip()
    return Path(value).expanduser() if value else None


def _downloads_dir() -> Path:
    """<cache>/downloads; the cache is $SLMLAB_CACHE_DIR or ~/.cache/slmlab (as data.py)."""
    value = os.environ.get("SLMLAB_CACHE_DIR", "").strip()
    base = Path(value).expanduser() if value else Path.home() / ".cache" / "slmlab"
    return base / "downloads"


def _first_existing(paths: list[Path]) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


def _in_data_dir(subdir: str, filename: str) -> list[Path]:
    d = _data_dir()
    return [d / subdir / filename, d / filename] if d else []


def _http_get(url: str, max_bytes: int | None, timeout: float = 60.0):
    """Yield the bytes of url in chunks, only the first max_bytes (an HTTP Range request;
    a server that ignores Range is simply read no further). Tests replace this."""
    headers = {"User-Agent": "slmlab"}
    if max_bytes is not None:
        headers["Range"] = f"bytes=0-{max_bytes - 1}"
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as r:
        left = max_bytes
        while left is None or left > 0:
            chunk = r.read(1 << 20 if left is None else min(1 << 20, left))
            if not chunk:
                return
            left = None if left is None else left - len(chunk)
            yield chunk


def _download(url: str, dest: Path, max_bytes: int | None = None, cut_at: str | None = None,
              expect_sha256: str | None = None) -> Path:
    """url (its first max_bytes, cut after the last whole `cut_at`) into dest.

    The bytes stream to a .part file that replaces dest only when complete, so an
    interrupted download leaves nothing half-written. dest.sha256.json records their
    sha256, size and mtime and whether they are the whole file; `_checked` uses it.
    expect_sha256: the known hash of the whole file; other bytes are refused.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name, suffix=".part")
    try:
        n = 0
        with os.fdopen(fd, "wb") as f:
            for chunk in _http_get(url, max_bytes):
                f.write(chunk)
                n += len(chunk)
        whole = max_bytes is None or n < max_bytes
        if not whole and cut_at is not None:  # a prefix: drop the unfinished last document
            _truncate_after_last(Path(tmp), cut_at.encode())
        sha = _sha256_of(Path(tmp))
        if expect_sha256 is not None and sha != expect_sha256:
            raise ValueError(f"downloaded {url} has sha256 {sha[:16]}..., expected "
                             f"{expect_sha256[:16]}...: not the file slmlab knows")
        os.replace(tmp, dest)
        st = dest.stat()
        _sidecar(dest).write_text(json.dumps({"url": url, "bytes": st.st_size, "whole": whole,
                                              "asked": max_bytes, "sha256": sha,
                                              "mtime_ns": st.st_mtime_ns}))
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest


def _sha256_of(path: Path) -> str:
    """sha256 of a file, read in 1 MB chunks (never the whole file in memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _truncate_after_last(path: Path, sep: bytes, window: int = 1 << 20) -> None:
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


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256.json")


def _checked(path: Path, need_bytes: int | None = None) -> Path | None:
    """A downloaded file if it is intact and long enough; None when it must be fetched again.

    Cheap on every use: size and mtime against the record; only when they differ is the
    file hashed again, and bytes that no longer match the recorded sha256 are refused.
    A file with no record was put there by hand (or by an older slmlab): used as it is.
    """
    side = _sidecar(path)
    if not path.is_file():
        return None
    if not side.is_file():
        return path
    info, st = json.loads(side.read_text()), path.stat()
    same = st.st_size == info["bytes"] and st.st_mtime_ns == info.get("mtime_ns")
    if not same and _sha256_of(path) != info["sha256"]:
        raise DataMissingError(f"{path} does not match the sha256 recorded when it was "
                               f"downloaded (damaged or edited); delete it and its "
                               f"{side.name} to download it again")
    short = not info["whole"] and need_bytes is not None and (info["asked"] or 0) < need_bytes
    return None if short else path


def _missing_message(what: str, subdir: str, filename: str, url: str, err: Exception) -> str:
    d = _data_dir()
    where = (f"put {filename} at {d / subdir / filename}" if d else
             f"SLMLAB_DATA_DIR is unset: set it to a folder and put {filename} at "
             f"$SLMLAB_DATA_DIR/{subdir}/{filename}")
    return (f"{what} not found and the download failed ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else 'no detail'}); {where} "
            f"(or in {_downloads_dir()}), downloaded from {url}")


# ---------------------------------------------------------------------------
# Reading capped files


def _read_capped(path: Path, cap: int, separator: str | None) -> bytes:
    """At most cap bytes of path; when cut, cut after the last whole separator.

    separator "auto": <|endoftext|> when the bytes hold one, else a blank line.
    """
    with open(path, "rb") as f:
        data = f.read(cap)
        at_end = not f.read(1)
    if at_end or separator is None:
        return data
    if separator == "auto":
        separator = EOT if EOT.encode() in data else "\n\n"
    cut = data.rfind(separator.encode())
    return data[:cut + len(separator)] if cut >= 0 else data


def _file_sha(path: Path, cap: int) -> str:
    return hashlib.sha256(_read_capped(path, cap, None)).hexdigest()[:16]


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n")


def _split_eot(text: str) -> list[str]:
    return [d.strip() for d in text.split(EOT) if d.strip()]


def _split_blank(text: str) -> list[str]:
    docs, current = [], []
    for line in text.split("\n"):
        if line.strip():
            current.append(line.rstrip())
        elif current:
            docs.append("\n".join(current))
            current = []
    return docs + (["\n".join(current)] if current else [])


def _split_text(text: str) -> list[str]:
    return _split_eot(text) if EOT in text else _split_blank(text)


def _val_cap(max_bytes: int) -> int:
    return max(MIN_VAL_BYTES, max_bytes // 10)


# ---------------------------------------------------------------------------
# TinyStories


def _tinystories_paths(max_bytes: int) -> tuple[Path, Path | None]:
    """(train file, valid file or None); downloads what is missing (capped prefixes)."""
    train_name, valid_name = TINYSTORIES_FILES
    local = _first_existing(_in_data_dir("tinystories", train_name))
    if local is None:
        sample = _first_existing(_in_data_dir("tinystories", TINYSTORIES_SAMPLE))
        if sample is not None:
            return sample, None
    train = local or _cached_or_hub(train_name, max_bytes)
    valid = _first_existing(_in_data_dir("tinystories", valid_name))
    if valid is None:
        try:
            valid = _cached_or_hub(valid_name, _val_cap(max_bytes))
        except DataMissingError:
            valid = None  # offline with only the train file: val is split off it
    return train, valid


def available_offline(name: str) -> bool:
    """True when `name` loads without a download (embedded, in $SLMLAB_DATA_DIR or cached)."""
    if name == "synthetic":
        return True
    if name.startswith("file:"):
        return Path(name[5:]).expanduser().exists()
    if name == "tinystories":
        names = [TINYSTORIES_FILES[0], TINYSTORIES_SAMPLE]
        return any(_first_existing(_in_data_dir("tinystories", n)) for n in names) or \
            (_downloads_dir() / TINYSTORIES_FILES[0]).is_file()
    if name == "shakespeare":
        return _first_existing(_in_data_dir("shakespeare", SHAKESPEARE_FILE)
                               + [_downloads_dir() / SHAKESPEARE_FILE]) is not None
    return False


def _hub_url(filename: str) -> str:
    """The file's address on the Hugging Face hub ($HF_ENDPOINT, a mirror, is honoured)."""
    try:
        from huggingface_hub import hf_hub_url
        return hf_hub_url(TINYSTORIES_REPO, filename, repo_type="dataset")
    except ImportError:
        return f"https://huggingface.co/datasets/{TINYSTORIES_REPO}/resolve/main/{filename}"


def _cached_or_hub(filename: str, max_bytes: int) -> Path:
    """The cached download when intact and long enough, else the first max_bytes from the hub
    (whole stories only): the 2.2 GB train file is never fetched whole for a 2 MB run."""
    cached = _downloads_dir() / filename
    if _checked(cached, max_bytes) is not None:
        return cached
    url = _hub_url(filename)
    try:
        return _download(url, cached, max_bytes, cut_at=EOT)
    except Exception as err:  # offline, hub error: all the same to a user
        raise DataMissingError(_missing_message("TinyStories", "tinystories", filename,
                                                url, err)) from None


def _tinystories(max_bytes: int, val_fraction: float, seed: int) -> Corpus:
    train_path, valid_path = _tinystories_paths(max_bytes)
    train_bytes = _read_capped(train_path, max_bytes, EOT)
    docs = _split_eot(_decode(train_bytes))
    sha = hashlib.sha256(train_bytes)
    if valid_path is not None:
        valid_bytes = _read_capped(valid_path, _val_cap(max_bytes), EOT)
        sha.update(b"\0" + valid_bytes)
        return Corpus("tinystories", docs, _split_eot(_decode(valid_bytes)),
                      source=f"{train_path} + {valid_path}", sha256=sha.hexdigest())
    if len(docs) < 2:
        raise DataMissingError(f"{train_path} holds {len(docs)} story in its first {max_bytes} "
                               f"bytes; raise corpus_bytes or use the full file")
    train_idx, val_idx = split_documents(len(docs), val_fraction, seed)
    why = "train-only sample" if train_path.name == TINYSTORIES_SAMPLE else "no valid file"
    return Corpus("tinystories", [docs[i] for i in train_idx], [docs[i] for i in val_idx],
                  source=f"{train_path} ({why}: val = {len(val_idx)} stories split off, "
                         f"seed {seed})", sha256=sha.hexdigest())


# ---------------------------------------------------------------------------
# Tiny Shakespeare


def _shakespeare_path() -> Path:
    found = _first_existing(_in_data_dir("shakespeare", SHAKESPEARE_FILE))
    cached = _downloads_dir() / SHAKESPEARE_FILE
    if found is not None or _checked(cached) is not None:
        return found or cached
    try:
        return _download(SHAKESPEARE_URL, cached, expect_sha256=SHAKESPEARE_SHA256)
    except Exception as err:
        raise DataMissingError(_missing_message("Tiny Shakespeare", "shakespeare",
                                                SHAKESPEARE_FILE, SHAKESPEARE_URL, err)) from None


def _shakespeare(max_bytes: int, val_fraction: float) -> Corpus:
    """Speeches; val = text after the speech boundary nearest to (1 - val_fraction) of it."""
    path = _shakespeare_path()
    raw = _read_capped(path, max_bytes, "\n\n")
    text = _decode(raw)
    target = int(len(text) * (1 - val_fraction))  # nanoGPT: data[int(n * 0.9):] is val
    before, after = text.rfind("\n\n", 0, target), text.find("\n\n", target)
    cut = min((c for c in (before, after) if c > 0), key=lambda c: abs(c - target),
              default=target)
    train, val = _split_blank(text[:cut]), _split_blank(text[cut:])
    if not train or not val:
        raise ConfigError(f"corpus_bytes={max_bytes} is too small to split Tiny Shakespeare; "
                          f"use at least 10000")
    return Corpus("shakespeare", train, val, sha256=hashlib.sha256(raw).hexdigest(),
                  source=f"{path} (val = chars {cut}: of {len(text)}, nanoGPT's last "
                         f"{val_fraction:.0%} moved to a speech boundary)")


# ---------------------------------------------------------------------------
# A user's file or folder


def _user_path(name: str) -> Path:
    path = Path(name[5:]).expanduser()
    if not path.exists():
        raise DataMissingError(f"corpus {name!r}: {path.resolve()} does not exist; give the path "
                               f"of a .txt file or a folder of .txt files (relative paths start "
                               f"at {Path.cwd()})")
    return path


def _txt_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.rglob("*.txt") if p.is_file())
    if not files:
        raise DataMissingError(f"folder {folder.resolve()} holds no .txt files; put your text in "
                               f"files ending in .txt")
    return files


def _user_files(name: str, max_bytes: int, val_fraction: float, seed: int) -> Corpus:
    """A file: split on <|endoftext|> if present, else blank lines. A folder: every .txt
    inside, one document per file (a file holding <|endoftext|> is split on it)."""
    path = _user_path(name)
    files = _txt_files(path) if path.is_dir() else [path]
    docs, sha, left = [], hashlib.sha256(), max_bytes
    for f in files:
        if left <= 0:
            break
        raw = _read_capped(f, left, "auto")
        left -= len(raw)
        sha.update(raw + b"\0")
        text = _decode(raw)
        docs += _split_text(text) if path.is_file() or EOT in text else [text.strip()]
    docs = [d for d in docs if d]
    if len(docs) < 2:
        what = "is empty" if not docs else "holds only one document"
        raise DataMissingError(f"corpus {name!r}: {path.resolve()} {what}; give at least two "
                               f"documents (separate them with a blank line or {EOT})")
    train_idx, val_idx = split_documents(len(docs), val_fraction, seed)
    return Corpus(name, [docs[i] for i in train_idx], [docs[i] for i in val_idx],
                  source=str(path.resolve()), sha256=sha.hexdigest())
