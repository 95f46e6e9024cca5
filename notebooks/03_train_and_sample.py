# %% [markdown]
# # 03 · Train and sample
#
# The training loop is twenty lines, and the student's notebook got four of them wrong.
# Here we take slmlab's loop (`slmlab/train.py`) apart piece by piece, measure each piece,
# then train a real model with a live dashboard, stop it, resume it exactly, and sample
# from it.
#
# What we will measure:
# 1. which parameters AdamW decays, and the learning-rate schedule per optimizer update;
# 2. that 4 micro-batches of B/4 give the same gradient as one batch of B;
# 3. how noisy an evaluation is with few batches (`eval_batches`) vs many;
# 4. that the model can memorize one batch (the first health check of any new model);
# 5. a real run, a stop and an exact resume, and samples at several temperatures.

# %%
from slmlab.course import start

lesson = start("03_train_and_sample")
cfg = lesson.cfg

# %% [markdown]
# ## 1. AdamW and its decay groups
#
# Weight decay pulls weights toward zero each step. It makes sense for the big matrices
# (it limits their scale), not for LayerNorm gains (decaying them toward 0 fights the
# normalization) or biases. slmlab puts every tensor with 2 or more dimensions in the
# decayed group and the rest in a group with decay 0. The student's notebook decayed
# **every** parameter.

# %%
import torch

from slmlab.config import preset
from slmlab.data import prepare
from slmlab.device import setup
from slmlab.model import GPT
from slmlab.train import configure_optimizer, decay_groups

data = prepare(cfg.data)
cfg = cfg.replace(vocab_size=data.vocab_size)
model = GPT(cfg.model)
decay, no_decay = decay_groups(model)
names = {id(p): n for n, p in model.named_parameters()}
print(f"decayed     ({sum(p.numel() for p in decay):>9,} params):", sorted({names[id(p)].split('.')[-2] + '.' + names[id(p)].split('.')[-1] for p in decay}))
print(f"not decayed ({sum(p.numel() for p in no_decay):>9,} params):", sorted({names[id(p)].split('.')[-2] + '.' + names[id(p)].split('.')[-1] for p in no_decay}))
opt = configure_optimizer(model, cfg.train, setup("cpu"))
print([(len(g["params"]), g["weight_decay"]) for g in opt.param_groups], "(tensors, weight_decay) per group")

# %% [markdown]
# ## 2. The learning-rate schedule, per optimizer update
#
# The lr rises linearly from near 0 over `warmup_steps` updates (Adam's second-moment
# estimates are poor for the first steps; small steps while they settle), then follows a
# cosine down to `min_lr` at `max_steps`. **Steps are optimizer updates**: with
# `grad_accum_steps=4`, one step is four forward/backward passes, and the schedule moves
# once. The student's scheduler moved on every micro-step (notebook 04 shows what that did).

# %% [markdown]
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
display(plots.schedule({f"warmup {t.warmup_steps} + cosine to min_lr ({t.max_steps} updates)": per_update},
                       marks={"lr": t.lr, "min_lr": t.min_lr}))
print(f"step 0: {per_update[0]:.2e}, step {t.warmup_steps}: {per_update[t.warmup_steps]:.2e}, "
      f"step {t.max_steps}: {per_update[-1]:.2e}")

# %% [markdown]
# ## 3. Gradient accumulation: the loss must be divided
#
# When one batch does not fit in memory, we split it into k micro-batches, backpropagate
# each, and step once. Gradients **add up** across backward calls, so each micro-batch loss
# is divided by k to get the mean — otherwise the gradient is k times too large. We check
# it on one fixed batch:

# %%
g = torch.Generator().manual_seed(0)
x = torch.randint(0, data.vocab_size, (8, cfg.model.block_size), generator=g)
y = torch.randint(0, data.vocab_size, (8, cfg.model.block_size), generator=g)


def grads_of(k, divide=True):
    torch.manual_seed(0)
    m = GPT(cfg.model)
    for xs, ys in zip(x.chunk(k), y.chunk(k)):
        loss = m(xs, ys)[1]
        (loss / k if divide else loss).backward()
    return torch.cat([p.grad.flatten() for p in m.parameters()])


full, acc, wrong = grads_of(1), grads_of(4), grads_of(4, divide=False)
print(f"1 x B vs 4 x B/4, loss divided by 4: max |diff| = {(full - acc).abs().max():.1e}")
print(f"without the division the gradient is {wrong.norm() / full.norm():.2f}x too large")

# %% [markdown]
# ### Clipping after unscaling
# With fp16 training a GradScaler multiplies the loss by a large factor (e.g. 65,536) so
# small gradients do not underflow. Clipping must see the **true** gradient, so slmlab calls
# `scaler.unscale_(optimizer)` before `clip_grad_norm_`. The student's notebook clipped the
# scaled gradient at 0.5: with a scale of 65,536 the scaled norm is 65,536 times the true
# one, so the threshold fires on every step whatever the true gradient is, and stops
# meaning anything.
# `tests/test_train.py::test_clipping_sees_the_unscaled_gradient` checks this on the CPU.
#
# ## 4. `eval_interval` vs `eval_batches`
#
# Two different numbers: how often to evaluate (in optimizer updates) and how many batches
# to average per evaluation. The student's notebook used one variable, `eval_iters`, for
# both. Few batches make a noisy estimate; we measure the spread of the val loss of one
# model evaluated on different random batches:

# %%
import numpy as np

from slmlab.data import BatchSampler

torch.manual_seed(0)
m = GPT(cfg.model).eval()
spread = {}
for n in (1, 5, 20) if lesson.smoke else (1, 5, 20, 50):
    means = []
    for seed in range(8):
        s = BatchSampler(data.val, cfg.model.block_size, cfg.train.micro_batch_size, seed=seed)
        with torch.no_grad():
            means.append(np.mean([m(*s.next())[1].item() for _ in range(n)]))
    spread[n] = np.std(means)
    print(f"eval_batches={n:3}: val loss std over 8 evaluations = {spread[n]:.4f}")

# %% [markdown]
# The spread falls roughly as 1/√(eval_batches). A difference between two runs smaller than
# this spread is noise. (Here the model is untrained; measure a trained one the same way
# before you trust a small difference between two runs.)
#
# ## 5. Health check: overfit one batch
# Before any long run: can the model memorize a single small batch? If it cannot drive the
# loss toward zero, something is wired wrong (targets not shifted, a broken mask, a frozen
# optimizer). It costs seconds.

# %%
from slmlab.diagnostics import loss_at_init, overfit_one_batch

init = loss_at_init(cfg, data)
print(init.message)
fit = overfit_one_batch(cfg, data, steps=60 if lesson.smoke else 150)
print(fit.message)
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(fit.losses)
ax.set(xlabel="step (same batch every time)", ylabel="loss", title="overfitting one batch", yscale="log")
plt.show()

# %% [markdown]
# ## 6. A real run, with the live dashboard
#
# The dashboard trains in a background thread: move the sliders, press **Train**, watch the
# curves; **Stop** ends a run cleanly with a checkpoint. Runs are cached by config on disk,
# so pressing Train again with the same values loads the finished run instantly. Below we
# drive the same dashboard from code, so the notebook runs top to bottom.
#
#
# With Tiny Shakespeare on this machine, the run is the course's **speedrun**: a character
# model tuned to pass nanoGPT's published val loss of 1.8857 on Shakespeare as fast as a
# 2-core CPU can; otherwise the profile's model on the synthetic stories.

# %%
from slmlab.corpora import available_offline
from slmlab.diagnostics import ladder
from slmlab.widgets import Dashboard

watch = preset("speedrun") if available_offline("shakespeare") and not lesson.smoke else cfg
watch_data = prepare(watch.data)
lad = ladder(watch_data)
dash = Dashboard(watch, sliders={"lr": [3e-4, 1e-3, 2e-3, 3e-3], "max_steps": [watch.train.max_steps, 2 * watch.train.max_steps]},
                 ladder=lad, title=f"Train a GPT ({watch.name} preset: {watch.data.corpus}, {watch.data.tokenizer})")
dash

# %%
dash.start(block=True)
first = dash.last_run
h = first.history
print(dash.status)
print(f"{h.meta['n_params']:,} parameters, {len(h.steps)} updates x {h.meta['tokens_per_step']:,} tokens "
      f"in {h.meta['seconds']:.0f} s = {h.steps[-1]['tokens'] / h.meta['seconds']:,.0f} tokens/s")
step, best = h.best_val()
print(f"best val {best:.3f} at step {step}: {lad.where(best)}")
if watch.name == "speedrun":
    below = next((e for e in h.evals if e["val_loss"] <= 1.8857), None)
    print("nanoGPT's 1.8857: " + (f"passed at step {below['step']}, {below['seconds']:.0f} s into the run"
                                  if below else "not reached in this run"))
display(plots.curves(h, ladder=lad))

# %% [markdown]
# The train curve (every update, smoothed) and the val curve (every `eval_interval`) fall
# together through the ladder's rungs; where they end is printed above.
#
# ## 7. Stop, and resume exactly
#
# A checkpoint holds the model, the optimizer's moments, the GradScaler, the step, the
# random-number states and the position of the batch sampler. Resuming from it continues
# **exactly** as if the run had never stopped: same batches, same dropout masks, same losses.

# %%
import tempfile

from slmlab.callbacks import Callback
from slmlab.train import train


class StopAt(Callback):
    def __init__(self, step):
        self.at = step

    def on_update(self, trainer):
        if trainer.step == self.at:
            trainer.request_stop()


short = cfg.replace(max_steps=30 if lesson.smoke else 60, eval_interval=10, dropout=0.1, warmup_steps=5)
folder = tempfile.mkdtemp()
whole = train(short, data=data, progress=False)
stopped = train(short, data=data, progress=False, out_dir=folder, callbacks=[StopAt(short.train.max_steps // 2)])
resumed = train(None, resume=folder, data=data, progress=False)
same = [a["loss"] for a in whole.steps] == [b["loss"] for b in resumed.steps]
print(f"stopped at step {len(stopped.steps)} ({stopped.stop_reason}), resumed to {len(resumed.steps)}; "
      f"every loss identical to the uninterrupted run: {same}")
assert same

# %% [markdown]
# ## 8. Sampling: temperature and top-k
#
# The model outputs a probability for every next token. **Temperature** divides the logits
# before the softmax: below 1 sharpens toward the likeliest token (safe, repetitive), above 1
# flattens (varied, then nonsense). **Top-k** keeps only the k likeliest tokens. Same model,
# same prompt, same random seed:

# %%
model = first.model()
tok = watch_data.tokenizer
prompt = torch.tensor([[tok.eot_id]])
for temperature, top_k in [(0.0, None), (0.7, 50), (1.0, None), (1.5, None)]:
    out = model.generate(prompt, 60, temperature=temperature, top_k=top_k,
                         generator=torch.Generator().manual_seed(0))
    text = tok.decode(out[0, 1:].tolist()).replace("\n", " ")
    print(f"--- temperature {temperature}, top_k {top_k}:\n{text[:300]}\n")

# %% [markdown]
# ## What we measured
# - Decay groups: matrices and embeddings decay, norms don't; the schedule per update.
# - Accumulation with the loss divided by k matched one big batch; without it the gradient
#   was k times too large.
# - Evaluation noise falls with `eval_batches`.
# - The model memorized one batch; its loss at init matched ln V.
# - A real run, its curve on the ladder, and an exact resume.
#
# Next: **04 · The val-loss-9 clinic** — the student's run, diagnosed.
