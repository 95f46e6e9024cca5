"""The corpus registry on fixture folders: no network, no shared data unless asked for."""

import os
import time

import pytest

from slmlab import config, corpora, downloads
from slmlab.config import ConfigError
from slmlab.corpora import DataMissingError, available_offline, identity, load_corpus
from slmlab.tokenizers import EOT


def _no_network(monkeypatch):
    """Every download attempt is recorded and fails; returns the list of attempts."""
    attempts = []

    def fail(url, max_bytes, *args, **kwargs):
        attempts.append(url)
        raise ConnectionError("offline (test)")

    monkeypatch.setattr(downloads, "http_get", fail)
    return attempts


@pytest.fixture
def network(monkeypatch):
    """The download attempts of the test; each one fails."""
    return _no_network(monkeypatch)


@pytest.fixture
def offline(network, monkeypatch, tmp_path):
    monkeypatch.setenv("SLMLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SLMLAB_DATA_DIR", raising=False)
    return tmp_path


def _stories(n, tag):
    return "".join(f"Story {tag} {i}. Lily saw a cat.\nThe end.\n{EOT}\n" for i in range(n))


@pytest.fixture
def data_dir(offline, monkeypatch):
    d = offline / "data"
    (d / "tinystories").mkdir(parents=True)
    (d / "tinystories" / "TinyStoriesV2-GPT4-train.txt").write_text(_stories(50, "t"))
    (d / "tinystories" / "TinyStoriesV2-GPT4-valid.txt").write_text(_stories(8, "v"))
    speeches = "".join(f"Speaker {i}:\nLine one of {i}.\nLine two.\n\n" for i in range(100))
    (d / "tinyshakespeare.txt").write_text(speeches)
    monkeypatch.setenv("SLMLAB_DATA_DIR", str(d))
    return d


# ---------------------------------------------------------------------------
# the registry


def test_config_knows_the_registry_names():
    assert set(config.KNOWN_CORPORA) == set(corpora.CORPORA)
    assert all(name == s.name for name, s in corpora.CORPORA.items())


def test_every_source_answers_the_same_questions(data_dir):
    f = data_dir / "mine.txt"
    f.write_text("one\n\ntwo\n")
    for name in [*corpora.CORPORA, f"file:{f}"]:
        s = corpora.source(name)
        assert available_offline(name)
        c = load_corpus(name, corpus_bytes=100_000)
        assert c.name == name and c.train_docs and c.val_docs
        assert identity(name, 100_000).startswith(f"{name}|corpus_bytes=100000|")
        assert s.bytes_on_disk() is None if name == "synthetic" else s.bytes_on_disk() > 0


# ---------------------------------------------------------------------------
# synthetic


def test_synthetic_split_by_documents_with_logprobs():
    c = load_corpus("synthetic", corpus_bytes=30_000, val_fraction=0.2, data_seed=5)
    assert len(c.val_docs) == len(c.val_logprobs)
    assert len(c.val_docs) == round(c.n_docs * 0.2)
    assert not set(c.train_docs) & set(c.val_docs)
    assert all(lp < 0 for lp in c.val_logprobs)
    assert sum(map(len, c.train_docs + c.val_docs)) >= 30_000
    again = load_corpus("synthetic", corpus_bytes=30_000, val_fraction=0.2, data_seed=5)
    assert again.val_docs == c.val_docs and again.train_docs == c.train_docs
    assert load_corpus("synthetic", corpus_bytes=30_000, data_seed=6).val_docs != c.val_docs


def test_synthetic_identity_is_cheap_and_keyed():
    a = identity("synthetic", 2_000_000, 0.1, 1)
    assert a == identity("synthetic", 2_000_000, 0.1, 1)
    assert a != identity("synthetic", 2_000_000, 0.1, 2)
    assert a != identity("synthetic", 1_000_000, 0.1, 1)


# ---------------------------------------------------------------------------
# tinystories


def test_tinystories_from_data_dir_uses_official_split(data_dir, network):
    c = load_corpus("tinystories", corpus_bytes=10_000_000)
    assert len(c.train_docs) == 50 and len(c.val_docs) == 8
    assert c.train_docs[0] == "Story t 0. Lily saw a cat.\nThe end."
    assert all(EOT not in d for d in c.train_docs + c.val_docs)
    assert c.val_logprobs is None and "TinyStoriesV2-GPT4-train.txt" in c.source
    assert network == []


def test_tinystories_train_file_alone_never_touches_the_network(offline, network, monkeypatch):
    """Only the train file in SLMLAB_DATA_DIR: val is split off it, with no download try."""
    d = offline / "data"
    (d / "tinystories").mkdir(parents=True)
    (d / "tinystories" / "TinyStoriesV2-GPT4-train.txt").write_text(_stories(40, "t"))
    monkeypatch.setenv("SLMLAB_DATA_DIR", str(d))
    key = identity("tinystories", 10_000_000, val_fraction=0.1, data_seed=3)
    c = load_corpus("tinystories", corpus_bytes=10_000_000, val_fraction=0.1, data_seed=3)
    assert network == []
    assert (len(c.train_docs), len(c.val_docs)) == (36, 4)
    assert "no valid file: val = 4 stories split off, seed 3" in c.source
    assert identity("tinystories", 10_000_000, val_fraction=0.1, data_seed=3) == key


def test_tinystories_cap_cuts_at_a_whole_story(data_dir):
    one = len(_stories(1, "t").encode())
    c = load_corpus("tinystories", corpus_bytes=one * 10 + 5)
    assert len(c.train_docs) == 10 and c.train_docs[-1].endswith("The end.")


def test_tinystories_flat_sample_is_train_only(offline, monkeypatch):
    d = offline / "flat"
    d.mkdir()
    (d / "tinystories_sample.txt").write_text(_stories(40, "s"))
    monkeypatch.setenv("SLMLAB_DATA_DIR", str(d))
    c = load_corpus("tinystories", val_fraction=0.1, data_seed=1)
    assert len(c.train_docs) == 36 and len(c.val_docs) == 4
    assert not set(c.train_docs) & set(c.val_docs)
    assert "train-only" in c.source


def test_tinystories_from_cache(offline):
    cache = offline / "cache" / "downloads"
    cache.mkdir(parents=True)
    (cache / "TinyStoriesV2-GPT4-train.txt").write_text(_stories(20, "c"))
    (cache / "TinyStoriesV2-GPT4-valid.txt").write_text(_stories(3, "cv"))
    c = load_corpus("tinystories")
    assert (len(c.train_docs), len(c.val_docs)) == (20, 3)


def test_tinystories_missing_names_the_path(offline, monkeypatch):
    d = offline / "empty"
    d.mkdir()
    monkeypatch.setenv("SLMLAB_DATA_DIR", str(d))
    with pytest.raises(DataMissingError) as e:
        load_corpus("tinystories")
    msg = str(e.value)
    assert "\n" not in msg
    assert str(d / "tinystories" / "TinyStoriesV2-GPT4-train.txt") in msg
    assert "huggingface.co/datasets/roneneldan/TinyStories" in msg


def test_tinystories_missing_without_data_dir_says_so(offline):
    with pytest.raises(DataMissingError, match="SLMLAB_DATA_DIR is unset"):
        load_corpus("tinystories")


def test_identity_follows_the_file_bytes(data_dir):
    a = identity("tinystories", 10_000_000)
    (data_dir / "tinystories" / "TinyStoriesV2-GPT4-train.txt").write_text(_stories(51, "t"))
    assert identity("tinystories", 10_000_000) != a


def test_identity_of_a_big_unchanged_file_reads_nothing(data_dir, monkeypatch, files_reads):
    """Big files are hashed once, then known by size and mtime; an edit is hashed again."""
    monkeypatch.setattr(corpora, "REMEMBER_ABOVE", 0)  # every fixture file counts as big
    train = data_dir / "tinystories" / "TinyStoriesV2-GPT4-train.txt"
    reads = files_reads(".txt")
    old = time.time() - 60  # settled files only: a fresh edit could keep its mtime tick
    for p in (train, data_dir / "tinystories" / "TinyStoriesV2-GPT4-valid.txt"):
        os.utime(p, (old, old))
    a = identity("tinystories", 10_000_000)
    assert len(reads) == 2
    assert identity("tinystories", 10_000_000) == a and len(reads) == 2  # nothing read again
    train.write_text(_stories(50, "T"))  # same size, new bytes, new mtime
    assert identity("tinystories", 10_000_000) != a and len(reads) == 3


# ---------------------------------------------------------------------------
# shakespeare


def test_shakespeare_val_is_the_tail_at_a_speech_boundary(data_dir):
    c = load_corpus("shakespeare")
    assert c.train_docs[0] == "Speaker 0:\nLine one of 0.\nLine two."
    assert len(c.train_docs) == 90 and len(c.val_docs) == 10
    assert c.val_docs[0].startswith("Speaker 90:")


def test_shakespeare_missing_names_url(offline):
    with pytest.raises(DataMissingError, match="karpathy/char-rnn"):
        load_corpus("shakespeare")


def fake_server(monkeypatch, served):
    """Serve {url suffix: bytes} through downloads.http_get, honouring max_bytes like Range."""
    asked = []

    def get(url, max_bytes):
        asked.append((url.rsplit("/", 1)[-1], max_bytes))
        body = next(b for name, b in served.items() if url.endswith(name))
        body = body if max_bytes is None else body[:max_bytes]
        for i in range(0, len(body), 1000):
            yield body[i : i + 1000]

    monkeypatch.setattr(downloads, "http_get", get)
    return asked


def test_shakespeare_download_is_checked_against_its_sha256(offline, monkeypatch):
    import hashlib

    text = b"A:\nHi.\n\nB:\nHo.\n\n" * 30
    fake_server(monkeypatch, {"input.txt": text})
    with pytest.raises(DataMissingError, match="sha256"):  # not the real Tiny Shakespeare
        load_corpus("shakespeare")
    assert not list((offline / "cache" / "downloads").glob("*"))  # nothing half-written
    monkeypatch.setattr(corpora.Shakespeare, "sha256", hashlib.sha256(text).hexdigest())
    c = load_corpus("shakespeare")
    assert c.n_docs == 60
    assert (offline / "cache" / "downloads" / "tinyshakespeare.txt").read_bytes() == text


def test_tinystories_download_is_a_capped_prefix_of_whole_stories(offline, monkeypatch):
    train, valid = _stories(3000, "t").encode(), _stories(3000, "v").encode()
    asked = fake_server(monkeypatch, {"train.txt": train, "valid.txt": valid})
    c = load_corpus("tinystories", corpus_bytes=20_000)
    down = offline / "cache" / "downloads"
    got = (down / "TinyStoriesV2-GPT4-train.txt").read_bytes()
    assert asked[0] == ("TinyStoriesV2-GPT4-train.txt", 20_000)  # never the whole file
    assert len(got) <= 20_000 and got.endswith(EOT.encode()) and train.startswith(got)
    assert all(d.startswith("Story t") for d in c.train_docs) and c.val_docs[0].startswith("Story v")
    # a bigger run needs more of the file: fetched again; the same size: served from the cache
    load_corpus("tinystories", corpus_bytes=20_000)
    assert len(asked) == 2
    load_corpus("tinystories", corpus_bytes=40_000)
    assert asked[-1] == ("TinyStoriesV2-GPT4-train.txt", 40_000)
    # a damaged download is refused with what to do
    (down / "TinyStoriesV2-GPT4-train.txt").write_bytes(got[:-5])
    with pytest.raises(DataMissingError, match="delete it"):
        load_corpus("tinystories", corpus_bytes=20_000)


# ---------------------------------------------------------------------------
# file: and folder


def test_user_file_blank_lines_and_eot(offline):
    f = offline / "mine.txt"
    f.write_text("\n\n".join(f"Paragraph {i}." for i in range(20)) + "\n")
    c = load_corpus(f"file:{f}", val_fraction=0.25, data_seed=2)
    assert (len(c.train_docs), len(c.val_docs)) == (15, 5)
    assert not set(c.train_docs) & set(c.val_docs)
    g = offline / "eot.txt"
    g.write_text(f"one\n\ntwo\n{EOT}\nthree\n{EOT}\nfour")
    c = load_corpus(f"file:{g}", val_fraction=0.25)
    assert sorted(c.train_docs + c.val_docs) == ["four", "one\n\ntwo", "three"]


def test_user_folder_one_document_per_file(offline):
    d = offline / "folder"
    d.mkdir()
    for i in range(6):
        (d / f"s{i}.txt").write_text(f"Story {i}.\n\nStill story {i}.\n")
    (d / "notes.md").write_text("ignored")
    c = load_corpus(f"file:{d}", val_fraction=0.2)
    assert c.n_docs == 6 and all("Still story" in doc for doc in c.train_docs)


def test_user_identity_changes_with_content(offline):
    f = offline / "mine.txt"
    f.write_text("a\n\nb\n")
    a = identity(f"file:{f}")
    f.write_text("a\n\nc\n")  # same size, perhaps the same mtime tick
    assert identity(f"file:{f}") != a


def test_user_file_missing_or_empty_is_one_clear_line(offline):
    missing = offline / "nope.txt"
    with pytest.raises(DataMissingError, match="nope.txt does not exist") as e:
        load_corpus(f"file:{missing}")
    assert "\n" not in str(e.value)
    empty = offline / "empty.txt"
    empty.write_text("")
    with pytest.raises(DataMissingError, match="empty.txt is empty"):
        load_corpus(f"file:{empty}")


def test_user_path_that_is_not_a_file_or_folder(offline):
    with pytest.raises(DataMissingError, match="is not a file or a folder"):
        load_corpus("file:/dev/null")


def test_bad_arguments_are_config_errors():
    with pytest.raises(ConfigError, match="unknown"):
        load_corpus("wikipedia")
    with pytest.raises(ConfigError, match="unknown"):
        available_offline("wikipedia")
    with pytest.raises(ConfigError, match="val_fraction"):
        load_corpus("synthetic", val_fraction=1.5)
    with pytest.raises(ConfigError, match="corpus_bytes"):
        load_corpus("synthetic", corpus_bytes=0)


# ---------------------------------------------------------------------------
# optional: the real files of the course's shared data folder


def test_real_tinystories_sample(shared_data, monkeypatch, tmp_path):
    _no_network(monkeypatch)
    monkeypatch.setenv("SLMLAB_DATA_DIR", shared_data)
    monkeypatch.setenv("SLMLAB_CACHE_DIR", str(tmp_path))
    c = load_corpus("tinystories", corpus_bytes=10_000_000)
    assert c.n_docs == 2316
    assert c.train_docs[0].startswith("One day, a little girl named Lily found a needle")


def test_real_shakespeare_split_matches_nanogpt(shared_data, monkeypatch, tmp_path):
    _no_network(monkeypatch)
    monkeypatch.setenv("SLMLAB_DATA_DIR", shared_data)
    monkeypatch.setenv("SLMLAB_CACHE_DIR", str(tmp_path))
    c = load_corpus("shakespeare")
    train_chars = sum(len(d) + 2 for d in c.train_docs)
    assert abs(train_chars - int(1115394 * 0.9)) < 2000


def test_http_get_asks_for_a_range_and_reads_no_further():
    """The real http_get against a local server, one that honours Range and one that ignores it."""
    import http.server
    import threading

    body = bytes(range(256)) * 40  # 10,240 bytes
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            rng = self.headers.get("Range")
            seen.append(rng)
            data = body
            if rng and self.path == "/ranged":
                end = int(rng.split("-")[1])
                data = body[: end + 1]
            self.send_response(206 if data is not body else 200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        assert b"".join(downloads.http_get(f"{base}/ranged", 3000)) == body[:3000]
        assert b"".join(downloads.http_get(f"{base}/plain", 3000)) == body[:3000]
        assert b"".join(downloads.http_get(f"{base}/plain", None)) == body
        assert seen == ["bytes=0-2999", "bytes=0-2999", None]
    finally:
        server.shutdown()


def test_truncate_after_last_separator_across_windows(tmp_path):
    f = tmp_path / "prefix.txt"
    for window in (3, 7, 1 << 20):  # small windows: the separator straddles two of them
        f.write_bytes(b"one<|endoftext|>two<|endoftext|>thr")
        downloads.truncate_after_last(f, b"<|endoftext|>", window=window)
        assert f.read_bytes() == b"one<|endoftext|>two<|endoftext|>"
    f.write_bytes(b"no separator here")
    downloads.truncate_after_last(f, b"<|endoftext|>", window=4)
    assert f.read_bytes() == b"no separator here"
