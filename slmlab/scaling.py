"""Model size in numbers: parameters, FLOPs and power laws, from a config alone.

Holds
- `param_counts(model_cfg, vocab_size)`: the GPT's parameters by part (token table,
  position table, blocks, final LayerNorm), counted from the shapes in slmlab.model
  without building anything; `Params.non_embedding` is what scaling laws count (Kaplan
  et al. 2020), `Params.embedding_share` how much of a model is its tables;
- `flops_per_token` (6N + attention, as `GPT.flops_per_token`), `run_flops` (a whole
  run), `steps_for_flops` (the updates that spend a compute budget) and
  `tokens_per_param` (Chinchilla's ~20 is `CHINCHILLA_TOKENS_PER_PARAM`);
- `fit_budget`: the deepest (or widest) model whose parameters fit a budget, so the
  student's 30M with GPT-2's vocabulary can be set beside what 30M buys with a BPE;
- `fit_power_law`: loss - floor = a * N^-alpha by least squares in log-log, with a
  bootstrap range over the points (and over the seeds that share a point), and
  `local_exponents`: the slope between neighbouring points, where a law bends.

It trains nothing and draws nothing: runs are slmlab.experiments', figures slmlab.plots'.
The counts are checked against a real GPT in tests/test_scaling.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from .config import Config, ConfigError, ModelConfig

__all__ = [
    "Params",
    "param_counts",
    "flops_per_token",
    "run_flops",
    "steps_for_flops",
    "tokens_per_param",
    "CHINCHILLA_TOKENS_PER_PARAM",
    "fit_budget",
    "PowerLaw",
    "fit_power_law",
    "local_exponents",
]

# Hoffmann et al. 2022 ("Chinchilla"): compute-optimal training uses about 20 tokens per
# parameter. Fitted on 70M-16B parameter models, one dataset, one tokenizer, at convergence
# of a cosine schedule; a rule of thumb at 100x smaller scale, not a law.
CHINCHILLA_TOKENS_PER_PARAM = 20.0


# ---------------------------------------------------------------------------
# Parameters and FLOPs


@dataclass(frozen=True)
class Params:
    """Parameter counts of one GPT by part (the output layer is tied to the token table)."""

    token_embedding: int  # vocab_size x n_embd, shared with the output layer
    position_embedding: int  # block_size x n_embd
    blocks: int  # all n_layer blocks: attention, MLP and their LayerNorms
    final_norm: int  # ln_f

    @property
    def embedding(self) -> int:
        return self.token_embedding + self.position_embedding

    @property
    def non_embedding(self) -> int:
        """What scaling laws count: everything but the two tables."""
        return self.blocks + self.final_norm

    @property
    def total(self) -> int:
        return self.embedding + self.non_embedding

    @property
    def embedding_share(self) -> float:
        return self.embedding / self.total


def _model(cfg: ModelConfig | Config, vocab_size: int | None) -> ModelConfig:
    m = cfg.model if isinstance(cfg, Config) else cfg
    vocab = vocab_size or m.vocab_size
    if not vocab:
        raise ConfigError(
            "vocab_size is not set: pass vocab_size=... (769 for bpe-512, 4353 for "
            "bpe-4096, 50257 for gpt2; slmlab.tokenizers.vocab_size_of gives it)"
        )
    return replace(m, vocab_size=vocab)


def param_counts(cfg: ModelConfig | Config, vocab_size: int | None = None) -> Params:
    """Parameters of slmlab.model.GPT for this shape; vocab_size overrides the config's."""
    m = _model(cfg, vocab_size)
    C, b = m.n_embd, int(m.bias)
    norm = C * (1 + b)  # LayerNorm gain (+ bias)
    attn = 3 * C * C + 3 * C * b + C * C + C * b  # c_attn (q, k, v) and c_proj
    mlp = 4 * C * C + 4 * C * b + 4 * C * C + C * b  # c_fc and c_proj
    return Params(
        token_embedding=m.vocab_size * C,
        position_embedding=m.block_size * C,
        blocks=m.n_layer * (2 * norm + attn + mlp),
        final_norm=norm,
    )


def flops_per_token(cfg: ModelConfig | Config, vocab_size: int | None = None) -> float:
    """Training FLOPs per token: 6 N (N without the position table, output layer included)
    + 12 L T C for attention's scores and weighted sums (PaLM appendix B; GPT.flops_per_token)."""
    m = _model(cfg, vocab_size)
    p = param_counts(m)
    return 6 * (p.total - p.position_embedding) + 12 * m.n_layer * m.block_size * m.n_embd


def run_flops(cfg: Config, vocab_size: int | None = None) -> float:
    """FLOPs of a whole run: flops per token x the tokens it trains on (evaluations not counted)."""
    return flops_per_token(cfg, vocab_size) * cfg.total_tokens


def steps_for_flops(cfg: Config, flops: float, vocab_size: int | None = None) -> int:
    """Optimizer updates of cfg's shape and batch that spend `flops` (at least 1)."""
    if not flops > 0:
        raise ValueError(f"flops={flops} must be positive, e.g. run_flops(cfg) of a reference run")
    return max(1, round(flops / (flops_per_token(cfg, vocab_size) * cfg.tokens_per_step)))


def tokens_per_param(cfg: Config, vocab_size: int | None = None, non_embedding: bool = True) -> float:
    """Training tokens per parameter (non-embedding by default, as Chinchilla's ~20 is
    usually quoted; Hoffmann et al. counted all parameters, which at their scale is close)."""
    p = param_counts(cfg, vocab_size)
    return cfg.total_tokens / (p.non_embedding if non_embedding else p.total)


def fit_budget(
    total: int,
    vocab_size: int,
    block_size: int,
    *,
    n_layer: int | None = None,
    n_embd: int | None = None,
    n_head: int = 6,
    multiple: int = 64,
) -> ModelConfig:
    """The largest model with at most `total` parameters: give n_embd to get the most layers,
    or n_layer to get the widest n_embd (a multiple of `multiple`, divisible by n_head)."""
    if (n_layer is None) == (n_embd is None):
        raise ValueError("give exactly one of n_layer (to find the width) or n_embd (to find the depth)")
    shape = dict(n_head=n_head, block_size=block_size, vocab_size=vocab_size)

    def count(layers: int, width: int) -> int:
        return param_counts(ModelConfig(n_layer=layers, n_embd=width, **shape)).total

    if n_embd is not None:
        layers = 0
        while count(layers + 1, n_embd) <= total:
            layers += 1
        best = ModelConfig(n_layer=layers, n_embd=n_embd, **shape)
    else:
        step = math.lcm(multiple, n_head)
        width = 0
        while count(n_layer, width + step) <= total:
            width += step
        best = ModelConfig(n_layer=n_layer, n_embd=width, **shape)
    if best.n_layer < 1 or best.n_embd < 1:
        raise ValueError(
            f"no model of this shape fits {total:,} parameters with vocab {vocab_size:,}: "
            f"the token table alone needs {vocab_size:,} x n_embd"
        )
    return best


# ---------------------------------------------------------------------------
# Power laws


@dataclass(frozen=True)
class PowerLaw:
    """loss = floor + a * x^-alpha, with a bootstrap range for alpha."""

    alpha: float
    a: float
    floor: float  # the loss no size goes below (an entropy floor; 0 for a plain power law)
    low: float  # alpha's range: the `level` central share of the bootstrap fits
    high: float
    level: float
    n_points: int  # distinct x values fitted
    resamples: int  # bootstrap fits that had >= 2 distinct x values

    def predict(self, x: float | np.ndarray) -> float | np.ndarray:
        return self.floor + self.a * np.asarray(x, dtype=float) ** -self.alpha

    def __str__(self) -> str:
        return (
            f"loss = {self.floor:.3g} + {self.a:.3g} * N^-{self.alpha:.3f} "
            f"(alpha {self.level:.0%} range {self.low:.3f} .. {self.high:.3f}, "
            f"{self.n_points} sizes, {self.resamples} bootstrap fits)"
        )


def _slope(x: np.ndarray, y: np.ndarray, floor: float) -> tuple[float, float]:
    """(alpha, a) of the least-squares line through (log x, log(y - floor))."""
    slope, icept = np.polyfit(np.log(x), np.log(y - floor), 1)
    return float(-slope), float(math.exp(icept))


def _checked(x: Sequence[float], y: Sequence[float], floor: float) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be two lists of the same length, got {x.shape} and {y.shape}")
    if len(np.unique(x)) < 2:
        raise ValueError("a power law needs at least 2 different sizes")
    if (x <= 0).any() or not np.isfinite(y).all():
        raise ValueError("sizes must be positive and losses finite (drop diverged runs first)")
    if (y <= floor).any():
        raise ValueError(
            f"a loss of {y.min():.3f} is at or below floor={floor:.3f}: the law fits "
            f"loss - floor in log space; lower the floor or drop that point"
        )
    return x, y


def fit_power_law(
    x: Sequence[float],
    y: Sequence[float],
    *,
    floor: float = 0.0,
    resamples: int = 2000,
    level: float = 0.9,
    seed: int = 0,
) -> PowerLaw:
    """Fit y = floor + a * x^-alpha; runs that share an x (seeds) are kept apart.

    The range: refit on `resamples` bootstrap draws, each taking the distinct x values with
    replacement and, for each, one of its runs at random; draws with fewer than 2 distinct
    x values are skipped. With a handful of sizes the range is wide, and says so.
    """
    x, y = _checked(x, y, floor)
    alpha, a = _slope(x, y, floor)
    sizes = np.unique(x)
    runs = [np.flatnonzero(x == s) for s in sizes]
    rng = np.random.default_rng(seed)
    fits = []
    for _ in range(resamples):
        pick = rng.integers(0, len(sizes), len(sizes))
        if len(np.unique(pick)) < 2:
            continue
        idx = [rng.choice(runs[i]) for i in pick]
        fits.append(_slope(x[idx], y[idx], floor)[0])
    lo, hi = np.quantile(fits, [(1 - level) / 2, (1 + level) / 2]) if fits else (alpha, alpha)
    return PowerLaw(alpha, a, floor, float(lo), float(hi), level, len(sizes), len(fits))


def local_exponents(x: Sequence[float], y: Sequence[float], *, floor: float = 0.0) -> list[tuple[float, float, float]]:
    """[(x_lo, x_hi, alpha)] between neighbouring sizes (runs sharing an x averaged first):
    a clean power law has the same alpha everywhere; where it changes, the law breaks."""
    x, y = _checked(x, y, floor)
    sizes = np.unique(x)
    means = np.array([y[x == s].mean() for s in sizes])
    return [
        (float(sizes[i]), float(sizes[i + 1]), _slope(sizes[i : i + 2], means[i : i + 2], floor)[0])
        for i in range(len(sizes) - 1)
    ]
