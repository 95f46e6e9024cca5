# %% [markdown]
# # 09 · Solution: accumulate gradients
# Each micro-batch's loss is a mean over its own tokens; dividing it by k before backward
# makes the summed gradients the mean over all k micro-batches, i.e. the big batch's.

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

from slmlab.exercises import check_accumulated_loss


def accumulate(model, x, y, k):
    for xb, yb in zip(x.chunk(k), y.chunk(k)):  # (B/k, T) each
        _, loss = model(xb, yb)
        (loss / k).backward()  # gradients add up across calls


check_accumulated_loss(accumulate);

# %% [markdown]
# ## Predict, then run: batch 32
# Batch 32 at equal tokens makes 150 updates, between batch 16's 300 and batch 64's 75, so
# its loss lies between theirs. Not half way: a run's loss falls fastest early, so the
# updates from 75 to 150 are worth more than those from 150 to 300. Expect it nearer batch
# 16 than batch 64: about 1.5 (section 1 printed 0.941 and 2.394 for seed 1337).

# %%
from slmlab import experiments
from slmlab.course import start
from slmlab.exercises import check_prediction

lesson = start("09_batch_size_and_accumulation", setup="batch-sweep")
cfg = lesson.cfg
t = cfg.train


def at_batch(B):
    """The notebook's equal-token config at micro-batch B (same warmup and eval rules)."""
    c = cfg.replace(micro_batch_size=B)
    n = max(4, cfg.total_tokens // c.tokens_per_step)
    return c.replace(
        max_steps=n,
        warmup_steps=min(t.warmup_steps, max(1, n // 4)),
        eval_interval=max(1, round(t.eval_interval * n / t.max_steps)),
        eval_batches=max(1, t.micro_batch_size * t.eval_batches // B),
    )


def val_at_batch(B):
    return experiments.run(at_batch(B), label=f"batch {B}", progress=False).history.final_val()


mid = t.micro_batch_size
prediction = {2 * mid: 1.5}
check_prediction(prediction, val_at_batch, baseline=(mid, val_at_batch(mid)), setting="batch", tolerance=0.25);

# %% [markdown]
# In the cpu run: batch 32 ended at 1.519 against batch 16's 0.941. Halving the updates from
# 300 to 150 cost less than halving them again to 75 (batch 64's 2.394 in the notebook).
