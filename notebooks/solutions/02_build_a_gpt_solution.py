# %% [markdown]
# # 02 · Solution: causal attention
# Scores q·kᵀ scaled by 1/√hs, −∞ above the diagonal, softmax over the keys, then a weighted
# sum of the values. The same four lines as the single-head example, with (B, H) in front.

# %% tags=["NBVAL_CHECK_OUTPUT"]
import math

import torch

from slmlab.exercises import check_causal_attention


def causal_attention(q, k, v):
    T = q.size(-2)
    scores = q @ k.transpose(-2, -1) / math.sqrt(k.size(-1))  # (B, H, T, T)
    mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)  # (B, H, T, T)
    return weights @ v  # (B, H, T, hs)


check_causal_attention(causal_attention);
