"""The run folder: the names of its files, what counts as one, removing one, and its lock.

A run folder holds CONFIG (config.json, the config as trained), ENV (env.json, what
it ran on), HISTORY (history.jsonl), CKPT (ckpt.pt, the latest state: resume reads
it), BEST (best.pt, the weights at the best val) and RECORDS (callbacks/, one
<record_name>.json per recording callback). While a run trains it also holds LOCK
(train.lock: the pid, host and start time of the process that trains it), so two
kernels asking for one cached run never write into one folder: `lock(folder)` takes
it (wait=True waits for the other process; else a one-line `Busy`), frees it on
every way out, and takes over the lock of a process that died on this host.

What goes into the files is slmlab.checkpoint's and slmlab.history's; which folder a
cached run uses is slmlab.experiments'. Of slmlab it imports config (and distributed's
is_main_process when a run starts to train).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

from .config import ConfigError

__all__ = [
    "CONFIG",
    "ENV",
    "HISTORY",
    "CKPT",
    "BEST",
    "RECORDS",
    "LOCK",
    "weights",
    "is_run_folder",
    "records_dir",
    "record_file",
    "remove",
    "lock",
    "lock_to_write",
    "Busy",
]

CONFIG, ENV, HISTORY, CKPT, BEST = "config.json", "env.json", "history.jsonl", "ckpt.pt", "best.pt"
RECORDS, LOCK = "callbacks", "train.lock"
POLL_S = 0.2  # how often a waiting process looks at the lock again
_held: dict[Path, list] = {}  # folder -> [thread ident, depth]: the locks this process holds
_guard = threading.Lock()  # one thread of this process at a time tries to take a lock


class Busy(ConfigError):
    """Another live process trains this run folder."""


def weights(which: str) -> str:
    """The checkpoint file of `which` ('ckpt': latest, 'best': best val)."""
    return f"{which}.pt"


def is_run_folder(path: str | Path) -> bool:
    """A folder a run saved into (a history or a checkpoint), not just one a lock made."""
    p = Path(path)
    return p.is_dir() and ((p / HISTORY).is_file() or (p / CKPT).is_file())


def records_dir(folder: str | Path) -> Path:
    return Path(folder) / RECORDS


def record_file(folder: str | Path, record_name: str) -> Path:
    return records_dir(folder) / f"{record_name}.json"


def remove(folder: str | Path, *, records: bool = True) -> None:
    """Delete what a run wrote (its callback records too, unless records=False); a lock stays."""
    for name in (CKPT, BEST, HISTORY, CONFIG, ENV):
        (Path(folder) / name).unlink(missing_ok=True)
    for f in records_dir(folder).glob("*.json") if records else ():
        f.unlink()


# ---------------------------------------------------------------------------
# The lock


def lock_to_write(folder: str | Path | None):
    """The lock of a process about to train into `folder`: lock(folder), except where this process
    writes nothing there: no folder, or a torchrun rank other than 0 (rank 0 writes)."""
    from .distributed import is_main_process  # here, not at the top: runfolder stays light to import

    writes = folder is not None and is_main_process()
    return lock(folder) if writes else contextlib.nullcontext()


@contextlib.contextmanager
def lock(folder: str | Path, *, wait: bool = False):
    """Hold the folder's lock while the block runs (again in the same thread: a no-op).
    Held by another live process: wait=True prints one line and waits, else raises Busy.
    A folder the lock made and nothing filled is removed again."""
    key = Path(folder).resolve()
    made = not key.exists()
    mine = _held.get(key)
    if mine and mine[0] == threading.get_ident():
        mine[1] += 1
    else:
        _acquire(Path(folder), key, wait)
    try:
        yield
    finally:
        with _guard:
            _held[key][1] -= 1
            if not _held[key][1]:
                (key / LOCK).unlink(missing_ok=True)
                del _held[key]
                if made:
                    with contextlib.suppress(OSError):
                        key.rmdir()  # only if empty


def _acquire(folder: Path, key: Path, wait: bool) -> None:
    said = False
    for tries in itertools.count():
        with _guard:
            holder = _try(key)
        if holder is None:
            return
        if holder["pid"] == "?" and tries < 20:  # being written or freed this instant: look again
            time.sleep(0.05)
            continue
        if not wait:
            raise Busy(
                f"run folder {folder} is being trained by process {holder['pid']} on "
                f"{holder['host']} (since {holder['started']}); wait for it, or give another folder"
            )
        if not said:
            who = f"process {holder['pid']} on {holder['host']}"
            print(f"run {Path(folder).name} is being trained by {who}; waiting", flush=True)  # the name: no path
            said = True
        time.sleep(POLL_S)


def _try(key: Path) -> dict | None:
    """Take the lock (None), or say who holds it; a dead holder's lock is removed first."""
    path = key / LOCK
    for _ in range(3):
        key.mkdir(parents=True, exist_ok=True)  # (again: a lock that made it may just have removed it)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileNotFoundError:
            continue
        except FileExistsError:
            holder = _read(path)
            if holder is not None and not _stale(holder, key, path):
                return holder
            if holder is not None:
                _break(path, holder)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(
                {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}, f
            )
        _held[key] = [threading.get_ident(), 1]
        return None
    return _read(path) or _UNKNOWN


_UNKNOWN = {"pid": "?", "host": "?", "started": "?"}


def _read(path: Path) -> dict | None:
    """Who holds the lock; None when it is gone, _UNKNOWN while it is being written (or damaged)."""
    try:
        holder = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return _UNKNOWN
    return holder if isinstance(holder, dict) and set(_UNKNOWN) <= set(holder) else _UNKNOWN


def _stale(holder: dict, key: Path, path: Path) -> bool:
    """The holder died: a pid of this host that is gone (or ours, left by an earlier process),
    or a file left empty or damaged for a minute. Another host's lock is never stale: it cannot be checked."""
    if holder is _UNKNOWN:
        with contextlib.suppress(OSError):
            return time.time() - path.stat().st_mtime > 60
        return False
    if holder["host"] != socket.gethostname():
        return False
    if holder["pid"] == os.getpid():
        return key not in _held
    return not _alive(int(holder["pid"]))


def _break(path: Path, holder: dict) -> None:
    """Remove a dead holder's lock, one process at a time (under a second O_EXCL file), and
    only if it is still the dead one's: a process that broke it first may hold a new one."""
    guard = path.with_name(LOCK + ".break")
    try:
        os.close(os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:  # another process breaks it (or died doing so, a minute ago)
        with contextlib.suppress(OSError):
            if time.time() - guard.stat().st_mtime > 60:
                guard.unlink()
        return
    try:
        if _read(path) == holder:
            path.unlink(missing_ok=True)
    finally:
        guard.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if sys.platform == "win32":  # os.kill(pid, 0) would end the process there
        import ctypes

        k = ctypes.windll.kernel32
        handle = k.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return k.GetLastError() == 5  # access denied: it exists
        code = ctypes.c_ulong()
        k.GetExitCodeProcess(handle, ctypes.byref(code))
        k.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    return True
