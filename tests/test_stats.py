"""TrainingStats' dead units and residual stream, and the doctor inside a run (diagnose_stats).

The statistics are checked against a hand-made model state (weights scaled so the answer is
known) and the doctor against records written by hand, one symptom at a time, so each rule
is seen to fire on its own symptom and stay quiet on a healthy run. Notebook 10 checks the
same rules on real broken runs."""

import types

import pytest
import torch

from slmlab import diagnostics as d
from slmlab.data import BatchSampler, prepare
from slmlab.history import History
from slmlab.model import GPT
from slmlab.presets import preset


@pytest.fixture(scope="module")
def data():
    return prepare(preset("smoke").data)


def one_step(model, data):
    """TrainingStats(every=1) over one forward/backward of a smoke batch, as the trainer does."""
    trainer = types.SimpleNamespace(model=model, cfg=preset("smoke", vocab_size=data.vocab_size), step=0)
    stats = d.TrainingStats(every=1)
    stats.on_train_start(trainer)
    stats.on_step_start(trainer)
    x, y = BatchSampler(data.train, 32, 4, 0).next()  # (B, T)
    model(x, y)[1].backward()
    stats.on_train_end(trainer)
    return stats, x


def smoke_model(data):
    torch.manual_seed(0)
    return GPT(preset("smoke", vocab_size=data.vocab_size).model)


def test_residual_rms_is_the_stream_after_each_block(data):
    model = smoke_model(data)
    stats, x = one_step(model, data)
    with torch.no_grad():
        h = model.wte(x) + model.wpe(torch.arange(x.size(1)))  # (B, T, C)
        want = []
        for block in model.blocks:
            h = block(h)  # (B, T, C)
            want.append(float(h.pow(2).mean().sqrt()))
    got = [r["rms"] for r in sorted(stats.residual, key=lambda r: r["layer"])]
    assert got == pytest.approx(want, rel=1e-5)
    assert stats.recorded()["residual"] == stats.residual


def test_dead_units_are_off_at_every_position(data):
    """GELU inputs written by hand: a quarter of the units below -3 everywhere (dead), a quarter
    below -3 on half the positions only (saturated there, not dead), the rest at 0."""
    model = smoke_model(data)
    trainer = types.SimpleNamespace(model=model, cfg=preset("smoke", vocab_size=data.vocab_size), step=0)
    stats = d.TrainingStats(every=1)
    stats.on_train_start(trainer)
    stats.on_step_start(trainer)
    hidden = 4 * model.cfg.n_embd
    pre = torch.zeros(2, 8, hidden)  # (B, T, 4C)
    pre[..., : hidden // 4] = -5.0
    pre[:, :4, hidden // 4 : hidden // 2] = -5.0
    model.blocks[0].mlp.act(pre.requires_grad_())  # the hook sees it as the trainer's forward would
    stats.on_train_end(trainer)
    (a,) = stats.activations
    assert a["saturated"] == pytest.approx(0.25 + 0.125) and a["dead"] == pytest.approx(0.25)
    healthy = next(r for r in one_step(smoke_model(data), data)[0].activations if r["layer"] == 0)
    assert healthy["dead"] == 0 and healthy["saturated"] < 0.01


# ---------------------------------------------------------------------------
# diagnose_stats on hand-written records: one symptom at a time


def healthy_records(steps=(1, 10, 20, 30, 40, 50)):
    rec = {"activations": [], "residual": [], "attention": [], "grads": [], "updates": []}
    for s in steps:
        for layer in (0, 1):
            rec["activations"].append(
                {"step": s, "layer": layer, "mean": 0.1, "std": 0.3, "pre_std": 0.5, "saturated": 0.001, "dead": 0.0}
            )
            rec["residual"].append({"step": s, "layer": layer, "rms": 0.5})
            rec["attention"] += [{"step": s, "layer": layer, "head": h, "entropy": 2.5, "uniform": 3.2} for h in (0, 1)]
            rec["grads"].append({"step": s, "name": f"block {layer}", "grad_norm": 0.8})
        rec["grads"].append({"step": s, "name": "embedding", "grad_norm": 0.7})
        rec["updates"] += [{"step": s, "name": f"blocks.{i}.weight", "log10_ratio": -1.6} for i in range(3)]
    return rec


def with_change(kind, step, **values):
    """Healthy records, with `values` from `step` on (for gradients: the blocks' only)."""
    rec = healthy_records()
    for r in rec[kind]:
        if r["step"] >= step and r.get("name", "block").startswith("block"):
            r.update(values)
    return rec


def test_a_healthy_run_has_no_symptom():
    assert d.diagnose_stats(healthy_records()) == []


@pytest.mark.parametrize(
    "kind, values, code",
    [
        ("attention", {"entropy": 0.05}, "attention_collapsed"),
        ("activations", {"saturated": 0.4, "pre_std": 11.0}, "gelu_saturated"),
        ("grads", {"grad_norm": 0.001}, "vanishing_gradients"),
        ("updates", {"log10_ratio": -0.5}, "update_ratio_high"),
        ("residual", {"rms": 5.0}, "residual_high"),
    ],
)
def test_each_rule_names_its_symptom_and_the_step_it_showed_at(kind, values, code):
    found = d.diagnose_stats(with_change(kind, 20, **values))
    assert [f.code for f in found] == [code], d.format_findings(found)
    assert found[0].data["step"] == 20 and found[0].notebook == "10_activations_and_gradients"


def test_symptoms_come_earliest_first_and_ties_in_rule_order():
    rec = with_change("activations", 1, saturated=0.4)
    for r in rec["attention"]:
        r["entropy"] = 0.05  # also from step 1: attention is listed first
    for r in rec["updates"]:
        if r["step"] >= 10:
            r["log10_ratio"] = 0.0
    assert [f.code for f in d.diagnose_stats(rec)] == ["attention_collapsed", "gelu_saturated", "update_ratio_high"]


def test_exploding_gradients_read_every_logged_step_and_say_if_clipping_was_off():
    steps = [
        {"kind": "step", "step": s, "loss": 3.0, "lr": 1e-3, "grad_norm": 40.0 if s == 17 else 1.0}
        for s in range(1, 51)
    ]
    for clip, says in ((0.0, "clipping was off"), (1.0, "clipping at 1 cut them down")):
        h = History(steps, [], {"train": {"grad_clip": clip}}, {})
        found = d.diagnose_stats(healthy_records(), h)
        assert [f.code for f in found] == ["exploding_gradients"]
        assert found[0].data["step"] == 17 and found[0].data["largest"] == 40.0 and says in found[0].message
    assert d.diagnose_stats(healthy_records(), History(steps[:16], [], {}, {})) == []  # no spike yet
