"""Muon for the hidden matrices, AdamW for the rest: the optimizer `optimizer="muon"` trains with.

Holds
- `Muon`: momentum SGD whose update for a 2-D weight is orthogonalized by five Newton-Schulz
  iterations (Keller Jordan's Muon, 2024: every direction of the update moves at the same rate).
  The iterations run in bf16 where the hardware computes it natively (a GPU, a CPU with AVX-512
  BF16 or AMX) and in fp32 elsewhere: torch.optim.Muon always uses bf16, which on a CPU without
  native bf16 is emulated and many times slower than the whole training step.
- `Optimizers`: several optimizers driven as one (step, zero_grad, param_groups, state_dict),
  which is what the Trainer, the GradScaler and checkpoints see.
- `muon_split(model)`: which parameters Muon takes (2-D weights inside the blocks) and which
  AdamW keeps (embeddings, the tied output layer, norms, biases).
- `set_lr(optimizer, lr)`: the schedule's lr into every group, times the group's `lr_scale`
  (Muon's groups run at muon_lr, the schedule's shape scaled).

Which optimizer a config asks for, and AdamW's decay groups, are slmlab.train's
`configure_optimizer`; this module knows no config.
"""

from __future__ import annotations

import torch

__all__ = ["Muon", "Optimizers", "muon_split", "set_lr", "newton_schulz"]

_NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # Keller Jordan's quintic: fast, not exact


def newton_schulz(g: torch.Tensor, steps: int = 5, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """An approximately orthogonal matrix with g's row and column spaces (U V^T of g's SVD):
    (m, n), or a stack of them (k, m, n), each orthogonalized on its own."""
    a, b, c = _NS_COEFFICIENTS
    x = g.to(dtype)
    tall = x.size(-2) > x.size(-1)
    if tall:
        x = x.mT  # (n, m): the Gram matrix below is then the smaller one
    x = x / (x.norm(dim=(-2, -1), keepdim=True) + 1e-7)  # spectral norm <= 1: the iteration converges
    for _ in range(steps):
        gram = x @ x.mT  # (r, r), r = min(m, n)
        x = a * x + (b * gram + c * gram @ gram) @ x
    return (x.mT if tall else x).to(g.dtype)


class Muon(torch.optim.Optimizer):
    """Muon on 2-D parameters: nesterov momentum, orthogonalized, scaled by sqrt(max(1, rows/cols)).

    weight_decay is decoupled and per step the same as AdamW's at the schedule's lr (the group's
    lr / lr_scale), so a config's weight_decay means one thing under both optimizers.
    ns_dtype: the Newton-Schulz iterations' dtype (bf16 only where it is native).
    """

    def __init__(
        self,
        params,
        lr: float = 0.02,
        momentum: float = 0.95,
        weight_decay: float = 0.0,
        ns_dtype: torch.dtype = torch.float32,
        lr_scale: float = 1.0,
    ):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, lr_scale=lr_scale))
        self.ns_dtype = ns_dtype
        for group in self.param_groups:
            for p in group["params"]:
                if p.dim() != 2:
                    raise ValueError(
                        f"Muon takes 2-D weights only, not a {tuple(p.shape)} tensor; "
                        f"give the others to AdamW (slmlab.optim.muon_split)"
                    )

    @torch.no_grad()
    def step(self, closure=None):
        """One update. Matrices of one shape are orthogonalized together, as one batched
        Newton-Schulz: far fewer, larger matmuls than one small chain per matrix."""
        for group in self.param_groups:
            mu, lr = group["momentum"], group["lr"]
            decay = 1.0 - lr / group["lr_scale"] * group["weight_decay"]
            by_shape: dict[tuple, list] = {}
            for p in group["params"]:
                if p.grad is None:
                    continue
                buf = self.state[p].setdefault("momentum_buffer", torch.zeros_like(p))
                buf.mul_(mu).add_(p.grad)
                by_shape.setdefault(tuple(p.shape), []).append((p, p.grad.add(buf, alpha=mu)))  # nesterov
            for (rows, cols), pairs in by_shape.items():
                updates = newton_schulz(torch.stack([u for _, u in pairs]), dtype=self.ns_dtype)  # (k, m, n)
                for (p, _), update in zip(pairs, updates, strict=True):
                    p.mul_(decay).add_(update, alpha=-lr * max(1.0, rows / cols) ** 0.5)


class Optimizers:
    """Several optimizers as one: the union of their param_groups (the same dicts, so an lr set
    here reaches them), one step, one zero_grad, one state_dict."""

    def __init__(self, *optimizers: torch.optim.Optimizer):
        self.optimizers = optimizers

    @property
    def param_groups(self) -> list[dict]:
        return [g for o in self.optimizers for g in o.param_groups]

    def step(self, closure=None) -> None:
        for o in self.optimizers:
            o.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        for o in self.optimizers:
            o.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {"optimizers": [o.state_dict() for o in self.optimizers]}

    def load_state_dict(self, state: dict) -> None:
        parts = state.get("optimizers")
        if parts is None or len(parts) != len(self.optimizers):
            raise ValueError(
                "this checkpoint's optimizer state is not Muon + AdamW's; resume it with "
                "the optimizer it was trained with"
            )
        for o, s in zip(self.optimizers, parts, strict=True):
            o.load_state_dict(s)


def muon_split(model: torch.nn.Module) -> tuple[list, list]:
    """(Muon's, AdamW's): 2-D weights inside the transformer blocks, and everything else."""
    muon, rest = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (muon if p.dim() == 2 and ".blocks." in f".{name}" else rest).append(p)
    return muon, rest


def set_lr(optimizer, lr: float) -> None:
    """The schedule's lr into every param group, times its lr_scale (1 unless Muon's)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
