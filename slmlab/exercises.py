"""Exercise checks: one function per exercise, the same for notebooks and solutions.

Each `check_*` takes the student's function, runs it on cases whose answers
slmlab computes another way, and prints one of:
- "not attempted yet" (the stub still raises NotImplementedError),
- "correct",
- what is wrong, with the first failing case.
It returns True only when correct. Notebooks hold the stubs; the worked
solutions in notebooks/solutions/ call the same checks.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

import torch
from torch.nn import functional as F

__all__ = ["check_uniform_loss", "check_pair_counts", "check_causal_attention", "check_lr_schedule",
           "check_updates_and_tokens", "check_best_step", "check_dropout", "check_decay_split",
           "check_warmup_lengths", "check_accumulated_loss"]


def _verdict(fn: Callable, cases: Callable[[], str | None]) -> bool:
    """Run `cases` (returns an error message or None) and print the verdict."""
    try:
        problem = cases()
    except NotImplementedError:
        print("not attempted yet")
        return False
    except Exception as e:  # the student's code crashed: say how, don't raise
        print(f"not yet: {getattr(fn, '__name__', 'your function')} raised {type(e).__name__}: {e}")
        return False
    print("correct" if problem is None else f"not yet: {problem}")
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


# --- 08: warmup in steps vs tokens


def check_warmup_lengths(fn: Callable[[int, int], int]) -> bool:
    """fn(warmup_micro_steps, grad_accum_steps) -> warmup in optimizer updates."""
    def cases():
        for w, a in ((1000, 32), (5000, 16), (64, 1), (10, 4)):
            if fn(w, a) != w // a:
                return f"for warmup {w} micro-steps at accumulation {a} expected {w // a}, got {fn(w, a)}"
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
