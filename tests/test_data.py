"""Token files and batches: prepare once, verify on load, rebuild what is bad, exact resume."""

import json
import os
import threading
import time
import types

import numpy as np
import pytest
import torch

from slmlab import corpora, downloads
from slmlab.config import ConfigError, DataConfig
from slmlab.corpora import Corpus
from slmlab.data import (
    TOKEN_FORMAT_VERSION,
    BatchSampler,
    DataCorruptError,
    check_block_size,
    prepare,
)
from slmlab.paths import tokens_dir
from slmlab.tokenizers import EOT

WORDS = "the cat sat on a mat and the dog ran to the big red ball in the sun".split()


def fake_docs(n, seed):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(5, 30)))) + "." for _ in range(n)]


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """Stand-ins for corpora.load_corpus / identity and a fresh cache: counts load_corpus
    calls; `fake.fail` makes it raise; `fake.corpus(seed)` is what it returns."""
    monkeypatch.setenv("SLMLAB_CACHE_DIR", str(tmp_path / "cache"))
    state = types.SimpleNamespace(calls=0, fail=False, identity="fake-v1", val_extra="")

    def corpus(seed):
        val = [d + state.val_extra for d in fake_docs(20, seed + 1)]
        return Corpus("fake", fake_docs(200, seed), val, f"fake (seed {seed})", val_logprobs=[-10.0] * len(val))

    def load_corpus(name, *, corpus_bytes, val_fraction, data_seed):
        if state.fail:
            raise FileNotFoundError("corpus file gone")
        state.calls += 1
        return corpus(data_seed)

    def identity(name, corpus_bytes, **kwargs):
        return f"{state.identity}:{name}:{corpus_bytes}"

    state.corpus = corpus
    monkeypatch.setattr(corpora, "load_corpus", load_corpus)
    monkeypatch.setattr(corpora, "identity", identity)
    return state


def cfg(**kw):
    base = {"corpus": "synthetic", "tokenizer": "char", "corpus_bytes": 10_000, "data_seed": 7}
    return DataConfig(**{**base, **kw})


# ---------------------------------------------------------------------------
# prepare


def test_prepare_writes_token_files_and_manifest(fake):
    data = prepare(cfg())
    m = data.manifest
    assert data.dir.parent == tokens_dir() and m["version"] == TOKEN_FORMAT_VERSION
    assert m["n_train_docs"] == 200 and m["n_val_docs"] == 20
    assert (len(data.train), len(data.val)) == (m["n_train_tokens"], m["n_val_tokens"])
    assert data.train.dtype == np.uint16 and isinstance(data.train, np.memmap)
    corpus = fake.corpus(7)
    assert m["val_bytes"] == sum(len(d.encode()) for d in corpus.val_docs)
    assert data.tokenizer.decode(data.val) == "".join(d + EOT for d in corpus.val_docs)
    assert m["entropy_floor"] == pytest.approx(10.0 * 20 / m["n_val_tokens"])
    assert data.val_bytes_per_token == pytest.approx(m["val_bytes"] / m["n_val_tokens"])
    assert not [p for p in data.dir.parent.iterdir() if p.name.startswith(".")]


def test_second_prepare_reuses_files_and_fraction_is_a_view(fake):
    full = prepare(cfg(tokenizer="bpe-20"))
    part = prepare(cfg(tokenizer="bpe-20", data_fraction=0.25))
    assert fake.calls == 1 and part.dir == full.dir  # no re-tokenizing
    n = len(full.train)
    assert 0.25 * n <= len(part.train) < 0.5 * n
    assert part.train[-1] == part.tokenizer.eot_id  # cut just after a document
    assert np.array_equal(part.train, full.train[: len(part.train)])
    assert part.manifest["n_train_docs_used"] == int(np.sum(part.train == part.tokenizer.eot_id))
    assert np.array_equal(part.val, full.val)


def test_key_changes_with_what_changes_the_tokens(fake):
    a = prepare(cfg()).dir
    assert prepare(cfg(data_seed=8)).dir != a
    fake.identity = "fake-v2"  # the source text changed
    assert prepare(cfg()).dir != a


def test_truncated_train_bin_is_noticed_and_rebuilt(fake):
    data = prepare(cfg())
    n, path = len(data.train), data.dir / "train.bin"
    del data
    with open(path, "r+b") as f:
        f.truncate(100)
    with pytest.warns(UserWarning, match="train.bin has 100 bytes.*rebuilding"):
        again = prepare(cfg())
    assert len(again.train) == n and fake.calls == 2


def test_flipped_byte_fails_sha256_and_is_rebuilt(fake):
    path = prepare(cfg()).dir / "val.bin"
    raw = bytearray(path.read_bytes())
    raw[3] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="sha256"):
        prepare(cfg())


def test_corrupt_manifest_rebuilds_or_refuses_clearly(fake):
    folder = prepare(cfg()).dir
    (folder / "manifest.json").write_text("{not json")
    with pytest.warns(UserWarning, match="manifest.json unreadable"):
        assert prepare(cfg()).manifest["version"] == TOKEN_FORMAT_VERSION
    (folder / "manifest.json").write_text("{not json")
    fake.fail = True  # the corpus cannot be read any more
    with pytest.raises(DataCorruptError, match="cannot be read to rebuild"), pytest.warns(UserWarning):
        prepare(cfg())


def test_stale_version_is_rebuilt(fake):
    folder = prepare(cfg()).dir
    m = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**m, "version": TOKEN_FORMAT_VERSION - 1}))
    with pytest.warns(UserWarning, match="format version"):
        assert prepare(cfg()).manifest["version"] == TOKEN_FORMAT_VERSION


def test_interrupted_prepare_leaves_nothing(fake, monkeypatch):
    import slmlab.data as data_mod

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(data_mod, "_write_bin", boom)
    with pytest.raises(KeyboardInterrupt):
        prepare(cfg(data_seed=99))
    root = tokens_dir()
    assert not [p for p in root.iterdir() if "99" in p.name or p.name.startswith(".")]


def test_two_prepares_at_once_are_harmless(fake):
    out = [None, None]

    def run(i):
        out[i] = prepare(cfg(data_seed=55))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out[0].dir == out[1].dir and np.array_equal(out[0].train, out[1].train)
    assert prepare(cfg(data_seed=55)).manifest["n_train_docs"] == 200
    assert not [p for p in out[0].dir.parent.iterdir() if p.name.startswith(".")]


def test_rebuild_flag_and_unseen_val_chars(fake):
    prepare(cfg())
    fake.val_extra = " é"  # characters the char tokenizer never saw in train
    with pytest.warns(UserWarning, match="dropped 20 val character"):
        data = prepare(cfg(), rebuild=True)
    assert fake.calls == 2 and data.manifest["val_chars_dropped"] == 20
    val_docs = fake.corpus(7).val_docs
    assert data.manifest["val_bytes"] == sum(len(d.encode()) for d in val_docs)  # original text


def test_bpe_is_trained_on_train_docs_only(fake):
    fake.val_extra = " zebra zebra zebra zebra"  # frequent in val only
    tok = prepare(cfg(tokenizer="bpe-40")).tokenizer
    assert b"zebra" not in {tok.token_bytes(i) for i in range(256, 296)}
    assert len(tok.encode(" zebra")) > 1


def test_real_synthetic_corpus():
    data = prepare(cfg(tokenizer="bpe-64", corpus_bytes=30_000))
    m = data.manifest
    assert m["n_train_tokens"] > 0 and m["n_val_tokens"] > 0
    assert m["entropy_floor"] is not None and m["entropy_floor"] > 0
    assert m["train_bytes"] + m["val_bytes"] <= 30_000 * 1.1
    check_block_size(data, 32)


def test_prepare_with_only_the_tinystories_train_file_stays_offline(monkeypatch, tmp_path):
    """SLMLAB_DATA_DIR holds the train file and no valid file: prepare splits val off the
    train file and never tries a download (each try would wait on the network)."""
    attempts = []

    def network(url, *args, **kwargs):
        attempts.append(url)
        raise AssertionError(f"prepare tried the network: {url}")

    monkeypatch.setattr(downloads, "http_get", network)
    monkeypatch.setenv("SLMLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SLMLAB_DATA_DIR", str(tmp_path / "data"))
    folder = tmp_path / "data" / "tinystories"
    folder.mkdir(parents=True)
    stories = "".join(f"Story {i}. Tom saw a dog.{EOT}\n" for i in range(60))
    (folder / "TinyStoriesV2-GPT4-train.txt").write_text(stories)
    data = prepare(cfg(corpus="tinystories", data_seed=1))
    assert attempts == []
    assert (data.manifest["n_train_docs"], data.manifest["n_val_docs"]) == (54, 6)
    assert "no valid file: val = 6 stories split off" in data.manifest["corpus_source"]
    assert prepare(cfg(corpus="tinystories", data_seed=1)).dir == data.dir and attempts == []


def test_a_checked_token_file_is_not_read_again_until_it_changes(fake, files_reads):
    folder = prepare(cfg()).dir
    old = time.time() - 60  # only settled files are remembered
    for split in ("train", "val"):
        os.utime(folder / f"{split}.bin", (old, old))
    reads = files_reads(".bin")
    prepare(cfg())
    assert len(reads) == 2  # the first check after they settled reads both
    prepare(cfg())
    assert len(reads) == 2  # unchanged size and mtime: read no more
    raw = bytearray((folder / "val.bin").read_bytes())
    raw[3] ^= 1
    (folder / "val.bin").write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="sha256"):
        prepare(cfg())


# ---------------------------------------------------------------------------
# Batches


def test_batch_sampler_shapes_and_shift():
    tokens = np.arange(1000, dtype=np.uint16) % 97
    s = BatchSampler(tokens, block_size=16, batch_size=8, seed=0)
    x, y = s.next()
    assert x.shape == y.shape == (8, 16) and x.dtype == y.dtype == torch.int64
    assert torch.equal(x[:, 1:], y[:, :-1])
    for row in range(8):  # every row is a real window of the token array
        start = int(
            np.flatnonzero(
                np.all(np.lib.stride_tricks.sliding_window_view(tokens, 17) == np.r_[x[row], y[row, -1:]], axis=1)
            )[0]
        )
        assert start + 16 < len(tokens)


def test_batch_sampler_reaches_the_last_window_and_is_seeded():
    tokens = np.arange(11, dtype=np.uint16)
    s = BatchSampler(tokens, block_size=10, batch_size=4, seed=1)
    x, y = s.next()
    assert torch.equal(x[0], torch.arange(10)) and torch.equal(y[0], torch.arange(1, 11))
    a = BatchSampler(np.arange(500), 8, 4, seed=3).next()[0]
    b = BatchSampler(np.arange(500), 8, 4, seed=3).next()[0]
    assert torch.equal(a, b)


def test_batch_sampler_exact_resume():
    tokens = np.random.default_rng(0).integers(0, 50, 5000).astype(np.uint16)
    s = BatchSampler(tokens, 32, 4, seed=42)
    for _ in range(3):
        s.next()
    state = json.loads(json.dumps(s.state_dict()))  # survives a JSON round trip
    expected = [s.next() for _ in range(3)]
    r = BatchSampler(tokens, 32, 4, seed=0)
    r.load_state_dict(state)
    for ex, got in zip(expected, (r.next() for _ in range(3)), strict=True):
        assert torch.equal(ex[0], got[0]) and torch.equal(ex[1], got[1])


def test_fixed_chunks_start_only_at_multiples_of_block_size():
    """sampling="chunks": every window is one of the n // T fixed chunks, and all of them are used;
    the default reaches offsets that are not multiples of T."""
    tokens = np.arange(1000, dtype=np.uint16)  # a token's id is its position
    T = 16
    chunks = BatchSampler(tokens, T, 64, seed=0, sampling="chunks")
    starts = torch.cat([chunks.next()[0][:, 0] for _ in range(20)]).numpy()  # (1280,)
    assert set(starts % T) == {0} and set(starts // T) == set(range((len(tokens) - 1) // T))
    free = torch.cat([BatchSampler(tokens, T, 64, seed=0).next()[0][:, 0] for _ in range(3)]).numpy()
    assert len(set(free % T)) > 1


def test_input_noise_swaps_about_p_of_the_inputs_and_no_target():
    """input_noise=p: about p of x changes, y is the clean text, and the windows are the same as
    without noise (the noise has its own generator), also after an exact resume."""
    tokens = np.random.default_rng(0).integers(0, 60000, 20000).astype(np.uint32)  # few chance repeats
    clean, noisy = BatchSampler(tokens, 64, 32, seed=5), BatchSampler(tokens, 64, 32, seed=5, input_noise=0.2)
    changed = []
    for _ in range(10):
        (xc, yc), (xn, yn) = clean.next(), noisy.next()
        assert torch.equal(yc, yn)  # the targets: the same clean windows
        changed.append((xc != xn).float().mean().item())
    assert 0.17 < np.mean(changed) < 0.23
    state = json.loads(json.dumps(noisy.state_dict()))
    expected = noisy.next()
    again = BatchSampler(tokens, 64, 32, seed=0, input_noise=0.2)
    again.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(expected, again.next(), strict=True))


def test_an_unknown_sampling_is_refused():
    with pytest.raises(ConfigError, match="sampling='grid'"):
        BatchSampler(np.arange(100), 8, 2, seed=0, sampling="grid")


def test_block_size_errors_name_the_fix(fake):
    data = prepare(cfg(data_fraction=0.05))
    n_val = len(data.val)
    with pytest.raises(ConfigError, match=rf"block_size={n_val}.*val {n_val:,}.*smaller block_size"):
        check_block_size(data, n_val)
    check_block_size(data, min(len(data.train), n_val) - 1)
    with pytest.raises(ConfigError, match="block_size=64"):
        BatchSampler(np.arange(10), 64, 2, seed=0)


def test_an_older_token_format_is_rebuilt_once_with_one_line(fake, capsys):
    """A bumped TOKEN_FORMAT_VERSION names a new folder; the old one of the same settings is
    named in one printed line, and only when the new one is first built."""
    old = prepare(cfg()).dir
    m = json.loads((old / "manifest.json").read_text())
    (old / "manifest.json").write_text(json.dumps({**m, "version": TOKEN_FORMAT_VERSION - 1}))
    renamed = old.with_name(old.name.rsplit("-", 1)[0] + "-0123456789abcdef")
    old.rename(renamed)  # as if named by the older format
    prepare(cfg(data_seed=8))  # other settings: no line about them
    capsys.readouterr()
    calls = fake.calls
    assert prepare(cfg()).dir == old and fake.calls == calls + 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and renamed.name in lines[0] and f"format {TOKEN_FORMAT_VERSION}" in lines[0]
    prepare(cfg())
    assert capsys.readouterr().out == ""
