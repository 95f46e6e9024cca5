"""The corpus registry: which text a run trains on, split into train and val documents.

`CORPORA` maps each name to its `Source`, and "file:PATH" (your own text) is one more
kind of source, made from the path. A Source knows where its files are on this machine
($SLMLAB_DATA_DIR, then the download cache), how to download what is missing, how its
text splits into documents and into train and val, and its `identity`: a string that
changes when the text or the split would. A new corpus is one Source subclass and one
entry in CORPORA, in this file.

- "synthetic": stories from slmlab.synthetic, made here from (corpus_bytes, data_seed),
  with the exact ln p of each val story carried along (the entropy floor).
- "tinystories": TinyStories V2 (GPT-4), its official train and valid files. A download
  fetches only the first corpus_bytes (whole stories), and only when the train file is
  not on this machine. With the train file on disk and no valid file beside it, val is
  split off the train file (the source says so) and the network is never touched.
- "shakespeare": Tiny Shakespeare (karpathy/char-rnn); val is the last 10% of the text
  by characters, as in nanoGPT, moved to the nearest speech boundary.
- "file:PATH": a .txt file, or a folder of .txt files (one document per file).

Every source reads at most corpus_bytes of training text, cut after a whole document.
When a file is missing and cannot be downloaded, DataMissingError says which file to
put where. `identity` reads little: the generator's VERSION for synthetic; for files,
the sha256 of the bytes read, remembered by size and mtime for big files.

Left to others: how bytes are fetched and checked (slmlab.downloads), where the folders
are (slmlab.paths), tokenizing, token files and batches (slmlab.data), the stories
themselves (slmlab.synthetic).
"""

from __future__ import annotations

import hashlib
import os
import random
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from . import downloads, paths, synthetic
from .config import Config, ConfigError, DataConfig, validate
from .files import sha256_file
from .tokenizers import EOT  # the document separator: the tokenizers' EOT text

__all__ = [
    "Corpus",
    "Source",
    "CORPORA",
    "FILE_PREFIX",
    "source",
    "load_corpus",
    "identity",
    "available_offline",
    "split_documents",
    "DataMissingError",
    "HeldOut",
    "tinystories_held_out",
]

FILE_PREFIX = "file:"  # "file:PATH" names your own file or folder
MIN_VAL_BYTES = 1_000_000  # an official valid file is read up to max(this, corpus_bytes // 10)
REMEMBER_ABOVE = 8 << 20  # files read further than this (8 MB) are hashed once, then remembered


class DataMissingError(RuntimeError):
    """The corpus is not on disk and could not be downloaded. The message says what to do."""


@dataclass
class Corpus:
    """Documents for training and validation, and where they came from."""

    name: str  # a key of CORPORA, or "file:PATH"
    train_docs: list[str]  # documents (stories / speeches / files) for training
    val_docs: list[str]  # held-out documents: the source's own val split, else seeded
    source: str  # where the text came from and how val was made
    val_logprobs: list[float] | None = None  # synthetic only: exact ln p of each val story

    @property
    def n_docs(self) -> int:
        return len(self.train_docs) + len(self.val_docs)

    def __repr__(self) -> str:  # a corpus holds megabytes: never print them
        return (
            f"Corpus({self.name!r}, train_docs={len(self.train_docs)}, "
            f"val_docs={len(self.val_docs)}, source={self.source!r})"
        )


# ---------------------------------------------------------------------------
# The entry points: look the source up, ask it


def source(name: str) -> Source:
    """The Source called `name`: a key of CORPORA, or file:PATH."""
    if isinstance(name, str) and name.startswith(FILE_PREFIX) and name[len(FILE_PREFIX) :]:
        return UserFiles(name)
    if isinstance(name, str) and name in CORPORA:
        return CORPORA[name]
    raise ConfigError(f"corpus={name!r} is unknown; use {', '.join(CORPORA)} or file:path/to/text.txt")


def load_corpus(
    name: str,
    *,
    corpus_bytes: int = DataConfig.corpus_bytes,
    val_fraction: float = DataConfig.val_fraction,
    data_seed: int = DataConfig.data_seed,
) -> Corpus:
    """The corpus `name`, at most corpus_bytes of training text, split into train and val."""
    _check(name, corpus_bytes, val_fraction, data_seed)
    return source(name).load(corpus_bytes, val_fraction, data_seed)


def identity(
    name: str,
    corpus_bytes: int = DataConfig.corpus_bytes,
    val_fraction: float = DataConfig.val_fraction,
    data_seed: int = DataConfig.data_seed,
) -> str:
    """A string that changes when the corpus text (or its split) would change.

    Downloads what is missing, as load_corpus would; reads nothing it has read before
    when a file's size and mtime are unchanged (files over 8 MB).
    """
    _check(name, corpus_bytes, val_fraction, data_seed)
    return source(name).identity(corpus_bytes, val_fraction, data_seed)


def available_offline(name: str) -> bool:
    """True when `name` loads without a download (generated, in $SLMLAB_DATA_DIR or cached)."""
    return source(name).available_offline()


def _check(name: str, corpus_bytes: int, val_fraction: float, data_seed: int) -> None:
    """The config's own checks (one place says what a good value is)."""
    validate(
        Config(data=DataConfig(corpus=name, corpus_bytes=corpus_bytes, val_fraction=val_fraction, data_seed=data_seed))
    )


def split_documents(n_docs: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices (train, val): the last val_fraction of a seeded shuffle is val.

    Both lists keep the original order. Needs at least 2 documents.
    """
    order = list(range(n_docs))
    random.Random(seed).shuffle(order)
    n_val = min(n_docs - 1, max(1, round(n_docs * val_fraction)))
    return sorted(order[: n_docs - n_val]), sorted(order[n_docs - n_val :])


# ---------------------------------------------------------------------------
# Source: what every corpus answers


class Source:
    """One corpus. A subclass says where its files are, how they are fetched, how they split."""

    name: str  # its key in CORPORA (or "file:PATH")

    def available_offline(self) -> bool:
        """True when load() needs no download."""
        raise NotImplementedError

    def files(self, corpus_bytes: int) -> list[tuple[Path, int]]:
        """The files load() reads, each with the most bytes it reads; downloads what is missing."""
        raise NotImplementedError

    def load(self, corpus_bytes: int, val_fraction: float, data_seed: int) -> Corpus:
        raise NotImplementedError

    def bytes_on_disk(self) -> int | None:
        """Bytes of training text on this machine; None when made here or not yet downloaded."""
        return None

    def identity(self, corpus_bytes: int, val_fraction: float, data_seed: int) -> str:
        """The settings, then the fingerprint of each file's bytes that load() would read."""
        shas = "+".join(_fingerprint(path, cap) for path, cap in self.files(corpus_bytes))
        return f"{_settings(self.name, corpus_bytes, val_fraction, data_seed)}|{shas}"


def _settings(name: str, corpus_bytes: int, val_fraction: float, data_seed: int) -> str:
    return f"{name}|corpus_bytes={corpus_bytes}|val_fraction={val_fraction}|data_seed={data_seed}"


def _fingerprint(path: Path, cap: int) -> str:
    """16 hex digits of the sha256 of the first cap bytes, and whether that is the whole file."""
    size = path.stat().st_size
    memo = None
    if min(size, cap) > REMEMBER_ABOVE:
        key = hashlib.sha256(f"{path.resolve()}|{cap}".encode()).hexdigest()[:32]
        memo = paths.fingerprints_dir() / f"{key}.json"
    return f"{sha256_file(path, cap, memo=memo)[:16]}-{'whole' if size <= cap else 'prefix'}"


# ---------------------------------------------------------------------------
# Finding files: $SLMLAB_DATA_DIR, then the download cache, then a download


def _local(subdir: str, filename: str) -> Path | None:
    """The file in $SLMLAB_DATA_DIR/subdir/ or $SLMLAB_DATA_DIR/, if it is there."""
    d = paths.data_dir()
    found = [p for p in ([d / subdir / filename, d / filename] if d else []) if p.is_file()]
    return found[0] if found else None


def _in_cache(filename: str) -> Path | None:
    """The download cache's copy if there is one (unchecked: for "is it here?")."""
    path = paths.downloads_dir() / filename
    return path if path.is_file() else None


def _cached(filename: str, need_bytes: int | None = None) -> Path | None:
    """The download cache's copy when intact and long enough, else None (no network)."""
    try:
        return downloads.checked(paths.downloads_dir() / filename, need_bytes)
    except downloads.DamagedFileError as e:
        raise DataMissingError(str(e)) from None


def _fetch(
    what: str,
    subdir: str,
    filename: str,
    url: str,
    max_bytes: int | None = None,
    cut_at: str | None = None,
    expect_sha256: str | None = None,
) -> Path:
    """The cached copy, else a download into the cache; DataMissingError says what to do."""
    cached = _cached(filename, max_bytes)
    if cached is not None:
        return cached
    try:
        return downloads.download(
            url, paths.downloads_dir() / filename, max_bytes, cut_at=cut_at, expect_sha256=expect_sha256
        )
    except Exception as err:  # offline, hub error, wrong bytes: all the same to a user
        d = paths.data_dir()
        where = (
            f"put {filename} at {d / subdir / filename}"
            if d
            else f"SLMLAB_DATA_DIR is unset: set it to a folder and put {filename} at "
            f"$SLMLAB_DATA_DIR/{subdir}/{filename}"
        )
        detail = str(err).splitlines()[0] if str(err) else "no detail"
        raise DataMissingError(
            f"{what} not found and the download failed ({type(err).__name__}: "
            f"{detail}); {where} (or in {paths.downloads_dir()}), downloaded "
            f"from {url}"
        ) from None


# ---------------------------------------------------------------------------
# Reading capped files and splitting text into documents


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
    return data[: cut + len(separator)] if cut >= 0 else data


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


def _seeded_split(docs: list[str], val_fraction: float, data_seed: int) -> tuple[list[str], list[str]]:
    """(train docs, val docs): split_documents applied to docs."""
    train_idx, val_idx = split_documents(len(docs), val_fraction, data_seed)
    return [docs[i] for i in train_idx], [docs[i] for i in val_idx]


class _Downloaded(Source):
    """A corpus of files from the network: offline when `_on_disk()` finds the training text."""

    def _on_disk(self) -> Path | None:
        raise NotImplementedError

    def available_offline(self) -> bool:
        return self._on_disk() is not None

    def bytes_on_disk(self) -> int | None:
        found = self._on_disk()
        return found.stat().st_size if found else None


# ---------------------------------------------------------------------------
# Synthetic stories


class Synthetic(Source):
    """Stories generated here from (corpus_bytes, data_seed), with their exact ln p."""

    name = "synthetic"

    def available_offline(self) -> bool:
        return True

    def files(self, corpus_bytes: int) -> list[tuple[Path, int]]:
        return []

    def identity(self, corpus_bytes: int, val_fraction: float, data_seed: int) -> str:
        """Cheap: the generator's VERSION, nothing generated."""
        return f"{_settings(self.name, corpus_bytes, val_fraction, data_seed)}|synthetic-v{synthetic.VERSION}"

    def load(self, corpus_bytes: int, val_fraction: float, data_seed: int) -> Corpus:
        stories = synthetic.generate(corpus_bytes, data_seed)
        train_idx, val_idx = split_documents(len(stories), val_fraction, data_seed)
        if not train_idx:
            raise ConfigError(
                f"corpus_bytes={corpus_bytes} gives only {len(stories)} story; "
                f"use at least 5000 bytes for a train and a val story"
            )
        return Corpus(
            self.name,
            train_docs=[stories[i].text for i in train_idx],
            val_docs=[stories[i].text for i in val_idx],
            source=f"generated (seed {data_seed}, {corpus_bytes} bytes, synthetic v{synthetic.VERSION})",
            val_logprobs=[stories[i].logprob for i in val_idx],
        )


# ---------------------------------------------------------------------------
# TinyStories


class TinyStories(_Downloaded):
    """TinyStories V2 (GPT-4): its official train and valid files, from the Hugging Face hub."""

    name = "tinystories"
    repo = "roneneldan/TinyStories"
    train_file = "TinyStoriesV2-GPT4-train.txt"
    valid_file = "TinyStoriesV2-GPT4-valid.txt"
    sample_file = "tinystories_sample.txt"  # a train-only prefix, for machines with no network

    def _on_disk(self) -> Path | None:
        """The train text on this machine: data dir (full file, else the sample), else cached."""
        return _local(self.name, self.train_file) or _local(self.name, self.sample_file) or _in_cache(self.train_file)

    def _paths(self, corpus_bytes: int) -> tuple[Path, Path | None]:
        """(train file, valid file or None: val is then split off the train file).

        The valid file is downloaded only along with the train file: with the train
        text already on disk, a missing valid file never costs a network timeout.
        """
        train = (
            _local(self.name, self.train_file)
            or _local(self.name, self.sample_file)
            or _cached(self.train_file, corpus_bytes)
        )
        if train is not None:
            if train.name == self.sample_file:
                return train, None
            return train, (_local(self.name, self.valid_file) or _cached(self.valid_file, _val_cap(corpus_bytes)))
        train = self._download(self.train_file, corpus_bytes)
        try:
            return train, self._download(self.valid_file, _val_cap(corpus_bytes))
        except DataMissingError:
            return train, None  # the hub went away after the train file: split val off it

    def _download(self, filename: str, max_bytes: int) -> Path:
        return _fetch("TinyStories", self.name, filename, _hub_url(self.repo, filename), max_bytes, cut_at=EOT)

    def files(self, corpus_bytes: int) -> list[tuple[Path, int]]:
        train, valid = self._paths(corpus_bytes)
        return [(train, corpus_bytes)] + ([(valid, _val_cap(corpus_bytes))] if valid else [])

    def load(self, corpus_bytes: int, val_fraction: float, data_seed: int) -> Corpus:
        train_path, valid_path = self._paths(corpus_bytes)
        docs = _split_eot(_decode(_read_capped(train_path, corpus_bytes, EOT)))
        if valid_path is not None:
            val = _split_eot(_decode(_read_capped(valid_path, _val_cap(corpus_bytes), EOT)))
            return Corpus(self.name, docs, val, source=f"{train_path} + {valid_path}")
        if len(docs) < 2:
            raise DataMissingError(
                f"{train_path} holds {len(docs)} story in its first "
                f"{corpus_bytes} bytes; raise corpus_bytes or use the full file"
            )
        why = "train-only sample" if train_path.name == self.sample_file else "no valid file"
        train, val = _seeded_split(docs, val_fraction, data_seed)
        return Corpus(
            self.name, train, val, source=f"{train_path} ({why}: val = {len(val)} stories split off, seed {data_seed})"
        )


@dataclass
class HeldOut:
    """Stories no run of `run_corpus_bytes` reads, for train nor val: a test text."""

    docs: list[str]
    run_corpus_bytes: int  # the corpus_bytes a run must use so that it never reads them
    source: str


def tinystories_held_out(corpus_bytes: int, n_bytes: int = 200_000) -> HeldOut:
    """About n_bytes of whole TinyStories stories right after the ones a run with corpus_bytes
    reads. When the train file is too short for that (the 2 MB sample), the run must read less:
    run_corpus_bytes is then the file's size less n_bytes, and the stories after it are held out.
    Text as the run's (stories split on <|endoftext|>), so both are tokenized alike."""
    ts = TinyStories()
    path, _ = ts._paths(corpus_bytes)
    size = path.stat().st_size
    run_bytes = corpus_bytes if size >= corpus_bytes + n_bytes else size - n_bytes
    if run_bytes < n_bytes:
        raise DataMissingError(
            f"{path} holds {size} bytes: too few to hold out {n_bytes} "
            f"bytes of stories and train on the rest; use a larger file"
        )
    start = len(_read_capped(path, run_bytes, EOT))
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(n_bytes)
    cut = data.rfind(EOT.encode())
    docs = _split_eot(_decode(data[:cut] if cut > 0 else data))
    return HeldOut(
        docs,
        run_bytes,
        f"{path}: bytes {start}-{start + len(data[:cut])}, {len(docs)} stories after the {run_bytes} bytes a run reads",
    )


def _val_cap(corpus_bytes: int) -> int:
    return max(MIN_VAL_BYTES, corpus_bytes // 10)


def _hub_url(repo: str, filename: str) -> str:
    """The file's address on the Hugging Face hub ($HF_ENDPOINT, a mirror, is honoured), built as
    huggingface_hub's hf_hub_url builds it, without that package."""
    endpoint = os.environ.get("HF_ENDPOINT", "").rstrip("/") or "https://huggingface.co"
    return f"{endpoint}/datasets/{repo}/resolve/main/{quote(filename)}"


# ---------------------------------------------------------------------------
# Tiny Shakespeare


class Shakespeare(_Downloaded):
    """Tiny Shakespeare (karpathy/char-rnn, 1.1 MB); val is nanoGPT's last 10% of it."""

    name = "shakespeare"
    filename = "tinyshakespeare.txt"
    url = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
    sha256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"  # 1,115,394 bytes

    def _on_disk(self) -> Path | None:
        return _local(self.name, self.filename) or _in_cache(self.filename)

    def _path(self) -> Path:
        return (
            _local(self.name, self.filename)
            or _cached(self.filename)
            or _fetch("Tiny Shakespeare", self.name, self.filename, self.url, expect_sha256=self.sha256)
        )

    def files(self, corpus_bytes: int) -> list[tuple[Path, int]]:
        return [(self._path(), corpus_bytes)]

    def load(self, corpus_bytes: int, val_fraction: float, data_seed: int) -> Corpus:
        """Speeches; val = text after the speech boundary nearest to (1 - val_fraction) of it."""
        path = self._path()
        text = _decode(_read_capped(path, corpus_bytes, "\n\n"))
        target = int(len(text) * (1 - val_fraction))  # nanoGPT: data[int(n * 0.9):] is val
        before, after = text.rfind("\n\n", 0, target), text.find("\n\n", target)
        cut = min((c for c in (before, after) if c > 0), key=lambda c: abs(c - target), default=target)
        train, val = _split_blank(text[:cut]), _split_blank(text[cut:])
        if not train or not val:
            raise ConfigError(f"corpus_bytes={corpus_bytes} is too small to split Tiny Shakespeare; use at least 10000")
        return Corpus(
            self.name,
            train,
            val,
            source=f"{path} (val = chars {cut}: of {len(text)}, nanoGPT's last "
            f"{val_fraction:.0%} moved to a speech boundary)",
        )


# ---------------------------------------------------------------------------
# A user's file or folder


class UserFiles(Source):
    """file:PATH. A file: split on <|endoftext|> if present, else blank lines. A folder:
    every .txt inside, one document per file (a file holding <|endoftext|> is split on it).
    Val is a seeded share of the documents."""

    def __init__(self, name: str):
        self.name = name
        self.path = Path(name[len(FILE_PREFIX) :]).expanduser()

    def available_offline(self) -> bool:
        return self.path.exists()

    def bytes_on_disk(self) -> int | None:
        return sum(f.stat().st_size for f in self._txt_files())

    def _txt_files(self) -> list[Path]:
        path = self.path
        if path.is_file():
            return [path]
        if not path.is_dir():
            what = "is not a file or a folder" if path.exists() else "does not exist"
            raise DataMissingError(
                f"corpus {self.name!r}: {path.resolve()} {what}; give the path "
                f"of a .txt file or a folder of .txt files (relative paths "
                f"start at {Path.cwd()})"
            )
        found = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not found:
            raise DataMissingError(
                f"folder {path.resolve()} holds no .txt files; put your text in files ending in .txt"
            )
        return found

    def files(self, corpus_bytes: int) -> list[tuple[Path, int]]:
        return [(f, corpus_bytes) for f in self._txt_files()]

    def load(self, corpus_bytes: int, val_fraction: float, data_seed: int) -> Corpus:
        docs, left = [], corpus_bytes
        for f in self._txt_files():
            if left <= 0:
                break
            raw = _read_capped(f, left, "auto")
            left -= len(raw)
            text = _decode(raw)
            docs += _split_text(text) if self.path.is_file() or EOT in text else [text.strip()]
        docs = [d for d in docs if d]
        if len(docs) < 2:
            what = "is empty" if not docs else "holds only one document"
            raise DataMissingError(
                f"corpus {self.name!r}: {self.path.resolve()} {what}; give at "
                f"least two documents (separate them with a blank line or {EOT})"
            )
        train, val = _seeded_split(docs, val_fraction, data_seed)
        return Corpus(self.name, train, val, source=str(self.path.resolve()))


# ---------------------------------------------------------------------------
# The registry

CORPORA: dict[str, Source] = {s.name: s for s in (Synthetic(), TinyStories(), Shakespeare())}
