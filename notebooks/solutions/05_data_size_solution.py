# %% [markdown]
# # 05 · Solution: when does early stopping stop?
# Keep the best val loss seen so far and count the evaluations since it; stop at the first
# index where that count reaches `patience`. A tie is not a new best (the trainer uses `<`).

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
# On the scarce run of notebook 05 (val every 25 updates, best at step 50), patience 3 stops
# at the third evaluation after the best one, step 125: that is where `early_stop_patience=3`
# ended it.

# %% [markdown]
# # 05 · Solution: predict, then run
# Reasoning before running. 100 updates read a third of the tokens of the sweep's runs, so
# divide the epochs of section 1 by three.
# - **0.3% of the data**: about 57 epochs in 100 updates. In the 300-update run its val loss
#   was lowest at step 50 (about 29 epochs) and rose after; here it reaches those epochs at
#   the same step and has only 50 updates left, with the lr falling fast. Expect it near the
#   sweep's best for this fraction, about 4.2, far above the all-data baseline.
# - **3% of the data**: about 6 epochs in 100 updates, like 10% in the 300-update sweep
#   (5.6 epochs), which was within about 0.05 of all the data. It does not read its text
#   often enough to overfit: expect about the baseline.

# %%
from slmlab.course import start
from slmlab.data import prepare
from slmlab.diagnostics import ladder
from slmlab.exercises import check_prediction
from slmlab.experiments import run

lesson = start("05_data_size", setup="small-sweep")
cfg = lesson.cfg
SCARCE, PLENTY = (0.05, 1.0) if lesson.smoke else (0.003, 1.0)
MIDDLE = 0.03 if not lesson.smoke else 0.2
short_cfg = cfg.replace(max_steps=cfg.train.max_steps // 3, eval_interval=cfg.train.eval_interval, seed=1337)


def final_val(fraction):
    return run(short_cfg.replace(data_fraction=fraction), progress=False).history.final_val()


short_base = final_val(PLENTY)
bigram = ladder(prepare(cfg.data)).to_dict()["bigram"]
print(f"{short_cfg.train.max_steps} updates with all the data: final val {short_base:.3f} (bigram rung {bigram:.3f})")
prediction = {SCARCE: 4.2, MIDDLE: short_base}
check_prediction(prediction, final_val, baseline=(PLENTY, short_base), setting="fraction");

# %% [markdown]
# In the cpu run 3% ended about 0.1 nats above the all-data baseline and 0.3% near 4.2 (the
# numbers above). What sets overfitting is the number of passes over the text: at 100
# updates 3% of the data costs about 0.1 nats, at 300 updates (notebook section 5) about
# 0.37. How much data is enough depends on how long you train. At 100 updates even all the
# data ends above the bigram rung (both printed above): a run for counting epochs, not a
# good model.
