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
# Every claim in these notebooks is a number the notebook has just measured. Re-run any
# cell and you get your own numbers.
#
# ## 1. Setup check
# Each line should say OK. If one says FAIL, run `make setup` in a terminal at the
# repository root and restart the kernel.

# %% tags=["NBVAL_SKIP"]
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
# | `cpu` | a 2-core laptop; every effect in the text is visible | each notebook within about 6 minutes on 2 cores (`make course` prints each notebook's time) |
# | `gpu` | TinyStories at the scale of the student's model | not measured here; sized for one GPU |
#
# The profile comes from the environment variable `SLMLAB_PROFILE`, or from the
# `default_profile` in the cell below. The texts and plots of this course hold for `cpu`.

# %%
from slmlab.course import start

lesson = start("00_start_here")
cfg = lesson.cfg

# %%
from slmlab.config import preset

print(f"{'preset':8} {'layers':>6} {'width':>5} {'block':>5} {'corpus':12} {'tokenizer':9} {'updates':>7} {'tokens/update':>13}")
for name in ("smoke", "cpu", "gpu", "student"):
    c = preset(name)
    print(f"{name:8} {c.model.n_layer:>6} {c.model.n_embd:>5} {c.model.block_size:>5} {c.data.corpus:12} "
          f"{c.data.tokenizer:9} {c.train.max_steps:>7} {c.tokens_per_step:>13,}")

# %% [markdown]
# `student` is the student's own run with its bugs fixed (notebook 04 finds the bugs):
# their "20,000 iterations" were micro-steps with gradient accumulation 32, so the model
# took only **625 optimizer updates**.
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
print(f"the student's val loss at iteration 500: {STUDENT_PUBLISHED[500]:.2f} "
      f"= {math.exp(uniform - STUDENT_PUBLISHED[500]):.1f}x better than a uniform guess in perplexity")
print(f"their own run later reached {STUDENT_PUBLISHED[19500]:.2f} at iteration 19500")

# %% [markdown]
# So "val loss 9" is a model that has **barely started**: its perplexity is about e⁹ ≈ 8,100
# — as if it were choosing uniformly among 8,100 tokens. The student's own published run
# went on to 2.39. Between "uniform" and "perfect" sit more rungs:
#
# - **unigram**: always predict each token's overall frequency (no context at all);
# - **bigram**: predict from the previous token only;
# - **entropy floor**: for the synthetic corpus, the true randomness of the text.
#
# A model above the unigram rung has not even learned which tokens are common. Here is the
# ladder for this profile's corpus and tokenizer, measured on the validation split:

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
# ### Exercise: the uniform rung
# Write `uniform_loss(vocab_size)`: the cross-entropy, in nats, of a model that gives every
# token the same probability.

# %%
from slmlab.exercises import check_uniform_loss


def uniform_loss(vocab_size):
    raise NotImplementedError  # your code here


check_uniform_loss(uniform_loss);

# %% [markdown]
# ## 5. The road map
#
# | notebook | what you measure |
# | --- | --- |
# | 01 data and tokenizers | the corpora, a BPE trained live, tokens per byte, the ladder per tokenizer |
# | 02 build a GPT | attention by hand vs PyTorch, causality through gradients, loss at init, sizes |
# | 03 train and sample | the training loop piece by piece, a live run, resume, sampling |
# | 04 val-loss-9 clinic | the student's config linted, their curve diagnosed, a reproduction |
# | 05 data size | more data vs early stopping |
# | 06 dropout | when dropout helps and when it hurts |
# | 07 weight decay | decay values, decay groups |
# | 08 learning rate and warmup | the lr finder, too low / too high, warmup, the schedule bugs |
# | 09 batch size and accumulation | equal tokens vs equal updates, accumulation |
#
# Start with **01 · Data and tokenizers**.
