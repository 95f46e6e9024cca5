"""One case in a fresh Python: the subprocess protocol under the bench and its races.

- `in_child("slmlab.bench:run_case", case)` starts `python -m slmlab.child
  slmlab.bench:run_case`, writes `case` (a dict) as JSON to its stdin, and returns what the
  function returned (a dict), or the last line of the child's stderr, its error, as text.
- In the child, `main` imports the named function, calls it with the case's items as
  keyword arguments and prints its result as one JSON line after `TAG`.

Every case in its own process: its peak memory, threads and torch.compile caches are its
own, and "from launch" counts Python's start. slmlab.bench runs its speed cases this way,
slmlab.targets its races; what a case does is theirs. This module imports nothing of
slmlab, so both can import it without importing each other.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

__all__ = ["in_child", "TAG"]

TAG = "SLMLAB_CHILD_RESULT"  # marks the result line among whatever else the child prints


def in_child(function: str, case: dict) -> dict | str:
    """Run `function` ("package.module:name") on `case` in a fresh Python: its result dict,
    or the last line of the child's stderr (the error) as text."""
    cmd = [sys.executable, "-m", "slmlab.child", function]
    proc = subprocess.run(
        cmd, input=json.dumps(case), capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}
    )
    for line in proc.stdout.splitlines():
        if line.startswith(TAG + " "):
            return json.loads(line.removeprefix(TAG + " "))
    return (proc.stderr.strip().splitlines() or ["no output"])[-1]


def main(function: str) -> None:
    """The child's side: the case as JSON on stdin, `function(**case)` as JSON on stdout."""
    module, _, name = function.partition(":")
    fn = getattr(importlib.import_module(module), name)
    print(TAG + " " + json.dumps(fn(**json.loads(sys.stdin.read()))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
