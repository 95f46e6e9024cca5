# %% [markdown]
# # 06 · Solution: inverted dropout
# A Bernoulli mask keeps each value with probability 1 - p; the kept values are divided by
# 1 - p so that the expected activation is unchanged, and evaluation needs no rescaling.

# %% tags=["NBVAL_CHECK_OUTPUT"]
import torch

from slmlab.exercises import check_dropout


def my_dropout(x, p, training):
    if not training or p == 0:
        return x
    keep = (torch.rand_like(x) >= p).to(x.dtype)  # 1 with probability 1 - p
    return x * keep / (1 - p)


check_dropout(my_dropout);

# %% [markdown]
# The same numbers as `torch.nn.functional.dropout` in distribution (not the same random
# draws): about a share p of zeros, and the mean unchanged.

# %%
x = torch.ones(100_000)
torch.manual_seed(0)
ours = my_dropout(x, 0.2, True)
torch.manual_seed(0)
theirs = torch.nn.functional.dropout(x, 0.2, training=True)
print(f"zeros: ours {(ours == 0).float().mean():.3f}, torch {(theirs == 0).float().mean():.3f}; "
      f"mean: ours {ours.mean():.3f}, torch {theirs.mean():.3f}")
