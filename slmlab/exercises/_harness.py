"""The harness every check shares: run the student's code, catch a stub or a crash, print a verdict.

- `_attempt(fn, call)`: (True, call()), or (False, None) after printing "not attempted yet"
  (the stub raised NotImplementedError) or how the student's code raised.
- `_verdict(fn, cases)`: run `cases` (an error message or None) and print "correct" or
  "not yet: ...".

The checks themselves live in the lesson-group modules beside this one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _attempt(fn: Callable, call: Callable, not_attempted: str = "not attempted yet") -> tuple[bool, Any]:
    """(True, call()), or (False, None) after printing why not: the student's `fn` is still a stub
    (NotImplementedError), or it raised (said how, never re-raised)."""
    try:
        return True, call()
    except NotImplementedError:
        print(not_attempted)
    except Exception as e:  # the student's code crashed: say how, don't raise
        print(f"not yet: {getattr(fn, '__name__', 'your function')} raised {type(e).__name__}: {e}")
    return False, None


def _verdict(fn: Callable, cases: Callable[[], str | None], correct: str = "correct") -> bool:
    """Run `cases` (returns an error message or None) and print the verdict (`correct` when right)."""
    ran, problem = _attempt(fn, cases)
    if not ran:
        return False
    print(correct if problem is None else f"not yet: {problem}")
    return problem is None
