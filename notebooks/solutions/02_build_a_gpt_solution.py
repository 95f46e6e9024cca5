# %% [markdown]
# # 02 · Solution: build a GPT, piece by piece
# Each piece below passes its check against slmlab's module with the same weights. At the
# end the assembled GPT, every line of it written here, trains for 60 updates (8 s in the cpu
# run).

# %% [markdown]
# ## 1. One head
# Three projections of the input; scores q·kᵀ scaled by 1/√hs; −∞ above the diagonal (the
# `tril` buffer is sliced to the T of the input); softmax over the keys; weighted sum of the
# values.

# %% tags=["NBVAL_CHECK_OUTPUT"]
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

import math

import torch
import torch.nn as nn
from torch.nn import functional as F

from slmlab.exercises import check_attention, check_block, check_gpt, check_head, check_mlp


def causal_attention(q, k, v):
    """(..., T, hs) -> (..., T, hs): position t attends to positions s <= t only."""
    T = q.size(-2)
    scores = q @ k.transpose(-2, -1) / math.sqrt(k.size(-1))  # (..., T, T)
    mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    weights = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1)  # rows sum to 1
    return weights @ v  # (..., T, hs)


class Head(nn.Module):
    """One head of causal self-attention: (B, T, C) -> (B, T, head_size)."""

    def __init__(self, n_embd, head_size):
        super().__init__()
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)

    def forward(self, x):
        return causal_attention(self.query(x), self.key(x), self.value(x))  # (B, T, hs)


check_head(Head);

# %% [markdown]
# ## 2. Multi-head attention
# The same `causal_attention`, with (B, H) in front: one `c_attn` computes q, k, v for all
# heads, `.view(B, T, H, hs).transpose(1, 2)` separates the heads, and the reverse merges
# them before `c_proj`.

# %% tags=["NBVAL_CHECK_OUTPUT"]
class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention: (B, T, C) -> (B, T, C)."""

    def __init__(self, cfg):
        super().__init__()
        self.n_head = cfg.n_head
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)  # q, k, v at once
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)

    def forward(self, x):
        B, T, C = x.shape
        hs = C // self.n_head
        q, k, v = self.c_attn(x).split(C, dim=2)  # 3 x (B, T, C)
        q, k, v = (t.view(B, T, self.n_head, hs).transpose(1, 2) for t in (q, k, v))  # (B, H, T, hs)
        y = causal_attention(q, k, v)  # (B, H, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.c_proj(y)


check_attention(CausalSelfAttention);

# %% [markdown]
# ## 3. The MLP

# %% tags=["NBVAL_CHECK_OUTPUT"]
class MLP(nn.Module):
    """Position-wise feed-forward: widen 4x, GELU, project back."""

    def __init__(self, cfg):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.act = nn.GELU()
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)

    def forward(self, x):
        return self.c_proj(self.act(self.c_fc(x)))  # (B, T, C)


check_mlp(MLP);

# %% [markdown]
# ## 4. A pre-LN block
# Each branch reads a normalized copy of the stream and adds its output to the stream; the
# stream itself is never normalized inside the block.

# %% tags=["NBVAL_CHECK_OUTPUT"]
class Block(nn.Module):
    """Pre-LN transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, cfg):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))  # (B, T, C)
        return x + self.mlp(self.ln_2(x))  # (B, T, C)


check_block(Block);

# %% [markdown]
# ## 5. The GPT, with tied embeddings
# `self.lm_head.weight = self.wte.weight` makes the two one Parameter, so it is counted, decayed
# and updated once.

# %% tags=["NBVAL_CHECK_OUTPUT"]
class GPT(nn.Module):
    """A decoder-only transformer language model: (B, T) token ids -> (B, T, V) logits."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying

    def forward(self, idx, targets=None):
        B, T = idx.shape
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))  # (B, T, C)
        for block in self.blocks:
            x = block(x)  # (B, T, C)
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        if targets is None:
            return logits, None
        return logits, F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))


check_gpt(GPT);

# %% [markdown]
# ## 6. This GPT, trained for 60 updates
# The lesson's run, with the GPT above in the Trainer: slmlab's initial weights, a fresh
# optimizer for its parameters, and the lesson's corpus and updates.

# %%
from slmlab import model as slm
from slmlab import plots
from slmlab.course import start
from slmlab.data import prepare
from slmlab.diagnostics import ladder
from slmlab.train import Trainer

lesson = start("02_build_a_gpt")
data = prepare(lesson.cfg.data)
steps = lesson.cfg.train.max_steps if lesson.smoke else 60
run_cfg = lesson.cfg.replace(
    max_steps=steps,
    warmup_steps=max(1, steps // 10),
    eval_interval=steps // 4,
    eval_batches=min(lesson.cfg.train.eval_batches, 5),
)
trainer = Trainer(run_cfg, data=data, progress=False)
mine = GPT(trainer.cfg.model).to(trainer.device.torch_device)
mine.load_state_dict(trainer.model.state_dict())  # slmlab's GPT-2 init; no extra buffers here
trainer.use_model(mine)  # train, evaluate and save this GPT instead (a fresh optimizer too)
lad = ladder(data)
before = trainer.evaluate()
history = trainer.run()
after = history.evals[-1]
print(
    f"{len(history.steps)} updates in {history.meta['seconds']:.0f} s: val loss {before['val_loss']:.3f} "
    f"({lad.where(before['val_loss'])}) -> {after['val_loss']:.3f} ({lad.where(after['val_loss'])})"
)
twin = slm.GPT(trainer.cfg.model)
twin.load_state_dict(mine.state_dict())  # slmlab's generate on these weights
out = twin.generate(
    torch.tensor([[data.tokenizer.eot_id]]), 60, temperature=0.8, generator=torch.Generator().manual_seed(0)
)
print("sample:", data.tokenizer.decode(out[0, 1:].tolist()).replace("\n", " ")[:240])
display(plots.curves(history, ladder=lad, title=f"this GPT, {len(history.steps)} updates"))
