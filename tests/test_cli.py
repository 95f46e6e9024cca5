"""The CLI on a user's corpus and on paths that name nothing or the wrong thing (cli.main)."""

import json
from pathlib import Path

import pytest

from slmlab import cli


@pytest.fixture
def book(tmp_path, monkeypatch):
    """A 150 kB text of 1,500 paragraphs: more than the smoke profile's 100 kB cap."""
    monkeypatch.setenv("SLMLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SLMLAB_RUNS_DIR", str(tmp_path / "runs"))
    f = tmp_path / "book.txt"
    f.write_text(
        "".join(
            f"Paragraph {i:04d} of the book, about a cat and a dog and a hat.\n"
            f"It goes on for a second line of about thirty more.\n\n"
            for i in range(1500)
        )
    )
    assert f.stat().st_size > 150_000
    return f


def _manifest(out: str) -> dict:
    folder = out.strip().rsplit(" in ", 1)[1]
    return json.loads((Path(folder) / "manifest.json").read_text())


def test_a_users_corpus_is_read_whole(book, capsys):
    assert cli.main(["prepare", "--corpus", f"file:{book}"]) == 0
    out, err = capsys.readouterr()
    m = _manifest(out)
    assert m["n_train_docs"] + m["n_val_docs"] == 1500 and err == ""


def test_a_cut_corpus_says_how_much_it_read(book, capsys):
    assert cli.main(["prepare", "--corpus", f"file:{book}", "--set", "corpus_bytes=50000"]) == 0
    out, err = capsys.readouterr()
    size = book.stat().st_size
    assert err.strip() == (
        f"note: file:{book} holds {size:,} bytes; this run reads the first "
        f"50,000 (corpus_bytes; change it with --set corpus_bytes=N)"
    )
    assert _manifest(out)["n_train_docs"] < 1500


def test_ladder_of_a_users_corpus(book, capsys):
    assert cli.main(["ladder", "--corpus", f"file:{book}"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"loss ladder: file:{book} / char") and err == ""


def test_lint_names_the_true_bpe_vocabulary(tmp_path, capsys):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"tokenizer": "bpe-4096", "n_embd": 64, "n_layer": 1, "n_head": 1}))
    cli.main(["lint", str(cfg)])
    assert "the 4,353-token embedding" in capsys.readouterr().out  # 256 bytes + 4096 merges + EOT


def _paths(tmp_path: Path) -> dict:
    (tmp_path / "afile.txt").write_text("one line\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "oldrun").mkdir()
    (tmp_path / "oldrun" / "ckpt.pt").write_bytes(b"")
    (tmp_path / "log.txt").write_text("step 500: val loss 9.45\n")
    (tmp_path / "train.py").write_text("import torch\n")
    (tmp_path / "list.json").write_text("[1, 2]")
    names = ("afile.txt", "empty", "oldrun", "log.txt", "train.py", "list.json", "missing")
    return {n.split(".")[0]: str(tmp_path / n) for n in names}  # {afile}, {log}, {train}, ...


BAD_PATHS = [  # argv (with {names} of _paths), words the one line must hold
    ("train --corpus file:{missing}", "does not exist"),
    ("train --corpus file:{empty}", "holds no .txt files"),
    ("prepare --corpus file:{afile}", "holds only one document"),
    ("ladder --corpus file:{empty}", "holds no .txt files"),
    ("train --out {afile}", "is a file; give a folder"),
    ("train --out {oldrun}", "already holds a run; continue it with --resume"),
    ("train --resume {missing}", "no such folder"),
    ("train --resume {afile}", "is a file, not a run folder"),
    ("train --resume {empty}", "holds no checkpoint (ckpt.pt)"),
    ("sample {missing}", "no such folder"),
    ("sample {oldrun} --which best", "holds no best checkpoint (best.pt)"),
    ("doctor {afile}", "the doctor reads"),
    ("doctor {empty}", "holds no history (history.jsonl)"),
    ("lint {missing}", "does not exist; give a JSON config file"),
    ("lint {empty}", "is a folder; give a JSON config file"),
    ("lint {train}", "lint reads a JSON config file"),
    ("lint {list}", "not an object"),
    ("bench --out {afile} --configs none --targets none", "is a file; give a folder"),
]


@pytest.mark.parametrize("argv, words", BAD_PATHS)
def test_a_bad_path_is_one_clear_line(argv, words, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SLMLAB_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SLMLAB_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("SLMLAB_DEBUG", raising=False)
    names = _paths(tmp_path)
    argv = [a.format(**names) for a in argv.split()]
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and err.count("\n") == 1 and words in err, err
    assert out == "" and not (tmp_path / "runs").exists()
