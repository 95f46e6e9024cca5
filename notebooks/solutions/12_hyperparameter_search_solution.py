# %% [markdown]
# # 12 · Solutions
# ## The size of a grid
# A grid tries every combination of its values, so the counts multiply: two values for each
# of four ranges and two batch sizes are 2 x 2 x 2 x 2 x 2 = 32 trials.

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

from slmlab.exercises import check_grid_size


def grid_size(values_by_setting):
    return math.prod(len(values) for values in values_by_setting.values())


check_grid_size(grid_size);

# %% [markdown]
# ## Predict, then run: dropout on the best trial
# Every run of the search reads less than its training text once: at the space's largest
# batch, 300 updates of 16 x 64 tokens are 307,200 tokens, 0.6 passes over the 543,662 train
# tokens (as notebook 05's all-data runs read). So nothing overfits, and
# notebook 06 measured what dropout does then: it only costs, because every update trains a
# thinned network. So the prediction for dropout 0.2 should be *worse* than the best trial,
# by tenths of a nat. The cells below load the notebook's stored studies (or run them, if
# the notebook has not been run), then check the guess.

# %%
import optuna

from slmlab import experiments
from slmlab.course import start
from slmlab.exercises import check_prediction
from slmlab.search import Choice, IntRange, LogUniform, Uniform, search, trial_config

lesson = start("12_hyperparameter_search", setup="search")
cfg = lesson.cfg
SPACE = {
    "lr": LogUniform(1e-3, 3e-2),
    "warmup_steps": IntRange(0, cfg.train.max_steps // 5, cfg.train.max_steps // 15),
    "weight_decay": Uniform(0.0, 0.3),
    "dropout": Uniform(0.0, 0.2),
    "micro_batch_size": Choice([8, 16]),
}
N_TRIALS, STUDY_SEEDS = (3, (0,)) if lesson.smoke else (6, (0, 1))
optuna.logging.set_verbosity(optuna.logging.WARNING)  # no INFO line for the study made here
pooled = optuna.create_study(direction="minimize")
for s in ("grid", "random", "tpe"):
    for seed in STUDY_SEEDS:
        st = search(cfg, SPACE, sampler=s, n_trials=N_TRIALS, seed=seed, grid_points=2)
        pooled.add_trials([t for t in st.trials if t.state.name == "COMPLETE"])
best_params = pooled.best_params
print(f"best trial: val {pooled.best_value:.3f}, dropout {best_params['dropout']:.3f}, lr {best_params['lr']:.2g}")

# %% [markdown]
# A guess of the best trial's val plus 0.25 nats: a cautious share of what dropout 0.2 cost
# with all of the text in notebook 06 (0.676 nats of best val over dropout 0, 0.391 over
# 0.1, with two layers at the default settings).

# %%
def best_val_with_dropout(p):
    return experiments.run(
        trial_config(cfg, {**best_params, "dropout": p}), label=f"dropout {p}", progress=False
    ).history.best_val()[1]


prediction = {0.2: pooled.best_value + 0.25}
check_prediction(
    prediction, best_val_with_dropout, setting="dropout", baseline=(round(best_params["dropout"], 3), pooled.best_value)
);

# %% [markdown]
# In the cpu run dropout 0.2 reached a best val of 1.096, 0.367 above the best trial's 0.729:
# worse, as predicted, by more than the guess (inside the check's tolerance) and by about half
# of the 0.676 it cost in notebook 06. This run differs from 06's in more than the dropout
# (one layer, the searched lr, warmup and weight decay); which of these sets the cost is not
# measured here.

# %% [markdown]
# ## Predict the verdicts: the chat answer's eight changes
# The recipe trains at lr 1e-4, far below this model's best lr (0.0069, the best trial's,
# printed at the top), and its buggy schedule *raises* the lr to min_lr 5e-4 over the run. So at this
# scale the run is held back by its lr and its number of updates, and nothing overfits (the
# recipe reads less than one pass over the text: the cell below prints how much). From that:
# - C17 lr 6e-4 **helps**: a higher lr, when the lr is too low, is the biggest lever (08 §2).
# - C18 max_iters 50,000 **helps**: 2.5x the updates at a too-low lr.
# - C19 warmup 5,000 **hurts**: it keeps the lr at its lowest for a quarter of the run.
# - C20 min_lr 1e-5 **hurts**, alone: it fixes the bug, so the lr now decays from 1e-4
#   instead of rising to 5e-4 (08 §5: the bug helped a too-low peak lr).
# - C21 eval_iters 200 does **nothing**: it changes when and on how much val text the run is
#   scored, not how it trains.
# - C22 batch 64 **helps**: at equal updates a bigger batch wins (09 §1), though twice the
#   tokens in each update is worth less than twice the updates.
# - C23 block 256 **helps**: twice the tokens in each update too, and more context.
# - C24 accumulation 16 **helps**: at the same micro-steps, twice the updates of half the
#   tokens; at a too-low lr the number of updates is what counts.
#
# The cell below rebuilds the notebook's ablation (the same configs, so the notebook's cached
# runs load; without them it trains them) and checks the predictions.

# %%
import numpy as np

from slmlab import recipes
from slmlab.exercises import check_verdicts
from slmlab.recipes import CHAT, CLAIM, THEIRS

SCALE = recipes.lesson_scale(micro=1000 if lesson.smoke else 100)
AB_SEEDS = (1337,) if lesson.smoke else (1337, 2024)


def translated(s, seed):  # the notebook's section 7, unchanged
    return recipes.translated_run(cfg, s, seed, SCALE)


recipe = translated(THEIRS, AB_SEEDS[0])
tokens, n_train = recipe.config.tokens_per_step * recipe.config.train.max_steps, recipe.history.meta["n_train_tokens"]
print(f"the recipe reads {tokens:,} tokens, {tokens / n_train:.2f} passes over the {n_train:,} train tokens")
ROWS = {"recipe": THEIRS, **{CLAIM[k]: {**THEIRS, k: CHAT[k]} for k in CHAT if k != "eval_iters"}}
vals = {name: np.array([translated(s, seed).history.best_val()[1] for seed in AB_SEEDS]) for name, s in ROWS.items()}
table = experiments.Effect("change", "best_val", vals)
WORD = {"better": "helps", "worse": "hurts"}
measured = {c: WORD.get(table.verdict(c, "recipe"), "nothing") for c in vals if c != "recipe"}
prediction = {
    "C17": "helps",
    "C18": "helps",
    "C19": "hurts",
    "C20": "hurts",
    "C21": "nothing",
    "C22": "helps",
    "C23": "helps",
    "C24": "helps",
}
check_verdicts(
    prediction,
    {**measured, "C21": "nothing"},
    deltas={c: table.diff(c, "recipe") for c in measured},
    margin=2 * table.spread,
);

# %% [markdown]
# In the cpu run all eight predictions held (the check's last line above). The reasoning
# rests on one fact of this scale, the recipe's too-low lr; with an lr near the best, the
# verdicts of C19, C20 and C24 could differ, and this notebook does not measure that.
