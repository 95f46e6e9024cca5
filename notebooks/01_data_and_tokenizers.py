# %% [markdown]
# # 01 · Data and tokenizers
#
# Before a model sees any text, a **tokenizer** cuts it into tokens, and the choice of
# tokenizer decides three numbers that shape everything after: how many tokens a story
# costs, how big the model's input and output layers are, and what "loss" even means.
# The student used GPT-2's 50,257-token vocabulary on TinyStories. Here we measure what
# that choice buys and what it costs.
#
# What we will measure:
# 1. the synthetic corpus and its **entropy floor** (the exact randomness of the text);
# 2. a byte-level BPE trained live on the corpus, merge by merge;
# 3. tokens per byte for char, BPE and GPT-2;
# 4. how much of GPT-2's vocabulary the corpus actually uses, and how much of the
#    student's model is embedding;
# 5. the loss ladder for each tokenizer, in nats per token and in **bits per byte**.

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

from slmlab.course import start

lesson = start("01_data_and_tokenizers", corpus="tinystories")  # the student's corpus, when it is here
cfg = lesson.cfg

# %% [markdown]
# ## 1. The corpora
#
# The synthetic corpus is written by a small random grammar: names, places, a problem, a
# few attempts, a resolution, a moral. Each story is a sequence of random draws, and the
# generator knows the probability of every draw, so it knows ln p(story) **exactly**. The
# text is a one-to-one function of the draws — `parse` recovers the draws from the text
# alone — so −ln p(text) over all the validation text is a loss **no model can beat**.

# %%
from slmlab import synthetic

stories = synthetic.generate(20_000, seed=1)
s = stories[0]
print(s.text[:600], "...\n")
print(f"{len(s.choices)} random draws wrote this story; ln p(story) = {s.logprob:.2f} nats")
again = synthetic.parse(s.text)
print(
    f"parse(text) recovers the same draws: {again.choices == s.choices}, "
    f"same ln p: {abs(again.logprob - s.logprob) < 1e-9}"
)
print(f"entropy of the text: {synthetic.entropy_bits_per_byte(stories):.3f} bits per byte")

# %% [markdown]
# Real text carries far more entropy per byte than this grammar (Shannon estimated about
# 1 bit per character for English; cited, not measured here). For real text no exact floor is
# known; for the synthetic corpus it is, and notebook 03 and the experiments of 05-09 train on
# it and show their losses beside that floor. The same code loads TinyStories, Tiny
# Shakespeare or your own files (the first 200 kB of each here):

# %%
from slmlab import paths
from slmlab.corpora import available_offline, load_corpus


def where(text):  # the data folder's path, written as the variable that names it
    return text.replace(str(paths.data_dir()), "$SLMLAB_DATA_DIR") if paths.data_dir() else text


for name in ("synthetic", "tinystories", "shakespeare"):
    if available_offline(name):
        c = load_corpus(name, corpus_bytes=200_000)
        print(f"{name:12} {len(c.train_docs):5} train docs, {len(c.val_docs):4} val docs; from {where(c.source)}")
    else:
        print(f"{name:12} not on this machine: put its file under $SLMLAB_DATA_DIR (see README)")

# %% [markdown]
# Your own text: `corpus="file:path/to/file.txt"` (documents separated by blank lines or
# `<|endoftext|>`) or `corpus="file:path/to/folder"` (one document per `.txt` file).
#
# **Which TinyStories.** From here on this notebook uses the corpus its first cell printed.
# In the cpu run that made the outputs you are reading, it is `tinystories_sample.txt`, a
# small sample of TinyStories (its size is the character count printed below). The numbers
# quoted in the text are that sample's. With the full TinyStories file your numbers will
# differ; with no data folder at all the notebook uses the synthetic corpus instead (the first
# cell says so), and they differ more.
#
# ## 2. Train a BPE, live
#
# Byte-pair encoding starts from the 256 possible bytes and repeatedly **merges the most
# frequent adjacent pair** into a new token. slmlab's trainer first splits text into words
# with GPT-2's regex (so merges never cross a space-word boundary), counts each distinct
# word once with its frequency, and after each merge updates only the pair counts of the
# words that contain the merged pair, so training takes seconds, not hours (timed below).

# %%
import time

from slmlab.tokenizers import BPETokenizer

corpus = load_corpus(cfg.data.corpus, corpus_bytes=cfg.data.corpus_bytes, data_seed=cfg.data.data_seed)
n_merges = 300 if lesson.smoke else 1000
t0 = time.perf_counter()
bpe = BPETokenizer.train(corpus.train_docs, n_merges)
print(f"{n_merges} merges on {sum(map(len, corpus.train_docs)):,} characters in {time.perf_counter() - t0:.1f} s")
print("the first 12 merges:", [bpe.token_bytes(256 + i).decode("utf-8", "replace") for i in range(12)])
print(
    "the last 8 merges:  ", [bpe.token_bytes(256 + i).decode("utf-8", "replace") for i in range(n_merges - 8, n_merges)]
)
sample = corpus.val_docs[0][:120]
ids = bpe.encode(sample)
print(f"\n{len(sample)} characters -> {len(ids)} tokens:")
print([bpe.decode([i]) for i in ids])

# %% [markdown]
# The first merges join common letter pairs and short words; the last ones are longer word
# pieces and whole words of this corpus (`' underst'`, `'ized'`, `' flower'`). None spans two
# words: a merge happens only inside one piece of the regex split (a word with its leading
# space, a number, a run of punctuation).
#
# ### Exercise: count the pairs
# The heart of BPE training is counting adjacent pairs. Write `count_pairs(ids)` returning a
# dict `{(a, b): count}` for every adjacent pair in the list.

# %%
from slmlab.exercises import check_pair_counts


def count_pairs(ids):
    raise NotImplementedError  # your code here


check_pair_counts(count_pairs);

# %% [markdown]
# ## 3. Tokens per byte, and the size of the vocabulary
#
# We prepare the same corpus with several tokenizers. `prepare` tokenizes once into
# memory-mapped token files with a manifest (counts and checksums) and reuses them after.
# GPT-2's tokenizer is included when its files are on this machine.

# %%
from slmlab.data import prepare
from slmlab.diagnostics import ladder
from slmlab.tokenizers import get_tokenizer

# the synthetic grammar has only ~600 distinct words: it allows about 1,000 merges, not 4,096
big = 1000 if cfg.data.corpus == "synthetic" else 4096
names = ["char", "bpe-256", "bpe-512"] if lesson.smoke else ["char", "bpe-512", f"bpe-{big}"]
try:
    get_tokenizer("gpt2")
    names.append("gpt2")
except Exception as e:  # offline without the files: say so and go on
    print("gpt2 skipped:", str(e)[:120])

import warnings

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    prepared = {name: prepare(cfg.replace(tokenizer=name).data) for name in names}
for w in caught:  # printed without the file and line they came from
    print("note:", w.message)
print(f"{'tokenizer':10} {'vocab':>6} {'val tokens':>10} {'bytes/token':>11} {'ids used':>9}")
for name, d in prepared.items():
    used = len(set(d.train.tolist()) | set(d.val.tolist()))
    print(f"{name:10} {d.vocab_size:>6} {len(d.val):>10,} {d.val_bytes_per_token:>11.2f} {used:>9,}")

# %% [markdown]
# A note about the char tokenizer, when one is printed above: its vocabulary is the characters
# of the train split, so a val character that never occurs in train (an accented letter, a
# rare quote mark) has no id. `prepare` drops those few characters from val and says how many;
# the bits-per-byte figures below still count their bytes, so the drop cannot flatter the char
# model.
#
# A bigger vocabulary packs more bytes into each token, so a story costs fewer tokens and a
# model with the same context length sees more text. But the gain flattens fast, and the
# price grows linearly: each vocabulary entry is a row of the embedding matrix *and* a
# column of the output layer. The **ids used** column counts the distinct ids that occur in
# the train and val token files prepared above from `tinystories_sample.txt`: in the cpu
# profile, 6,898 of GPT-2's 50,257 ids. The other 43,359 rows never occur in this text, yet
# they are parameters the model must learn to push down, and compute it spends on every
# token.
#
# ## 4. The share of the student's model that is embedding
# We build the student's transformer (6 layers, 6 heads, width 384) twice, with GPT-2's
# vocabulary and with a 4096-merge BPE, and count its parameters: all of them, and the
# embedding (the token table, which the output layer shares, plus the position table).
# Notebook 02 adds the FLOPs per token.

# %%
import torch

from slmlab.model import GPT
from slmlab.presets import preset

print(f"{'tokenizer':10} {'vocab':>6} {'params':>11} {'embedding':>11} {'share':>6}")
for name, vocab in [("gpt2", 50257), ("bpe-4096", 256 + 4096 + 1)]:  # bytes + merges + end-of-text
    with torch.device("meta"):  # shapes only: no memory, no time
        m = GPT(preset("student", vocab_size=vocab).model)
    n = m.num_params()
    emb = n - m.num_params(non_embedding=True)  # token table (tied to the output layer) + positions
    print(f"{name:10} {vocab:>6,} {n:>11,} {emb:>11,} {emb / n:>6.0%}")

# %% [markdown]
# With GPT-2's vocabulary, most of the student's parameters are the token table; with a BPE
# trained on the corpus, the same transformer has less than half as many parameters, and
# the embedding is a small share of them.
#
# ## 5. The loss ladder per tokenizer, in bits per byte
#
# Nats per token are **not comparable across tokenizers**: a token of GPT-2 carries about
# 4 bytes of text, a character token one. Bits per byte divides the total information by
# the bytes of text, so the same model quality gives the same number whatever the tokenizer.
#
# The unigram and bigram rungs are counts from train turned into probabilities. A count of 0
# would give a val token probability 0 and the loss infinity, so a small number k is added to
# every count first ("add-k" smoothing; notebook 00's exercise uses k = 1). The ladder tries
# k from 1 down to 0.0001, counting on the first 90% of train and scoring on the last 10%, and
# keeps the best; val is never used to choose it. The last column is the k it kept.

# %%
import matplotlib.pyplot as plt

ladders = {name: ladder(d, student=False) for name, d in prepared.items()}
rows = ("uniform", "unigram", "bigram")
print(f"{'':10} {'nats per token':^26}   {'bits per byte':^26}   add-k kept")
print(f"{'tokenizer':10} " + " ".join(f"{r:>8}" for r in rows) + "   " + " ".join(f"{r:>8}" for r in rows))
for name, lad in ladders.items():
    rung = {r.name: r for r in lad.rungs}
    print(
        f"{name:10} "
        + " ".join(f"{rung[r].nats:8.3f}" for r in rows)
        + "   "
        + " ".join(f"{rung[r].bits_per_byte:8.3f}" for r in rows)
        + f"   unigram {lad.k['unigram']:g}, bigram {lad.k['bigram']:g}"
    )

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
rung_names = [r.name for r in next(iter(ladders.values())).rungs if r.name in ("uniform", "unigram", "bigram")]
for i, rung in enumerate(rung_names):
    nats = [next(r.nats for r in lad.rungs if r.name == rung) for lad in ladders.values()]
    bpb = [next(r.bits_per_byte for r in lad.rungs if r.name == rung) for lad in ladders.values()]
    x = [j + 0.25 * i for j in range(len(ladders))]
    axes[0].bar(x, nats, width=0.25, label=rung)
    axes[1].bar(x, bpb, width=0.25, label=rung)
for ax, unit in zip(axes, ("nats per token", "bits per byte")):
    ax.set_xticks([j + 0.25 for j in range(len(ladders))], list(ladders))
    ax.set_ylabel(unit)
    ax.legend()
axes[0].set_title("per token: depends on the tokenizer")
axes[1].set_title("per byte: one unit for every tokenizer")
plt.tight_layout()
plt.show()

# %% [markdown]
# In nats per token the uniform rung grows with the vocabulary (ln V), so a char model at
# loss 2 and a GPT-2 model at loss 2 are *very* different models. Bits per byte puts every
# tokenizer in the same unit, so bars of different heights in the right panel are a real
# difference: these rungs are different models (a uniform guess over characters is a worse
# model of text than a uniform guess over word pieces), not the same model in two units. In
# bits per byte (the cpu run above) the context-free rungs do **not** land close together. The uniform rung is
# log2 V bits spread over the bytes of one token: 6.320 for char, then 3.469 for bpe-512 and
# 3.043 for bpe-4096 as the tokens get longer, and back up to 3.794 for GPT-2, whose
# vocabulary is over 11 times bpe-4096's while its tokens are barely longer (4.12 bytes
# against 3.97). The unigram rung falls with each larger vocabulary: 4.411, 2.945, 2.220,
# 2.140. The bigram rung shows what one token of context is worth with each tokenizer:
# 3.332, 1.813, 1.560, 1.628.
#
# ## What we measured
# - The synthetic corpus's exact entropy per byte, and that `parse` recovers every draw.
# - A BPE trained in under a second; the first merges are letter pairs, the last longer word pieces.
# - Bytes per token and vocabulary use for each tokenizer (table above).
# - The share of the student's model that is embedding, with GPT-2's vocabulary and a BPE.
# - The ladder per tokenizer: nats per token grow with the vocabulary; bits per byte put every
#   tokenizer in one unit, and the rungs still differ, because they are different models.
#
# Next: **02 · Build a GPT**.
