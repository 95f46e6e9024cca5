# %% [markdown]
# # 03 · Solution: the learning-rate schedule
# Linear warmup from lr/(warmup+1), then a half cosine from lr down to min_lr, counted in
# optimizer updates.

# %% tags=["NBVAL_CHECK_OUTPUT"]
import math

from slmlab.exercises import check_lr_schedule


def my_lr(step, lr, min_lr, warmup_steps, max_steps):
    if step < warmup_steps:
        return lr * (step + 1) / (warmup_steps + 1)
    if step >= max_steps:
        return min_lr
    progress = (step - warmup_steps) / (max_steps - warmup_steps)  # 0 -> 1
    return min_lr + 0.5 * (1 + math.cos(math.pi * progress)) * (lr - min_lr)


check_lr_schedule(my_lr);
