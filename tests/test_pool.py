"""slmlab.pool: tasks in spawned 1-thread processes, kept for the next call."""

import os

import pytest

from slmlab import pool


def pid_and_threads(task):  # module level: it pickles
    return f"{task} {os.getpid()} {os.environ['SLMLAB_THREADS']}"


def fails(task):
    raise ValueError(f"task {task} is bad")


def _ran(capsys) -> dict:
    return {
        int(t): (int(pid), threads)
        for t, pid, threads in (ln.split() for ln in capsys.readouterr().out.split("\n") if ln)
    }


@pytest.mark.slow  # spawned processes: about a second
def test_the_processes_are_kept_for_the_next_call_and_replaced_after_a_failure(capsys, monkeypatch):
    pool.close()
    try:
        pool.in_processes(pid_and_threads, [1, 2, 3], workers=2, names=["1", "2", "3"])
        first = _ran(capsys)
        assert sorted(first) == [1, 2, 3] and {t for _, t in first.values()} == {"1"}
        pool.in_processes(pid_and_threads, [4, 5], workers=2, names=["4", "5"])
        kept = {pid for pid, _ in first.values()}
        assert {pid for pid, _ in _ran(capsys).values()} <= kept  # the same processes, no new start
        with pytest.raises(pool.TaskFailed, match=r"^bad one failed in its process: ValueError: task 6 is bad$"):
            pool.in_processes(fails, [6], workers=2, names=["bad one"])
        pool.in_processes(pid_and_threads, [7], workers=2, names=["7"])
        assert _ran(capsys)[7][0] not in kept  # a failure ended them: new ones
        now = {p.pid for p in pool._current.procs}
        monkeypatch.setenv("SLMLAB_RUNS_DIR", "elsewhere")  # what a process was started with changed
        pool.in_processes(pid_and_threads, [8], workers=2, names=["8"])
        assert _ran(capsys)[8][0] not in now
    finally:
        pool.close()
    assert pool._current is None
