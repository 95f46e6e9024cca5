# %% [markdown]
# # 11 · Solution: which size wins at fixed compute
# The budget is the FLOPs of one lesson run: 300 updates of the 2x128 model (in the cpu
# profile). First the numbers to reason with, none of which needs a new run: the updates
# and size of each width at this budget, how the lesson model's val fell during its run,
# where each width ends after the lesson's 300 updates, and Chinchilla's rule of thumb.

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

from slmlab import experiments, scaling
from slmlab.course import start
from slmlab.data import prepare
from slmlab.exercises import check_size_winner

lesson = start("11_model_size", setup="small-sweep")
cfg = lesson.cfg
L0, D0 = cfg.model.n_layer, cfg.model.n_embd
V = prepare(cfg.data).vocab_size
BUDGET = scaling.run_flops(cfg, V)
WIDE = {f"{L0}x{d}": d for d in (D0 // 4, D0 // 2, D0, 2 * D0)}  # smallest first


def at_budget(choice):
    """The config of `choice` that spends BUDGET (as in the notebook)."""
    c = cfg.replace(n_embd=WIDE[choice])
    steps = scaling.steps_for_flops(c, BUDGET, V)
    return c.replace(
        max_steps=steps, eval_interval=max(1, steps // 12), warmup_steps=min(cfg.train.warmup_steps, steps // 4)
    )


def run_at_budget(choice):
    return experiments.run(at_budget(choice), label=choice, progress=False)


lesson_run = experiments.run(cfg, progress=False)
print(
    "the lesson model's val during its run: "
    + ", ".join(f"{e['step']}: {e['val_loss']:.2f}" for e in lesson_run.history.evals[-5:])
)
for choice, d in WIDE.items():
    c = at_budget(choice)
    line = (
        f"{choice}: {scaling.param_counts(c, V).non_embedding:>9,} non-embedding parameters, "
        f"{c.train.max_steps:>5} updates at this budget"
    )
    if d < 2 * D0:  # the fixed-data runs of the notebook (cached)
        line += f"; after {cfg.train.max_steps} updates: val {experiments.run(cfg.replace(n_embd=d), progress=False).history.final_val():.3f}"
    print(line)
print(
    f"Chinchilla's optimum for this budget (C = 6 N D with D = 20 N): "
    f"{(BUDGET / (6 * scaling.CHINCHILLA_TOKENS_PER_PARAM)) ** 0.5:,.0f} parameters"
)

# %% [markdown]
# How to reason before running (numbers printed above):
# - **Is the lesson model still learning at the end of its run?** Yes: its val was still
#   falling at every evaluation. Such a model is short of updates, not of size: a wider
#   one, with under a third of the updates, ends far above it; a narrower one, with three
#   times the updates, can go further.
# - **How far can the smaller models go?** After the same 300 updates the half-width model
#   is about a nat behind the lesson model and the quarter-width one two nats: that is what
#   their extra updates must make up, and the smallest has the least capacity to do it.
# - **Chinchilla's rule** (about 20 tokens per parameter) puts this budget's optimum near
#   the half-width model's size. It was fitted on models 40 to 3,000 times larger, so it
#   is a hint here, not a proof.
#
# So the pick is the half-width model, 2x64: the lesson model of 05-09 is too big for its
# own compute. (In the cpu run the quarter-width model ended within the seed spread of it,
# so the check would accept it too: below the lesson model's size, this budget is flat.)

# %%
a, b = (experiments.run(cfg.replace(seed=s), progress=False).history.final_val() for s in (1337, 2024))
spread = abs(a - b)  # two seeds of the lesson model: the yardstick for a tie
prediction = f"{L0}x{D0 // 2}"
check_size_winner(prediction, run_at_budget, list(WIDE), tolerance=spread);

# %% [markdown]
# The table the check prints shows both failure modes: the widest model's val was still
# falling steeply in its last quarter (under-trained: the budget stopped it), the narrowest
# model's had nearly flattened, with train as high as val (too small: it underfits). Both
# end with train ≈ val, so the gap alone cannot tell them apart; the slope at the end can.
