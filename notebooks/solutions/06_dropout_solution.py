# %% [markdown]
# # 06 · Solution: inverted dropout
# A Bernoulli mask keeps each value with probability 1 - p; the kept values are divided by
# 1 - p so that the expected activation is unchanged, and evaluation needs no rescaling.

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

import torch

from slmlab.exercises import check_dropout


def my_dropout(x, p, training):
    if not training or p == 0:
        return x
    keep = (torch.rand_like(x) >= p).to(x.dtype)  # 1 with probability 1 - p
    return x * keep / (1 - p)


check_dropout(my_dropout);

# %% [markdown]
# The same numbers as `torch.nn.functional.dropout` in distribution (not the same random
# draws): about a share p of zeros, and the mean unchanged.

# %%
x = torch.ones(100_000)
torch.manual_seed(0)
ours = my_dropout(x, 0.2, True)
torch.manual_seed(0)
theirs = torch.nn.functional.dropout(x, 0.2, training=True)
print(
    f"zeros: ours {(ours == 0).float().mean():.3f}, torch {(theirs == 0).float().mean():.3f}; "
    f"mean: ours {ours.mean():.3f}, torch {theirs.mean():.3f}"
)

# %% [markdown]
# ## Predict, then run: dropout 0.2, with scarce and with plenty of text
# Dropout is a brake on learning, and a guard against memorizing. With all of the text
# (under one epoch) there is nothing to memorize, so only the brake acts: expect a clearly
# higher best val than dropout 0. With the scarce text the model does memorize (its train
# loss ends far below its val loss), so the guard pays back part of the brake, but only part:
# in 300 updates the brake still wins, so expect worse than dropout 0 there too, by less.
# The guesses below follow that reasoning; the measured values are printed beside them.

# %%
from slmlab.course import start
from slmlab.exercises import check_prediction
from slmlab.experiments import run

lesson = start("06_dropout", setup="small-sweep")
cfg = lesson.cfg
SCARCE, PLENTY = {"smoke": (0.05, 1.0), "cpu": (0.02, 1.0), "gpu": (0.0003, 1.0)}[lesson.profile]


def best_val(frac, dropout):
    c = cfg.replace(data_fraction=frac, dropout=dropout, seed=1337)
    return run(c, label=f"dropout {dropout:g}", progress=False).history.best_val()[1]


prediction = {"scarce": 2.0, "plenty": 1.4}  # best val at dropout 0.2
for name, frac in (("scarce", SCARCE), ("plenty", PLENTY)):
    check_prediction(
        {0.2: prediction[name]},
        lambda p, f=frac: best_val(f, p),
        baseline=(0.0, best_val(frac, 0.0)),
        setting=f"dropout ({name})",
        quantity="best val",
    )

# %% [markdown]
# Both guesses are within the check's tolerance (0.5 nats), and both are on the right side
# of their baseline: in the cpu run dropout 0.2 took the best val from 1.731 to 2.085 with
# the scarce text, and from 0.941 to 1.584 with all of it. Both guesses were too low: dropout
# cost more than the reasoning alone suggests, because in 300 updates the brake is felt from
# the first update on (notebook 06, section 2).
