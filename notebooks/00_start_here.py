# %% [markdown]
# # 00 · Start here: "my small language model ends with validation loss 9 — why?"
#
# A student trained a ~30M-parameter GPT on TinyStories with the GPT-2 tokenizer,
# following a popular "SLM from scratch" notebook, and saw **validation loss 9**.
# A chat assistant answered with a list of general advice (more data, dropout, weight
# decay, a new learning rate, bigger batches, ...). This course takes every piece of that
# advice and **measures** it on a real GPT that you build and train yourself — on your
# laptop's CPU in minutes, or at full scale on a GPU.
#
# **Whose run, and what we have of it.** We do not have the student's run. We have the
# *published* log of the same recipe (the notebook they followed, with its training code):
# it prints val 9.45 at its first print, iteration 500, already 8.49 at iteration 1,000,
# and keeps falling to 2.39 at iteration 19,500 (section 4 prints these). A run of that
# recipe reads "val 9" only around its first print, so we take it that the student stopped
# there, or soon after.
# Notebook 04 works through what that means and what to change.
#
# Every effect these notebooks claim is measured in the notebook that claims it, and you
# get your own numbers when you re-run a cell. Where a statement rests on something else
# (a paper, a unit test, the published log), the text says so.
#
# ## 1. Setup check
# Each line should say OK. If one says FAIL, run `make setup` in a terminal at the
# repository root and restart the kernel.

# %% tags=["NBVAL_SKIP"]
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

from slmlab.course import setup_check

setup_check();

# %% [markdown]
# ## 2. Profiles: how big the runs are
#
# Every notebook starts with the same cell: it picks a **profile** and prints the corpus,
# tokenizer, device, number type and threads.
#
# | profile | what it is for | how long it takes |
# | --- | --- | --- |
# | `smoke` | proves the code runs (CI, `make test`) | seconds; teaches nothing |
# | `cpu` | a 2-core laptop; every effect in the text is visible | each notebook within 6 minutes on 2 cores (12, with 90 short training runs, the closest: about 6), except 13 and its solution (each trains for a 10-minute budget, about 10 minutes in all) (`make course` prints each notebook's time) |
# | `gpu` | TinyStories at the scale of the student's model | not measured here; sized for one GPU |
#
# The profile comes from the environment variable `SLMLAB_PROFILE`, or from the
# `default_profile` in the cell below. The texts and plots of this course hold for `cpu`.
#
# The table after it compares the presets. **updates** is `max_steps`, the number of
# optimizer updates in a run (a step always means an update in this course); **tokens/update**
# is `micro_batch_size × grad_accum_steps × block_size`, the tokens one update learns from.

# %%
from slmlab.course import start

lesson = start("00_start_here")
cfg = lesson.cfg

# %%
from slmlab.presets import preset

print(
    f"{'preset':8} {'layers':>6} {'width':>5} {'block':>5} {'corpus':12} {'tokenizer':9} {'updates':>7} {'tokens/update':>13}"
)
for name in ("smoke", "cpu", "gpu", "student"):
    c = preset(name)
    print(
        f"{name:8} {c.model.n_layer:>6} {c.model.n_embd:>5} {c.model.block_size:>5} {c.data.corpus:12} "
        f"{c.data.tokenizer:9} {c.train.max_steps:>7} {c.tokens_per_step:>13,}"
    )

# %% [markdown]
# `student` is the published recipe with its bugs fixed (notebook 04 finds the bugs):
# its "20,000 iterations" are micro-steps with gradient accumulation 32, so the model
# takes only **625 optimizer updates**, and iteration 500 is update 15.
#
# ## 3. The corpora
# The course ships an **embedded synthetic corpus**: children's stories written by a small
# random grammar that knows the exact probability of every story it writes. That gives
# something no real corpus has: the *entropy floor*, the loss that no model can beat.
# TinyStories and Tiny Shakespeare are used when their files are on disk
# (set `SLMLAB_DATA_DIR` to the folder that holds them); your own text works too
# (`corpus="file:path/to/text.txt"`).

# %%
from slmlab.corpora import available_offline, load_corpus

for name in ("synthetic", "tinystories", "shakespeare"):
    print(f"{name:12} {'on this machine' if available_offline(name) else 'not here (set SLMLAB_DATA_DIR)'}")
story = load_corpus("synthetic", corpus_bytes=3000).train_docs[0]
print("\nA synthetic story:\n")
print(story[:700], "...")

# %% [markdown]
# ## 4. What does a loss of 9 mean? The loss ladder
#
# The loss is the average of −ln p(next token). A model that knows nothing and spreads
# its bet evenly over a vocabulary of V tokens scores exactly **ln V**. For GPT-2's
# 50,257 tokens:

# %% tags=["NBVAL_CHECK_OUTPUT"]
import math

from slmlab.diagnostics import STUDENT_PUBLISHED

uniform = math.log(50257)
print(f"uniform guess over GPT-2's vocabulary: ln(50257) = {uniform:.2f} nats per token")
print(
    f"the published log at iteration 500 (update 15): val {STUDENT_PUBLISHED[500]:.2f} "
    f"= {math.exp(uniform - STUDENT_PUBLISHED[500]):.1f}x better than a uniform guess in perplexity"
)
print(
    f"the same log at iteration 1000 (update 31): val {STUDENT_PUBLISHED[1000]:.2f}; "
    f"at iteration 19500 (update 609): val {STUDENT_PUBLISHED[19500]:.2f}"
)

# %% [markdown]
# So "val loss 9" is a model that has **barely started**: its perplexity is about e⁹ ≈ 8,100
# — as if it were choosing uniformly among 8,100 tokens. The same recipe, trained on, reached
# 2.39. Between "uniform" and "perfect" sit more rungs:
#
# - **unigram**: always predict each token's overall frequency (no context at all);
# - **bigram**: predict from the previous token only;
# - **entropy floor**: for the synthetic corpus, the true randomness of the text.
#
# A model above the unigram rung has not even learned which tokens are common. Here is the
# ladder for this profile's corpus and tokenizer, measured on the validation split. The
# published 9.45 cannot go on it: it is a loss in GPT-2 tokens on TinyStories, and a loss
# only compares with rungs of the same corpus and tokenizer. Notebook 04 draws the published
# curve on the GPT-2 ladder of TinyStories; what this one shows is how the rungs are built,
# and how far apart they are.

# %%
from slmlab import plots
from slmlab.data import prepare
from slmlab.diagnostics import ladder

data = prepare(cfg.data)
lad = ladder(data)
print(lad.as_table())
display(plots.ladder(lad))

# %% [markdown]
# Losses in nats per token depend on the tokenizer (a bigger vocabulary packs more text
# into each token), so the ladder also gives **bits per byte**, which compares across
# tokenizers. Notebook 01 uses it to compare char, BPE and GPT-2 tokens.
#
# ### Exercise: the unigram rung
# Write `unigram_loss(train_ids, val_ids, vocab_size)`: the cross-entropy, in nats per token,
# on `val_ids` of a model that ignores context and gives token i the probability
# `(count of i in train_ids + 1) / (len(train_ids) + vocab_size)`. The `+ 1` (add-one
# smoothing) keeps a token never seen in train from getting probability 0, which would make
# the loss infinite. The ladder above uses the same formula with an added count chosen on the
# train split (its note says which; notebook 01 explains how it is chosen).

# %%
from slmlab.exercises import check_unigram_loss


def unigram_loss(train_ids, val_ids, vocab_size):
    raise NotImplementedError  # your code here


check_unigram_loss(unigram_loss);

# %% [markdown]
# ## 5. The road map
#
# | notebook | what you measure |
# | --- | --- |
# | 01 data and tokenizers | the corpora, a BPE trained live, tokens per byte, the ladder per tokenizer |
# | 02 build a GPT | attention by hand vs PyTorch, causality through gradients, loss at init, sizes |
# | 03 train and sample | one batch decoded, the loop in one cell against the Trainer, a live run on the ladder, resume, sampling |
# | 04 val-loss-9 clinic | the student's config linted, their curve diagnosed, a reproduction |
# | 05 data size | more data vs early stopping |
# | 06 dropout | what dropout does to the gap and to val, with scarce and with plenty of text |
# | 07 weight decay | decay values, decay groups |
# | 08 learning rate and warmup | the lr finder, too low / too high, warmup, the schedule bugs |
# | 09 batch size and accumulation | equal tokens vs equal updates, accumulation |
# | 10 activations and gradients | a healthy run and five broken ones, seen from inside: saturation, attention, gradients, updates |
# | 11 model size | width and depth at fixed compute and at fixed data, the student's 30M, a power law that is not there |
# | 12 hyperparameter search | grid, random and TPE with the same budget, pruning, reading a search |
# | 13 capstone | the best model in a fixed budget, whether its time or its text limits it, samples at each val loss, the ladder and the doctor on it, a checklist for your next run, a class challenge with a leaderboard |
#
# Start with **01 · Data and tokenizers**.
