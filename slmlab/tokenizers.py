"""Tokenizers: text <-> token ids, three kinds behind one small interface.

Holds
- `CharTokenizer` ("char"): one id per character. The vocabulary is the sorted
  distinct characters of the TRAINING documents, then EOT (nanoGPT's
  shakespeare_char convention: Tiny Shakespeare gives 65 characters + EOT).
  Encoding a character it has never seen raises a ValueError naming it; there
  is no silent fallback (`unknown_chars` lets a caller find and drop them first;
  slmlab.data drops val characters unseen in train, with a warning and a count
  in the manifest).
- `BPETokenizer` ("bpe-N"): byte-level BPE with N merges, trained here by
  `train_bpe` on the training documents (GPT-2 regex pre-tokenization, then
  merges with incremental pair counts), and served as a `tiktoken.Encoding`:
  ranks 0..255 are the single bytes, rank 256+i is merge i, EOT is 256+N.
- `GPT2Tokenizer` ("gpt2"): OpenAI's GPT-2 BPE through tiktoken, from
  $SLMLAB_DATA_DIR/gpt2/{vocab.bpe,encoder.json} when those files are there
  (no network at all then), else `tiktoken.get_encoding("gpt2")`.
- `get_tokenizer(name, train_docs)`, `save` / `load_tokenizer(dir)`, and
  `vocab_size_of(name)`: the vocabulary a name gives, where the name alone says it.
- `token_dtype(vocab_size)`: the one uint16-or-uint32 rule for token arrays.

- `EOT`: the text "<|endoftext|>", the document separator in corpus files
  (slmlab.corpora reads it from here) and the text of the tokenizers' EOT id.

Every tokenizer treats the text EOT inside a document as plain text; the EOT id
only enters through `encode_docs`, after each document.

It leaves to others: reading corpora (slmlab.corpora) and writing token files,
caching and batching (slmlab.data).
"""

from __future__ import annotations

import heapq
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import regex
import tiktoken

from . import paths
from .config import ConfigError, is_known_tokenizer
from .files import sha256_file, write_json

__all__ = [
    "GPT2_PAT",
    "Tokenizer",
    "CharTokenizer",
    "BPETokenizer",
    "GPT2Tokenizer",
    "get_tokenizer",
    "load_tokenizer",
    "train_bpe",
    "pretokenize",
    "TOKENIZER_FILE",
    "token_dtype",
    "vocab_size_of",
    "BPE_TRAIN_CHARS",
    "EOT",
]

EOT = "<|endoftext|>"  # the document separator in corpus files, and the tokenizers' EOT text
TOKENIZER_FILE = "tokenizer.json"
ENCODE_THREADS = 2  # tiktoken's batch encoding threads (the course targets a 2-core laptop)
# tiktoken 0.14's r50k_pat_str: the GPT-2 pre-tokenization regex.
GPT2_PAT = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""


# ---------------------------------------------------------------------------
# The common interface


class Tokenizer:
    """Base class. Subclasses set name, vocab_size, eot_id and encode/decode."""

    name: str
    vocab_size: int  # includes EOT
    eot_id: int
    encoding: tiktoken.Encoding | None = None  # for bpe-N and gpt2

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def decode(self, ids: Iterable[int]) -> str:
        raise NotImplementedError

    @property
    def dtype(self) -> type:
        """The token arrays' dtype (token_dtype of the vocabulary size)."""
        return token_dtype(self.vocab_size)

    def encode_docs(self, docs: Sequence[str]) -> np.ndarray:
        """All documents' ids, EOT after each, as one 1-D uint16/uint32 array."""
        parts = [np.asarray(ids, dtype=self.dtype) for ids in self._encode_many(docs)]
        eot = np.array([self.eot_id], dtype=self.dtype)
        pieces = [p for ids in parts for p in (ids, eot)]
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=self.dtype)

    def _encode_many(self, docs: Sequence[str]) -> list:
        return [self.encode(d) for d in docs]

    def unknown_chars(self, text: str) -> set[str]:
        """Characters `encode` cannot handle (always empty for byte-level BPE)."""
        return set()

    def save(self, dir: Path) -> None:
        """Write tokenizer.json into `dir` (atomically)."""
        write_json(Path(dir) / TOKENIZER_FILE, self._state())

    def _state(self) -> dict:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, vocab_size={self.vocab_size})"


# ---------------------------------------------------------------------------
# char


class CharTokenizer(Tokenizer):
    """One id per character: sorted training characters, then EOT."""

    def __init__(self, chars: Sequence[str]):
        chars = list(chars)
        if len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
            raise ValueError("CharTokenizer needs a list of distinct single characters")
        self.chars = chars
        self.name = "char"
        self.eot_id = len(chars)
        self.vocab_size = len(chars) + 1
        self._codes = np.array([ord(c) for c in chars], dtype=np.uint32)  # sorted by code point
        if np.any(np.diff(self._codes.astype(np.int64)) <= 0):
            raise ValueError("CharTokenizer chars must be sorted by code point")

    @classmethod
    def train(cls, docs: Iterable[str]) -> CharTokenizer:
        seen: set[str] = set()
        for d in docs:
            seen.update(d)
        return cls(sorted(seen))

    def encode(self, text: str) -> list[int]:
        return self._encode_array(text).tolist()

    def _encode_array(self, text: str) -> np.ndarray:
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        ids = np.searchsorted(self._codes, codes)
        ok = ids < len(self._codes)
        ok[ok] = self._codes[ids[ok]] == codes[ok]
        if not ok.all():
            bad = sorted(self.unknown_chars(text))
            shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in bad[:10])
            raise ValueError(
                f"char tokenizer: {len(bad)} character(s) not in its vocabulary "
                f"(built from the training docs): {shown}; drop them first "
                f"(see unknown_chars) or use a byte-level tokenizer (bpe-N, gpt2)"
            )
        return ids

    def _encode_many(self, docs: Sequence[str]) -> list:
        return [self._encode_array(d) for d in docs]

    def unknown_chars(self, text: str) -> set[str]:
        known = set(self.chars)
        return {c for c in set(text) if c not in known}

    def decode(self, ids: Iterable[int]) -> str:
        table = self.chars + [EOT]
        return "".join(table[int(i)] for i in ids)

    def _state(self) -> dict:
        return {"kind": "char", "name": self.name, "chars": self.chars}


# ---------------------------------------------------------------------------
# bpe-N: the trainer


def pretokenize(docs: Iterable[str], pat: str = GPT2_PAT) -> Counter:
    """Counter of pre-token byte strings (GPT-2 regex), each doc on its own."""
    rx = regex.compile(pat)
    counts: Counter = Counter()
    for d in docs:
        counts.update(rx.findall(d))
    return Counter({w.encode("utf-8"): n for w, n in counts.items()})


def _merge_word(word: list[int], pair: tuple[int, int], new: int) -> list[int]:
    """Replace each non-overlapping occurrence of `pair` (left to right) by `new`."""
    out, i, n = [], 0, len(word)
    a, b = pair
    while i < n:
        if i + 1 < n and word[i] == a and word[i + 1] == b:
            out.append(new)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


class _PairStats:
    """Pair counts, an index pair -> words holding it, and a max-heap with lazy deletion."""

    def __init__(self, words: list[list[int]], freqs: list[int]):
        self.words, self.freqs = words, freqs
        self.counts: dict[tuple[int, int], int] = defaultdict(int)
        self.where: dict[tuple[int, int], set[int]] = defaultdict(set)
        for w, word in enumerate(words):
            for p in zip(word, word[1:], strict=False):
                self.counts[p] += freqs[w]
                self.where[p].add(w)
        # heap entries (-count, a, b): most frequent first, ties -> smallest (a, b)
        self.heap = [(-c, a, b) for (a, b), c in self.counts.items()]
        heapq.heapify(self.heap)
        self.banned: set[tuple[int, int]] = set()  # pairs never to merge

    def best(self) -> tuple[int, int] | None:
        """The most frequent pair (ties: smallest ids), skipping stale heap entries."""
        while self.heap:
            negc, a, b = self.heap[0]
            if self.counts.get((a, b), 0) == -negc and (a, b) not in self.banned:
                return a, b
            heapq.heappop(self.heap)
        return None

    def merge(self, pair: tuple[int, int], new: int) -> None:
        """Apply one merge to the words holding `pair`; update only their pairs."""
        changed: set[tuple[int, int]] = set()
        for w in self.where.pop(pair, ()):
            old = self.words[w]
            word = _merge_word(old, pair, new)
            if len(word) == len(old):
                continue  # stale index entry
            f = self.freqs[w]
            for p in zip(old, old[1:], strict=False):
                self.counts[p] -= f
                changed.add(p)
            for p in zip(word, word[1:], strict=False):
                self.counts[p] += f
                self.where[p].add(w)
                changed.add(p)
            self.words[w] = word
        self.counts.pop(pair, None)
        for p in changed:
            c = self.counts.get(p, 0)
            if c > 0:
                heapq.heappush(self.heap, (-c, *p))
            else:
                self.counts.pop(p, None)


def train_bpe(docs: Iterable[str], n_merges: int, pat: str = GPT2_PAT) -> list[tuple[int, int]]:
    """Learn `n_merges` byte-level BPE merges; merge i creates token id 256 + i.

    Greedy: each step merges the most frequent adjacent pair (ties: the
    smallest pair of ids). A pair whose bytes equal an existing token's is
    skipped, so every token's bytes are unique (tiktoken needs that).
    Stops early if no pair is left (a tiny text).
    """
    counter = pretokenize(docs, pat)
    words = [list(w) for w in counter]
    stats = _PairStats(words, list(counter.values()))
    vocab = [bytes([i]) for i in range(256)]
    known = set(vocab)
    merges: list[tuple[int, int]] = []
    while len(merges) < n_merges:
        pair = stats.best()
        if pair is None:
            break
        token = vocab[pair[0]] + vocab[pair[1]]
        if token in known:
            stats.banned.add(pair)  # never merge into a second copy of a token
            continue
        stats.merge(pair, 256 + len(merges))
        merges.append(pair)
        vocab.append(token)
        known.add(token)
    return merges


def merges_to_ranks(merges: Sequence[tuple[int, int]]) -> dict[bytes, int]:
    """tiktoken's mergeable_ranks: the 256 bytes at 0..255, merge i at 256 + i."""
    vocab = [bytes([i]) for i in range(256)]
    for a, b in merges:
        vocab.append(vocab[a] + vocab[b])
    return {tok: rank for rank, tok in enumerate(vocab)}


# ---------------------------------------------------------------------------
# Tokenizers served by tiktoken: bpe-N and gpt2


class _TiktokenTokenizer(Tokenizer):
    """Shared code: encode ignores special tokens; batch encoding uses tiktoken's threads."""

    def __init__(self, name: str, encoding: tiktoken.Encoding):
        self.name = name
        self.encoding = encoding
        self.eot_id = encoding.eot_token
        self.vocab_size = encoding.n_vocab

    def encode(self, text: str) -> list[int]:
        return self.encoding.encode_ordinary(text)

    def _encode_many(self, docs: Sequence[str]) -> list:
        return self.encoding.encode_ordinary_batch(list(docs), num_threads=ENCODE_THREADS)

    def decode(self, ids: Iterable[int]) -> str:
        return self.encoding.decode([int(i) for i in ids])


class BPETokenizer(_TiktokenTokenizer):
    """Our own byte-level BPE (`train_bpe`), served as a tiktoken.Encoding."""

    def __init__(self, merges: Sequence[tuple[int, int]], pat: str = GPT2_PAT):
        self.merges = [tuple(m) for m in merges]
        self.pat = pat
        n = len(self.merges)
        enc = tiktoken.Encoding(
            name=f"slmlab-bpe-{n}",
            pat_str=pat,
            mergeable_ranks=merges_to_ranks(self.merges),
            special_tokens={EOT: 256 + n},
            explicit_n_vocab=bpe_vocab_size(n),
        )
        super().__init__(f"bpe-{n}", enc)

    @classmethod
    def train(cls, docs: Iterable[str], n_merges: int) -> BPETokenizer:
        merges = train_bpe(docs, n_merges)
        if len(merges) < n_merges:
            raise ValueError(
                f"bpe-{n_merges}: the training text allows only {len(merges)} "
                f"merges; use bpe-{len(merges)} or fewer, or more text"
            )
        return cls(merges)

    def token_bytes(self, i: int) -> bytes:
        return self.encoding.decode_single_token_bytes(i)

    def _state(self) -> dict:
        return {"kind": "bpe", "name": self.name, "pat_str": self.pat, "merges": [list(m) for m in self.merges]}


def bpe_vocab_size(n_merges: int) -> int:
    """256 bytes + n_merges merges + EOT."""
    return 256 + n_merges + 1


GPT2_FILES = {  # name -> sha256 (the hashes tiktoken itself checks)
    "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
}
GPT2_URL = "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/"
GPT2_VOCAB = 50257  # 50256 merged tokens + EOT


class GPT2Tokenizer(_TiktokenTokenizer):
    """OpenAI's GPT-2 BPE: 50257 ids, EOT = 50256."""

    def __init__(self):
        super().__init__("gpt2", _gpt2_encoding())

    def _state(self) -> dict:
        return {"kind": "gpt2", "name": "gpt2"}


def _gpt2_local_dir() -> Path | None:
    """$SLMLAB_DATA_DIR/gpt2 when it holds both files, else None."""
    root = paths.data_dir()
    if root is None:
        return None
    d = root / "gpt2"
    return d if all((d / f).is_file() for f in GPT2_FILES) else None


def _gpt2_encoding() -> tiktoken.Encoding:
    local = _gpt2_local_dir()
    if local is not None:
        return _gpt2_from_files(local)
    try:
        return tiktoken.get_encoding("gpt2")
    except Exception as e:  # network down, proxy, cache unwritable ...
        where = paths.data_dir() or "<unset>"
        raise RuntimeError(
            f"gpt2 tokenizer: tiktoken could not load it ({type(e).__name__}: {e}) and "
            f"SLMLAB_DATA_DIR={where} has no gpt2/vocab.bpe + gpt2/encoder.json; download "
            f"those two files from {GPT2_URL} into $SLMLAB_DATA_DIR/gpt2/"
        ) from None


def _gpt2_from_files(d: Path) -> tiktoken.Encoding:
    """The Encoding from OpenAI's two published files (vocab.bpe, encoder.json), checked
    against the sha256 that tiktoken itself expects: no network."""
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks

    for fname, want in GPT2_FILES.items():
        got = sha256_file(d / fname)
        if got != want:
            raise RuntimeError(
                f"gpt2 tokenizer: {d / fname} has sha256 {got}, expected {want}; "
                f"replace it with the original file from {GPT2_URL}{fname}"
            )
    ranks = data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=str(d / "vocab.bpe"),
        encoder_json_file=str(d / "encoder.json"),
        vocab_bpe_hash=GPT2_FILES["vocab.bpe"],
        encoder_json_hash=GPT2_FILES["encoder.json"],
    )
    return tiktoken.Encoding(
        name="gpt2",
        explicit_n_vocab=GPT2_VOCAB,
        pat_str=GPT2_PAT,
        mergeable_ranks=ranks,
        special_tokens={EOT: GPT2_VOCAB - 1},
    )


# ---------------------------------------------------------------------------
# Building and reloading by name


BPE_TRAIN_CHARS = 20_000_000  # a BPE learns its merges from at most this many characters


def token_dtype(vocab_size: int) -> type:
    """Smallest unsigned dtype for token ids: uint16 up to 65536 ids, else uint32."""
    return np.uint16 if vocab_size <= 65536 else np.uint32


def vocab_size_of(name: str) -> int | None:
    """The vocabulary of tokenizer `name` (EOT included); None for char (it depends on the text)."""
    if name == "gpt2":
        return GPT2_VOCAB
    if name.startswith("bpe-") and is_known_tokenizer(name):
        return bpe_vocab_size(int(name[4:]))
    return None


def _head(docs: Sequence[str], max_chars: int) -> Sequence[str]:
    """The leading documents holding at most max_chars characters (at least one)."""
    total = 0
    for i, d in enumerate(docs):
        total += len(d)
        if total > max_chars:
            return docs[: max(1, i)]
    return docs


def get_tokenizer(
    name: str, train_docs: Sequence[str] | None = None, *, max_train_chars: int = BPE_TRAIN_CHARS
) -> Tokenizer:
    """'char' and 'bpe-N' are trained on `train_docs`; 'gpt2' needs none.

    A BPE learns from the leading documents holding at most max_train_chars characters
    (20 million: the merges of TinyStories settle long before; the gpu profile's 500 MB
    would take minutes).
    """
    if not is_known_tokenizer(name):
        raise ConfigError(f"tokenizer={name!r} is unknown; use char, gpt2 or bpe-N (N merges, e.g. bpe-4096)")
    if name == "gpt2":
        return GPT2Tokenizer()
    if train_docs is None:
        raise ValueError(f"tokenizer {name!r} is trained on the corpus: pass train_docs")
    if name == "char":
        return CharTokenizer.train(train_docs)
    return BPETokenizer.train(_head(train_docs, max_train_chars), int(name[4:]))


def load_tokenizer(dir: Path) -> Tokenizer:
    """Rebuild the tokenizer saved in `dir` by Tokenizer.save."""
    path = Path(dir) / TOKENIZER_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        kind = state["kind"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(
            f"{path}: not a readable slmlab tokenizer ({e}); delete the folder {dir} so it is prepared again"
        ) from None
    if kind == "char":
        return CharTokenizer(state["chars"])
    if kind == "bpe":
        return BPETokenizer([tuple(m) for m in state["merges"]], state.get("pat_str", GPT2_PAT))
    if kind == "gpt2":
        return GPT2Tokenizer()
    raise ValueError(f"{path}: unknown tokenizer kind {kind!r}")
