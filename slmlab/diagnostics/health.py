"""Health checks and the lr finder: is the model wired right, and what lr to try.

`loss_at_init` (an untrained model must score ln V), `overfit_one_batch` (it
must memorize one batch), `HealthChecks` (a Callback that has the trainer run
both before its first update) and `lr_find` (an exponential lr ramp). Each works
on a deep copy, so the model you pass is never changed, and returns a dataclass
with pass/fail or the suggestion, the numbers and the curve. They measure with
the trainer's own pieces (`evaluate_loss`, `configure_optimizer`,
`optimizer_update`), so a check never passes on code the training does not run.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from ..callbacks import Callback
from ..config import Config, ModelConfig, TrainConfig
from ..data import BatchSampler
from ..history import HEALTH_CHECK, smooth
from ..model import GPT
from ..train import configure_optimizer, eval_batch_losses, optimizer_update

# ---------------------------------------------------------------------------
# Health checks: is the model wired right before a long run?


@dataclass
class InitCheck:
    """Loss of an untrained model vs ln V (a uniform guess)."""

    passed: bool
    loss: float  # mean over the batches
    expected: float  # ln V
    tolerance: float  # |loss - ln V| allowed
    losses: list[float]  # one per batch (the "curve")
    message: str


@dataclass
class OverfitCheck:
    """Can the model memorize one small batch? It must, or something is broken."""

    passed: bool
    initial: float
    final: float
    target: float  # final must be below this
    losses: list[float]  # loss per step (the curve)
    message: str


def _as_model(model_or_cfg, data) -> GPT:
    """A fresh GPT for a Config/ModelConfig, or a deep copy of a given model (left untouched)."""
    if isinstance(model_or_cfg, torch.nn.Module):
        model = copy.deepcopy(model_or_cfg)
        model.zero_grad(set_to_none=True)  # a copy starts without the original's gradients
        return model
    mcfg = model_or_cfg.model if isinstance(model_or_cfg, Config) else model_or_cfg
    if not isinstance(mcfg, ModelConfig):
        raise TypeError("pass a GPT, a Config or a ModelConfig")
    if mcfg.vocab_size is None:
        mcfg = dataclasses.replace(mcfg, vocab_size=data.vocab_size)
    torch.manual_seed(0)
    return GPT(mcfg)


def _device_of(model: torch.nn.Module) -> str:
    return next(model.parameters()).device.type


def _adamw(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """The trainer's optimizer (decay groups, its betas), at this lr and decay."""
    tcfg = dataclasses.replace(TrainConfig(), lr=lr, weight_decay=weight_decay)
    return configure_optimizer(model, tcfg, _device_of(model))


def loss_at_init(
    model_or_cfg, data, *, batches: int = 4, micro_batch_size: int = 8, tolerance: float | None = None, seed: int = 0
) -> InitCheck:
    """Val loss of an untrained model; it should be ln V (GPT-2 init gives small logits).

    tolerance default: 0.05 * ln V + 0.05 nats (ln V of the model's output size).
    """
    model = _as_model(model_or_cfg, data)
    V, T = model.cfg.vocab_size, model.cfg.block_size
    losses = eval_batch_losses(model, data.val, T, micro_batch_size, batches, seed=seed).tolist()
    loss, expected = float(np.mean(losses)), math.log(V)
    tol = 0.05 * expected + 0.05 if tolerance is None else tolerance
    ok = abs(loss - expected) <= tol
    msg = (
        f"loss at init {loss:.3f} vs ln V = {expected:.3f} (|diff| {abs(loss - expected):.3f}, allowed "
        f"{tol:.3f}): "
        + (
            "OK, the model starts as a uniform guess"
            if ok
            else "FAIL: the init is too large or the loss is wired wrong (check logits scale, "
            "the init std, and that targets are the inputs shifted by one)"
        )
    )
    return InitCheck(ok, loss, expected, tol, losses, msg)


def overfit_one_batch(
    model_or_cfg,
    data,
    *,
    steps: int = 150,
    lr: float = 3e-3,
    micro_batch_size: int = 4,
    block_size: int | None = None,
    target: float | None = None,
    seed: int = 0,
) -> OverfitCheck:
    """Train a copy on ONE batch with the trainer's AdamW and update (no decay, dropout off);
    the loss must fall near 0.

    target default: 20% of the initial loss (a wired-up model gets far lower).
    """
    model = _as_model(model_or_cfg, data).eval()  # eval: no dropout; gradients still flow
    T = min(block_size or model.cfg.block_size, model.cfg.block_size)
    x, y = BatchSampler(data.train, T, micro_batch_size, seed, _device_of(model)).next()  # (B, T)
    opt = _adamw(model, lr, weight_decay=0.0)
    losses = [optimizer_update(model, opt, lambda: (x, y))[0].item() for _ in range(steps)]
    tgt = 0.2 * losses[0] if target is None else target
    ok = bool(np.isfinite(losses[-1]) and losses[-1] < tgt)
    msg = (
        f"one batch of {micro_batch_size}x{T} tokens, {steps} steps at lr {lr:g}: loss {losses[0]:.3f} -> "
        f"{losses[-1]:.3f} (target < {tgt:.3f}): "
        + (
            "OK, the model can learn"
            if ok
            else "FAIL: a model that cannot memorize one batch has a bug (masking, targets, optimizer)"
        )
    )
    return OverfitCheck(ok, losses[0], losses[-1], tgt, losses, msg)


class HealthChecks(Callback):
    """Ask the trainer to run both health checks before its first update.

    `train(cfg, callbacks=[HealthChecks()])` prints loss-at-init and
    overfit-one-batch (both on copies of the model) and keeps them as `.init`
    and `.overfit`; strict=True stops the run ("health_check") when one fails.
    A resumed run (step > 0) skips them: its model is no longer untrained.
    """

    def __init__(self, overfit_steps: int = 100, strict: bool = False, verbose: bool = True):
        self.overfit_steps, self.strict, self.verbose = overfit_steps, strict, verbose
        self.init: InitCheck | None = None
        self.overfit: OverfitCheck | None = None

    def on_train_start(self, trainer) -> None:
        if trainer.step > 0:
            return
        self.init = loss_at_init(trainer.model, trainer.data)
        self.overfit = overfit_one_batch(trainer.model, trainer.data, steps=self.overfit_steps)
        if self.verbose:
            print(self.init.message)
            print(self.overfit.message)
        if self.strict and not (self.init.passed and self.overfit.passed):
            trainer.request_stop(HEALTH_CHECK)


# ---------------------------------------------------------------------------
# LR finder: an exponential lr ramp on a copy of the model


@dataclass
class LRFinderResult:
    lrs: np.ndarray  # lr at each step of the ramp
    losses: np.ndarray  # raw loss at each step
    smoothed: np.ndarray  # bias-corrected exponential moving average of the loss (history.smooth)
    suggestion: float  # lr_at_min / 10: the rule this finder uses (Smith 2017, fastai's lr_min)
    lr_at_min: float  # lr where the smoothed loss was lowest
    steepest: float  # lr where the smoothed loss fell fastest (per log lr); often noisier
    rule: str = "a tenth of the lr at the smoothed-loss minimum"


def lr_find(
    model_or_cfg,
    data,
    *,
    lr_min: float = 1e-6,
    lr_max: float = 1.0,
    steps: int = 60,
    micro_batch_size: int = 8,
    beta: float = 0.8,
    stop_factor: float = 4.0,
    weight_decay: float = 0.1,
    seed: int = 0,
) -> LRFinderResult:
    """Raise the lr exponentially from lr_min to lr_max, one batch per step, on a deep copy.

    The given model is never touched (its weights are the same after the call).
    Stops early when the smoothed loss exceeds stop_factor x its minimum.
    """
    model = _as_model(model_or_cfg, data).train()
    sampler = BatchSampler(data.train, model.cfg.block_size, micro_batch_size, seed, _device_of(model))
    opt = _adamw(model, lr_min, weight_decay)
    lrs = lr_min * (lr_max / lr_min) ** (np.arange(steps) / max(steps - 1, 1))
    losses = []
    for lr in lrs:
        for g in opt.param_groups:
            g["lr"] = float(lr)
        losses.append(optimizer_update(model, opt, sampler.next)[0].item())
        smoothed = smooth(losses, beta)
        if not math.isfinite(losses[-1]) or smoothed[-1] > stop_factor * np.nanmin(smoothed):
            break
    return _lr_result(lrs[: len(losses)], np.array(losses), smoothed)


def _lr_result(lrs: np.ndarray, losses: np.ndarray, smoothed: np.ndarray) -> LRFinderResult:
    ok = np.isfinite(smoothed)
    i_min = int(np.argmin(np.where(ok, smoothed, np.inf)))
    slope = np.gradient(smoothed[: i_min + 1], np.log(lrs[: i_min + 1])) if i_min >= 2 else np.zeros(1)
    i_steep = int(np.argmin(slope)) if i_min >= 2 else 0
    return LRFinderResult(lrs, losses, smoothed, float(lrs[i_min] / 10), float(lrs[i_min]), float(lrs[i_steep]))
