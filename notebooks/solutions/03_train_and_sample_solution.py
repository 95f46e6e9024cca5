# %% [markdown]
# # 03 · Solution: the learning-rate schedule
# Linear warmup from lr/(warmup+1), then a half cosine from lr down to min_lr, counted in
# optimizer updates.

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

# %% [markdown]
# # 03 · Solution: predict, then run
# Reasoning before running. Adam moves each weight by roughly lr per update whatever the size
# of its gradient, and the weights start at a scale of about 0.02.
# - **lr 2e-4**: each weight moves about 10 times less than in the 2e-3 run, which fell from
#   ln V = 6.65 to about 4.1 in 40 updates. Ten times less movement leaves the model near its
#   start: about 6.0, still above the unigram rung (5.46). It has not yet learned which tokens
#   are common.
# - **lr 2e-2**: a step of 0.02 per update is as large as the weights themselves, so each
#   update overshoots what the last one learned. Clipping does not help: it rescales the
#   gradient, and Adam's step hardly depends on the gradient's scale. Bigger steps, less
#   progress: about 5.0, worse than the 2e-3 run.
#
# `train()` trains exactly as the notebook's `train_loop` does (the notebook checks that the
# losses agree to the last bit), so the runs below use it.

# %%
from slmlab.course import start
from slmlab.data import prepare
from slmlab.exercises import check_prediction
from slmlab.train import train

lesson = start("03_train_and_sample")
data = prepare(lesson.cfg.data)
loop_cfg = lesson.cfg.replace(
    vocab_size=data.vocab_size, max_steps=40, warmup_steps=10, eval_interval=20, eval_batches=10
)


def val_at_40(lr):
    return train(loop_cfg.replace(lr=lr, min_lr=lr / 10), data=data, progress=False).final_val()


prediction = {2e-4: 6.0, 2e-2: 5.0}
check_prediction(prediction, val_at_40, baseline=(loop_cfg.train.lr, val_at_40(loop_cfg.train.lr)), setting="lr");

# %% [markdown]
# Both changes make the loss worse, on opposite sides of a working lr. The small lr is the
# student's situation at their iteration 500: 15 updates at an lr below 1e-4, a model still close
# to a uniform guess (notebook 04). The large one shows why "a higher lr trains faster" holds
# only up to a point, which notebook 08 finds with a sweep.
