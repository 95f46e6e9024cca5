# %% [markdown]
# # 02 · Build a GPT
#
# A GPT is a stack of identical blocks, each of which lets every position **look back**
# at earlier positions (attention) and then **think on its own** (an MLP). In this
# notebook we write the one piece that makes it a *language model* — causal
# self-attention — by hand, check it against PyTorch's fused kernel, prove through
# gradients that no position can peek at the future, and then count what the model
# costs: parameters, the share that is embedding, and FLOPs per token.
#
# What we will measure:
# 1. hand-written attention equals `F.scaled_dot_product_attention` (within a tolerance of 1e-5);
# 2. the gradient of position *t* reaches no later position;
# 3. an untrained GPT scores loss ≈ ln V — the uniform guess of notebook 00;
# 4. how much of the student's 30M-parameter model is just the GPT-2 vocabulary.
#
# The model itself lives in `slmlab/model.py` (about 200 lines, nanoGPT's shape);
# read it beside this notebook.

# %%
from slmlab.course import start

lesson = start("02_build_a_gpt")
cfg = lesson.cfg

# %% [markdown]
# ## 1. Attention on four tokens, one head
#
# Each position emits a **query** ("what am I looking for?"), a **key** ("what do I
# contain?") and a **value** ("what do I pass on?"). The score of position *t* for
# position *s* is the dot product q_t · k_s, scaled by 1/√(head size) so the softmax
# does not saturate as heads get wider. A causal model must not use the future, so
# scores above the diagonal are set to −∞ before the softmax: their weight becomes 0.

# %%
import math

import torch

torch.manual_seed(0)
T, hs = 4, 8
q, k, v = torch.randn(T, hs), torch.randn(T, hs), torch.randn(T, hs)

scores = q @ k.T / math.sqrt(hs)  # (T, T): row t = how much t attends to each s
mask = torch.ones(T, T, dtype=torch.bool).tril()  # True on and below the diagonal
weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)  # (T, T), rows sum to 1
out = weights @ v  # (T, hs): each row a weighted mix of the values it may see
print("attention weights (row = query position, column = key position):")
print(weights.numpy().round(3))

# %% [markdown]
# Row 0 can only look at itself (weight 1.0); row 3 spreads its attention over all four
# positions. Every row sums to 1, and everything above the diagonal is exactly 0.
#
# ### Exercise: write causal attention for a batch of heads
# Fill in `causal_attention(q, k, v)` for tensors of shape (B, H, T, hs): scores,
# scale, mask, softmax, weighted sum. The check compares it with PyTorch's fused kernel.

# %%
from slmlab.exercises import check_causal_attention


def causal_attention(q, k, v):
    """q, k, v: (B, H, T, hs) -> (B, H, T, hs), position t attends to s <= t only."""
    raise NotImplementedError  # your code here


check_causal_attention(causal_attention);

# %% [markdown]
# ## 2. Many heads, and the check against the fused kernel
#
# A layer with H heads splits the width C into H slices of C/H and runs the same
# attention on each slice in parallel; a final linear layer (`c_proj`) mixes the heads.
# slmlab's `CausalSelfAttention` uses `F.scaled_dot_product_attention`, which picks a
# flash or memory-efficient kernel where the hardware has one. With `record_probs = True`
# it runs the hand-written path above instead and keeps the attention matrix — that is
# how slmlab's diagnostics look inside (`TrainingStats`). Both paths must agree:

# %%
from slmlab.config import ModelConfig
from slmlab.model import GPT

torch.manual_seed(0)
small = GPT(ModelConfig(n_layer=2, n_head=4, n_embd=64, block_size=32, vocab_size=100)).eval()
attn = small.blocks[0].attn
x = torch.randn(2, 16, 64)  # (B, T, C)
fast = attn(x)
attn.record_probs = True
slow = attn(x)
attn.record_probs = False
diff = (fast - slow).abs().max().item()
print(f"max |fused - by hand| = {diff:.1e}; attention matrix kept: {tuple(attn.last_probs.shape)} (B, H, T, T)")
assert diff < 1e-5

# %% [markdown]
# ## 3. Causality, shown through gradients
#
# "No position sees the future" is a claim we can test: take the output at position *t*,
# backpropagate, and look at which **input** positions receive gradient. Any gradient at
# a position after *t* would mean information leaked backwards in time.

# %%
import matplotlib.pyplot as plt

idx = torch.randint(0, 100, (1, 16))
emb = small.wte(idx).detach().requires_grad_(True)  # (1, T, C): inputs we can differentiate
h = emb + small.wpe(torch.arange(16))
for block in small.blocks:
    h = block(h)
t = 9
h[0, t].sum().backward()
grad_per_position = emb.grad[0].norm(dim=-1)  # (T,)

fig, ax = plt.subplots(figsize=(7, 2.5))
ax.bar(range(16), grad_per_position.numpy(), color=["C0" if s <= t else "C3" for s in range(16)])
ax.axvline(t + 0.5, color="k", ls="--", lw=1)
ax.set(xlabel="input position s", ylabel="|d out_t / d in_s|", title=f"gradient of position t={t}")
plt.show()
later = grad_per_position[t + 1:].abs().max().item()
print(f"largest gradient at a later position: {later}; smallest at an earlier one: "
      f"{grad_per_position[:t + 1].min().item():.2e}")
assert later == 0.0

# %% [markdown]
# Exactly zero after position 9, and non-zero everywhere before it.
#
# ## 4. The block and the whole GPT
#
# A block is `x + attn(ln_1(x))` then `x + mlp(ln_2(x))`: **pre-LN** (normalize before,
# not after, each branch) keeps the residual stream itself un-normalized, a straight path
# from the embeddings to the output. Not measured here: Xiong et al. (2020, "On Layer
# Normalization in the Transformer Architecture") report that pre-LN Transformers train
# well without the learning-rate warmup that post-LN ones need. The MLP widens to 4C,
# applies GELU, and projects back. The GPT adds token and position embeddings at the
# bottom, a final LayerNorm, and an output layer that shares its weights with the token
# embedding (**weight tying**).

# %%
print(small)

# %% [markdown]
# ## 5. What the models cost: parameters and FLOPs
#
# `num_params(non_embedding=True)` leaves out the token and position tables. For a
# small model with a big vocabulary, the embedding is most of the model — and the
# output layer (the same matrix, used again) is most of the compute.

# %%
from slmlab.config import preset

rows = []
# a bpe-N tokenizer has 256 byte ids + N merges + 1 end-of-text id: bpe-512 -> 769 (as the
# next section measures), bpe-4096 -> 4353
for name, mc, vocab in [("cpu preset, bpe-512", preset("cpu").model, 256 + 512 + 1),
                        ("student, GPT-2 vocab", preset("student").model, 50257),
                        ("student, bpe-4096", preset("student").model, 256 + 4096 + 1)]:
    mc.vocab_size = vocab
    with torch.device("meta"):  # shapes only: no memory, no time
        m = GPT(mc)
    n, ne = m.num_params(), m.num_params(non_embedding=True)
    rows.append((name, mc.n_layer, mc.n_embd, vocab, n, ne, 1 - ne / n, m.flops_per_token()))
print(f"{'model':22} {'L':>2} {'C':>4} {'vocab':>6} {'params':>11} {'non-emb':>11} {'emb share':>9} {'FLOPs/token':>12}")
for name, L, C, V, n, ne, share, fl in rows:
    print(f"{name:22} {L:>2} {C:>4} {V:>6} {n:>11,} {ne:>11,} {share:>9.0%} {fl / 1e6:>10.1f} M")

# %% [markdown]
# The student's model has about 30M parameters, but **19.3M of them are the GPT-2
# token table** (50257 × 384). With a BPE of 4096 merges trained on the corpus (4353 ids),
# the same transformer shrinks to about 12M parameters and needs well under half the FLOPs
# per token (the table above) — notebook 01 counted 6,898 distinct GPT-2 ids in its
# TinyStories sample anyway, and notebook 04 measures what this does to training speed on a
# CPU.
#
# FLOPs per token = 6N (forward and backward through every weight) + 12·L·T·C
# (attention scores) — the formula nanoGPT and the PaLM paper use for MFU.
#
# ## 6. An untrained GPT guesses uniformly: loss ≈ ln V
#
# With N(0, 0.02) weights the logits are all near zero, so the softmax is nearly flat
# and the cross-entropy is ln V. A model that starts far from ln V has a bug in its init
# (or in the loss). We measure it on real batches of this notebook's corpus.

# %%
from slmlab.data import BatchSampler, prepare

data = prepare(cfg.data)
cfg = cfg.replace(vocab_size=data.vocab_size)
torch.manual_seed(cfg.train.seed)
model = GPT(cfg.model).eval()
sampler = BatchSampler(data.val, cfg.model.block_size, 8, seed=0)
with torch.no_grad():
    losses = [model(*sampler.next())[1].item() for _ in range(5)]
init_loss = sum(losses) / len(losses)
print(f"vocab {data.vocab_size}: loss at init {init_loss:.3f}, ln V = {math.log(data.vocab_size):.3f}")
assert abs(init_loss - math.log(data.vocab_size)) < 0.1

# %% [markdown]
# ## What we measured
# - Hand-written attention matched the fused kernel to within 1e-5.
# - The gradient of position 9 was exactly zero at every later position: the mask works.
# - An untrained GPT's loss sat within 0.1 of ln V on real text.
# - The student's GPT-2-vocabulary model is mostly embedding table (the table above).
#
# Next: **03 · Train and sample** — the training loop piece by piece.
