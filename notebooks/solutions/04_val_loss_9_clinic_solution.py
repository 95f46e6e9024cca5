# %% [markdown]
# # 04 · Solution: what "20,000 iterations" really are
# One optimizer update consumes `gradient_accumulation_steps` loop iterations, each of
# `batch_size` sequences of `block_size` tokens.

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

from slmlab.exercises import check_updates_and_tokens


def updates_and_tokens(c):
    updates = c["max_iters"] // c["gradient_accumulation_steps"]
    tokens_per_update = c["batch_size"] * c["block_size"] * c["gradient_accumulation_steps"]
    return updates, tokens_per_update


check_updates_and_tokens(updates_and_tokens);
