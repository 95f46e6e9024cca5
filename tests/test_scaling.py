"""slmlab.scaling: counts against a real GPT, budgets, and power-law fits on made-up laws."""

import math

import numpy as np
import pytest
import torch

from slmlab import scaling
from slmlab.config import ConfigError, ModelConfig
from slmlab.model import GPT
from slmlab.presets import preset


@pytest.mark.parametrize(
    "shape",
    [
        dict(n_layer=2, n_head=4, n_embd=128, block_size=64, vocab_size=769),
        dict(n_layer=1, n_head=2, n_embd=32, block_size=16, vocab_size=65, bias=True),
        dict(n_layer=6, n_head=6, n_embd=384, block_size=128, vocab_size=50257),
    ],
)
def test_counts_and_flops_match_the_model(shape):
    cfg = ModelConfig(**shape)
    with torch.device("meta"):
        model = GPT(cfg)
    p = scaling.param_counts(cfg)
    assert p.total == model.num_params()
    assert p.non_embedding == model.num_params(non_embedding=True)
    assert scaling.flops_per_token(cfg) == model.flops_per_token()


def test_the_students_model_is_mostly_embedding():
    p = scaling.param_counts(preset("student"), vocab_size=50257)
    assert 29e6 < p.total < 31e6 and 0.64 < p.embedding_share < 0.66
    assert scaling.param_counts(preset("student"), vocab_size=4353).embedding_share < 0.15


def test_vocab_size_must_be_known():
    with pytest.raises(ConfigError, match="vocab_size is not set"):
        scaling.param_counts(ModelConfig())


def test_steps_for_flops_spends_the_budget():
    cfg = preset("smoke", vocab_size=65)
    budget = scaling.run_flops(cfg)
    assert scaling.steps_for_flops(cfg, budget) == cfg.train.max_steps
    wide = cfg.replace(n_embd=64)
    steps = scaling.steps_for_flops(wide, budget)
    assert steps < cfg.train.max_steps
    assert abs(scaling.run_flops(wide.replace(max_steps=steps)) / budget - 1) < 0.1
    with pytest.raises(ValueError, match="must be positive"):
        scaling.steps_for_flops(cfg, 0.0)


def test_tokens_per_param():
    cfg = preset("smoke", vocab_size=65)
    p = scaling.param_counts(cfg)
    assert scaling.tokens_per_param(cfg) == cfg.total_tokens / p.non_embedding
    assert scaling.tokens_per_param(cfg, non_embedding=False) == cfg.total_tokens / p.total


def test_fit_budget_deepest_and_widest():
    budget = scaling.param_counts(preset("student"), vocab_size=50257).total
    deep = scaling.fit_budget(budget, 4353, 128, n_embd=384)
    assert scaling.param_counts(deep).total <= budget
    assert scaling.param_counts(replace_layers(deep, deep.n_layer + 1)).total > budget
    assert deep.n_layer > 6
    wide = scaling.fit_budget(budget, 4353, 128, n_layer=6)
    assert wide.n_embd % 64 == 0 and wide.n_embd > 384
    assert scaling.param_counts(wide).total <= budget
    with pytest.raises(ValueError, match="exactly one"):
        scaling.fit_budget(budget, 4353, 128)
    with pytest.raises(ValueError, match="token table alone"):
        scaling.fit_budget(1000, 50257, 128, n_embd=384)


def replace_layers(cfg, n):
    return ModelConfig(**{**cfg.__dict__, "n_layer": n})


def test_power_law_recovers_a_known_exponent_and_floor():
    x = np.array([1e4, 1e4, 1e5, 1e5, 1e6, 1e6])
    noise = np.array([1.02, 0.98, 1.01, 0.99, 1.02, 0.98])
    y = 0.2 + 30 * x**-0.3 * noise
    law = scaling.fit_power_law(x, y, floor=0.2, resamples=300)
    assert law.alpha == pytest.approx(0.3, abs=0.01) and law.n_points == 3
    assert law.low <= law.alpha <= law.high and law.high - law.low < 0.05
    assert law.predict(1e5) == pytest.approx(0.2 + 30 * 1e5**-0.3, rel=0.03)
    assert "range" in str(law)


def test_a_bent_law_has_a_wide_range_and_changing_local_slopes():
    x = np.array([1e4, 3e4, 1e5, 3e5, 1e6])
    y = np.array([3.0, 2.0, 1.5, 1.45, 1.44])  # falls, then flattens
    law = scaling.fit_power_law(x, y, resamples=300)
    assert law.high - law.low > 0.1
    slopes = [a for _, _, a in scaling.local_exponents(x, y)]
    assert slopes[0] > 0.3 and slopes[-1] < 0.01


def test_power_law_refuses_what_it_cannot_fit():
    with pytest.raises(ValueError, match="at least 2 different sizes"):
        scaling.fit_power_law([1e4, 1e4], [2.0, 2.1])
    with pytest.raises(ValueError, match="below floor"):
        scaling.fit_power_law([1e4, 1e5], [2.0, 0.1], floor=0.2)
    with pytest.raises(ValueError, match="finite"):
        scaling.fit_power_law([1e4, 1e5], [2.0, math.nan])


def test_sizes_plot_averages_seeds_and_draws_the_law():
    from slmlab import plots

    pts = [
        {"label": "2x64", "n": 1e5, "val": 1.5, "sweep": "width"},
        {"label": "2x64", "n": 1e5, "val": 1.7, "sweep": "width"},
        {"label": "2x128", "n": 4e5, "val": 1.0, "sweep": "width"},
        {"label": "4x128", "n": 8e5, "val": 1.9, "sweep": "depth"},
    ]
    law = scaling.fit_power_law([1e5, 1e5, 4e5], [1.5, 1.7, 1.0], resamples=50)
    fig = plots.sizes(pts, "n", group="sweep", law=law, vlines={"20 tokens/param": 2e5})
    ax = fig.axes[0]
    width = next(line for line in ax.lines if line.get_label() == "width")
    assert list(width.get_ydata()) == [pytest.approx(1.6), 1.0]  # seeds averaged, sorted by x
    assert {"depth", "fit", "20 tokens/param"} <= {line.get_label() for line in ax.lines}
    with pytest.raises(KeyError, match="no 'tokens'"):
        plots.sizes(pts, "tokens")
