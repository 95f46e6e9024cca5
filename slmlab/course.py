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
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .device import Device, setup

__all__ = ["setup_check", "start", "Lesson", "run_notebooks", "normalize"]

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
        lines.append(f"OK    device: {setup()}")
    if verbose:
        print("\n".join(lines))
    return ok


# ---------------------------------------------------------------------------
# The first cell of every notebook


@dataclass
class Lesson:
    """What a notebook runs with: its profile, base config and device."""

    name: str
    profile: str  # smoke | cpu | gpu
    cfg: Config  # the profile's preset, with the notebook's changes
    device: Device
    notes: list[str]

    @property
    def smoke(self) -> bool:
        return self.profile == "smoke"


def start(name: str, *, default_profile: str = "cpu", corpus: str | None = None,
          tokenizer: str | None = None, **changes) -> Lesson:
    """Pick the profile ($SLMLAB_PROFILE, else default_profile), the corpus and tokenizer,
    and the device; print them. A corpus that is not on disk falls back to `synthetic`
    (with a note) so every notebook runs offline; the gpu profile uses TinyStories."""
    from .config import preset, profile, validate
    from .corpora import available_offline

    prof = profile(default_profile)
    cfg = preset(prof)
    notes = []
    if corpus is not None:
        cfg = cfg.replace(corpus=corpus)
    if tokenizer is not None:
        cfg = cfg.replace(tokenizer=tokenizer)
    if not available_offline(cfg.data.corpus) and not os.environ.get("SLMLAB_ALLOW_DOWNLOAD"):
        notes.append(f"{cfg.data.corpus} is not on this machine (set SLMLAB_DATA_DIR, or "
                     f"SLMLAB_ALLOW_DOWNLOAD=1 to fetch it): using the synthetic corpus instead")
        cfg = cfg.replace(corpus="synthetic")
    cfg = validate(cfg.replace(name=prof, **changes))
    dev = setup(cfg.train.device, cfg.train.dtype)
    print(f"{name}: profile {prof} | corpus {cfg.data.corpus} | tokenizer {cfg.data.tokenizer} | {dev}")
    for note in notes:
        print("note:", note)
    return Lesson(name, prof, cfg, dev, notes)


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


def run_notebooks(paths: list[Path], timeout: int = 1800) -> list[tuple[Path, float]]:
    """Execute each notebook in its own folder and save it with outputs."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    times, failed = [], []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        t0 = time.perf_counter()
        try:
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
        except CellExecutionError as e:  # keep going: one broken notebook must not hide the rest
            failed.append(path)
            print(f"{path}: FAILED: {str(e).strip().splitlines()[-1][:300]}", flush=True)
            continue  # the file on disk keeps its earlier outputs
        secs = time.perf_counter() - t0
        normalize(nb)
        tmp = path.with_suffix(".ipynb.tmp")
        nbformat.write(nb, tmp)
        tmp.replace(path)
        times.append((path, secs))
        print(f"{path}: {secs:.0f} s", flush=True)
    if failed:
        raise SystemExit(f"{len(failed)} notebook(s) failed: {', '.join(p.name for p in failed)}")
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
