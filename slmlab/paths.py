"""Where slmlab keeps and finds files: the one module that reads the path variables.

- `cache_dir()`: $SLMLAB_CACHE_DIR, else ~/.cache/slmlab; it holds the three below.
- `tokens_dir()`: <cache>/data, one folder of token files per corpus + tokenizer (slmlab.data).
- `downloads_dir()`: <cache>/downloads, where hub downloads land.
- `fingerprints_dir()`: <cache>/fingerprints, the remembered sha256 of big corpus files.
- `runs_dir()`: $SLMLAB_RUNS_DIR, else <cache>/runs (run folders of experiments.run).
- `data_dir()`: $SLMLAB_DATA_DIR, a folder of pre-downloaded files for offline machines,
  or None when it is unset.

Every other module asks here instead of reading the environment itself. It imports
nothing else of slmlab.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "tokens_dir", "downloads_dir", "fingerprints_dir", "runs_dir", "data_dir"]


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name, "").strip()
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """$SLMLAB_CACHE_DIR, else ~/.cache/slmlab."""
    return _env_path("SLMLAB_CACHE_DIR") or Path.home() / ".cache" / "slmlab"


def tokens_dir() -> Path:
    """<cache>/data."""
    return cache_dir() / "data"


def downloads_dir() -> Path:
    """<cache>/downloads."""
    return cache_dir() / "downloads"


def fingerprints_dir() -> Path:
    """<cache>/fingerprints."""
    return cache_dir() / "fingerprints"


def runs_dir() -> Path:
    """$SLMLAB_RUNS_DIR, else <cache>/runs."""
    return _env_path("SLMLAB_RUNS_DIR") or cache_dir() / "runs"


def data_dir() -> Path | None:
    """$SLMLAB_DATA_DIR (pre-downloaded files), or None when unset."""
    return _env_path("SLMLAB_DATA_DIR")
