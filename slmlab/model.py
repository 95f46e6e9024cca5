"""The GPT: nanoGPT's shape, small enough to read in one sitting.

Pre-LN transformer blocks, causal self-attention through
`F.scaled_dot_product_attention` (flash / memory-efficient kernels where the
device has them), a GELU MLP, learned position embeddings, the output layer
tied to the token embedding, and GPT-2's scaled init of residual projections.

Hook points for diagnostics: every block's `attn` can record its attention
probabilities (`record_probs = True`, then `last_probs`), and `mlp.act` is an
`nn.GELU` module, so forward hooks see activations by name.

The model knows no corpus, tokenizer file or trainer: it takes a ModelConfig
whose vocab_size is already set.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.nn import functional as F

from .config import ConfigError, ModelConfig

__all__ = ["GPT", "CausalSelfAttention", "MLP", "Block", "INIT_STD"]

INIT_STD = 0.02  # GPT-2's init: weights ~ N(0, 0.02); residual projections get less (GPT._init_weights)


class CausalSelfAttention(nn.Module):
    """Multi-head attention where position t sees positions <= t only."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_head, self.dropout = cfg.n_head, cfg.dropout
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)  # q, k, v at once
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.c_proj.residual_scaled = True
        self.resid_dropout = nn.Dropout(cfg.dropout)
        self.record_probs = False  # diagnostics: keep the attention matrix
        self.last_probs: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        hs = C // self.n_head  # head size
        q, k, v = self.c_attn(x).split(C, dim=2)  # 3 x (B, T, C)
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, H, T, hs)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, H, T, hs)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, H, T, hs)
        if self.record_probs:
            y = self._attention_by_hand(q, k, v)
        else:
            y = F.scaled_dot_product_attention(
                q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True
            )  # (B, H, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.resid_dropout(self.c_proj(y))

    def _attention_by_hand(self, q, k, v):
        """The same attention, written out so the probabilities can be kept."""
        T = q.size(-2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(k.size(-1))  # (B, H, T, T)
        mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        self.last_probs = att.detach()
        if self.training and self.dropout > 0:
            att = F.dropout(att, self.dropout)
        return att @ v  # (B, H, T, hs)


class MLP(nn.Module):
    """Position-wise feed-forward: widen 4x, GELU, project back."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.act = nn.GELU()  # a module, so hooks can watch it
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.c_proj.residual_scaled = True
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.c_fc(x)  # (B, T, 4C)
        x = self.act(x)  # (B, T, 4C)
        x = self.c_proj(x)  # (B, T, C)
        return self.dropout(x)  # (B, T, C)


class Block(nn.Module):
    """Pre-LN transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))  # (B, T, C)
        return x + self.mlp(self.ln_2(x))  # (B, T, C)


# ---------------------------------------------------------------------------


class GPT(nn.Module):
    """A decoder-only transformer language model."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if not cfg.vocab_size:
            raise ConfigError(
                "vocab_size is not set; it comes from the tokenizer (train() sets it), or pass vocab_size=... yourself"
            )
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)  # token embeddings
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)  # position embeddings
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying (Press & Wolf 2017)
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        """GPT-2 init: N(0, INIT_STD); residual projections scaled by 1/sqrt(2 L).

        Each block adds two residual branches (attention, MLP), so 2 L of them sum into
        the stream: the scale keeps its variance from growing with depth.
        """
        if isinstance(module, nn.Linear):
            std = INIT_STD
            if getattr(module, "residual_scaled", False):
                std = INIT_STD / math.sqrt(2 * self.cfg.n_layer)
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=INIT_STD)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None, last_only: bool = False):
        """idx (B, T) token ids -> logits (B, T, V), and the mean loss if targets.

        last_only (no targets): logits of the last position only, (B, 1, V). Sampling
        needs no more, and at V=50257 the output layer is most of the model's work.
        """
        B, T = idx.shape
        if T > self.cfg.block_size:
            raise ValueError(
                f"sequence of {T} tokens is longer than block_size="
                f"{self.cfg.block_size}; crop it or build the model with a larger block_size"
            )
        pos = torch.arange(T, device=idx.device)  # (T,)
        x = self.drop(self.wte(idx) + self.wpe(pos))  # (B, T, C)
        for block in self.blocks:
            x = block(x)  # (B, T, C)
        x = self.ln_f(x)  # (B, T, C)
        if targets is None:
            if last_only:
                return self.lm_head(x[:, [-1], :]), None  # (B, 1, V); [-1] keeps the T dim
            return self.lm_head(x), None  # (B, T, V)
        logits = self.lm_head(x)  # (B, T, V)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    # --- sizes and costs

    def num_params(self, non_embedding: bool = False) -> int:
        """Parameters (tied weights counted once); non_embedding drops wte and wpe."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.wte.weight.numel() + self.wpe.weight.numel()
        return n

    def flops_per_token(self) -> float:
        """Training FLOPs per token: 6N (forward + backward matmuls) + attention 12 L T C.

        N counts the output layer (the tied wte matrix used as lm_head) but not the
        position embeddings, as in the PaLM paper's appendix B and nanoGPT's MFU.
        """
        c = self.cfg
        n = self.num_params() - self.wpe.weight.numel()
        return 6 * n + 12 * c.n_layer * c.block_size * c.n_embd

    # --- sampling

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Append max_new_tokens sampled tokens to idx (B, T). temperature 0 = greedy."""
        if temperature < 0:
            raise ValueError(f"temperature={temperature} must be >= 0 (0 = always the top token)")
        was_training = self.training
        self.eval()
        for _ in range(max_new_tokens):
            ctx = idx[:, -self.cfg.block_size :]  # (B, <=block_size)
            logits, _ = self(ctx, last_only=True)  # (B, 1, V)
            logits = logits[:, -1, :].float()  # (B, V)
            if temperature == 0:
                nxt = logits.argmax(dim=-1, keepdim=True)  # (B, 1)
            else:
                logits = logits / temperature
                if top_k is not None:
                    kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                probs = logits.softmax(dim=-1)  # (B, V)
                nxt = torch.multinomial(probs, 1, generator=generator)  # (B, 1)
            idx = torch.cat([idx, nxt], dim=1)
        self.train(was_training)
        return idx
