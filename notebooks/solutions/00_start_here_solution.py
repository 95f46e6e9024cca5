# %% [markdown]
# # 00 · Solution: the unigram rung
# Count each token in train, add one to every count (so no token has probability 0), divide by
# the total, len(train_ids) + vocab_size, so the probabilities sum to 1. The loss is the mean
# of −ln p over the val tokens, in nats (natural log).

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

import math
from collections import Counter

from slmlab.exercises import check_unigram_loss


def unigram_loss(train_ids, val_ids, vocab_size):
    counts = Counter(train_ids)
    total = len(train_ids) + vocab_size  # every one of the vocab_size counts got +1
    return -sum(math.log((counts[i] + 1) / total) for i in val_ids) / len(val_ids)


check_unigram_loss(unigram_loss);

# %% [markdown]
# The uniform rung is the same formula with every count equal: p = 1/V for each token, so the
# loss is −ln(1/V) = ln V whatever the text. The unigram rung is lower by how uneven the token
# frequencies are: a model that has learned only which tokens are common already beats a
# uniform guess by that much.
