# %% [markdown]
# # 13 · Capstone: the best model in a budget
#
# The student's run ended at "val loss 9", and every lesson since 04 took one piece of the
# chat answer and measured it. Here the course puts all of it to work on one run: the best
# model we can train on TinyStories in a fixed budget of wall time (the first cell prints it),
# with the settings the lessons chose.
#
# What we will do:
# 1. train it, and say which lesson chose each setting;
# 2. read what a loss means as text: samples from the ladder's rungs (uniform, unigram,
#    bigram), from the model the first time its val loss fell below 4, 3 and 2.5 nats, and
#    from its best checkpoint, side by side;
# 3. place it on the loss ladder, in nats and in bits per byte, and ask the doctor;
# 4. write the checklist for your next run, each item linked to the lesson that measured it;
# 5. the class challenge: beat this notebook's run in the same budget, with a leaderboard.
#
# TinyStories comes from `SLMLAB_DATA_DIR` (the course's offline copy: a 2 MB sample of the
# corpus's training stories, not the whole corpus; section 1 prints its size); on a machine
# without it `start` says so in a note and the notebook runs on the synthetic stories of 00
# instead, with the same model and budget. Its text then reads like those stories, and its
# ladder has an entropy floor.

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

from slmlab import capstone
from slmlab.course import start

# TinyStories when it is on this machine, else the synthetic stories (start prints a note)
lesson = start("13_capstone", corpus="tinystories", tokenizer=capstone.budget_tokenizer())
cfg = capstone.budget_config(lesson)  # the profile's budget preset: tinystories-cpu on a CPU
BUDGET = cfg.train.time_budget  # wall seconds a run gets: the cosine runs on their share spent
m, t = cfg.model, cfg.train
print(
    f"preset {cfg.name}: {m.n_layer} layers x {m.n_embd} wide, {m.n_head} heads, block {m.block_size}, "
    f"dropout {m.dropout:g}; {cfg.data.corpus} with {cfg.data.tokenizer}"
)
print(
    f"lr {t.lr:g} -> min_lr {t.min_lr:g}, warmup {t.warmup_steps} updates, cosine over max_steps "
    f"{t.max_steps}; batch {t.micro_batch_size} x {m.block_size} = {cfg.tokens_per_step:,} tokens an update; "
    f"weight decay {t.weight_decay:g}; eval every {t.eval_interval} updates on {t.eval_batches} batches"
)
print(
    f"budget: time_budget {BUDGET:.0f} seconds of wall time, evaluations included; max_steps {t.max_steps} "
    f"ends the cosine instead if this machine gets there first"
)

# %% [markdown]
# ## 1. The run, and where its settings come from
#
# Each setting printed above was measured somewhere in the course (the preset's own search,
# on TinyStories, is in RESULTS.md, section `tinystories-cpu`):
#
# | setting | why | measured in |
# | --- | --- | --- |
# | a BPE fitted to the corpus, not GPT-2's 50,257 tokens | the course's 2 MB TinyStories sample uses only a few thousand of GPT-2's ids (counted on that sample, 01 §3; the whole corpus was not counted); with GPT-2's vocabulary most of a small model is its token table and its output layer does most of the FLOPs | 01 §3-4, 11 §2 |
# | a small model, wide rather than deep | at fixed compute a smaller model gets more updates and wins; on this CPU width costs less time per update than depth | 11 §3-4 |
# | lr with warmup from 0, then a cosine to min_lr = lr/10 | too low crawls, too high stalls; warmup rescues a high lr; min_lr above lr raised the student's lr; the schedule moves once per optimizer update | 08 §2 and §4, 03 §2, 04 §3 |
# | a little dropout, the usual weight decay | with a small corpus read many times the model memorizes; dropout narrows that gap (and costs val where nothing is memorized); decay 0.1 is within noise of none | 06, 07, RESULTS.md |
# | the best checkpoint, not the last | the val loss can rise at the end of a run that memorizes; best.pt keeps the lowest | 05 §4 |
# | a time budget (`time_budget`) | runs compared at equal time; the cosine runs on the share of the budget spent, so the lr reaches min_lr when the time is up, on a fast machine or a slow one, and the run ends there with an eval | 11 §4 (fixed compute), this notebook |
#
# The run records, with a recorder callback, a sample of the model at the first eval whose
# val loss is at or below 4, 3 and 2.5 nats. The recorder samples with its own random
# generator and hands the model back in the mode it found it, so it changes no step of
# training, and a cached run gives the same text back (slmlab.callbacks, the recorder contract).

# %%
from slmlab import experiments
from slmlab.data import prepare
from slmlab.diagnostics import ladder

THRESHOLDS = (4.0, 3.0, 2.5)  # nats of val loss: a sample at the first eval at or below each
N_TOKENS = 30 if lesson.smoke else 80  # tokens per sample
data = prepare(cfg.data)
tok = data.tokenizer
lad = ladder(data)
rungs = lad.to_dict()
recorder = capstone.SampleRecorder(THRESHOLDS, n_tokens=N_TOKENS, seed=0)
run = experiments.run(cfg, callbacks=[recorder], label="capstone", progress=False)
h = run.history
best_step, best_val = h.best_val()
last = h.evals[-1]
updates, trained_s = h.steps[-1]["step"], h.steps[-1]["seconds"]
epochs = h.steps[-1]["tokens"] / h.meta["n_train_tokens"]
why = {"time": "the time budget", None: "max_steps"}.get(h.stop_reason, h.stop_reason)
share = "" if h.stop_reason == "time" else f" ({updates / t.max_steps:.0%} of max_steps)"
print(
    f"{h.meta['n_params']:,} parameters; {updates} updates{share} "
    f"in {trained_s:.0f} s, ended by {why}; {epochs:.1f} passes over the {h.meta['n_train_tokens']:,} train tokens"
)
print(
    f"best val {best_val:.3f} at update {best_step}; last eval (update {last['step']}): val "
    f"{last['val_loss']:.3f}, train {last['train_loss']:.3f}, gap {last['val_loss'] - last['train_loss']:+.3f}"
)
print(f"lr at the last update {h.steps[-1]['lr']:.2e} (lr {t.lr:g}, min_lr {t.min_lr:g})")

# %%
from slmlab import plots

display(plots.curves(h, lad, title=f"the capstone run: {cfg.name}, {BUDGET:.0f} s"))

# %% [markdown]
# The lines above say where the run ended and why (the time budget, or max_steps when the
# updates fit in the budget), the lr there (min_lr, when the cosine ended with the run), how
# many times it read its training text, and how far apart train and val are at the end.
#
# ### Is the run limited by its time or by its text?
#
# Two numbers from the run's own history tell: how many times it read its training text (the
# tokens it saw over the train tokens), and how far train has pulled below val (both measured
# in eval mode, on the same number of batches). A run that read its text less than once cannot
# have memorized it: its train and val stay together, and more time is what it needs. A run
# that read its text many times and whose train sits well below val has begun to memorize it,
# even while val still falls: more time re-reads the same stories, and each pass buys less.

# %%
from slmlab.diagnostics import MEMORIZING_GAP_NATS, diagnose

man = data.manifest
n_train, tokens_seen = h.meta["n_train_tokens"], h.steps[-1]["tokens"]
passes = tokens_seen / n_train  # how many times the run read its train text
gaps = [(e["step"], e["val_loss"] - e["train_loss"], e["val_loss"]) for e in h.evals]
print(
    f"the text: {(man['train_bytes'] + man['val_bytes']) / 1e6:.2f} MB of {cfg.data.corpus}, "
    f"{n_train:,} train tokens ({man['train_bytes'] / 1e6:.2f} MB) and {man['n_val_tokens']:,} val tokens"
)
print(
    f"tokens seen: {updates} updates x {cfg.tokens_per_step:,} = {tokens_seen:,}; "
    f"passes over the train text: {tokens_seen:,} / {n_train:,} = {passes:.1f}"
)
print("at the last evals (update: val, val - train):")
for step, gap, val in gaps[-4:]:
    print(f"  {step:>6}: val {val:.3f}, gap {gap:+.3f}")
data_limited = any(f.code == "memorizing" for f in diagnose(run, lad))  # the doctor's finding (section 3)
print(
    f"data-limited: {'yes' if data_limited else 'no'}, the doctor's `memorizing` finding ({passes:.1f} passes "
    f"{'>' if passes > 1 else '<='} 1, gap {gaps[-1][1]:+.3f} nats {'>=' if gaps[-1][1] >= MEMORIZING_GAP_NATS else '<'} "
    f"{MEMORIZING_GAP_NATS:g}, val {'still at' if best_step == last['step'] else 'past'} its best)"
)

# %% [markdown]
# The course's run (2 cores, float32) read its 1.87 MB of train text 4.5 times, and train
# ended 0.497 nats below val while val was still at its lowest at the last eval: it is
# data-limited, and the line above, the doctor's `memorizing` finding asked ahead of section 3,
# says so from the same numbers. The course's offline
# TinyStories is the first 2 MB of the corpus's training stories, not the whole corpus; on it, a
# longer run would mostly re-read the same stories. What this run needs first is more distinct
# text (05), then its best checkpoint (05) and, once val turns, regularization (06, 07); the
# doctor and the checklist below say the same. On a slower machine the run takes fewer updates
# in the same budget and reads its text fewer times, and the line above may say "no".
#
# ## 2. What a loss reads like
#
# Every sample below is drawn the same way: from the end-of-text token, at temperature 1, no
# top-k, so each is a fair draw from a model whose val loss is the number beside it (for the
# rungs, nearly: the rung adds a little smoothing to the counts the sample draws from). The first
# three are the ladder's rungs made into writers: uniform (any token, equally likely), unigram
# (tokens as often as they occur in the train split) and bigram (each token drawn from what
# followed the previous one in the train split), all decoded with the run's tokenizer. Then the
# model, at the first eval below each threshold, and at its best.

# %%
import textwrap

V = data.vocab_size
samples = [
    (name, rungs[name], tok.decode(capstone.ngram_sample(data.train, V, order, N_TOKENS, start=tok.eot_id, seed=0)))
    for order, name in enumerate(("uniform", "unigram", "bigram"))
]
recorded = recorder.recorded()
for step in dict.fromkeys(s["step"] for s in recorded):  # one sample per eval, whatever it crossed
    at = [s for s in recorded if s["step"] == step]
    below_these = " and ".join(f"{s['threshold']:g}" for s in at)
    samples.append((f"model at update {step} (first eval at or below {below_these})", at[0]["val_loss"], at[0]["text"]))
best_text = capstone.sample_text(run.model("best"), tok, N_TOKENS, seed=0)
samples.append((f"model, best checkpoint (update {best_step})", best_val, best_text))
crossed = [s["threshold"] for s in recorded]
print(
    "thresholds the run crossed: "
    + (", ".join(f"{x:g}" for x in crossed) or "none")
    + "; not reached: "
    + (", ".join(f"{x:g}" for x in THRESHOLDS if x not in crossed) or "none")
    + f" (best val {best_val:.3f})\n"
)
for name, nats, text in sorted(samples, key=lambda sample: -sample[1]):  # the highest loss first
    print(f"--- {name}: {nats:.2f} nats per token, {lad.bits_per_byte(nats):.3f} bits per byte")
    print(textwrap.fill(" ".join(text.split()), 100) + "\n")

# %% [markdown]
# Read them top to bottom, the loss falling as you go. Uniform is any token at all; unigram
# has the corpus's common tokens in no order; bigram has pairs that fit one after the other and
# sentences that do not; the model's samples are what each printed loss buys on top of that.
# A threshold the run did not reach is listed as such above. Where the student's "val loss 9"
# sits on this ladder is in section 3, in bits per byte: nats of different tokenizers do not
# compare.
#
# ## 3. The ladder, bits per byte, and the doctor
#
# Nats per token depend on the tokenizer: a token of a bigger vocabulary carries more text.
# Bits per byte do not: the val loss times the val tokens, over the val text's bytes (and ln 2).
# The run's meta holds both counts.

# %%
from slmlab.diagnostics import bits_per_byte

meta = h.meta
bpb = bits_per_byte(best_val, meta["n_val_tokens"], meta["val_bytes"])
below = rungs["bigram"] - best_val
side = "below" if below > 0 else "above"
print(lad.as_table())
print(
    f"\nval text: {meta['val_bytes']:,} bytes in {meta['n_val_tokens']:,} tokens "
    f"({meta['val_bytes'] / meta['n_val_tokens']:.2f} bytes per token)"
)
print(f"best val {best_val:.3f} nats per token = {bpb:.4f} bits per byte; {lad.where(best_val)}")
print(
    f"{abs(below):.2f} nats ({abs(lad.bits_per_byte(rungs['bigram']) - bpb):.3f} bits per byte) {side} the bigram rung, "
    f"{rungs['unigram'] - best_val:.2f} below unigram, {rungs['uniform'] - best_val:.2f} below uniform"
)
from slmlab.diagnostics import STUDENT_PUBLISHED

try:  # the same val text in GPT-2's tokens: the student's nats, in this text's bits per byte
    gpt2 = prepare(cfg.replace(tokenizer="gpt2").data).manifest
    student_bpb = bits_per_byte(STUDENT_PUBLISHED[500], gpt2["n_val_tokens"], gpt2["val_bytes"])
    print(
        f"the student's val {STUDENT_PUBLISHED[500]} nats per GPT-2 token, at {gpt2['val_bytes'] / gpt2['n_val_tokens']:.2f} "
        f"bytes per GPT-2 token on this val text: {student_bpb:.3f} bits per byte, against "
        f"{lad.bits_per_byte(rungs['uniform']):.3f} for a uniform guess over this tokenizer's {V:,} tokens"
    )
except Exception:  # GPT-2's files are not on this machine
    print("GPT-2's tokenizer files are not on this machine (SLMLAB_DATA_DIR): no bits per byte for the student's val")
if not lesson.smoke:
    assert below > 0.5, "a healthy run ends well below the bigram rung"
    assert crossed and crossed[0] == THRESHOLDS[0] and all(s["val_loss"] <= s["threshold"] for s in recorded)

# %% [markdown]
# Nats per token do not compare across tokenizers; bits per byte do. Put in this val text's
# bits per byte, the student's "val loss 9" (9.45 nats per GPT-2 token) is 3.293 bits per byte,
# above the 3.018 of a uniform guess over this tokenizer's tokens (the last line above): worse
# than the first sample of section 2. With their GPT-2 tokens it sat between a uniform guess and
# a unigram model (notebook 04).
#
# The doctor reads the run's history against the ladder (notebooks 04 and 10 use it on broken
# runs): each finding names what it saw, with its numbers, and the lesson that teaches the fix.
# A healthy run gets only its place on the ladder. A run cut by its budget while val still
# falls, with train and val together, gets `still_improving`: more time, or a smaller model
# that takes more updates (11). A run whose train has pulled well below val after more than one
# pass over its text gets `memorizing`, even while val still falls: more distinct text first,
# then the best checkpoint and regularization (05, 06, 07), not more time. One whose val has
# turned up gets `overfitting`. Whatever it finds is printed here.

# %%
from slmlab.diagnostics import diagnose, format_findings

findings = diagnose(run, lad)
print(format_findings(findings))
serious = [f for f in findings if f.severity != "info"]
print(f"\n{len(serious)} warning(s) or error(s): " + (", ".join(f.code for f in serious) or "a clean report"))
if not lesson.smoke:
    assert not any(f.severity == "error" for f in findings), "the capstone run should not be broken"

# %% [markdown]
# How far apart would two evals of the same model be? Each eval averages `eval_batches`
# batches; the spread of the per-batch losses of the best model gives one eval's standard
# error (notebook 03, "How noisy is one evaluation?"). The challenge below counts a
# difference smaller than twice that as a tie.

# %%
se = capstone.eval_standard_error(run.model("best"), data, cfg, lesson.device)  # std of the batch losses / sqrt(n)
noise_bpb = 2 * bits_per_byte(se, meta["n_val_tokens"], meta["val_bytes"])
print(
    f"one eval of {t.eval_batches} batches: standard error {se:.4f} nats; a tie is within "
    f"{2 * se:.4f} nats = {noise_bpb:.4f} bits per byte"
)

# %% [markdown]
# ## 4. The checklist for your next run
#
# Every number in it is printed above; each item links the lesson that measured it. First how
# to read a run (count optimizer updates, not loop iterations: the clinic's central lesson),
# then the fixes of notebook 04's answer in its order (the lr; warmup from 0; min_lr below lr
# and the schedule stepped once per update, together with the higher lr; the tokenizer, for
# speed; smaller evals), then what this run's own numbers say. The data item follows the
# doctor: where it says `memorizing`, the run is data-limited and the item says more text
# first; otherwise it says more time. `capstone.next_run_items` writes the items from the run.

# %%
from IPython.display import Markdown

items = capstone.next_run_items(cfg, h, findings, bits_per_byte=bpb, eval_se=se, bigram=rungs.get("bigram"))
display(Markdown(capstone.checklist(items)))

# %% [markdown]
# ## 5. The class challenge: beat this notebook in the same budget
#
# ### Exercise: your config
# Write `my_config(cfg)`: it gets this notebook's config and returns yours, e.g.
# `cfg.replace(n_embd=256)`. Change one thing (or a few), each for a reason an earlier lesson
# measured; the checklist above is a start. The scoring stays the notebook's: the same val text
# (corpus, corpus_bytes, val_fraction and data_seed) and the same evals (eval_interval and
# eval_batches: a run evaluated more often on fewer batches would pick its best from more and
# noisier numbers). The tokenizer, the model, the schedule and the share of the train text are
# yours. Put your name in `NAME`.
#
# `check_capstone` trains your config (with the notebook's time_budget: a bigger one is refused
# as over budget; a cached run loads), prints
# both runs, and says: not attempted, over budget, worse, a tie (within the eval noise printed
# above) or better, in bits per byte. It writes your result, and the notebook's, to a
# leaderboard file (one row per name and config: running again replaces your row); where it is
# in the runs folder is printed below the cell, and your teacher collects those files.

# %%
from slmlab.exercises import check_capstone
from slmlab.paths import runs_dir

NAME = "your name"  # your name on the leaderboard
BOARD = capstone.default_board()  # the leaderboard file (in the runs folder)


def my_config(cfg):
    raise NotImplementedError  # your code here: return cfg.replace(...)


def train_in_budget(c):
    return experiments.run(c, label=NAME, progress=False)


check_capstone(
    my_config,
    base=cfg,
    reference=run,
    train=train_in_budget,
    budget=BUDGET,
    name=NAME,
    board=BOARD,
    tolerance=noise_bpb,
)
print(f"leaderboard file: {BOARD.relative_to(runs_dir())} in the runs folder (print(BOARD) shows where that is)")

# %% [markdown]
# ### For the teacher: the class's leaderboard
# Collect each student's `capstone.jsonl` (in their runs folder, as printed above) and merge them in a terminal:
# `python -m slmlab leaderboard ada.jsonl bob.jsonl ...` (or a folder of them). A student's
# rerun of one config replaces their row; the best row comes first, by bits per byte. The same
# in Python:

# %%
print(capstone.format_leaderboard(capstone.read_leaderboards([BOARD]) if BOARD.is_file() else []))

# %% [markdown]
# ## What we measured
# - One run of the budget preset, ended by its time budget or by max_steps (printed in section
#   1), on the same model and settings the lessons chose; how many times it read its text and
#   how far train pulled below val (section 1); its best val in nats and bits per byte, and its
#   distance below the bigram rung (section 3).
# - What a loss reads like: samples from the ladder's three rungs and from the model at each
#   threshold it crossed, and at its best, drawn the same way (section 2).
# - The student's val 9 in this text's bits per byte, the doctor's report on the run, and the
#   noise of one eval (section 3).
# - A checklist of the course's measurements for your next run (section 4), and a challenge to
#   beat this run in the same budget, with a leaderboard (section 5).
#
# Back to **04 · The val-loss-9 clinic**: its table of claims now has a measurement behind every row.
