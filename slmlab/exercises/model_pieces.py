"""Checks of lesson 02: causal attention and the GPT, piece by piece.

`check_causal_attention`, then `check_head`, `check_attention`, `check_mlp`, `check_block` and
`check_gpt`: each compares the student's module with slmlab.model's at the same weights,
within `PIECE_TOL`, and when they differ names the usual mistake the output matches. The
reference modules are slmlab.model's; the harness is slmlab.exercises._harness.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch.nn import functional as F

from ._harness import _verdict

__all__ = ["check_causal_attention", "check_head", "check_attention", "check_mlp", "check_block", "check_gpt"]


# --- 02: causal attention


def check_causal_attention(fn: Callable) -> bool:
    """fn(q, k, v) with (B, H, T, hs) tensors -> causal softmax attention, same shape."""

    def cases():
        g = torch.Generator().manual_seed(0)
        q, k, v = (torch.randn(2, 3, 7, 8, generator=g) for _ in range(3))
        got = fn(q, k, v)
        if got is None or tuple(got.shape) != (2, 3, 7, 8):
            return f"expected a tensor of shape (2, 3, 7, 8), got {None if got is None else tuple(got.shape)}"
        want = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        if torch.allclose(got, F.scaled_dot_product_attention(q, k, v), atol=1e-4):
            return "position t still sees later positions: mask the scores above the diagonal with -inf"
        if not torch.allclose(got, want, atol=1e-4):
            return (
                "values differ from F.scaled_dot_product_attention(is_causal=True): "
                "scale scores by 1/sqrt(head size), mask, softmax over the last dim, then @ v"
            )
        return None

    return _verdict(fn, cases)


# --- 02: the GPT, piece by piece
#
# Each check builds slmlab's module (slmlab.model) with random weights, larger than GPT-2's
# init so that a missing mask or scale moves the outputs far beyond the tolerance, copies
# them into yours BY PARAMETER NAME (the contract: your module has slmlab's parameter names
# and shapes; extra buffers, such as a mask table, are fine), runs both on the same input and
# compares. When they differ it computes the usual mistakes by hand, with the same weights,
# and names the one yours matches.

PIECE_TOL = 1e-5  # float32 on the CPU: the same sums in another order differ by ~1e-7


def _piece_cfg(**changes):
    from ..config import ModelConfig

    base = dict(n_layer=2, n_head=4, n_embd=32, block_size=16, vocab_size=50, dropout=0.0, bias=False)
    return ModelConfig(**{**base, **changes})


@torch.no_grad()
def _randomize(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Weights ~ N(0, 1/fan_in) (attention scores of order 1), LayerNorm gains 1 +- 0.2, biases +- 0.2."""
    g = torch.Generator().manual_seed(seed)
    for name, p in module.named_parameters():
        noise = torch.randn(p.shape, generator=g)
        if p.dim() >= 2:
            p.copy_(noise / math.sqrt(p.shape[-1]))
        elif name.endswith("bias"):
            p.copy_(0.2 * noise)
        else:
            p.copy_(1 + 0.2 * noise)
    return module.eval()


def _copy_params(ref: torch.nn.Module, yours: torch.nn.Module, what: str) -> str | None:
    """Copy ref's parameters into yours by name; what is wrong with the names or shapes, or None."""
    want = {n: tuple(p.shape) for n, p in ref.named_parameters()}
    got = dict(yours.named_parameters())
    missing, extra = [n for n in want if n not in got], [n for n in got if n not in want]
    if missing or extra:
        return (
            f"your {what}'s parameters are not named like slmlab's"
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + (f"; not in slmlab's: {', '.join(extra)}" if extra else "")
            + "; slmlab's are "
            + ", ".join(f"{n} {s}" for n, s in want.items())
        )
    wrong = [f"{n} is {tuple(got[n].shape)}, slmlab's is {s}" for n, s in want.items() if tuple(got[n].shape) != s]
    if wrong:
        return "wrong shapes: " + "; ".join(wrong)
    with torch.no_grad():
        for n, p in ref.named_parameters():
            got[n].copy_(p)
    yours.eval()
    return None


def _attend(q, k, v, *, causal=True, scale=True, dim=-1):
    """Softmax attention written out, with the usual mistakes as switches."""
    att = q @ k.transpose(-2, -1)  # (..., T, T)
    if scale is True:
        att = att / math.sqrt(q.size(-1))
    elif scale:
        att = att * scale
    if causal:
        T = q.size(-2)
        att = att.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf"))
    return att.softmax(dim) @ v


def _first_match(got, variants) -> str | None:
    """The message of the first (computed-by-hand output, message) that got equals."""
    for want, message in variants:
        if want.shape == got.shape and torch.allclose(got, want, atol=PIECE_TOL, rtol=0):
            return message
    return None


def _sees_future(run, x, g: torch.Generator, t: int = 5, vocab: int | None = None) -> bool:
    """True when new inputs after position t (random vectors, or token ids below `vocab`)
    change an output at or before t."""
    later = x.clone()
    n = later[:, t + 1 :].shape
    later[:, t + 1 :] = torch.randint(0, vocab, n, generator=g) if vocab else torch.randn(n, generator=g)
    return (run(x)[:, : t + 1] - run(later)[:, : t + 1]).abs().max().item() > PIECE_TOL


def _differ(got, want, what: str, recipe: str) -> str:
    return (
        f"your {what}'s outputs differ from slmlab's (max |difference| "
        f"{(got - want).abs().max().item():.2e}, tolerance {PIECE_TOL:g}): {recipe}"
    )


def _raised_by(e: BaseException) -> type | None:
    """The class whose method raised e (the `self` of the innermost frame), if any."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    obj = tb.tb_frame.f_locals.get("self") if tb is not None else None
    return type(obj) if obj is not None else None


def _piece_verdict(cls: type, cases: Callable[[], str | None]) -> bool:
    """_verdict for a module class: a stub in ANOTHER of the student's classes is named."""

    def guarded():
        try:
            return cases()
        except NotImplementedError as e:
            other = _raised_by(e)
            if other is None or issubclass(cls, other):
                raise
            return (
                f"your {cls.__name__} uses your {other.__name__}, which still raises "
                f"NotImplementedError: write {other.__name__} first (its check is above)"
            )

    name = getattr(cls, "__name__", "module")
    return _verdict(
        cls, guarded, correct=f"correct: your {name} gives the same outputs as slmlab's, to within {PIECE_TOL:g}"
    )


MASK_HINT = (
    "position t sees later positions: set the scores above the diagonal to -inf (not 0: "
    "exp(0) is still a weight) before the softmax"
)


def check_head(cls: type) -> bool:
    """cls(n_embd, head_size): one head of causal self-attention, (B, T, C) -> (B, T, head_size),
    with self.query, self.key, self.value = nn.Linear(n_embd, head_size, bias=False).
    Compared with head 2 of slmlab's CausalSelfAttention (its slice of c_attn), before c_proj."""
    from ..model import CausalSelfAttention

    def cases():
        cfg = _piece_cfg()
        C, hs, h = cfg.n_embd, cfg.n_embd // cfg.n_head, 2
        ref = _randomize(CausalSelfAttention(cfg), 0)
        head = cls(C, hs)
        for name in ("query", "key", "value"):
            lin = getattr(head, name, None)
            if not isinstance(lin, torch.nn.Linear) or tuple(lin.weight.shape) != (hs, C) or lin.bias is not None:
                return (
                    f"Head(n_embd, head_size) needs self.{name} = nn.Linear(n_embd, head_size, bias=False); "
                    f"yours has {lin!r}"
                )
        Wq, Wk, Wv = ref.c_attn.weight.split(C)  # (C, C) each; head h is rows h*hs:(h+1)*hs
        rows = slice(h * hs, (h + 1) * hs)
        with torch.no_grad():
            for lin, W in ((head.query, Wq), (head.key, Wk), (head.value, Wv)):
                lin.weight.copy_(W[rows])
        head.eval()
        g = torch.Generator().manual_seed(1)
        x = torch.randn(2, 11, C, generator=g)  # (B, T, C)
        with torch.no_grad():
            seen = []
            hook = ref.c_proj.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
            ref(x)
            hook.remove()
            want = seen[0][..., rows]  # (B, T, hs): head h's output, before c_proj mixes the heads
            got = head(x)
            if got is None or tuple(got.shape) != tuple(want.shape):
                shape = None if got is None else tuple(got.shape)
                return f"expected shape {tuple(want.shape)} (B, T, head_size), got {shape}"
            if torch.allclose(got, want, atol=PIECE_TOL, rtol=0):
                return None
            q, k, v = head.query(x), head.key(x), head.value(x)
            found = _first_match(
                got,
                [
                    (_attend(q, k, v, causal=False), MASK_HINT),
                    (
                        _attend(q, k, v, scale=False),
                        "the scores are not scaled: divide q @ k^T by sqrt(head_size) "
                        "before the softmax, or it saturates as heads get wider",
                    ),
                    (_attend(q, k, v, scale=1 / math.sqrt(C)), "scale by 1/sqrt(head_size), not 1/sqrt(n_embd)"),
                    (
                        _attend(q, k, v, dim=-2),
                        "softmax over the keys (the last dim: each row sums to 1), not over the queries",
                    ),
                ],
            )
            if found:
                return found
            if _sees_future(head, x, g):
                return MASK_HINT
            return _differ(
                got,
                want,
                "Head",
                "q, k, v = query(x), key(x), value(x); scores = q @ k^T / "
                "sqrt(head_size); -inf above the diagonal; softmax over the last dim; @ v",
            )

    return _piece_verdict(cls, cases)


def _mha_by_hand(attn, x, *, causal=True, scale=True, split="heads", proj=True):
    """slmlab's CausalSelfAttention written out with its weights, with the usual mistakes as switches."""
    B, T, C = x.shape
    H = attn.n_head
    hs = C // H
    q, k, v = attn.c_attn(x).split(C, dim=2)  # 3 x (B, T, C)
    if split == "heads":
        q, k, v = (t.view(B, T, H, hs).transpose(1, 2) for t in (q, k, v))  # (B, H, T, hs)
    elif split == "no transpose":
        q, k, v = (t.reshape(B, H, T, hs) for t in (q, k, v))  # mixes positions into heads
    else:  # "one head": of size C
        q, k, v = (t.unsqueeze(1) for t in (q, k, v))  # (B, 1, T, C)
    y = _attend(q, k, v, causal=causal, scale=scale)
    y = y.reshape(B, T, C) if split == "no transpose" else y.transpose(1, 2).reshape(B, T, C)
    return attn.c_proj(y) if proj else y


def check_attention(cls: type) -> bool:
    """cls(cfg): multi-head causal self-attention with slmlab's parameters, c_attn (C -> 3C: q, k, v)
    and c_proj (C -> C), and cfg.n_head heads; (B, T, C) -> (B, T, C). Compared with
    slmlab.model.CausalSelfAttention for two shapes, at a T shorter than block_size."""
    from ..model import CausalSelfAttention

    def cases():
        for n_head, n_embd in ((4, 32), (2, 24)):
            cfg = _piece_cfg(n_head=n_head, n_embd=n_embd)
            ref = _randomize(CausalSelfAttention(cfg), n_head)
            yours = cls(cfg)
            problem = _copy_params(ref, yours, "attention")
            if problem:
                return problem
            g = torch.Generator().manual_seed(1)
            x = torch.randn(2, 11, n_embd, generator=g)  # (B, T, C), T < block_size
            with torch.no_grad():
                want, got = ref(x), yours(x)
                if got is None or tuple(got.shape) != tuple(want.shape):
                    return (
                        f"expected shape {tuple(want.shape)} (B, T, C), got {None if got is None else tuple(got.shape)}"
                    )
                if torch.allclose(got, want, atol=PIECE_TOL, rtol=0):
                    continue
                found = _first_match(
                    got,
                    [
                        (_mha_by_hand(ref, x, causal=False), MASK_HINT),
                        (
                            _mha_by_hand(ref, x, scale=False),
                            "the scores are not scaled: divide q @ k^T by sqrt(head_size) before the softmax",
                        ),
                        (
                            _mha_by_hand(ref, x, scale=1 / math.sqrt(n_embd)),
                            "scale by 1/sqrt(head_size) (n_embd // n_head), not 1/sqrt(n_embd)",
                        ),
                        (
                            _mha_by_hand(ref, x, split="one head"),
                            "it runs one head of size n_embd: split q, k, v "
                            "into n_head heads with .view(B, T, n_head, hs).transpose(1, 2)",
                        ),
                        (
                            _mha_by_hand(ref, x, split="no transpose"),
                            ".view(B, n_head, T, hs) mixes positions into "
                            "heads: view as (B, T, n_head, hs), then .transpose(1, 2) (and back the same way)",
                        ),
                        (
                            _mha_by_hand(ref, x, proj=False),
                            "the heads are not mixed: pass the merged (B, T, C) through self.c_proj",
                        ),
                    ],
                )
                if found:
                    return found
                if _sees_future(yours, x, g):
                    return MASK_HINT
                return _differ(
                    got,
                    want,
                    "attention",
                    f"(n_head={n_head}, n_embd={n_embd}) q, k, v = "
                    "c_attn(x).split(C, dim=2); each to (B, H, T, hs); causal attention per head; "
                    "back to (B, T, C); c_proj",
                )
        return None

    return _piece_verdict(cls, cases)


def check_mlp(cls: type) -> bool:
    """cls(cfg): c_fc (C -> 4C), GELU, c_proj (4C -> C), as slmlab.model.MLP."""
    from ..model import MLP

    def cases():
        cfg = _piece_cfg()
        ref = _randomize(MLP(cfg), 0)
        yours = cls(cfg)
        problem = _copy_params(ref, yours, "MLP")
        if problem:
            return problem
        x = torch.randn(2, 11, cfg.n_embd, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            want, got = ref(x), yours(x)
            if got is None or tuple(got.shape) != tuple(want.shape):
                return f"expected shape {tuple(want.shape)}, got {None if got is None else tuple(got.shape)}"
            if torch.allclose(got, want, atol=PIECE_TOL, rtol=0):
                return None
            h = ref.c_fc(x)
            found = _first_match(
                got,
                [
                    (ref.c_proj(F.relu(h)), "that is ReLU: slmlab's MLP (and GPT-2's) uses GELU, nn.GELU()"),
                    (
                        ref.c_proj(F.gelu(h, approximate="tanh")),
                        "that is GELU's tanh approximation: use the exact nn.GELU(), as slmlab does",
                    ),
                    (
                        ref.c_proj(h),
                        "no activation between c_fc and c_proj: two linear layers in a row are one linear layer",
                    ),
                ],
            )
            return found or _differ(got, want, "MLP", "c_fc, then GELU, then c_proj")

    return _piece_verdict(cls, cases)


def check_block(cls: type) -> bool:
    """cls(cfg): a pre-LN block, ln_1 / attn / ln_2 / mlp as in slmlab.model.Block. The check puts
    slmlab's attention and MLP (same weights) in place of yours, so it tests the wiring only."""
    import copy

    from ..model import Block

    def cases():
        cfg = _piece_cfg()
        ref = _randomize(Block(cfg), 0)
        yours = cls(cfg)
        problem = _copy_params(ref, yours, "Block")
        if problem:
            return problem
        yours.attn, yours.mlp = copy.deepcopy(ref.attn), copy.deepcopy(ref.mlp)
        x = torch.randn(2, 11, cfg.n_embd, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            want, got = ref(x), yours(x)
            if got is None or tuple(got.shape) != tuple(want.shape):
                return f"expected shape {tuple(want.shape)}, got {None if got is None else tuple(got.shape)}"
            if torch.allclose(got, want, atol=PIECE_TOL, rtol=0):
                return None
            a, m, ln_1, ln_2 = ref.attn, ref.mlp, ref.ln_1, ref.ln_2
            post = ln_1(x + a(x))
            no_res = a(ln_1(x))
            normed = ln_1(x)
            normed = normed + a(normed)
            found = _first_match(
                got,
                [
                    (
                        ln_2(post + m(post)),
                        "that is post-LN (the 2017 Transformer's order): normalize each "
                        "branch's input instead, x = x + attn(ln_1(x)), and leave the residual stream un-normalized",
                    ),
                    (
                        m(ln_2(no_res)),
                        "no residual connections: add each branch's output to its input, "
                        "x = x + attn(ln_1(x)), then x = x + mlp(ln_2(x))",
                    ),
                    (
                        normed + m(ln_2(normed)),
                        "the residual adds to the normalized x: keep x itself and add the "
                        "branch to it, x = x + attn(ln_1(x))",
                    ),
                    (
                        x + a(ln_1(x)) + m(ln_2(x)),
                        "the MLP must read the stream after attention was added: "
                        "x = x + attn(ln_1(x)) first, then x = x + mlp(ln_2(x))",
                    ),
                    (x + a(ln_2(x)) + m(ln_1(x + a(ln_2(x)))), "ln_1 goes before attention and ln_2 before the MLP"),
                ],
            )
            return found or _differ(got, want, "Block", "x = x + attn(ln_1(x)), then x = x + mlp(ln_2(x))")

    return _piece_verdict(cls, cases)


def check_gpt(cls: type) -> bool:
    """cls(cfg): wte, wpe, blocks (nn.ModuleList of cfg.n_layer Blocks), ln_f, and lm_head tied to wte;
    forward(idx, targets=None) -> (logits (B, T, V), mean cross-entropy or None), as slmlab.model.GPT.
    Runs end to end with YOUR blocks; if only the blocks differ, it says so."""
    import copy

    from ..model import GPT

    def cases():
        cfg = _piece_cfg()
        ref = _randomize(GPT(cfg), 0)
        yours = cls(cfg)
        names = {n for n, _ in yours.named_parameters()}
        if "lm_head.weight" in names:
            return (
                "lm_head.weight is a parameter of its own: tie the output layer to the token embedding "
                "(self.lm_head.weight = self.wte.weight), one matrix for both, as in slmlab's GPT"
            )
        problem = _copy_params(ref, yours, "GPT")
        if problem:
            return problem
        g = torch.Generator().manual_seed(1)
        idx = torch.randint(0, cfg.vocab_size, (2, 11), generator=g)  # (B, T), T < block_size
        targets = torch.randint(0, cfg.vocab_size, (2, 11), generator=g)
        with torch.no_grad():
            out = yours(idx, targets)
            if not (isinstance(out, tuple) and len(out) == 2):
                return "forward(idx, targets) must return (logits, loss), as slmlab's GPT does"
            (got, loss), (want, want_loss) = out, ref(idx, targets)
            if tuple(got.shape) != tuple(want.shape):
                return f"expected logits of shape {tuple(want.shape)} (B, T, V), got {tuple(got.shape)}"
            if torch.allclose(got, want, atol=PIECE_TOL, rtol=0):
                if loss is None or abs(float(loss) - want_loss.item()) > PIECE_TOL:
                    return (
                        f"the logits match but the loss is {loss} (slmlab's {want_loss.item():.4f}): the mean "
                        f"F.cross_entropy(logits.view(-1, V), targets.view(-1))"
                    )
                return None
            pos = ref.wpe(torch.arange(idx.size(1)))
            x = ref.wte(idx)
            for block in ref.blocks:
                x = block(x)
            no_pos = ref.lm_head(ref.ln_f(x))
            x = ref.wte(idx) + pos
            for block in ref.blocks:
                x = block(x)
            found = _first_match(
                got,
                [
                    (no_pos, "no position embeddings: add self.wpe(torch.arange(T)) to the token embeddings"),
                    (ref.lm_head(x), "the final LayerNorm is missing: logits = lm_head(ln_f(x))"),
                ],
            )
            if found:
                return found
            if _sees_future(lambda i: yours(i)[0], idx, g, vocab=cfg.vocab_size):
                return "position t sees later tokens: check your attention's causal mask (check_attention)"
            yours.blocks = copy.deepcopy(ref.blocks)
            if torch.allclose(yours(idx)[0], want, atol=PIECE_TOL, rtol=0):
                return (
                    "your GPT's wiring is right, but with your blocks its outputs differ: run check_block, "
                    "check_attention and check_mlp above"
                )
            return _differ(got, want, "GPT", "x = wte(idx) + wpe(arange(T)); the blocks; ln_f; lm_head")

    return _piece_verdict(cls, cases)
