# %% [markdown]
# # 10 · Solution: name the run from its statistics
# Each breakage shows first in a different statistic, and the first sampled update (step 1)
# already tells all four apart:
# - **init std 1.0**: the query-key products are 2,500 times larger than with std 0.02, so
#   every head's softmax is one-hot from the start: entropy near 0 instead of ~3.2 nats;
# - **no LayerNorm**: the stream keeps the embeddings' rms of ~0.03, the logits are tiny and
#   so are the gradients: each block's gradient norm is ~0.001 instead of ~1;
# - **lr x30**: its attention and gradients at step 1 are the healthy run's (printed below),
#   its updates are not: even at the warmup's first lr, 30 times the healthy one, the median
#   update rewrites more than 10% of a weight in one step (log10 ratio above -1: -0.67 at
#   step 1 against the healthy run's -2.15, notebook 10 section 6);
# - **healthy**: none of these.
#
# The thresholds are the doctor's (`slmlab.diagnostics`: `ATTENTION_COLLAPSED_NATS`,
# `VANISHING_GRAD_NORM`, `UPDATE_RATIO_HIGH`), so this is a small `diagnose_stats`.

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

import numpy as np
import torch

from slmlab.callbacks import Callback
from slmlab.course import start
from slmlab.diagnostics import TrainingStats
from slmlab.exercises import check_diagnosis
from slmlab.experiments import run
from slmlab.model import INIT_STD

lesson = start("10_activations_and_gradients", setup="small-sweep")
cfg = lesson.cfg
SEEDS = (1337, 2024)
EVERY = {"smoke": 5, "cpu": 10, "gpu": 50}[lesson.profile]


def _identity(x):
    return x


class NoLayerNorm(Callback):  # the notebook's callbacks, with the same cache tags: cached runs
    changes_training, cache_tag = True, "no-layernorm"

    def on_train_start(self, trainer):
        for m in trainer.model.modules():
            if isinstance(m, torch.nn.LayerNorm):
                m.forward = _identity


class ScaleInit(Callback):
    changes_training = True

    def __init__(self, std):
        self.std, self.cache_tag = std, f"init-std-{std:g}"

    def on_train_start(self, trainer):
        if trainer.step == 0:
            with torch.no_grad():
                for p in trainer.model.parameters():
                    if p.dim() >= 2:
                        p.mul_(self.std / INIT_STD)


HELD_OUT = {
    "healthy": (cfg, []),
    "no LayerNorm": (cfg, [NoLayerNorm()]),
    "init std 1.0": (cfg, [ScaleInit(1.0)]),
    "lr x30": (cfg.replace(lr=30 * cfg.train.lr), []),
}
stats = {}
for name, (c, callbacks) in HELD_OUT.items():
    stats[name] = TrainingStats(every=EVERY)
    run(c.replace(seed=SEEDS[1]), label=name, callbacks=[*callbacks, stats[name]], progress=False)

# %%
from slmlab.diagnostics import ATTENTION_COLLAPSED_NATS, UPDATE_RATIO_HIGH, VANISHING_GRAD_NORM


def name_the_run(stats):
    at_start = lambda recs: [r for r in recs if r["step"] == 1]  # noqa: E731
    if min(a["entropy"] for a in at_start(stats.attention)) < ATTENTION_COLLAPSED_NATS:
        return "init std 1.0"  # one-hot attention before any learning: the weights are far too large
    if min(g["grad_norm"] for g in at_start(stats.grads) if g["name"].startswith("block")) < VANISHING_GRAD_NORM:
        return "no LayerNorm"  # almost no gradient reaches the blocks
    by_step = {}
    for u in stats.updates:
        by_step.setdefault(u["step"], []).append(u["log10_ratio"])
    if max(float(np.median(v)) for v in by_step.values()) > UPDATE_RATIO_HIGH:
        return "lr x30"  # each update rewrites >10% of a typical weight
    return "healthy"


HINTS = {
    "healthy": "nothing in it crosses an alarm level",
    "no LayerNorm": "look at the block gradient norms at step 1",
    "init std 1.0": "look at the attention entropy or the GELU saturation at step 1",
    "lr x30": "look at the update:data ratio after warmup",
}
check_diagnosis(name_the_run, stats, hints=HINTS)
for name, st in stats.items():
    ent = min(a["entropy"] for a in st.attention if a["step"] == 1)
    block = min(g["grad_norm"] for g in st.grads if g["step"] == 1 and g["name"].startswith("block"))
    print(f"{name:14} step 1: lowest head entropy {ent:.2f} nats, smallest block grad norm {block:.2g}")

# %% [markdown]
# Why not a single rule, "loss high means broken"? Because the symptoms come long before the
# loss tells: at step 1 the loss of the no-LayerNorm run is still ln V, like the healthy
# run's, and its statistics already differ by a factor of ~1,000. The order of the rules
# matters too: the init-std run also has large gradients and a huge residual stream, but
# its collapsed attention is the symptom that no other breakage here shows at step 1.
