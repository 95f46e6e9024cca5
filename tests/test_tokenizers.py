"""Tokenizers: golden ids, our BPE trainer against a slow reference, tiktoken parity, save/load."""

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import regex
import tiktoken

from slmlab import tokenizers
from slmlab.config import ConfigError
from slmlab.tokenizers import (
    EOT,
    GPT2_PAT,
    BPETokenizer,
    CharTokenizer,
    get_tokenizer,
    load_tokenizer,
    token_dtype,
    train_bpe,
    vocab_size_of,
)

RHYME = "the cat sat on the mat. the cat ate the rat. a fat cat sat on a hat.\n" * 3
SAMPLE = [
    "Once upon a time, there was a little girl named Lily. She loved to play outside!",
    "Tom's dog can't swim... but it's 42 times braver than   you'd think?\n\nThe end.",
    "Ünïcödé: naïve café — 日本語 🙂 tabs\tand  spaces  ",
] * 4


# ---------------------------------------------------------------------------
# char


def test_char_golden_ids_and_eot():
    tok = CharTokenizer.train(["hello world", "abc"])
    assert tok.chars == [" ", "a", "b", "c", "d", "e", "h", "l", "o", "r", "w"]
    assert tok.encode("hello world") == [6, 5, 7, 7, 8, 0, 10, 8, 9, 7, 4]
    assert (tok.eot_id, tok.vocab_size) == (11, 12)
    ids = tok.encode_docs(["ab", "c"])
    assert ids.dtype == np.uint16 and ids.tolist() == [1, 2, 11, 3, 11]
    assert tok.decode(ids) == "ab" + EOT + "c" + EOT


def test_char_unseen_character_raises_clearly():
    tok = CharTokenizer.train(["abc"])
    with pytest.raises(ValueError, match=r"'z' \(U\+007A\)"):
        tok.encode("abz")
    assert tok.unknown_chars("abzé") == {"z", "é"}


def test_char_save_load(tmp_path):
    tok = CharTokenizer.train(SAMPLE)
    tok.save(tmp_path)
    back = load_tokenizer(tmp_path)
    assert isinstance(back, CharTokenizer) and back.chars == tok.chars
    assert back.encode(SAMPLE[2]) == tok.encode(SAMPLE[2])
    assert not list(tmp_path.glob("*.tmp"))


def test_char_tiny_shakespeare_has_65_chars(shared_data):
    text = (Path(shared_data) / "tinyshakespeare.txt").read_text(encoding="utf-8")
    tok = get_tokenizer("char", [text])
    assert tok.vocab_size == 65 + 1 and tok.decode(tok.encode(text[:500])) == text[:500]


# ---------------------------------------------------------------------------
# bpe-N: the trainer


def naive_train_bpe(docs, n_merges):
    """Slow reference: recount every pair after every merge."""
    rx = regex.compile(GPT2_PAT)
    counts = Counter(p.encode("utf-8") for d in docs for p in rx.findall(d))
    words = {tuple(w): n for w, n in counts.items()}
    vocab = [bytes([i]) for i in range(256)]
    merges, banned = [], set()
    while len(merges) < n_merges:
        pairs = Counter()
        for w, n in words.items():
            for p in zip(w, w[1:], strict=False):
                pairs[p] += n
        cands = [(-c, p) for p, c in pairs.items() if p not in banned]
        if not cands:
            break
        _, best = min(cands)
        if vocab[best[0]] + vocab[best[1]] in vocab:
            banned.add(best)
            continue
        new = 256 + len(merges)
        words = {tuple(merge_ids(list(w), best, new)): n for w, n in words.items()}
        merges.append(best)
        vocab.append(vocab[best[0]] + vocab[best[1]])
    return merges


def merge_ids(ids, pair, new):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            out.append(new)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def reference_encode(text, merges):
    """Apply our merges in order, to each GPT-2 pre-token (the slow, obvious way)."""
    out = []
    for piece in regex.findall(GPT2_PAT, text):
        ids = list(piece.encode("utf-8"))
        for i, pair in enumerate(merges):
            if len(ids) < 2:
                break
            ids = merge_ids(ids, pair, 256 + i)
        out += ids
    return out


def test_bpe_golden_merges_and_ids():
    tok = BPETokenizer.train([RHYME], 20)
    assert tok.merges[:6] == [(97, 116), (104, 101), (116, 257), (32, 99), (32, 258), (259, 256)]
    assert tok.token_bytes(256) == b"at" and tok.token_bytes(261) == b" cat"
    assert tok.encode("the fat rat sat on the cat.") == [258, 272, 275, 266, 265, 260, 261, 46]
    assert (tok.name, tok.vocab_size, tok.eot_id) == ("bpe-20", 256 + 20 + 1, 276)


def test_incremental_trainer_equals_naive_recount():
    docs = SAMPLE + [RHYME]
    assert train_bpe(docs, 80) == naive_train_bpe(docs, 80)


def test_tiktoken_encoding_equals_merges_in_order():
    tok = BPETokenizer.train(SAMPLE + [RHYME], 60)
    assert isinstance(tok.encoding, tiktoken.Encoding)
    for text in SAMPLE[:3] + [RHYME, "unseen words: zebra xylophone 12345"]:
        assert tok.encode(text) == reference_encode(text, tok.merges)
        assert tok.decode(tok.encode(text)) == text


def test_bpe_eot_only_between_docs_and_roundtrip():
    tok = BPETokenizer.train(SAMPLE, 30)
    assert tok.eot_id not in tok.encode("a <|endoftext|> b")  # plain text, not special
    ids = tok.encode_docs(["ab", "cd"])
    assert ids.tolist() == tok.encode("ab") + [tok.eot_id] + tok.encode("cd") + [tok.eot_id]
    assert tok.decode(tok.encode(EOT + " 🙂")) == EOT + " 🙂"


def test_bpe_save_load_identical(tmp_path):
    tok = BPETokenizer.train(SAMPLE, 40)
    tok.save(tmp_path)
    back = load_tokenizer(tmp_path)
    assert back.merges == tok.merges and back.name == "bpe-40"
    assert back.encode(SAMPLE[1]) == tok.encode(SAMPLE[1])


def test_bpe_too_many_merges_is_a_clear_error():
    with pytest.raises(ValueError, match="allows only"):
        get_tokenizer("bpe-5000", ["tiny text"])


def test_unknown_name_and_missing_docs():
    with pytest.raises(ConfigError, match="bpe-N"):
        get_tokenizer("wordpiece")
    with pytest.raises(ValueError, match="train_docs"):
        get_tokenizer("char")


# ---------------------------------------------------------------------------
# gpt2


def _no_network(*args, **kwargs):
    raise AssertionError("tiktoken.get_encoding was called: the local files should be used")


def test_gpt2_golden_from_local_files(shared_data, monkeypatch):
    monkeypatch.setenv("SLMLAB_DATA_DIR", shared_data)
    monkeypatch.setattr(tiktoken, "get_encoding", _no_network)
    tok = get_tokenizer("gpt2")
    assert tok.encode("Hello world, once upon a time") == [15496, 995, 11, 1752, 2402, 257, 640]
    assert (tok.vocab_size, tok.eot_id) == (50257, 50256)
    assert tok.encode_docs(["Hello"]).tolist() == [15496, 50256]


GPT2_MINI = Path(__file__).parent / "fixtures" / "gpt2_mini.json"


def _gpt2_mini() -> tuple[dict[bytes, int], dict[str, list[int]]]:
    """The GPT-2 ranks that encoding a few texts uses, and those texts' ids (tests/fixtures)."""
    fx = json.loads(GPT2_MINI.read_text(encoding="utf-8"))
    return {bytes.fromhex(h): r for h, r in fx["ranks"].items()}, fx["texts"]


def test_gpt2_ids_from_the_committed_ranks(monkeypatch):
    """Runs on a fresh clone: slmlab's gpt2 tokenizer (its pre-tokenizer pattern, EOT, encode_docs)
    over the 307 GPT-2 ranks these texts use gives the ids OpenAI's full files give."""
    ranks, texts = _gpt2_mini()
    enc = tiktoken.Encoding(name="gpt2-mini", pat_str=GPT2_PAT, mergeable_ranks=ranks, special_tokens={EOT: 50256})
    monkeypatch.setattr(tokenizers, "_gpt2_encoding", lambda: enc)
    tok = get_tokenizer("gpt2")
    for text, ids in texts.items():
        assert tok.encode(text) == ids and tok.decode(ids) == text
        assert tok.encode_docs([text]).tolist() == ids + [tok.eot_id] == ids + [50256]


def test_the_committed_gpt2_ranks_are_the_real_ones(shared_data, monkeypatch):
    """The fixture against OpenAI's files (when here): every rank and every id agree."""
    monkeypatch.setenv("SLMLAB_DATA_DIR", shared_data)
    monkeypatch.setattr(tiktoken, "get_encoding", _no_network)
    tok = get_tokenizer("gpt2")
    ranks, texts = _gpt2_mini()
    assert {b: tok.encoding._mergeable_ranks[b] for b in ranks} == ranks
    assert {text: tok.encode(text) for text in texts} == texts


def test_gpt2_missing_files_says_where(tmp_path, monkeypatch):
    def offline(name):
        raise ConnectionError("no network")

    monkeypatch.setenv("SLMLAB_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(tiktoken, "get_encoding", offline)
    with pytest.raises(RuntimeError, match=r"gpt2/vocab\.bpe \+ gpt2/encoder\.json"):
        get_tokenizer("gpt2")


def test_gpt2_bad_file_hash_is_refused(shared_data, tmp_path, monkeypatch):
    shutil.copytree(Path(shared_data) / "gpt2", tmp_path / "gpt2")
    (tmp_path / "gpt2" / "vocab.bpe").write_text("#version: 0.2\n")
    monkeypatch.setenv("SLMLAB_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(tiktoken, "get_encoding", _no_network)
    with pytest.raises(RuntimeError, match="sha256"):
        get_tokenizer("gpt2")


def test_bpe_learns_from_the_head_of_a_large_corpus():
    docs = ["the cat sat on the mat"] * 50 + ["zzzz qqqq zzzz qqqq"] * 50
    head_only = get_tokenizer("bpe-5", docs, max_train_chars=22 * 50)
    assert head_only.merges == get_tokenizer("bpe-5", docs[:50]).merges
    assert get_tokenizer("bpe-5", docs).merges != head_only.merges


def test_the_bpe_head_counts_characters_not_bytes():
    docs = ["é" * 10, "ab" * 5, "zq" * 5]  # 10 characters each; the first is 20 UTF-8 bytes
    head = get_tokenizer("bpe-3", docs, max_train_chars=25).merges  # 20 characters, 30 bytes
    assert head == get_tokenizer("bpe-3", docs[:2]).merges
    assert head != get_tokenizer("bpe-3", docs[:1]).merges


def test_vocab_size_from_the_name_matches_the_trained_tokenizer():
    assert vocab_size_of("bpe-20") == get_tokenizer("bpe-20", SAMPLE).vocab_size == 256 + 20 + 1
    assert vocab_size_of("gpt2") == 50257
    assert vocab_size_of("char") is None  # it depends on the text


def test_token_dtype_fits_every_id():
    assert token_dtype(65536) == np.uint16 and token_dtype(65537) == np.uint32
    assert np.iinfo(token_dtype(65536)).max == 65535  # the largest id of 65536
