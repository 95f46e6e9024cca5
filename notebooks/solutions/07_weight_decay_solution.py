# %% [markdown]
# # 07 · Solution: the decay split
# Matrices (attention and MLP weights) and embeddings have 2 dimensions and decay;
# LayerNorm gains and biases have 1 and do not. The tied output layer is the token
# embedding itself, so `named_parameters()` lists it once.

# %% tags=["NBVAL_CHECK_OUTPUT"]
from slmlab.exercises import check_decay_split


def decay_split(model):
    decay = [n for n, p in model.named_parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [n for n, p in model.named_parameters() if p.requires_grad and p.dim() < 2]
    return decay, no_decay


check_decay_split(decay_split);

# %% [markdown]
# Given those names, the optimizer of slmlab is
# `torch.optim.AdamW([{"params": decayed, "weight_decay": wd}, {"params": rest, "weight_decay": 0.0}], ...)`;
# the student's notebook passed `model.parameters()` with one weight decay for all.
