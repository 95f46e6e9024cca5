# %% [markdown]
# # 08 · Solution
# ## Predict, then run: warmup at a too-high lr
# At lr 0.03 (the first lr above the sweep's best, 0.01) the sweep's run with warmup 20 stalled
# between the unigram and bigram rungs (the baseline). With no warmup the first updates run at
# the full, too-high lr on a fresh model: expect the same stall, a little worse or about the
# same. With warmup 60 the lr is still only about 0.01 at update 20, the lr the best run had when its
# own warmup ended, so expect it to start like the best run and escape the stall: far below
# the baseline, though not as low as the best lr's run (the lr is too high once warmup ends).

# %%
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

from slmlab import experiments
from slmlab.course import start
from slmlab.exercises import check_prediction

lesson = start("08_learning_rate_and_warmup", setup="lr-sweep")
cfg = lesson.cfg
high_lr = 3e-2  # the first lr of the sweep above its best (0.01) in the cpu run


def val_with_warmup(w):
    c = cfg.replace(lr=high_lr, min_lr=high_lr / 10, warmup_steps=w)
    return experiments.run(c, label=f"warmup {w}", progress=False).history.final_val()


prediction = {0: 4.4, 3 * cfg.train.warmup_steps: 1.3}
check_prediction(
    prediction,
    val_with_warmup,
    baseline=(cfg.train.warmup_steps, val_with_warmup(cfg.train.warmup_steps)),
    setting="warmup",
);

# %% [markdown]
# In the cpu run: 4.302 with no warmup and 1.067 with warmup 60, around the baseline's 4.045.
# No warmup stalls like the baseline; warmup 60 escapes the stall and ends far below it. Most
# guesses get the first right and the second too timid: a longer warmup did not just shave a
# little off the loss, it decided whether this lr trained at all. Section 4 of the notebook
# adds a second seed of each and shows what did not change (the mean lr, the loss spikes).
