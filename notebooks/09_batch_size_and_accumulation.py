# %% [markdown]
# # 09 · Batch size and gradient accumulation
#
# The chat answer changed batch 32 → 64, block 128 → 256 and accumulation 32 → 16, and said
# that smaller batches generalize better (C10), that batch 64 estimates the gradient better
# (C22) and that accumulation 16 updates more often (C24). We measure, on real runs:
# 1. batch sizes at **equal tokens** and at **equal updates**;
# 2. **accumulation** shown equal to one large batch;
# 3. the **lr re-tuned** per batch size;
# 4. the **gradient noise** behind "a better gradient estimate";
# 5. **block 128 vs 256**: speed and loss;
# 6. verdicts on C10, C22, C23, C24.
#
# Names: `micro_batch_size` sequences per forward pass, `grad_accum_steps` micro-batches per
# optimizer update, so one update sees micro_batch_size × grad_accum_steps × block_size tokens.

# %%
from slmlab.course import start

# "batch-sweep": short runs (a budget of 64 updates x 1,024 tokens in the cpu profile), no dropout
lesson = start("09_batch_size_and_accumulation", setup="batch-sweep")
cfg = lesson.cfg
BUDGET = cfg.total_tokens  # tokens per run in the equal-token comparisons
EVAL_SEQS = cfg.train.micro_batch_size * cfg.train.eval_batches  # sequences per eval, kept equal
print(f"base: batch {cfg.train.micro_batch_size} x block {cfg.model.block_size}, {cfg.train.max_steps} updates, "
      f"{BUDGET:,} tokens per run, lr {cfg.train.lr:g}, dropout {cfg.model.dropout}")

# %%
import matplotlib.pyplot as plt
import numpy as np

from slmlab import experiments, plots
from slmlab.data import prepare
from slmlab.diagnostics import ladder

data = prepare(cfg.data)
lad = ladder(data)


def at_batch(B, *, tokens=BUDGET, steps=None, **changes):
    """The base config at micro-batch B: equal tokens by default, or a fixed number of updates."""
    c = cfg.replace(micro_batch_size=B, **changes)
    per_step = c.tokens_per_step
    n = steps or max(4, tokens // per_step)
    return c.replace(max_steps=n, warmup_steps=max(1, n // 10), eval_interval=max(1, n // 4),
                     eval_batches=max(1, EVAL_SEQS // B))


# %% [markdown]
# ## 1. Batch size at equal tokens, and at equal updates
#
# **Equal tokens** is the fair question on a fixed machine: the same data and (roughly) the
# same compute, spent as many small updates or few large ones. **Equal updates** gives the
# large batch more tokens, so it must look better; that comparison answers a different
# question (what one update is worth).

# %%
BATCHES = [4, 16, 64] if not lesson.smoke else [4, 8, 16]
SEEDS = (1337, 1) if not lesson.smoke else (1337,)
eq_tokens = {B: [experiments.run(at_batch(B, seed=s), label=f"batch {B}", progress=False)
                 for s in (SEEDS if B != BATCHES[-1] else SEEDS[:1])] for B in BATCHES}
for B, rs in eq_tokens.items():
    vals = [r.history.final_val() for r in rs]
    h = rs[0].history
    print(f"batch {B:>3}: {len(h.steps):>4} updates of {h.meta['tokens_per_step']:>6,} tokens -> final val "
          f"{np.mean(vals):.3f}" + (f" (seeds: {', '.join(f'{v:.3f}' for v in vals)})" if len(vals) > 1 else "")
          + f", gap val-train {h.evals[-1]['val_loss'] - h.evals[-1]['train_loss']:+.3f}")
spread = max(np.std([r.history.final_val() for r in rs], ddof=1) for rs in eq_tokens.values() if len(rs) > 1) \
    if len(SEEDS) > 1 else 0.0
print(f"seed spread (largest sd over {len(SEEDS)} seeds): {spread:.3f} nats")

# %%
eq_updates = {B: experiments.run(at_batch(B, steps=cfg.train.max_steps), label=f"batch {B}", progress=False)
              for B in BATCHES[:2] + [2 * BATCHES[1]]}
for B, r in eq_updates.items():
    print(f"batch {B:>3}, {cfg.train.max_steps} updates ({r.history.steps[-1]['tokens']:>7,} tokens): "
          f"final val {r.history.final_val():.3f}")
fig, axes = plt.subplots(1, 3, figsize=(17, 4.5), layout="constrained")  # room for the rung labels
plots.overlay({f"batch {B}": rs[0] for B, rs in eq_tokens.items()}, "val_loss", x="tokens", ax=axes[0],
              ladder=lad, title="equal tokens: val vs tokens")
plots.overlay({f"batch {B}": r for B, r in eq_updates.items()}, "val_loss", ax=axes[1], ladder=lad,
              title="equal updates: val vs update")
plots.isolation([r for rs in eq_tokens.values() for r in rs], "micro_batch_size", "final_val", ax=axes[2],
                title="equal tokens: final val vs batch")
plt.show()

# %% [markdown]
# At equal tokens the small batches win here, by a lot (in the cpu run batch 4 ended ~1.2
# nats below batch 16 and ~3 below batch 64): they make many more updates from the same
# tokens. At equal updates the order flips, because the big batch has simply seen more text.
# The val-train gaps are all one to two hundredths of a nat (+0.013 to +0.023): nobody is
# overfitting. Section 4 measures why a cleaner gradient bought so little here.
#
# In the left panel batch 64's val loss climbs *above the uniform guess* at its second eval
# before falling again. The run's own log says why: its lr, gradient norms and clipping,
# update by update.

# %%
uniform = dict((r.name, r.nats) for r in lad.rungs)["uniform"]
for B, rs in eq_tokens.items():
    h, t = rs[0].history, rs[0].config.train
    norms = np.array([s["grad_norm"] for s in h.steps])
    spikes = [s for s in h.steps if s["grad_norm"] > 10 * np.median(norms)]
    worst = max(h.evals, key=lambda e: e["val_loss"])
    print(f"batch {B:>3}: warmup {t.warmup_steps:>2} of {t.max_steps} updates, lr {t.lr:g} reached at update "
          f"{next(s['step'] for s in h.steps if s['lr'] >= 0.99 * max(x['lr'] for x in h.steps))}; clip {t.grad_clip:g} "
          f"fired in {np.mean(norms > t.grad_clip):.0%} of updates; {len(spikes)} grad-norm spikes (>10x median "
          f"{np.median(norms):.2f}): " + (", ".join(f"{s['grad_norm']:.0f} at update {s['step']} (lr {s['lr']:.2g}, "
                                                   f"step loss {s['loss']:.2f})" for s in spikes) or "none")
          + f"; highest val {worst['val_loss']:.3f} at update {worst['step']} (uniform {uniform:.2f})")

# %% [markdown]
# Read it line by line (cpu run). Batch 64's 10% warmup is **one** update, so it runs at its
# peak lr 0.003 from update 2 on, while batch 16 warms up for 6 and batch 4 for 25. Both
# batch 16 and batch 64 then hit gradient-norm spikes of 11 to 27 (against medians of 0.86
# and 1.03) from update 6 on, at lrs of 0.0018 to 0.003: this lr is near the edge of
# stability for this model early in training (notebook 08: 0.01 is already too high). Batch
# 4, which reached the peak lr only after 25 updates, had none. At batch 64, spikes at updates 6 and 9 (norms 19
# and 22, step loss 7.60 and 6.84) sit right before and after its eval at update 8, which
# reads 6.876, above uniform. Clipping at 1.0 was on and fired in half of batch 64's updates,
# yet did not prevent this: a spike shows in the loss of the batch *before* its large
# gradient is clipped (the damage came from earlier full-size steps), and Adam divides each
# update by a running gradient scale, so a clipped gradient still moves the weights by about
# lr. Batch 16 has 64 updates to recover from three spikes, batch 64 only 16. So the
# equal-token comparison mixes batch size with warmup length and stability: part of batch
# 64's +1.76 nats is this, not the batch itself.
#
# ## 2. Gradient accumulation is one big batch
#
# A batch of 64 sequences may not fit in memory. **Gradient accumulation** gets the same
# gradient from smaller pieces: split the batch into k micro-batches, run forward and
# backward on each *without* zeroing the gradients in between (PyTorch adds each backward's
# gradients into `p.grad`), and only then take one optimizer step and zero the gradients.
# Each micro-batch's loss is a mean over its own tokens, so each must be divided by k before
# its backward: then the summed gradients are the mean over all k micro-batches, which is the
# big batch's gradient. Forget the division and the gradient is k times too large (with
# clipping on, the clip then cuts it and hides the bug). One update still sees
# micro_batch_size × k sequences; the optimizer, the schedule and the update counter move
# once per update, not once per micro-batch (notebook 08 trains the bug where the schedule
# moves per micro-batch). The trainer does this when `grad_accum_steps` > 1; you write it in
# the exercise below.
#
# Here: accumulating 4 micro-batches of 4 sequences (each loss divided by 4) gives the same
# gradient as one batch of 16. With dropout 0 and the same seed, the two runs draw the same
# sequences, so their loss curves must agree up to float rounding. In float32 that rounding
# is tiny; in bf16 (the CPU default here when the CPU has it) each matmul rounds to 8 bits
# of mantissa, the two ways round differently, and many updates amplify it: both are
# measured below. In the plot below you will see **one line**: the two float32 curves lie
# on top of each other.

# %%
pairs = {}
for dtype in ("float32", "bfloat16"):  # bf16 rounds the two ways differently: measure both
    one = experiments.run(at_batch(BATCHES[1], dtype=dtype), label=f"batch {BATCHES[1]} ({dtype})", progress=False)
    acc = experiments.run(at_batch(BATCHES[1] // 4, grad_accum_steps=4, dtype=dtype),
                          label=f"{BATCHES[1] // 4} x 4 accumulated ({dtype})", progress=False)
    a, b = np.array([s["loss"] for s in acc.history.steps]), np.array([s["loss"] for s in one.history.steps])
    pairs[dtype] = (one, acc, float(np.max(np.abs(a - b))))
    print(f"{dtype:8}: batch {BATCHES[1]} vs {BATCHES[1] // 4} x 4 accumulated, {len(a)} updates each: largest "
          f"step-loss difference {pairs[dtype][2]:.2e} nats; final val {one.history.final_val():.5f} vs "
          f"{acc.history.final_val():.5f}")
big, acc, accum_diff = pairs["float32"]
display(plots.overlay({f"batch {BATCHES[1]}": big, f"{BATCHES[1] // 4} x 4 accumulated": acc}, "loss", beta=0,
              title="step loss: one batch vs accumulation"))

# %% [markdown]
# ## 3. Re-tune the lr for each batch size
#
# A fair batch comparison gives each batch size its own best lr: larger batches average
# more sequences, so they can often take a larger lr. Three lrs for the smallest and largest
# batch, at equal tokens (in the cpu run both were best at the base lr, and batch 64's three
# lrs lay within about 0.15 nats of each other: with 16 updates, no lr rescues it):

# %%
LRS = [cfg.train.lr / 3, cfg.train.lr, cfg.train.lr * 3]
tuned = {}
for B in (BATCHES[0], BATCHES[-1]):
    for lr in LRS:
        r = eq_tokens[B][0] if lr == cfg.train.lr else experiments.run(
            at_batch(B, lr=lr, min_lr=lr / 10), label=f"batch {B}, lr {lr:g}", progress=False)
        tuned[(B, lr)] = r.history.final_val()
    row = {lr: tuned[(B, lr)] for lr in LRS}
    print(f"batch {B:>3}: " + "  ".join(f"lr {lr:<7.2g} {v:.3f}" for lr, v in row.items())
          + f"   best lr {min(row, key=row.get):.2g}")
best_small = min(tuned[(BATCHES[0], lr)] for lr in LRS)
best_large = min(tuned[(BATCHES[-1], lr)] for lr in LRS)
print(f"each at its best lr: batch {BATCHES[0]} {best_small:.3f} vs batch {BATCHES[-1]} {best_large:.3f} "
      f"({best_large - best_small:+.3f} nats)")

# %% [markdown]
# ## 4. How noisy is the gradient? (C22)
#
# "Batch 64 estimates the gradient better" is true in a narrow sense: the error of a batch
# gradient falls like 1/√B. Whether that *matters* depends on the gradient noise scale
# B_noise = tr(Σ)/|G|² (McCandlish et al. 2018, "An empirical model of large-batch
# training"): the batch size at which the noise is as large as the signal. Well below
# B_noise, doubling the batch nearly halves the updates needed (so at equal tokens two
# batch sizes should end about equal); far above it, a bigger batch wastes tokens. We
# estimate it from the gradients of 16 micro-batches of 4 sequences: |G_b|² of small
# batches and |G_B|² of their mean. B_noise changes as the model learns, so we measure it
# twice: on the untrained model (where every run here starts) and on the trained batch-16
# model (where it ends).

# %%
import torch

from slmlab.data import BatchSampler


def flat_grad(model, x, y):
    model.zero_grad(set_to_none=True)
    model(x, y)[1].backward()
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])  # (n_params,)


from slmlab.model import GPT


def noise_scale(model, b=4, k=16 if not lesson.smoke else 4):
    """|G|^2, tr(Sigma) and B_noise from k micro-batches of b sequences."""
    sampler = BatchSampler(data.train, cfg.model.block_size, b, seed=7)
    grads = torch.stack([flat_grad(model, *sampler.next()) for _ in range(k)])  # (k, n_params)
    g_small = (grads.norm(dim=1) ** 2).mean().item()  # E|G_b|^2 at b sequences
    g_big = (grads.mean(0).norm() ** 2).item()  # |G_B|^2 at B = b*k sequences
    B = b * k
    true_sq = (B * g_big - b * g_small) / (B - b)  # |G|^2, unbiased
    trace = (g_small - g_big) / (1 / b - 1 / B)  # tr(Sigma), per sequence
    return true_sq, trace, trace / true_sq


torch.manual_seed(big.config.train.seed)
b_noise_init = noise_scale(GPT(big.config.model).train())[2]
true_sq, trace, b_noise = noise_scale(big.model().train())
print(f"untrained model: B_noise ~ {b_noise_init:.0f} sequences")
print(f"trained batch-{BATCHES[1]} model (val {big.history.final_val():.3f}): |G|^2 ~ {true_sq:.3g}, "
      f"tr(Sigma) ~ {trace:.3g} per sequence -> B_noise ~ {b_noise:.0f} sequences")
for bs in (4, 16, 32, 64):
    print(f"batch {bs:>3}: relative gradient error sqrt(trSigma/B)/|G| = {np.sqrt(trace / bs / true_sq):.2f}")

# %% [markdown]
# This is how the theory and section 1 fit together (cpu run). On the untrained model
# B_noise is about 12 sequences: early on the gradient is mostly signal, and batches 16 and
# 64 are both *above* B_noise, batch 64 about five times so. Above B_noise a bigger batch wastes
# tokens, so at equal tokens batch 64 falls behind from the start. By the end of batch 16's
# run B_noise has grown to about 94 (one estimate from 16 micro-batches, and a noisy one),
# so only from there on would 16 and 64 be "well below B_noise" and about equal per
# token. Two more things the theory assumes do not hold here: it lets each batch size use its
# own best lr, and a bigger batch usually a bigger one, but section 3 found no higher lr that
# helped batch 64 (lr 0.009 ended 5.501 vs 5.450), and section 1 showed its lr was already
# at the edge of stability. With Adam an update moves the weights by about lr whatever the
# gradient's noise, so at a capped lr 16 updates cannot go as far as 64.

# %% [markdown]
# ## 5. Block 128 vs 256 (C23)
#
# A longer block gives each token more context, and costs more per token (attention grows
# with T). We time the real training step of both side by side (same tokens per update,
# alternating, so machine load hits both alike), then compare the loss at equal tokens.

# %%
import time

from slmlab.train import Trainer

BLOCKS = [64, 128, 256] if not lesson.smoke else [16, 32]
per_update = cfg.tokens_per_step
trainers = {T: Trainer(cfg.replace(block_size=T, micro_batch_size=max(1, per_update // T)), data=data, progress=False)
            for T in BLOCKS}
secs = {T: [] for T in BLOCKS}
for _ in range(3 if not lesson.smoke else 1):
    for T, tr in trainers.items():
        t0 = time.perf_counter()
        for _ in range(3):
            tr.train_step()
        secs[T].append((time.perf_counter() - t0) / 3)
tps = {T: per_update / min(s) for T, s in secs.items()}
for T in BLOCKS:
    print(f"block {T:>3}: {tps[T]:,.0f} tokens/s ({tps[T] / tps[BLOCKS[0]]:.2f}x block {BLOCKS[0]})")
del trainers

blocks = {T: experiments.run(at_batch(max(1, per_update // T), block_size=T), label=f"block {T}", progress=False)
          for T in BLOCKS}
for T, r in blocks.items():
    print(f"block {T:>3}: final val {r.history.final_val():.3f} after {r.history.steps[-1]['tokens']:,} tokens")
display(plots.overlay({f"block {T}": r for T, r in blocks.items()}, "val_loss", x="tokens", ladder=lad,
              title="val loss at equal tokens, by block size"))

# %% [markdown]
# In the cpu run the three block sizes ran within about 20% of each other in tokens/s
# (printed above: block 128 at 0.99x and block 256 at 1.19x the tokens/s of block 64, so
# the longer block was not slower on this CPU), and at equal tokens block 256 ended
# ~0.18 nats *higher* (block 128 in between): about one seed sd (0.181), so no real
# difference. After 65k tokens the model has not learned to
# use long context yet; a longer block pays off only once it does.
#
# ## 6. Try it: the dashboard
#
# Sliders for the batch, accumulation and lr. Runs are cached by config; a new one trains and
# is drawn over the equal-token sweep. From code: batch 8 at equal tokens.

# %%
from slmlab.widgets import Dashboard

sweep_runs = [rs[0] for rs in eq_tokens.values()]
dash = Dashboard(cfg, sliders={"micro_batch_size": BATCHES + [8], "grad_accum_steps": [1, 2, 4, 8],
                               "lr": LRS}, ladder=lad, runs=sweep_runs, x="tokens", title="batch, accumulation, lr")
dash

# %%
c8 = at_batch(8)
dash.set(micro_batch_size=8, max_steps=c8.train.max_steps, warmup_steps=c8.train.warmup_steps,
         eval_interval=c8.train.eval_interval, eval_batches=c8.train.eval_batches)
dash.start(block=True)
print(dash.status)
display(dash.figure())

# %% [markdown]
# *The live widget (sliders, buttons, a figure redrawn as the run trains) appears when the
# notebook runs; a saved copy shows it only as a line of text, so the picture above is
# `dash.figure()`: what the dashboard showed at the end of this run.*
#
# Batch 8 sits where its 128 updates put it, between batch 4 and batch 16 (final vals printed
# below):

# %%
print(", ".join(f"batch {r.config.train.micro_batch_size}: {r.history.final_val():.3f}"
                for r in sorted(sweep_runs + [dash.last_run], key=lambda r: r.config.train.micro_batch_size)))
display(plots.overlay(sweep_runs + [dash.last_run], "val_loss", x="tokens", label_by="micro_batch_size", ladder=lad,
              title="equal tokens, with the dashboard's batch 8"))

# %% [markdown]
# ### Exercise: accumulate gradients
# Write `accumulate(model, x, y, k)`: split the batch into k micro-batches, run forward and
# backward on each, so that the gradients equal those of one backward over the whole batch.

# %%
from slmlab.exercises import check_accumulated_loss


def accumulate(model, x, y, k):
    raise NotImplementedError  # your code here


check_accumulated_loss(accumulate);

# %% [markdown]
# ## Verdict
#
# Measured above, against the seed spread of section 1; asserted under cpu and gpu only.

# %%
m = {B: np.mean([r.history.final_val() for r in rs]) for B, rs in eq_tokens.items()}
margin = 2 * max(spread, 0.01)
small, mid, large = BATCHES
from slmlab.diagnostics import CHAT_CONFIG, STUDENT_CONFIG, lint

# tokens per update as the lint reads each config (batch x block x accumulation), checked against the arithmetic
student_tpu, chat_tpu = (next(f.data["tokens_per_update"] for f in lint(c) if f.code == "budget")
                         for c in (STUDENT_CONFIG, CHAT_CONFIG))
print(f"seed spread {spread:.3f}; margin = 2 sd = {margin:.3f} nats")
print(f"equal tokens: batch {small} {m[small]:.3f}, {mid} {m[mid]:.3f}, {large} {m[large]:.3f} "
      f"(batch {large} - {mid}: {m[large] - m[mid]:+.3f})")
print(f"accumulation 4x{mid // 4} vs batch {mid}: largest step-loss difference {accum_diff:.1e}")
print(f"best lr per batch: batch {small} {best_small:.3f}, batch {large} {best_large:.3f}")
print(f"C22 gradient noise scale ~ {b_noise_init:.0f} sequences untrained, ~ {b_noise:.0f} trained")
print(f"C23 block {BLOCKS[-1]} runs at {tps[BLOCKS[-1]] / tps[BLOCKS[0]]:.2f}x the tokens/s of block {BLOCKS[0]}; "
      f"val {blocks[BLOCKS[-1]].history.final_val():.3f} vs {blocks[BLOCKS[0]].history.final_val():.3f}")
print(f"C24 tokens per update: student {student_tpu:,}, chat {chat_tpu:,} ({chat_tpu / student_tpu:.0f}x): "
      f"per token, the chat config updates {chat_tpu / student_tpu:.0f}x LESS often")
if not lesson.smoke:
    assert accum_diff < 1e-2, "accumulation should match the big batch up to float noise"
    assert m[large] - m[mid] > margin, "at equal tokens, 4x fewer (larger) updates should lose here"
    assert (student_tpu, chat_tpu) == (32 * 128 * 32, 64 * 256 * 16), "the lint's budget should match b x T x accum"
    assert b_noise > b_noise_init, "the noise scale should grow as the model learns"

# %% [markdown]
# | claim | at this scale | verdict |
# | --- | --- | --- |
# | C10 smaller batches generalize better, train slower | at equal tokens the gaps val-train are printed in section 1; smaller batches reached the lower val | the gap is ~0 for all (far less than one epoch), so there is nothing to "generalize better" about; smaller batches won (by 1-3 nats) by taking more updates; batch 64's loss is partly its 1-update warmup and grad-norm spikes at the edge of stability (section 1), so the size of its loss is not the batch alone. Their wall-time cost per token is not compared here (small matmuls hurt most on GPUs) |
# | C22 batch 64 estimates the gradient better | B_noise and the relative gradient error per batch, section 4 | true in the 1/√B sense (64 vs 32: error / √2). B_noise grew from ~12 sequences untrained to ~94 (of 64 tokens, ~6k tokens) at val 3.56; the student's updates already held 131k tokens, far above it, where a cleaner gradient buys little. B_noise grows as the loss falls, so these are snapshots of an early model |
# | C23 block 256 captures longer context | speed and loss side by side, section 5 | at this budget no gain (block 64/128/256 within ~1 seed sd), at similar tokens/s on this CPU (block 256 at 1.19x block 64) |
# | C24 accumulation 16 updates more often | 16 micro-steps per update instead of 32, but each micro-step holds 4x the tokens | false per token: each update carries 2x the tokens, so updates are 2x rarer for the same data |
#
# ## What we measured
# - Batch size at equal tokens and at equal updates, with seed spread.
# - Accumulation equal to a big batch, to the printed float difference.
# - The best lr per batch size, the gradient noise scale, block 64/128/256 speed and loss.
