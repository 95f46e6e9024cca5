"""Schedule checker: the learning rate the optimizer really sees.

`schedule(config)` gives the lr per optimizer update and per micro-step: slmlab's
`lr_at` for slmlab configs, and for the student's notebook words the schedule
rebuilt with the real torch schedulers (`student_schedule`), stepped per
micro-step as their loop does. Arrays only; slmlab.plots draws them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..train import lr_at
from .config_lint import normalize_config, to_config

# ---------------------------------------------------------------------------
# Schedule checker: the lr the optimizer really sees


@dataclass
class Schedule:
    """Learning rate per optimizer update and per micro-step (arrays; plots draws them)."""

    update_steps: np.ndarray  # 0 .. max_steps-1
    lr: np.ndarray  # lr used at each optimizer update
    micro_steps: np.ndarray  # 0 .. max_steps*grad_accum_steps-1
    lr_micro: np.ndarray  # the scheduler's lr at each micro-step (what its plot shows)
    grad_accum_steps: int
    label: str


def schedule(config, *, label: str | None = None) -> Schedule:
    """The lr of a config: slmlab's lr_at, or the student's scheduler when the dict says so."""
    c = normalize_config(config)
    if c["style"] == "notebook":
        return student_schedule(
            lr=c["lr"],
            min_lr=c["min_lr"],
            warmup=c["warmup_iters"],
            max_iters=c["max_iters"],
            grad_accum_steps=c.get("grad_accum_steps", 1),
            per_micro_step=c.get("scheduler_steps_per") == "micro_step",
            start_factor=c.get("warmup_start_factor", 1 / 3),
            label=label,
        )
    cfg = to_config(config)
    t = cfg.train
    lr = np.array([lr_at(s, t) for s in range(t.max_steps)])
    micro = np.repeat(lr, t.grad_accum_steps)
    return Schedule(
        np.arange(t.max_steps),
        lr,
        np.arange(len(micro)),
        micro,
        t.grad_accum_steps,
        label or f"{cfg.name}: warmup {t.warmup_steps} + cosine to {t.min_lr:g}",
    )


def student_schedule(
    lr: float = 1e-4,
    min_lr: float = 5e-4,
    warmup: int = 1000,
    max_iters: int = 20000,
    grad_accum_steps: int = 32,
    *,
    per_micro_step: bool = True,
    start_factor: float = 1 / 3,
    label: str | None = None,
) -> Schedule:
    """The student's schedule rebuilt with real torch schedulers.

    LinearLR(start_factor, total_iters=warmup) then CosineAnnealingLR(T_max=max_iters-warmup,
    eta_min=min_lr) chained by SequentialLR(milestones=[warmup]); stepped every loop iteration
    (per_micro_step) while the optimizer steps every grad_accum_steps iterations.
    """
    from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR

    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sched = SequentialLR(
        opt,
        [
            LinearLR(opt, start_factor=start_factor, total_iters=warmup),
            CosineAnnealingLR(opt, T_max=max(1, max_iters - warmup), eta_min=min_lr),
        ],
        milestones=[warmup],
    )
    n_sched = max_iters if per_micro_step else max_iters // grad_accum_steps
    lrs = np.empty(n_sched)
    for i in range(n_sched):
        lrs[i] = opt.param_groups[0]["lr"]
        opt.step()  # no gradient: a no-op that keeps torch's order check quiet
        sched.step()
    micro = lrs if per_micro_step else np.repeat(lrs, grad_accum_steps)
    upd = micro[grad_accum_steps - 1 :: grad_accum_steps]  # lr at each optimizer.step()
    return Schedule(
        np.arange(len(upd)),
        upd,
        np.arange(len(micro)),
        micro,
        grad_accum_steps,
        label
        or f"student: LinearLR + cosine(eta_min={min_lr:g}), stepped per "
        f"{'micro-step' if per_micro_step else 'update'}",
    )
