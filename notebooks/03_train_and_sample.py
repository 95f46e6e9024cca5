# %% [markdown]
# # 03 · Train and sample
#
# A training loop is a dozen lines: draw a batch, run the model forward to a loss, backpropagate,
# clip the gradient, take an optimizer step, set the learning rate from the schedule, and evaluate
# now and then. The student's notebook got four of those lines wrong (notebook 04 finds them).
# Here you read the loop in one cell, built from slmlab's pieces, check that it trains exactly
# as slmlab's `Trainer` does, and then use the Trainer for a real run.
#
# What we will measure:
# 1. one batch, decoded: the targets are the inputs shifted by one token;
# 2. which parameters AdamW decays, and the learning-rate schedule per optimizer update;
# 3. the loop, in a cell you can read, against the Trainer: the same loss at every update;
# 4. (exercise) what a 10x smaller or larger learning rate does to this loop, predicted first;
# 5. the first health checks of any new model: loss at init, and memorizing one batch;
# 6. a real run with the live dashboard, its curve on the loss ladder, and how noisy its
#    evaluation is;
# 7. a stop and an exact resume, and samples at several temperatures.
#
# Everything here uses the profile's corpus: the synthetic stories of notebook 00, whose
# ladder ends at an exact entropy floor.

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

lesson = start("03_train_and_sample")
cfg = lesson.cfg

# %% [markdown]
# ## 1. One batch, decoded
#
# A language model learns to predict the next token. `BatchSampler` cuts random windows of
# `block_size + 1` tokens out of the training split; the first `block_size` are the input `x`,
# the last `block_size` the targets `y`. So at every position t the target is the token that
# comes next, and one window of T tokens holds T training examples, each with a longer context.

# %%
import torch

from slmlab.data import BatchSampler, prepare

data = prepare(cfg.data)
cfg = cfg.replace(vocab_size=data.vocab_size)
tok = data.tokenizer
x, y = BatchSampler(data.train, cfg.model.block_size, cfg.train.micro_batch_size, seed=0).next()
print(f"x {tuple(x.shape)} and y {tuple(y.shape)}: (micro_batch_size, block_size) token ids")
print("x[0, :10] =", x[0, :10].tolist())
print("y[0, :10] =", y[0, :10].tolist())
print(f"y is x shifted left by one: {torch.equal(y[:, :-1], x[:, 1:])}\n")
for t in range(6):
    print(f"context {tok.decode(x[0, : t + 1].tolist())!r:42} -> target {tok.decode([y[0, t].item()])!r}")

# %% [markdown]
# ## 2. AdamW and its decay groups
#
# Weight decay pulls weights toward zero each step. It makes sense for the big matrices
# (it limits their scale), not for LayerNorm gains (decaying them toward 0 fights the
# normalization) or biases. slmlab puts every tensor with 2 or more dimensions in the
# decayed group and the rest in a group with decay 0. The student's notebook decayed
# **every** parameter (notebook 07 measures what that does).

# %%
from slmlab.model import GPT
from slmlab.train import configure_optimizer, decay_groups

model = GPT(cfg.model)
decay, no_decay = decay_groups(model)
names = {id(p): ".".join(n.split(".")[-2:]) for n, p in model.named_parameters()}
print(f"decayed     ({sum(p.numel() for p in decay):>9,} params):", sorted({names[id(p)] for p in decay}))
print(f"not decayed ({sum(p.numel() for p in no_decay):>9,} params):", sorted({names[id(p)] for p in no_decay}))
opt = configure_optimizer(model, cfg.train, lesson.device)
print([(len(g["params"]), g["weight_decay"]) for g in opt.param_groups], "(tensors, weight_decay) per group")

# %% [markdown]
# ### The learning-rate schedule, per optimizer update
#
# The lr rises linearly from near 0 over `warmup_steps` updates, then follows a cosine down
# to `min_lr` at `max_steps`. The usual reason given for warmup is that Adam's second-moment
# estimates are poor for the first steps, so it should take small steps while they settle.
# Notebook 08 (section 4) measures warmup at a too-high lr and tells another story: no run
# there had a loss spike, with or without warmup, and warmup did not consistently shrink the
# largest gradient norms; what it bought was a start that does not stall (with 60 updates of
# warmup, an lr three times the best trained to below bigram). **Steps are optimizer
# updates**: with `grad_accum_steps=4`, one step is four forward/backward passes, and the
# schedule moves once. The student's scheduler moved on every micro-step (notebook 04 shows
# what that did).
#
# ### Exercise: write the schedule
# `my_lr(step, lr, min_lr, warmup_steps, max_steps)`: linear warmup `lr * (step + 1) /
# (warmup_steps + 1)` for step < warmup_steps, then a cosine from lr (at warmup_steps)
# to min_lr (at max_steps), and min_lr after that.

# %%
from slmlab.exercises import check_lr_schedule


def my_lr(step, lr, min_lr, warmup_steps, max_steps):
    raise NotImplementedError  # your code here


check_lr_schedule(my_lr);

# %%
from slmlab import plots
from slmlab.train import lr_at

t = cfg.train
per_update = [lr_at(s, t) for s in range(t.max_steps + 1)]
display(
    plots.schedule(
        {f"warmup {t.warmup_steps} + cosine to min_lr ({t.max_steps} updates)": per_update},
        marks={"lr": t.lr, "min_lr": t.min_lr},
    )
)
print(
    f"step 0: {per_update[0]:.2e}, step {t.warmup_steps}: {per_update[t.warmup_steps]:.2e}, "
    f"step {t.max_steps}: {per_update[-1]:.2e}"
)

# %% [markdown]
# ## 3. The training loop
#
# Here is the whole loop, from slmlab's pieces: the model, the batch sampler, the optimizer
# with its decay groups, the schedule `lr_at`, PyTorch's `clip_grad_norm_`, and
# `evaluate_loss` (the mean loss on `eval_batches` fixed batches, in eval mode). Read it top to
# bottom: every line is one of the steps named at the top of this notebook.

# %%
import math

from torch.nn.utils import clip_grad_norm_

from slmlab.train import evaluate_loss


def train_loop(c, data, device):
    """Train a GPT for c.train.max_steps updates; return it and one record per update."""
    m, t = c.model, c.train
    torch.manual_seed(t.seed)  # the init (and dropout masks) depend on this seed
    model = GPT(m)
    opt = configure_optimizer(model, t, device)  # AdamW with its two decay groups
    batches = BatchSampler(data.train, m.block_size, t.micro_batch_size, t.seed)
    log = []
    for step in range(t.max_steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, t)  # the schedule moves once per update
        x, y = batches.next()  # (B, T), (B, T)
        with device.autocast():  # bf16 where the CPU has it, else fp32
            _, loss = model(x, y)  # forward, and the cross-entropy against y
        loss.backward()  # gradients
        norm = clip_grad_norm_(model.parameters(), t.grad_clip or math.inf)  # total norm, before clipping
        opt.step()  # the update
        opt.zero_grad(set_to_none=True)
        rec = {"step": step + 1, "loss": loss.item(), "grad_norm": norm.item()}
        if (step + 1) % t.eval_interval == 0:
            rec["val_loss"] = evaluate_loss(model, data.val, m.block_size, t.micro_batch_size, t.eval_batches, device)
        log.append(rec)
    return model, log


# %% [markdown]
# Two things the student's setup needs and this loop leaves out, because the Trainer does
# them: with `grad_accum_steps = k` the forward and backward run k times per update, each loss
# divided by k so the gradients add up to a mean (notebook 09 measures it); and with fp16 a
# GradScaler multiplies the loss by a large factor (e.g. 65,536) so small gradients do not
# underflow, and the Trainer calls `scaler.unscale_(optimizer)` **before** clipping. The
# student's notebook clipped the scaled gradient at 0.5: its norm is the true norm times the
# scale, so the clip fires on every step whatever the true gradient is. This notebook does not
# measure that (a CPU has no fp16 training); `tests/test_train.py::test_clipping_sees_the_unscaled_gradient`
# checks it.
#
# Now 40 updates of our loop, and the same config through slmlab's `train()`:

# %%
from slmlab.diagnostics import ladder
from slmlab.train import train

lad = ladder(data)  # notebook 00's loss ladder for this corpus and tokenizer
loop_cfg = cfg.replace(max_steps=40, warmup_steps=10, eval_interval=20, eval_batches=10)
model, log = train_loop(loop_cfg, data, lesson.device)
h = train(loop_cfg, data=data, progress=False)
diff = max(abs(ours["loss"] - theirs["loss"]) for ours, theirs in zip(log, h.steps, strict=True))
val_diff = max(
    abs(ours["val_loss"] - theirs["val_loss"])
    for ours, theirs in zip([r for r in log if "val_loss" in r], h.evals, strict=True)
)
print(
    f"our loop, {len(log)} updates: loss {log[0]['loss']:.3f} -> {log[-1]['loss']:.3f}, "
    f"val at step {log[-1]['step']}: {log[-1]['val_loss']:.3f}"
)
print(
    f"grad norm before clipping: {log[0]['grad_norm']:.2f} at step 1, max {max(r['grad_norm'] for r in log):.2f}; "
    f"clipped at {loop_cfg.train.grad_clip} on {sum(r['grad_norm'] > loop_cfg.train.grad_clip for r in log)} "
    f"of {len(log)} updates"
)
print(
    f"our loop vs the Trainer: largest |difference| in loss over {len(log)} updates {diff:.1e}, "
    f"in val loss {val_diff:.1e}"
)
assert diff < 1e-6 and val_diff < 1e-6
print("the ladder's rungs:", ", ".join(f"{r.name} {r.nats:.2f}" for r in lad.rungs))

# %% [markdown]
# The two agree to the last bit, because they run the same operations in the same order: the
# same seed before the model is built, the same batches, the same fused AdamW, the same lr at
# each update. The Trainer adds what a long run needs around those lines: gradient
# accumulation, the GradScaler, callbacks (progress bars, early stopping, the dashboard), a
# history of every update, checkpoints, and fewer host syncs (it reads the loss every
# `log_interval` updates instead of every update). From here on we train with it.
#
# ### Exercise: predict, then run
# The loop above ran 40 updates at lr 2e-3 (10 of them warmup). What will the val loss at
# step 40 be with a learning rate **10x smaller** (2e-4) and **10x larger** (2e-2), everything
# else the same? Write your two numbers **before** you run the cell; the check then trains
# both with `train_loop` and prints your numbers beside the measured ones (within 0.5 nats
# counts as right; a wrong guess is told on which side of the 2e-3 run it and the measurement
# fell). Hints: how far the 2e-3 run got in 40 updates and the ladder's rungs, printed above;
# Adam moves each weight by roughly lr per update, whatever the size of its gradient; and the
# weights start at a scale of about 0.02 (notebook 02).

# %%
from slmlab.exercises import check_prediction

prediction = {2e-4: None, 2e-2: None}  # lr -> your val loss at step 40, e.g. {2e-4: 5.0, 2e-2: 3.0}


def val_at_40(lr):
    return train_loop(loop_cfg.replace(lr=lr, min_lr=lr / 10), data, lesson.device)[1][-1]["val_loss"]


check_prediction(prediction, val_at_40, baseline=(loop_cfg.train.lr, log[-1]["val_loss"]), setting="lr");

# %% [markdown]
# ## 4. Health checks before a long run
#
# Two checks cost seconds and catch most wiring bugs. At init the model should be a uniform
# guess, loss ≈ ln V (notebook 00). And it should be able to **memorize** one small batch: if
# it cannot drive the loss on one batch toward zero, something is wired wrong (targets not
# shifted, a broken mask, a frozen optimizer).

# %%
import matplotlib.pyplot as plt

from slmlab.diagnostics import loss_at_init, overfit_one_batch

init = loss_at_init(cfg, data)
print(init.message)
fit = overfit_one_batch(cfg, data, steps=60 if lesson.smoke else 150)
print(fit.message)
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(fit.losses)
ax.set(xlabel="step (same batch every time)", ylabel="loss", title="overfitting one batch", yscale="log")
plt.show()

# %% [markdown]
# ## 5. A real run, with the live dashboard
#
# The dashboard trains in a background thread: move the sliders, press **Train**, watch the
# curves; **Stop** ends a run cleanly with a checkpoint. Runs are cached by config on disk,
# so pressing Train again with the same values loads the finished run instantly. The next
# cell drives the same dashboard from code, so the notebook runs top to bottom. The run is
# the profile's model for 400 updates, evaluated every 50. (With Tiny Shakespeare on disk,
# `preset("speedrun")` is the course's race against nanoGPT's CPU recipe:
# `python -m slmlab bench --targets speedrun` runs it and RESULTS.md records it; this notebook
# does not run it.)

# %%
from slmlab.widgets import Dashboard

watch = cfg if lesson.smoke else cfg.replace(max_steps=400, warmup_steps=40, eval_interval=50)
dash = Dashboard(
    watch,
    sliders={"lr": [5e-4, 1e-3, 2e-3, 4e-3], "max_steps": [watch.train.max_steps, 2 * watch.train.max_steps]},
    ladder=lad,
    title=f"Train a GPT ({watch.data.corpus}, {watch.data.tokenizer})",
)
dash

# %%
dash.start(block=True)
first = dash.last_run
h = first.history
print(dash.status)
epochs = h.steps[-1]["tokens"] / h.meta["n_train_tokens"]
print(
    f"{h.meta['n_params']:,} parameters, {len(h.steps)} updates x {h.meta['tokens_per_step']:,} tokens "
    f"= {epochs:.1f} passes over the {h.meta['n_train_tokens']:,} train tokens, in {h.meta['seconds']:.0f} s"
)
rungs = lad.to_dict()
under = next((r["step"] for r in h.steps if r["loss"] < rungs["unigram"]), None)
print(
    f"train loss: {h.steps[0]['loss']:.2f} at update 1 (uniform {rungs['uniform']:.2f}), "
    f"first below the unigram rung at update {under}"
)
print("val at each eval:", ", ".join(f"{e['step']}: {e['val_loss']:.2f}" for e in h.evals))
below = next((e for e in h.evals if e["val_loss"] < rungs["bigram"]), None)
print("first eval below the bigram rung:", f"step {below['step']}" if below else "none")
last = h.evals[-1]
print(
    f"last eval: train {last['train_loss']:.3f}, val {last['val_loss']:.3f} "
    f"({lad.bits_per_byte(last['val_loss']):.3f} bits per byte), gap {last['val_loss'] - last['train_loss']:.3f}"
)
print(
    f"val {lad.where(last['val_loss'])}: {rungs['bigram'] - last['val_loss']:.2f} nats below bigram, "
    f"{last['val_loss'] - rungs.get('entropy floor', 0.0):.2f} above the floor"
)
display(dash.figure())

# %% [markdown]
# *The live widget (sliders, buttons, a figure redrawn as the run trains) appears when the
# notebook runs; a saved copy shows it only as a line of text, so the picture above is
# `dash.figure()`: what the dashboard showed at the end of this run.*
#
# Left, the run: the train loss at every update (smoothed), the train and val loss at each
# eval, and the ladder's rungs. The train loss starts at the uniform rung (a uniform guess)
# and is below the unigram rung by update 23: the model has learned which tokens are common.
# The val curve, one point every 50 updates, is below unigram at its first eval and first
# below the bigram rung at step 150: from there it predicts better than a table of which token
# follows which. It ends at 0.716, 1.40 nats below bigram and 0.51 above the entropy floor
# (0.312 bits per byte). Train and val at each eval are measured the same way (eval mode,
# fixed batches) and end 0.029 apart: after 1.5 passes over the data the model has not started
# to memorize it (notebook 05 trains long enough to see that). Right: the val loss of every
# run this dashboard has made (one so far).
#
# ### How noisy is one evaluation?
#
# Each eval averages `eval_batches` batches, so the val loss it reports is an estimate. We
# measure how far that estimate moves with the batches it happens to draw, on the trained
# model: the loss of 160 val batches, split into groups of 1, 4 or 16 batches.

# %%
import numpy as np

from slmlab.train import eval_batch_losses

trained = first.model()
T, B = watch.model.block_size, watch.train.micro_batch_size
pool = eval_batch_losses(trained, data.val, T, B, 16 if lesson.smoke else 160, lesson.device, seed=0).numpy()
sd1 = pool.std(ddof=1)
for n in (1, 4, 16):
    means = pool[: len(pool) // n * n].reshape(-1, n).mean(axis=1)
    measured = f"{means.std(ddof=1):.4f}" if len(means) > 1 else "-"
    print(
        f"eval_batches={n:3}: spread of {len(means):3} evals {measured}; "
        f"if the batches were independent, {sd1 / np.sqrt(n):.4f}"
    )
spread = sd1 / np.sqrt(watch.train.eval_batches)
moved = abs(h.evals[-1]["val_loss"] - h.evals[-2]["val_loss"])
print(
    f"at this run's eval_batches={watch.train.eval_batches}: about {spread:.3f}; the last two evals "
    f"differed by {moved:.3f}, {moved / spread:.0f} times that"
)

# %% [markdown]
# The spread of a mean of n independent batches falls as 1/√n, and the measured spreads
# follow it: 0.029 for one batch, 0.014 for 4, 0.007 for 16 (with 10 groups of 16, that last
# value is itself uncertain by about a quarter). At the run's 20 batches an eval is good to
# about 0.006, so the 0.044 the val loss fell between the last two evals is the model still
# learning, not noise. This spread is how far one eval can sit from the loss on the whole val
# split. slmlab evaluates every run on the **same** fixed batches (`EVAL_SEED`), so two runs
# compared on them share most of that error; two runs that differ only in their seed differ by
# more, and notebook 08 measures that.
#
# ## 6. Stop, and resume exactly
#
# The Trainer calls **callbacks** at fixed points of each update: `on_train_start`,
# `on_step_start` (after the schedule set the lr), `on_after_backward`, `on_update`, `on_log`,
# `on_eval`, `on_train_end`. A callback is a class with the hooks it needs; the dashboard's
# Stop button, early stopping and the progress bar are all callbacks. `StopAt` below (a stock
# callback of slmlab.callbacks: its `on_update` calls `trainer.request_stop()` when
# `trainer.step` reaches the given update) asks the Trainer to stop there, as Stop does.
#
# A checkpoint holds the model, the optimizer's moments, the GradScaler, the step, the
# random-number states and the position of the batch sampler. Resuming from it continues
# **exactly** as if the run had never stopped: same batches, same dropout masks, same losses.

# %%
import tempfile

from slmlab.callbacks import StopAt

short = cfg.replace(max_steps=30 if lesson.smoke else 40, eval_interval=10, eval_batches=2, dropout=0.1, warmup_steps=5)
folder = tempfile.mkdtemp()
whole = train(short, data=data, progress=False)
stopped = train(short, data=data, progress=False, out_dir=folder, callbacks=[StopAt(short.train.max_steps // 2)])
resumed = train(None, resume=folder, data=data, progress=False)
same = [a["loss"] for a in whole.steps] == [b["loss"] for b in resumed.steps]
print(
    f"stopped at step {len(stopped.steps)} ({stopped.stop_reason}), resumed to {len(resumed.steps)}; "
    f"every loss identical to the uninterrupted run: {same}"
)
assert same

# %% [markdown]
# ## 7. Sampling: temperature and top-k
#
# The model outputs a probability for every next token. **Temperature** divides the logits
# before the softmax: below 1 sharpens toward the likeliest token (safe, repetitive), above 1
# flattens (varied, then nonsense). **Top-k** keeps only the k likeliest tokens. Same model
# (the dashboard's run), same prompt (the end-of-text token, so a story starts), same seed:

# %%
prompt = torch.tensor([[tok.eot_id]])
for temperature, top_k in [(0.0, None), (0.7, 50), (1.0, None), (1.5, None)]:
    out = trained.generate(prompt, 60, temperature=temperature, top_k=top_k, generator=torch.Generator().manual_seed(0))
    text = tok.decode(out[0, 1:].tolist()).replace("\n", " ")
    print(f"--- temperature {temperature}, top_k {top_k}:\n{text[:300]}\n")

# %% [markdown]
# ## What we measured
# - One batch: the targets are the inputs shifted by one token.
# - Decay groups: matrices and embeddings decay, norms don't; the schedule per update.
# - The loop in one cell, and that slmlab's Trainer gives the same loss at every update (to the
#   last bit).
# - The model starts at ln V and can memorize one batch.
# - A real run: its train loss through the unigram rung and its val loss through the bigram rung,
#   ending between bigram and the entropy floor; one eval's noise, falling as 1/√(eval_batches);
#   and an exact resume.
#
# Next: **04 · The val-loss-9 clinic**: the student's run, diagnosed.
