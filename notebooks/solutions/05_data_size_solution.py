# %% [markdown]
# # 05 · Solution: when does early stopping stop?
# Keep the best val loss seen so far and count the evaluations since it; stop at the first
# index where that count reaches `patience`. A tie is not a new best (the trainer uses `<`).

# %% tags=["NBVAL_CHECK_OUTPUT"]
from slmlab.exercises import check_best_step


def stop_index(val_losses, patience):
    best, since = float("inf"), 0
    for i, v in enumerate(val_losses):
        if v < best:
            best, since = v, 0
        else:
            since += 1
        if since >= patience:
            return i
    return len(val_losses) - 1


check_best_step(stop_index);

# %% [markdown]
# On the scarce run of notebook 05 (val every 25 updates, best at step 75), patience 3 stops
# at the third evaluation after the best one: that is where `early_stop_patience=3` ended it.
