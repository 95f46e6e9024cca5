"""The lesson session: what a notebook calls in its first cells.

- `setup_check()` is the first cell of 00_start_here: OK / FAIL per dependency,
  then device, dtype and threads.
- `lesson = start("05_data_size", setup="small-sweep")` is the profile cell of every
  notebook: the profile's preset, a named lesson setup on top, the notebook's own
  changes, the device; it returns a `Lesson`.

The notebooks as files (sources, sync, headless runs) are notebooks.py's. This
module sits on top of everything and is imported by no other slmlab module.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .device import Device
from .device import setup as setup_device

__all__ = ["setup_check", "requirements", "dependencies", "start", "Lesson"]

_PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
_IMPORT_NAMES = {"scikit-learn": "sklearn", "pyyaml": "yaml"}  # where a distribution's module is named otherwise


def requirements() -> list[str]:
    """The lessons' requirements, one source: the installed package's metadata (pyproject.toml's
    `dependencies`, no extras), else, in a source tree that was never installed, pyproject.toml."""
    try:
        reqs = importlib.metadata.requires("slmlab") or []
    except importlib.metadata.PackageNotFoundError:
        text = _PYPROJECT.read_text(encoding="utf-8")
        block = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M)
        reqs = re.findall(r'^\s*"([^"]+)"', block.group(1), re.M) if block else []
    return [r for r in reqs if "extra ==" not in r]


def dependencies() -> list[str]:
    """The module each requirement is imported as (`torch`, `numpy`, ...), in pyproject's order."""
    names = [re.split(r"[\s<>=!~;\[(]", r, maxsplit=1)[0].lower() for r in requirements()]
    return [_IMPORT_NAMES.get(n, n.replace("-", "_")) for n in names]


def setup_check(verbose: bool = True) -> bool:
    """Print OK / FAIL for each dependency and the device; True when all is well."""
    ok = True
    lines = [f"{'OK' if sys.version_info >= (3, 10) else 'FAIL'}  python {sys.version.split()[0]}"]
    for name in dependencies():
        try:
            mod = importlib.import_module(name)
            lines.append(f"OK    {name} {getattr(mod, '__version__', '')}")
        except Exception as e:  # any import failure is a FAIL line, not a crash
            ok = False
            lines.append(f"FAIL  {name}: {type(e).__name__}: {e} (run `make setup`)")
    if ok:
        lines.append(f"OK    device: {setup_device()}")
    if verbose:
        print("\n".join(lines))
    return ok


# ---------------------------------------------------------------------------
# The first cell of every notebook


@dataclass
class Lesson:
    """What a notebook runs with: its profile, base config and device. Notebooks call it
    `lesson` (`lesson = start(...)`; then `lesson.cfg`, `lesson.profile`, `lesson.smoke`),
    never `run`, which is experiments.run."""

    name: str
    profile: str  # smoke | cpu | gpu
    cfg: Config  # the profile's preset, with the lesson setup and the notebook's changes
    device: Device
    notes: list[str]
    setup: str | None = None  # the named lesson setup applied (presets.LESSON_SETUPS), if any

    @property
    def smoke(self) -> bool:
        return self.profile == "smoke"


def start(
    name: str,
    *,
    default_profile: str = "cpu",
    setup: str | None = None,
    corpus: str | None = None,
    tokenizer: str | None = None,
    **changes,
) -> Lesson:
    """Pick the profile ($SLMLAB_PROFILE, else default_profile), the corpus and tokenizer,
    and the device; print them. The config is the profile's preset, then the lesson setup
    `setup` (presets.lesson_setup: the changes a family of notebooks shares, so they share
    cached runs), then `corpus`, `tokenizer` and `changes`. A corpus that is not on disk
    falls back to `synthetic` (with a note) so every notebook runs offline; the gpu
    profile uses TinyStories."""
    from .config import validate
    from .corpora import available_offline
    from .presets import lesson_setup, preset, profile

    prof = profile(default_profile)
    cfg = preset(prof)
    if setup is not None:
        cfg = cfg.replace(**lesson_setup(setup, prof))
    notes = []
    if corpus is not None:
        cfg = cfg.replace(corpus=corpus)
    if tokenizer is not None:
        cfg = cfg.replace(tokenizer=tokenizer)
    if not available_offline(cfg.data.corpus) and not os.environ.get("SLMLAB_ALLOW_DOWNLOAD"):
        notes.append(
            f"{cfg.data.corpus} is not on this machine (set SLMLAB_DATA_DIR, or "
            f"SLMLAB_ALLOW_DOWNLOAD=1 to fetch it): using the synthetic corpus instead"
        )
        cfg = cfg.replace(corpus="synthetic")
    cfg = validate(cfg.replace(name=prof, **changes))
    dev = setup_device(cfg.train.device, cfg.train.dtype)
    with_setup = f" | setup {setup}" if setup is not None else ""
    print(f"{name}: profile {prof}{with_setup} | corpus {cfg.data.corpus} | tokenizer {cfg.data.tokenizer} | {dev}")
    if dev.type == "mps":
        from .device import MPS_NOTE

        notes.append(MPS_NOTE)
    for note in notes:
        print("note:", note)
    return Lesson(name, prof, cfg, dev, notes, setup)
