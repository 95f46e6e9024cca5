# %% [markdown]
# # 06 · Dropout: where data is scarce, and where it is plenty
#
# The chat answer said: raise dropout from 0.1 to 0.2-0.3 (C4). Dropout zeroes a random
# share `p` of the activations at every training step (and scales the rest by 1/(1-p)), so
# the model cannot lean on any single path; at evaluation it is off. It fights overfitting
# at a price: the model learns more slowly.
#
# What we will measure, in the setup of notebook 05 (same small model, same compute):
# 1. dropout 0 / 0.1 / 0.2 / 0.3 with a tiny share of the data, where the model overfits;
# 2. the same four values with all of the data, where it does not;
# 3. the best val loss and the val-train gap for each, with the seed-to-seed spread;
# 4. the verdict on "raise dropout to 0.2-0.3".

# %%
from slmlab.course import start

# the setup of notebook 05: a small model and short runs (their runs are shared in the cache)
lesson = start("06_dropout", setup="small-sweep")
cfg = lesson.cfg
SCARCE, PLENTY = {"smoke": (0.05, 1.0), "cpu": (0.003, 1.0), "gpu": (0.0003, 1.0)}[lesson.profile]
DROPOUTS = [0.0, 0.1, 0.2, 0.3]
SEEDS = (1337, 2024)
print(f"model {cfg.model.n_layer} layers x {cfg.model.n_embd} wide, {cfg.train.max_steps} updates x "
      f"{cfg.tokens_per_step:,} tokens; data_fraction {SCARCE:g} (scarce) and {PLENTY:g} (plenty)")

# %% [markdown]
# ### Exercise: write dropout
# `my_dropout(x, p, training)`: in training, zero each value with probability `p` and scale
# the kept ones by `1 / (1 - p)`, so the expected value of every activation stays the same;
# in evaluation (`training=False`), return `x` unchanged. This is what `nn.Dropout` does in
# every block of the GPT (on the attention probabilities, the residual branches and the
# embeddings).

# %%
from slmlab.exercises import check_dropout


def my_dropout(x, p, training):
    raise NotImplementedError  # your code here


check_dropout(my_dropout);

# %% [markdown]
# ## 1. The sweep: four dropout values, twice
#
# Dropout 0 and 0.2 with two seeds each (that gives the seed spread), 0.1 and 0.3 with one.
# Runs are cached by config, so the dropout-0 runs of notebook 05 are reused if it ran first.

# %%
from slmlab.data import prepare
from slmlab.diagnostics import ladder
from slmlab.experiments import sweep

lad = ladder(prepare(cfg.data))
scarce_data = prepare(cfg.replace(data_fraction=SCARCE).data)
scarce_bigram = ladder(scarce_data).to_dict()["bigram"]  # a bigram table counted on the scarce text only
runs = {}
for name, frac in (("scarce", SCARCE), ("plenty", PLENTY)):
    c = cfg.replace(data_fraction=frac)
    runs[name] = (sweep(c, "dropout", [0.0, 0.2], seeds=SEEDS) + sweep(c, "dropout", [0.1, 0.3]))
    for r in runs[name]:
        (step, best), last = r.history.best_val(), r.history.evals[-1]
        print(f"{name:6} {r.label:24} best val {best:.3f} at step {step:>4}   final: train "
              f"{last['train_loss']:.3f}  val {last['val_loss']:.3f}  gap {last['val_loss'] - last['train_loss']:.3f}")
rungs = lad.to_dict()
bigram = rungs["bigram"]
for name in runs:
    top = min(runs[name], key=lambda r: r.history.best_val()[1])
    v = top.history.best_val()[1]
    side = "below" if v < bigram else "above"
    print(f"{name}: best run {top.label}, best val {v:.3f}: {abs(bigram - v):.3f} nats, "
          f"{abs(lad.bits_per_byte(bigram) - lad.bits_per_byte(v)):.3f} bits per byte {side} the bigram rung ({bigram:.3f})")
print(f"a bigram table counted on the scarce text alone: {scarce_bigram:.3f} on val")

# %% [markdown]
# Where these runs sit on the ladder (the last lines above). With plenty of data only dropout
# 0 ends below the bigram rung, and only just; every dropout above 0 ends above it. With
# scarce data every run's best val is 2.1 nats or more above the bigram rung counted on all the
# training text, and close to a bigram table counted on the scarce text itself (1,793 tokens):
# the model has learned about as much as its text allows a pair table to. So this notebook
# measures dropout on models that have learned little more than token pairs; whether a model
# well below bigram gains from dropout is not measured here.

# %%
from slmlab import plots


def seed0(name):
    return sorted((r for r in runs[name] if r.config.train.seed == SEEDS[0]), key=lambda r: r.config.model.dropout)


plots.curves({f"dropout {r.config.model.dropout:g}": r for r in seed0("scarce")[::3]}, ladder=lad,
             title=f"scarce data ({SCARCE:g}): dropout 0 vs 0.3")

# %% [markdown]
# With scarce data, dropout slows the memorization: the train loss falls less far (the
# final gaps are in the verdict below).
#
# **Why two train curves of the dropout-0.3 run end far apart.** The line ("train, smoothed")
# is the loss the trainer gets from each update's forward pass, in training mode: dropout is
# on, a share 0.3 of the activations is zeroed. The hollow markers ("train, at eval") come
# from `Trainer.evaluate()`, which runs `evaluate_loss` in eval mode: dropout off, the whole
# network used. Same weights, two losses. The next cell measures both on the same fixed
# train batches with the last weights of the run, and compares them with the trainer's records:

# %%
import torch

from slmlab.data import BatchSampler
from slmlab.history import smooth
from slmlab.train import EVAL_SEED, evaluate_loss

T, B, N = cfg.model.block_size, cfg.train.micro_batch_size, cfg.train.eval_batches


def train_loss_dropout_on(model, tokens):
    """evaluate_loss's batches, but in training mode: dropout active, as in a training step."""
    sampler = BatchSampler(tokens, T, B, seed=EVAL_SEED)
    torch.manual_seed(0)  # the dropout masks
    model.train()
    with torch.no_grad(), lesson.device.autocast():
        losses = [model(*sampler.next())[1].float().item() for _ in range(N)]
    model.eval()
    return sum(losses) / N


for r in seed0("scarce")[::3]:  # dropout 0 and 0.3
    m = r.model("ckpt")  # the weights at the last step
    off = evaluate_loss(m, scarce_data.train, T, B, N, lesson.device)
    on = train_loss_dropout_on(m, scarce_data.train)
    ema = smooth([x["loss"] for x in r.history.steps])[-1]
    print(f"dropout {r.config.model.dropout:g}: same weights, same batches: dropout off {off:.3f}, on {on:.3f} "
          f"({on - off:+.3f}) | recorded: train at eval {r.history.evals[-1]['train_loss']:.3f}, "
          f"train (smoothed) {ema:.3f}")

# %% [markdown]
# With dropout 0.3 the same weights score about 0.45 nats worse with dropout on than off,
# on the same batches: that is the distance between the two curves, and the trainer's two
# records match the two measurements. With dropout 0 the two ways agree, and the curves differ
# only by the smoothing's lag (notebook 05). This is how dropout "shrinks the gap": the model
# is trained on its own crippled copy, so the full network fits the training text less
# closely. Note what the gap in the verdict uses: the train loss at eval, dropout off.
#
# Val loss of every dropout value, both settings:

# %%
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
for ax, name in zip(axes, ("scarce", "plenty")):
    plots.overlay(seed0(name), "val_loss", label_by="dropout", ax=ax, ladder=lad, title=f"{name} data: val loss")
plt.close(fig)
fig

# %% [markdown]
# On the full ladder the differences between dropout values are small. The next figure
# zooms on the best val loss of each run (both seeds where there are two), with the one rung
# that falls inside each panel: for scarce data "own bigram", the bigram table counted on the
# scarce text (printed in section 1), for plenty the bigram rung.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
for ax, name in zip(axes, ("scarce", "plenty")):
    rung = {"own bigram": scarce_bigram} if name == "scarce" else {"bigram": bigram}
    plots.isolation(runs[name], "dropout", "best_val", ax=ax, ladder=rung, title=f"{name} data: best val loss")
plt.close(fig)
fig

# %% [markdown]
# The best val loss rises with dropout in both settings, much faster with plenty of data.
# The gap at the end of each run (val minus train at eval, a difference of two losses, so no
# ladder) falls with dropout where the model overfits:

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
for ax, name in zip(axes, ("scarce", "plenty")):
    plots.isolation(runs[name], "dropout", "gap", ax=ax, title=f"{name} data: final val - train gap")
plt.close(fig)
fig

# %% [markdown]
# ## 2. Try it: the dashboard
#
# Sliders for dropout and its neighbours: the data fraction and weight decay (the other
# regularizer, notebook 07). **Train** launches a new run and overlays it on the scarce sweep.
# Below we drive it from code with a dropout the sweep did not have.

# %%
from slmlab.widgets import Dashboard

dash = Dashboard(cfg.replace(data_fraction=SCARCE),
                 sliders={"dropout": (0.0, 0.6, 0.1), "data_fraction": [SCARCE, 0.01, 0.1, PLENTY],
                          "weight_decay": [0.0, 0.1, 0.3, 1.0]},
                 ladder=lad, runs=seed0("scarce"), title="dropout")
dash

# %%
dash.set(dropout=0.5).start(block=True)
print(dash.status)
display(dash.figure())

# %% [markdown]
# *The live widget (sliders, buttons, a figure redrawn as the run trains) appears when the
# notebook runs; a saved copy shows it only as a line of text, so the picture above is
# `dash.figure()`: what the dashboard showed at the end of this run.*

# %%
dash_best = dash.last_run.history.best_val()[1]
print("best val, scarce data, first seed: " + ", ".join(
    f"dropout {r.config.model.dropout:g} {r.history.best_val()[1]:.3f}"
    for r in sorted(dash.runs, key=lambda r: r.config.model.dropout)))
print(f"dropout 0.5 vs 0: {dash_best - seed0('scarce')[0].history.best_val()[1]:+.3f} nats")
plots.overlay(dash.runs, "val_loss", label_by="dropout", ladder=lad, title="scarce sweep + your run")

# %% [markdown]
# Dropout 0.5 (one seed) continues the trend of the sweep: its best val loss is the highest
# of all, about 0.45 nats above dropout 0 (printed above).

# %% [markdown]
# ## 3. Verdict on C4, "raise dropout to 0.2-0.3"
#
# For each setting: the best val loss at dropout 0.2-0.3 against dropout 0 (and the 0.1 the
# student's notebook used), with the largest difference between two seeds of the same
# config as the yardstick.

# %%
from slmlab.experiments import effect

best = {name: effect(rs, "dropout") for name, rs in runs.items()}  # best val per dropout, over seeds
final = {name: effect(rs, "dropout", "final_val") for name, rs in runs.items()}
gap_of = {name: effect(rs, "dropout", "gap") for name, rs in runs.items()}  # final val - train


def gap(name, p):
    return gap_of[name].mean(p)


def verdict(e):  # the sign of an effect on best val, when it is more than twice the seed spread
    return "better" if e > 2 * spread else "worse" if e < -2 * spread else "no different (within 2x the seed spread)"


spread = max(e.spread for e in best.values())  # the largest seed-to-seed difference, both settings
gain, gain_final = {}, {}
for name in runs:
    b, f = best[name], final[name]
    gain[name] = b.mean(0.0) - b.mean(b.best([0.2, 0.3]))  # > 0: dropout 0.2-0.3 helps the best val
    gain_final[name] = f.mean(0.0) - f.mean(f.best([0.2, 0.3]))  # > 0: helps the last val
    print(f"{name:6} best val  " + "  ".join(f"p={p:g}: {b.mean(p):.3f}" for p in DROPOUTS)
          + f"   | 0.2-0.3 vs 0: {gain[name]:+.3f} nats; vs 0.1: {b.mean(0.1) - b.mean(b.best([0.2, 0.3])):+.3f}")
    print(f"{'':6} final val " + "  ".join(f"p={p:g}: {f.mean(p):.3f}" for p in DROPOUTS)
          + f"   | 0.2-0.3 vs 0: {gain_final[name]:+.3f} nats")
    print(f"{'':6} final gap " + "  ".join(f"p={p:g}: {gap(name, p):.3f}" for p in DROPOUTS))
print(f"largest seed-to-seed difference: {spread:.3f} nats")
print(f"C4 'raise dropout to 0.2-0.3': best val {verdict(gain['scarce'])} with scarce data "
      f"({gain['scarce']:+.3f}), {verdict(gain['plenty'])} with plenty ({gain['plenty']:+.3f}); "
      f"the scarce gap shrinks {gap('scarce', 0.0):.2f} -> {gap('scarce', 0.3):.2f}")
print(f"margin of the scarce 'worse': {-gain['scarce'] - 2 * spread:.3f} nats beyond 2x the seed spread "
      f"({2 * spread:.3f})")

# %% [markdown]
# The asserts below check, in the cpu profile, what the cpu run found, with the seed spread as
# the yardstick. On another CPU, dtype or seed your numbers will differ a little: if an assert
# fails, read the printed lines above instead; the third one is the closest call (the margin
# just printed), and "worse" there may read "no different" on your machine.

# %%
if lesson.profile == "cpu":  # what held in the cpu run, with the seed spread as the yardstick
    assert gap("scarce", 0.3) < gap("scarce", 0.0) - 2 * spread, "dropout should shrink the val-train gap"
    assert gain["plenty"] < -2 * spread, "with plenty of data, dropout 0.2-0.3 should cost val loss"
    assert gain["scarce"] < 2 * spread, "with scarce data, dropout 0.2-0.3 gave no clear gain in best val"
elif not lesson.smoke:  # gpu: a bigger model on other data. Assert only what holds in general, not the
    # cpu outcome restated: dropout shrinks the gap where the model overfits, and does not help
    # where nothing overfits. Whether it helps the best val with scarce data is left open here.
    assert gap("scarce", 0.3) < gap("scarce", 0.0) - 2 * spread, "dropout should shrink the val-train gap"
    assert gain["plenty"] < 2 * spread, "with plenty of data, dropout 0.2-0.3 should not improve best val"

# %% [markdown]
# ## What we measured
# - **The gap shrinks, the val loss does not improve.** With scarce data (171 epochs),
#   dropout 0.3 cut the final val-train gap by about a fifth (4.47 -> 3.50), but mostly by
#   raising the train loss: the best val loss got *worse* as dropout rose, by 0.138 nats at
#   0.2 (4.219 -> 4.357) and 0.239 at 0.3 (4.219 -> 4.458), because dropout also slows the
#   learning that happens before the overfitting.
#   The final val loss (no early stopping) barely moved: 4.725 at dropout 0, 4.692 and
#   4.699 at 0.2 and 0.3, a gain of 0.033 nats, inside the largest seed-to-seed difference
#   (0.061). The "worse" at scarce data is a close call: 0.138 nats is only about 0.017
#   beyond twice that difference (the margin printed in the verdict).
# - **With plenty of data, dropout only costs.** Nothing overfits in 0.6 epochs, and every
#   step of dropout made the best val worse (about 0.4 nats at 0.2, 0.7 at 0.3), and only
#   dropout 0 ended below the bigram rung (by 0.117 nats, 0.051 bits per byte; section 1).
# - **C4, "raise dropout from 0.1 to 0.2-0.3": does not hold at this scale.** It treats a
#   symptom (the gap) and pays for it in val loss. It is also beside the point for the
#   student: their run at val 9 was not overfitting at all (notebook 04), and for a model
#   that has not seen its data even once, dropout is a brake. More data (05) and early
#   stopping (05) did more for the scarce case here than any dropout value.
# - Not measured here: whether a bigger model on scarce data gains from dropout. This
#   2-layer, 64-wide model is small, and this notebook did not vary the model's size.
#
# Next: **07 · Weight decay** — the third regularizer the chat answer named.
