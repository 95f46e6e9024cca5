# %% [markdown]
# # 04 · Solution: what "20,000 iterations" really are
# One optimizer update consumes `gradient_accumulation_steps` loop iterations, each of
# `batch_size` sequences of `block_size` tokens.

# %% tags=["NBVAL_CHECK_OUTPUT"]
from slmlab.exercises import check_updates_and_tokens


def updates_and_tokens(c):
    updates = c["max_iters"] // c["gradient_accumulation_steps"]
    tokens_per_update = c["batch_size"] * c["block_size"] * c["gradient_accumulation_steps"]
    return updates, tokens_per_update


check_updates_and_tokens(updates_and_tokens);
