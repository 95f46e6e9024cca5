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
"""

from __future__ import annotations

import multiprocessing
import os
import queue
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["TaskFailed", "in_processes"]


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
    ctx = multiprocessing.get_context("spawn")
    todo, results = ctx.Queue(), ctx.Queue()
    for i, task in enumerate(tasks):
        todo.put((i, task))
    for _ in range(workers):
        todo.put(None)  # one stop sign per process
    procs = [ctx.Process(target=_worker, args=(work, todo, results), daemon=True) for _ in range(workers)]
    try:
        for p in procs:
            p.start()
        left = len(tasks)
        while left:
            try:
                i, failure, line = results.get(timeout=1.0)
            except queue.Empty:
                _check_alive(procs, results, kind, error)
                continue
            if failure:
                raise error(f"{names[i]} failed in its process: {failure}")
            if line:
                print(line, flush=True)
            left -= 1
    finally:
        _end(procs)


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


def _worker(work: Callable[[Any], str | None], todo, results) -> None:
    """One process: one torch thread; runs the tasks it takes from `todo` until a stop sign."""
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
            i, task = item
            try:
                line = work(task)
            except Exception as e:  # the parent raises it, naming the task, in one line
                results.put((i, " ".join(f"{type(e).__name__}: {e}".split()), None))
                return
            results.put((i, None, line))
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the parent ends us, quietly
        return
