"""The run folder's owner: its file names, removing a run, and the lock held while a run trains
(two real processes asking for one cached run, a stale lock, a busy one)."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from slmlab import runfolder
from slmlab.checkpoint import load_checkpoint
from slmlab.config import ConfigError
from slmlab.data import prepare
from slmlab.history import History
from slmlab.presets import preset
from slmlab.train import train

CFG = dict(max_steps=10, eval_interval=5)

# One child: waits for the go file, then asks for the cached run; a marker says it trained.
# The one that trains holds on until the other says it waits, so the two surely meet.
CHILD = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    from slmlab import experiments
    from slmlab.callbacks import Callback
    from slmlab.presets import preset

    here = Path(sys.argv[1])

    class Tee:  # stdout, and a file once this process says it waits
        def write(self, s):
            if "; waiting" in s:
                (here / "waiting").touch()
            return sys.__stdout__.write(s)

        def flush(self):
            sys.__stdout__.flush()

    class Mark(Callback):  # an observer: not part of the cache key
        def on_train_start(self, trainer):
            (here / f"trained-{os.getpid()}").touch()
            deadline = time.time() + 10
            while not (here / "waiting").exists() and time.time() < deadline:
                time.sleep(0.01)

    sys.stdout = Tee()
    (here / f"ready-{os.getpid()}").touch()
    while not (here / "go").exists():
        time.sleep(0.01)
    run = experiments.run(preset("smoke", max_steps=10, eval_interval=5), callbacks=[Mark()],
                          progress=False)
    print(json.dumps({"dir": str(run.dir), "val": run.history.evals[-1]["val_loss"]}))
""")


@pytest.mark.slow
def test_two_processes_asking_for_one_run_train_it_once_and_both_get_it(tmp_path):
    prepare(preset("smoke").data)  # the token files exist: the children only train
    env = {**os.environ, "SLMLAB_RUNS_DIR": str(tmp_path / "runs")}
    kids = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path)],
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    while len(list(tmp_path.glob("ready-*"))) < 2 and all(k.poll() is None for k in kids):
        time.sleep(0.01)
    (tmp_path / "go").touch()
    outs = [k.communicate(timeout=120) for k in kids]
    assert [k.returncode for k in kids] == [0, 0], [err[-2000:] for _, err in outs]
    results = [json.loads(out.splitlines()[-1]) for out, _ in outs]
    assert len(list(tmp_path.glob("trained-*"))) == 1  # one trained ...
    waited = [out for out, _ in outs if "is being trained by process" in out]
    assert len(waited) == 1 and "; waiting" in waited[0]  # ... the other said so once and waited
    assert results[0] == results[1]  # both got the same run
    folder = tmp_path / "runs" / os.path.basename(results[0]["dir"])
    hist = History.load(folder)
    assert [r["step"] for r in hist.steps] == list(range(1, 11))  # one writer: no step twice
    assert load_checkpoint(folder / runfolder.CKPT)["step"] == 10
    assert runfolder.is_run_folder(folder) and not (folder / runfolder.LOCK).exists()


def _lock_of(folder, pid):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / runfolder.LOCK).write_text(
        json.dumps({"pid": pid, "host": socket.gethostname(), "started": "2024-01-01 00:00:00"})
    )


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _lock_of(tmp_path / "run", gone.pid)
    h = train(preset("smoke", **CFG), out_dir=tmp_path / "run", progress=False)
    assert len(h.steps) == 10 and not (tmp_path / "run" / runfolder.LOCK).exists()


def test_a_folder_another_live_process_trains_is_refused_in_one_line(tmp_path):
    other = os.getppid()  # alive, and not this process
    _lock_of(tmp_path / "run", other)
    with pytest.raises(ConfigError, match=f"being trained by process {other} on ") as err:
        train(preset("smoke", **CFG), out_dir=tmp_path / "run", progress=False)
    assert "\n" not in str(err.value)
    assert json.loads((tmp_path / "run" / runfolder.LOCK).read_text())["pid"] == other  # left alone


def test_the_lock_waits_for_its_holder_and_is_freed_on_every_way_out(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(runfolder, "POLL_S", 0.02)
    folder = tmp_path / "run"
    _lock_of(folder, os.getppid())
    threading.Timer(0.2, (folder / runfolder.LOCK).unlink).start()  # the holder finishes
    with runfolder.lock(folder, wait=True):
        assert json.loads((folder / runfolder.LOCK).read_text())["pid"] == os.getpid()
        with runfolder.lock(folder):  # again in the same thread: held already
            pass
        assert (folder / runfolder.LOCK).exists()
    assert capsys.readouterr().out.count(f"being trained by process {os.getppid()}") == 1
    for error in (KeyboardInterrupt, RuntimeError):
        with pytest.raises(error), runfolder.lock(folder):
            raise error()
        assert not (folder / runfolder.LOCK).exists()
    with runfolder.lock(tmp_path / "new"):
        pass
    assert not (tmp_path / "new").exists()  # a folder the lock made, left empty, is gone again


def test_another_thread_of_this_process_is_refused_too(tmp_path):
    held, done = threading.Event(), threading.Event()

    def hold():
        with runfolder.lock(tmp_path / "run"):
            held.set()
            done.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(5)
    try:
        with pytest.raises(runfolder.Busy, match=f"process {os.getpid()} "):
            with runfolder.lock(tmp_path / "run"):
                pass
    finally:
        done.set()
        t.join()


def test_remove_deletes_a_run_but_keeps_its_records_when_asked(tmp_path):
    out = tmp_path / "run"
    train(preset("smoke", **CFG), out_dir=out, progress=False)
    runfolder.record_file(out, "stats").parent.mkdir()
    runfolder.record_file(out, "stats").write_text("{}")
    assert runfolder.is_run_folder(out) and not runfolder.is_run_folder(tmp_path)
    runfolder.remove(out, records=False)
    assert [p.name for p in out.rglob("*")] == [runfolder.RECORDS, "stats.json"]
    runfolder.remove(out)
    assert not runfolder.is_run_folder(out) and not runfolder.record_file(out, "stats").exists()


def test_lock_to_write_locks_only_where_this_process_writes(tmp_path, monkeypatch):
    folder = tmp_path / "run"
    folder.mkdir()
    monkeypatch.setenv("RANK", "1")  # a torchrun rank other than 0 writes nothing: no lock
    with runfolder.lock_to_write(folder):
        assert not (folder / runfolder.LOCK).exists()
    with runfolder.lock_to_write(None):  # no folder: nothing to lock
        pass
    monkeypatch.setenv("RANK", "0")
    with runfolder.lock_to_write(folder):
        assert (folder / runfolder.LOCK).exists()
    assert not (folder / runfolder.LOCK).exists()
