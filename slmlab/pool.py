"""Tasks side by side, each process with one torch thread: search_many's studies, run_all's runs.

`in_processes(work, tasks, workers=2, names=[...])` calls `work(task)` for every task in `workers`
processes started with 'spawn' (what Jupyter, macOS and Windows need), each with
SLMLAB_THREADS=1, and prints the line each call returns (None: nothing) as it ends. A tiny
model uses a second thread poorly, so two 1-thread tasks on two cores finish sooner than two
2-thread ones in a row. A task that raises ends the whole call with one line naming it (its
entry of `names`) and the error; a process that dies (killed, out of memory) ends it too; an
interrupt (Ctrl-C, the kernel's stop button) ends every process it started. `work` and the
tasks must pickle (a module-level function, or a functools.partial of one). What the tasks
do, and whether two of them may touch one run folder (slmlab.runfolder's lock decides), is
the caller's.

The processes outlive a call: the next call with as many workers, the same environment
variables and the same working directory gives its tasks to them, so a notebook that trains
side by side in several cells starts its processes (Python, torch, the first model: about 2 s)
once. They wait, idle, until the next call or the end of this process; a failure, a dead
process or an interrupt ends them all, and the next call starts new ones. `close()` ends them.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["TaskFailed", "in_processes", "close"]


class TaskFailed(RuntimeError):
    """A task failed in its process, or a process died; the message names it in one line."""


def in_processes(
    work: Callable[[Any], str | None],
    tasks: Sequence,
    *,
    workers: int,
    names: Sequence[str],
    kind: str = "task",
    error: type[TaskFailed] = TaskFailed,
) -> None:
    """Run `work(task)` for every task in `workers` spawned 1-thread processes; print each returned line.

    names: one per task, for the line of a failure ("<name> failed in its process: <error>");
    kind: what a task is ("study", "run"), for the line of a process that died; error: the
    TaskFailed subclass to raise."""
    global _calls
    pool = _pool(workers)
    _calls += 1
    for i, task in enumerate(tasks):
        pool.todo.put((_calls, i, work, task))
    ok = False
    try:
        left = len(tasks)
        while left:
            try:
                call, i, failure, line = pool.results.get(timeout=1.0)
            except queue.Empty:
                _check_alive(pool.procs, pool.results, kind, error)
                continue
            if call != _calls:  # not this call's (none should be: a failed call ends the processes)
                continue
            if failure:
                raise error(f"{names[i]} failed in its process: {failure}")
            if line:
                print(line, flush=True)
            left -= 1
        ok = True
    finally:
        if not ok:  # a failure, a dead process, an interrupt: end them all, mid-task ones too
            close()


@dataclass
class _Pool:
    procs: list
    todo: Any
    results: Any
    key: tuple  # workers, environment, working directory: what the processes were started with


_current: _Pool | None = None
_calls = 0  # in_processes calls so far: each result carries its call's number


def _pool(workers: int) -> _Pool:
    """The running processes when they were started as this call would start them, else new ones."""
    global _current
    key = (workers, tuple(sorted(os.environ.items())), os.getcwd())
    if _current is not None and (_current.key != key or not all(p.is_alive() for p in _current.procs)):
        close()
    if _current is None:
        ctx = multiprocessing.get_context("spawn")
        todo, results = ctx.Queue(), ctx.Queue()
        procs = [ctx.Process(target=_worker, args=(todo, results), daemon=True) for _ in range(workers)]
        _current = _Pool(procs, todo, results, key)
        try:
            for p in procs:
                p.start()
        except BaseException:
            close()
            raise
    return _current


def close() -> None:
    """End the processes in_processes keeps (a run folder's lock and a study's RUNNING trial are
    taken over next time); nothing when there are none."""
    global _current
    pool, _current = _current, None
    if pool is not None:
        _end(pool.procs)
        for q in (pool.todo, pool.results):  # nothing reads them now: exit without flushing them
            q.cancel_join_thread()
            q.close()


def _end(procs) -> None:
    for p in procs:
        if p.is_alive():
            p.terminate()  # a run folder's lock and a study's RUNNING trial are taken over next time
    for p in procs:
        p.join(10)
        if p.is_alive():
            p.kill()
            p.join()


def _check_alive(procs, results, kind: str, error: type[TaskFailed]) -> None:
    """Raise `error` when a process died (killed, out of memory) or all ended too soon."""
    crashed = [p for p in procs if p.exitcode not in (None, 0)]
    if crashed or not (any(p.is_alive() for p in procs) or not results.empty()):
        code = crashed[0].exitcode if crashed else 0
        raise error(f"a {kind} process ended (exit code {code}) before its {kind}s did")


def _worker(todo, results) -> None:
    """One process: one torch thread; runs the tasks it takes from `todo` until a stop sign or
    the end of its parent."""
    os.environ["SLMLAB_THREADS"] = "1"  # slmlab.device.setup, called by each Trainer, reads it
    parent = multiprocessing.parent_process()
    try:
        while parent is None or parent.is_alive():
            try:
                item = todo.get(timeout=1.0)
            except queue.Empty:
                continue
            if item is None:
                return
            call, i, work, task = item
            try:
                line = work(task)
            except Exception as e:  # the parent raises it, naming the task, in one line
                results.put((call, i, " ".join(f"{type(e).__name__}: {e}".split()), None))
                return
            results.put((call, i, None, line))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the parent ends us, quietly
        return
