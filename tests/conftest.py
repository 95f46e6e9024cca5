"""Test setup, for the whole session: temporary cache and run folders, the smoke profile,
and one thread everywhere (torch here, and slmlab.device.setup() inside every train()).

Test files do not repeat any of this; a test that changes the thread count restores it."""

import os
import tempfile

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
# Smoke-sized models run faster on one thread than on two, and on a busy 2-core machine
# two spinning OpenMP threads made training tests 10-50x slower. Forced, not defaulted:
# SLMLAB_THREADS is what slmlab.device.setup() (inside train) reads.
os.environ["SLMLAB_THREADS"] = "1"
torch.set_num_threads(1)

_SESSION_TMP = tempfile.mkdtemp(prefix="slmlab-tests-")
os.environ.setdefault("SLMLAB_PROFILE", "smoke")
os.environ["SLMLAB_CACHE_DIR"] = os.path.join(_SESSION_TMP, "cache")
os.environ["SLMLAB_RUNS_DIR"] = os.path.join(_SESSION_TMP, "runs")
# Tests never read ../shared or $SLMLAB_DATA_DIR unless they ask for it by name (optional
# checks; USER_DATA_DIR keeps the latter for them).
USER_DATA_DIR = os.environ.pop("SLMLAB_DATA_DIR", None)

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


@pytest.fixture
def shared_data():
    """../shared/data when present (optional checks); skips otherwise."""
    path = os.path.abspath(SHARED_DATA)
    if not os.path.isdir(path):
        pytest.skip("../shared/data is not here (optional check)")
    return path


@pytest.fixture
def files_reads(monkeypatch):
    """reads(suffix) -> a list that collects every path slmlab.files opens ending in suffix."""
    from slmlab import files

    def spy_on(suffix):
        reads, real_open = [], open

        def spy(p, *args, **kwargs):
            if str(p).endswith(suffix):
                reads.append(p)
            return real_open(p, *args, **kwargs)

        monkeypatch.setattr(files, "open", spy, raising=False)
        return reads

    return spy_on
