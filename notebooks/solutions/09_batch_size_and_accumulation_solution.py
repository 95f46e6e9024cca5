# %% [markdown]
# # 09 · Solution: accumulate gradients
# Each micro-batch's loss is a mean over its own tokens; dividing it by k before backward
# makes the summed gradients the mean over all k micro-batches, i.e. the big batch's.

# %% tags=["NBVAL_CHECK_OUTPUT"]
from slmlab.exercises import check_accumulated_loss


def accumulate(model, x, y, k):
    for xb, yb in zip(x.chunk(k), y.chunk(k)):  # (B/k, T) each
        _, loss = model(xb, yb)
        (loss / k).backward()  # gradients add up across calls


check_accumulated_loss(accumulate);
