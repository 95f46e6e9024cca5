# %% [markdown]
# # 00 · Solution: the uniform rung
# A model that gives each of V tokens probability 1/V pays −ln(1/V) = ln V nats on every token.

# %% tags=["NBVAL_CHECK_OUTPUT"]
import math

from slmlab.exercises import check_uniform_loss


def uniform_loss(vocab_size):
    return math.log(vocab_size)  # -ln(1/V)


check_uniform_loss(uniform_loss);
