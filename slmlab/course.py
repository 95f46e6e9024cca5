"""The course around the library: the setup check and the headless notebook runner.

- `setup_check()` is the first cell of 00_start_here: OK / FAIL per dependency,
  then device, dtype and threads.
- `python -m slmlab.course notebooks` (`make course`) runs every notebook top to
  bottom in the profile of $SLMLAB_PROFILE, writes the outputs back with
  normalized metadata (no timings, one kernel spec), and prints the wall time
  of each, so the committed outputs are those of a real run.

It sits on top of everything and is imported by no other slmlab module.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

__all__ = ["setup_check", "run_notebooks", "normalize"]

DEPENDENCIES = ("torch", "numpy", "tiktoken", "matplotlib", "seaborn", "ipywidgets", "tqdm",
                "huggingface_hub")


def setup_check(verbose: bool = True) -> bool:
    """Print OK / FAIL for each dependency and the device; True when all is well."""
    ok = True
    lines = [f"{'OK' if sys.version_info >= (3, 10) else 'FAIL'}  python {sys.version.split()[0]}"]
    for name in DEPENDENCIES:
        try:
            mod = importlib.import_module(name)
            lines.append(f"OK    {name} {getattr(mod, '__version__', '')}")
        except Exception as e:  # any import failure is a FAIL line, not a crash
            ok = False
            lines.append(f"FAIL  {name}: {type(e).__name__}: {e} (run `make setup`)")
    if ok:
        from .device import setup

        lines.append(f"OK    device: {setup()}")
    if verbose:
        print("\n".join(lines))
    return ok


# ---------------------------------------------------------------------------
# Headless runs with outputs written back


def normalize(nb) -> None:
    """Drop noisy metadata: timings, widget state, per-cell ids churn stays stable."""
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
        cell.metadata.pop("scrolled", None)
        if cell.cell_type == "code":
            for out in cell.get("outputs", []):
                out.get("metadata", {}).pop("execution", None)


def run_notebooks(paths: list[Path], timeout: int = 900) -> list[tuple[Path, float]]:
    """Execute each notebook in its own folder and save it with outputs."""
    import nbformat
    from nbclient import NotebookClient

    times = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        t0 = time.perf_counter()
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        secs = time.perf_counter() - t0
        normalize(nb)
        tmp = path.with_suffix(".ipynb.tmp")
        nbformat.write(nb, tmp)
        tmp.replace(path)
        times.append((path, secs))
        print(f"{path}: {secs:.0f} s", flush=True)
    return times


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    root = Path(args[0] if args else "notebooks")
    only = set(args[1:])
    paths = sorted(root.glob("[0-9][0-9]_*.ipynb")) + sorted((root / "solutions").glob("*.ipynb"))
    if only:
        paths = [p for p in paths if p.stem in only or p.name in only]
    times = run_notebooks(paths)
    print(f"{len(times)} notebooks, {sum(t for _, t in times):.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
