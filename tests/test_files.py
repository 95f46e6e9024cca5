"""File helpers: an interrupted atomic write leaves the old file; sha256 reads only what it must."""

import hashlib
import os
import time

import pytest

from slmlab import files


def test_atomic_path_keeps_the_old_file_when_the_write_fails(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), files.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["out.json"]
    files.atomic_write_text(target, "new")
    assert target.read_text() == "new" and len(list(tmp_path.iterdir())) == 1


def test_sha256_of_a_prefix_and_a_remembered_file(tmp_path):
    f = tmp_path / "big.txt"
    data = os.urandom(3 * files.BLOCK + 17)
    f.write_bytes(data)
    assert files.sha256_file(f) == hashlib.sha256(data).hexdigest()
    assert files.sha256_file(f, files.BLOCK + 5) == hashlib.sha256(data[: files.BLOCK + 5]).hexdigest()
    memo = tmp_path / "memo.json"
    files.sha256_file(f, memo=memo)
    assert not memo.exists()  # changed just now: not remembered (a second edit could keep the mtime)
    old = time.time() - 60
    os.utime(f, (old, old))
    digest = files.sha256_file(f, memo=memo)
    assert memo.exists() and files.sha256_file(f, memo=memo) == digest
    f.write_bytes(data[::-1])  # new bytes, new mtime: hashed again
    assert files.sha256_file(f, memo=memo) == hashlib.sha256(data[::-1]).hexdigest()
