# %% [markdown]
# # 01 · Solution: count the pairs
# `zip(ids, ids[1:])` walks the adjacent pairs; a Counter counts them. BPE training merges the
# most frequent one, then counts again (slmlab updates only the counts a merge changes).

# %% tags=["NBVAL_CHECK_OUTPUT"]
try:  # a kernel without slmlab (Colab, a fresh one) says in one line what to run
    import slmlab  # noqa: F401
except ModuleNotFoundError:
    import sys

    from IPython.core.error import UsageError  # IPython shows it as one line, no traceback

    if "google.colab" in sys.modules:  # Colab keeps its own Jupyter: the course's packages only
        raise UsageError(
            "slmlab is not installed in this Colab runtime. In a cell run `!git clone "
            "<the slmlab repository's URL> /content/slmlab` and `%pip install -q -e "
            "/content/slmlab`, then Runtime > Restart session, and run this cell again."
        ) from None
    raise UsageError(
        "slmlab is not installed in this kernel. Colab or a fresh kernel: clone the slmlab "
        "repository, run `%pip install -e <the clone>`, restart the kernel. A local checkout: "
        "run `make lab` (or `make setup`, then pick the .venv kernel)."
    ) from None

from collections import Counter

from slmlab.exercises import check_pair_counts


def count_pairs(ids):
    return dict(Counter(zip(ids, ids[1:])))


check_pair_counts(count_pairs);
