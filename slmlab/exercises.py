"""Exercise checks: one function per exercise, the same for notebooks and solutions.

Each `check_*` takes the student's function, runs it on cases whose answers
slmlab computes another way, and prints one of:
- "not attempted yet" (the stub still raises NotImplementedError),
- "correct" (the checks of 02's modules add what they compared with),
- what is wrong, with the first failing case.
It returns True only when correct. Notebooks hold the stubs; the worked
solutions in notebooks/solutions/ call the same checks. `check_prediction` takes
the student's predicted results of a training run instead of a function: it
trains the run and compares.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.nn import functional as F

__all__ = ["check_uniform_loss", "check_unigram_loss", "check_pair_counts", "check_causal_attention",
           "check_head", "check_attention",
           "check_mlp", "check_block", "check_gpt", "check_lr_schedule", "check_prediction",
           "check_updates_and_tokens", "check_best_step", "check_dropout", "check_decay_split",
           "check_accumulated_loss", "check_diagnosis",
           "check_size_winner", "check_grid_size", "check_verdicts", "check_capstone"]


def _attempt(fn: Callable, call: Callable, not_attempted: str = "not attempted yet") -> tuple[bool, Any]:
    """(True, call()), or (False, None) after printing why not: the student's `fn` is still a stub
    (NotImplementedError), or it raised (said how, never re-raised)."""
    try:
        return True, call()
    except NotImplementedError:
        print(not_attempted)
    except Exception as e:  # the student's code crashed: say how, don't raise
        print(f"not yet: {getattr(fn, '__name__', 'your function')} raised {type(e).__name__}: {e}")
    return False, None


def _verdict(fn: Callable, cases: Callable[[], str | None], correct: str = "correct") -> bool:
    """Run `cases` (returns an error message or None) and print the verdict (`correct` when right)."""
    ran, problem = _attempt(fn, cases)
    if not ran:
        return False
    print(correct if problem is None else f"not yet: {problem}")
    return problem is None


# --- 00: what a loss number means


def check_uniform_loss(fn: Callable[[int], float]) -> bool:
    """fn(vocab_size) -> the cross-entropy (nats) of a uniform guess over the vocabulary."""
    def cases():
        for v in (2, 65, 4096, 50257):
            got = fn(v)
            if got is None or abs(float(got) - math.log(v)) > 1e-6:
                return f"for vocab_size={v} you gave {got}, expected {math.log(v):.4f} (ln V)"
        return None
    return _verdict(fn, cases)


def check_unigram_loss(fn: Callable[[list[int], list[int], int], float]) -> bool:
    """fn(train_ids, val_ids, vocab_size) -> cross-entropy (nats/token) on val of add-one unigram
    frequencies counted on train: p(i) = (count_i + 1) / (len(train) + vocab_size)."""
    def ce(counts: Counter, total: float, val: list[int], log=math.log) -> float:
        return -sum(log(p) for p in ((counts[i] + 1) / total for i in val)) / len(val)

    def cases():
        g = torch.Generator().manual_seed(0)
        drawn = torch.multinomial(torch.tensor([8.0, 4, 2, 1, 1, 0.5]), 300, replacement=True, generator=g)
        for train, val, V in (([0, 1, 1, 2], [1, 2, 3], 5),  # token 3 never occurs in train
                              (drawn[:240].tolist(), drawn[240:].tolist() + [7], 8)):
            counts = Counter(train)
            want = ce(counts, len(train) + V, val)
            got = fn(list(train), list(val), V)
            if got is None or not isinstance(got, (int, float)) and not hasattr(got, "item"):
                return f"return one number (nats per token), got {got!r}"
            got = float(got)
            if abs(got - want) <= 1e-6:
                continue
            if not math.isfinite(got):
                return (f"for train={train[:8]}, val={val[:8]}, V={V} you gave {got}: a val token that never "
                        f"occurs in train got probability 0; add 1 to every count")
            wrong = {"that is in bits (log base 2): the loss is in nats, use the natural log":
                     ce(counts, len(train) + V, val, math.log2),
                     "you counted val_ids: the model's frequencies come from train_ids":
                     ce(Counter(val), len(val) + V, val),
                     "the probabilities do not sum to 1: divide by len(train_ids) + vocab_size":
                     ce(counts, len(train), val),
                     "the loss is minus the mean of ln p: it must be positive": -want}
            for hint, value in wrong.items():
                if abs(value - got) <= 1e-6:
                    return f"for train={train[:8]}{'...' if len(train) > 8 else ''}, V={V}: {hint}"
            return f"for train={train[:8]}{'...' if len(train) > 8 else ''}, val={val[:8]}, V={V} expected {want:.4f}, got {got:.4f}"
        return None
    return _verdict(fn, cases)


# --- 01: the heart of BPE training


def check_pair_counts(fn: Callable[[list[int]], dict]) -> bool:
    """fn(ids) -> {(a, b): count} of adjacent pairs."""
    def cases():
        for ids in ([1, 2, 3, 1, 2], [5, 5, 5, 5], [7], list(range(20)) * 3):
            want = Counter(zip(ids, ids[1:]))
            got = fn(list(ids))
            if got is None or dict(got) != dict(want):
                return f"for {ids[:12]}{'...' if len(ids) > 12 else ''} expected {dict(want)}, got {got}"
        return None
    return _verdict(fn, cases)


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
            return ("values differ from F.scaled_dot_product_attention(is_causal=True): "
                    "scale scores by 1/sqrt(head size), mask, softmax over the last dim, then @ v")
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
    from .config import ModelConfig
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
        return (f"your {what}'s parameters are not named like slmlab's"
                + (f"; missing: {', '.join(missing)}" if missing else "")
                + (f"; not in slmlab's: {', '.join(extra)}" if extra else "")
                + "; slmlab's are " + ", ".join(f"{n} {s}" for n, s in want.items()))
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
    n = later[:, t + 1:].shape
    later[:, t + 1:] = torch.randint(0, vocab, n, generator=g) if vocab else torch.randn(n, generator=g)
    return (run(x)[:, :t + 1] - run(later)[:, :t + 1]).abs().max().item() > PIECE_TOL


def _differ(got, want, what: str, recipe: str) -> str:
    return (f"your {what}'s outputs differ from slmlab's (max |difference| "
            f"{(got - want).abs().max().item():.2e}, tolerance {PIECE_TOL:g}): {recipe}")


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
            return (f"your {cls.__name__} uses your {other.__name__}, which still raises "
                    f"NotImplementedError: write {other.__name__} first (its check is above)")
    name = getattr(cls, "__name__", "module")
    return _verdict(cls, guarded, correct=f"correct: your {name} gives the same outputs as slmlab's, "
                                          f"to within {PIECE_TOL:g}")


MASK_HINT = ("position t sees later positions: set the scores above the diagonal to -inf (not 0: "
             "exp(0) is still a weight) before the softmax")


def check_head(cls: type) -> bool:
    """cls(n_embd, head_size): one head of causal self-attention, (B, T, C) -> (B, T, head_size),
    with self.query, self.key, self.value = nn.Linear(n_embd, head_size, bias=False).
    Compared with head 2 of slmlab's CausalSelfAttention (its slice of c_attn), before c_proj."""
    from .model import CausalSelfAttention

    def cases():
        cfg = _piece_cfg()
        C, hs, h = cfg.n_embd, cfg.n_embd // cfg.n_head, 2
        ref = _randomize(CausalSelfAttention(cfg), 0)
        head = cls(C, hs)
        for name in ("query", "key", "value"):
            lin = getattr(head, name, None)
            if not isinstance(lin, torch.nn.Linear) or tuple(lin.weight.shape) != (hs, C) or lin.bias is not None:
                return (f"Head(n_embd, head_size) needs self.{name} = nn.Linear(n_embd, head_size, bias=False); "
                        f"yours has {lin!r}")
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
                return f"expected shape {tuple(want.shape)} (B, T, head_size), got {None if got is None else tuple(got.shape)}"
            if torch.allclose(got, want, atol=PIECE_TOL, rtol=0):
                return None
            q, k, v = head.query(x), head.key(x), head.value(x)
            found = _first_match(got, [
                (_attend(q, k, v, causal=False), MASK_HINT),
                (_attend(q, k, v, scale=False), "the scores are not scaled: divide q @ k^T by sqrt(head_size) "
                                                "before the softmax, or it saturates as heads get wider"),
                (_attend(q, k, v, scale=1 / math.sqrt(C)), "scale by 1/sqrt(head_size), not 1/sqrt(n_embd)"),
                (_attend(q, k, v, dim=-2), "softmax over the keys (the last dim: each row sums to 1), "
                                           "not over the queries"),
            ])
            if found:
                return found
            if _sees_future(head, x, g):
                return MASK_HINT
            return _differ(got, want, "Head", "q, k, v = query(x), key(x), value(x); scores = q @ k^T / "
                           "sqrt(head_size); -inf above the diagonal; softmax over the last dim; @ v")
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
    from .model import CausalSelfAttention

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
                    return f"expected shape {tuple(want.shape)} (B, T, C), got {None if got is None else tuple(got.shape)}"
                if torch.allclose(got, want, atol=PIECE_TOL, rtol=0):
                    continue
                found = _first_match(got, [
                    (_mha_by_hand(ref, x, causal=False), MASK_HINT),
                    (_mha_by_hand(ref, x, scale=False), "the scores are not scaled: divide q @ k^T by "
                                                        "sqrt(head_size) before the softmax"),
                    (_mha_by_hand(ref, x, scale=1 / math.sqrt(n_embd)), "scale by 1/sqrt(head_size) "
                                                                        "(n_embd // n_head), not 1/sqrt(n_embd)"),
                    (_mha_by_hand(ref, x, split="one head"), "it runs one head of size n_embd: split q, k, v "
                     "into n_head heads with .view(B, T, n_head, hs).transpose(1, 2)"),
                    (_mha_by_hand(ref, x, split="no transpose"), ".view(B, n_head, T, hs) mixes positions into "
                     "heads: view as (B, T, n_head, hs), then .transpose(1, 2) (and back the same way)"),
                    (_mha_by_hand(ref, x, proj=False), "the heads are not mixed: pass the merged (B, T, C) "
                                                       "through self.c_proj"),
                ])
                if found:
                    return found
                if _sees_future(yours, x, g):
                    return MASK_HINT
                return _differ(got, want, "attention", f"(n_head={n_head}, n_embd={n_embd}) q, k, v = "
                               "c_attn(x).split(C, dim=2); each to (B, H, T, hs); causal attention per head; "
                               "back to (B, T, C); c_proj")
        return None
    return _piece_verdict(cls, cases)


def check_mlp(cls: type) -> bool:
    """cls(cfg): c_fc (C -> 4C), GELU, c_proj (4C -> C), as slmlab.model.MLP."""
    from .model import MLP

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
            found = _first_match(got, [
                (ref.c_proj(F.relu(h)), "that is ReLU: slmlab's MLP (and GPT-2's) uses GELU, nn.GELU()"),
                (ref.c_proj(F.gelu(h, approximate="tanh")), "that is GELU's tanh approximation: use the exact "
                                                            "nn.GELU(), as slmlab does"),
                (ref.c_proj(h), "no activation between c_fc and c_proj: two linear layers in a row are one linear layer"),
            ])
            return found or _differ(got, want, "MLP", "c_fc, then GELU, then c_proj")
    return _piece_verdict(cls, cases)


def check_block(cls: type) -> bool:
    """cls(cfg): a pre-LN block, ln_1 / attn / ln_2 / mlp as in slmlab.model.Block. The check puts
    slmlab's attention and MLP (same weights) in place of yours, so it tests the wiring only."""
    import copy

    from .model import Block

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
            found = _first_match(got, [
                (ln_2(post + m(post)), "that is post-LN (the 2017 Transformer's order): normalize each "
                 "branch's input instead, x = x + attn(ln_1(x)), and leave the residual stream un-normalized"),
                (m(ln_2(no_res)), "no residual connections: add each branch's output to its input, "
                                  "x = x + attn(ln_1(x)), then x = x + mlp(ln_2(x))"),
                (normed + m(ln_2(normed)), "the residual adds to the normalized x: keep x itself and add the "
                                           "branch to it, x = x + attn(ln_1(x))"),
                (x + a(ln_1(x)) + m(ln_2(x)), "the MLP must read the stream after attention was added: "
                                              "x = x + attn(ln_1(x)) first, then x = x + mlp(ln_2(x))"),
                (x + a(ln_2(x)) + m(ln_1(x + a(ln_2(x)))), "ln_1 goes before attention and ln_2 before the MLP"),
            ])
            return found or _differ(got, want, "Block", "x = x + attn(ln_1(x)), then x = x + mlp(ln_2(x))")
    return _piece_verdict(cls, cases)


def check_gpt(cls: type) -> bool:
    """cls(cfg): wte, wpe, blocks (nn.ModuleList of cfg.n_layer Blocks), ln_f, and lm_head tied to wte;
    forward(idx, targets=None) -> (logits (B, T, V), mean cross-entropy or None), as slmlab.model.GPT.
    Runs end to end with YOUR blocks; if only the blocks differ, it says so."""
    import copy

    from .model import GPT

    def cases():
        cfg = _piece_cfg()
        ref = _randomize(GPT(cfg), 0)
        yours = cls(cfg)
        names = {n for n, _ in yours.named_parameters()}
        if "lm_head.weight" in names:
            return ("lm_head.weight is a parameter of its own: tie the output layer to the token embedding "
                    "(self.lm_head.weight = self.wte.weight), one matrix for both, as in slmlab's GPT")
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
                    return (f"the logits match but the loss is {loss} (slmlab's {want_loss.item():.4f}): the mean "
                            f"F.cross_entropy(logits.view(-1, V), targets.view(-1))")
                return None
            pos = ref.wpe(torch.arange(idx.size(1)))
            x = ref.wte(idx)
            for block in ref.blocks:
                x = block(x)
            no_pos = ref.lm_head(ref.ln_f(x))
            x = ref.wte(idx) + pos
            for block in ref.blocks:
                x = block(x)
            found = _first_match(got, [
                (no_pos, "no position embeddings: add self.wpe(torch.arange(T)) to the token embeddings"),
                (ref.lm_head(x), "the final LayerNorm is missing: logits = lm_head(ln_f(x))"),
            ])
            if found:
                return found
            if _sees_future(lambda i: yours(i)[0], idx, g, vocab=cfg.vocab_size):
                return "position t sees later tokens: check your attention's causal mask (check_attention)"
            yours.blocks = copy.deepcopy(ref.blocks)
            if torch.allclose(yours(idx)[0], want, atol=PIECE_TOL, rtol=0):
                return ("your GPT's wiring is right, but with your blocks its outputs differ: run check_block, "
                        "check_attention and check_mlp above")
            return _differ(got, want, "GPT", "x = wte(idx) + wpe(arange(T)); the blocks; ln_f; lm_head")
    return _piece_verdict(cls, cases)


# --- 03: the learning-rate schedule


def check_lr_schedule(fn: Callable[[int, float, float, int, int], float]) -> bool:
    """fn(step, lr, min_lr, warmup_steps, max_steps) -> lr at that optimizer update."""
    from .config import TrainConfig
    from .train import lr_at

    def cases():
        t = TrainConfig(lr=1e-3, min_lr=1e-4, warmup_steps=10, max_steps=100)
        for step in (0, 5, 9, 10, 50, 99, 100):
            got, want = fn(step, t.lr, t.min_lr, t.warmup_steps, t.max_steps), lr_at(step, t)
            if got is None or abs(got - want) > 1e-9:
                return (f"at step {step} expected {want:.3e}, got {got}: warmup is lr*(step+1)/(warmup+1),"
                        f" then a cosine from lr to min_lr")
        return None
    return _verdict(fn, cases)


# --- 03 (and any lesson that trains): predict a run's result, then run it


def check_prediction(prediction: Mapping[Any, float | None], run: Callable[[Any], float], *,
                     baseline: tuple[Any, float], tolerance: float = 0.5, setting: str = "setting",
                     quantity: str = "val loss") -> bool:
    """prediction: {value of `setting`: the result the student expects}, written BEFORE running;
    run(value) trains and returns the measured result; baseline: (value, result) already measured.

    Right when every prediction is within `tolerance` of its measured result. A value left None:
    "not attempted yet", and nothing is trained. A run that diverges (nan or inf) matches a
    prediction of float("inf"). Prints predicted and measured for each value, then the verdict,
    which says on which side of the baseline each wrong guess and its measurement fell.
    """
    if not prediction or any(v is None for v in prediction.values()):
        print(f"not attempted yet: write your {quantity} for each {setting} first, then run the cell")
        return False
    base_value, base = baseline
    problems, lines = [], [f"{setting:>10} {'predicted':>10} {'measured':>10}",
                           f"{_text(base_value):>10} {'(baseline)':>10} {base:>10.3f}"]
    for value, guess in prediction.items():
        try:
            got = float(run(value))
        except Exception as e:  # the student's run crashed: say how, don't raise
            print(f"not yet: the run for {setting}={_text(value)} raised {type(e).__name__}: {e}")
            return False
        lines.append(f"{_text(value):>10} {float(guess):>10.3f} {got:>10.3f}")
        problem = _prediction_problem(float(guess), got, base, tolerance)
        if problem:
            problems.append(f"{setting}={_text(value)}: {problem}")
    print("\n".join(lines))
    print("correct" if not problems else "not yet: " + "; ".join(problems))
    return not problems


def _text(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _prediction_problem(guess: float, got: float, base: float, tolerance: float) -> str | None:
    """None when the guess is within tolerance of the measurement; else what is wrong."""
    if not math.isfinite(got):
        return None if not math.isfinite(guess) else f"the run diverged (loss {got}), you predicted {guess:.3f}"
    if not math.isfinite(guess):
        return f"you predicted it would diverge; it did not: {got:.3f}"
    if abs(guess - got) <= tolerance:
        return None
    side = lambda v: "above" if v > base else "below"  # noqa: E731
    if side(guess) != side(got):
        return (f"you predicted {guess:.3f}, {side(guess)} the baseline's {base:.3f}; it measured "
                f"{got:.3f}, {side(got)} it")
    return (f"the direction is right ({side(got)} the baseline's {base:.3f}), but it measured {got:.3f}, "
            f"not {guess:.3f}: off by {abs(guess - got):.2f}, more than the {tolerance:g} allowed")


# --- 04: what the student's config really does


def check_updates_and_tokens(fn: Callable[[dict], tuple[int, int]]) -> bool:
    """fn(student_config_dict) -> (optimizer_updates, tokens_per_update)."""
    def cases():
        for c in ({"max_iters": 20000, "gradient_accumulation_steps": 32, "batch_size": 32, "block_size": 128},
                  {"max_iters": 50000, "gradient_accumulation_steps": 16, "batch_size": 64, "block_size": 256}):
            want = (c["max_iters"] // c["gradient_accumulation_steps"],
                    c["batch_size"] * c["block_size"] * c["gradient_accumulation_steps"])
            got = fn(dict(c))
            if got is None or tuple(got) != want:
                return f"for {c} expected {want}, got {got}"
        return None
    return _verdict(fn, cases)


# --- 05: early stopping


def check_best_step(fn: Callable[[list[float], int], int]) -> bool:
    """fn(val_losses, patience) -> index of the eval where early stopping would stop."""
    def want(vals, patience):
        best, since = math.inf, 0
        for i, v in enumerate(vals):
            best, since = (v, 0) if v < best else (best, since + 1)
            if since >= patience:
                return i
        return len(vals) - 1

    def cases():
        for vals, p in (([5, 4, 3, 3.1, 3.2, 2.0], 2), ([5, 4, 3, 2, 1], 1), ([3, 3, 3, 3], 3), ([2, 3, 1, 4, 5], 2)):
            got = fn(list(vals), p)
            if got != want(vals, p):
                return f"for val={vals}, patience={p} expected {want(vals, p)}, got {got}"
        return None
    return _verdict(fn, cases)


# --- 06: dropout


def check_dropout(fn: Callable[[torch.Tensor, float, bool], torch.Tensor]) -> bool:
    """fn(x, p, training) -> inverted dropout: zero a share p, scale the rest by 1/(1-p)."""
    def cases():
        x = torch.ones(200_000)
        if not torch.equal(fn(x, 0.3, False), x):
            return "in eval mode (training=False) dropout must return x unchanged"
        torch.manual_seed(0)
        y = fn(x, 0.3, True)
        zeros = (y == 0).float().mean().item()
        if abs(zeros - 0.3) > 0.01:
            return f"{zeros:.1%} of the values are zero, expected about 30%"
        if abs(y.mean().item() - 1.0) > 0.01:
            return f"the mean is {y.mean().item():.3f}, expected 1: scale the kept values by 1/(1-p)"
        return None
    return _verdict(fn, cases)


# --- 07: weight-decay groups


def check_decay_split(fn: Callable) -> bool:
    """fn(model) -> (names to decay, names not to decay)."""
    from .config import ModelConfig
    from .model import GPT

    def cases():
        model = GPT(ModelConfig(n_layer=1, n_head=2, n_embd=16, block_size=8, vocab_size=10, bias=True))
        got = fn(model)
        if got is None:
            return "return two lists of parameter names"
        decay, no_decay = set(got[0]), set(got[1])
        want_no = {n for n, p in model.named_parameters() if p.dim() < 2}
        want_yes = {n for n, p in model.named_parameters() if p.dim() >= 2}
        if decay & want_no:
            return f"these should not decay (norms and biases): {sorted(decay & want_no)}"
        if decay != want_yes or no_decay != want_no:
            return f"missing or extra names: decay should be {sorted(want_yes)}"
        return None
    return _verdict(fn, cases)


# --- 09: gradient accumulation


def check_accumulated_loss(fn: Callable) -> bool:
    """fn(model, x, y, k) -> backward over k micro-batches with the loss scaled right."""
    from .config import ModelConfig
    from .model import GPT

    def cases():
        torch.manual_seed(0)
        model = GPT(ModelConfig(n_layer=1, n_head=2, n_embd=16, block_size=8, vocab_size=20))
        x, y = torch.randint(0, 20, (8, 8)), torch.randint(0, 20, (8, 8))
        model.zero_grad()
        model(x, y)[1].backward()
        want = [p.grad.clone() for p in model.parameters()]
        model.zero_grad()
        fn(model, x, y, 4)
        got = [p.grad for p in model.parameters()]
        if any(g is None for g in got):
            return "no gradients: call .backward() on each micro-batch's loss"
        ratio = (got[0].norm() / want[0].norm()).item()
        if not all(torch.allclose(a, b, atol=1e-6, rtol=1e-4) for a, b in zip(got, want)):
            return f"gradients are {ratio:.2f}x those of one big batch: divide each micro-batch loss by k"
        return None
    return _verdict(fn, cases)


# --- 10: naming a broken run from its statistics


def check_diagnosis(fn: Callable[[Any], str], cases: Mapping[str, Any], *,
                    hints: Mapping[str, str] | None = None) -> bool:
    """fn(stats) -> the name of what is broken in that run (one of the names in `cases`).

    cases: {true name: what fn reads (a run's TrainingStats)}, runs the student has not looked
    at (another seed of the ones they studied); hints: {true name: where that breakage shows},
    printed for each run fn names wrong.
    """
    names = list(cases)

    def problems():
        wrong = []
        for truth, stats in cases.items():
            got = fn(stats)
            if got not in names:
                return f"return one of {', '.join(map(repr, names))}; got {got!r} for the {truth!r} run"
            if got != truth:
                hint = (hints or {}).get(truth)
                wrong.append(f"the {truth!r} run is not {got!r}" + (f" ({hint})" if hint else ""))
        return "; ".join(wrong) or None
    return _verdict(fn, problems, correct=f"correct: all {len(names)} runs named from their statistics")


# --- 11: which model size wins in a compute budget


def check_size_winner(prediction: str | None, run: Callable[[str], Any], choices: Sequence[str], *,
                      tolerance: float) -> bool:
    """prediction: the choice (e.g. "2x128") expected to end with the lowest val loss, written
    BEFORE running; run(choice) trains or loads that run and returns a Run; choices: smallest
    model first. A pick within `tolerance` (the seed spread) of the winner's val counts: a tie.

    Prints each choice's updates, final train and val loss and its val drop over the last
    quarter of the run, then the verdict: a pick bigger than the winner is told it got too
    few updates (still falling), a smaller one that its train loss is as high as its val.
    """
    if prediction is None:
        print(f"not attempted yet: set prediction to one of {', '.join(map(repr, choices))}, then run the cell")
        return False
    if prediction not in choices:
        print(f"not yet: {prediction!r} is not one of the choices {', '.join(map(repr, choices))}")
        return False
    try:
        rows = {c: _size_row(run(c)) for c in choices}
    except Exception as e:  # a run that crashed: say how, don't raise
        print(f"not yet: a run raised {type(e).__name__}: {e}")
        return False
    print(f"{'model':>8} {'updates':>8} {'train':>7} {'val':>7} {'val drop, last 25%':>19}")
    for c, r in rows.items():
        print(f"{c:>8} {r['updates']:>8} {r['train']:>7.3f} {r['val']:>7.3f} {r['drop']:>19.3f}")
    winner = min(rows, key=lambda c: rows[c]["val"])
    problem = _size_problem(prediction, winner, rows, list(choices), tolerance)
    tie = "" if prediction == winner else f" (within the seed spread {tolerance:.3f} of {winner})"
    print(f"correct: {prediction}{tie}" if problem is None else f"not yet: {problem}")
    return problem is None


def _size_row(r: Any) -> dict:
    """Updates, final train and val, and how far val fell over the last quarter of the run."""
    evals = r.history.evals
    updates = r.config.train.max_steps
    earlier = [e for e in evals if e["step"] <= 0.75 * updates] or evals[:1]
    return {"updates": updates, "train": evals[-1]["train_loss"], "val": evals[-1]["val_loss"],
            "drop": earlier[-1]["val_loss"] - evals[-1]["val_loss"]}


def _size_problem(pick: str, winner: str, rows: dict, order: list, tolerance: float) -> str | None:
    p, w = rows[pick], rows[winner]
    behind = p["val"] - w["val"]
    if behind <= tolerance:
        return None
    head = f"{pick} ended at val {p['val']:.3f}, {behind:.3f} nats above {winner}'s {w['val']:.3f}"
    if order.index(pick) > order.index(winner):
        return (f"{head}: bigger, it got only {p['updates']} updates in this budget ({winner}: "
                f"{w['updates']}), and its val still fell {p['drop']:.3f} in the last quarter: under-trained")
    return (f"{head}: it had {p['updates']} updates ({winner}: {w['updates']}), yet its train loss "
            f"{p['train']:.3f} is as high as its val and fell only {p['drop']:.3f} in the last quarter: "
            f"too small to use them (it underfits)")


# --- 12: hyperparameter search


def check_grid_size(fn: Callable[[Mapping[str, Sequence]], int]) -> bool:
    """fn({setting: [values]}) -> how many trials a grid search over those values runs."""
    def cases():
        for values in ({"lr": [1e-3, 1e-2]}, {"lr": [1e-3, 3e-3, 1e-2], "dropout": [0.0, 0.1]},
                       {"lr": [1, 2], "warmup": [0, 20, 40], "batch": [8, 16, 32, 64], "wd": [0.0]}):
            got, want = fn(values), math.prod(len(v) for v in values.values())
            if got == want:
                continue
            counts = " x ".join(str(len(v)) for v in values.values())
            if got == sum(len(v) for v in values.values()):
                return (f"for {len(values)} settings with {counts} values you gave {got}, their sum: a grid "
                        f"tries every combination, so multiply ({want})")
            return f"for {len(values)} settings with {counts} values you gave {got}, expected {want}"
        return None
    return _verdict(fn, cases)


VERDICT_WORDS = ("helps", "hurts", "nothing")


def check_verdicts(prediction: Mapping[str, str | None], measured: Mapping[str, str], *,
                   deltas: Mapping[str, float] | None = None, margin: float | None = None) -> bool:
    """prediction: change -> "helps" / "hurts" / "nothing", written BEFORE the runs; measured:
    the same keys -> the verdict the runs gave; deltas, margin (optional): each change's val
    minus the baseline's, and the margin that decided, printed beside each miss."""
    if all(v is None for v in prediction.values()):
        print(f"not attempted yet: write {', '.join(map(repr, VERDICT_WORDS))} for each change, then run the cell")
        return False
    problems = [f"{k!r} is not a change measured here (those are {', '.join(measured)})"
                for k in prediction if k not in measured]
    problems += [f"no prediction for {k}" for k in measured if prediction.get(k) is None]
    problems += [f"{prediction[k]!r} for {k} is not one of {', '.join(map(repr, VERDICT_WORDS))}"
                 for k in measured if prediction.get(k) is not None and prediction[k] not in VERDICT_WORDS]
    if problems:
        print("not yet: " + "; ".join(problems))
        return False
    misses = [k for k in measured if prediction[k] != measured[k]]
    for k in misses:
        size = f" (val {deltas[k]:+.3f} against a margin of {margin:.3f})" if deltas and k in deltas and margin else ""
        print(f"{k}: you said {prediction[k]}, it {'did nothing' if measured[k] == 'nothing' else measured[k]}{size}")
    right = len(measured) - len(misses)
    print(f"correct: all {right} verdicts" if not misses else f"not yet: {right} of {len(measured)} right")
    return not misses


# --- 13: the class challenge: beat the notebook's run in the same budget

# what decides the val text, and how often and on how many batches it is scored: a run evaluated
# more often, on fewer batches, would pick its best from more and noisier numbers
_SCORED_THE_SAME = ("corpus", "corpus_bytes", "val_fraction", "data_seed", "eval_interval", "eval_batches")


def check_capstone(fn: Callable, *, base: Any, reference: Any, train: Callable[[Any], Any], budget: float,
                   name: str, board: Any = None, tolerance: float = 0.0) -> bool:
    """fn(cfg) -> the student's Config for the challenge, made from the notebook's `base` config;
    train(config) -> its Run (the notebook's experiments.run: a cached run loads);
    reference: the notebook's own Run of `base`; budget: the wall seconds a run may train;
    name: the student's name on the leaderboard; board: its file (capstone.default_board() when
    None); tolerance: bits per byte within which two results count as a tie (the eval noise).

    Compares best val in bits per byte (it compares tokenizers too) on the same val text, prints
    both runs, then: "not attempted yet", "not yet: over budget ..." (a time_budget above
    `budget`, or a run that trained longer), "not yet: worse ...", "not
    yet: a tie ..." or "better ...". Every run that trained gets a row in the leaderboard (one
    per name and config: a re-run replaces it), beside the notebook's own. True only when better.
    """
    from . import capstone
    from .config import Config

    ran, cfg = _attempt(fn, lambda: fn(base), "not attempted yet: return your config from my_config "
                                              "(e.g. cfg.replace(...)), then run the cell")
    if not ran:
        return False
    problem = _capstone_config_problem(cfg, base, name, Config, budget)
    if problem:
        print(f"not yet: {problem}")
        return False
    try:
        mine = train(cfg)
    except Exception as e:  # a run that crashed or a bad value: say how, don't raise
        print(f"not yet: your run raised {type(e).__name__}: {e}")
        return False
    rows = {"notebook": _capstone_row(reference, budget), "yours": _capstone_row(mine, budget)}
    print(f"{'run':>9} {'updates':>8} {'seconds':>8} {'best val':>9} {'bits/byte':>10}")
    for who, r in rows.items():
        print(f"{who:>9} {r['updates']:>8} {r['seconds']:>8.0f} {r['val']:>9.3f} {r['bits_per_byte']:>10.4f}")
    verdict, message = _capstone_verdict(rows["yours"], rows["notebook"], budget, tolerance)
    path = board if board is not None else capstone.default_board()
    changes = {k: v for k, v in cfg.flat().items() if base.flat()[k] != v}
    capstone.record_result(path, {**rows["notebook"], "name": "(notebook)", "verdict": "reference", "changes": {}})
    board_rows = capstone.record_result(path, {**rows["yours"], "name": name, "verdict": verdict, "changes": changes})
    rank = 1 + sum(r["bits_per_byte"] < rows["yours"]["bits_per_byte"] for r in board_rows)
    print(f"leaderboard {path}: {len(board_rows)} rows; yours is #{rank}")
    print(message)
    return verdict == "better"


def _capstone_config_problem(cfg: Any, base: Any, name: Any, config_type: type, budget: float) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return f"name={name!r}: give your name (text) for the leaderboard"
    if not isinstance(cfg, config_type):
        return f"my_config returned {type(cfg).__name__}, not a Config: return e.g. cfg.replace(lr=3e-3)"
    if not 0 < cfg.train.time_budget <= budget:
        return (f"over budget: your config's time_budget is {cfg.train.time_budget:g} s (0: no limit), the "
                f"challenge's {budget:g} s; keep the notebook's time_budget")
    moved = [k for k in _SCORED_THE_SAME if cfg.get(k) != base.get(k)]
    if moved:
        return (f"you changed {', '.join(moved)}: the challenge is scored on the notebook's val text and "
                f"evals, so keep {', '.join(_SCORED_THE_SAME)} (data_fraction, the tokenizer and the rest "
                f"are yours)")
    if cfg.flat() == base.flat():
        return "my_config returns the notebook's own config: change at least one setting"
    return None


def _capstone_row(run: Any, budget: float) -> dict:
    """What the leaderboard keeps of a run: its best val, in nats and bits per byte, and its cost."""
    from .diagnostics import bits_per_byte

    h = run.history
    best = h.best_val()
    if best is None:
        raise ValueError(f"{run.label}: the run has no eval, so no val loss to compare")
    meta = h.meta
    return {"config": run.dir.name, "val": best[1], "best_step": best[0],
            "bits_per_byte": bits_per_byte(best[1], meta["n_val_tokens"], meta["val_bytes"]),
            "updates": h.steps[-1]["step"] if h.steps else 0,
            "seconds": h.steps[-1]["seconds"] if h.steps else 0.0, "budget": budget,
            "val_bytes": meta["val_bytes"], "corpus": meta.get("corpus"), "tokenizer": meta.get("tokenizer")}


def _capstone_verdict(mine: dict, ref: dict, budget: float, tolerance: float) -> tuple[str, str]:
    """(verdict, message): over budget, worse, tie or better."""
    per_update = mine["seconds"] / max(mine["updates"], 1)
    if mine["seconds"] > budget + max(0.01 * budget, 2 * per_update):  # a budget ends the run within ~one update
        return "over budget", (f"not yet: over budget: your run trained for {mine['seconds']:.0f} s, the "
                               f"budget is {budget:.0f} s; keep the notebook's time_budget")
    if mine["val_bytes"] != ref["val_bytes"]:
        return "not comparable", (f"not yet: your val text has {mine['val_bytes']:,} bytes, the notebook's "
                                  f"{ref['val_bytes']:,}: score on the notebook's val split")
    diff = mine["bits_per_byte"] - ref["bits_per_byte"]
    if diff > tolerance:
        return "worse", (f"not yet: worse: {mine['bits_per_byte']:.4f} bits per byte against the notebook's "
                         f"{ref['bits_per_byte']:.4f} (+{diff:.4f}); the checklist above says what each lesson "
                         f"measured: change one thing with a reason")
    if diff >= -tolerance:
        return "tie", (f"not yet: a tie: {diff:+.4f} bits per byte from the notebook's "
                       f"{ref['bits_per_byte']:.4f}, within the eval noise ({tolerance:.4f})")
    return "better", (f"better: {mine['bits_per_byte']:.4f} bits per byte against the notebook's "
                      f"{ref['bits_per_byte']:.4f} ({diff:+.4f}, more than the eval noise {tolerance:.4f}); "
                      f"a second seed says whether it holds")
