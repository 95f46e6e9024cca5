"""Checks of the lessons that train: 03 (the lr schedule, predicting a run), 04 (updates and
tokens), 05 (early stopping), 06 (dropout), 07 (weight-decay groups) and 09 (accumulation).

`check_prediction` takes the student's predicted results of a training run instead of a
function: it trains the run (the notebook's callable) and compares. The schedule is
slmlab.train's `lr_at`; the harness is slmlab.exercises._harness.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ._harness import _verdict

__all__ = [
    "check_lr_schedule",
    "check_prediction",
    "check_updates_and_tokens",
    "check_best_step",
    "check_dropout",
    "check_decay_split",
    "check_accumulated_loss",
]


# --- 03: the learning-rate schedule


def check_lr_schedule(fn: Callable[[int, float, float, int, int], float]) -> bool:
    """fn(step, lr, min_lr, warmup_steps, max_steps) -> lr at that optimizer update."""
    from ..config import TrainConfig
    from ..train import lr_at

    def cases():
        t = TrainConfig(lr=1e-3, min_lr=1e-4, warmup_steps=10, max_steps=100)
        for step in (0, 5, 9, 10, 50, 99, 100):
            got, want = fn(step, t.lr, t.min_lr, t.warmup_steps, t.max_steps), lr_at(step, t)
            if got is None or abs(got - want) > 1e-9:
                return (
                    f"at step {step} expected {want:.3e}, got {got}: warmup is lr*(step+1)/(warmup+1),"
                    f" then a cosine from lr to min_lr"
                )
        return None

    return _verdict(fn, cases)


# --- 03 (and any lesson that trains): predict a run's result, then run it


def check_prediction(
    prediction: Mapping[Any, float | None],
    run: Callable[[Any], float],
    *,
    baseline: tuple[Any, float],
    tolerance: float = 0.5,
    setting: str = "setting",
    quantity: str = "val loss",
) -> bool:
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
    problems, lines = (
        [],
        [
            f"{setting:>10} {'predicted':>10} {'measured':>10}",
            f"{_text(base_value):>10} {'(baseline)':>10} {base:>10.3f}",
        ],
    )
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
        return (
            f"you predicted {guess:.3f}, {side(guess)} the baseline's {base:.3f}; it measured {got:.3f}, {side(got)} it"
        )
    return (
        f"the direction is right ({side(got)} the baseline's {base:.3f}), but it measured {got:.3f}, "
        f"not {guess:.3f}: off by {abs(guess - got):.2f}, more than the {tolerance:g} allowed"
    )


# --- 04: what the student's config really does


def check_updates_and_tokens(fn: Callable[[dict], tuple[int, int]]) -> bool:
    """fn(student_config_dict) -> (optimizer_updates, tokens_per_update)."""

    def cases():
        for c in (
            {"max_iters": 20000, "gradient_accumulation_steps": 32, "batch_size": 32, "block_size": 128},
            {"max_iters": 50000, "gradient_accumulation_steps": 16, "batch_size": 64, "block_size": 256},
        ):
            want = (
                c["max_iters"] // c["gradient_accumulation_steps"],
                c["batch_size"] * c["block_size"] * c["gradient_accumulation_steps"],
            )
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
    from ..config import ModelConfig
    from ..model import GPT

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
    from ..config import ModelConfig
    from ..model import GPT

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
