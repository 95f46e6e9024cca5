"""Token files and batches: tokenize a corpus once, then sample (x, y) batches.

Holds
- `prepare(data_cfg)`: load the corpus (slmlab.corpora), train or load the
  tokenizer on the TRAIN documents only, and write train.bin / val.bin
  (tokenizers.token_dtype: uint16 when the vocabulary fits, else uint32; an
  EOT after every document), the tokenizer and manifest.json into
  paths.tokens_dir()/<key>. The key hashes what changes the tokens (corpus
  identity, tokenizer, corpus_bytes, val_fraction, data_seed and
  TOKEN_FORMAT_VERSION, bumped by hand when the tokens of a text change, as
  the golden tests in tests/test_golden.py demand) and NOT data_fraction: the
  fraction is a view, a prefix of the train tokens cut just after an EOT, so
  changing it never re-tokenizes. Source code is not hashed: editing a message
  or adding a corpus rebuilds nothing. A folder of an older format for the
  same settings is named in one printed line when its successor is built.
  Everything is written to a temporary folder and renamed into place, so an
  interrupted prepare leaves nothing half-written and two prepares at once are
  harmless. On every load the sizes and sha256 of the
  .bin files are checked against the manifest (a file unchanged in size and
  mtime since its last check is not read again); a bad or stale folder is
  rebuilt (with a warning) or, when the corpus cannot be read, refused with a
  clear error.
  With the char tokenizer, val characters never seen in train are dropped (a
  warning; `val_chars_dropped` in the manifest); val_bytes counts them anyway.
- `TokenData`: the two memmapped token arrays, the tokenizer and the manifest.
- `BatchSampler`: seeded random windows -> x, y (B, T) int64, exact resume; under
  torchrun each rank its slice of one global batch. Options for notebook 05's
  augmentation arms: fixed chunks instead of random offsets, noise on the inputs.
- `check_block_size`: a ConfigError when a split is shorter than block_size + 1.

It leaves to others: where text comes from (slmlab.corpora), how it becomes
ids (slmlab.tokenizers), and what a model does with the batches.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import corpora
from .config import ConfigError, DataConfig
from .files import sha256_file, write_json
from .paths import tokens_dir
from .tokenizers import Tokenizer, get_tokenizer, load_tokenizer

__all__ = [
    "TokenData",
    "prepare",
    "BatchSampler",
    "check_block_size",
    "DataCorruptError",
    "TOKEN_FORMAT_VERSION",
    "data_key",
]

# Bump by hand when the tokens written for a text, the token files or the manifest change
# (tests/test_golden.py fails until you do). 1: folders named by a hash of the source code;
# 2: named by this number.
TOKEN_FORMAT_VERSION = 2
MANIFEST = "manifest.json"
SPLITS = ("train", "val")
_CHUNK_DOCS = 2000  # documents tokenized at a time while writing a .bin
_SCAN_TOKENS = 1 << 20  # tokens searched at a time for the EOT that ends a data_fraction view


class DataCorruptError(RuntimeError):
    """Prepared token files that are missing, truncated, corrupt or stale."""


# ---------------------------------------------------------------------------
# TokenData: what prepare returns


@dataclass
class TokenData:
    """Prepared tokens of one corpus + tokenizer; train already cut to data_fraction."""

    train: np.ndarray  # memmap of train tokens, cut to data_fraction at a document boundary
    val: np.ndarray  # memmap of val tokens (never cut)
    tokenizer: Tokenizer
    manifest: dict  # manifest.json, plus the view: data_fraction, n_train_tokens_used
    dir: Path  # the prepared folder

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    @property
    def val_bytes_per_token(self) -> float:
        """UTF-8 bytes of val text per val token (EOTs counted as tokens, not bytes)."""
        return self.manifest["val_bytes"] / max(1, self.manifest["n_val_tokens"])

    def __repr__(self) -> str:
        m = self.manifest
        return (
            f"TokenData({m['corpus']!r}, {m['tokenizer']!r}, vocab={self.vocab_size}, "
            f"train={len(self.train):,} of {m['n_train_tokens']:,} tokens, "
            f"val={len(self.val):,} tokens, dir={str(self.dir)!r})"
        )


# ---------------------------------------------------------------------------
# prepare: find, check, or build the folder


def data_key(data_cfg: DataConfig, corpus_identity: str) -> str:
    """Folder name: readable prefix + hash of everything that changes the tokens."""
    parts = {
        "identity": corpus_identity,
        "tokenizer": data_cfg.tokenizer,
        "corpus_bytes": data_cfg.corpus_bytes,
        "val_fraction": data_cfg.val_fraction,
        "data_seed": data_cfg.data_seed,
        "version": TOKEN_FORMAT_VERSION,
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(data_cfg.corpus.removeprefix("file:")).name)
    return f"{slug[:40]}-{data_cfg.tokenizer}-{digest}"


def prepare(data_cfg: DataConfig, *, rebuild: bool = False) -> TokenData:
    """Token files for `data_cfg`, built once and checked on every load."""
    identity = _corpus_identity(data_cfg)
    folder = tokens_dir() / data_key(data_cfg, identity)
    if folder.exists() and not rebuild:
        try:
            return _load(folder, data_cfg, identity)
        except DataCorruptError as e:
            warnings.warn(f"prepared data in {folder} is unusable ({e}); rebuilding it", stacklevel=2)
            return _build(folder, data_cfg, identity, reason=str(e))
    if not folder.exists():
        _say_older_format(folder, data_cfg)
    return _build(folder, data_cfg, identity, replace_old=rebuild)


def _say_older_format(folder: Path, data_cfg: DataConfig) -> None:
    """One printed line when tokens of these settings exist in an older format only."""
    same = ("corpus", "tokenizer", "corpus_bytes", "val_fraction", "data_seed")
    older = []
    for other in sorted(folder.parent.glob(folder.name.rsplit("-", 1)[0] + "-*")):
        try:
            m = json.loads((other / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if m.get("version") != TOKEN_FORMAT_VERSION and all(m.get(k) == getattr(data_cfg, k) for k in same):
            older.append(other)
    if older:
        more = f", with {len(older) - 1} more" if len(older) > 1 else ""
        print(
            f"tokenizing {data_cfg.corpus} with {data_cfg.tokenizer} once more: this code writes "
            f"token format {TOKEN_FORMAT_VERSION}, {older[0].name} holds an older one "
            f"(it can be deleted{more})"
        )


def _corpus_identity(data_cfg: DataConfig) -> str:
    return corpora.identity(
        data_cfg.corpus, data_cfg.corpus_bytes, val_fraction=data_cfg.val_fraction, data_seed=data_cfg.data_seed
    )


def _build(
    folder: Path, data_cfg: DataConfig, identity: str, reason: str | None = None, replace_old: bool = False
) -> TokenData:
    """Write everything into a temp folder, then rename it to `folder`.

    `reason`: why an existing folder is rebuilt (it is then replaced).
    """
    try:
        corpus = corpora.load_corpus(
            data_cfg.corpus,
            corpus_bytes=data_cfg.corpus_bytes,
            val_fraction=data_cfg.val_fraction,
            data_seed=data_cfg.data_seed,
        )
    except Exception as e:
        if reason is None:
            raise
        raise DataCorruptError(
            f"prepared data in {folder} is unusable ({reason}) and the corpus cannot be read to rebuild it: {e}"
        ) from e
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.tmp-"))
    try:
        _write_all(tmp, corpus, data_cfg, identity)
        _move_into_place(tmp, folder, replace_old=replace_old or reason is not None)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _load(folder, data_cfg, identity)


def _write_all(tmp: Path, corpus: corpora.Corpus, data_cfg: DataConfig, identity: str) -> None:
    t0 = time.perf_counter()
    tok = get_tokenizer(data_cfg.tokenizer, corpus.train_docs)
    tok_seconds = time.perf_counter() - t0
    tok.save(tmp)
    val_docs, dropped = _drop_unknown(tok, corpus.val_docs)
    tr = _write_bin(tmp / "train.bin", tok, corpus.train_docs)
    va = _write_bin(tmp / "val.bin", tok, val_docs)
    manifest = {
        "version": TOKEN_FORMAT_VERSION,
        "corpus": data_cfg.corpus,
        "corpus_identity": identity,
        "corpus_source": corpus.source,
        "tokenizer": tok.name,
        "vocab_size": tok.vocab_size,
        "eot_id": tok.eot_id,
        "dtype": np.dtype(tok.dtype).name,
        "n_train_tokens": tr["n_tokens"],
        "n_val_tokens": va["n_tokens"],
        "n_train_docs": tr["n_docs"],
        "n_val_docs": va["n_docs"],
        # UTF-8 bytes of the corpus text, without EOTs (before any dropped val characters,
        # so every tokenizer of one corpus shares one denominator for bits per byte)
        "train_bytes": _utf8_bytes(corpus.train_docs),
        "val_bytes": _utf8_bytes(corpus.val_docs),
        "sha256": {"train.bin": tr["sha256"], "val.bin": va["sha256"]},
        "entropy_floor": _entropy_floor(corpus, va["n_tokens"]),
        "corpus_bytes": data_cfg.corpus_bytes,
        "val_fraction": data_cfg.val_fraction,
        "data_seed": data_cfg.data_seed,
        "val_chars_dropped": dropped,
        "tokenizer_seconds": round(tok_seconds, 3),
        "prepare_seconds": round(time.perf_counter() - t0, 3),
    }
    write_json(tmp / MANIFEST, manifest)


def _drop_unknown(tok: Tokenizer, docs: list[str]) -> tuple[list[str], int]:
    """Val characters the (char) tokenizer never saw in train are dropped, and counted."""
    unknown: set[str] = set()
    for d in docs:
        unknown |= tok.unknown_chars(d)
    if not unknown:
        return docs, 0
    rx = re.compile("[" + re.escape("".join(sorted(unknown))) + "]")
    cleaned = [rx.sub("", d) for d in docs]
    dropped = sum(len(a) - len(b) for a, b in zip(docs, cleaned, strict=True))
    warnings.warn(
        f"{tok.name} tokenizer: dropped {dropped} val character(s) never seen in "
        f"train: {''.join(sorted(unknown))[:40]!r}",
        stacklevel=3,
    )
    return cleaned, dropped


def _write_bin(path: Path, tok: Tokenizer, docs: list[str]) -> dict:
    """Tokenize `docs` in chunks straight into `path`; return counts and sha256."""
    h, n_tokens = hashlib.sha256(), 0
    with open(path, "wb") as f:
        for i in range(0, len(docs), _CHUNK_DOCS):
            chunk = docs[i : i + _CHUNK_DOCS]
            ids = tok.encode_docs(chunk)
            data = ids.tobytes()
            f.write(data)
            h.update(data)
            n_tokens += len(ids)
        f.flush()
        os.fsync(f.fileno())
    return {"n_tokens": n_tokens, "n_docs": len(docs), "sha256": h.hexdigest()}


def _utf8_bytes(docs: list[str]) -> int:
    return sum(len(d.encode("utf-8")) for d in docs)


def _entropy_floor(corpus: corpora.Corpus, n_val_tokens: int) -> float | None:
    """Exact nats per val token of the generator (synthetic corpora only)."""
    if not corpus.val_logprobs or n_val_tokens == 0:
        return None
    return -float(sum(corpus.val_logprobs)) / n_val_tokens


def _move_into_place(tmp: Path, folder: Path, replace_old: bool) -> None:
    """os.replace the finished temp folder onto `folder`.

    A fresh build that finds `folder` already there (a concurrent prepare with
    the same key won the race) keeps that one; a rebuild moves the bad one aside.
    Windows refuses to move a folder while a file in it is open (another kernel's
    memory-mapped tokens): that is one clear line, not a half-replaced folder.
    """
    if replace_old and folder.exists():
        trash = folder.with_name(f".{folder.name}.old-{uuid.uuid4().hex[:8]}")
        try:
            os.replace(folder, trash)
            shutil.rmtree(trash, ignore_errors=True)
        except FileNotFoundError:
            pass  # a concurrent rebuild moved it already
        except PermissionError as e:
            raise RuntimeError(
                f"cannot rebuild the token folder {folder}: a file in it is open ({e.strerror}); "
                f"another kernel or process is using these tokens: restart it, then run "
                f"this again"
            ) from None
    try:
        os.replace(tmp, folder)
    except OSError:
        if not (folder / MANIFEST).exists():
            raise


# ---------------------------------------------------------------------------
# Loading and checking a prepared folder


def _load(folder: Path, data_cfg: DataConfig, identity: str) -> TokenData:
    """Open the folder; DataCorruptError when anything disagrees with the manifest."""
    manifest = _read_manifest(folder)
    _check_stale(manifest, data_cfg, identity)
    arrays = {s: _open_bin(folder, s, manifest) for s in SPLITS}
    try:
        tok = load_tokenizer(folder)
    except ValueError as e:
        raise DataCorruptError(str(e)) from None
    if tok.vocab_size != manifest["vocab_size"]:
        raise DataCorruptError(f"tokenizer has {tok.vocab_size} ids, manifest {manifest['vocab_size']}")
    train = _fraction_view(arrays["train"], data_cfg.data_fraction, tok.eot_id)
    view = {
        "data_fraction": data_cfg.data_fraction,
        "n_train_tokens_used": int(len(train)),
        "n_train_docs_used": _count_docs(train, tok.eot_id, manifest, data_cfg.data_fraction),
    }
    return TokenData(train=train, val=arrays["val"], tokenizer=tok, manifest={**manifest, **view}, dir=folder)


def _read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataCorruptError(f"{MANIFEST} unreadable: {e}") from None
    needed = (
        "version",
        "corpus_identity",
        "tokenizer",
        "vocab_size",
        "dtype",
        "sha256",
        "n_train_tokens",
        "n_val_tokens",
        "val_bytes",
    )
    if not isinstance(manifest, dict) or any(k not in manifest for k in needed):
        raise DataCorruptError(f"{MANIFEST} lacks fields of format version {TOKEN_FORMAT_VERSION}")
    return manifest


def _check_stale(manifest: dict, data_cfg: DataConfig, identity: str) -> None:
    if manifest["version"] != TOKEN_FORMAT_VERSION:
        raise DataCorruptError(f"format version {manifest['version']}, this code writes {TOKEN_FORMAT_VERSION}")
    if manifest["corpus_identity"] != identity:
        raise DataCorruptError("the corpus changed since these tokens were made")
    if manifest["tokenizer"] != data_cfg.tokenizer:
        raise DataCorruptError(f"made with tokenizer {manifest['tokenizer']}, not {data_cfg.tokenizer}")


def _open_bin(folder: Path, split: str, manifest: dict) -> np.ndarray:
    """Memmap one split after checking its size and sha256."""
    path, dtype = folder / f"{split}.bin", np.dtype(manifest["dtype"])
    n = manifest[f"n_{split}_tokens"]
    size = path.stat().st_size if path.exists() else None
    if size != n * dtype.itemsize:
        raise DataCorruptError(f"{path.name} has {size} bytes, manifest says {n * dtype.itemsize}")
    memo = folder / f".{path.name}.checked.json"  # size + mtime at the last full check
    if sha256_file(path, memo=memo) != manifest["sha256"].get(path.name):
        raise DataCorruptError(f"{path.name} does not match its sha256 in the manifest")
    return np.memmap(path, dtype=dtype, mode="r") if n else np.zeros(0, dtype=dtype)


def _fraction_view(train: np.ndarray, fraction: float, eot_id: int) -> np.ndarray:
    """The shortest prefix holding >= fraction of the tokens that ends just after an EOT."""
    n = len(train)
    if fraction >= 1.0 or n == 0:
        return train
    start = max(0, int(fraction * n) - 1)
    for lo in range(start, n, _SCAN_TOKENS):  # scan forward in chunks for the next EOT
        hits = np.flatnonzero(train[lo : lo + _SCAN_TOKENS] == eot_id)
        if len(hits):
            return train[: lo + int(hits[0]) + 1]
    return train


def _count_docs(train: np.ndarray, eot_id: int, manifest: dict, fraction: float) -> int:
    if fraction >= 1.0:
        return int(manifest["n_train_docs"])
    return int(np.count_nonzero(train == eot_id))


# ---------------------------------------------------------------------------
# Batches


class BatchSampler:
    """Windows of block_size + 1 tokens -> x, y (B, T) int64; seeded, resumable.

    sampling="random" (the default): a window may start at any token, so a text of n
    tokens gives about n different windows. sampling="chunks": only at multiples of
    block_size, the n / block_size fixed non-overlapping chunks many LM pipelines cut
    once (notebook 05 measures the difference). input_noise=p: each input token is
    swapped, with probability p, for a token drawn at random from `tokens` (so noise
    follows the text's own token frequencies); the targets y stay the clean text. The
    noise has its own generator, so the windows are the same with and without it.

    Data-parallel (world_size > 1): every rank draws the same global batch of
    batch_size x world_size windows (and noise) from the same seed and keeps its slice
    [rank*B, (rank+1)*B), so N ranks of B train on exactly the windows that one
    process of N*B would.
    """

    def __init__(
        self,
        tokens: np.ndarray,
        block_size: int,
        batch_size: int,
        seed: int,
        device: str = "cpu",
        *,
        rank: int = 0,
        world_size: int = 1,
        sampling: str = "random",
        input_noise: float = 0.0,
    ):
        if len(tokens) < block_size + 1:
            raise ConfigError(
                f"block_size={block_size} needs at least {block_size + 1} tokens, "
                f"this split has {len(tokens)}; use a smaller block_size or more data"
            )
        if sampling not in ("random", "chunks"):
            raise ConfigError(f"sampling={sampling!r} is unknown; use random or chunks")
        self.tokens, self.block_size, self.batch_size = tokens, block_size, batch_size
        self.rank, self.world_size = rank, world_size
        self.sampling, self.input_noise = sampling, input_noise
        self.device = torch.device(device)
        self.rng = np.random.default_rng(seed)
        self.noise_rng = np.random.default_rng([seed, 1]) if input_noise > 0 else None  # its own stream
        self._offsets = np.arange(block_size + 1)  # (T+1,)

    def _starts(self) -> np.ndarray:
        """The first token of each window of the global batch: (world * B,)."""
        n = self.batch_size * self.world_size
        if self.sampling == "chunks":  # chunk k is tokens[k*T : k*T + T + 1]
            return self.rng.integers(0, (len(self.tokens) - 1) // self.block_size, size=n) * self.block_size
        return self.rng.integers(0, len(self.tokens) - self.block_size, size=n)

    def _noisy(self, x: np.ndarray) -> np.ndarray:
        """x (B, T) with a share input_noise of its tokens swapped for random train tokens. The
        noise is drawn for the global batch and sliced like the windows (exact under torchrun)."""
        shape, rows = (self.batch_size * self.world_size, x.shape[1]), self._rows()
        hit = (self.noise_rng.random(shape) < self.input_noise)[rows]  # (B, T)
        swap = self.tokens[self.noise_rng.integers(0, len(self.tokens), size=shape)[rows]]  # (B, T)
        return np.where(hit, swap, x)

    def _rows(self) -> slice:
        """This rank's rows of the global batch."""
        return slice(self.rank * self.batch_size, (self.rank + 1) * self.batch_size)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One batch: y is x shifted left by one token (x noised when input_noise > 0)."""
        starts = self._starts()[self._rows()]  # (B,) this rank's (all of them alone)
        window = self.tokens[starts[:, None] + self._offsets].astype(np.int64)  # (B, T+1), one gather, no loop
        x = self._noisy(window[:, :-1]) if self.noise_rng is not None else window[:, :-1]  # (B, T)
        x, y = torch.from_numpy(x), torch.from_numpy(window)[:, 1:]  # (B, T), (B, T)
        if self.device.type == "cuda":
            x = x.contiguous().pin_memory().to(self.device, non_blocking=True)
            y = y.contiguous().pin_memory().to(self.device, non_blocking=True)
        elif self.device.type != "cpu":
            x, y = x.to(self.device), y.to(self.device)
        return x, y

    def state_dict(self) -> dict:
        state = {
            "bit_generator": self.rng.bit_generator.state,
            "block_size": self.block_size,
            "batch_size": self.batch_size,
        }
        if self.noise_rng is not None:
            state["noise_bit_generator"] = self.noise_rng.bit_generator.state
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore the generators exactly: the next batches are those the saved run drew."""
        self.rng.bit_generator.state = state["bit_generator"]
        if self.noise_rng is not None and "noise_bit_generator" in state:
            self.noise_rng.bit_generator.state = state["noise_bit_generator"]


def check_block_size(data: TokenData, block_size: int) -> None:
    """ConfigError naming block_size and the split lengths when a split is too short."""
    n_train, n_val = len(data.train), len(data.val)
    if min(n_train, n_val) >= block_size + 1:
        return
    short = "train" if n_train < block_size + 1 else "val"
    raise ConfigError(
        f"block_size={block_size} needs at least {block_size + 1} tokens per split, but {short} "
        f"has too few (train {n_train:,} tokens, val {n_val:,}); use a smaller block_size "
        f"(< {min(n_train, n_val)}) or more data (larger data_fraction or corpus_bytes)"
    )
